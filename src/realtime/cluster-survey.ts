/**
 * What this instance learns of the cluster over the Bus control channel: the live instances
 * (each announces its stats every `nodeInfoIntervalMs`: the server API's `info`) and the
 * channels with subscribers on any instance (a survey every live instance answers: the server
 * API's `channels`).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import type { Hub } from './hub.js';
import type { RealtimeMetrics } from './metrics.js';
import type { ControlCommand, NodeStats } from './types.js';
import { isBackendUnavailable } from './backend-unavailable.js';

export interface ClusterSurveyDeps {
  bus: Bus;
  hub: Hub;
  instanceId: string;
  /** How often this instance announces itself; an instance silent for three intervals is gone. */
  nodeInfoIntervalMs: number;
  /** This instance's stats, as announced. */
  stats(): NodeStats;
  metrics: RealtimeMetrics;
  log: Logger;
}

export class ClusterSurvey {
  readonly #deps: ClusterSurveyDeps;
  readonly #nodes = new Map<string, NodeStats>();
  /** Open `channels` surveys of this instance: request id → collector of the answers. */
  readonly #surveys = new Map<string, (node: string, channels: Record<string, number>) => void>();
  readonly #timer: NodeJS.Timeout;

  constructor(deps: ClusterSurveyDeps) {
    this.#deps = deps;
    this.#timer = setInterval(() => this.#announce(), deps.nodeInfoIntervalMs);
    this.#timer.unref();
  }

  /** Stops announcing this instance. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Every live instance (this one and those that announced themselves recently). */
  info(): { nodes: NodeStats[] } {
    const horizon = Date.now() - 3 * this.#deps.nodeInfoIntervalMs;
    const nodes = [this.#deps.stats()];
    for (const [uid, stats] of this.#nodes) {
      if (stats.updatedAt < horizon) this.#nodes.delete(uid);
      else nodes.push(stats);
    }
    return { nodes };
  }

  /**
   * Channels with subscribers on this instance and their local subscriber counts, optionally
   * filtered by a glob pattern (`*` matches any run of characters).
   */
  localChannels(pattern?: string): Record<string, number> {
    const re = pattern ? globToRegExp(pattern) : null;
    const out: Record<string, number> = {};
    for (const channel of this.#deps.hub.channelNames()) {
      if (re && !re.test(channel)) continue;
      out[channel] = this.#deps.hub.subscriberCount(channel);
    }
    return out;
  }

  /**
   * Channels with subscribers on ANY instance, with their summed subscriber counts: this
   * instance's own, plus the answers of every other live instance (those seen in `info`) to a
   * survey over the Bus control channel. An instance that does not answer within `timeoutMs`
   * is left out rather than delaying the reply without bound.
   */
  async clusterChannels(pattern?: string, timeoutMs = 1000): Promise<Record<string, { numClients: number }>> {
    const self = this.#deps.instanceId;
    const peers = new Set(this.info().nodes.map((n) => n.uid).filter((uid) => uid !== self));
    const totals = new Map<string, number>(Object.entries(this.localChannels(pattern)));
    if (peers.size > 0) {
      const requestId = randomUUID();
      const answered = new Promise<void>((resolve) => {
        const timer = setTimeout(finish, timeoutMs);
        timer.unref();
        function finish(): void {
          clearTimeout(timer);
          survey.delete(requestId);
          resolve();
        }
        const survey = this.#surveys;
        survey.set(requestId, (node, channels) => {
          if (!peers.delete(node)) return;
          for (const [channel, n] of Object.entries(channels)) totals.set(channel, (totals.get(channel) ?? 0) + n);
          if (peers.size === 0) finish();
        });
      });
      await this.#deps.bus.publishControl({ type: 'channels-request', requestId, from: self, ...(pattern ? { pattern } : {}) });
      await answered;
    }
    const out: Record<string, { numClients: number }> = {};
    for (const [channel, numClients] of totals) out[channel] = { numClients };
    return out;
  }

  /** The control messages of the survey: node-info, channels-request, channels-reply. */
  handle(command: Extract<ControlCommand, { type: 'node-info' | 'channels-request' | 'channels-reply' }>): void {
    const self = this.#deps.instanceId;
    switch (command.type) {
      case 'node-info':
        if (command.node.uid !== self) this.#nodes.set(command.node.uid, command.node);
        return;
      case 'channels-request':
        if (command.from === self) return;
        this.#deps.bus
          .publishControl({ type: 'channels-reply', requestId: command.requestId, to: command.from, node: self, channels: this.localChannels(command.pattern) })
          .catch((err: unknown) => {
            this.#deps.metrics.error('channels_reply');
            this.#deps.log.warn({ err }, 'answering a channels survey failed');
          });
        return;
      case 'channels-reply':
        if (command.to === self) this.#surveys.get(command.requestId)?.(command.node, command.channels);
        return;
    }
  }

  #announce(): void {
    this.#deps.bus.publishControl({ type: 'node-info', node: this.#deps.stats() }).catch((err: unknown) => {
      this.#deps.metrics.error('node_info');
      if (!isBackendUnavailable(err)) this.#deps.log.warn({ err }, 'announcing node info failed');
    });
  }
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}
