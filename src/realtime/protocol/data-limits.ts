/**
 * The JSON limits (lib/json-limits.ts) applied where client JSON enters the realtime layer: the
 * `data` of commands, the server API's publication data, token claims. A value past them is the
 * client's mistake and is answered 107 (bad request) before anything is registered, stored or
 * fanned out; without this, a value JSON.parse accepts could break encoding for every
 * subscriber of a channel (docs/protocol.md, "Limits").
 */
import { findJsonProblem } from '../../lib/json-limits.js';
import { ERRORS, ReplyError } from './codes.js';
import type { Command } from './frames.js';

/** Why `value` breaks the JSON limits (`field` names it in the message), or null. */
export function clientJsonProblem(value: unknown, field: string): string | null {
  const problem = findJsonProblem(value, {}, field);
  return problem === null ? null : `${problem.path}: ${problem.reason}`;
}

/** Throws ReplyError 107 when a command's client JSON breaks the limits. */
export function checkCommandData(cmd: Command): void {
  switch (cmd.method) {
    case 'connect':
    case 'subscribe':
    case 'publish':
    case 'rpc':
    case 'send': {
      const problem = clientJsonProblem(cmd.params.data, 'data');
      if (problem !== null) throw new ReplyError(ERRORS.badRequest, `bad request: ${problem}`);
      return;
    }
    default:
      return;
  }
}
