import { MycelError } from '../errors.js';
import type { ComputeClient, ComputeJob, ComputeProject, ComputeTask } from '../model/compute.js';
import type { Channel, Link, Post } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';
import { replicatedName } from './channel-names.js';

/*
 * The replicated content as the digest and its comparison see it: every channel, post and
 * link, and the compute projects, clients, jobs and tasks (model/compute.ts), each as a record of exactly the fields that replicate (what the change payloads
 * carry, originNodeId included), walked in ascending id order. Local-only things (sessions,
 * client nodes, change serials, idempotency keys, a channel's local name) are not part of it. The records name their
 * fields one by one, so a column added later is left out until someone decides it replicates.
 */

/** The kinds in the order the digest and the comparison take them. */
export const CONTENT_KINDS = ['channels', 'posts', 'links', 'computeProjects', 'computeClients', 'computeJobs', 'computeTasks'] as const;
export type ContentKind = (typeof CONTENT_KINDS)[number];
/** Kinds the digest names only when the node holds any (a node without compute keeps its digest). */
export const OPTIONAL_CONTENT_KINDS: ReadonlySet<ContentKind> = new Set(['computeProjects', 'computeClients', 'computeJobs', 'computeTasks']);

/** What the walk needs: the storage's scans by id. */
export type ContentReader = Pick<
  StorageReader,
  'scanChannels' | 'scanPosts' | 'scanLinks' | 'scanComputeProjects' | 'scanComputeClients' | 'scanComputeJobs' | 'scanComputeTasks'
>;

/** One entity as it is hashed and compared. */
export type ContentRecord = { id: string } & Record<string, unknown>;

function channelRecord(c: Channel): ContentRecord {
  return {
    id: c.id,
    // The replicated name: a channel this node knows under another local name still compares equal.
    name: replicatedName(c),
    namespace: c.namespace,
    description: c.description,
    originNodeId: c.originNodeId,
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    lastSeq: c.lastSeq,
  };
}

function postRecord(p: Post): ContentRecord {
  return {
    id: p.id,
    channelId: p.channelId,
    seq: p.seq,
    author: p.author,
    body: p.body,
    meta: p.meta,
    blobRefs: p.blobRefs,
    originNodeId: p.originNodeId,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    edited: p.edited,
    deleted: p.deleted,
  };
}

function linkRecord(l: Link): ContentRecord {
  return { id: l.id, fromPostId: l.fromPostId, toPostId: l.toPostId, label: l.label, originNodeId: l.originNodeId, createdAt: l.createdAt };
}

// Compute records: what the compute.* payloads carry (no token hash, no lastSeenAt).
function computeProjectRecord(p: ComputeProject): ContentRecord {
  return { id: p.id, name: p.name, smallCellK: p.smallCellK, originNodeId: p.originNodeId, createdAt: p.createdAt };
}

function computeClientRecord(c: ComputeClient): ContentRecord {
  return { id: c.id, name: c.name, publicKey: c.publicKey, datasources: c.datasources, joinedAt: c.joinedAt, originNodeId: c.originNodeId };
}

function computeJobRecord(j: ComputeJob): ContentRecord {
  return { ...j };
}

function computeTaskRecord(t: ComputeTask): ContentRecord {
  return { ...t };
}

function scanPage(reader: ContentReader, kind: ContentKind, after: string | null, limit: number): Promise<ContentRecord[]> {
  switch (kind) {
    case 'channels':
      return reader.scanChannels(after, limit).then((rows) => rows.map(channelRecord));
    case 'posts':
      return reader.scanPosts(after, limit).then((rows) => rows.map(postRecord));
    case 'links':
      return reader.scanLinks(after, limit).then((rows) => rows.map(linkRecord));
    case 'computeProjects':
      return reader.scanComputeProjects(after, limit).then((rows) => rows.map(computeProjectRecord));
    case 'computeClients':
      return reader.scanComputeClients(after, limit).then((rows) => rows.map(computeClientRecord));
    case 'computeJobs':
      return reader.scanComputeJobs(after, limit).then((rows) => rows.map(computeJobRecord));
    case 'computeTasks':
      return reader.scanComputeTasks(after, limit).then((rows) => rows.map(computeTaskRecord));
  }
}

/** The default page of a walk: bounded memory however large the tables are. */
export const SCAN_PAGE_SIZE = 1000;

/**
 * Every record of `kind` in ascending id order (JavaScript string order), a page at a time.
 * Checks the order it receives: a database whose collation ordered ids otherwise would make
 * two equal nodes disagree, so it fails loudly instead.
 */
export async function* walkContent(reader: ContentReader, kind: ContentKind, pageSize = SCAN_PAGE_SIZE): AsyncGenerator<ContentRecord> {
  let after: string | null = null;
  for (;;) {
    const page = await scanPage(reader, kind, after, pageSize);
    for (const record of page) {
      if (after !== null && !(record.id > after)) {
        throw new MycelError('INTERNAL', { kind, id: record.id, after, reason: 'the database does not return ids in ascending string order' });
      }
      after = record.id;
      yield record;
    }
    if (page.length < pageSize) return;
  }
}
