// Everything acknowledged is durable: a node taking writes over HTTP is SIGKILLed mid-load;
// after a restart every post that got a 2xx is there and the change log still verifies.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Pool } from 'undici';
import { runMycel, startMycel } from '../helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-durable-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'durable-pw' };

test('every write acknowledged before SIGKILL survives the restart', { timeout: 120_000 }, async () => {
  const node = await startMycel(env);
  const pool = new Pool(node.url, { connections: 16 });
  const acked = new Set<string>();
  let failedAfterKill = 0;
  try {
    const json = { 'content-type': 'application/json' };
    const login = await pool.request({ method: 'POST', path: '/api/v1/session', headers: json, body: JSON.stringify({ password: 'durable-pw' }) });
    assert.equal(login.statusCode, 201);
    const { token } = (await login.body.json()) as { token: string };
    const auth = { ...json, authorization: `Bearer ${token}` };
    const chRes = await pool.request({ method: 'POST', path: '/api/v1/channels', headers: auth, body: JSON.stringify({ name: 'durable' }) });
    assert.equal(chRes.statusCode, 201);
    const channel = (await chRes.body.json()) as { id: string };

    let killed = false;
    let sent = 0;
    const deadline = Date.now() + 60_000;
    const workers = Array.from({ length: 32 }, async () => {
      while (!killed && Date.now() < deadline && sent < 200_000) {
        const n = sent++;
        try {
          const res = await pool.request({ method: 'POST', path: `/api/v1/channels/${channel.id}/posts`, headers: auth, body: JSON.stringify({ body: `p${n}` }) });
          if (res.statusCode === 201) acked.add(((await res.body.json()) as { id: string }).id);
          else await res.body.dump();
        } catch {
          if (!killed) throw new Error('request failed before the kill');
          failedAfterKill++;
        }
        // Kill mid-load, once a good number of writes were acknowledged.
        if (!killed && acked.size >= 1500) {
          killed = true;
          node.child.kill('SIGKILL');
        }
      }
    });
    await Promise.all(workers);
    assert.equal(killed, true, `load ended before the kill (acked ${acked.size})`);
    const exit = await node.stop();
    assert.equal(exit.signal, 'SIGKILL');
  } finally {
    await pool.close().catch(() => undefined);
    await node.stop('SIGKILL');
  }

  const restarted = await startMycel(env);
  try {
    const pool2 = new Pool(restarted.url, { connections: 4 });
    const login = await pool2.request({ method: 'POST', path: '/api/v1/session', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'durable-pw' }) });
    const { token } = (await login.body.json()) as { token: string };
    const chList = await pool2.request({ method: 'GET', path: '/api/v1/channels', headers: { authorization: `Bearer ${token}` } });
    const channelId = ((await chList.body.json()) as { items: Array<{ id: string }> }).items[0]!.id;
    const stored = new Set<string>();
    let cursor: string | null = null;
    for (let pages = 0; pages < 1000; pages++) {
      const path: string = `/api/v1/channels/${channelId}/posts?limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await pool2.request({ method: 'GET', path, headers: { authorization: `Bearer ${token}` } });
      const page = (await res.body.json()) as { items: Array<{ id: string }>; nextCursor: string | null };
      page.items.forEach((p) => stored.add(p.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    await pool2.close();
    const missing = [...acked].filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.size} acknowledged posts are missing`);
    assert.ok(stored.size >= acked.size);
  } finally {
    await restarted.stop();
  }
  const verify = await runMycel(['verify', '--json'], env);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true);
});
