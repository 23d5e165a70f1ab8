import type { ChannelPolicy } from '../domain/permissions.js';
import { levelAllows, type Namespaces } from './namespaces.js';

/**
 * The domain's channel policy from the realtime namespace settings, so one JWT gives a user the
 * same rights over REST as over a realtime connection: reading posts is reading the channel's
 * history (`history` level), writing a post is publishing (`publish` level). Private channels
 * (`$name`) need a subscription token, which REST has no place for, and unknown namespaces are
 * closed: users get neither.
 */
export function namespaceChannelPolicy(namespaces: Namespaces): ChannelPolicy {
  return {
    allows(userId, action, channelName) {
      const resolved = namespaces.tryResolve(channelName);
      if (typeof resolved === 'string' || resolved.private) return false;
      return levelAllows(resolved.options[action === 'read' ? 'history' : 'publish'], { user: userId, owner: false });
    },
  };
}
