import pg from 'pg';
import type { Logger } from '../../log.js';
import { LOG_CHANNEL } from './postgres-queries.js';

export interface LogListenerOptions {
  /** How to open the connection: the storage's URL, search path and type parsers. */
  client: pg.ClientConfig;
  /** This storage's id in the notifications it sends: its own are already reported locally. */
  senderId: string;
  /** A commit of another process on this database and schema moved the head to `serial`. */
  onRemoteAdvance(serial: number): void;
  /** The connection is (again) listening: commits may have been missed while it was not. */
  onListening(): void;
  log?: Logger;
}

const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;

/**
 * One dedicated connection that LISTENs for the change-log notifications every PostgreSQL
 * storage sends when it commits an append (postgres-queries.ts writeChangeHeadNotify). A pooled
 * connection cannot do this: LISTEN belongs to a session. A lost connection is opened again
 * with exponential backoff and full jitter, for as long as the storage is open.
 */
export class LogListener {
  private client: pg.Client | null = null;
  private searchPath: string | null = null;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly options: LogListenerOptions) {}

  start(): void {
    this.connecting ??= this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client(this.options.client);
    this.client = client;
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    client.on('notification', (msg) => this.onNotification(msg));
    try {
      await client.connect();
      const res = await client.query<{ sp: string }>("SELECT current_setting('search_path') AS sp");
      this.searchPath = res.rows[0]!.sp;
      await client.query(`LISTEN ${LOG_CHANNEL}`);
    } catch (err) {
      this.lost(client, err);
      return;
    }
    if (this.client !== client) return;
    if (this.attempt > 0) this.options.log?.info({ attempts: this.attempt }, 'listening for change-log commits again');
    this.attempt = 0;
    this.options.onListening();
  }

  private onNotification(msg: pg.Notification): void {
    if (msg.channel !== LOG_CHANNEL || msg.payload === undefined) return;
    // "<serial> <sender> <search path>"; the search path may itself hold spaces.
    const first = msg.payload.indexOf(' ');
    const second = msg.payload.indexOf(' ', first + 1);
    if (first < 0 || second < 0) return;
    const serial = Number(msg.payload.slice(0, first));
    const sender = msg.payload.slice(first + 1, second);
    const searchPath = msg.payload.slice(second + 1);
    if (sender === this.options.senderId || searchPath !== this.searchPath || !Number.isSafeInteger(serial)) return;
    this.options.onRemoteAdvance(serial);
  }

  /** The connection failed or ended: drop it and, unless stopped, open another after a delay. */
  private lost(client: pg.Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = null;
    this.connecting = null;
    client.removeAllListeners('notification');
    // Ending a broken client may itself fail; the client is dropped either way.
    client.end().catch(() => undefined);
    if (this.stopped) return;
    if (this.attempt === 0) {
      this.options.log?.warn({ err: err instanceof Error ? err.message : err }, 'lost the connection that listens for change-log commits; reconnecting');
    }
    const delay = Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connecting ??= this.connect();
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners('notification');
      await client.end().catch(() => undefined);
    }
  }
}
