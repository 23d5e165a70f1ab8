/**
 * One session's subscription to one channel: what the Hub needs on the fan-out path and what
 * the session needs for presence, expiry and join/leave. Owned by the session (`session.subs`),
 * registered in the Hub while it receives publications.
 */
import { epochMatches, type Publication } from './types.js';

/** A push that arrived while the subscribe reply was not written yet. */
export interface BufferedPush {
  /** 0 for pushes without a stream position (join/leave, publications of history-less channels). */
  offset: number;
  epoch: string | undefined;
  frame: string;
  /** The publication of a `pub` push, to re-encode it with its epoch (admission 'deliver-with-epoch'). */
  pub?: Publication;
}

/** What the Hub needs of the connection that owns a subscription (the fan-out path). */
export interface Subscriber {
  /** The client id. */
  readonly id: string;
  send(frame: string): void;
  /** The subscription missed publications (see ClientConnection.insufficientState). */
  insufficientState(sub: Subscription): void;
}

export class Subscription {
  readonly channel: string;
  readonly session: Subscriber;
  readonly serverSide: boolean;
  /** Publications carry gapless offsets and the client is told when one is missed (2500 / 3010). */
  positioned = false;
  recoverable = false;
  /** The client receives join/leave pushes. */
  pushJoinLeave = false;
  /** The client's own join/leave is published to the channel. */
  emitJoinLeave = false;
  /** The client is in the channel's presence. */
  presence = false;
  chanInfo: unknown = undefined;
  /** Unix seconds; 0 = never. */
  expireAt = 0;
  /** The last position delivered to the client (positioned subscriptions). */
  offset = 0;
  epoch = '';
  /**
   * Non-null from the moment the Hub knows the subscription until its subscribe reply (or the
   * connect reply, or the subscribe push) is written: publications go here first, so none
   * reaches the client before the reply, and recovery can merge them without gaps or repeats.
   */
  buffer: BufferedPush[] | null = [];
  /** A gap was seen while buffering; the client is told to resubscribe once the reply is out. */
  insufficient = false;
  /** Still being set up: not yet in the Hub, or its reply not yet written. */
  active = false;

  constructor(channel: string, session: Subscriber, serverSide: boolean) {
    this.channel = channel;
    this.session = session;
    this.serverSide = serverSide;
  }
}

/** What to do with a publication for a subscription, given its stream position. */
export type Admission = 'deliver' | 'deliver-with-epoch' | 'skip' | 'lost';

/**
 * Checks a publication against a positioned subscription and moves its position: the next
 * offset is delivered, an older one is a repeat (skipped), a newer one or another epoch is a
 * gap (lost). Publications without an offset, and subscriptions that are not positioned,
 * always deliver. 'deliver-with-epoch': the subscription started before its stream existed
 * (a persisted channel without a row yet: no epoch in the subscribe result) and learns the
 * epoch from this publication; the client must learn it too (`epoch` in the pub, as the
 * reference sends it), or its next recovery, with an empty epoch, would match any stream —
 * a deleted and re-created channel included — and hide the gap.
 */
export function admit(sub: Subscription, offset: number, epoch: string | undefined): Admission {
  if (offset === 0 || !sub.positioned) return 'deliver';
  let learned = false;
  if (epoch !== undefined && epoch !== sub.epoch) {
    if (!epochMatches(sub.epoch, epoch)) return 'lost';
    // Subscribed before the stream existed: the first publication brings the epoch.
    sub.epoch = epoch;
    learned = epoch !== '';
  }
  if (offset !== sub.offset + 1) return offset > sub.offset ? 'lost' : 'skip';
  sub.offset = offset;
  return learned ? 'deliver-with-epoch' : 'deliver';
}
