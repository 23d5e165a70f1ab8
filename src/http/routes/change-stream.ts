/**
 * GET /api/v1/changes/stream: the change log as Server-Sent Events, for apps that follow it.
 *
 * From a cursor (`?after=<serial>`, or the `Last-Event-ID` header a reconnecting EventSource
 * sends; default 0: the whole log) it sends the changes the actor may read (the rule of GET
 * /api/v1/changes, Operator.getChanges), each as `id: <serial>` / `event: change` /
 * `data: <change JSON>`, page by page; when a page comes back empty it sends the comment
 * `: live` once and waits for the log to advance (storage.onLogAdvance: a commit of this
 * instance, or on PostgreSQL of any instance) before it reads again. Catch-up and live are one
 * loop over reads of the database, so nothing committed in between is lost, and the server
 * holds no more than one page per reader: each page waits until the socket has taken the one
 * before (`drain`); a reader that takes nothing for a minute is cut off.
 *
 * When a user's filtered page ends with changes it may not see, an `id:` line without data moves
 * the client's Last-Event-ID past them (the EventSource dispatches no event for it). Every
 * heartbeat (a `: heartbeat` comment after a quiet interval) also checks the credential again:
 * an expired or ended session ends the stream with `event: error` ({code, message}), as does
 * a failure to read. Closing the app ends every stream.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Operator } from '../../domain/operator.js';
import { isMycelError, MycelError } from '../../errors.js';
import { authenticate, authOf, type ActorResolver, type Authenticated } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, SECURED, withErrors } from '../schemas.js';

export interface ChangeStreamOptions extends HttpContext {
  /** The app's actor resolvers, to check a stream's credential again at each heartbeat. */
  resolvers: readonly ActorResolver[];
  /** Quiet interval before a heartbeat comment (default 15 s). */
  heartbeatMs?: number;
}

/** Serials read per page: what one reader may cost the server at most, besides the socket's buffer. */
export const CHANGE_STREAM_PAGE = 100;
const DEFAULT_HEARTBEAT_MS = 15_000;
/** A reader whose socket takes nothing for this long is cut off (it holds a page and a socket). */
const STALL_MS = 60_000;

type ChangesPage = Awaited<ReturnType<Operator['getChanges']>>;

const streamQuery = z.object({
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Send the changes after this serial (default: the Last-Event-ID header, else 0: the whole log)'),
});

/** The `Last-Event-ID` header as a serial; VALIDATION_FAILED when it is not one. */
function lastEventId(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text !== undefined && /^\d{1,16}$/.test(text.trim()) && Number.isSafeInteger(Number(text))) return Number(text);
  throw new MycelError('VALIDATION_FAILED', { location: 'headers', field: 'last-event-id', reason: 'must be a serial (an integer >= 0)' }, 'Last-Event-ID: must be a serial (an integer >= 0)');
}

/** One open stream: its socket, and what wakes its loop. */
class FeedStream {
  closed = false;
  /** The highest head serial the log-advance wake-up reported. */
  head = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly res: ServerResponse) {
    res.once('close', () => this.close());
  }

  signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal();
    if (!this.res.writableEnded) this.res.end();
  }

  /** Waits up to `ms` for a log advance past `cursor` (or the close); true if it came. */
  async advanced(cursor: number, ms: number): Promise<boolean> {
    if (this.head > cursor || this.closed) return true;
    let timer: NodeJS.Timeout | undefined;
    const woken = await new Promise<boolean>((resolve) => {
      this.wake = () => resolve(true);
      timer = setTimeout(() => resolve(false), ms);
    });
    clearTimeout(timer);
    this.wake = null;
    return woken;
  }

  /** Writes `text`; waits until the socket takes it if its buffer is full. False when the stream is gone or stalled. */
  async write(text: string, stallMs: number): Promise<boolean> {
    if (this.closed) return false;
    if (this.res.write(text)) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        this.res.off('drain', onDrain);
        this.res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      this.res.on('drain', onDrain);
      this.res.on('close', onClose);
      timer = setTimeout(() => done(false), stallMs);
    });
    clearTimeout(timer);
    // A reader that takes nothing for so long costs a socket and a page: cut it off.
    if (!drained && !this.closed) this.res.destroy();
    return drained && !this.closed;
  }
}

export const changeStreamRoutes: FastifyPluginAsyncZod<ChangeStreamOptions> = async (app, { core, resolvers, heartbeatMs = DEFAULT_HEARTBEAT_MS, isShuttingDown }) => {
  const open = new Set<FeedStream>();
  const stallMs = Math.max(STALL_MS, heartbeatMs * 4);

  // One wake-up for every stream of this app: each commit that appended to the log.
  const unsubscribe = core.storage.onLogAdvance((serial) => {
    for (const stream of open) {
      if (serial > stream.head) stream.head = serial;
      stream.signal();
    }
  });
  app.addHook('preClose', async () => {
    unsubscribe();
    for (const stream of open) stream.close();
  });

  app.get(
    '/api/v1/changes/stream',
    {
      config: { auth: 'actor' },
      schema: {
        tags: ['changes'],
        operationId: 'streamChanges',
        summary: 'The change log as Server-Sent Events, from a serial, then live (owner; a user: the changes of channels it may read)',
        description:
          'Events: `id: <serial>`, `event: change`, `data: <Change JSON>`. Resume with `?after=` or `Last-Event-ID`. A `: live` comment marks the end of the catch-up; `: heartbeat` comments keep the connection open; `event: error` with `{code, message}` ends the stream.',
        security: SECURED,
        querystring: streamQuery,
        response: withErrors({ 200: z.string().describe('text/event-stream') }, AUTH_ERRORS),
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const after = request.query.after ?? lastEventId(request.headers['last-event-id']) ?? 0;
      const res = reply.raw;
      // Listening before the first read, so a commit during it still wakes the loop.
      const stream = new FeedStream(res);
      open.add(stream);
      res.once('close', () => open.delete(stream));
      let first: ChangesPage;
      try {
        // Before the stream starts: a refusal (FORBIDDEN, a database down) is a plain error reply.
        first = await core.operator.getChanges(auth.actor, { from: after + 1, limit: CHANGE_STREAM_PAGE });
      } catch (err) {
        open.delete(stream);
        throw err;
      }
      reply.hijack();
      res.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      });
      if (isShuttingDown()) stream.close();
      void follow(stream, auth, after, first).catch((err: unknown) => {
        request.log.error({ err, reqId: request.id }, 'change stream failed');
        stream.close();
      });
      return reply;

      async function follow(s: FeedStream, credential: Authenticated, after: number, firstPage: ChangesPage): Promise<void> {
        let cursor = after;
        let sent = after;
        let live = false;
        let next: ChangesPage | null = firstPage;
        try {
          while (!s.closed) {
            const page: ChangesPage = next ?? (await core.operator.getChanges(credential.actor, { from: cursor + 1, limit: CHANGE_STREAM_PAGE }));
            next = null;
            let text = '';
            for (const change of page.changes) text += `id: ${change.serial}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`;
            const last = page.changes[page.changes.length - 1];
            if (last) sent = last.serial;
            cursor = page.next - 1;
            // Changes the user may not see at the end of the page: move its Last-Event-ID past them.
            if (cursor > sent) {
              text += `id: ${cursor}\n\n`;
              sent = cursor;
            }
            if (text !== '' && !(await s.write(text, stallMs))) return;
            if (page.full) continue;
            if (!live) {
              live = true;
              if (!(await s.write(': live\n\n', stallMs))) return;
            }
            if (await s.advanced(cursor, heartbeatMs)) continue;
            // Quiet for a heartbeat: is the credential still good (not expired, not logged out)?
            await authenticate(resolvers, { token: credential.token, source: credential.source });
            if (!(await s.write(': heartbeat\n\n', stallMs))) return;
          }
        } catch (err) {
          const error = isMycelError(err) ? err : new MycelError('INTERNAL');
          if (error.status >= 500) request.log.error({ err, reqId: request.id }, 'change stream failed');
          const body = error.status >= 500 ? { code: error.code, message: error.message, details: { requestId: request.id } } : { code: error.code, message: error.message };
          await s.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`, stallMs);
          s.close();
        }
      }
    },
  );
};
