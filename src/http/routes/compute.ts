/**
 * Federated compute over REST (docs/compute.md "REST API"). Three kinds of caller, each with its
 * own proof:
 *
 * - the owner (owner session): POST /api/v1/compute/invitations;
 * - a further aggregation node: POST /api/v1/compute/nodes (the invitation is the proof);
 * - a compute client: POST /api/v1/compute/join (the invitation is the proof), then
 *   GET /client, /poll, /tasks/{id}/lease (renewal), /tasks/{id}/result and /tasks/{id}/failure, each signed with its Ed25519 key
 *   (lib/signed-request.ts) over the exact bytes of the body, which this plugin's JSON parser
 *   keeps for the check (the routes declare `auth: 'none'`: no session or JWT applies);
 * - a workbench: the project token as `Authorization: Bearer` (never in the URL) on
 *   /jobs, /jobs/{id}, /jobs/{id}/result and /datasources.
 *
 * The node answers these only when it runs the compute service (compute.mode node or
 * standalone); otherwise 404 COMPUTE_NOT_ENABLED with the reason (a setting, not a passing state).
 */
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { leaseRenewalBody, taskFailureBody, taskResultBody } from '../../compute/client-requests.js';
import type { ComputeService } from '../../compute/compute-service.js';
import type { SignedRequest } from '../../domain/compute-clients.js';
import { INVITATION_KINDS, MAX_INVITATION_TTL_SECONDS } from '../../domain/compute-clients.js';
import { MycelError } from '../../errors.js';
import type { HttpContext } from '../context.js';
import { charsetRefusal, duplicateKeyRefusal } from '../json-body.js';
import { apiSchemas, AUTH_ERRORS, noContent, PUBLIC, SECURED, uuid, withErrors } from '../schemas.js';

/** Bodies a client signs: a task output or a join is bounded by the domain at 1 MiB of JSON; a little room for the envelope. */
const CLIENT_BODY_LIMIT = 2 * 1024 * 1024;
/** Results up to this size are read (and so verified) whole before the answer starts. */
const VERIFY_RESULT_BEFORE_SEND_BYTES = 8 * 1024 * 1024;
/** A plan is small; 1 MiB is the domain's bound too. */
const PLAN_BODY_LIMIT = 1024 * 1024;

const timeMs = z.number().int().describe('Milliseconds since the Unix epoch (UTC)');
const anyJson = z.unknown();

const jobSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    datasource: z.string(),
    plan: anyJson,
    status: z.enum(['queued', 'running', 'done', 'failed', 'partial']),
    round: z.number().int(),
    maxAttempts: z.number().int(),
    leaseSeconds: z.number().int(),
    submittedBy: z.string(),
    createdAt: timeMs,
    updatedAt: timeMs,
    error: anyJson.describe('Why it failed or is partial: `{ reason, failures: [{ taskId, round, clientId, error }] }`; null otherwise'),
  })
  .register(apiSchemas, { id: 'ComputeJob', description: 'A compute job (its result is read from /result)' });

const taskStatusSchema = z.object({
  id: z.string(),
  round: z.number().int(),
  clientId: z.string(),
  clientName: z.string().nullable(),
  status: z.enum(['queued', 'leased', 'done', 'failed']),
  attempts: z.number().int(),
  leaseExpiresAt: timeMs.nullable(),
  error: anyJson,
});

const jobIdParams = z.object({ jobId: uuid });
const taskIdParams = z.object({ taskId: uuid });

const joinBody = z.object({
  invitation: z.string().min(1).max(256).describe('The invitation secret (`mci_…`), used once'),
  name: z.string().min(1).max(255).describe('The client\'s name, shown to the owner and in job status'),
  publicKey: z.string().describe('Its Ed25519 public key, raw 32 bytes in base64url'),
  datasources: z
    .array(
      z.object({
        name: z.string(),
        type: z.string(),
        proofs: z.array(z.string()).describe('HMAC-SHA256(project token, "mycel-compute-bind-v1\\n" + publicKey + "\\n" + name) in base64url, one per project'),
        schema: z
          .object({ columns: z.array(z.object({ name: z.string(), type: z.string(), numeric: z.boolean() })), rows: z.number().int() })
          .optional()
          .describe('Columns, types and row count (never a value), shown to the projects the datasource is bound to'),
      }),
    )
    .max(1000),
});

const leasedTaskSchema = z
  .object({
    task: z.object({ id: z.string(), jobId: z.string(), round: z.number().int(), datasource: z.string(), input: anyJson, attempts: z.number().int() }),
    leaseId: z.string(),
    leaseExpiresAt: timeMs,
    leaseSeconds: z.number().int().positive().describe('The lease length: a client renews the lease (POST /tasks/{id}/lease) well within it while the task runs'),
    project: z.string().describe('The project the job belongs to: the client runs it only on a datasource bound to it'),
  })
  .register(apiSchemas, { id: 'ComputeLeasedTask', description: 'A task leased to the calling client' });

const outcomeSchema = z.object({ status: z.enum(['queued', 'leased', 'done', 'failed']), roundComplete: z.boolean() });

/** The raw JSON text of each request of this plugin, for the signature check. */
const rawBodies = new WeakMap<FastifyRequest, string>();

/** The project token of a workbench request: `Authorization: Bearer <token>` only. */
function projectToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer[ ]+([^\s]{1,4096})\s*$/i.exec(header);
  if (!match) throw new MycelError('PROJECT_TOKEN_INVALID', { reason: 'send the project token as `Authorization: Bearer <token>`' });
  return match[1]!;
}

export interface ComputeRouteOptions extends HttpContext {
  compute?: ComputeService | undefined;
}

export const computeRoutes: FastifyPluginAsyncZod<ComputeRouteOptions> = async (app, { core, config, compute, blobs, blobFetcher }) => {
  // This plugin's JSON parser keeps the text (the signature covers the bytes sent), behind the
  // same charset and duplicate-key checks as the app's.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetRefusal(request);
    if (charset !== null) return done(new MycelError('UNSUPPORTED_MEDIA_TYPE', { reason: charset }), undefined);
    const text = body as string;
    const duplicate = duplicateKeyRefusal(text);
    if (duplicate !== null) return done(new MycelError('BAD_JSON', { key: duplicate.key }, duplicate.message), undefined);
    rawBodies.set(request, text);
    parseJson(request, text, done);
  });

  const service = (): ComputeService => {
    if (!compute) throw new MycelError('COMPUTE_NOT_ENABLED', { reason: `this node does not run federated compute (compute.mode is ${config.compute.mode}; node or standalone serves it)` });
    return compute;
  };
  /**
   * The client a signed request comes from (SIGNATURE_* otherwise), and the request as it
   * arrived: on a task of another node's job it goes to the job's origin, which checks it too.
   */
  const signedClient = async (request: FastifyRequest) => {
    service();
    const proof: SignedRequest = { method: request.method, path: request.url, body: rawBodies.get(request) ?? '', headers: request.headers };
    return { client: await core.compute.clients.authenticate(proof), proof };
  };

  app.post(
    '/api/v1/compute/invitations',
    {
      config: { auth: 'owner' },
      schema: {
        tags: ['compute'],
        operationId: 'createComputeInvitation',
        summary: 'Issue a single-use invitation for a compute client (owner); the secret is shown once',
        security: SECURED,
        body: z
          .object({
            ttlSeconds: z.number().int().min(60).max(MAX_INVITATION_TTL_SECONDS).optional().describe('Default 86400 (one day); at most 30 days'),
            kind: z.enum(INVITATION_KINDS).optional().describe('`client` (default, `mci_…`): a compute client joins with it; `node` (`mcn_…`): a further aggregation node, registered as a read-only child that pulls this node'),
          })
          .optional(),
        response: withErrors({ 201: z.object({ id: z.string(), secret: z.string().describe('Shown once: give it to the client (compute.join.invitation)'), expiresAt: timeMs }) }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request, reply) => {
      service();
      const issued = await core.compute.clients.createInvitation(request.auth!.actor, request.body?.ttlSeconds ?? 86_400, request.body?.kind ?? 'client');
      return reply.code(201).send(issued);
    },
  );

  app.post(
    '/api/v1/compute/join',
    {
      config: { auth: 'none' },
      bodyLimit: CLIENT_BODY_LIMIT,
      schema: {
        tags: ['compute'],
        operationId: 'joinCompute',
        summary: 'A compute client joins with an invitation, its public key and its datasources\' binding proofs',
        security: PUBLIC,
        body: joinBody,
        response: withErrors(
          {
            201: z.object({
              clientId: z.string(),
              name: z.string(),
              datasources: z.array(z.object({ name: z.string(), projects: z.array(z.string()).describe('The projects whose jobs it will run') })),
            }),
          },
          [400, 401, 403, 404, 409, 413, 500, 503],
        ),
      },
    },
    async (request, reply) => {
      service();
      const b = request.body;
      const client = await core.compute.clients.join({
        invitationSecret: b.invitation,
        name: b.name,
        publicKey: b.publicKey,
        datasources: b.datasources.map((d) => ({ name: d.name, type: d.type, proofs: d.proofs, ...(d.schema ? { schema: d.schema } : {}) })),
      });
      return reply.code(201).send({ clientId: client.id, name: client.name, datasources: client.datasources.map((d) => ({ name: d.name, projects: d.projects })) });
    },
  );

  app.post(
    '/api/v1/compute/nodes',
    {
      config: { auth: 'none' },
      bodyLimit: 4096,
      schema: {
        tags: ['compute'],
        operationId: 'joinComputeNode',
        summary: 'A further aggregation node joins with an invitation: registered here as a read-only child node under the password it sends, so it pulls this node and relays its clients\' operations',
        security: PUBLIC,
        body: z.object({
          invitation: z.string().min(1).max(256).describe('A node invitation secret (`mcn_…`, POST /invitations with kind node), used once'),
          nodeId: uuid.describe('The joining node\'s id'),
          password: z.string().min(1).max(1024).describe('The password it will log in with (POST /api/v1/nodes/session); stored here as a slow hash'),
        }),
        response: withErrors({ 201: z.object({ nodeId: z.string(), role: z.literal('child'), writeAccess: z.literal('read-only') }) }, [400, 401, 404, 409, 413, 500, 503]),
      },
    },
    async (request, reply) => {
      service();
      const node = await core.compute.clients.joinNode({ invitationSecret: request.body.invitation, nodeId: request.body.nodeId, password: request.body.password });
      return reply.code(201).send({ nodeId: node.id, role: 'child' as const, writeAccess: 'read-only' as const });
    },
  );

  app.get(
    '/api/v1/compute/client',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['compute'],
        operationId: 'getComputeClient',
        summary: 'The calling client as this node knows it (signed, empty body): its registration, the node it joined, its bindings. A client checks with it that another node of the network knows it',
        security: PUBLIC,
        response: withErrors(
          {
            200: z
              .object({
                clientId: z.string(),
                name: z.string(),
                originNodeId: z.string().describe('The node it joined: its jobs are that node\'s, relayed there by any other'),
                datasources: z.array(z.object({ name: z.string(), projects: z.array(z.string()) })),
              })
              .register(apiSchemas, { id: 'ComputeClientSelf' }),
          },
          [400, 401, 404, 500, 503],
        ),
      },
    },
    async (request) => {
      const { client } = await signedClient(request);
      return { clientId: client.id, name: client.name, originNodeId: client.originNodeId, datasources: client.datasources.map((d) => ({ name: d.name, projects: d.projects })) };
    },
  );

  app.post(
    '/api/v1/compute/poll',
    {
      config: { auth: 'none' },
      bodyLimit: 4096,
      schema: {
        tags: ['compute'],
        operationId: 'pollComputeTask',
        summary: 'A client\'s next task with its lease (signed); waits up to compute.heartbeatSeconds, 204 when none came',
        security: PUBLIC,
        body: z.object({}).optional(),
        response: withErrors({ 200: leasedTaskSchema, 204: noContent }, [400, 401, 404, 409, 500, 503]),
      },
    },
    async (request, reply) => {
      const { client, proof } = await signedClient(request);
      // The wait ends early when the client goes away: the response closes before it is sent
      // (the request's own 'close' fires as soon as its body is read), or the client's end of the
      // connection is shut (a killed process: the full close comes a loop turn later).
      const abort = new AbortController();
      const onClose = () => abort.abort();
      const socket = request.raw.socket as typeof request.raw.socket | null;
      reply.raw.once('close', onClose);
      socket?.once('end', onClose);
      if (socket?.readableEnded || socket?.destroyed) abort.abort();
      try {
        const leased = await service().pollTask(client.id, config.compute.heartbeatSeconds * 1000, abort.signal, proof);
        if (!leased) return reply.code(204).send(null);
        if (abort.signal.aborted) {
          // Leased as the connection closed: nobody will run it under this lease.
          await service().returnLease(client.id, leased.task.id, leased.leaseId, proof);
          return reply.code(204).send(null);
        }
        const t = leased.task;
        return reply.code(200).send({
          task: { id: t.id, jobId: t.jobId, round: t.round, datasource: t.datasource, input: t.input, attempts: t.attempts },
          leaseId: leased.leaseId,
          leaseExpiresAt: leased.leaseExpiresAt,
          leaseSeconds: leased.job.leaseSeconds,
          project: leased.job.projectName,
        });
      } finally {
        reply.raw.off('close', onClose);
        socket?.off('end', onClose);
      }
    },
  );

  app.post(
    '/api/v1/compute/tasks/:taskId/lease',
    {
      config: { auth: 'none' },
      bodyLimit: 4096,
      schema: {
        tags: ['compute'],
        operationId: 'renewComputeLease',
        summary: 'A client extends the lease of a task it is still running by the lease length from now (signed; the current, unexpired lease only)',
        security: PUBLIC,
        params: taskIdParams,
        body: leaseRenewalBody,
        response: withErrors({ 200: z.object({ leaseExpiresAt: timeMs }).register(apiSchemas, { id: 'ComputeLeaseRenewed' }) }, [400, 401, 404, 409, 500, 503]),
      },
    },
    async (request) => {
      const { client, proof } = await signedClient(request);
      const { leaseExpiresAt } = await service().renewLease(client.id, request.params.taskId, request.body.leaseId, proof);
      return { leaseExpiresAt };
    },
  );

  app.post(
    '/api/v1/compute/tasks/:taskId/result',
    {
      config: { auth: 'none' },
      bodyLimit: CLIENT_BODY_LIMIT,
      schema: {
        tags: ['compute'],
        operationId: 'completeComputeTask',
        summary: 'A client sends a task\'s output (signed; the current lease only)',
        security: PUBLIC,
        params: taskIdParams,
        body: taskResultBody,
        response: withErrors({ 200: outcomeSchema }, [400, 401, 404, 409, 413, 500, 503]),
      },
    },
    async (request) => {
      const { client, proof } = await signedClient(request);
      const outcome = await service().completeTask(client.id, request.params.taskId, request.body.leaseId, request.body.output, proof);
      return { status: outcome.task.status, roundComplete: outcome.roundComplete };
    },
  );

  app.post(
    '/api/v1/compute/tasks/:taskId/failure',
    {
      config: { auth: 'none' },
      bodyLimit: CLIENT_BODY_LIMIT,
      schema: {
        tags: ['compute'],
        operationId: 'failComputeTask',
        summary: 'A client reports a task\'s typed error (signed; the current lease only); the failure is final',
        security: PUBLIC,
        params: taskIdParams,
        body: taskFailureBody,
        response: withErrors({ 200: outcomeSchema }, [400, 401, 404, 409, 413, 500, 503]),
      },
    },
    async (request) => {
      const { client, proof } = await signedClient(request);
      const outcome = await service().failTask(client.id, request.params.taskId, request.body.leaseId, request.body.error, proof);
      return { status: outcome.task.status, roundComplete: outcome.roundComplete };
    },
  );

  const WORKBENCH = [{ bearerAuth: [] }];
  const WORKBENCH_ERRORS = [400, 401, 404, 500, 503] as const;

  app.post(
    '/api/v1/compute/jobs',
    {
      config: { auth: 'none' },
      bodyLimit: PLAN_BODY_LIMIT,
      schema: {
        tags: ['compute'],
        operationId: 'submitComputeJob',
        summary: 'Submit a plan (project token as bearer); refused before anything runs when an operation or parameter is wrong',
        security: WORKBENCH,
        body: anyJson.describe('The plan (docs/compute.md "The plan")'),
        response: withErrors({ 201: z.object({ job: jobSchema }) }, [400, 401, 404, 409, 413, 500, 503]),
      },
    },
    async (request, reply) => {
      const token = projectToken(request);
      const job = await service().submit(token, request.body);
      const { result: _r, resultBlobSha256: _b, originNodeId: _o, ...shown } = job;
      return reply.code(201).send({ job: shown });
    },
  );

  app.get(
    '/api/v1/compute/jobs/:jobId',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['compute'],
        operationId: 'getComputeJob',
        summary: 'A job\'s status with each task: its client, status, attempts and error (project token as bearer)',
        security: WORKBENCH,
        params: jobIdParams,
        response: withErrors({ 200: z.object({ job: jobSchema, project: z.string(), tasks: z.array(taskStatusSchema) }) }, WORKBENCH_ERRORS),
      },
    },
    async (request) => {
      const token = projectToken(request);
      service();
      const view = await core.compute.queue.jobStatus({ token }, request.params.jobId);
      const { result: _r, resultBlobSha256: _b, originNodeId: _o, ...shown } = view.job;
      return { job: shown, project: view.projectName, tasks: view.tasks };
    },
  );

  app.get(
    '/api/v1/compute/jobs/:jobId/result',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['compute'],
        operationId: 'getComputeJobResult',
        summary: 'A job\'s result (aggregates, never rows); null until it finishes. RESOURCE_DOWNLOAD_DISABLED when the node forbids downloads',
        security: WORKBENCH,
        params: jobIdParams,
        response: withErrors(
          {
            200: z.object({
              jobId: z.string(),
              status: jobSchema.shape.status,
              resultBlob: z.string().nullable().describe('The result\'s blob (`sha256://…`) when the node stores results as blobs; null otherwise'),
              error: anyJson,
              result: anyJson,
            }),
          },
          [...WORKBENCH_ERRORS, 403],
        ),
      },
    },
    async (request, reply) => {
      const token = projectToken(request);
      service();
      // The token first (PROJECT_TOKEN_INVALID), then the node's rule, then the job.
      await core.compute.projects.byToken(token);
      if (!config.compute.allowResourceDownload) throw new MycelError('RESOURCE_DOWNLOAD_DISABLED', { jobId: request.params.jobId });
      const view = await core.compute.queue.jobStatus({ token }, request.params.jobId);
      const sha256 = view.job.resultBlobSha256;
      if (sha256 === null) return { jobId: view.job.id, status: view.job.status, resultBlob: null, error: view.job.error, result: view.job.result };
      // The result is a blob (up to 64 MiB): its bytes are canonical JSON, streamed as the last
      // member of the same JSON answer. A replica lacking them fetches them from other nodes.
      if (!blobs) throw new MycelError('NOT_READY', { reason: 'no blob store' });
      let size = await blobs.size(sha256);
      if (size === null && (await blobFetcher?.fetchMissing(sha256))) size = await blobs.size(sha256);
      if (size === null) throw new MycelError('BLOB_NOT_FOUND', { sha256, jobId: view.job.id });
      const head = Buffer.from(`{"jobId":${JSON.stringify(view.job.id)},"status":${JSON.stringify(view.job.status)},"resultBlob":"sha256://${sha256}","error":${JSON.stringify(view.job.error)},"result":`);
      const tail = Buffer.from('}');
      const stream = await blobs.read(sha256);
      reply.type('application/json; charset=utf-8');
      if (size <= VERIFY_RESULT_BEFORE_SEND_BYTES) {
        // A whole read checks the hash: a damaged blob answers BLOB_CORRUPT, not a broken body.
        const chunks: Buffer[] = [head];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        chunks.push(tail);
        return reply.send(Buffer.concat(chunks) as never);
      }
      // A damaged large blob is caught at its end: the stream fails and the connection is cut.
      async function* body(): AsyncGenerator<Buffer> {
        yield head;
        for await (const chunk of stream) yield chunk as Buffer;
        yield tail;
      }
      return reply.send(Readable.from(body()) as never);
    },
  );

  app.get(
    '/api/v1/compute/datasources',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['compute'],
        operationId: 'listComputeDatasources',
        summary: 'The datasources bound to the project: each client\'s columns, types and row count, never a value (project token as bearer)',
        security: WORKBENCH,
        response: withErrors(
          {
            200: z.object({
              project: z.string(),
              datasources: z.array(
                z.object({
                  name: z.string(),
                  type: z.string(),
                  client: z.object({ id: z.string(), name: z.string() }),
                  columns: z.array(z.object({ name: z.string(), type: z.string(), numeric: z.boolean() })).nullable().describe('Null when the client sent no schema'),
                  rows: z.number().int().nullable(),
                }),
              ),
            }),
          },
          WORKBENCH_ERRORS,
        ),
      },
    },
    async (request) => {
      const token = projectToken(request);
      service();
      const project = await core.compute.projects.byToken(token);
      const datasources = [];
      for (const client of await core.storage.listComputeClients()) {
        if (client.originNodeId !== core.node.id) continue;
        for (const d of client.datasources) {
          if (!d.projects.includes(project.name)) continue;
          datasources.push({ name: d.name, type: d.type, client: { id: client.id, name: client.name }, columns: d.schema?.columns ?? null, rows: d.schema?.rows ?? null });
        }
      }
      return { project: project.name, datasources };
    },
  );
};
