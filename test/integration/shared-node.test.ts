/**
 * A lab's shared node, in process (docs/shared-node.md): `blobs.authGroup` shares the blob store
 * with an OS group (here the test process's own group, so it runs as any user), writes node-id
 * and the client token, accepts the token as the node itself, and rotates it with a grace period.
 * The multi-user OS setup (a member reads through the mount, another user cannot):
 * test/e2e/shared-node-os.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { ClientTokens, CLIENT_TOKEN_PREFIX } from '../../src/blobs/client-token.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { resolveGroup, shareWithGroup } from '../../src/blobs/shared-store.js';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { MycelError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { startNode } from '../../src/node/assemble.js';
import { silentLog } from '../helpers/core.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-shared-node-'));
after(() => rmSync(root, { recursive: true, force: true }));
const gid = process.getgid!();
const TOKEN_LINE = new RegExp(`^${CLIENT_TOKEN_PREFIX.replace('.', '\\.')}[A-Za-z0-9_-]{43}\\n$`);
let seq = 0;
const fresh = (name: string): string => join(root, `${name}-${++seq}`);
const modeOf = (path: string): number => statSync(path).mode & 0o7777;

function configFor(dir: string, blobs: ConfigInput['blobs'] = {}) {
  return configSchema.parse({
    node: { name: 'lab', dataDir: join(dir, 'data') },
    owner: { password: 'owner-secret-shared' },
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
    blobs: { dir: join(dir, 'shared'), ...blobs },
  });
}

describe('client tokens', () => {
  test('rotation: the previous token is accepted within the grace period and refused after it; the file holds the current one, 0640 to the group', async () => {
    const dir = fresh('tokens');
    await mkdir(dir);
    let now = 1_000_000;
    const tokens = new ClientTokens({ dir, gid, rotateMs: 60_000, graceMs: 10_000, log: silentLog, now: () => now });
    await tokens.rotate();
    const first = readFileSync(tokens.path, 'utf8');
    assert.match(first, TOKEN_LINE);
    assert.equal(modeOf(tokens.path), 0o640);
    assert.equal(statSync(tokens.path).gid, gid);
    assert.ok(tokens.accepts(first.trim()));

    await tokens.rotate();
    const second = readFileSync(tokens.path, 'utf8');
    assert.notEqual(second, first);
    assert.ok(tokens.accepts(second.trim()), 'the new token');
    now += 9_999;
    assert.ok(tokens.accepts(first.trim()), 'the previous token within the grace period');
    now += 2;
    assert.ok(!tokens.accepts(first.trim()), 'the previous token after the grace period');
    assert.ok(tokens.accepts(second.trim()), 'the current one still');

    await tokens.rotate();
    assert.ok(!tokens.accepts(first.trim()), 'two rotations back: never again');
    for (const bad of ['', 'x', CLIENT_TOKEN_PREFIX, `${CLIENT_TOKEN_PREFIX}${'A'.repeat(43)}`, second.trim().slice(CLIENT_TOKEN_PREFIX.length)]) {
      assert.ok(!tokens.accepts(bad), JSON.stringify(bad));
    }
  });

  test('the timer replaces the file atomically: every read is a whole token, and it changes', async () => {
    const dir = fresh('timer');
    await mkdir(dir);
    const tokens = new ClientTokens({ dir, gid, rotateMs: 50, graceMs: 50, log: silentLog });
    await tokens.start();
    try {
      const seen = new Set<string>();
      const deadline = Date.now() + 10_000;
      let reads = 0;
      while (seen.size < 3 && Date.now() < deadline) {
        const text = readFileSync(tokens.path, 'utf8');
        reads++;
        assert.match(text, TOKEN_LINE, `read ${reads} saw a partial file`);
        seen.add(text);
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(seen.size >= 3, `only ${seen.size} tokens seen in ${reads} reads`);
    } finally {
      tokens.close();
    }
  });

  test('a grace period longer than the rotation interval is refused', () => {
    assert.throws(
      () => new ClientTokens({ dir: root, gid, rotateMs: 1000, graceMs: 1001, log: silentLog }),
      (err: unknown) => err instanceof MycelError && err.code === 'AUTH_GROUP_FAILED',
    );
  });
});

describe('the store shared with a group', () => {
  test('an unknown group is AUTH_GROUP_UNKNOWN, numeric ids and names resolve', async () => {
    await assert.rejects(resolveGroup('mycel-no-such-group-x'), (err: unknown) => err instanceof MycelError && err.code === 'AUTH_GROUP_UNKNOWN' && err.details?.group === 'mycel-no-such-group-x');
    const byId = await resolveGroup(String(gid));
    assert.equal(byId.gid, gid);
    assert.deepEqual(await resolveGroup(byId.name), byId);
  });

  test('an existing private tree is given to the group; new blobs are group-readable whatever the umask', async () => {
    const dir = fresh('tree');
    const before = new FsBlobStore(dir);
    const old = await before.put(Readable.from([Buffer.from('made private')]));
    assert.equal(modeOf(join(dir, 'sha256')), 0o750);
    await shareWithGroup(dir, gid);
    for (const d of [dir, join(dir, 'sha256'), join(dir, 'sha256', old.sha256.slice(0, 2)), join(dir, 'tmp')]) assert.equal(modeOf(d), 0o2750, d);
    assert.equal(modeOf(before.pathOf(old.sha256)), 0o640);

    const umask = process.umask(0o077);
    try {
      const store = new FsBlobStore(dir, { group: gid });
      const stored = await store.put(Readable.from([randomBytes(100)]));
      const path = store.pathOf(stored.sha256);
      assert.equal(modeOf(path), 0o640, 'file under umask 077');
      assert.equal(statSync(path).gid, gid);
      assert.equal(modeOf(join(dir, 'sha256', stored.sha256.slice(0, 2), stored.sha256.slice(2, 4))), 0o2750, 'new shard under umask 077');
      assert.equal(modeOf(join(dir, 'sha1', stored.sha1.slice(0, 2))), 0o2750);
    } finally {
      process.umask(umask);
    }
  });

  test('a reader without quarantine reports damage as BLOB_CORRUPT and leaves the file where it is', async () => {
    const dir = fresh('reader');
    const store = new FsBlobStore(dir);
    const stored = await store.put(Readable.from([Buffer.from('intact bytes')]));
    writeFileSync(store.pathOf(stored.sha256), 'damaged byte');
    const reader = new FsBlobStore(dir, { quarantine: false });
    await assert.rejects(
      (async () => {
        for await (const _ of await reader.read(stored.sha256)) void _;
      })(),
      (err: unknown) => err instanceof MycelError && err.code === 'BLOB_CORRUPT',
    );
    assert.ok(existsSync(store.pathOf(stored.sha256)), 'not moved');
  });
});

describe('mycel serve --auth-group, in process', () => {
  test('the node shares its store, names itself in node-id, and takes the client token as the node (never logging it)', async () => {
    const dir = fresh('node');
    const lines: string[] = [];
    const log = createLogger({ level: 'trace', destination: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(chunk.toString()), done()) }) });
    const node = await startNode(configFor(dir, { authGroup: String(gid) }), log);
    try {
      const shared = join(dir, 'shared');
      assert.equal(modeOf(shared), 0o2750);
      assert.equal(modeOf(join(dir, 'data')) & 0o077, 0, 'the data directory (the database) is closed to group and others');
      assert.equal(readFileSync(join(shared, 'node-id'), 'utf8'), `${node.core.node.id}\n`);
      assert.equal(modeOf(join(shared, 'node-id')), 0o640);
      const token = readFileSync(join(shared, 'client-token'), 'utf8').trim();
      assert.equal(modeOf(join(shared, 'client-token')), 0o640);

      const bytes = randomBytes(2000);
      const put = await node.app.inject({ method: 'PUT', url: '/api/v1/blobs', payload: bytes, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
      assert.equal(put.statusCode, 201, put.body);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      assert.equal(modeOf(node.blobs.pathOf(sha256)), 0o640);
      const get = await node.app.inject({ url: `/api/v1/blobs/sha256/${sha256}`, headers: { authorization: `Bearer ${token}` } });
      assert.equal(get.statusCode, 200);
      assert.ok(get.rawPayload.equals(bytes));
      const who = await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual((who.json() as { actor: unknown }).actor, { kind: 'system' }, 'the token is the node itself');
      const blob = await node.core.operator.getBlob({ kind: 'owner' }, `sha256://${sha256}`);
      assert.equal(blob.uploadedBy, 'system');

      const wrong = await node.app.inject({ url: `/api/v1/blobs/sha256/${sha256}`, headers: { authorization: `Bearer ${CLIENT_TOKEN_PREFIX}${'A'.repeat(43)}` } });
      assert.equal(wrong.statusCode, 401);
      const asCookie = await node.app.inject({ url: `/api/v1/blobs/sha256/${sha256}`, cookies: { mycel_session: token } });
      assert.equal(asCookie.statusCode, 401, 'never from a cookie');

      await node.clientTokens!.rotate();
      const next = readFileSync(join(shared, 'client-token'), 'utf8').trim();
      assert.notEqual(next, token);
      for (const t of [token, next]) {
        const res = await node.app.inject({ url: `/api/v1/blobs/sha256/${sha256}`, method: 'HEAD', headers: { authorization: `Bearer ${t}` } });
        assert.equal(res.statusCode, 200, 'old (within the grace period) and new');
      }
      const all = lines.join('');
      assert.ok(all.length > 0);
      assert.ok(!all.includes(token.slice(CLIENT_TOKEN_PREFIX.length)) && !all.includes(next.slice(CLIENT_TOKEN_PREFIX.length)), 'no token in the log');
    } finally {
      await node.close();
    }
  });

  test('real seconds: after a scheduled rotation the old token works within the grace period and is refused after it', async () => {
    const dir = fresh('rotating');
    const node = await startNode(configFor(dir, { authGroup: String(gid), clientTokenRotateSeconds: 3, clientTokenGraceSeconds: 2 }), silentLog);
    try {
      const file = join(dir, 'shared', 'client-token');
      const status = async (token: string) => (await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${token}` } })).statusCode;
      const old = readFileSync(file, 'utf8').trim();
      assert.equal(await status(old), 200);
      let current = old;
      const deadline = Date.now() + 10_000;
      while (current === old && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        current = readFileSync(file, 'utf8').trim();
      }
      const rotatedAt = Date.now();
      assert.notEqual(current, old, 'the file was rotated');
      assert.equal(await status(current), 200, 'the new token');
      assert.equal(await status(old), 200, 'the old token within the grace period');
      await new Promise((r) => setTimeout(r, Math.max(0, rotatedAt + 2_300 - Date.now())));
      assert.equal(await status(old), 401, 'the old token after the grace period');
      assert.equal(await status(readFileSync(file, 'utf8').trim()), 200);
    } finally {
      await node.close();
    }
  });

  test('an unknown group stops the start with AUTH_GROUP_UNKNOWN before anything is created', async () => {
    const dir = fresh('unknown');
    await assert.rejects(startNode(configFor(dir, { authGroup: 'mycel-no-such-group-x' }), silentLog), (err: unknown) => err instanceof MycelError && err.code === 'AUTH_GROUP_UNKNOWN');
    assert.ok(!existsSync(join(dir, 'shared')) && !existsSync(join(dir, 'data')));
  });

  test('a shared store inside the data directory stops the start', async () => {
    const dir = fresh('inside');
    await assert.rejects(
      startNode(configFor(dir, { authGroup: String(gid), dir: join(dir, 'data', 'blobs') }), silentLog),
      (err: unknown) => err instanceof MycelError && err.code === 'AUTH_GROUP_FAILED' && err.details?.reason === 'inside node.dataDir',
    );
  });

  test('a grace period longer than the rotation interval stops the start', async () => {
    const dir = fresh('grace');
    await assert.rejects(
      startNode(configFor(dir, { authGroup: String(gid), clientTokenRotateSeconds: 10, clientTokenGraceSeconds: 11 }), silentLog),
      (err: unknown) => err instanceof MycelError && err.code === 'AUTH_GROUP_FAILED',
    );
  });

  test('without authGroup nothing changes: private modes, no node-id, no token', async () => {
    const dir = fresh('private');
    const node = await startNode(configFor(dir), silentLog);
    try {
      const stored = await node.blobs.put(Readable.from([Buffer.from('private')]));
      assert.equal(modeOf(join(dir, 'shared', 'sha256')), 0o750);
      assert.equal(modeOf(node.blobs.pathOf(stored.sha256)), 0o640);
      assert.ok(!existsSync(join(dir, 'shared', 'node-id')) && !existsSync(join(dir, 'shared', 'client-token')));
      assert.equal(node.clientTokens, null);
    } finally {
      await node.close();
    }
  });
});
