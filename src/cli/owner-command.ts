import { resolveDataDir, type Config } from '../config/index.js';
import { changeOwnerPassword } from '../domain/owner-password.js';
import { createStorage } from '../storage/index.js';
import { assertNodeExists } from '../storage/node-presence.js';
import type { PasswordInput } from './password-input.js';

export interface SetOwnerPasswordOptions {
  /** Recovery: no current password, on the strength of opening the database directly. */
  recover: boolean;
  input: PasswordInput;
}

/**
 * `mycel owner set-password`: changes the owner password in the node's database and ends
 * every owner session. Works beside a running `mycel serve` (the next login reads the new
 * password); creates nothing where there is no node.
 */
export async function runSetOwnerPassword(config: Config, options: SetOwnerPasswordOptions): Promise<void> {
  const dataDir = resolveDataDir(config);
  await assertNodeExists({ url: config.database.url, dataDir });
  const storage = createStorage({ url: config.database.url, dataDir });
  try {
    await storage.migrate();
    const node = await storage.getNode();
    const needsCurrent = !options.recover && node?.ownerPasswordHash != null;
    const current = needsCurrent ? await options.input.read('Current owner password: ') : undefined;
    const next = await options.input.readNew('New owner password: ');
    const { endedSessions } = await changeOwnerPassword(
      storage,
      options.recover ? { kind: 'database-access' } : { kind: 'current', password: current },
      next,
    );
    process.stdout.write(`owner password changed; ${endedSessions} owner session${endedSessions === 1 ? '' : 's'} ended\n`);
    if (config.owner.password !== undefined && config.owner.password !== next) {
      process.stderr.write(
        'warning: owner.password (MYCEL_OWNER_PASSWORD) is configured and differs from the new password: `mycel serve` will stop with OWNER_PASSWORD_MISMATCH until you remove it or set it to the new one\n',
      );
    }
  } finally {
    await storage.close();
  }
}
