import { z } from 'zod';
import { LIMITS } from '../domain/validation.js';
import { findJsonProblem, unstorableStringReason } from '../lib/json-limits.js';

/**
 * Request-body schemas for what a client asks the node to store: refused at the edge with 400
 * VALIDATION_FAILED and the field's path, by the same rules the domain enforces again
 * (domain/validation.ts, lib/json-limits.ts), so SQLite and PostgreSQL see the same input.
 */

/** Text the database keeps exactly: no NUL, no lone UTF-16 surrogate, at most `max` characters. */
export function storableText(max: number) {
  return z
    .string()
    .max(max)
    .superRefine((value, ctx) => {
      const reason = unstorableStringReason(value);
      if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
    });
}

/** Application JSON (post meta): an object, nested at most LIMITS.metaDepth deep, finite numbers, storable strings. */
export const storableJsonObject = z
  .record(z.string(), z.unknown())
  .superRefine((value, ctx) => {
    const problem = findJsonProblem(value, { maxDepth: LIMITS.metaDepth, storableStrings: true });
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem.reason, path: problem.path === '' ? [] : [problem.path] });
  })
  .describe(`Application JSON: an object, nested at most ${LIMITS.metaDepth} levels`);
