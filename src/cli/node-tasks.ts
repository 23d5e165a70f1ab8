import type { Config } from '../config/index.js';
import { resolveDataDir } from '../config/index.js';
import { verifyChain } from '../domain/changelog.js';
import { contentDigest, formatDigest } from '../domain/digest.js';
import { verifyContent, type ContentVerdict } from '../domain/verify-content.js';
import type { NodeCore } from '../domain/node-core.js';
import { createLogger } from '../log.js';
import { openCoreFromConfig } from '../node/assemble.js';
import { createStorage } from '../storage/index.js';
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

/**
 * `mycel verify`: checks the change log's hash chain, then that the tables are what the log
 * says (the log replayed into a scratch in-memory database, digests compared, the first
 * differing entity named); exit code 1 when either fails.
 */
export async function runVerify(config: Config, options: { json?: boolean }): Promise<number> {
  const existing = await requireNode(config);
  const progress = !options.json && process.stderr.isTTY;
  const code = await openForCommand(existing, async (core) => {
    const chain = await verifyChain(core.storage, {
      onProgress: (checked) => {
        if (progress) process.stderr.write(`\rchecked ${checked} changes`);
      },
    });
    if (progress) process.stderr.write('\n');
    const content = chain.ok ? await checkContent(core, progress) : null;
    const ok = chain.ok && content !== null && content.ok;
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ ...chain, ok, chainOk: chain.ok, content: content && contentJson(content) })}\n`);
      return ok ? 0 : 1;
    }
    if (!chain.ok) {
      process.stdout.write(`broken: first bad serial ${chain.firstBadSerial}: ${chain.reason} (${chain.count} changes verified before it)\n`);
      process.stdout.write('tables not compared: the log does not verify\n');
      return 1;
    }
    process.stdout.write(`ok: ${chain.count} changes verify (head ${chain.headHash})\n`);
    process.stdout.write(content === null ? '' : describeContent(content));
    return ok ? 0 : 1;
  });
  return code ?? 0;
}

/** Replays the log into a scratch in-memory database and compares it with the live tables. */
async function checkContent(core: NodeCore, progress: boolean): Promise<ContentVerdict> {
  const scratch = createStorage({ url: ':memory:', dataDir: '' });
  try {
    await scratch.migrate();
    const verdict = await verifyContent(core.storage, scratch, {
      onProgress: (phase, done) => {
        if (progress) process.stderr.write(phase === 'replay' ? `\rreplayed ${done} changes` : `\rcomparing the tables with the log (${done} changes)\n`);
      },
    });
    return verdict;
  } finally {
    await scratch.close();
  }
}

/** A value in a line of text: JSON, cut short so a long post body does not flood the terminal. */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text;
}

/** The content verdict as `mycel verify` prints it: the difference's fields and both digests. */
function describeContent(content: ContentVerdict): string {
  if (content.ok) return `ok: the tables match the log (${formatDigest(content.digest)})\n`;
  let out = `mismatch: ${content.reason}\n`;
  const d = content.difference;
  for (const field of d?.problem === 'differs' ? d.fields : []) {
    out += `  ${field}: tables ${shortJson(d?.left?.[field])}, log ${shortJson(d?.right?.[field])}\n`;
  }
  if (content.live && content.rebuilt) out += `  tables ${formatDigest(content.live)}\n  log    ${formatDigest(content.rebuilt)}\n`;
  return out;
}

/** The content verdict as `mycel verify --json` prints it: the difference says which side is which. */
function contentJson(v: ContentVerdict): Record<string, unknown> {
  if (v.ok) return v;
  const { difference, ...rest } = v;
  if (!difference) return rest;
  const { left, right, ...where } = difference;
  return { ...rest, difference: { ...where, tables: left, log: right } };
}

/** `mycel digest`: the canonical digest of the node's replicated content, on one line. */
export async function runDigest(config: Config, options: { json?: boolean }): Promise<void> {
  const existing = await requireNode(config);
  await openForCommand(existing, async (core) => {
    const digest = await contentDigest(core.storage);
    process.stdout.write(options.json ? `${JSON.stringify(digest)}\n` : `${formatDigest(digest)}\n`);
  });
}
