import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsBlobStore } from '../blobs/fs-blob-store.js';
import { CLIENT_TOKEN_FILE, NODE_ID_FILE } from '../blobs/shared-store.js';
import { MycelError } from '../errors.js';
import type { NodeClient } from './node-client.js';

/**
 * The CLI on a member's machine of a lab's shared node (docs/shared-node.md): the node's storage
 * directory mounted at MYCEL_STORAGE_DIR (blobs.dir). Trusted only when its `node-id` names the
 * node the CLI talks to; then the group's `client-token` is the credential (no log-in) and
 * `mycel cat` reads blobs straight from the mount, hash-checked. Otherwise the CLI works over
 * HTTP with the usual log-in, and the token is never sent: a directory of another node must not
 * hand that node's token to this one.
 */

/** A mount the CLI may read from, and the group's token. */
export interface SharedMount {
  readonly dir: string;
  /** A read-only view of the store: damaged files are reported, not moved (the member cannot write). */
  readonly store: FsBlobStore;
  readonly token: string;
}

/**
 * What the storage directory gives: a mount (member), `unreadable` (the files are there but this
 * user may not read them: not a member), or nothing (no such directory, not a shared node's, or
 * another node's).
 */
export type SharedAccess = { kind: 'member'; mount: SharedMount } | { kind: 'unreadable'; path: string } | { kind: 'none' };

async function readSmall(path: string): Promise<{ text: string } | { error: string }> {
  try {
    return { text: (await readFile(path, 'utf8')).trim() };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

const DENIED = new Set(['EACCES', 'EPERM']);

/**
 * Checks the storage directory `dir` against the node at `node.url` (its public profile, GET
 * /api/v1/node). `note` gets a one-line reason when the directory is a shared node's but is not
 * used (another node's id, no token); a directory that is absent or holds no node-id is passed
 * over in silence: that is a private store, or no mount.
 */
export async function sharedAccessOf(dir: string, node: NodeClient, note: (line: string) => void): Promise<SharedAccess> {
  const idPath = join(dir, NODE_ID_FILE);
  const id = await readSmall(idPath);
  if ('error' in id) return DENIED.has(id.error) ? { kind: 'unreadable', path: idPath } : { kind: 'none' };
  const profile = await node.get<{ id: string }>('/api/v1/node');
  if (profile.id !== id.text) {
    note(`note: ${idPath} names node ${id.text}, but ${node.url} is node ${profile.id}: not using the storage directory (HTTP and the usual log-in instead)`);
    return { kind: 'none' };
  }
  const tokenPath = join(dir, CLIENT_TOKEN_FILE);
  const token = await readSmall(tokenPath);
  if ('error' in token) {
    if (DENIED.has(token.error)) return { kind: 'unreadable', path: tokenPath };
    note(`note: ${tokenPath} cannot be read (${token.error}): not using the storage directory (HTTP and the usual log-in instead)`);
    return { kind: 'none' };
  }
  return { kind: 'member', mount: { dir, store: new FsBlobStore(dir, { quarantine: false }), token: token.text } };
}

/** The error for a user who may not read the shared files and has no other credential. */
export function tokenUnreadable(path: string, cause: unknown): MycelError {
  return new MycelError(
    'CLIENT_TOKEN_UNREADABLE',
    { path, reason: 'permission denied' },
    `Cannot read ${path}: permission denied (only members of the node's group may), and no owner password or --as-node was given`,
    { cause },
  );
}
