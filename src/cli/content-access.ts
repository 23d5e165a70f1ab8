import { resolveDataDir, type Config } from '../config/index.js';
import { OWNER } from '../domain/actor.js';
import type { NodeCore } from '../domain/node-core.js';
import { MycelError } from '../errors.js';
import { createLogger } from '../log.js';
import type { Channel, Page, Post } from '../model/content.js';
import { openCoreFromConfig } from '../node/assemble.js';
import { assertNodeExists } from '../storage/node-presence.js';
import type { NodeClient } from './node-client.js';

/**
 * The content operations of `mycel channels …` and `mycel posts …`, on the local node (through
 * the domain's Operator as the owner: the one write path) or on a remote one (its REST API as
 * whoever logged in), so both print the same.
 */
export interface ContentAccess {
  listChannels(page: { cursor?: string; limit: number }): Promise<Page<Channel>>;
  createChannel(input: { name: string; description?: string }): Promise<Channel>;
  /** By id or by name; CHANNEL_NOT_FOUND when there is none. */
  getChannel(idOrName: string): Promise<Channel>;
  listPosts(channelId: string, page: { cursor?: string; limit: number; newestFirst: boolean }): Promise<Page<Post>>;
  createPost(channelId: string, input: { body: string; meta?: Record<string, unknown>; blobRefs?: string[] }): Promise<Post>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Local access: the node's own database, as its owner (opening it is owner access, as for `mycel nodes`). */
export function localContent(core: NodeCore): ContentAccess {
  const ops = core.operator;
  return {
    listChannels: (page) => ops.listChannels(OWNER, page),
    createChannel: (input) => ops.createChannel(OWNER, input),
    getChannel: (idOrName) => ops.getChannel(OWNER, idOrName),
    listPosts: (channelId, page) => ops.listPosts(OWNER, channelId, { ...(page.cursor ? { cursor: page.cursor } : {}), limit: page.limit, reverse: page.newestFirst }),
    createPost: (channelId, input) => ops.createPost(OWNER, { channelId, ...input }),
  };
}

/** Opens the local node's core (it must exist: NODE_NOT_INITIALIZED otherwise) for `work`; logs go to stderr. */
export async function localContentRun<T>(config: Config, work: (content: ContentAccess) => Promise<T>): Promise<T> {
  await assertNodeExists({ url: config.database.url, dataDir: resolveDataDir(config) });
  const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
  // Without the owner settings: a command writes content, never the node's password or remote owner.
  const core = await openCoreFromConfig({ ...config, owner: {} }, log);
  try {
    return await work(localContent(core));
  } finally {
    await core.close();
  }
}

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}

/** Remote access: the node's REST API, as the credential the client logged in with. */
export function remoteContent(client: NodeClient): ContentAccess {
  return {
    listChannels: (page) => client.get(`/api/v1/channels${query({ cursor: page.cursor, limit: page.limit })}`),
    createChannel: (input) => client.request('POST', '/api/v1/channels', input),
    async getChannel(idOrName) {
      if (UUID.test(idOrName)) return client.get(`/api/v1/channels/${idOrName.toLowerCase()}`);
      const page = await client.get<Page<Channel>>(`/api/v1/channels${query({ name: idOrName })}`);
      const found = page.items[0];
      if (!found) throw new MycelError('CHANNEL_NOT_FOUND', { name: idOrName });
      return found;
    },
    listPosts: (channelId, page) =>
      client.get(`/api/v1/channels/${channelId}/posts${query({ cursor: page.cursor, limit: page.limit, order: page.newestFirst ? 'desc' : undefined })}`),
    createPost: (channelId, input) => client.request('POST', `/api/v1/channels/${channelId}/posts`, input),
  };
}
