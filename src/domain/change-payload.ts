import type { z } from 'zod';
import { MycelError } from '../errors.js';
import type { Change } from '../model/content.js';

/*
 * Reading a change's payload against the schema of its type and version: shared by apply.ts
 * and apply-compute.ts. A change may come from another node, so it is untrusted input.
 */

/** What a failing change is reported with: where it is in the log and what it is. */
export function about(change: Change): Record<string, unknown> {
  return { serial: change.serial, originNodeId: change.originNodeId, originSerial: change.originSerial, type: change.type };
}

export function invalidChange(change: Change, reason: string, extra: Record<string, unknown> = {}): MycelError {
  return new MycelError('CHANGE_INVALID', { ...about(change), reason, ...extra }, `change ${change.serial} (${change.type}) cannot be applied: ${reason}`);
}

/** The payload of `change` checked against `versions[payloadVersion]`: CHANGE_UNSUPPORTED / CHANGE_INVALID. */
export function parseVersionedPayload<T>(change: Change, versions: Record<number, z.ZodType>): T {
  const schema = Object.hasOwn(versions, change.payloadVersion) ? versions[change.payloadVersion] : undefined;
  if (schema === undefined) {
    throw new MycelError(
      'CHANGE_UNSUPPORTED',
      { ...about(change), payloadVersion: change.payloadVersion },
      `change ${change.serial}: ${change.type} payload version ${String(change.payloadVersion)} is not known to this node`,
    );
  }
  const parsed = schema.safeParse(change.payload);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    const first = issues[0]!;
    throw invalidChange(change, `payload ${first.path || '(root)'}: ${first.message}`, { issues });
  }
  return parsed.data as T;
}
