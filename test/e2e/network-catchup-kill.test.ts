/**
 * Crash during catch-up: a parent `mycel serve` holds 50,000 changes (seeded in process through
 * the domain before it starts); its child is killed with SIGKILL while it imports them, then
 * started again: it resumes from its stored cursor and converges with no duplicate and no gap
 * (equal digests; its log holds each of the parent's changes exactly once, in order).
 * About 80 s on an idle 2-core machine (seeding is half of it); the bound leaves room for a
 * machine shared with other test runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import type { ServingNode } from '../helpers/process.js';
import { converged, metric, nodeIdOf, registerClient, serveNode, until, withCore, type NodeDb } from '../helpers/network-process.js';

const POSTS = 50_000;

describe('SIGKILL of a child during catch-up (mycel serve, SQLite)', { timeout: 170_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-catchup-'));
  const procs: ServingNode[] = [];
  after(async () => {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the restarted child resumes from its cursor and converges: no duplicate, no gap', async () => {
    const parentDb: NodeDb = { dataDir: join(dir, 'parent') };
    const childDb: NodeDb = { dataDir: join(dir, 'child') };
    const childId = await nodeIdOf(childDb, 'child');
    const parentId = await withCore(parentDb, 'parent', async (core) => {
      await core.clientNodes.register(OWNER, { nodeId: childId, password: 'network-node-pw', role: 'child' });
      const channel = await core.operator.createChannel(OWNER, { name: 'notes:bulk' });
      // Many writes in flight at once: the Writer commits them in large groups.
      for (let i = 0; i < POSTS; i += 5000) {
        await Promise.all(Array.from({ length: 5000 }, (_, j) => core.operator.createPost(OWNER, { channelId: channel.id, body: `bulk ${i + j}` })));
      }
      return core.node.id;
    });
    const parent = await serveNode(dir, parentDb, 'parent');
    procs.push(parent);
    const server = [{ url: parent.url }];
    const child = await serveNode(dir, childDb, 'child', server);
    procs.push(child);
    const imported = () => metric(child.url, 'mycel_replication_imported_changes_total', `peer="${parentId}"`);
    const atKill = await until('the child to be part-way', async () => {
      const n = await imported();
      return n >= 2000 ? n : undefined;
    }, 60_000, 10);
    await child.stop('SIGKILL');
    assert.ok(atKill < POSTS + 1, `the child had imported everything (${atKill}) before it was killed`);

    const again = await serveNode(dir, childDb, 'child', server);
    procs.push(again);
    // Cheap to poll: the lag gauge reaches 0 once the cursor is at the parent's head.
    await until('the restarted child to catch up', async () => {
      const lag = await metric(again.url, 'mycel_replication_lag_changes', `peer="${parentId}"`);
      const n = await metric(again.url, 'mycel_replication_imported_changes_total', `peer="${parentId}"`);
      return n > 0 && lag === 0 ? true : undefined;
    }, 110_000, 200);
    // Generous: this checks content, not speed (digests of 50,000 posts on a loaded machine take seconds).
    const digest = await converged([parent.url, again.url], POSTS, 60_000);
    assert.equal(digest.posts.count, POSTS);
    // The restart imported the rest, not everything again.
    const second = await metric(again.url, 'mycel_replication_imported_changes_total', `peer="${parentId}"`);
    assert.ok(second <= POSTS + 1 - atKill, `imported ${second} after the restart, ${atKill} before`);
    await again.stop();
    await parent.stop();

    await withCore(childDb, 'child', async (core) => {
      assert.equal(await core.storage.countChanges(), POSTS + 1);
      let expected = 1;
      for (let from = 1; ; ) {
        const page = await core.storage.getChanges(from, 5000);
        if (page.length === 0) break;
        for (const change of page) {
          assert.equal(change.originNodeId, parentId);
          assert.equal(change.originSerial, expected++);
        }
        from = page[page.length - 1]!.serial + 1;
      }
      assert.equal(expected, POSTS + 2);
    });
  });
});
