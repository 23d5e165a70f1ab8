/**
 * The bodies of a compute client's signed reports (renewal, result, failure): one definition for
 * the REST routes (src/http/routes/compute.ts) and for the origin's check of a report a replica
 * relayed (relayed-task-op.ts), so both read a client's bytes the same way.
 */
import { z } from 'zod';

export const taskErrorSchema = z
  .object({ code: z.string().min(1).max(64), message: z.string().max(2000), details: z.unknown().optional() })
  .describe('The typed error the task ended with (code, message, details)');

export const leaseRenewalBody = z.object({ leaseId: z.string().min(1).max(64) });
export const taskResultBody = z.object({ leaseId: z.string().min(1).max(64), output: z.unknown() });
export const taskFailureBody = z.object({ leaseId: z.string().min(1).max(64), error: taskErrorSchema });
