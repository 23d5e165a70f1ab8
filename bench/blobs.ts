// Blob store and fetch over loopback against their limits, on one file (1 GiB by default):
//   store:  PUT /api/v1/blobs to a real `mycel serve` vs the hashing limit (sha256 + sha1 in one
//           pass over the same file, in Node, no network, no disk writes);
//   fetch:  GET /api/v1/blobs/sha256/<hex> vs a bare node:http server streaming the same file
//           (no auth, no hashing; a process of its own, _lib/bare-file-server.ts, reading the
//           file in the store's chunk size) to the same undici client;
// and per phase the server's peak RSS growth (VmHWM reset before each phase) and the CPU time
// of the server (all threads, its main thread, system time) and of the client.
// The client is curl where it is installed (--client undici for Node's undici in this process):
// on two cores the client shares the machine with the server, and undici spends 3–4 times the
// CPU of curl on a 1 GiB upload (1.6–2.0 s against 0.5 s), more than the server's own receive;
// the ratios should say what the server does, not what the client costs. Both in docs/benchmarks.md.
// The server runs from dist/ when it is built (`npm run build`), as `npm start` and the package
// run it; --sources runs the TypeScript sources under tsx (whose loader adds to the server's heap).
// Usage: npm run bench -- blobs [--mb N] [--reps N] [--client curl|undici] [--sources] [--bare-read BYTES] [--cpu-prof DIR]
//        (or MYCEL_BENCH_BLOB_MB=N, MYCEL_BENCH_BLOB_REPS=N; 3 rounds by default, medians printed)
// --cpu-prof DIR: V8 profiles of the server and the bare server (bench/_lib/cpuprofile-top.ts); not for reporting numbers.
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { IO_CHUNK_BYTES } from '../src/blobs/fs-blob-store.js';
import { distCli, startMycel } from '../test/helpers/process.js';
import { cpuTimes, threadCpuMs } from './_lib/proc-stats.js';

const { values } = parseArgs({ options: { mb: { type: 'string', default: process.env.MYCEL_BENCH_BLOB_MB ?? '1024' }, 'cpu-prof': { type: 'string' }, 'bare-read': { type: 'string' }, client: { type: 'string' }, sources: { type: 'boolean', default: false }, reps: { type: 'string', default: '3' } } });
const REPS = Number(process.env.MYCEL_BENCH_BLOB_REPS ?? values.reps);
const FROM: 'dist' | 'sources' = !values.sources && existsSync(distCli) ? 'dist' : 'sources';
const CURL = '/usr/bin/curl';
const CLIENT = values.client ?? (existsSync(CURL) ? 'curl' : 'undici');
if (CLIENT !== 'curl' && CLIENT !== 'undici') throw new Error(`--client: curl or undici, not ${CLIENT}`);
const CPU_PROF = values['cpu-prof'];
const SIZE = Number(values.mb) * 1024 * 1024;
const MB = 1024 * 1024;
const PASSWORD = 'bench-blobs-pw';
/** The client's read size for the upload body (the same file, the same reads, for every PUT). */
const CLIENT_READ = 256 * 1024;
/** The bare server reads the file in the store's chunk size (same reads; `--bare-read N` to try others). */
const BARE_HWM = Number(values['bare-read'] ?? IO_CHUNK_BYTES);

function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)![1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Resets VmHWM so the next reading is the peak of what follows (Linux clear_refs 5). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** A file of SIZE pseudo-random bytes: an AES-256-CTR keystream with a fixed key (incompressible, the same every run, ~1 s a GiB to make). */
async function makeFile(path: string): Promise<void> {
  const out = createWriteStream(path);
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update('bench-blobs').digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(MB);
  for (let written = 0; written < SIZE; written += MB) {
    const n = Math.min(MB, SIZE - written);
    if (!out.write(cipher.update(zeros.subarray(0, n)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

/** The hashing limit: both digests in one pass over the file, as the store computes them. */
async function hashLimit(path: string): Promise<{ secs: number; sha256: string }> {
  const t0 = performance.now();
  const a = createHash('sha256');
  const b = createHash('sha1');
  for await (const c of createReadStream(path, { highWaterMark: CLIENT_READ })) {
    a.update(c as Buffer);
    b.update(c as Buffer);
  }
  const sha256 = a.digest('hex');
  b.digest('hex');
  return { secs: (performance.now() - t0) / 1000, sha256 };
}

/**
 * Runs curl with `args` (headers from a file, so no token shows in a process list) under `sh`,
 * whose `times` gives curl's CPU: its stdout and its CPU seconds.
 */
function curl(args: string[], headerFile: string | undefined): Promise<{ out: string; cpu: number }> {
  const quoted = [CURL, '-sS', '-f', ...(headerFile ? ['-H', `@${headerFile}`] : []), ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', `${quoted}; status=$?; echo; times; exit $status`], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl: ${err.message} ${stderr}`));
      const lines = stdout.trimEnd().split('\n');
      const children = lines.pop()!.trim().split(/\s+/);
      lines.pop();
      const secs = (t: string): number => {
        const m = /^(\d+)m([\d.]+)s$/.exec(t)!;
        return Number(m[1]) * 60 + Number(m[2]);
      };
      resolve({ out: lines.join('\n').trim(), cpu: secs(children[0]!) + secs(children[1]!) });
    });
  });
}

/** Reads a whole response body, counting bytes; the client's CPU seconds when it is curl (else null: this process's CPU is measured). */
async function drain(url: string, headerFile?: string, headers: Record<string, string> = {}): Promise<{ bytes: number; clientCpu: number | null }> {
  if (CLIENT === 'curl') {
    const { out, cpu } = await curl(['-o', '/dev/null', '-w', '%{size_download}', url], headerFile);
    return { bytes: Number(out), clientCpu: cpu };
  }
  const res = await request(url, { headers, bodyTimeout: 600_000, headersTimeout: 600_000 });
  if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${await res.body.text()}`);
  let bytes = 0;
  for await (const c of res.body) bytes += (c as Buffer).length;
  return { bytes, clientCpu: null };
}

/** CPU ms of a process: its main thread (tid = pid) and all its threads, user and system. */
function cpuOf(pid: number): { main: number; all: number; sys: number } {
  const all = cpuTimes(pid);
  const main = cpuTimes(pid, pid);
  return { main: main.user + main.sys, all: all.user + all.sys, sys: all.sys };
}

interface Phase {
  secs: number;
  /** CPU seconds of the server process (all threads; its main thread; system time) and of this process (the client). */
  serverCpu: number;
  serverMain: number;
  serverSys: number;
  clientCpu: number;
  /** Peak RSS growth of the server over the phase, bytes. */
  peakGrowth: number;
  /** CPU seconds of the server's other busiest threads (the hash thread, the thread pool, GC helpers), largest first. */
  otherThreads: number[];
}

/** Runs `work` against the server `pid`, measuring wall time, both sides' CPU and the server's peak RSS growth.
 *  `work` returns the client's CPU seconds when the client is a process of its own (curl). */
async function phase(pid: number, work: () => Promise<number | null>): Promise<Phase> {
  const before = memoryOf(pid);
  resetPeak(pid);
  const server0 = cpuOf(pid);
  const threads0 = threadCpuMs(pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const clientProcessCpu = await work();
  const secs = (performance.now() - t0) / 1000;
  const client = process.cpuUsage(client0);
  const server = cpuOf(pid);
  const otherThreads = [...threadCpuMs(pid)].filter(([tid]) => tid !== pid).map(([tid, ms]) => (ms - (threads0.get(tid) ?? 0)) / 1000).filter((s) => s >= 0.05).sort((a, b) => b - a);
  const clientCpu = clientProcessCpu ?? (client.user + client.system) / 1e6;
  return { secs, serverCpu: (server.all - server0.all) / 1000, serverMain: (server.main - server0.main) / 1000, serverSys: (server.sys - server0.sys) / 1000, clientCpu, peakGrowth: memoryOf(pid).peak - before.rss, otherThreads };
}

/** The bare file server (bare-file-server.ts) as a child process, like `mycel serve`. */
async function startBare(file: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...nodeArgs('bare'), '--import', 'tsx', join(import.meta.dirname, '_lib', 'bare-file-server.ts'), file, String(BARE_HWM)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}/` };
}

function nodeArgs(name: string): string[] {
  return CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
}

const rate = (secs: number): string => `${(SIZE / MB / secs).toFixed(0)} MB/s`;
const mb = (bytes: number): string => `${(bytes / MB).toFixed(1)} MB`;
const cpu = (p: Phase): string =>
  `cpu: server ${p.serverCpu.toFixed(2)} s (main thread ${p.serverMain.toFixed(2)}${p.otherThreads.length ? `, other threads ${p.otherThreads.map((t) => t.toFixed(2)).join(' ')}` : ''}; system ${p.serverSys.toFixed(2)}), client ${p.clientCpu.toFixed(2)} s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-blobs-'));
  const file = join(dir, 'input.bin');
  const config = join(dir, 'mycel.yaml');
  writeFileSync(config, ['node:', `  dataDir: ${JSON.stringify(join(dir, 'data'))}`, 'owner:', `  password: ${PASSWORD}`, 'server:', '  requestTimeoutMs: 3600000', 'blobs:', `  maxUploadBytes: ${SIZE + 1}`, ''].join('\n'));
  const node = await startMycel({}, ['--config', config], 30_000, nodeArgs('mycel'), undefined, FROM);
  let bare: { child: ChildProcess; url: string } | undefined;
  try {
    console.log(`blobs bench: ${mb(SIZE)} file, node ${process.version}, server from ${FROM === 'dist' ? 'dist/' : 'the sources (tsx)'}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
    await makeFile(file);
    bare = await startBare(file);
    // Warm the page cache so every reader starts equal.
    await hashLimit(file);
    const sha256 = (await hashLimit(file)).sha256;

    const login = await request(`${node.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    const token = ((await login.body.json()) as { token: string }).token;
    const pid = node.child.pid!;
    const base = memoryOf(pid);

    const headerFile = join(dir, 'headers');
    writeFileSync(headerFile, `authorization: Bearer ${token}\ncontent-type: application/octet-stream\n`, { mode: 0o600 });
    const storedFile = join(dir, 'data', 'blobs', 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);

    // Rounds of limit, store, fetch and bare fetch, each measured beside the others of its round:
    // on two shared cores one run moves by a third from one minute to the next; the medians say more.
    const rounds: Array<{ limit: number; store: Phase; fetch: Phase; bare: Phase }> = [];
    console.log(`(client ${CLIENT === 'curl' ? 'curl' : `undici, reading ${CLIENT_READ / 1024} KiB`}; bare server reads ${BARE_HWM / 1024} KiB; ${REPS} rounds)`);
    for (let round = 1; round <= REPS; round++) {
      const limit = (await hashLimit(file)).secs;
      // The same bytes each round: later rounds answer 200 (already stored) after the same work,
      // receiving, hashing, writing and syncing the temp file; only the final link is skipped.
      const store = await phase(pid, async () => {
        if (CLIENT === 'curl') {
          const { out, cpu } = await curl(['-T', file, '-X', 'PUT', `${node.url}/api/v1/blobs`], headerFile);
          const stored = JSON.parse(out) as { sha256: string };
          if (stored.sha256 !== `sha256://${sha256}`) throw new Error(`PUT: ${out}`);
          return cpu;
        }
        const put = await request(`${node.url}/api/v1/blobs`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(SIZE) },
          body: createReadStream(file, { highWaterMark: CLIENT_READ }),
          headersTimeout: 600_000,
          bodyTimeout: 600_000,
        });
        const stored = (await put.body.json()) as { sha256: string };
        if ((put.statusCode !== 201 && put.statusCode !== 200) || stored.sha256 !== `sha256://${sha256}`) throw new Error(`PUT: ${put.statusCode} ${JSON.stringify(stored)}`);
        return null;
      });

      // The store wrote past the page cache (O_DIRECT): read the blob once so that the fetch, like
      // the bare server with the input file, starts from the cache, not from the disk.
      for await (const _ of createReadStream(storedFile, { highWaterMark: MB }));

      const fetch = await phase(pid, async () => {
        const { bytes, clientCpu } = await drain(`${node.url}/api/v1/blobs/sha256/${sha256}`, headerFile, { authorization: `Bearer ${token}` });
        if (bytes !== SIZE) throw new Error(`GET: ${bytes} bytes`);
        return clientCpu;
      });

      const bareFetch = await phase(bare.child.pid!, async () => {
        const { bytes, clientCpu } = await drain(bare!.url);
        if (bytes !== SIZE) throw new Error(`bare GET: ${bytes} bytes`);
        return clientCpu;
      });
      rounds.push({ limit, store, fetch, bare: bareFetch });

      console.log('');
      console.log(`round ${round}`);
      console.log(`hash limit (sha256+sha1, one pass)  ${limit.toFixed(2)} s  ${rate(limit)}`);
      console.log(`store  PUT /api/v1/blobs            ${store.secs.toFixed(2)} s  ${rate(store.secs)}   ${(limit / store.secs).toFixed(2)} of the hash limit   server peak RSS growth ${mb(store.peakGrowth)}   ${cpu(store)}`);
      console.log(`bare http server streaming the file ${bareFetch.secs.toFixed(2)} s  ${rate(bareFetch.secs)}   ${cpu(bareFetch)}`);
      console.log(`fetch  GET /api/v1/blobs/sha256/…   ${fetch.secs.toFixed(2)} s  ${rate(fetch.secs)}   ${(bareFetch.secs / fetch.secs).toFixed(2)} of the bare server   server peak RSS growth ${mb(fetch.peakGrowth)}   ${cpu(fetch)}`);
    }
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const storeRatios = rounds.map((r) => r.limit / r.store.secs);
    const fetchRatios = rounds.map((r) => r.bare.secs / r.fetch.secs);
    const list = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(', ');
    console.log('');
    console.log(`store ÷ hash limit:  median ${median(storeRatios).toFixed(2)} (${list(storeRatios)})   goal ≥ 0.80`);
    console.log(`fetch ÷ bare server: median ${median(fetchRatios).toFixed(2)} (${list(fetchRatios)})   goal ≥ 0.80`);
    console.log(`server peak RSS growth: store ≤ ${mb(Math.max(...rounds.map((r) => r.store.peakGrowth)))}, fetch ≤ ${mb(Math.max(...rounds.map((r) => r.fetch.peakGrowth)))}   goal < 64 MB`);
    console.log(`server RSS at start ${mb(base.rss)}`);
  } finally {
    bare?.child.stdin!.end();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
