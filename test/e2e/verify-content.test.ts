// `mycel verify` checks that the tables are what the log says, and `mycel digest` prints the
// content digest: real `mycel` processes on SQLite and PostgreSQL, with rows edited behind
// the node's back (a post's body, a deleted link).
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { contentDigest, formatDigest } from '../../src/domain/digest.js';
import { runMycel } from '../helpers/process.js';
import { openTestCore } from '../helpers/core.js';
import { rawExec, storageBackends, type StorageHandle } from '../helpers/storage.js';

interface VerifyJson {
  ok: boolean;
  chainOk: boolean;
  count: number;
  content: { ok: boolean; reason: string; difference?: { kind: string; id: string; problem: string; fields: string[]; tables: Record<string, unknown> | null; log: Record<string, unknown> | null } };
}

for (const backend of storageBackends) {
  describe(`mycel verify and mycel digest on ${backend.name}`, () => {
    let h: StorageHandle;
    let env: Record<string, string>;
    let ids: { postId: string; linkId: string };

    beforeEach(async () => {
      h = await backend.create();
      const core = await openTestCore(h.open(), { name: 'verify-content' });
      const a = await core.operator.createChannel(OWNER, { name: 'vc:a', description: 'a' });
      const b = await core.operator.createChannel(OWNER, { name: 'vc:b' });
      await core.operator.updateChannel(OWNER, a.id, { description: 'a, updated' });
      const p1 = await core.operator.createPost(OWNER, { channelId: a.id, body: 'first', meta: { tags: ['x'] } });
      const p2 = await core.operator.createPost(OWNER, { channelId: a.id, body: 'second', idempotencyKey: 'vc-2' });
      const p3 = await core.operator.createPost(OWNER, { channelId: b.id, body: 'third' });
      await core.operator.editPost(OWNER, p2.id, { body: 'second, edited' });
      await core.operator.deletePost(OWNER, p3.id);
      const l1 = await core.operator.createLink(OWNER, { fromPostId: p1.id, toPostId: p2.id, label: 'cites' });
      const l2 = await core.operator.createLink(OWNER, { fromPostId: p2.id, toPostId: p1.id });
      await core.operator.deleteLink(OWNER, l2.id);
      await core.close();
      ids = { postId: p2.id, linkId: l1.id };
      // SQLite: the node's data directory holds mycel.db; PostgreSQL: the URL names the test's schema.
      env = h.name === 'sqlite' ? { MYCEL_DATA_DIR: h.dataDir } : { MYCEL_DATA_DIR: h.dataDir, MYCEL_DATABASE_URL: h.url };
    });
    afterEach(() => h.cleanup());

    // Few processes, run side by side: each `mycel` start costs seconds on a loaded machine.
    test('an honest node verifies and digests; the same line as the digest computed in-process', { timeout: 120_000 }, async () => {
      const [ok, digest, json] = await Promise.all([runMycel(['verify'], env), runMycel(['digest'], env), runMycel(['digest', '--json'], env)]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^ok: 11 changes verify \(head [0-9a-f]{64}\)\nok: the tables match the log \(sha256:[0-9a-f]{64} channels=2 posts=3 links=1\)\n$/);
      const expected = await contentDigest(h.open());
      assert.equal(digest.code, 0, digest.stderr);
      assert.equal(digest.stdout, `${formatDigest(expected)}\n`);
      assert.ok(ok.stdout.includes(formatDigest(expected)));
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), expected);
    });

    test('a post body edited in the database fails verify, naming the post and the field', { timeout: 120_000 }, async () => {
      const before = await contentDigest(h.open());
      const edited = await rawExec(h, 'UPDATE posts SET body = $1 WHERE id = $2', ['edited by hand', ids.postId]);
      assert.equal(edited.rowCount, 1);
      const after = await contentDigest(h.open());
      assert.notEqual(after.digest, before.digest, 'the digest moves with the row');
      assert.notEqual(after.posts.digest, before.posts.digest);

      const [text, json] = await Promise.all([runMycel(['verify'], env), runMycel(['verify', '--json'], env)]);
      assert.equal(text.code, 1, text.stdout + text.stderr);
      assert.match(text.stdout, /^ok: 11 changes verify/, 'the hash chain itself is intact');
      assert.ok(text.stdout.includes(`mismatch: the tables differ from the log: post ${ids.postId}: body differs`), text.stdout);
      assert.ok(text.stdout.includes('body: tables "edited by hand", log "second, edited"'), text.stdout);
      assert.ok(text.stdout.includes(`tables ${formatDigest(after)}`), text.stdout);
      assert.ok(text.stdout.includes(`log    ${formatDigest(before)}`), text.stdout);

      assert.equal(json.code, 1);
      const verdict = JSON.parse(json.stdout) as VerifyJson;
      assert.equal(verdict.ok, false);
      assert.equal(verdict.chainOk, true);
      const d = verdict.content.difference!;
      assert.deepEqual([d.kind, d.id, d.problem, d.fields], ['posts', ids.postId, 'differs', ['body']]);
      assert.equal(d.tables?.body, 'edited by hand');
      assert.equal(d.log?.body, 'second, edited');
    });

    test('a link row deleted in the database fails verify, naming the link', { timeout: 120_000 }, async () => {
      assert.equal((await rawExec(h, 'DELETE FROM links WHERE id = $1', [ids.linkId])).rowCount, 1);
      const json = await runMycel(['verify', '--json'], env);
      assert.equal(json.code, 1, json.stdout + json.stderr);
      const verdict = JSON.parse(json.stdout) as VerifyJson;
      assert.equal(verdict.ok, false);
      assert.ok(verdict.content.reason.includes(`link ${ids.linkId}: missing from the tables (the log has it)`), verdict.content.reason);
      assert.deepEqual([verdict.content.difference?.kind, verdict.content.difference?.id, verdict.content.difference?.problem], ['links', ids.linkId, 'missing']);
      assert.equal(verdict.content.difference?.tables, null);
      assert.equal((await contentDigest(h.open())).links.count, 0);
    });
  });
}
