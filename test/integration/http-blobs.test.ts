/**
 * Blobs over HTTP against real `mycel serve` processes on SQLite: uploads streamed through
 * undici (a 200 MB one generated on the fly, with the server's RSS watched), ranges, caching
 * headers, the sha1 alias, a damaged file on disk, concurrent uploads, who may read what, the
 * upload limit, and a server killed in the middle of an upload.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, openSync, readSync, writeSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { connect } from 'node:net';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { request } from 'undici';
import { startMycel, type ServingNode } from '../helpers/process.js';

const PASSWORD = 'blobs-owner-pw';
const API_KEY = 'blobs-api-key-0123456789abcdef0123456789';
const MB = 1024 * 1024;

interface Node {
  serving: ServingNode;
  dataDir: string;
  owner: string;
}

let dir: string;
let node: Node;

async function signJwt(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(API_KEY));
}

async function start(name: string, env: Record<string, string> = {}, dataDir = join(dir, name)): Promise<Node> {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      'node:',
      `  dataDir: ${JSON.stringify(dataDir)}`,
      'owner:',
      `  password: ${PASSWORD}`,
      'server:',
      '  loginAttemptsPerMinute: 10000',
      'realtime:',
      `  apiKey: ${API_KEY}`,
      '  namespaces:',
      '    open: {}',
      '    closed: { subscribe: owner, publish: owner, history: owner, presence: owner }',
      '',
    ].join('\n'),
  );
  const serving = await startMycel(env, ['--config', config]);
  const res = await request(`${serving.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(res.statusCode, 201);
  const owner = ((await res.body.json()) as { token: string }).token;
  return { serving, dataDir, owner };
}

interface Uploaded {
  status: number;
  body: { sha256: string; sha1: string; size: number; mediaType: string | null; error?: { code: string } };
}

async function put(n: Node, token: string, body: Buffer | AsyncIterable<Uint8Array>, headers: Record<string, string> = {}): Promise<Uploaded> {
  const res = await request(`${n.serving.url}/api/v1/blobs`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, ...headers }, body: Buffer.isBuffer(body) ? body : Readable.from(body), headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, body: (await res.body.json()) as Uploaded['body'] };
}

async function get(n: Node, token: string | null, path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const res = await request(`${n.serving.url}${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) };
}

async function rest<T>(n: Node, token: string, method: string, path: string, body: unknown): Promise<T> {
  const res = await request(`${n.serving.url}${path}`, { method: method as 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.body.text();
  assert.ok(res.statusCode < 300, `${method} ${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const blobPath = (n: Node, hex: string): string => join(n.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex.slice(2, 4), hex);

/** Deterministic bytes made chunk by chunk (never held whole); `seen` gets every chunk (for hashing on the client side). */
async function* generated(total: number, seed: string, seen?: (chunk: Buffer) => void, pauseEvery?: { bytes: number; ms: number }): AsyncGenerator<Buffer> {
  const block = createHash('sha512').update(seed).digest();
  const chunk = Buffer.alloc(256 * 1024);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  let sent = 0;
  let counter = 0;
  while (sent < total) {
    const n = Math.min(chunk.length, total - sent);
    const piece = Buffer.from(chunk.subarray(0, n));
    piece.writeUInt32BE(counter++ >>> 0, 0);
    seen?.(piece);
    sent += n;
    yield piece;
    if (pauseEvery && sent % pauseEvery.bytes < chunk.length) await new Promise((r) => setTimeout(r, pauseEvery.ms));
  }
}

/** Resident set size (VmRSS) and its peak (VmHWM) of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resets the peak RSS counter (VmHWM) of a process: write 5 to clear_refs (Linux ≥ 4.0, own user's processes). */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  return readdirSync(path, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => join(e.parentPath, e.name));
}

describe('blobs over HTTP (mycel serve on SQLite)', { timeout: 240_000 }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-blobs-'));
    node = await start('main');
  });
  after(async () => {
    await node?.serving.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips an empty and a small blob by every name, 201 then 200', async () => {
    const empty = await put(node, node.owner, Buffer.alloc(0));
    assert.equal(empty.status, 201, JSON.stringify(empty.body));
    assert.deepEqual(empty.body, { sha256: `sha256://${sha256(Buffer.alloc(0))}`, sha1: `sha1://${sha1(Buffer.alloc(0))}`, size: 0, mediaType: null });
    const e = await get(node, node.owner, `/api/v1/blobs/${encodeURIComponent(empty.body.sha256)}`);
    assert.equal(e.status, 200);
    assert.equal(e.body.length, 0);
    assert.equal(e.headers['content-length'], '0');

    const bytes = Buffer.from(`hello blobs ${randomUUID()}\n`);
    const first = await put(node, node.owner, bytes, { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(first.body, { sha256: `sha256://${sha256(bytes)}`, sha1: `sha1://${sha1(bytes)}`, size: bytes.length, mediaType: 'text/plain; charset=utf-8' });
    const again = await put(node, node.owner, bytes, { 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);

    const hex = sha256(bytes);
    for (const path of [
      `/api/v1/blobs/${encodeURIComponent(`sha256://${hex}`)}`,
      `/api/v1/blobs/sha256:${hex}`,
      `/api/v1/blobs/sha256/${hex}`,
      `/api/v1/blobs/${encodeURIComponent(`sha1://${sha1(bytes)}`)}`,
      `/api/v1/blobs/sha1:${sha1(bytes)}`,
      `/api/v1/blobs/sha1/${sha1(bytes)}`,
      `/api/v1/blobs/sha256/${hex.toUpperCase()}`,
    ]) {
      const r = await get(node, node.owner, path);
      assert.equal(r.status, 200, `${path}: ${r.body.toString()}`);
      assert.deepEqual(r.body, bytes, path);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.headers.etag, `"${hex}"`);
      assert.equal(r.headers['cache-control'], 'private, max-age=31536000, immutable');
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['content-length'], String(bytes.length));
    }
    const head = await get(node, node.owner, `/api/v1/blobs/sha256/${hex}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(bytes.length));
    assert.equal(head.headers.etag, `"${hex}"`);
    assert.equal(head.body.length, 0);

    const notModified = await get(node, node.owner, `/api/v1/blobs/sha256/${hex}`, { 'if-none-match': `"${hex}"` });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const modified = await get(node, node.owner, `/api/v1/blobs/sha256/${hex}`, { 'if-none-match': `"${'0'.repeat(64)}"` });
    assert.equal(modified.status, 200);

    // Unknown and malformed names.
    assert.equal((await get(node, node.owner, `/api/v1/blobs/sha256/${'0'.repeat(64)}`)).status, 404);
    const bad = await get(node, node.owner, '/api/v1/blobs/sha256:abc');
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body.toString()) as { error: { code: string } }).error.code, 'BAD_BLOB_URI');
    // A media type the record cannot hold is refused before the body is read.
    const long = await put(node, node.owner, Buffer.from('x'), { 'content-type': `text/${'x'.repeat(300)}` });
    assert.equal(long.status, 400);
    assert.equal(long.body.error?.code, 'VALIDATION_FAILED');
    // A JSON Content-Type is a blob like any other, not parsed.
    const json = await put(node, node.owner, Buffer.from('{"a":1,"a":2'), { 'content-type': 'application/json' });
    assert.equal(json.status, 201);
    assert.equal(json.body.mediaType, 'application/json');
  });

  it('serves single ranges: start, middle, suffix, open end; 416 when unsatisfiable; a malformed Range is ignored', async () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const { body } = await put(node, node.owner, bytes);
    const path = `/api/v1/blobs/${encodeURIComponent(body.sha256)}`;
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 9],
      ['bytes=500-599', 500, 599],
      ['bytes=-100', 900, 999],
      ['bytes=990-', 990, 999],
      ['bytes=995-5000', 995, 999],
      ['bytes=0-0,5-9', 0, 0],
    ];
    for (const [range, start, end] of cases) {
      const r = await get(node, node.owner, path, { range });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers['content-range'], `bytes ${start}-${end}/1000`, range);
      assert.equal(r.headers['content-length'], String(end - start + 1), range);
      assert.deepEqual(r.body, bytes.subarray(start, end + 1), range);
    }
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
      const r = await get(node, node.owner, path, { range });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], 'bytes */1000', range);
      assert.equal((JSON.parse(r.body.toString()) as { error: { code: string } }).error.code, 'RANGE_NOT_SATISFIABLE');
    }
    for (const range of ['bytes=9-2', 'items=0-9', 'bytes=abc', 'bytes=-']) {
      const r = await get(node, node.owner, path, { range });
      assert.equal(r.status, 200, range);
      assert.deepEqual(r.body, bytes, range);
    }
  });

  it('streams a 200 MB blob both ways with bounded server memory', { timeout: 180_000 }, async () => {
    const size = 200 * MB;
    const pid = node.serving.child.pid!;
    const upHash = createHash('sha256');
    const before = memoryOf(pid);
    const peakReset = resetPeak(pid);
    const up = await put(node, node.owner, generated(size, 'big', (c) => upHash.update(c)), { 'content-type': 'application/octet-stream' });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const hex = upHash.digest('hex');
    assert.equal(up.body.sha256, `sha256://${hex}`);
    assert.equal(up.body.size, size);
    assert.equal(statSync(blobPath(node, hex)).size, size);
    const beforeDownload = memoryOf(pid); // its peak is the upload's
    const downloadPeakReset = resetPeak(pid);

    const res = await request(`${node.serving.url}/api/v1/blobs/sha256/${hex}`, { headers: { authorization: `Bearer ${node.owner}` }, bodyTimeout: 60_000 });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(size));
    const downHash = createHash('sha256');
    let received = 0;
    for await (const c of res.body) {
      downHash.update(c as Buffer);
      received += (c as Buffer).length;
    }
    assert.equal(received, size);
    assert.equal(downHash.digest('hex'), hex);

    const afterwards = memoryOf(pid);
    // The download cycles buffers of its own (http/blob-body.ts: the upload's pooled staging
    // buffers): it grows the server by next to nothing on any runtime. With a fresh buffer per chunk it grew by 10-17 MB on Node 20.
    const downloadGrown = (downloadPeakReset ? afterwards.peak : afterwards.rss) - beforeDownload.rss;
    assert.ok(downloadGrown < 8 * MB, `the download grew the server by ${(downloadGrown / MB).toFixed(1)} MB`);
    const grown = (peakReset ? Math.max(beforeDownload.peak, afterwards.peak) : afterwards.rss) - before.rss;
    // Nothing holds the body (a 200 MB blob buffered, or even half of it, would add 100+ MB),
    // and the chunks' memory comes back as they pass: Node 24 frees each one once copied
    // (blobs/hashed-temp-file.ts), ~10 MB of growth; Node 20 leaves them to the GC, ~40 MB.
    // Before that, Node 24 grew by 65-78 MB here.
    assert.ok(grown < 64 * MB, `server RSS grew by ${(grown / MB).toFixed(1)} MB (before ${(before.rss / MB).toFixed(1)} MB, peak ${(afterwards.peak / MB).toFixed(1)} MB)`);
  });

  it('detects a damaged blob on disk and never serves it again', async () => {
    for (const size of [4096, 9 * MB]) {
      const bytes = Buffer.alloc(size, 7);
      bytes.write(randomUUID());
      const { body, status } = await put(node, node.owner, bytes);
      assert.equal(status, 201);
      const hex = body.sha256.slice('sha256://'.length);
      const file = blobPath(node, hex);
      const fd = openSync(file, 'r+');
      const one = Buffer.alloc(1);
      readSync(fd, one, 0, 1, size - 10);
      one[0] = one[0]! ^ 0xff;
      writeSync(fd, one, 0, 1, size - 10);
      closeSync(fd);

      const path = `/api/v1/blobs/sha256/${hex}`;
      if (size <= 4096) {
        // Small: checked before the reply starts, so the answer is the error code.
        const r = await get(node, node.owner, path);
        assert.equal(r.status, 503, r.body.toString().slice(0, 200));
        assert.equal((JSON.parse(r.body.toString()) as { error: { code: string } }).error.code, 'BLOB_CORRUPT');
        assert.equal(r.headers['cache-control'], undefined, 'an error is not cached');
        assert.equal(r.headers.etag, undefined);
      } else {
        // Large: streamed; the damage is found at the end and the connection is cut short of the full body.
        await assert.rejects(async () => {
          const res = await request(`${node.serving.url}${path}`, { headers: { authorization: `Bearer ${node.owner}` } });
          let got = 0;
          for await (const c of res.body) got += (c as Buffer).length;
          assert.fail(`the whole damaged body arrived (${got} bytes)`);
        });
      }
      const again = await get(node, node.owner, path);
      assert.ok(again.status === 404 || again.status === 503, `${again.status}`);
      assert.notDeepEqual(again.body.subarray(0, 16), bytes.subarray(0, 16));
      assert.equal(existsSync(file), false, 'the damaged file was set aside');
      // Uploading it again repairs it.
      const repaired = await put(node, node.owner, bytes);
      assert.ok(repaired.status === 200 || repaired.status === 201);
      assert.deepEqual((await get(node, node.owner, path)).body, bytes);
    }
  });

  it('closes the blob file of a download the client gives up on, and serves on', async () => {
    const bytes = Buffer.alloc(40 * MB, 3);
    bytes.write(randomUUID());
    const { body, status } = await put(node, node.owner, bytes);
    assert.equal(status, 201);
    const hex = body.sha256.slice('sha256://'.length);
    const openOnBlob = (): number => readdirSync(`/proc/${node.serving.child.pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${node.serving.child.pid}/fd/${fd}`).endsWith(hex);
      } catch {
        return false;
      }
    }).length;
    for (let i = 0; i < 3; i++) {
      const res = await request(`${node.serving.url}/api/v1/blobs/sha256/${hex}`, { headers: { authorization: `Bearer ${node.owner}` } });
      assert.equal(res.statusCode, 200);
      let got = 0;
      for await (const c of res.body) {
        got += (c as Buffer).length;
        if (got >= 2 * MB) break; // leaves the body unread: undici aborts the request
      }
    }
    const deadline = Date.now() + 10_000;
    while (openOnBlob() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(openOnBlob(), 0, 'the server let go of the file');
    const whole = await get(node, node.owner, `/api/v1/blobs/sha256/${hex}`);
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), hex);
  });

  it('takes 20 concurrent uploads of the same bytes as one blob', async () => {
    const bytes = Buffer.alloc(3 * MB, 1);
    bytes.write(randomUUID());
    const results = await Promise.all(Array.from({ length: 20 }, () => put(node, node.owner, bytes)));
    for (const r of results) {
      assert.ok(r.status === 200 || r.status === 201, JSON.stringify(r.body));
      assert.equal(r.body.sha256, `sha256://${sha256(bytes)}`);
    }
    assert.ok(results.some((r) => r.status === 201));
    assert.equal(statSync(blobPath(node, sha256(bytes))).size, bytes.length);
    assert.deepEqual(filesUnder(join(node.dataDir, 'blobs', 'tmp')), [], 'no temp files left');
    assert.deepEqual((await get(node, node.owner, `/api/v1/blobs/sha256/${sha256(bytes)}`)).body, bytes);
  });

  it('lets an actor read what it uploaded or what a post it may read refers to, and nothing else', async () => {
    const alice = await signJwt(`alice-${randomUUID()}`);
    const bob = await signJwt(`bob-${randomUUID()}`);
    const mine = Buffer.from(`alice's ${randomUUID()}`);
    const up = await put(node, alice, mine, { 'content-type': 'image/png' });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const path = `/api/v1/blobs/${encodeURIComponent(up.body.sha256)}`;
    assert.equal((await get(node, alice, path)).status, 200);
    assert.equal((await get(node, node.owner, path)).status, 200);
    const denied = await get(node, bob, path);
    assert.equal(denied.status, 404);
    assert.equal((JSON.parse(denied.body.toString()) as { error: { code: string } }).error.code, 'BLOB_NOT_FOUND');
    assert.equal((await get(node, bob, `/api/v1/blobs/sha256/${'1'.repeat(64)}`)).status, 404, 'unknown answers as denied');
    assert.equal((await get(node, null, path)).status, 401);
    assert.equal((await put(node, 'nobody-issued-this', mine)).status, 401);

    // Referred to by a post in a channel bob may not read: still hidden; in one he may: readable, by either name.
    const secret = Buffer.from(`closed ${randomUUID()}`);
    const s = await put(node, node.owner, secret);
    const closed = await rest<{ id: string }>(node, node.owner, 'POST', '/api/v1/channels', { name: `closed:b${randomUUID().slice(0, 8)}` });
    await rest(node, node.owner, 'POST', `/api/v1/channels/${closed.id}/posts`, { body: 'secret', blobRefs: [s.body.sha256] });
    assert.equal((await get(node, bob, `/api/v1/blobs/${encodeURIComponent(s.body.sha256)}`)).status, 404);
    const open = await rest<{ id: string }>(node, node.owner, 'POST', '/api/v1/channels', { name: `open:b${randomUUID().slice(0, 8)}` });
    await rest(node, alice, 'POST', `/api/v1/channels/${open.id}/posts`, { body: 'shared', blobRefs: [up.body.sha1] });
    const viaPost = await get(node, bob, path);
    assert.equal(viaPost.status, 200, viaPost.body.toString());
    assert.deepEqual(viaPost.body, mine);
    assert.equal(viaPost.headers['content-type'], 'image/png');
  });

  it('with blobs.allowDownload false serves only the owner; refuses uploads over blobs.maxUploadBytes', async () => {
    const locked = await start('locked', { MYCEL_BLOBS_ALLOW_DOWNLOAD: 'false', MYCEL_BLOBS_MAX_UPLOAD_BYTES: String(1 * MB) });
    try {
      const carol = await signJwt('carol');
      const bytes = Buffer.from(`carol ${randomUUID()}`);
      const up = await put(locked, carol, bytes);
      assert.equal(up.status, 201);
      const path = `/api/v1/blobs/${encodeURIComponent(up.body.sha256)}`;
      assert.equal((await get(locked, carol, path)).status, 404);
      assert.equal((await get(locked, locked.owner, path)).status, 200);

      // Declared too large: refused before the body is read.
      const declared = await put(locked, locked.owner, Buffer.alloc(MB + 1));
      assert.equal(declared.status, 413);
      assert.equal(declared.body.error?.code, 'BLOB_TOO_LARGE');
      // Chunked (no Content-Length): refused while streaming, nothing kept.
      const streamed = await put(locked, locked.owner, generated(2 * MB, 'too-big'));
      assert.equal(streamed.status, 413);
      assert.equal(streamed.body.error?.code, 'BLOB_TOO_LARGE');
      assert.deepEqual(filesUnder(join(locked.dataDir, 'blobs', 'tmp')), []);
      assert.equal(filesUnder(join(locked.dataDir, 'blobs', 'sha256')).length, 1);
      // Exactly the limit is fine.
      assert.equal((await put(locked, locked.owner, Buffer.alloc(MB, 3))).status, 201);
    } finally {
      await locked.serving.stop();
    }
  });

  it('a refused upload is answered while the client still sends: the rest of the body is read and dropped, the connection survives', async () => {
    // A client that learns of the refusal only after sending more must still read it: the
    // server answers, then drops the rest of the body (within a budget) instead of closing a
    // connection that is still receiving (the kernel would reset it: EPIPE for the client).
    const limited = await start('lingering', { MYCEL_BLOBS_MAX_UPLOAD_BYTES: String(1 * MB) });
    try {
      const { hostname, port } = new URL(limited.serving.url);
      for (const framing of ['chunked', 'declared'] as const) {
        const socket = connect({ host: hostname, port: Number(port) });
        await once(socket, 'connect');
        const errors: Error[] = [];
        socket.on('error', (err) => errors.push(err));
        let received = '';
        socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
        const total = 3 * MB;
        const head = framing === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
        socket.write(`PUT /api/v1/blobs HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${limited.owner}\r\n${head}\r\n\r\n`);
        const chunk = Buffer.alloc(64 * 1024, 7);
        const send = (c: Buffer): void => {
          socket.write(framing === 'chunked' ? Buffer.concat([Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]) : c);
        };
        let sent = 0;
        // Past the limit, then wait for the answer before sending the rest.
        while (sent < 1.5 * MB) {
          send(chunk);
          sent += chunk.length;
        }
        const deadline = Date.now() + 10_000;
        while (!received.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.match(received, /^HTTP\/1\.1 413 /, `${framing}: ${received.slice(0, 200)}`);
        assert.match(received, /BLOB_TOO_LARGE/);
        await new Promise((r) => setTimeout(r, 200));
        while (sent < total) {
          send(chunk);
          sent += chunk.length;
          await new Promise((r) => setImmediate(r));
        }
        if (framing === 'chunked') socket.write('0\r\n\r\n');
        // The connection is still usable: the next request on it is answered.
        received = '';
        socket.write(`GET /api/v1/node HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
        while (!/^HTTP\/1\.1 200 /.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.match(received, /^HTTP\/1\.1 200 /, `${framing}: the connection was cut (${errors.map((e) => e.message).join(', ')})`);
        assert.deepEqual(errors, [], `${framing}: no EPIPE or reset while sending the rest`);
        socket.destroy();
      }
      assert.deepEqual(filesUnder(join(limited.dataDir, 'blobs', 'tmp')), []);
    } finally {
      await limited.serving.stop();
    }
  });

  it('keeps no blob and no record of an upload whose server was SIGKILLed mid-way', async () => {
    const dataDir = join(dir, 'killed');
    let victim = await start('killed', {}, dataDir);
    const hash = createHash('sha256');
    const body = generated(64 * MB, 'killed', (c) => hash.update(c), { bytes: MB, ms: 20 });
    const upload = put(victim, victim.owner, body).then(
      (r) => r,
      (err: unknown) => err,
    );
    // Wait until the server is writing the temp file, then kill it.
    const tmp = join(dataDir, 'blobs', 'tmp');
    const deadline = Date.now() + 20_000;
    while (!filesUnder(tmp).some((f) => statSync(f).size > 2 * MB)) {
      assert.ok(Date.now() < deadline, 'the upload never reached the store');
      await new Promise((r) => setTimeout(r, 20));
    }
    await victim.serving.stop('SIGKILL');
    assert.ok((await upload) instanceof Error, 'the client saw the upload fail');
    victim = await start('killed', {}, dataDir);
    try {
      // The whole body's hash is unknown to the server; no final blob file exists at all.
      assert.deepEqual(filesUnder(join(dataDir, 'blobs', 'sha256')), []);
      assert.deepEqual(filesUnder(join(dataDir, 'blobs', 'sha1')), []);
      const changes = await request(`${victim.serving.url}/api/v1/changes?limit=1000`, { headers: { authorization: `Bearer ${victim.owner}` } });
      const text = await changes.body.text();
      assert.equal(changes.statusCode, 200, text);
      assert.doesNotMatch(text, /blob\.stored/);
    } finally {
      await victim.serving.stop();
    }
  });
});
