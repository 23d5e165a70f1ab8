/**
 * Channel names → namespace options, and the per-namespace access rules.
 *
 * `ns:name` is in namespace `ns` (configured under realtime.namespaces); a name without `:` is
 * in the default namespace (realtime.channel). A name part starting with `$` (`$name`,
 * `ns:$name`) is a private channel: subscribing needs a subscription token.
 */
import type { AccessLevel, Config, NamespaceOptions } from '../config/schema.js';
import { ERRORS, ReplyError } from './protocol/codes.js';

export const NAMESPACE_SEPARATOR = ':';
export const PRIVATE_PREFIX = '$';
/** Longest channel name accepted, in UTF-16 code units. */
export const MAX_CHANNEL_LENGTH = 255;
/** Most distinct undeclared namespaces logged; past that they are refused without a log line. */
const MAX_REPORTED = 100;

export interface ResolvedChannel {
  channel: string;
  /** "" for the default namespace. */
  namespace: string;
  /** The part after the namespace separator. */
  name: string;
  private: boolean;
  options: NamespaceOptions;
}

/** Who is asking: the connection's user ("" = anonymous) and whether it acts as the node owner. */
export interface Actor {
  user: string;
  owner: boolean;
}

export type ChannelAction = 'publish' | 'subscribe' | 'history' | 'presence';

/** Whether an actor passes an access level. */
export function levelAllows(level: AccessLevel, actor: Actor): boolean {
  switch (level) {
    case 'none':
      return false;
    case 'owner':
      return actor.owner;
    case 'user':
      return actor.owner || actor.user !== '';
    case 'anonymous':
      return true;
  }
}

/** Whether a namespace keeps a stream (offsets, epoch, history): persisted, or with history. */
export function keepsStream(options: NamespaceOptions): boolean {
  return options.persist || options.historySize > 0;
}

/** Why a channel of an undeclared namespace is refused, naming the setting that declares it. */
export function unknownNamespaceMessage(namespace: string): string {
  return `unknown channel: namespace "${namespace}" is not declared (realtime.namespaces.${namespace} in the YAML config)`;
}

/** Told once per undeclared namespace that something asked for (the node logs it). */
export type UnknownNamespaceListener = (namespace: string, message: string) => void;

export class Namespaces {
  readonly #default: NamespaceOptions;
  readonly #byName: ReadonlyMap<string, NamespaceOptions>;
  #onUnknown: UnknownNamespaceListener | undefined;
  /** Undeclared namespaces already reported, so a client retrying in a loop logs once. Bounded: a client picks the names. */
  readonly #reported = new Set<string>();

  constructor(realtime: Pick<Config['realtime'], 'channel' | 'namespaces'>) {
    this.#default = realtime.channel;
    this.#byName = new Map(Object.entries(realtime.namespaces));
  }

  /** Resolves a channel; throws ReplyError 107 for a bad name and 102 for an unknown namespace. */
  resolve(channel: string): ResolvedChannel {
    const r = this.tryResolve(channel);
    if (r === 'bad') throw new ReplyError(ERRORS.badRequest, 'bad channel name');
    if (r === 'unknown') {
      const namespace = channel.slice(0, channel.indexOf(NAMESPACE_SEPARATOR));
      const message = unknownNamespaceMessage(namespace);
      if (this.#onUnknown && !this.#reported.has(namespace) && this.#reported.size < MAX_REPORTED) {
        this.#reported.add(namespace);
        this.#onUnknown(namespace, message);
      }
      throw new ReplyError(ERRORS.unknownChannel, message);
    }
    return r;
  }

  /** Sets who hears (once per namespace) of channels refused because their namespace is not declared. */
  onUnknownNamespace(listener: UnknownNamespaceListener): void {
    this.#onUnknown = listener;
  }

  /** Like resolve, without throwing. */
  tryResolve(channel: string): ResolvedChannel | 'bad' | 'unknown' {
    if (channel.length === 0 || channel.length > MAX_CHANNEL_LENGTH) return 'bad';
    const sep = channel.indexOf(NAMESPACE_SEPARATOR);
    let namespace = '';
    let name = channel;
    let options = this.#default;
    if (sep !== -1) {
      namespace = channel.slice(0, sep);
      name = channel.slice(sep + 1);
      const ns = this.#byName.get(namespace);
      if (!ns) return 'unknown';
      options = ns;
    }
    if (name.length === 0) return 'bad';
    return { channel, namespace, name, private: name.startsWith(PRIVATE_PREFIX), options };
  }

  /** Throws ReplyError 103 unless the actor may do `action` in the channel's namespace. */
  check(resolved: ResolvedChannel, action: ChannelAction, actor: Actor): void {
    if (!levelAllows(resolved.options[action], actor)) throw new ReplyError(ERRORS.permissionDenied);
  }

  /** Every configured namespace name ("" = the default). */
  names(): string[] {
    return ['', ...this.#byName.keys()];
  }
}
