/**
 * What every Bus refuses to publish, alike on every back-end: a message it could not encode
 * faithfully. Redis encodes each message as JSON, so a value nested past the encoder's stack or
 * holding a non-finite number failed (or was altered) there; the memory back-end kept the object
 * as it was and broke later, when the Hub encoded it for each subscriber and when history
 * answered, so one publication stopped a channel. Checking here, before anything is appended or
 * fanned out, keeps the two back-ends the same and a bad value out of every stream. Input is
 * held to the lower client limits before it gets here; only a bug reaches this check.
 */
import { MycelError } from '../errors.js';
import { findJsonProblem, MAX_ENCODED_DEPTH } from '../lib/json-limits.js';
import type { BusMessage } from './types.js';

export function checkBusMessage(message: BusMessage): void {
  const problem = findJsonProblem(message, { maxDepth: MAX_ENCODED_DEPTH });
  if (problem !== null) {
    throw new MycelError('VALIDATION_FAILED', { field: problem.path, reason: problem.reason }, `bus message ${problem.path}: ${problem.reason}`);
  }
}
