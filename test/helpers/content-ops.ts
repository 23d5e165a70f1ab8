/**
 * Random sequences of Operator operations for property tests (apply, replication): each
 * operation picks its targets by index among what exists, and refusals are fine.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError } from '../../src/errors.js';

const alice: Actor = { kind: 'user', userId: 'alice' };

/** One operation of the Operator, with its targets picked by index among what exists. */
export type Op =
  | { op: 'createChannel'; name: number; description: string }
  | { op: 'updateChannel'; pick: number; description: string }
  | { op: 'deleteChannel'; pick: number }
  | { op: 'createPost'; pick: number; body: string; meta: Record<string, unknown> | undefined; key: string | undefined; byName: boolean; actor: 'owner' | 'alice' }
  | { op: 'editPost'; pick: number; body: string | undefined; meta: Record<string, unknown> | undefined }
  | { op: 'deletePost'; pick: number }
  | { op: 'createLink'; from: number; to: number; label: string }
  | { op: 'deleteLink'; pick: number };

const text = fc.string({ maxLength: 12 });
const meta = fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.boolean()), { maxKeys: 3 }), { nil: undefined });
const pick = fc.nat(50);
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('createChannel' as const), name: fc.nat(5), description: text }),
  fc.record({ op: fc.constant('updateChannel' as const), pick, description: text }),
  fc.record({ op: fc.constant('deleteChannel' as const), pick }),
  fc.record({
    op: fc.constant('createPost' as const),
    pick,
    body: text,
    meta,
    key: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
    byName: fc.boolean(),
    actor: fc.constantFrom('owner' as const, 'alice' as const),
  }),
  fc.record({ op: fc.constant('createPost' as const), pick, body: text, meta, key: fc.constant(undefined), byName: fc.constant(false), actor: fc.constant('owner' as const) }),
  fc.record({ op: fc.constant('editPost' as const), pick, body: fc.option(text, { nil: undefined }), meta }),
  fc.record({ op: fc.constant('deletePost' as const), pick }),
  fc.record({ op: fc.constant('createLink' as const), from: pick, to: pick, label: fc.constantFrom('', 'cites', 'replies-to') }),
  fc.record({ op: fc.constant('deleteLink' as const), pick }),
);

/** Runs the operations on `core`; refusals (a taken name, a deleted post…) write nothing and are fine. */
export async function runOps(core: NodeCore, ops: readonly Op[]): Promise<void> {
  const channels: { id: string; name: string }[] = [];
  const posts: string[] = [];
  const links: string[] = [];
  const at = <T>(xs: readonly T[], i: number): T | undefined => (xs.length === 0 ? undefined : xs[i % xs.length]);
  for (const o of ops) {
    try {
      switch (o.op) {
        case 'createChannel': {
          const c = await core.operator.createChannel(OWNER, { name: `ns:c${o.name}`, description: o.description });
          channels.push(c);
          break;
        }
        case 'updateChannel': {
          const c = at(channels, o.pick);
          if (c) await core.operator.updateChannel(OWNER, c.id, { description: o.description });
          break;
        }
        case 'deleteChannel': {
          const c = at(channels, o.pick);
          if (c) await core.operator.deleteChannel(OWNER, c.id);
          break;
        }
        case 'createPost': {
          const c = at(channels, o.pick);
          const actor = o.actor === 'owner' ? OWNER : alice;
          const common = { body: o.body, ...(o.meta ? { meta: o.meta } : {}), ...(o.key ? { idempotencyKey: o.key } : {}) };
          // By name with createChannel: the realtime path, which creates the channel with the post.
          const p = o.byName
            ? await core.operator.createPost(actor, { ...common, channel: c?.name ?? `ns:auto${o.pick % 3}`, createChannel: true })
            : c
              ? await core.operator.createPost(actor, { ...common, channelId: c.id })
              : undefined;
          if (p) {
            posts.push(p.id);
            if (!channels.some((x) => x.id === p.channelId)) channels.push((await core.operator.getChannel(OWNER, p.channelId)));
          }
          break;
        }
        case 'editPost': {
          const p = at(posts, o.pick);
          if (p && (o.body !== undefined || o.meta !== undefined)) {
            await core.operator.editPost(OWNER, p, { ...(o.body === undefined ? {} : { body: o.body }), ...(o.meta ? { meta: o.meta } : {}) });
          }
          break;
        }
        case 'deletePost': {
          const p = at(posts, o.pick);
          if (p) await core.operator.deletePost(OWNER, p);
          break;
        }
        case 'createLink': {
          const from = at(posts, o.from);
          const to = at(posts, o.to);
          if (from && to) links.push((await core.operator.createLink(OWNER, { fromPostId: from, toPostId: to, label: o.label })).id);
          break;
        }
        case 'deleteLink': {
          const l = at(links, o.pick);
          if (l) await core.operator.deleteLink(OWNER, l);
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof MycelError)) throw err;
      const expected = ['CHANNEL_EXISTS', 'CHANNEL_NOT_FOUND', 'POST_NOT_FOUND', 'POST_DELETED', 'LINK_EXISTS', 'LINK_NOT_FOUND'];
      assert.ok(expected.includes(err.code), `${o.op}: ${err.code} ${err.message}`);
    }
  }
}

