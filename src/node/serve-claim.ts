import { databaseKind, resolveDataDir, type Config } from '../config/index.js';
import { lockDataDir } from '../storage/sqlite/data-dir-lock.js';
import { assertCanListen } from './listen-check.js';

/** What `mycel serve` holds from before it opens the node until it stops. */
export interface ServeClaim {
  /** Lets go of the data directory's lock (if any). Idempotent. */
  release(): void;
}

/**
 * Checks and takes what a serving process needs before it creates or opens anything: the HTTP
 * port can be bound (PORT_IN_USE, LISTEN_FAILED) and, on SQLite, no other process serves the
 * data directory (DATA_DIR_LOCKED). The port comes first, so a busy port leaves nothing behind.
 */
export async function claimServeResources(config: Config): Promise<ServeClaim> {
  await assertCanListen(config.server.host, config.server.port);
  const lock = databaseKind(config) === 'sqlite' ? lockDataDir(resolveDataDir(config)) : undefined;
  return { release: () => lock?.release() };
}
