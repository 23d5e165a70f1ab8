import type { Channel, Post } from '../model/content.js';
import type { ContentAccess } from './content-access.js';

/**
 * `mycel channels list|create|show` and `mycel posts list|create`: what they ask the node and
 * how they print it, the same on the local node and on a remote one (content-access.ts).
 */

const write = (text: string): void => void process.stdout.write(text);
const json = (value: unknown): void => write(`${JSON.stringify(value, null, 2)}\n`);
const iso = (ms: number): string => new Date(ms).toISOString();

/** Rows as aligned columns, the last one unpadded. */
function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
}

/** A post body on one line, cut short so a long body does not flood the terminal. */
function oneLine(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Reads pages until `limit` items (or the end). */
async function collect<T>(limit: number, page: (cursor: string | undefined, size: number) => Promise<{ items: T[]; nextCursor: string | null }>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  while (out.length < limit) {
    const got = await page(cursor, Math.min(1000, limit - out.length));
    out.push(...got.items);
    if (got.nextCursor === null || got.items.length === 0) break;
    cursor = got.nextCursor;
  }
  return out;
}

export async function runChannelsList(content: ContentAccess, options: { limit: number; json: boolean }): Promise<void> {
  const channels = await collect(options.limit, (cursor, limit) => content.listChannels({ ...(cursor ? { cursor } : {}), limit }));
  if (options.json) return json(channels);
  if (channels.length === 0) return write('no channels\n');
  table([['NAME', 'ID', 'POSTS', 'CREATED'], ...channels.map((c) => [c.name, c.id, String(c.lastSeq), iso(c.createdAt)])]);
}

function describeChannel(c: Channel): void {
  const rows: Array<[string, string]> = [
    ['name', c.name],
    ['id', c.id],
    ['description', c.description],
    ['posts', String(c.lastSeq)],
    ['originNodeId', c.originNodeId],
    ['createdAt', iso(c.createdAt)],
    ['updatedAt', iso(c.updatedAt)],
  ];
  for (const [key, value] of rows) write(`${key.padEnd(14)}${value}\n`);
}

export async function runChannelsCreate(content: ContentAccess, input: { name: string; description?: string }, asJson: boolean): Promise<void> {
  const channel = await content.createChannel(input);
  if (asJson) return json(channel);
  write(`created channel ${channel.name} (${channel.id})\n`);
}

export async function runChannelsShow(content: ContentAccess, idOrName: string, asJson: boolean): Promise<void> {
  const channel = await content.getChannel(idOrName);
  if (asJson) return json(channel);
  describeChannel(channel);
}

export async function runPostsList(content: ContentAccess, channelRef: string, options: { limit: number; newestFirst: boolean; json: boolean }): Promise<void> {
  const channel = await content.getChannel(channelRef);
  const posts = await collect(options.limit, (cursor, limit) =>
    content.listPosts(channel.id, { ...(cursor ? { cursor } : {}), limit, newestFirst: options.newestFirst }),
  );
  if (options.json) return json(posts);
  if (posts.length === 0) return write(`no posts in ${channel.name}\n`);
  table([
    ['SEQ', 'AUTHOR', 'CREATED', 'BODY'],
    ...posts.map((p: Post) => [String(p.seq), p.author, iso(p.createdAt), p.deleted ? '(deleted)' : oneLine(p.body)]),
  ]);
}

export async function runPostsCreate(content: ContentAccess, channelRef: string, input: { body: string; meta?: Record<string, unknown> }, asJson: boolean): Promise<void> {
  const channel = await content.getChannel(channelRef);
  const post = await content.createPost(channel.id, input);
  if (asJson) return json(post);
  write(`posted #${post.seq} in ${channel.name} (${post.id})\n`);
}
