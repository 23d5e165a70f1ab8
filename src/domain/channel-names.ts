import type { Channel } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';
import { LIMITS } from './validation.js';

/*
 * Channel names are unique on a node. A channel keeps the name it was created with everywhere
 * it replicates (its *replicated* name: in change payloads, the digest, apply's checks), but
 * when an imported channel's name is already taken here by another channel, this node knows it
 * under a local name: `<name>@<last 8 hex of its origin node id>`, or `<name>@<origin node id>`
 * when that is taken too. REST and realtime address a channel by its local `name`; the channel
 * carries `originName` (its replicated name) only when the two differ. docs/network.md,
 * "Channel names".
 */

/** The name a channel replicates under. */
export function replicatedName(channel: Channel): string {
  return channel.originName ?? channel.name;
}

/** The channel as it replicates: its replicated name, no local name. For change payloads and the digest. */
export function replicatedChannel(channel: Channel): Channel {
  if (channel.originName === undefined) return channel;
  const { originName, ...rest } = channel;
  return { ...rest, name: originName };
}

/**
 * The local names an imported channel named `name` from node `originNodeId` may take when
 * `name` is taken here, in order of preference. The short suffix is the id's last 8 hex
 * digits: node ids are UUIDv7, whose first digits are a timestamp that nodes created in the
 * same weeks share, while the last ones are random.
 */
export function fallbackNames(name: string, originNodeId: string): string[] {
  const compact = originNodeId.replaceAll('-', '');
  return [`${name}@${compact.slice(-8)}`, `${name}@${originNodeId}`];
}

/**
 * The local name for an imported channel: its replicated name when free, else the first free
 * valid fallback; null when every candidate is taken (or too long to be a channel name).
 */
export async function localNameFor(reader: Pick<StorageReader, 'getChannelByName'>, name: string, originNodeId: string): Promise<string | null> {
  if (!(await reader.getChannelByName(name))) return name;
  for (const candidate of fallbackNames(name, originNodeId)) {
    // The suffix uses only characters names allow; only the length can make it invalid.
    if (candidate.length > LIMITS.channelNameChars) continue;
    if (!(await reader.getChannelByName(candidate))) return candidate;
  }
  return null;
}
