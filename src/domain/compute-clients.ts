import { MycelError } from '../errors.js';
import { sha256Hex } from '../lib/hash.js';
import { newId, randomToken } from '../lib/ids.js';
import { isPublicKey, NonceWindow, readSignatureHeaders, verifyRequest } from '../lib/signed-request.js';
import type { ComputeClient, ComputeDatasourceBinding, ComputeDatasourceSchema, ComputeInvitation } from '../model/compute.js';
import type { StorageReader } from '../storage/storage.js';
import { authorOf, hasOwnerRights, type Actor } from './actor.js';
import { checkComputeName } from './compute-limits.js';
import type { ComputeProjects } from './compute-projects.js';
import type { UnitOfWork, Writer } from './writer.js';
import { checkNodeId, checkNodePassword, viewOf, type ClientNodeView } from './client-nodes.js';
import { hashPassword } from '../lib/password.js';
import type { ClientNode } from '../model/content.js';

/**
 * Compute clients (docs/compute.md "Node side"): invitations, joining, and checking a client's
 * signed requests. No open join: the owner issues an invitation (`createInvitation`), whose
 * secret is shown once and stored as its sha256; a client joins with it, its Ed25519 public key
 * and its datasource bindings, each proved with the project's token (lib/binding-proof.ts).
 * The join consumes the invitation in the same write as the client's registration
 * (`compute.client.joined`), with the condition in the UPDATE, so two concurrent joins with one
 * invitation never both succeed. Invitations are local to this node and never replicated.
 *
 * `authenticate` checks a signed request (lib/signed-request.ts) against the registered key of
 * the client it names: SIGNATURE_INVALID / SIGNATURE_EXPIRED / SIGNATURE_REPLAYED. The nonce
 * window is this instance's memory: with several instances behind one address a replay to
 * another instance within the skew window is not caught there; the operations a client can
 * replay are its own and idempotent or refused by the lease (docs/compute.md).
 */

export const INVITATION_KINDS = ['client', 'node'] as const;
export type InvitationKind = (typeof INVITATION_KINDS)[number];
const INVITATION_PREFIX: Record<InvitationKind, string> = { client: 'mci_', node: 'mcn_' };

/** The kind an invitation secret names (its prefix); INVITATION_INVALID when it is not `kind`. */
function checkInvitationKind(secret: string, kind: InvitationKind): void {
  if (!secret.startsWith(INVITATION_PREFIX[kind])) {
    const other = INVITATION_KINDS.find((k) => secret.startsWith(INVITATION_PREFIX[k]));
    throw new MycelError('INVITATION_INVALID', other ? { reason: `an invitation for a ${other}, not a ${kind}` } : undefined);
  }
}

/** The longest an invitation may live: 30 days. */
export const MAX_INVITATION_TTL_SECONDS = 30 * 86_400;

export interface IssuedInvitation {
  id: string;
  /** Shown once; only its hash is stored. */
  secret: string;
  expiresAt: number;
}

/** A datasource binding as a joining client presents it: proofs instead of project names. */
export interface JoinDatasource {
  name: string;
  type: string;
  /** lib/binding-proof.ts, one per project token the datasource lists. */
  proofs: string[];
  /** Its columns and row count (the compute service's describeDatasource), shown to the projects it is bound to. */
  schema?: ComputeDatasourceSchema;
}

/** A schema as a client sends it: at most 4096 columns, names up to 256 characters, types up to 64. */
function checkSchema(field: string, value: unknown): ComputeDatasourceSchema | undefined {
  if (value === undefined) return undefined;
  const v = value as { columns?: unknown; rows?: unknown };
  if (value === null || typeof value !== 'object' || !Array.isArray(v.columns) || v.columns.length > 4096) throw invalid(field, 'must be { columns: [...], rows } with at most 4096 columns');
  if (!Number.isSafeInteger(v.rows) || (v.rows as number) < 0) throw invalid(`${field}.rows`, 'must be a non-negative integer');
  const columns = v.columns.map((c: unknown, i: number) => {
    const col = c as { name?: unknown; type?: unknown; numeric?: unknown };
    if (c === null || typeof c !== 'object' || typeof col.name !== 'string' || col.name.length > 256 || typeof col.type !== 'string' || col.type.length > 64 || typeof col.numeric !== 'boolean') {
      throw invalid(`${field}.columns.${i}`, 'must be { name (≤256), type (≤64), numeric }');
    }
    return { name: col.name, type: col.type, numeric: col.numeric };
  });
  return { columns, rows: v.rows as number };
}

export interface JoinRequest {
  invitationSecret: string;
  name: string;
  publicKey: string;
  datasources: JoinDatasource[];
}

/** What a signed request is checked over. */
export interface SignedRequest {
  method: string;
  path: string;
  body: Uint8Array | string;
  headers: Record<string, string | string[] | undefined>;
}

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

export class ComputeClients {
  constructor(
    private readonly storage: StorageReader,
    private readonly writer: Writer,
    private readonly projects: ComputeProjects,
    private readonly nodeId: string,
    private readonly nonces: NonceWindow = new NonceWindow(),
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Issues a single-use invitation valid for `ttlSeconds` (owner rights), for a compute client
   * (`mci_…`) or a further aggregation node (`mcn_…`, which registers a read-only child that
   * pulls this node's whole database). The kind is the secret's prefix, covered by its hash: a
   * client's invitation does not admit a node, nor the other way round.
   */
  async createInvitation(actor: Actor, ttlSeconds: number, kind: InvitationKind = 'client'): Promise<IssuedInvitation> {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'compute.invite' });
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_INVITATION_TTL_SECONDS) {
      throw invalid('ttlSeconds', `must be an integer from 1 to ${MAX_INVITATION_TTL_SECONDS}`);
    }
    if (!INVITATION_KINDS.includes(kind)) throw invalid('kind', `must be one of ${INVITATION_KINDS.join(', ')}`);
    const secret = `${INVITATION_PREFIX[kind]}${randomToken(32)}`;
    return this.writer.run(async (unit) => {
      const invitation: ComputeInvitation = {
        id: newId(),
        secretHash: sha256Hex(secret),
        createdBy: authorOf(actor),
        createdAt: unit.now,
        expiresAt: unit.now + ttlSeconds * 1000,
        usedAt: null,
        usedBy: null,
      };
      await unit.tx.insertComputeInvitation(invitation);
      return { id: invitation.id, secret, expiresAt: invitation.expiresAt };
    });
  }

  /**
   * Registers a client with an invitation; returns it. INVITATION_INVALID / _EXPIRED / _USED,
   * COMPUTE_CLIENT_EXISTS (the key joined already), COMPUTE_BINDING_INVALID (a proof no
   * configured token made). Nothing is consumed when the join fails.
   */
  async join(request: JoinRequest): Promise<ComputeClient> {
    const { invitationSecret, publicKey } = request;
    if (typeof invitationSecret !== 'string' || invitationSecret.length === 0 || invitationSecret.length > 256) throw new MycelError('INVITATION_INVALID');
    const name = checkComputeName('name', request.name);
    if (!isPublicKey(publicKey)) throw invalid('publicKey', 'must be a raw Ed25519 public key in base64url (43 characters)');
    if (!Array.isArray(request.datasources) || request.datasources.length > 1000) throw invalid('datasources', 'must be a list of at most 1000');
    const datasources: ComputeDatasourceBinding[] = request.datasources.map((d, i) => {
      const dsName = checkComputeName(`datasources.${i}.name`, d?.name);
      if (typeof d.type !== 'string' || d.type.length === 0 || d.type.length > 64) throw invalid(`datasources.${i}.type`, 'must be 1 to 64 characters');
      if (!Array.isArray(d.proofs) || d.proofs.length > 100 || d.proofs.some((p) => typeof p !== 'string' || p.length > 128)) {
        throw invalid(`datasources.${i}.proofs`, 'must be a list of at most 100 proofs');
      }
      const schema = checkSchema(`datasources.${i}.schema`, d.schema);
      return { name: dsName, type: d.type, projects: this.projects.projectsProvedBy(publicKey, dsName, d.proofs), ...(schema ? { schema } : {}) };
    });
    if (new Set(datasources.map((d) => d.name)).size !== datasources.length) throw invalid('datasources', 'a datasource is named twice');
    checkInvitationKind(invitationSecret, 'client');
    const secretHash = sha256Hex(invitationSecret);
    return this.writer.run(async (unit) => {
      const invitation = await this.usableInvitation(unit, secretHash);
      if (await unit.tx.getComputeClientByPublicKey(publicKey)) throw new MycelError('COMPUTE_CLIENT_EXISTS');
      const client: ComputeClient = { id: newId(), name, publicKey, datasources, joinedAt: unit.now, originNodeId: unit.nodeId, lastSeenAt: unit.now };
      if (!(await unit.tx.useComputeInvitation(invitation.id, client.id, unit.now))) throw new MycelError('INVITATION_USED', { invitationId: invitation.id });
      await unit.tx.insertComputeClient(client);
      const { lastSeenAt: _local, ...replicated } = client;
      await unit.append('compute.client.joined', { client: replicated });
      return client;
    });
  }

  /**
   * A further aggregation node joins with an invitation (docs/compute.md "A network of nodes"):
   * it is registered here as a client node with the data role child, read-only, no owner rights,
   * every channel, under the password it chose, so it can pull this node's database (projects,
   * clients, jobs) and relay its clients' operations here. The invitation is consumed in the
   * same transaction (`used_by` = `node:<id>`). INVITATION_* as a client's join; NODE_EXISTS
   * when the node is registered already.
   */
  async joinNode(request: { invitationSecret: string; nodeId: string; password: string }): Promise<ClientNodeView> {
    const { invitationSecret } = request;
    if (typeof invitationSecret !== 'string' || invitationSecret.length === 0 || invitationSecret.length > 256) throw new MycelError('INVITATION_INVALID');
    checkInvitationKind(invitationSecret, 'node');
    const nodeId = checkNodeId(request.nodeId);
    const passwordHash = await hashPassword(checkNodePassword(request.password));
    const secretHash = sha256Hex(invitationSecret);
    return this.writer.run(async (unit) => {
      const invitation = await this.usableInvitation(unit, secretHash);
      if (nodeId === unit.nodeId || (await unit.tx.getClientNode(nodeId))) throw new MycelError('NODE_EXISTS', { nodeId });
      const node: ClientNode = { id: nodeId, passwordHash, asOwner: false, role: 'child', writeAccess: 'read-only', channels: [], createdAt: unit.now, updatedAt: unit.now };
      if (!(await unit.tx.useComputeInvitation(invitation.id, `node:${nodeId}`, unit.now))) throw new MycelError('INVITATION_USED', { invitationId: invitation.id });
      if (!(await unit.tx.insertClientNode(node))) throw new MycelError('NODE_EXISTS', { nodeId });
      return viewOf(node);
    });
  }

  /** The invitation with this secret, unused and unexpired: INVITATION_INVALID / _USED / _EXPIRED otherwise. */
  private async usableInvitation(unit: UnitOfWork, secretHash: string): Promise<ComputeInvitation> {
    const invitation = await unit.tx.getComputeInvitationBySecretHash(secretHash);
    if (!invitation) throw new MycelError('INVITATION_INVALID');
    if (invitation.usedAt !== null) throw new MycelError('INVITATION_USED', { invitationId: invitation.id });
    if (invitation.expiresAt <= unit.now) throw new MycelError('INVITATION_EXPIRED', { invitationId: invitation.id, expiresAt: invitation.expiresAt });
    return invitation;
  }

  async get(clientId: string): Promise<ComputeClient> {
    const client = await this.storage.getComputeClient(clientId);
    if (!client) throw new MycelError('COMPUTE_CLIENT_NOT_FOUND', { clientId });
    return client;
  }

  /** Every client that joined this node (owner rights). */
  async list(actor: Actor): Promise<ComputeClient[]> {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'compute.clients' });
    return (await this.storage.listComputeClients()).filter((c) => c.originNodeId === this.nodeId);
  }

  /** The client a signed request comes from; the SIGNATURE_* codes when it does not verify. */
  /** `nonceScope`: see VerifyInput (a relayed lease: its nonce once per task). */
  async authenticate(request: SignedRequest, nonceScope?: string): Promise<ComputeClient> {
    const values = readSignatureHeaders(request.headers);
    if (!values) throw new MycelError('SIGNATURE_INVALID', { reason: 'the signature headers are missing or malformed' });
    const client = await this.storage.getComputeClient(values.clientId);
    if (!client) throw new MycelError('SIGNATURE_INVALID', { reason: 'no such client' });
    const outcome = verifyRequest({
      publicKey: client.publicKey,
      parts: { method: request.method, path: request.path, body: request.body, clientId: client.id },
      values,
      now: this.clock(),
      nonces: this.nonces,
      ...(nonceScope === undefined ? {} : { nonceScope }),
    });
    if (!outcome.ok) {
      const details = outcome.code === 'SIGNATURE_EXPIRED' ? { reason: outcome.reason, skewSeconds: this.nonces.skewMs / 1000 } : { reason: outcome.reason };
      throw new MycelError(outcome.code, details);
    }
    return client;
  }
}
