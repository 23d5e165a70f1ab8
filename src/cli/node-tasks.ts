import type { Config } from '../config/index.js';
import { resolveBlobsDir, resolveDataDir } from '../config/index.js';
import { collectBlobGarbage } from '../blobs/blob-gc.js';
import { parseBlobUri } from '../blobs/blob-uri.js';
import { FsBlobStore } from '../blobs/fs-blob-store.js';
import { OWNER } from '../domain/actor.js';
import { MycelError } from '../errors.js';
import type { BlobRecord } from '../model/content.js';
import { verifyChain } from '../domain/changelog.js';
import { contentDigest, formatDigest } from '../domain/digest.js';
import { verifyContent, type ContentVerdict } from '../domain/verify-content.js';
import type { NodeCore } from '../domain/node-core.js';
import { createLogger } from '../log.js';
import { openCoreFromConfig } from '../node/assemble.js';
import { createStorage } from '../storage/index.js';
import { assertNodeExists } from '../storage/node-presence.js';

/** Opens the node's database and identity for a one-shot command; logs go to stderr. */
async function openForCommand(config: Config, fn: (core: NodeCore) => Promise<number | void>): Promise<number | void> {
  const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
  const core = await openCoreFromConfig(config, log);
  try {
    return await fn(core);
  } finally {
    await core.close();
  }
}

/** `mycel init`: creates the node (or checks it) and prints its id. */
export async function runInit(config: Config): Promise<void> {
  await openForCommand(config, async (core) => {
    process.stdout.write(`node ${core.node.id} (${core.node.name}) ready in ${resolveDataDir(config)}\n`);
  });
}

/**
 * Fails with NODE_NOT_INITIALIZED, creating nothing, unless the configured database holds a
 * node. Returns the config to open it with for reading: without the owner settings, so that
 * opening writes nothing (no password or remote owner stored) and may run beside `mycel serve`.
 */
async function requireNode(config: Config): Promise<Config> {
  await assertNodeExists({ url: config.database.url, dataDir: resolveDataDir(config) });
  return { ...config, owner: {} };
}

/** `mycel info`: the node's identity and database state. */
export async function runInfo(config: Config, options: { json?: boolean }): Promise<void> {
  const existing = await requireNode(config);
  await openForCommand(existing, async (core) => {
    const info = {
      nodeId: core.node.id,
      name: core.node.name,
      createdAt: new Date(core.node.createdAt).toISOString(),
      dataDir: resolveDataDir(config),
      database: core.storage.dialect,
      schemaVersion: await core.storage.schemaVersion(),
      changeCount: await core.storage.countChanges(),
      ownerPasswordSet: core.node.ownerPasswordHash !== null,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else {
      for (const [key, value] of Object.entries(info)) process.stdout.write(`${key.padEnd(17)}${String(value)}\n`);
    }
  });
}

/**
 * `mycel verify`: checks the change log's hash chain, then that the tables are what the log
 * says (the log replayed into a scratch in-memory database, digests compared, the first
 * differing entity named); exit code 1 when either fails.
 */
export async function runVerify(config: Config, options: { json?: boolean }): Promise<number> {
  const existing = await requireNode(config);
  const progress = !options.json && process.stderr.isTTY;
  const code = await openForCommand(existing, async (core) => {
    const chain = await verifyChain(core.storage, {
      onProgress: (checked) => {
        if (progress) process.stderr.write(`\rchecked ${checked} changes`);
      },
    });
    if (progress) process.stderr.write('\n');
    const content = chain.ok ? await checkContent(core, progress) : null;
    const ok = chain.ok && content !== null && content.ok;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ...chain, ok, chainOk: chain.ok, content: content && contentJson(content) })}\n`);
      return ok ? 0 : 1;
    }
    if (!chain.ok) {
      process.stdout.write(`broken: first bad serial ${chain.firstBadSerial}: ${chain.reason} (${chain.count} changes verified before it)\n`);
      process.stdout.write('tables not compared: the log does not verify\n');
      return 1;
    }
    process.stdout.write(`ok: ${chain.count} changes verify (head ${chain.headHash})\n`);
    process.stdout.write(content === null ? '' : describeContent(content));
    return ok ? 0 : 1;
  });
  return code ?? 0;
}

/** Replays the log into a scratch in-memory database and compares it with the live tables. */
async function checkContent(core: NodeCore, progress: boolean): Promise<ContentVerdict> {
  const scratch = createStorage({ url: ':memory:', dataDir: '' });
  try {
    await scratch.migrate();
    const verdict = await verifyContent(core.storage, scratch, {
      onProgress: (phase, done) => {
        if (progress) process.stderr.write(phase === 'replay' ? `\rreplayed ${done} changes` : `\rcomparing the tables with the log (${done} changes)\n`);
      },
    });
    return verdict;
  } finally {
    await scratch.close();
  }
}

/** A value in a line of text: JSON, cut short so a long post body does not flood the terminal. */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text;
}

/** The content verdict as `mycel verify` prints it: the difference's fields and both digests. */
function describeContent(content: ContentVerdict): string {
  if (content.ok) return `ok: the tables match the log (${formatDigest(content.digest)})\n`;
  let out = `mismatch: ${content.reason}\n`;
  const d = content.difference;
  for (const field of d?.problem === 'differs' ? d.fields : []) {
    out += `  ${field}: tables ${shortJson(d?.left?.[field])}, log ${shortJson(d?.right?.[field])}\n`;
  }
  if (content.live && content.rebuilt) out += `  tables ${formatDigest(content.live)}\n  log    ${formatDigest(content.rebuilt)}\n`;
  return out;
}

/** The content verdict as `mycel verify --json` prints it: the difference says which side is which. */
function contentJson(v: ContentVerdict): Record<string, unknown> {
  if (v.ok) return v;
  const { difference, ...rest } = v;
  if (!difference) return rest;
  const { left, right, ...where } = difference;
  return { ...rest, difference: { ...where, tables: left, log: right } };
}

/** `mycel digest`: the canonical digest of the node's replicated content, on one line. */
export async function runDigest(config: Config, options: { json?: boolean }): Promise<void> {
  const existing = await requireNode(config);
  await openForCommand(existing, async (core) => {
    const digest = await contentDigest(core.storage);
    process.stdout.write(options.json ? `${JSON.stringify(digest)}\n` : `${formatDigest(digest)}\n`);
  });
}

// ---- mycel blobs (docs/blobs.md) ----

/** Opens the node read-only (as `verify` does) with its blob store. */
async function openBlobs(config: Config, fn: (core: NodeCore, store: FsBlobStore) => Promise<number | void>): Promise<number> {
  const existing = await requireNode(config);
  const code = await openForCommand(existing, (core) => fn(core, new FsBlobStore(resolveBlobsDir(config))));
  return typeof code === 'number' ? code : 0;
}

function blobLine(b: BlobRecord, stored: boolean): string {
  return `sha256://${b.sha256} ${String(b.size).padStart(12)} ${stored ? 'stored ' : 'absent '} ${new Date(b.createdAt).toISOString()} ${b.uploadedBy} ${b.mediaType ?? '-'}`;
}

/** `mycel blobs ls`: every blob record, oldest first, and whether its bytes are here. */
export async function runBlobsList(config: Config, options: { json?: boolean; limit?: number }): Promise<number> {
  return openBlobs(config, async (core, store) => {
    let cursor: string | undefined;
    let shown = 0;
    const max = options.limit ?? Number.MAX_SAFE_INTEGER;
    do {
      const page = await core.operator.listBlobs(OWNER, { limit: Math.min(100, max - shown), ...(cursor ? { cursor } : {}) });
      for (const blob of page.items) {
        const stored = await store.has(blob.sha256);
        process.stdout.write(options.json ? `${JSON.stringify({ ...blob, stored })}\n` : `${blobLine(blob, stored)}\n`);
        shown++;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && shown < max);
  });
}

/** `mycel blobs info URI`: the record, references, pin and where the bytes are. */
export async function runBlobsInfo(config: Config, uri: string, options: { json?: boolean }): Promise<number> {
  return openBlobs(config, async (core, store) => {
    const info = await core.operator.getBlobInfo(OWNER, uri);
    const out = { ...info, stored: await store.has(info.sha256), path: store.pathOf(info.sha256) };
    if (options.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    else for (const [key, value] of Object.entries(out)) process.stdout.write(`${key.padEnd(12)}${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}\n`);
  });
}

/**
 * `mycel blobs verify [URI]`: re-hashes one blob, or every blob in the store; damaged ones are
 * moved to corrupt/. Exit 1 when one is corrupt (or the named one is missing).
 */
export async function runBlobsVerify(config: Config, uri: string | undefined, options: { json?: boolean }): Promise<number> {
  return openBlobs(config, async (core, store) => {
    const results: Array<{ sha256: string; result: 'ok' | 'corrupt' | 'missing' }> = [];
    if (uri !== undefined) {
      const { algo, hex } = parseBlobUri(uri, { bareHex: true });
      const sha256 = algo === 'sha256' ? hex : (await core.storage.getBlobBySha1(hex))?.sha256 ?? (await store.resolveSha1(hex));
      if (!sha256) throw new MycelError('BLOB_NOT_FOUND', { uri });
      results.push({ sha256, result: await store.verify(sha256) });
    } else {
      for await (const blob of store.list()) results.push({ sha256: blob.sha256, result: await store.verify(blob.sha256) });
    }
    const bad = results.filter((r) => r.result !== 'ok');
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: bad.length === 0, checked: results.length, results })}\n`);
    else {
      for (const r of bad) process.stdout.write(`${r.result.padEnd(8)}sha256://${r.sha256}${r.result === 'corrupt' ? ' (moved to corrupt/)' : ''}\n`);
      process.stdout.write(`${results.length} checked, ${bad.length === 0 ? 'all ok' : `${bad.length} not ok`}\n`);
    }
    return bad.length === 0 ? 0 : 1;
  });
}

/** `mycel blobs gc [--dry-run]`: removes the bytes of unreferenced, unpinned blobs past the grace period. */
export async function runBlobsGc(config: Config, options: { json?: boolean; dryRun?: boolean }): Promise<number> {
  return openBlobs(config, async (core, store) => {
    const report = await collectBlobGarbage(store, core.operator.blobs, core.storage, { graceSeconds: config.blobs.gcGraceSeconds, dryRun: options.dryRun === true });
    if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      const verb = report.dryRun ? 'would remove' : 'removed';
      for (const b of report.removed) process.stdout.write(`${verb} sha256://${b.sha256} ${b.size}\n`);
      process.stdout.write(`${verb} ${report.removed.length} blobs, ${report.bytes} bytes${report.dryRun ? '' : `; ${report.tmpFiles} stale upload files`}\n`);
    }
  });
}
