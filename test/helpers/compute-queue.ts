/**
 * Compute fixtures for domain tests: a node core with a movable clock and configured projects,
 * and clients that join it with real key pairs and binding proofs.
 */
import { OWNER } from '../../src/domain/actor.js';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import { bindingProof } from '../../src/lib/binding-proof.js';
import { createComputeKeyPair, type ComputeKeyPair } from '../../src/lib/signed-request.js';
import type { ComputeClient } from '../../src/model/compute.js';
import type { Storage } from '../../src/storage/storage.js';
import { silentLog } from './core.js';

export const PROJECTS = [
  { name: 'study', token: 'tok-study-0123456789abcdef0123456789abcdef' },
  { name: 'other', token: 'tok-other-0123456789abcdef0123456789abcdef' },
] as const;

/** A clock tests move by hand; starts at a fixed time. */
export class TestClock {
  constructor(public t = 1_800_000_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export async function openComputeCore(storage: Storage, clock?: TestClock, name = 'compute-node'): Promise<NodeCore> {
  const core = await openNodeCore(storage, {
    identity: { name, ownerPassword: 'owner-secret' },
    sessionMinutes: 60,
    log: silentLog,
    ...(clock ? { clock: clock.now } : {}),
  });
  await core.compute.projects.ensure(PROJECTS);
  return core;
}

export interface JoinedClient {
  client: ComputeClient;
  keys: ComputeKeyPair;
}

/** Joins a client holding `datasource` bound to the projects whose tokens are given. */
export async function joinClient(core: NodeCore, name: string, datasource = 'cohort', tokens: readonly string[] = [PROJECTS[0].token]): Promise<JoinedClient> {
  const keys = createComputeKeyPair();
  const { secret } = await core.compute.clients.createInvitation(OWNER, 3600);
  const client = await core.compute.clients.join({
    invitationSecret: secret,
    name,
    publicKey: keys.publicKey,
    datasources: [{ name: datasource, type: 'csv', proofs: tokens.map((t) => bindingProof(t, keys.publicKey, datasource)) }],
  });
  return { client, keys };
}
