import { MycelError } from '../errors.js';
import { authorOf, hasOwnerRights, type Actor } from './actor.js';
import type { Post } from '../model/content.js';

/**
 * Who may do what on a node's content. Owner-equivalent actors (owner, system, owner nodes)
 * may do anything. Users (JWT) read, write posts, edit and delete their own posts, and link
 * from their own posts to posts they may read. Channel management is the owner's; the change log
 * is the owner's, and a user's for the channels it may read (Operator.getChanges).
 * Other nodes read; a node's forwarded write (`writes`) has a user's rights on posts.
 */
export type Action =
  | 'channel.manage'
  | 'content.read'
  | 'post.create'
  | 'post.modify'
  | 'link.create'
  | 'link.delete'
  | 'changes.read';

export function can(actor: Actor, action: Action, target?: { post?: Post }): boolean {
  if (hasOwnerRights(actor)) return true;
  const writer = actor.kind === 'user' || (actor.kind === 'node' && actor.writes === true);
  if (!writer) return action === 'content.read';
  switch (action) {
    case 'content.read':
    case 'post.create':
      return true;
    case 'post.modify':
    case 'link.create':
    case 'link.delete':
      return target?.post !== undefined && target.post.author === authorOf(actor);
    default:
      return false;
  }
}

export function authorize(actor: Actor, action: Action, target?: { post?: Post }): void {
  if (!can(actor, action, target)) throw new MycelError('FORBIDDEN', { action });
}

/**
 * Which channels an application user (an actor of kind `user`) may read or write. Owner-equivalent
 * actors are never asked. The realtime layer supplies one built from its namespace settings, so
 * REST and WebSocket give a user the same rights; without one, users may use every channel.
 */
export interface ChannelPolicy {
  allows(userId: string, action: 'read' | 'write', channelName: string): boolean;
}

export const OPEN_CHANNEL_POLICY: ChannelPolicy = Object.freeze({ allows: () => true });

/** Whether `actor` may `action` the channel under `policy`; only users are limited by it. */
export function canUseChannel(policy: ChannelPolicy, actor: Actor, action: 'read' | 'write', channelName: string): boolean {
  return actor.kind !== 'user' || policy.allows(actor.userId, action, channelName);
}

/** Throws FORBIDDEN when a user may not `action` the channel under `policy`. */
export function authorizeChannel(policy: ChannelPolicy, actor: Actor, action: 'read' | 'write', channelName: string): void {
  if (!canUseChannel(policy, actor, action, channelName)) {
    throw new MycelError('FORBIDDEN', { action: `channel.${action}`, channel: channelName });
  }
}
