/**
 * Set-up and checks over REST for the blob e2e tests, so the CLI is spawned only for what a test
 * is about (each spawn costs seconds on a busy machine): blobs uploaded, channels and posts.
 */
import { OWNER_PASSWORD, ownerToken, rest } from '../helpers/network-process.js';

export { OWNER_PASSWORD };

/** PUT /api/v1/blobs as the owner; the node's answer. */
export async function putBlob(url: string, bytes: Buffer): Promise<{ sha256: string; sha1: string; size: number }> {
  const res = await fetch(`${url}/api/v1/blobs`, { method: 'PUT', headers: { authorization: `Bearer ${await ownerToken(url)}`, 'content-type': 'application/octet-stream' }, body: bytes });
  if (res.status !== 201 && res.status !== 200) throw new Error(`PUT blob at ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { sha256: string; sha1: string; size: number };
}

/** GET or HEAD of a blob as the owner. */
export async function getBlob(url: string, hex: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Response> {
  return fetch(`${url}/api/v1/blobs/sha256/${hex}`, { method, headers: { authorization: `Bearer ${await ownerToken(url)}` } });
}

export async function createChannel(url: string, name: string): Promise<string> {
  const res = await rest<{ id: string }>(url, 'POST', '/api/v1/channels', { name });
  if (res.status !== 201) throw new Error(`create channel ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export interface PostView {
  body: string;
  blobRefs: string[];
  meta: { blob?: { sha256: string; sha1?: string; size: number; mediaType?: string | null; name?: string } };
}

/** The posts of a channel (by id), oldest first. */
export async function postsOf(url: string, channelId: string): Promise<PostView[]> {
  const res = await rest<{ items: PostView[] }>(url, 'GET', `/api/v1/channels/${channelId}/posts`);
  if (res.status !== 200) throw new Error(`posts of ${channelId}: ${res.status}`);
  return res.body.items;
}

export async function createPost(url: string, channelId: string, body: string, blobRefs: string[] = []): Promise<void> {
  const res = await rest(url, 'POST', `/api/v1/channels/${channelId}/posts`, { body, blobRefs });
  if (res.status !== 201) throw new Error(`create post: ${res.status} ${JSON.stringify(res.body)}`);
}
