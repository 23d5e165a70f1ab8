// What a client asks the node to store, on SQLite and PostgreSQL alike: a non-finite number or
// nesting past the limit in meta, a NUL character or a lone UTF-16 surrogate in any stored text
// is refused with 400 VALIDATION_FAILED over REST and 107 over a realtime publish into a
// persisted namespace (never 500 or 100, which clients retry); what is accepted reads back
// exactly as acknowledged, and the change log still verifies.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { verifyChain } from '../../src/domain/changelog.js';
import { MAX_JSON_DEPTH } from '../../src/lib/json-limits.js';
import type { Channel, Link, Post } from '../../src/model/content.js';
import { ERRORS } from '../../src/realtime/protocol/codes.js';
import { rawExec, storageBackends } from '../helpers/storage.js';
import { assertNoInternals, bearer, startHarness, type Harness } from './http-harness.js';
import { sign, startRealtime, type RealtimeServer } from './realtime-harness.js';
import { startPersisted, type PersistedRealtime } from './realtime-persisted.js';

/** `{"a":{"a":…{}}}` as JSON text, `depth` objects deep (JSON.stringify itself would overflow on deep ones). */
function nestedObjectJson(depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
}

function nestedObject(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

interface ErrorBody {
  error: { code: string; message: string; details?: { field?: string; location?: string } };
}

function assertValidationFailed(res: LightMyRequestResponse, where: string, field?: RegExp): void {
  assert.equal(res.statusCode, 400, `${where}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  assertNoInternals(res.body, where);
  const body = res.json() as ErrorBody;
  assert.equal(body.error.code, 'VALIDATION_FAILED', where);
  assert.equal(typeof body.error.message, 'string');
  if (field) assert.match(String(body.error.details?.field), field, `${where}: details ${JSON.stringify(body.error.details)}`);
}

/** Strings storage cannot keep as they are, each with the field a client may put it in. */
const UNSTORABLE = [
  { name: 'NUL', text: 'a\u0000b' },
  { name: 'lone high surrogate', text: 'x\ud800y' },
  { name: 'lone low surrogate', text: '\udc00' },
  { name: 'reversed surrogate pair', text: '\ude00\ud83d' },
];

/** The oracle: no NUL, no high surrogate without a low one after it, no low one without a high one before it. */
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function storableText(s: string): boolean {
  return !s.includes('\u0000') && !LONE_SURROGATE_RE.test(s);
}

for (const backend of storageBackends) {
  describe(`stored input over REST (${backend.name})`, () => {
    let h: Harness;
    let auth: Record<string, string>;
    let channel: Channel;
    let post: Post;
    let other: Post;
    const json = (extra: Record<string, string> = {}) => ({ ...auth, 'content-type': 'application/json', ...extra });

    before(async () => {
      h = await startHarness(backend);
      auth = bearer(await h.login());
      channel = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'input:store' } })).json() as Channel;
      const write = async (body: string) => (await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: auth, payload: { body } })).json() as Post;
      post = await write('one');
      other = await write('two');
    });
    after(() => h.close());

    test('a number that overflows to Infinity in meta is 400 on POST and PATCH', async () => {
      const raw = '{"body":"x","meta":{"n":1e999}}';
      const created = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: json(), payload: raw });
      assertValidationFailed(created, 'POST', /^meta\.n$/);
      const edited = await h.app.inject({ method: 'PATCH', url: `/api/v1/posts/${post.id}`, headers: json(), payload: '{"meta":{"list":[1,-1e999]}}' });
      assertValidationFailed(edited, 'PATCH', /^meta\.list\[1\]$/);
    });

    test(`meta nested deeper than ${MAX_JSON_DEPTH} levels is 400 (5,000 deep too), ${MAX_JSON_DEPTH} levels are stored`, async () => {
      for (const depth of [MAX_JSON_DEPTH + 1, 5000]) {
        const res = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: json(), payload: `{"body":"x","meta":${nestedObjectJson(depth)}}` });
        assertValidationFailed(res, `depth ${depth}`, /^meta/);
        const patched = await h.app.inject({ method: 'PATCH', url: `/api/v1/posts/${post.id}`, headers: json(), payload: `{"meta":${nestedObjectJson(depth)}}` });
        assertValidationFailed(patched, `PATCH depth ${depth}`, /^meta/);
      }
      const ok = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: auth, payload: { body: 'deep', meta: nestedObject(MAX_JSON_DEPTH) } });
      assert.equal(ok.statusCode, 201, ok.body);
      assert.deepEqual((ok.json() as Post).meta, nestedObject(MAX_JSON_DEPTH));
    });

    for (const bad of UNSTORABLE) {
      test(`${bad.name} is 400 in a post body, meta key and value, channel description and link label`, async () => {
        const cases: Array<{ where: string; method: 'POST' | 'PATCH'; url: string; payload: unknown; field: RegExp }> = [
          { where: 'post body', method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, payload: { body: bad.text }, field: /^body$/ },
          { where: 'edited body', method: 'PATCH', url: `/api/v1/posts/${post.id}`, payload: { body: bad.text }, field: /^body$/ },
          { where: 'meta value', method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, payload: { body: 'x', meta: { k: [bad.text] } }, field: /^meta\.k\[0\]$/ },
          { where: 'meta key', method: 'PATCH', url: `/api/v1/posts/${post.id}`, payload: { meta: { [bad.text]: 1 } }, field: /^meta/ },
          { where: 'new channel description', method: 'POST', url: '/api/v1/channels', payload: { name: 'input:desc', description: bad.text }, field: /^description$/ },
          { where: 'channel description', method: 'PATCH', url: `/api/v1/channels/${channel.id}`, payload: { description: bad.text }, field: /^description$/ },
          { where: 'link label', method: 'POST', url: '/api/v1/links', payload: { fromPostId: post.id, toPostId: other.id, label: bad.text }, field: /^label$/ },
        ];
        for (const c of cases) {
          // JSON.stringify escapes lone surrogates (\ud800), so they reach the server as sent.
          const res = await h.app.inject({ method: c.method, url: c.url, headers: json(), payload: JSON.stringify(c.payload) });
          assertValidationFailed(res, c.where, c.field);
        }
      });
    }

    test('the domain refuses the same values whoever calls it (a user id with NUL as author, meta with Infinity)', async () => {
      const operator = h.core.operator;
      await assert.rejects(operator.createPost({ kind: 'user', userId: 'a\u0000b' }, { channelId: channel.id, body: 'x' }), { code: 'VALIDATION_FAILED' });
      await assert.rejects(operator.createPost({ kind: 'owner' }, { channelId: channel.id, body: 'x', meta: { n: Number.POSITIVE_INFINITY } }), { code: 'VALIDATION_FAILED' });
      await assert.rejects(operator.createPost({ kind: 'owner' }, { channelId: channel.id, body: 'x\ud800' }), { code: 'VALIDATION_FAILED' });
      await assert.rejects(operator.createLink({ kind: 'owner' }, { fromPostId: post.id, toPostId: other.id, label: '\u0000' }), { code: 'VALIDATION_FAILED' });
      await assert.rejects(operator.updateChannel({ kind: 'owner' }, channel.id, { description: '\udfff' }), { code: 'VALIDATION_FAILED' });
    });

    test('property: any post body and meta is 201 or 400; what is accepted reads back identical (API and row) and the chain verifies', async () => {
      // Code units, so NUL and lone surrogates come up often, mixed with ordinary text.
      const anyText = fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units)),
      );
      const meta = fc.dictionary(anyText, fc.jsonValue({ maxDepth: 4 }).map((v) => v), { maxKeys: 4 });
      const storableJson = (v: unknown): boolean => {
        if (typeof v === 'string') return storableText(v);
        if (Array.isArray(v)) return v.every(storableJson);
        if (typeof v === 'object' && v !== null) return Object.entries(v).every(([k, x]) => storableText(k) && storableJson(x));
        return true;
      };
      await fc.assert(
        fc.asyncProperty(anyText, fc.option(meta, { nil: undefined }), async (body, m) => {
          const payload = JSON.stringify(m === undefined ? { body } : { body, meta: m });
          const res = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: json(), payload });
          // The body parser refuses prototype keys outright (400 BAD_JSON, see http-bad-input), before any field check.
          if (res.statusCode === 400 && (res.json() as ErrorBody).error.code === 'BAD_JSON') {
            assert.match(payload, /"(__proto__|constructor)"/);
            return;
          }
          const accepted = storableText(body) && (m === undefined || storableJson(m));
          if (!accepted) {
            assertValidationFailed(res, 'fuzzed post');
            return;
          }
          assert.equal(res.statusCode, 201, res.body);
          const created = res.json() as Post;
          // JSON.parse turns -0 into 0 in transit; compare with what the server received.
          const sent = JSON.parse(payload) as { body: string; meta?: Record<string, unknown> };
          assert.equal(created.body, sent.body);
          assert.deepEqual(created.meta, sent.meta ?? {});
          const read = (await h.app.inject({ method: 'GET', url: `/api/v1/posts/${created.id}`, headers: auth })).json() as Post;
          assert.equal(read.body, sent.body);
          assert.deepEqual(read.meta, sent.meta ?? {});
          const row = (await rawExec(h.handle, 'SELECT body FROM posts WHERE id = $1', [created.id])).rows[0];
          assert.equal(row?.body, sent.body);
        }),
        { numRuns: 60 },
      );
      const verdict = await verifyChain(h.core.storage);
      assert.equal(verdict.ok, true, JSON.stringify(verdict));
    });

    test('property: any channel name and description is 201, 400 or 409 (taken), never 500; a created channel reads back identical', async () => {
      const anyText = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units));
      const name = fc.oneof(anyText, fc.stringMatching(/^[a-z]{1,6}(:[a-z0-9_.$~-]{1,8})?$/));
      await fc.assert(
        fc.asyncProperty(name, fc.option(anyText, { nil: undefined }), async (n, description) => {
          const res = await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: json(), payload: JSON.stringify({ name: n, description }) });
          assertNoInternals(res.body, 'channel');
          assert.ok([201, 400, 409].includes(res.statusCode), `${res.statusCode} ${res.body.slice(0, 200)}`);
          if (res.statusCode === 400) assertValidationFailed(res, 'channel');
          if (res.statusCode !== 201) return;
          const created = res.json() as Channel;
          assert.equal(created.name, n);
          assert.equal(created.description, description ?? '');
          const read = (await h.app.inject({ method: 'GET', url: `/api/v1/channels/${created.id}`, headers: auth })).json() as Channel;
          assert.deepEqual(read, created);
        }),
        { numRuns: 60 },
      );
      assert.equal((await verifyChain(h.core.storage)).ok, true);
    });

    test('property: link labels and channel descriptions are 2xx or 400, never 500, and read back identical', async () => {
      const anyText = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }).map((units) => String.fromCharCode(...units));
      let n = 0;
      await fc.assert(
        fc.asyncProperty(anyText, async (text) => {
          const ok = storableText(text);
          const ch = await h.app.inject({ method: 'PATCH', url: `/api/v1/channels/${channel.id}`, headers: json(), payload: JSON.stringify({ description: text }) });
          const link = await h.app.inject({ method: 'POST', url: '/api/v1/links', headers: json(), payload: JSON.stringify({ fromPostId: post.id, toPostId: other.id, label: `${n++}:${text}` }) });
          if (!ok) {
            assertValidationFailed(ch, 'description');
            assertValidationFailed(link, 'label');
            return;
          }
          assert.equal(ch.statusCode, 200, ch.body);
          assert.equal((ch.json() as Channel).description, text);
          assert.equal(link.statusCode, 201, link.body);
          const stored = (await h.app.inject({ method: 'GET', url: `/api/v1/links/${(link.json() as Link).id}`, headers: auth })).json() as Link;
          assert.equal(stored.label, `${n - 1}:${text}`);
        }),
        { numRuns: 40 },
      );
      assert.equal((await verifyChain(h.core.storage)).ok, true);
    });
  });

  describe(`stored input over a realtime publish into a persisted namespace (${backend.name})`, () => {
    const REALTIME = { namespaces: { posts: { persist: true, historySize: 100 } } };
    let persisted: PersistedRealtime<RealtimeServer>;

    beforeEach(async () => {
      persisted = await startPersisted(backend, REALTIME, (b, persist) => startRealtime({ backend: b, realtime: REALTIME, persist }));
    });
    afterEach(() => persisted.close());

    test('Infinity, deep meta, NUL and lone surrogates are answered 107 (not 100); the publisher and a subscriber keep working', async () => {
      const server = persisted.server;
      const subscriber = await server.raw();
      subscriber.send({ id: 1, connect: { token: await sign({ sub: 'reader' }) } });
      await subscriber.reply(1);
      subscriber.send({ id: 2, subscribe: { channel: 'posts:input' } });
      assert.ok((await subscriber.reply(2)).subscribe);
      const raw = await server.raw();
      raw.send({ id: 1, connect: { token: await sign({ sub: 'alice' }) } });
      await raw.reply(1);
      const frames = [
        '{"body":"x","meta":{"n":1e999}}',
        `{"body":"x","meta":${nestedObjectJson(5000)}}`,
        ...UNSTORABLE.map((u) => JSON.stringify(u.text)),
        ...UNSTORABLE.map((u) => JSON.stringify({ body: u.text })),
        ...UNSTORABLE.map((u) => JSON.stringify({ body: 'x', meta: { [u.text]: u.text } })),
      ];
      let id = 10;
      for (const data of frames) {
        raw.send(`{"id":${id},"publish":{"channel":"posts:input","data":${data}}}`);
        const reply = await raw.reply(id);
        assert.equal((reply.error as { code?: number } | undefined)?.code, ERRORS.badRequest.code, `${data.slice(0, 60)}: ${JSON.stringify(reply).slice(0, 300)}`);
        id++;
      }
      raw.send({ id: 99, publish: { channel: 'posts:input', data: { body: 'fine 😀', meta: { k: 'v' } } } });
      assert.deepEqual(await raw.reply(99), { id: 99, publish: {} });
      const pub = await subscriber.waitFor((m) => (m.push as { pub?: unknown } | undefined)?.pub !== undefined);
      assert.equal(((pub.push as { pub: { data: Post } }).pub.data).body, 'fine 😀');
      const row = await persisted.core.storage.getChannelByName('posts:input');
      assert.equal(row?.lastSeq, 1);
      assert.equal((await verifyChain(persisted.core.storage)).ok, true);
    });
  });
}
