import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { MycelError } from '../errors.js';

/**
 * A blob store shared with an OS group, for a lab's shared node (docs/shared-node.md): the
 * directory tree is given to the group (directories 2750 with the setgid bit, so what is created
 * below keeps the group; files 0640), and two files name the node and let members in:
 *   node-id        the node's id, which the CLI compares with the node it talks to
 *   client-token   the group's bearer token (client-token.ts), rotated on a schedule
 * Both are written atomically (temp file, fsync, rename, fsync the directory), 0640 owner:group.
 */

export const NODE_ID_FILE = 'node-id';
export const CLIENT_TOKEN_FILE = 'client-token';
/** Directories: rwx for the node, r-x for the group, setgid so new entries inherit the group. */
export const SHARED_DIR_MODE = 0o2750;
export const SHARED_FILE_MODE = 0o640;

/** An OS group, as the system names it. */
export interface OsGroup {
  name: string;
  gid: number;
}

function runGetent(key: string): Promise<string | null> {
  return new Promise((resolve, reject) => {
    execFile('getent', ['group', key], { timeout: 10_000 }, (err, stdout) => {
      if (!err) return resolve(stdout);
      // getent exits 2 when the key is not found; ENOENT: no getent on this system.
      if ((err as { code?: unknown }).code === 2) return resolve(null);
      reject(err);
    });
  });
}

/** `name:password:gid:members` lines of /etc/group, for systems without getent. */
async function fromEtcGroup(key: string): Promise<string | null> {
  const text = await readFile('/etc/group', 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => {
    const [name, , gid] = l.split(':');
    return name === key || gid === key;
  });
  return line ?? null;
}

/**
 * The group named by `blobs.authGroup` (a name or a numeric id), looked up through the system's
 * name service (`getent group`, so LDAP groups work), else /etc/group. Unknown → AUTH_GROUP_UNKNOWN.
 */
export async function resolveGroup(key: string): Promise<OsGroup> {
  let line: string | null;
  try {
    line = await runGetent(key);
  } catch {
    line = await fromEtcGroup(key);
  }
  const [name, , gidText] = (line ?? '').trim().split('\n')[0]!.split(':');
  const gid = Number(gidText);
  if (line === null || !name || gidText === undefined || gidText === '' || !Number.isSafeInteger(gid) || gid < 0) {
    throw new MycelError('AUTH_GROUP_UNKNOWN', { group: key }, `There is no OS group ${JSON.stringify(key)} (blobs.authGroup, --auth-group, MYCEL_AUTH_GROUP)`);
  }
  return { name, gid };
}

function shareFailed(path: string, err: unknown): MycelError {
  const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
  return new MycelError('AUTH_GROUP_FAILED', { path, reason }, `Cannot give ${path} to the group: ${reason}`, { cause: err });
}

/** Gives one entry to the group with the mode, touching it only when something differs. */
async function giveToGroup(path: string, gid: number, mode: number): Promise<void> {
  try {
    const s = await lstat(path);
    if (s.gid !== gid) await chown(path, -1, gid);
    // chown may clear the setgid bit, so the mode is set after it.
    if ((s.mode & 0o7777) !== mode || s.gid !== gid) await chmod(path, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw shareFailed(path, err);
  }
}

/**
 * Creates `dir` if needed and gives it and everything below it to the group: directories 2750,
 * regular files 0640 (symlinks need nothing: their target's mode decides). Run at each start, so
 * a store that was private, or files copied in by hand, become readable by the members.
 */
export async function shareWithGroup(dir: string, gid: number): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw shareFailed(dir, err);
  }
  const walk = async (path: string): Promise<void> => {
    await giveToGroup(path, gid, SHARED_DIR_MODE);
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names) {
      const child = join(path, name);
      const s = await lstat(child).catch(() => null);
      if (s?.isDirectory()) await walk(child);
      else if (s?.isFile()) await giveToGroup(child, gid, SHARED_FILE_MODE);
    }
  };
  await walk(dir);
}

/**
 * The shared store must lie outside the data directory: members would otherwise pass through the
 * directory that holds the database (owner password and session hashes, the whole content).
 */
export function assertOutsideDataDir(blobsDir: string, dataDir: string): void {
  const rel = relative(dataDir, blobsDir);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new MycelError(
      'AUTH_GROUP_FAILED',
      { path: blobsDir, reason: 'inside node.dataDir' },
      `The shared blob store ${blobsDir} is inside the data directory ${dataDir}: give it a place of its own with --storage-dir (blobs.dir, MYCEL_STORAGE_DIR)`,
    );
  }
}

/**
 * Takes the group's and others' access away from the data directory (its database is the
 * node's alone); true when it had any. A missing directory (PostgreSQL) is left alone.
 */
export async function closeDataDir(dataDir: string): Promise<boolean> {
  const s = await stat(dataDir).catch(() => null);
  if (!s?.isDirectory() || (s.mode & 0o077) === 0) return false;
  try {
    await chmod(dataDir, s.mode & 0o7700);
  } catch (err) {
    throw shareFailed(dataDir, err);
  }
  return true;
}

/**
 * The directories above `dir` that members of the group cannot pass through (no `x` for them):
 * they then cannot reach the store at all. Reported at start as a warning, not changed: those
 * directories (the data directory with the database, a home) are the administrator's.
 */
export async function unreachableAncestors(dir: string, gid: number): Promise<string[]> {
  const blocked: string[] = [];
  let path = dirname(dir);
  for (;;) {
    const s = await stat(path).catch(() => null);
    if (s) {
      const passable = (s.mode & 0o001) !== 0 || (s.gid === gid && (s.mode & 0o010) !== 0);
      if (!passable) blocked.push(path);
    }
    const parent = dirname(path);
    if (parent === path) break;
    path = parent;
  }
  return blocked;
}

/**
 * Writes `name` in `dir` atomically: a temp file in the same directory, 0640 owner:group, fsynced,
 * renamed over the old file, directory fsynced. A reader sees the old content or the new, never
 * a part. `gid` null: the file keeps the process's group (0600 then: nobody else needs it).
 */
export async function writeFileAtomic(dir: string, name: string, content: string, gid: number | null): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = gid === null ? 0o600 : SHARED_FILE_MODE;
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      // The umask may have removed the group's read bit; the owner and group are set before the content.
      if (gid !== null) await fh.chown(-1, gid);
      await fh.chmod(mode);
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Writes the node-id file: the node's id and a newline. */
export async function writeNodeIdFile(dir: string, nodeId: string, gid: number): Promise<void> {
  try {
    await writeFileAtomic(dir, NODE_ID_FILE, `${nodeId}\n`, gid);
  } catch (err) {
    throw shareFailed(join(dir, NODE_ID_FILE), err);
  }
}
