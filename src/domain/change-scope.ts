import type { Change } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';

/*
 * Which channels a change of this node's log touches, by their names on this node: what a
 * link's channel permissions (network) and a user's read rights (the app change feed) are
 * checked against, like every other channel rule of this node (permissions.ts).
 */

export type ChangeScopeReader = Pick<StorageReader, 'getChannel' | 'getPost'>;

/** Channel id → local name (null: no such channel any more). Share one across a page of changes. */
export type ChannelNameCache = Map<string, string | null>;

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

async function nameOfChannel(reader: ChangeScopeReader, id: string, cache: ChannelNameCache): Promise<string | null> {
  let name = cache.get(id);
  if (name === undefined) {
    name = (await reader.getChannel(id))?.name ?? null;
    cache.set(id, name);
  }
  return name;
}

async function nameOfPostChannel(reader: ChangeScopeReader, postId: string | undefined, cache: ChannelNameCache): Promise<string | null> {
  if (postId === undefined) return null;
  const post = await reader.getPost(postId);
  return post ? nameOfChannel(reader, post.channelId, cache) : null;
}

/**
 * The local name(s) of the channel(s) `change` touches: channel.* its channel; post.created
 * the post's channel; post.edited/deleted the post's channel; link.* the channels of both
 * posts (one name when they share it). A channel that no longer exists is named by the
 * payload when it carries a name (channel.*, post.created: the replicated name), else left
 * out, so the result may be empty for a change whose channel has since been deleted.
 * A filter should pass a change only when it names channels and all of them are permitted:
 * a link between a permitted and another channel cannot be applied where the other post is
 * missing.
 */
export async function changeChannelNames(reader: ChangeScopeReader, change: Change, cache: ChannelNameCache = new Map()): Promise<string[]> {
  const payload = record(change.payload) ?? {};
  const names: Array<string | null | undefined> = [];
  switch (change.type) {
    case 'channel.created':
    case 'channel.updated': {
      const channel = record(payload.channel);
      const id = text(channel?.id);
      names.push((id === undefined ? null : await nameOfChannel(reader, id, cache)) ?? text(channel?.name));
      break;
    }
    case 'channel.deleted': {
      const id = text(payload.id);
      names.push((id === undefined ? null : await nameOfChannel(reader, id, cache)) ?? text(payload.name));
      break;
    }
    case 'post.created': {
      const channelId = text(record(payload.post)?.channelId);
      names.push((channelId === undefined ? null : await nameOfChannel(reader, channelId, cache)) ?? text(payload.channelName));
      break;
    }
    case 'post.edited':
    case 'post.deleted': {
      const post = record(payload.post);
      const channelId = text(post?.channelId);
      names.push(channelId === undefined ? null : await nameOfChannel(reader, channelId, cache));
      break;
    }
    case 'link.created': {
      const link = record(payload.link);
      names.push(await nameOfPostChannel(reader, text(link?.fromPostId), cache), await nameOfPostChannel(reader, text(link?.toPostId), cache));
      break;
    }
    case 'link.deleted':
      names.push(await nameOfPostChannel(reader, text(payload.fromPostId), cache), await nameOfPostChannel(reader, text(payload.toPostId), cache));
      break;
  }
  return [...new Set(names.filter((n): n is string => typeof n === 'string'))];
}
