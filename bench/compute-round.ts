// The overhead of one federated round over loopback: a node (`startNode`, compute.mode node, in
// this process, SQLite) and three clients (`ComputeClientLoop`, each with its own worker
// thread and CSV split) run a FedAvg job of R training rounds (R + 1 rounds with the
// evaluation). Per round the wall time is set against the peer measured in the same run: the
// same rounds' tasks run by three warm TaskRunners side by side, and merged, in this process
// with no node (no HTTP, no signatures, no queue, no change log). overhead = federated − peer,
// per round. The heartbeat does not enter: a long poll answers as soon as a task exists.
// Also printed, for the federated phase: the process's CPU per round (node and clients share
// this process), and the node's commits (durable SQLite transactions, one fsync each) and
// changes per round, counted on its commit hook; for the peer, how its runners read the data
// (after round 1 a runner trains on the rows its thread kept).
// Usage: npm run bench -- compute-round [--rounds N] [--rows N] [--reps N]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ComputeClientLoop } from '../src/compute/compute-client.js';
import { firstRound, mergeRound } from '../src/compute/coordinator.js';
import { parsePlan } from '../src/compute/plan.js';
import { TaskRunner } from '../src/compute/run-task.js';
import { OWNER } from '../src/domain/actor.js';
import { loadConfig } from '../src/config/load.js';
import { startNode } from '../src/node/assemble.js';
import { WorkbenchClient } from '../src/compute/workbench-client.js';
import { makeRows, writeSplit } from '../test/helpers/compute.js';
import { loadAverage } from './_lib/proc-stats.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, rows: { type: 'string', default: '3000' }, reps: { type: 'string', default: '3' } } });
const ROUNDS = Number(values.rounds);
const ROWS = Number(values.rows);
const REPS = Number(values.reps);
const TOKEN = 'bench-compute-round-token-0123456789abcdef';
const PLAN = { version: 1, datasource: 'trial', kind: 'fedavg', model: 'linear', features: ['x1', 'x2'], target: 'ylin', rounds: ROUNDS, localEpochs: 1, learningRate: 0.1 };
const log = pino({ level: 'silent' });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-round-'));
try {
  const { parts } = writeSplit(dir, makeRows(ROWS, 5));
  const config = loadConfig({
    env: {},
    flags: { port: 0, host: '127.0.0.1', dataDir: join(dir, 'node'), logLevel: 'error' },
  });
  const nodeConfig = { ...config, owner: { password: 'bench-owner-pw' }, compute: { ...config.compute, mode: 'node' as const, heartbeatSeconds: 10, projects: [{ name: 'bench', token: TOKEN }] } };
  const node = await startNode(nodeConfig, log);
  const clients: ComputeClientLoop[] = [];
  for (const [i, part] of parts.entries()) {
    const { secret } = await node.core.compute.clients.createInvitation(OWNER, 600);
    const client = new ComputeClientLoop({ url: node.url, dataDir: join(dir, `client${i}`), invitation: secret, name: `c${i}`, datasources: [{ ...part, tokens: [TOKEN] }], heartbeatSeconds: 10, log });
    await client.start();
    clients.push(client);
  }
  const wb = new WorkbenchClient(node.url, TOKEN);

  // Warm-up: every client's worker thread started, DuckDB loaded.
  await wb.wait((await wb.submit({ ...PLAN, rounds: 1 })).job.id, { intervalMs: 5 });
  const federated: number[] = [];
  let commits = 0;
  let changes = 0;
  const offHook = node.core.hook.on((committed) => {
    commits++;
    changes += committed.length;
  });
  const cpu0 = process.cpuUsage();
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    const { job } = await wb.submit(PLAN);
    // Status reads cost the node some time too: every 25 ms (at most ~1 ms of error per round).
    const status = await wb.wait(job.id, { intervalMs: 25 });
    if (status.job.status !== 'done') throw new Error(`job ended ${status.job.status}`);
    federated.push((performance.now() - t0) / (ROUNDS + 1));
  }
  const cpu = process.cpuUsage(cpu0);
  offHook();
  const perRound = (x: number) => x / (REPS * (ROUNDS + 1));

  // The peer: three warm runners side by side, merged in this process.
  const runners = parts.map(() => new TaskRunner());
  const plan = parsePlan(PLAN);
  const runPeer = async (p: typeof plan) => {
    let state = firstRound(p);
    for (;;) {
      const outputs = await Promise.all(parts.map(async (part, i) => ({ clientId: `c${i}`, output: await runners[i]!.run(state.input, part, { timeoutMs: 60_000 }) })));
      const step = mergeRound(state, outputs, { k: 10 });
      if ('result' in step) return step.result;
      state = step.next;
    }
  };
  await runPeer(parsePlan({ ...PLAN, rounds: 1 }));
  const peer: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    await runPeer(plan);
    peer.push((performance.now() - t0) / (ROUNDS + 1));
  }
  const reads = runners.reduce((sum, r) => ({ kept: sum.kept + r.reads.kept, typed: sum.typed + r.reads.typed, sniffed: sum.sniffed + r.reads.sniffed }), { kept: 0, typed: 0, sniffed: 0 });
  await Promise.all(runners.map((r) => r.close()));
  for (const c of clients) await c.stop();
  await node.close();

  const f = median(federated);
  const p = median(peer);
  console.log(`compute-round: node ${process.version}, ${availableParallelism()} cores, load ${loadAverage()}, ${ROWS} rows over 3 clients, FedAvg ${ROUNDS} rounds (+1 evaluation), ${REPS} reps (median)`);
  console.log(`  federated (node + 3 clients over loopback): ${f.toFixed(1)} ms per round`);
  console.log(`  peer (3 warm runners in-process, no node):  ${p.toFixed(1)} ms per round`);
  console.log(`  overhead per round: ${(f - p).toFixed(1)} ms (goal < 50 ms)`);
  console.log(`  federated, per round: ${perRound((cpu.user + cpu.system) / 1000).toFixed(1)} ms of this process's CPU (node + clients; system ${perRound(cpu.system / 1000).toFixed(1)}), ${perRound(commits).toFixed(1)} commits, ${perRound(changes).toFixed(1)} changes (status polls included)`);
  console.log(`  all runs ms per round: federated ${federated.map((x) => x.toFixed(1)).join(' ')}; peer ${peer.map((x) => x.toFixed(1)).join(' ')}; peer reads ${JSON.stringify(reads)}; load after ${loadAverage()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
