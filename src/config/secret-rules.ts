import { CONFIG_KEYS, getPath } from './keys.js';
import { REDACTED } from './redact.js';
import type { Config } from './schema.js';

/**
 * Rules for secret values that the schema's types cannot express. They run on the loaded
 * configuration, so they hold whatever layer a value came from (file, variable, flag).
 */

/** Fewest characters (Unicode code points) an owner password may have. */
export const MIN_OWNER_PASSWORD_LENGTH = 8;

/** Fewest bytes (UTF-8) of `realtime.apiKey`: an HS256 key needs at least 256 bits (RFC 7518 §3.2). */
export const MIN_API_KEY_BYTES = 32;

/** Why `password` cannot be an owner password, or undefined when it can. */
export function ownerPasswordProblem(password: string): string | undefined {
  const length = [...password.normalize('NFC')].length;
  if (length < MIN_OWNER_PASSWORD_LENGTH) {
    return `must be at least ${MIN_OWNER_PASSWORD_LENGTH} characters long (it has ${length})`;
  }
  return undefined;
}

/** One problem with a secret: the key and why, never the value. */
export interface SecretProblem {
  key: string;
  message: string;
}

/** The problems of every secret in `config`. */
export function secretProblems(config: Config): SecretProblem[] {
  const problems: SecretProblem[] = [];
  for (const key of CONFIG_KEYS) {
    const value = getPath(config, key.path);
    if (typeof value !== 'string') continue;
    // `mycel config` prints this in place of every secret; fed back in, it would become the secret.
    if ((key.secret && value === REDACTED) || (key.urlCredentials && value.includes(REDACTED))) {
      problems.push({
        key: key.path,
        message: `is the placeholder ${REDACTED} that \`mycel config\` prints in place of a secret; set the real value${key.env ? ` (e.g. in ${key.env})` : ''}`,
      });
    }
  }
  const password = config.owner.password;
  if (password !== undefined && password !== REDACTED) {
    const problem = ownerPasswordProblem(password);
    if (problem) problems.push({ key: 'owner.password', message: problem });
  }
  const apiKey = config.realtime.apiKey;
  if (apiKey !== undefined && apiKey !== REDACTED) {
    const bytes = Buffer.byteLength(apiKey, 'utf8');
    if (bytes < MIN_API_KEY_BYTES) {
      problems.push({
        key: 'realtime.apiKey',
        message: `must be at least ${MIN_API_KEY_BYTES} bytes (256 bits) for HS256 (it has ${bytes}); e.g. \`openssl rand -hex 32\``,
      });
    }
  }
  return problems;
}
