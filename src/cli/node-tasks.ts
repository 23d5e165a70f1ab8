import type { Config } from '../config/index.js';
import { resolveDataDir } from '../config/index.js';
import { verifyChain } from '../domain/changelog.js';
import type { NodeCore } from '../domain/node-core.js';
import { createLogger } from '../log.js';
import { openCoreFromConfig } from '../node/assemble.js';
import { assertNodeExists } from '../storage/node-presence.js';

/** Opens the node's database and identity for a one-shot command; logs go to stderr. */
async function openForCommand(config: Config, fn: (core: NodeCore) => Promise<number | void>): Promise<number | void> {
  const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, destination: process.stderr });
  const core = await openCoreFromConfig(config, log);
  try {
    return await fn(core);
  } finally {
    await core.close();
  }
}

/** `mycel init`: creates the node (or checks it) and prints its id. */
export async function runInit(config: Config): Promise<void> {
  await openForCommand(config, async (core) => {
    process.stdout.write(`node ${core.node.id} (${core.node.name}) ready in ${resolveDataDir(config)}\n`);
  });
}

/**
 * Fails with NODE_NOT_INITIALIZED, creating nothing, unless the configured database holds a
 * node. Returns the config to open it with for reading: without the owner settings, so that
 * opening writes nothing (no password or remote owner stored) and may run beside `mycel serve`.
 */
async function requireNode(config: Config): Promise<Config> {
  await assertNodeExists({ url: config.database.url, dataDir: resolveDataDir(config) });
  return { ...config, owner: {} };
}

/** `mycel info`: the node's identity and database state. */
export async function runInfo(config: Config, options: { json?: boolean }): Promise<void> {
  const existing = await requireNode(config);
  await openForCommand(existing, async (core) => {
    const info = {
      nodeId: core.node.id,
      name: core.node.name,
      createdAt: new Date(core.node.createdAt).toISOString(),
      dataDir: resolveDataDir(config),
      database: core.storage.dialect,
      schemaVersion: await core.storage.schemaVersion(),
      changeCount: await core.storage.countChanges(),
      ownerPasswordSet: core.node.ownerPasswordHash !== null,
    };
    if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    else {
      for (const [key, value] of Object.entries(info)) process.stdout.write(`${key.padEnd(17)}${String(value)}\n`);
    }
  });
}

/** `mycel verify`: checks the change log's hash chain; exit code 1 when it is broken. */
export async function runVerify(config: Config, options: { json?: boolean }): Promise<number> {
  const existing = await requireNode(config);
  const code = await openForCommand(existing, async (core) => {
    const verdict = await verifyChain(core.storage, {
      onProgress: (checked) => {
        if (!options.json && process.stderr.isTTY) process.stderr.write(`\rchecked ${checked} changes`);
      },
    });
    if (!options.json && process.stderr.isTTY) process.stderr.write('\n');
    if (options.json) process.stdout.write(`${JSON.stringify(verdict)}\n`);
    else if (verdict.ok) process.stdout.write(`ok: ${verdict.count} changes verify (head ${verdict.headHash})\n`);
    else process.stdout.write(`broken: first bad serial ${verdict.firstBadSerial}: ${verdict.reason} (${verdict.count} changes verified before it)\n`);
    return verdict.ok ? 0 : 1;
  });
  return code ?? 0;
}
