import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MycelError } from '../../errors.js';
import type { HttpContext } from '../context.js';
import { sendError } from '../errors.js';
import { PUBLIC, withErrors } from '../schemas.js';

/** How long /readyz waits for the database (or another back-end's check) before calling the node not ready. */
const STORAGE_TIMEOUT_MS = 2000;

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz (the process answers) and /readyz (the node can serve: storage answers, every other
 * back-end's readiness check passes, not shutting down).
 */
export const healthRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core, isShuttingDown, readinessChecks }) => {
  app.get(
    '/healthz',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['health'],
        operationId: 'liveness',
        summary: 'Liveness: the process answers HTTP',
        security: PUBLIC,
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['health'],
        operationId: 'readiness',
        summary: 'Readiness: the database answers, the other back-ends (Redis) are up, and the node is not shutting down',
        security: PUBLIC,
        response: withErrors({ 200: z.object({ status: z.literal('ready') }) }, [503]),
      },
    },
    async (request, reply) => {
      if (isShuttingDown()) throw new MycelError('SHUTTING_DOWN');
      try {
        await withTimeout(core.storage.schemaVersion(), STORAGE_TIMEOUT_MS);
      } catch (err) {
        throw new MycelError('NOT_READY', { reason: 'the database does not answer', check: 'database' }, undefined, { cause: err });
      }
      for (const check of readinessChecks) {
        let state;
        try {
          state = await withTimeout(Promise.resolve(check.check()), STORAGE_TIMEOUT_MS);
        } catch (err) {
          throw new MycelError('NOT_READY', { reason: `${check.name} does not answer`, check: check.name }, undefined, { cause: err });
        }
        // The check's own log reported the outage once; a probe every few seconds must not log it again.
        // Its reason is written for the public, so it is sent as it is.
        if (!state.ready) return sendError(reply, new MycelError('NOT_READY', { check: check.name, reason: state.reason, requestId: request.id }));
      }
      return { status: 'ready' as const };
    },
  );
};
