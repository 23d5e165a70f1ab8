/**
 * Request/reply over a child process's IPC channel, plus one-way events. The coordinator calls
 * `request(child, type, body)`; the child answers from the handlers it gave `serveIpc`. A child
 * whose parent goes away (IPC disconnect) exits at once: nothing outlives a killed benchmark.
 */
import type { ChildProcess } from 'node:child_process';

interface RequestMsg {
  kind: 'req';
  id: number;
  type: string;
  body: unknown;
}
interface ReplyMsg {
  kind: 'reply';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
interface EventMsg {
  kind: 'event';
  type: string;
  body: unknown;
}
type Msg = RequestMsg | ReplyMsg | EventMsg;

let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
const watched = new WeakSet<ChildProcess>();
const eventHandlers = new WeakMap<ChildProcess, Map<string, (body: unknown) => void>>();

function watch(child: ChildProcess): void {
  if (watched.has(child)) return;
  watched.add(child);
  child.on('message', (raw: unknown) => {
    const msg = raw as Msg;
    if (msg.kind === 'reply') {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error ?? 'child request failed'));
    } else if (msg.kind === 'event') {
      eventHandlers.get(child)?.get(msg.type)?.(msg.body);
    }
  });
}

/** Sends a request to a child and waits for its reply (rejects on timeout or child exit). */
export function request<T>(child: ChildProcess, type: string, body: unknown = {}, timeoutMs = 60_000): Promise<T> {
  watch(child);
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => {
      if (!pending.delete(id)) return;
      clearTimeout(timer);
      reject(new Error(`child exited during '${type}' (code ${code}, signal ${signal})`));
    };
    const timer = setTimeout(() => {
      pending.delete(id);
      child.off('exit', onExit);
      reject(new Error(`no reply to '${type}' within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.set(id, {
      resolve: (v) => {
        child.off('exit', onExit);
        resolve(v as T);
      },
      reject: (e) => {
        child.off('exit', onExit);
        reject(e);
      },
      timer,
    });
    child.once('exit', onExit);
    child.send({ kind: 'req', id, type, body } satisfies RequestMsg);
  });
}

/** Listens to a child's one-way events of one type. */
export function onEvent(child: ChildProcess, type: string, handler: (body: unknown) => void): void {
  watch(child);
  let map = eventHandlers.get(child);
  if (!map) eventHandlers.set(child, (map = new Map()));
  map.set(type, handler);
}

/** Sends a one-way event to a child. */
export function sendEvent(child: ChildProcess, type: string, body: unknown): void {
  child.send({ kind: 'event', type, body } satisfies EventMsg);
}

export type Handler = (body: never) => unknown;

/**
 * In a child: answers requests with `handlers[type](body)`, passes events to `events[type]`,
 * exits when the parent disconnects. `keepAlive: false` unrefs the channel so it does not hold
 * the process open (servers that must be able to exit on SIGTERM).
 */
export function serveIpc(handlers: Record<string, Handler>, events: Record<string, Handler> = {}, keepAlive = true): void {
  if (!process.send) throw new Error('this script must be started with an IPC channel (by a benchmark)');
  process.on('message', (raw: unknown) => {
    const msg = raw as Msg;
    if (msg.kind === 'event') {
      (events[msg.type] as ((b: unknown) => void) | undefined)?.(msg.body);
      return;
    }
    if (msg.kind !== 'req') return;
    const handler = handlers[msg.type] as ((b: unknown) => unknown) | undefined;
    const reply = (r: Omit<ReplyMsg, 'kind' | 'id'>): void => {
      if (process.connected) process.send!({ kind: 'reply', id: msg.id, ...r } satisfies ReplyMsg);
    };
    if (!handler) {
      reply({ ok: false, error: `unknown request '${msg.type}'` });
      return;
    }
    Promise.resolve()
      .then(() => handler(msg.body))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  if (!keepAlive) (process.channel as { unref?: () => void } | undefined)?.unref?.();
}

/** In a child: sends a one-way event to the parent. */
export function emit(type: string, body: unknown): void {
  if (process.connected) process.send!({ kind: 'event', type, body } satisfies EventMsg);
}
