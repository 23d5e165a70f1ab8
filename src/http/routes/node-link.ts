/**
 * Node links over SSE + HTTP (docs/network.md, "Transports"): for servers with WebSocket
 * turned off, or clients that ask. GET /api/v1/nodes/link/events streams the server's messages
 * (the first one names the link), POST /api/v1/nodes/link/{linkId}/messages carries the
 * client's. Both need a client node's session token as a Bearer header; the link must be that
 * node's. The link itself is src/network/link-server.ts; this file only moves bytes.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MycelError } from '../../errors.js';
import { actorOf, readCredential } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, SECURED, withErrors } from '../schemas.js';

const linkParams = z.object({ linkId: z.uuid().describe('The link id the event stream named in its first event') });
const messagesBody = z.object({
  messages: z.array(z.record(z.string(), z.unknown())).min(1).max(10_000).describe('Link messages (objects with `t`), in order'),
});
const accepted = z.object({ accepted: z.number().int().describe('Messages taken, in order') });

export const nodeLinkRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { nodeLinks, config }) => {
  const tags = ['nodes'];

  /** The link server and the caller's principal: a client node's Bearer session only. */
  const principalOf = async (request: Parameters<typeof actorOf>[0]) => {
    const actor = actorOf(request);
    if (actor.kind !== 'node') throw new MycelError('FORBIDDEN', { action: 'node link', reason: 'only a client node session opens a node link' });
    const credential = readCredential(request);
    if (!credential || credential.source !== 'bearer') throw new MycelError('UNAUTHENTICATED', { reason: 'a node link needs `Authorization: Bearer <session token>`' });
    if (!nodeLinks) throw new MycelError('NOT_READY', { reason: 'node links are not served by this instance' });
    return { server: nodeLinks, principal: await nodeLinks.authenticate(credential.token) };
  };

  app.get(
    '/api/v1/nodes/link/events',
    {
      schema: {
        tags,
        operationId: 'nodeLinkEvents',
        summary: 'Open a node link over SSE (client nodes)',
        description:
          'A text/event-stream of link messages from this node, one JSON message per `data:` line; the first is `{"t":"link","linkId":…}`. The client sends its messages to POST /api/v1/nodes/link/{linkId}/messages. See docs/network.md.',
        security: SECURED,
        response: withErrors({ 200: z.string().describe('text/event-stream') }, AUTH_ERRORS),
      },
    },
    async (request, reply) => {
      const { server, principal } = await principalOf(request);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      res.socket?.setNoDelay(true);
      const pipe = server.openSse(principal, {
        write: (text) => {
          if (!res.writableEnded) res.write(text);
        },
        end: () => {
          if (!res.writableEnded) res.end();
        },
        get writableLength() {
          return res.writableLength;
        },
      });
      res.once('close', () => pipe.ended());
    },
  );

  app.post(
    '/api/v1/nodes/link/:linkId/messages',
    {
      bodyLimit: config.network.maxMessageBytes + 64 * 1024,
      schema: {
        tags,
        operationId: 'nodeLinkMessages',
        summary: 'Send messages on a node link opened over SSE (client nodes)',
        security: SECURED,
        params: linkParams,
        body: messagesBody,
        response: withErrors({ 202: accepted }, [...AUTH_ERRORS, 404, 413, 415]),
      },
    },
    async (request, reply) => {
      const { server, principal } = await principalOf(request);
      const texts = request.body.messages.map((m) => JSON.stringify(m));
      server.deliver(principal, request.params.linkId, texts);
      return reply.code(202).send({ accepted: texts.length });
    },
  );
};
