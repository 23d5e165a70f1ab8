/**
 * The authorisation matrix: every route of the OpenAPI document (plus the WebSocket endpoints,
 * which are not HTTP routes) × every kind of principal × open/closed channel, with the expected
 * answer in one table. The table must match the document both ways: a new route without a row
 * fails, and so does a row whose route is gone.
 *
 * It runs against a real `mycel serve` process (the node as assembled for production) on
 * SQLite. Besides the status, every answer to a principal without owner rights is searched for
 * ids and labels of things in the closed channel that the request did not name itself: a
 * status can be right while the body leaks.
 *
 * Columns (PRINCIPALS): no credential; a bearer token nobody issued; an expired application JWT;
 * an application user's JWT as bearer; the same JWT in the session cookie; an owner session as
 * bearer; the owner session in the cookie (with our Origin); the server API key (X-API-Key).
 * Realtime connection endpoints take the bearer token, if the principal has one, as the
 * connect token, and their cells name the first thing the connection receives:
 * `connect`, `error <code>` or `disconnect <code>`.
 *
 * Scopes: `open` — the resources are in a channel open to users; `closed` — in a channel whose
 * namespace gives users nothing (`history: owner` and the rest); `mixed` — a user's post in an
 * open channel linked to a post in the closed one (links only).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { createComputeKeyPair } from '../../src/lib/signed-request.js';
import { API_METHODS } from '../../src/realtime/server-api.js';
import { startMycel, type ServingNode } from '../helpers/process.js';

const API_KEY = 'authz-matrix-api-key-0123456789abcdef';
const PASSWORD = 'authz-matrix-owner-pw';
/** A client node registered before the rows run. */
const NODE_ID = randomUUID();
const NODE_PASSWORD = 'authz-matrix-node-pw';

const PRINCIPALS = ['none', 'bad', 'expired', 'user', 'userCookie', 'owner', 'ownerCookie', 'apiKey'] as const;
type Principal = (typeof PRINCIPALS)[number];
/** May see everything: the leak check does not apply to them. */
const PRIVILEGED: ReadonlySet<Principal> = new Set(['owner', 'ownerCookie', 'apiKey']);

type Scope = 'open' | 'closed' | 'mixed';
/** An HTTP status, or for realtime connection endpoints the first message (`connect`, `error N`, `disconnect N`). */
type Expected = number | string;
type Cells = readonly [Expected, Expected, Expected, Expected, Expected, Expected, Expected, Expected];

interface Fixture {
  channelId: string;
  /** A post of the channel; in `open` and `mixed` the user's own. */
  postId: string;
  /** The post `postId` links to (in `mixed`: in the closed channel). */
  otherPostId: string;
  /** The link postId → otherPostId. */
  linkId: string;
  /** sha256 hex of a blob the owner uploaded and `postId` refers to. */
  blob: string;
}

interface RequestSpec {
  body?: unknown;
  /** A raw text body (server API pipeline, connect commands). */
  raw?: string;
  query?: string;
}

/** `feed`: the change feed (SSE), read up to its `: live` comment. */
type Kind = 'rest' | 'stream' | 'sse' | 'websocket' | 'feed';

interface Row {
  cells: Cells | Partial<Record<Scope, Cells>>;
  /** What to send; the path's {params} come from the fixture. */
  request?: (f: Fixture, n: number) => RequestSpec;
  /** How to read the answer (default `rest`: status). */
  kind?: Kind;
  /** Not an HTTP route, so not in the OpenAPI document (WebSocket upgrades). */
  notInOpenApi?: boolean;
  /** Values of {method} to try (the server API). */
  each?: readonly string[];
  /** The request ends the owner's session: the owner columns use a session of their own. */
  endsSession?: boolean;
}

const connect = (token: string) => JSON.stringify({ id: 1, connect: { token } });
const uniConnect = (token: string) => JSON.stringify({ token });

// prettier-ignore
const MATRIX: Record<string, Row> = {
  //                                          none  bad   exp   user  uCook owner oCook apiKey
  'GET /':                                 { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'GET /api/v1':                           { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'GET /api/v1/node':                      { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'POST /api/v1/session':                  { cells: [201,  201,  201,  201,  201,  201,  201,  201], request: () => ({ body: { password: PASSWORD } }) },
  'GET /api/v1/session':                   { cells: [401,  401,  401,  200,  401,  200,  200,  401] },
  'DELETE /api/v1/session':                { cells: [401,  401,  401,  204,  401,  204,  204,  401], endsSession: true },
  // Client nodes: their log-in is public (the body carries the credentials); the registry is the owner's.
  'POST /api/v1/nodes/session':            { cells: [201,  201,  201,  201,  201,  201,  201,  201], request: () => ({ body: { nodeId: NODE_ID, password: NODE_PASSWORD } }) },
  // Node links over SSE: only a client node's session opens one (none of these principals is a node).
  'GET /api/v1/nodes/link/events':         { cells: [401,  401,  401,  403,  401,  403,  403,  401] },
  'POST /api/v1/nodes/link/{linkId}/messages': { cells: [401,  401,  401,  403,  401,  403,  403,  401], request: () => ({ body: { messages: [{ t: 'credit', n: 1 }] } }) },
  'GET /api/v1/nodes':                     { cells: [401,  401,  401,  403,  401,  200,  200,  401] },
  'POST /api/v1/nodes':                    { cells: [401,  401,  401,  403,  401,  201,  201,  401], request: () => ({ body: { nodeId: randomUUID(), password: NODE_PASSWORD } }) },
  'GET /api/v1/nodes/{nodeId}':            { cells: [401,  401,  401,  403,  401,  200,  200,  401] },
  'PATCH /api/v1/nodes/{nodeId}':          { cells: [401,  401,  401,  403,  401,  200,  200,  401], request: () => ({ body: { role: 'parent' } }) },
  'DELETE /api/v1/nodes/{nodeId}':         { cells: [401,  401,  401,  403,  401,  204,  204,  401] },
  // The node network's management (owner, or an owner node). Connecting to the discard port adds an entry whose link backs off;
  // the DELETE names an entry nobody added, so the owner gets past authorisation to the service's 404.
  'GET /api/v1/network/status':            { cells: [401,  401,  401,  403,  401,  200,  200,  401] },
  'GET /api/v1/network/servers':           { cells: [401,  401,  401,  403,  401,  200,  200,  401] },
  'POST /api/v1/network/servers':          { cells: [401,  401,  401,  403,  401,  201,  201,  401], request: () => ({ body: { url: 'http://127.0.0.1:9', password: NODE_PASSWORD } }) },
  'DELETE /api/v1/network/servers/{id}':   { cells: [401,  401,  401,  403,  401,  404,  404,  401] },
  'GET /api/v1/channels':                  { cells: [401,  401,  401,  200,  401,  200,  200,  401] },
  'POST /api/v1/channels':                 { cells: [401,  401,  401,  403,  401,  201,  201,  401], request: (_f, n) => ({ body: { name: `open:made${n}` } }) },
  'GET /api/v1/channels/{channelId}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'PATCH /api/v1/channels/{channelId}': { request: () => ({ body: { description: 'changed' } }), cells: {
    open:                                           [401,  401,  401,  403,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'DELETE /api/v1/channels/{channelId}': { cells: {
    open:                                           [401,  401,  401,  403,  401,  204,  204,  401],
    closed:                                         [401,  401,  401,  403,  401,  204,  204,  401] } },
  'GET /api/v1/channels/{channelId}/posts': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'POST /api/v1/channels/{channelId}/posts': { request: () => ({ body: { body: 'hello' } }), cells: {
    open:                                           [401,  401,  401,  201,  401,  201,  201,  401],
    closed:                                         [401,  401,  401,  403,  401,  201,  201,  401] } },
  'GET /api/v1/posts/{postId}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'PATCH /api/v1/posts/{postId}': { request: () => ({ body: { body: 'edited' } }), cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'DELETE /api/v1/posts/{postId}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401] } },
  'GET /api/v1/posts/{postId}/links': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  403,  401,  200,  200,  401],
    mixed:                                          [401,  401,  401,  200,  401,  200,  200,  401] } },
  'POST /api/v1/links': { request: (f) => ({ body: { fromPostId: f.postId, toPostId: f.otherPostId, label: 'again' } }), cells: {
    open:                                           [401,  401,  401,  201,  401,  201,  201,  401],
    closed:                                         [401,  401,  401,  404,  401,  201,  201,  401],
    mixed:                                          [401,  401,  401,  404,  401,  201,  201,  401] } },
  'GET /api/v1/links/{linkId}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  404,  401,  200,  200,  401],
    mixed:                                          [401,  401,  401,  404,  401,  200,  200,  401] } },
  'DELETE /api/v1/links/{linkId}': { cells: {
    open:                                           [401,  401,  401,  204,  401,  204,  204,  401],
    closed:                                         [401,  401,  401,  404,  401,  204,  204,  401],
    mixed:                                          [401,  401,  401,  404,  401,  204,  204,  401] } },
  // A user reads the changes of channels it may read (the leak check reads the feed's whole catch-up).
  // Blobs: anyone authenticated uploads; a blob is readable by the owner, its uploader, and readers of a post referring to it (else 404, no existence oracle).
  'PUT /api/v1/blobs':                     { cells: [401,  401,  401,  201,  401,  201,  201,  401], request: (_f, n) => ({ raw: `blob ${n} ${randomUUID()}` }) },
  'GET /api/v1/blobs/{uri}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  404,  401,  200,  200,  401] } },
  // HEAD routes are not in the OpenAPI document (as for every GET); the blob ones are checked all the same.
  'HEAD /api/v1/blobs/{uri}': { notInOpenApi: true, cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  404,  401,  200,  200,  401] } },
  'GET /api/v1/blobs/{algo}/{hex}': { cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  404,  401,  200,  200,  401] } },
  'HEAD /api/v1/blobs/{algo}/{hex}': { notInOpenApi: true, cells: {
    open:                                           [401,  401,  401,  200,  401,  200,  200,  401],
    closed:                                         [401,  401,  401,  404,  401,  200,  200,  401] } },
  'GET /api/v1/changes':                   { cells: [401,  401,  401,  200,  401,  200,  200,  401] },
  'GET /api/v1/changes/stream':            { kind: 'feed', cells: [401,  401,  401,  200,  401,  200,  200,  401] },
  'GET /api/v1/digest':                    { cells: [401,  401,  401,  403,  401,  200,  200,  401] },
  // Federated compute: invitations are the owner's; clients prove themselves by signature (none of these principals
  // can), joins by an invitation (this one was never issued), workbenches by a project token (none of these is one).
  'POST /api/v1/compute/invitations':      { cells: [401,  401,  401,  403,  401,  201,  201,  401], request: () => ({ body: { ttlSeconds: 600 } }) },
  'POST /api/v1/compute/join':             { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { invitation: 'mci_never-issued', name: 'matrix', publicKey: createComputeKeyPair().publicKey, datasources: [] } }) },
  'POST /api/v1/compute/nodes':            { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { invitation: 'mci_never-issued', nodeId: randomUUID(), password: 'a-node-password-long-enough' } }) },
  'GET /api/v1/compute/client':           { cells: [401,  401,  401,  401,  401,  401,  401,  401] },
  'POST /api/v1/compute/poll':             { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: {} }) },
  'POST /api/v1/compute/tasks/{taskId}/lease':   { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { leaseId: randomUUID() } }) },
  'POST /api/v1/compute/tasks/{taskId}/result':  { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { leaseId: randomUUID(), output: {} } }) },
  'POST /api/v1/compute/tasks/{taskId}/failure': { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { leaseId: randomUUID(), error: { code: 'TASK_FAILED', message: 'x' } } }) },
  'POST /api/v1/compute/jobs':             { cells: [401,  401,  401,  401,  401,  401,  401,  401], request: () => ({ body: { version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'count' }] } }) },
  'GET /api/v1/compute/jobs/{jobId}':      { cells: [401,  401,  401,  401,  401,  401,  401,  401] },
  'GET /api/v1/compute/jobs/{jobId}/result': { cells: [401,  401,  401,  401,  401,  401,  401,  401] },
  'GET /api/v1/compute/datasources':       { cells: [401,  401,  401,  401,  401,  401,  401,  401] },
  'GET /api/v1/openapi.json':              { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'GET /healthz':                          { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'GET /readyz':                           { cells: [200,  200,  200,  200,  200,  200,  200,  200] },
  'GET /metrics':                          { cells: [200,  200,  200,  200,  200,  200,  200,  200] },

  // The Centrifugo-compatible server API: the API key and nothing else.
  'POST /api':                             { cells: [401,  401,  401,  401,  401,  401,  401,  200], request: () => ({ raw: '{"method":"info","params":{}}' }) },
  'POST /api/batch':                       { cells: [401,  401,  401,  401,  401,  401,  401,  200], request: () => ({ body: { commands: [{ info: {} }] } }) },
  'POST /api/{method}':                    { cells: [401,  401,  401,  401,  401,  401,  401,  200], request: () => ({ body: {} }), each: API_METHODS },

  // Realtime connections: the connect token and nothing else (cookies and headers give no identity).
  //                                          none            bad             exp        user       uCook           owner      oCook           apiKey
  'POST /connection/http_stream':          { kind: 'stream', cells: ['disconnect 3501', 'disconnect 3500', 'error 109', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  'GET /connection/sse':                   { kind: 'sse', cells: ['disconnect 3501', 'disconnect 3500', 'error 109', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  'POST /connection/uni_http_stream':      { kind: 'stream', cells: ['disconnect 3501', 'disconnect 3500', 'disconnect 3005', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  'GET /connection/uni_sse':               { kind: 'sse', cells: ['disconnect 3501', 'disconnect 3500', 'disconnect 3005', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  'GET /connection/websocket':             { kind: 'websocket', notInOpenApi: true, cells: ['disconnect 3501', 'disconnect 3500', 'error 109', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  'GET /connection/uni_websocket':         { kind: 'websocket', notInOpenApi: true, cells: ['disconnect 3501', 'disconnect 3500', 'disconnect 3005', 'connect', 'disconnect 3501', 'connect', 'disconnect 3501', 'disconnect 3501'] },
  // Later commands of an emulated connection are addressed by session id, not by credentials.
  'POST /emulation':                       { cells: [404,  404,  404,  404,  404,  404,  404,  404], request: () => ({ raw: JSON.stringify({ session: 'no-such-session', node: instanceId, data: '{}' }) }) },
  'OPTIONS /connection/http_stream':       { cells: [204,  204,  204,  204,  204,  204,  204,  204] },
  'OPTIONS /connection/sse':               { cells: [204,  204,  204,  204,  204,  204,  204,  204] },
  'OPTIONS /connection/uni_http_stream':   { cells: [204,  204,  204,  204,  204,  204,  204,  204] },
  'OPTIONS /connection/uni_sse':           { cells: [204,  204,  204,  204,  204,  204,  204,  204] },
  'OPTIONS /emulation':                    { cells: [204,  204,  204,  204,  204,  204,  204,  204] },
};

let dir: string;
let node: ServingNode;
let instanceId = '';
let ownerToken = '';
const tokens: Partial<Record<Principal, string>> = {};
/** Ids and labels of things in closed channels: no principal without owner rights may be shown one it did not name. */
const hidden = new Set<string>();
let counter = 0;

async function signJwt(claims: Record<string, unknown>, expOffsetSeconds?: number): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (expOffsetSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expOffsetSeconds);
  return jwt.sign(new TextEncoder().encode(API_KEY));
}

async function login(): Promise<string> {
  const res = await fetch(`${node.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

/** A call made to set things up: must succeed. */
async function setup<T>(token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Fresh resources of a scope: channels, posts, a labelled link. */
async function makeFixture(scope: Scope): Promise<Fixture> {
  const n = ++counter;
  const user = tokens.user!;
  const open = await setup<{ id: string }>(ownerToken, 'POST', '/api/v1/channels', { name: `open:c${n}` });
  const closed = await setup<{ id: string }>(ownerToken, 'POST', '/api/v1/channels', { name: `closed:c${n}` });
  hidden.add(closed.id);
  const blobRes = await fetch(`${node.url}/api/v1/blobs`, { method: 'PUT', headers: { authorization: `Bearer ${ownerToken}` }, body: `fixture blob ${n} ${randomUUID()}` });
  assert.ok(blobRes.status === 201, `PUT /api/v1/blobs: ${blobRes.status}`);
  const blob = ((await blobRes.json()) as { sha256: string }).sha256.slice('sha256://'.length);
  const post = (token: string, channelId: string, blobRefs: string[] = []) => setup<{ id: string }>(token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: `post ${n}`, blobRefs });
  let channelId: string;
  let from: { id: string };
  let to: { id: string };
  if (scope === 'closed') {
    channelId = closed.id;
    from = await post(ownerToken, closed.id, [`sha256://${blob}`]);
    to = await post(ownerToken, closed.id);
    hidden.add(from.id);
  } else {
    channelId = open.id;
    from = await post(user, open.id, [`sha256://${blob}`]);
    to = scope === 'open' ? await post(ownerToken, open.id) : await post(ownerToken, closed.id);
  }
  const label = `label-${scope}-${n}`;
  const link = await setup<{ id: string }>(ownerToken, 'POST', '/api/v1/links', { fromPostId: from.id, toPostId: to.id, label });
  if (scope !== 'open') {
    hidden.add(to.id);
    hidden.add(link.id);
    hidden.add(label);
  }
  return { channelId, postId: from.id, otherPostId: to.id, linkId: link.id, blob };
}

const shared = new Map<Scope, Fixture>();
/** Resources for one cell: fresh ones for a scoped request that may change them, else shared ones. */
async function fixtureFor(scope: Scope, method: string, scoped: boolean): Promise<Fixture> {
  if (scoped && method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') return makeFixture(scope);
  let f = shared.get(scope);
  if (!f) shared.set(scope, (f = await makeFixture(scope)));
  return f;
}

function headersOf(principal: Principal, kind: Kind, token: string | undefined): Record<string, string> {
  switch (principal) {
    case 'none':
      return {};
    case 'userCookie':
    case 'ownerCookie':
      return { cookie: `mycel_session=${token}`, origin: node.url };
    case 'apiKey':
      return { 'x-api-key': API_KEY };
    default:
      // Connections carry their token in the connect command; a bearer header beside it is ignored.
      return kind === 'rest' || kind === 'feed' ? { authorization: `Bearer ${token}` } : {};
  }
}

/** The connect token of a principal: its bearer token, if it has one. */
function connectToken(principal: Principal, token: string | undefined): string {
  return principal === 'bad' || principal === 'expired' || principal === 'user' || principal === 'owner' ? token! : '';
}

function outcomeOf(msg: Record<string, unknown>): string {
  const m = (msg.push as Record<string, unknown> | undefined) ?? msg;
  if (m.connect !== undefined) return 'connect';
  if (m.error !== undefined) return `error ${(m.error as { code: number }).code}`;
  if (m.disconnect !== undefined) return `disconnect ${(m.disconnect as { code: number }).code}`;
  return `unexpected ${JSON.stringify(msg).slice(0, 200)}`;
}

interface Answer {
  status: number;
  outcome?: string;
  body: string;
}

/** The status and first message of a streaming response (a line, or an SSE event's data); the stream is then dropped. */
async function firstMessage(url: string, init: RequestInit, sse: boolean): Promise<Answer> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    const res = await fetch(url, { ...init, signal: abort.signal });
    if (res.status !== 200 || !res.body) return { status: res.status, body: await res.text() };
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      const separator = sse ? '\n\n' : '\n';
      const at = buffer.indexOf(separator);
      if (at === -1) continue;
      const piece = buffer.slice(0, at);
      const text = sse
        ? piece.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')
        : piece;
      return { status: 200, outcome: outcomeOf(JSON.parse(text) as Record<string, unknown>), body: text };
    }
    return { status: 200, outcome: 'end', body: buffer };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** The status and the catch-up of the change feed: everything up to its `: live` comment; the stream is then dropped. */
async function feedAnswer(url: string, headers: Record<string, string>): Promise<Answer> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 10_000);
  try {
    const res = await fetch(url, { headers, signal: abort.signal });
    if (res.status !== 200 || !res.body) return { status: res.status, body: await res.text() };
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      if (buffer.includes('\n: live\n\n') || buffer.startsWith(': live\n\n')) return { status: 200, outcome: 'live', body: buffer };
    }
    return { status: 200, outcome: 'end', body: buffer };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

async function websocketAnswer(path: string, headers: Record<string, string>, first: string): Promise<Answer> {
  const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}${path}`, { headers });
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${path}: no answer in 5 s`)), 5000);
      const done = (a: Answer) => {
        clearTimeout(timer);
        resolve(a);
      };
      ws.once('open', () => ws.send(first));
      ws.once('message', (data: Buffer) => {
        const text = data.toString('utf8').split('\n')[0]!;
        done({ status: 101, outcome: outcomeOf(JSON.parse(text) as Record<string, unknown>), body: text });
      });
      ws.once('close', (code: number, reason: Buffer) => done({ status: 101, outcome: `disconnect ${code}`, body: reason.toString() }));
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    ws.terminate();
  }
}

async function ask(route: string, row: Row, principal: Principal, fixture: Fixture, param: string | undefined): Promise<{ answer: Answer; sent: string }> {
  const [method, template] = route.split(' ') as [string, string];
  const kind = row.kind ?? 'rest';
  let token = tokens[principal];
  if (row.endsSession && (principal === 'owner' || principal === 'ownerCookie')) token = await login();
  // A node of its own for a request that may change or remove it.
  const nodeId = !template.includes('{nodeId}') ? '' : method === 'GET' ? NODE_ID : (await setup<{ id: string }>(ownerToken, 'POST', '/api/v1/nodes', { nodeId: randomUUID(), password: NODE_PASSWORD })).id;
  const path = template
    .replace('{nodeId}', nodeId)
    .replace('{channelId}', fixture.channelId)
    .replace('{postId}', fixture.postId)
    .replace('{linkId}', fixture.linkId)
    .replace('{uri}', `sha256:${fixture.blob}`)
    .replace('{algo}', 'sha256')
    .replace('{hex}', fixture.blob)
    .replace('{method}', param ?? '')
    // A server entry nobody added: the owner columns get past authorisation to the service's answer.
    .replace('{jobId}', randomUUID())
    .replace('{taskId}', randomUUID())
    .replace('{id}', randomUUID());
  const spec = row.request?.(fixture, ++counter) ?? {};
  const headers = headersOf(principal, kind, token);
  const uni = path.includes('/uni_');
  const first = uni ? uniConnect(connectToken(principal, token)) : connect(connectToken(principal, token));
  if (kind === 'websocket') return { answer: await websocketAnswer(path, headers, first), sent: `${path} ${first}` };
  if (kind === 'feed') return { answer: await feedAnswer(`${node.url}${path}`, headers), sent: path };
  if (kind === 'stream' || kind === 'sse') {
    const url = kind === 'sse' ? `${node.url}${path}?cf_connect=${encodeURIComponent(first)}` : `${node.url}${path}`;
    const answer = await firstMessage(url, {
      method,
      headers: { ...headers, ...(kind === 'stream' ? { 'content-type': 'application/json' } : {}) },
      ...(kind === 'stream' ? { body: first } : {}),
    }, kind === 'sse');
    return { answer, sent: `${path} ${first}` };
  }
  const payload = spec.raw ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body));
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(payload === undefined ? {} : { body: payload }),
  });
  return { answer: { status: res.status, body: await res.text() }, sent: `${path} ${payload ?? ''}` };
}

function check(where: string, expected: Expected, answer: Answer, principal: Principal, sent: string): void {
  if (typeof expected === 'number') assert.equal(answer.status, expected, `${where}: got ${answer.status} ${answer.body.slice(0, 300)}`);
  else assert.equal(answer.outcome, expected, `${where}: status ${answer.status} ${answer.body.slice(0, 300)}`);
  assert.doesNotMatch(answer.body, /\n\s+at\s|"stack"/, `${where}: a stack trace reached the client`);
  if (PRIVILEGED.has(principal)) return;
  for (const secret of hidden) {
    if (answer.body.includes(secret) && !sent.includes(secret)) assert.fail(`${where}: the answer shows ${secret}, which the principal may not see: ${answer.body.slice(0, 500)}`);
  }
}

describe('authorisation matrix (mycel serve on SQLite)', () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-authz-'));
    const config = join(dir, 'mycel.yaml');
    writeFileSync(
      config,
      [
        'node:',
        `  dataDir: ${JSON.stringify(join(dir, 'data'))}`,
        'owner:',
        `  password: ${PASSWORD}`,
        'server:',
        '  loginAttemptsPerMinute: 10000',
        'realtime:',
        `  apiKey: ${API_KEY}`,
        // Every principal but one sends a wrong (or no) key to each server API method here.
        '  apiKeyFailuresPerMinute: 100000',
        '  namespaces:',
        '    open: {}',
        '    closed: { subscribe: owner, publish: owner, history: owner, presence: owner }',
        'compute:',
        '  mode: node',
        '  projects:',
        '    - { name: matrix, token: authz-matrix-project-token-0123456789 }',
        '',
      ].join('\n'),
    );
    node = await startMycel({}, ['--config', config]);
    ownerToken = await login();
    await setup(ownerToken, 'POST', '/api/v1/nodes', { nodeId: NODE_ID, password: NODE_PASSWORD });
    const user = await signJwt({ sub: 'matrix-user' }, 3600);
    Object.assign(tokens, {
      bad: 'not-a-token-anyone-issued',
      expired: await signJwt({ sub: 'matrix-user' }, -60),
      user,
      userCookie: user,
      owner: ownerToken,
      ownerCookie: ownerToken,
    });
    const info = await fetch(`${node.url}/api/info`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: '{}' });
    instanceId = ((await info.json()) as { result: { nodes: Array<{ uid: string }> } }).result.nodes[0]!.uid;
  });
  after(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has exactly one row per route of the OpenAPI document', async () => {
    const doc = (await (await fetch(`${node.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const rows = Object.entries(MATRIX).filter(([, row]) => !row.notInOpenApi).map(([route]) => route);
    assert.deepEqual(documented.filter((r) => !rows.includes(r)), [], 'routes without a row in MATRIX');
    assert.deepEqual(rows.filter((r) => !documented.includes(r)), [], 'rows whose route is no longer in the OpenAPI document');
  });

  for (const [route, row] of Object.entries(MATRIX)) {
    it(route, async () => {
      const byScope: Array<[Scope | null, Cells]> = Array.isArray(row.cells)
        ? [[null, row.cells as Cells]]
        : (Object.entries(row.cells) as Array<[Scope, Cells]>);
      for (const [scope, cells] of byScope) {
        for (const [i, principal] of PRINCIPALS.entries()) {
          for (const param of row.each ?? [undefined]) {
            const method = route.split(' ')[0]!;
            const fixture = await fixtureFor(scope ?? 'open', method, scope !== null);
            const { answer, sent } = await ask(route, row, principal, fixture, param);
            const where = `${route}${param ? ` (${param})` : ''} as ${principal}${scope ? ` in the ${scope} scope` : ''}`;
            check(where, cells[i]!, answer, principal, sent);
          }
        }
      }
    });
  }
});
