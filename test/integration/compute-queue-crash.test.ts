// A node process killed (SIGKILL) while it submits jobs and leases tasks, on SQLite and
// PostgreSQL: after a restart every acknowledged lease is still held (its holder completes the
// task), every committed job has its task (nothing half-done), and verify replays the log to
// the same tables.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyContent } from '../../src/domain/verify-content.js';
import { createStorage } from '../../src/storage/index.js';
import { openComputeCore } from '../helpers/compute-queue.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const HELPERS = fileURLToPath(new URL('../helpers/compute-queue.ts', import.meta.url));
const STORAGE = fileURLToPath(new URL('../../src/storage/index.ts', import.meta.url));

for (const backend of storageBackends) {
  describe(`compute queue after a crash: ${backend.name}`, () => {
    let h: StorageHandle;
    beforeEach(async () => {
      h = await backend.create();
    });
    afterEach(() => h.cleanup());

    test('leases acknowledged before SIGKILL hold after the restart; no job is half-written', async () => {
      const code = `
        import { createStorage } from ${JSON.stringify(STORAGE)};
        import { joinClient, openComputeCore, PROJECTS } from ${JSON.stringify(HELPERS)};
        const core = await openComputeCore(createStorage({ url: ${JSON.stringify(h.url)}, dataDir: ${JSON.stringify(h.dataDir)} }));
        const { client } = await joinClient(core, 'a');
        for (let i = 0; ; i++) {
          await core.compute.queue.submitJob(PROJECTS[0].token, { plan: { i }, datasource: 'cohort', firstRoundInput: i, leaseSeconds: 3600 });
          const t = await core.compute.queue.leaseNextTask(client.id);
          process.stdout.write(JSON.stringify({ clientId: client.id, taskId: t.task.id, leaseId: t.leaseId }) + '\\n');
        }
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the child leased nothing in time: ${stderr}`)), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.split('\n').filter(Boolean).length >= 5) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`the child exited early: ${stderr}`)));
      });
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      // Only whole lines were acknowledged.
      const acknowledged = stdout.split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as { clientId: string; taskId: string; leaseId: string });

      const core = await openComputeCore(createStorage({ url: h.url, dataDir: h.dataDir }));
      try {
        for (const lease of acknowledged) {
          const outcome = await core.compute.queue.completeTask(lease.clientId, lease.taskId, lease.leaseId, { ok: true });
          assert.equal(outcome.task.status, 'done');
        }
        const jobs = await core.storage.listComputeJobs(null, { limit: 10_000 });
        assert.ok(jobs.length >= acknowledged.length);
        for (const job of jobs) assert.equal((await core.storage.listComputeTasks(job.id)).length, 1, `job ${job.id} has its task`);
        const scratch = createStorage({ url: ':memory:', dataDir: '' });
        await scratch.migrate();
        const verdict = await verifyContent(core.storage, scratch);
        await scratch.close();
        assert.ok(verdict.ok, JSON.stringify(verdict));
      } finally {
        await core.close();
      }
    });
  });
}
