/**
 * Replication on one link once both hellos are in: a ChangeSink when this node pulls from the
 * peer, a ChangeSource when it serves the peer, both keeping the link's status and metrics.
 * Used the same way by the client side (server-connection.ts) and the server side
 * (link-server.ts): data roles do not depend on who opened the link.
 */
import { MycelError } from '../errors.js';
import type { Change } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';
import { ChangeSink, type ChangeImporter } from './change-sink.js';
import { ChangeSource } from './change-source.js';
import type { Link } from './link.js';
import type { NetworkMetrics } from './metrics.js';
import type { NetworkMessage } from './protocol.js';
import type { LinkStatus } from './status.js';

/** What replication needs of the node, the same for every link. */
export interface ReplicationContext {
  reader: Pick<StorageReader, 'getChanges' | 'readChangeHead'>;
  onLogAdvance(listener: (serial: number) => void): () => void;
  importer: ChangeImporter;
  chunkSize: number;
  window: number;
  metrics: NetworkMetrics;
}

export interface LinkReplicationOptions {
  pull: boolean;
  serve: boolean;
  /** Channel filter of what this node serves the peer; null = everything. */
  permits: ((change: Change) => Promise<boolean>) | null;
  status: LinkStatus;
  /** Records a non-fatal error (a repaired gap) in status and metrics. */
  noteError(err: unknown): void;
}

export class LinkReplication {
  readonly #link: Link;
  readonly #sink: ChangeSink | null;
  readonly #source: ChangeSource | null;

  constructor(link: Link, ctx: ReplicationContext, options: LinkReplicationOptions) {
    this.#link = link;
    const { status } = options;
    const peer = link.peerNodeId;
    this.#sink = options.pull
      ? new ChangeSink({
          peerNodeId: peer,
          importer: ctx.importer,
          window: ctx.window,
          send: (message) => {
            if (!link.closed) link.send(message);
          },
          onImported: (cursor, imported, head, lastCreatedAt) => {
            status.cursor = cursor.serial;
            status.importedTotal += imported;
            const lag = Math.max(0, head - cursor.serial);
            status.lagChanges = lag;
            status.lagSeconds = lag === 0 ? 0 : Math.max(0, (Date.now() - lastCreatedAt) / 1000);
            ctx.metrics.imported.inc({ peer }, imported);
            ctx.metrics.lagChanges.set({ peer }, lag);
            ctx.metrics.lagSeconds.set({ peer }, status.lagSeconds);
          },
          onGap: (err) => options.noteError(err),
          onFatal: (err) => link.fail(err),
        })
      : null;
    this.#source = options.serve
      ? new ChangeSource({
          reader: ctx.reader,
          onLogAdvance: (listener) => ctx.onLogAdvance(listener),
          chunkSize: ctx.chunkSize,
          permits: options.permits,
          send: (message) => {
            if (!link.closed) link.send(message);
          },
          onSent: (count) => {
            status.sentTotal += count;
            ctx.metrics.sent.inc({ peer }, count);
          },
          onError: (err) => link.fail(err),
        })
      : null;
  }

  /** Starts pulling (when this node pulls): the first `pull` from the stored cursor. */
  async start(): Promise<void> {
    if (this.#sink) {
      await this.#sink.start();
    }
  }

  /** The stored cursor the sink pulled from (status before the first chunk). */
  get sinkCursor(): number | null {
    return this.#sink?.cursor?.serial ?? null;
  }

  /** Handles replication's messages; false for any other type. */
  async handle(message: NetworkMessage): Promise<boolean> {
    switch (message.t) {
      case 'pull':
        if (!this.#source) throw new MycelError('NODE_ROLE_REFUSED', { reason: 'this node does not serve its log on this link' });
        await this.#source.pull(message);
        return true;
      case 'credit':
        if (!this.#source) throw new MycelError('NODE_ROLE_REFUSED', { reason: 'this node does not serve its log on this link' });
        this.#source.grant(message.n);
        return true;
      case 'changes':
        if (!this.#sink) throw new MycelError('NODE_ROLE_REFUSED', { reason: 'this node does not pull on this link' });
        this.#sink.receive(message);
        return true;
      case 'hello':
      case 'link':
        throw new MycelError('BAD_MESSAGE', { reason: `unexpected ${message.t}` });
      default:
        return false;
    }
  }

  stop(): void {
    this.#sink?.stop();
    this.#source?.stop();
  }

  get link(): Link {
    return this.#link;
  }
}
