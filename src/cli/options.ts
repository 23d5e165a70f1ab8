import { InvalidArgumentError, type Command } from 'commander';
import { CONFIG_KEYS, formatDefault, type ConfigKey } from '../config/keys.js';
import { unknownEnvWarnings } from '../config/env-names.js';
import { loadConfig, type FrozenConfig } from '../config/load.js';

/**
 * The per-command flags that override configuration keys (`--port`, `--data-dir`, …), all
 * defined by the key table, and the one way a command turns its arguments into a config.
 */

const plain = (text: string) => text.replace(/`/g, '');

function helpFor(key: ConfigKey): string {
  // No commander default: a default would always be "set" and hide MYCEL_* and the YAML file.
  const parts = [`env ${key.env}`, `default ${plain(formatDefault(key))}`];
  if (key.type?.kind === 'enum') parts.unshift(`one of ${key.type.values.join(', ')}`);
  return `${plain(key.meaning).replace(/\.$/, '')} (${parts.join('; ')})`;
}

/** Adds the override flags for the given key paths (every key with a flag if omitted). */
export function addConfigFlags(command: Command, paths?: readonly string[]): Command {
  const wanted = paths ?? CONFIG_KEYS.filter((k) => k.flag !== null).map((k) => k.path);
  for (const path of wanted) {
    const key = CONFIG_KEYS.find((k) => k.path === path);
    // A programming error in a command definition, caught by the first --help.
    if (!key?.flag) throw new Error(`config key ${path} has no flag in src/config/keys.ts`);
    command.option(key.flag, helpFor(key));
  }
  return command;
}

/** Key paths of the flags that make sense for a command that opens an existing node. */
export const STORAGE_FLAGS = ['node.dataDir', 'database.url', 'log.level'] as const;

/**
 * Loads the configuration from the command's flags (and the global --config) and process.env;
 * warns on stderr about `MYCEL_*` variables that are not settings (a typo would do nothing).
 */
export function configFromCommand(command: Command): FrozenConfig {
  for (const line of unknownEnvWarnings(process.env)) process.stderr.write(`${line}\n`);
  return loadConfig({ flags: command.optsWithGlobals(), env: process.env });
}

/** Parses a flag's value as an integer ≥ 1 (`--limit`). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
}
