/**
 * Forwarded writes over node links (docs/network.md, "Forwarded writes").
 *
 * Child side (`RemoteWrites`, set on the Operator): a write to an entity whose origin is
 * another node is sent as `forward {id, op}` on the link to that node, or to a parent when the
 * origin is not a direct peer; the origin answers `forwarded {id, ok, result | error}`; then the
 * call waits until the change the result names has been imported here (the log advances and
 * holds it), so the caller reads its own copy. All of it within `network.forwardTimeoutMs`
 * (FORWARD_TIMEOUT), at most `network.maxPendingForwards` at once (FORWARD_QUEUE_FULL); no link
 * → NOT_CONNECTED_TO_ORIGIN, and a link that closes before the answer fails its calls with the
 * same code (the write may have been committed: a retry with the same idempotency key is
 * exactly-once). Nothing is queued or retried here.
 *
 * Origin side (`LinkMessageHandler` for `forward`): the op runs through
 * `Operator.executeForwarded` as the peer node (its registration here authorises it); a node
 * that is not the op's origin forwards it on the same way (never back where it came from).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Actor } from '../domain/actor.js';
import { parseForwardResult, type ComputeTaskOp, type ForwardedOp, type ForwardResult, type RemoteWrites } from '../domain/forwarded-writes.js';
import { ERROR_CODES, isMycelError, MycelError, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { LinkChannel, LinkMessageHandler } from './link.js';
import type { ForwardedMessage, ForwardMessage, NetworkMessage } from './protocol.js';

export interface ForwardingDeps {
  /** The links of this node's network (NetworkNode). */
  links: { linkTo(peerNodeId: string): LinkChannel | undefined; parentLinks(): LinkChannel[] };
  /** Runs a forwarded op at this node as client node `nodeId` (Operator.executeForwarded). */
  executeForwarded(nodeId: string, op: unknown): Promise<ForwardResult>;
  /** Reads for "has the result come back": the log by origin, and posts. */
  storage: {
    hasOriginChange(originNodeId: string, originSerial: number): Promise<boolean>;
    getPost(id: string): Promise<unknown>;
    onLogAdvance(listener: (serial: number) => void): () => void;
  };
  timeoutMs: number;
  maxPending: number;
  log: Logger;
}

interface Pending {
  id: string;
  originNodeId: string;
  link: LinkChannel;
  /** `sent`: waiting for the origin's answer; `answered`: committed there, waiting for the import. */
  phase: 'sent' | 'answered';
  /** What the import must bring (once answered). */
  awaits?: { originNodeId: string; originSerial: number } | { postId: string };
  result?: ForwardResult;
  timer: NodeJS.Timeout;
  resolve(result: ForwardResult): void;
  reject(err: unknown): void;
}

/** The peer a forwarded op arrived from, while it runs here: it is never sent back there. */
const arrivedFrom = new AsyncLocalStorage<string>();

/** A `forwarded` error as a registry error; a code this node does not know stays visible in the details. */
function errorFromPeer(error: { code: string; message: string; details?: Record<string, unknown> | undefined }): MycelError {
  if (Object.hasOwn(ERROR_CODES, error.code)) return new MycelError(error.code as ErrorCode, error.details, error.message);
  return new MycelError('INTERNAL', { originCode: error.code.slice(0, 100) }, error.message);
}

export class Forwarding implements RemoteWrites, LinkMessageHandler {
  readonly #deps: ForwardingDeps;
  readonly #pending = new Map<string, Pending>();
  /** Forwarded ops from peers running here now, to bound what one peer can queue. */
  #executing = 0;
  readonly #stopAdvance: () => void;
  #checking = false;
  #recheck = false;

  constructor(deps: ForwardingDeps) {
    this.#deps = deps;
    this.#stopAdvance = deps.storage.onLogAdvance(() => void this.#checkImports());
  }

  /** Calls in flight (status, tests). */
  get pending(): number {
    return this.#pending.size;
  }

  // ---- child side ----

  forward(originNodeId: string, op: ForwardedOp | ComputeTaskOp, _actor: Actor): Promise<ForwardResult> {
    if (this.#pending.size >= this.#deps.maxPending) return Promise.reject(new MycelError('FORWARD_QUEUE_FULL', { limit: this.#deps.maxPending }));
    const link = this.#route(originNodeId);
    if (!link) return Promise.reject(new MycelError('NOT_CONNECTED_TO_ORIGIN', { originNodeId }));
    const id = randomUUID();
    return new Promise<ForwardResult>((resolve, reject) => {
      const pending: Pending = {
        id,
        originNodeId,
        link,
        phase: 'sent',
        timer: setTimeout(() => {
          this.#pending.delete(id);
          reject(new MycelError('FORWARD_TIMEOUT', { originNodeId, timeoutMs: this.#deps.timeoutMs, committedAtOrigin: pending.phase === 'answered' }));
        }, this.#deps.timeoutMs),
        resolve,
        reject,
      };
      this.#pending.set(id, pending);
      try {
        link.send({ t: 'forward', id, op });
      } catch {
        this.#settle(pending, new MycelError('NOT_CONNECTED_TO_ORIGIN', { originNodeId }));
      }
    });
  }

  /** The link to the origin itself, else to a parent (which forwards on); never the peer the op came from. */
  #route(originNodeId: string): LinkChannel | undefined {
    const from = arrivedFrom.getStore();
    if (originNodeId !== from) {
      const direct = this.#deps.links.linkTo(originNodeId);
      if (direct) return direct;
    }
    return this.#deps.links.parentLinks().find((link) => link.peerNodeId !== from);
  }

  #settle(pending: Pending, outcome: ForwardResult | Error): void {
    if (this.#pending.get(pending.id) !== pending) return;
    this.#pending.delete(pending.id);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  #onForwarded(link: LinkChannel, message: ForwardedMessage): void {
    const pending = this.#pending.get(message.id);
    // An answer after the timeout (or on another link): nobody waits for it any more.
    if (!pending || pending.link !== link || pending.phase !== 'sent') return;
    if (!message.ok) {
      this.#settle(pending, errorFromPeer(message.error));
      return;
    }
    let result: ForwardResult;
    try {
      result = parseForwardResult(message.result);
    } catch (err) {
      this.#settle(pending, err as Error);
      return;
    }
    pending.phase = 'answered';
    pending.result = result;
    if (result.change) pending.awaits = result.change;
    else if (result.entity) pending.awaits = { postId: result.entity.id };
    else {
      this.#settle(pending, result);
      return;
    }
    void this.#checkImports();
  }

  /** Settles the answered calls whose change is in the log now. One pass at a time; a log advance meanwhile runs another. */
  async #checkImports(): Promise<void> {
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    this.#checking = true;
    try {
      do {
        this.#recheck = false;
        for (const pending of [...this.#pending.values()]) {
          if (pending.phase !== 'answered' || !pending.awaits) continue;
          const a = pending.awaits;
          const here = 'postId' in a ? (await this.#deps.storage.getPost(a.postId)) !== null : await this.#deps.storage.hasOriginChange(a.originNodeId, a.originSerial);
          if (here) this.#settle(pending, pending.result!);
        }
      } while (this.#recheck);
    } catch (err) {
      // A read failed (database down): the calls time out; the log says why.
      this.#deps.log.error({ err }, 'forwarded writes: checking for imported results failed');
    } finally {
      this.#checking = false;
    }
  }

  // ---- origin side ----

  #onForward(link: LinkChannel, message: ForwardMessage): void {
    const answer = (reply: ForwardedMessage): void => {
      try {
        link.send(reply);
      } catch {
        // The link closed: the child's call fails with NOT_CONNECTED_TO_ORIGIN (or times out).
      }
    };
    if (this.#executing >= this.#deps.maxPending) {
      const error = new MycelError('FORWARD_QUEUE_FULL', { limit: this.#deps.maxPending });
      answer({ t: 'forwarded', id: message.id, ok: false, error: { code: error.code, message: error.message } });
      return;
    }
    this.#executing++;
    void arrivedFrom
      .run(link.peerNodeId, () => this.#deps.executeForwarded(link.peerNodeId, message.op))
      .then(
        (result) => answer({ t: 'forwarded', id: message.id, ok: true, result }),
        (err: unknown) => {
          if (!isMycelError(err) || err.status >= 500) this.#deps.log.error({ err, peer: link.peerNodeId }, 'forwarded write failed');
          const error = isMycelError(err) ? err : new MycelError('INTERNAL');
          answer({
            t: 'forwarded',
            id: message.id,
            ok: false,
            error: { code: error.code, message: error.message, ...(error.details && isMycelError(err) ? { details: error.details } : {}) },
          });
        },
      )
      .finally(() => this.#executing--);
  }

  // ---- LinkMessageHandler ----

  onMessage(link: LinkChannel, message: NetworkMessage): boolean {
    if (message.t === 'forward') {
      this.#onForward(link, message);
      return true;
    }
    if (message.t === 'forwarded') {
      this.#onForwarded(link, message);
      return true;
    }
    return false;
  }

  onLinkClosed(link: LinkChannel): void {
    for (const pending of [...this.#pending.values()]) {
      // Answered calls were committed at the origin: they wait for the import (a new link may bring it) until their timeout.
      if (pending.link === link && pending.phase === 'sent') {
        this.#settle(pending, new MycelError('NOT_CONNECTED_TO_ORIGIN', { originNodeId: pending.originNodeId, reason: 'the link closed before the origin answered; the write may have been committed there' }));
      }
    }
  }

  /** Fails every call in flight (the node is stopping) and stops listening. */
  close(): void {
    this.#stopAdvance();
    for (const pending of [...this.#pending.values()]) this.#settle(pending, new MycelError('NOT_CONNECTED_TO_ORIGIN', { originNodeId: pending.originNodeId, reason: 'this node is shutting down' }));
  }
}
