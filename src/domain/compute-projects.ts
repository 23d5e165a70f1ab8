import { MycelError } from '../errors.js';
import { bindingProof } from '../lib/binding-proof.js';
import { constantTimeEqual, sha256Hex } from '../lib/hash.js';
import { newId } from '../lib/ids.js';
import type { ComputeProject } from '../model/compute.js';
import type { StorageReader } from '../storage/storage.js';
import { checkComputeName } from './compute-limits.js';
import type { Writer } from './writer.js';

/**
 * Compute projects of this node (docs/compute.md "Node side").
 *
 * - `ensure(config)` on start: creates each configured project this node lacks (by name among
 *   its own; `compute.project.created`, replicated without any token) and keeps the local
 *   token hashes in step with the configuration. A changed token for an existing name ROTATES:
 *   the configuration is the source of truth, the old token stops opening the project at once.
 *   A project no longer configured keeps its jobs but no token opens it. Two projects with one
 *   token is a configuration error (CONFIG_INVALID).
 * - `byToken(token)`: the project a token opens (PROJECT_TOKEN_INVALID otherwise). The token is
 *   hashed (sha256; tokens are high-entropy secrets, so no slow hash is needed) and looked up
 *   by hash, then the hashes are compared in constant time.
 * - `projectsProvedBy(publicKey, datasource, proofs)`: the names of the projects whose token
 *   made one of the proofs (lib/binding-proof.ts); the tokens live only in memory, from the
 *   configuration.
 */

export interface ProjectsReport {
  created: string[];
  rotated: string[];
  /** Own projects that the configuration no longer names: no token opens them now. */
  unconfigured: string[];
}

export class ComputeProjects {
  /** name → token, from the configuration: what binding proofs are checked against. */
  private tokens = new Map<string, string>();

  constructor(
    private readonly storage: StorageReader,
    private readonly writer: Writer,
    private readonly nodeId: string,
  ) {}

  /** Brings the projects in line with `compute.projects`. */
  async ensure(config: readonly { name: string; token: string }[]): Promise<ProjectsReport> {
    const byToken = new Map<string, string>();
    for (const [i, p] of config.entries()) {
      checkComputeName(`compute.projects.${i}.name`, p.name);
      if (typeof p.token !== 'string' || p.token.length === 0) throw new MycelError('CONFIG_INVALID', { key: `compute.projects.${i}.token` }, `compute.projects.${i}.token: must be set`);
      const other = byToken.get(p.token);
      if (other !== undefined && other !== p.name) {
        throw new MycelError('CONFIG_INVALID', { key: `compute.projects.${i}.token` }, `compute.projects: the projects ${other} and ${p.name} have the same token`);
      }
      if (config.findIndex((q) => q.name === p.name) !== i) throw new MycelError('CONFIG_INVALID', { key: `compute.projects.${i}.name` }, `compute.projects: ${p.name} is named twice`);
      byToken.set(p.token, p.name);
    }
    const report: ProjectsReport = { created: [], rotated: [], unconfigured: [] };
    await this.writer.run(async (unit) => {
      const configured = new Set(config.map((p) => p.name));
      // Clear the hashes of what is no longer configured first: a token moved to another project stays unique.
      for (const project of await unit.tx.listComputeProjects()) {
        if (project.originNodeId !== unit.nodeId || configured.has(project.name)) continue;
        if ((await unit.tx.getComputeProjectTokenHash(project.id)) !== null) {
          await unit.tx.setComputeProjectTokenHash(project.id, null);
          report.unconfigured.push(project.name);
        }
      }
      const wanted = new Map<string, string>();
      for (const p of config) {
        const hash = sha256Hex(p.token);
        const existing = await unit.tx.getComputeProjectByName(unit.nodeId, p.name);
        if (!existing) {
          const project: ComputeProject = { id: newId(), name: p.name, smallCellK: 10, originNodeId: unit.nodeId, createdAt: unit.now };
          await unit.tx.insertComputeProject(project, null);
          await unit.append('compute.project.created', { project });
          report.created.push(p.name);
          wanted.set(project.id, hash);
        } else if ((await unit.tx.getComputeProjectTokenHash(existing.id)) !== hash) {
          if ((await unit.tx.getComputeProjectTokenHash(existing.id)) !== null) report.rotated.push(p.name);
          wanted.set(existing.id, hash);
        }
      }
      // Two passes so that tokens swapped between projects never collide on the unique index.
      for (const id of wanted.keys()) await unit.tx.setComputeProjectTokenHash(id, null);
      for (const [id, hash] of wanted) await unit.tx.setComputeProjectTokenHash(id, hash);
    });
    this.tokens = new Map(config.map((p) => [p.name, p.token]));
    return report;
  }

  /** The own project `token` opens; PROJECT_TOKEN_INVALID otherwise. */
  async byToken(token: unknown): Promise<ComputeProject> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) throw new MycelError('PROJECT_TOKEN_INVALID');
    const hash = sha256Hex(token);
    const project = await this.storage.getComputeProjectByTokenHash(hash);
    const stored = project ? await this.storage.getComputeProjectTokenHash(project.id) : null;
    if (!project || stored === null || !constantTimeEqual(stored, hash) || project.originNodeId !== this.nodeId) {
      throw new MycelError('PROJECT_TOKEN_INVALID');
    }
    return project;
  }

  /** Projects of this node, by name (owner views). */
  async list(): Promise<ComputeProject[]> {
    return (await this.storage.listComputeProjects()).filter((p) => p.originNodeId === this.nodeId);
  }

  /**
   * The configured projects whose token made one of `proofs` for this key and datasource, or
   * COMPUTE_BINDING_INVALID naming the first proof that no configured token made.
   */
  projectsProvedBy(publicKey: string, datasource: string, proofs: readonly string[]): string[] {
    const names: string[] = [];
    for (const [index, proof] of proofs.entries()) {
      let found: string | undefined;
      // Every token is tried (no early exit) so the time does not say which one matched.
      for (const [name, token] of this.tokens) {
        if (constantTimeEqual(bindingProof(token, publicKey, datasource), proof) && found === undefined) found = name;
      }
      if (found === undefined) throw new MycelError('COMPUTE_BINDING_INVALID', { datasource, proof: index });
      if (!names.includes(found)) names.push(found);
    }
    return names;
  }
}
