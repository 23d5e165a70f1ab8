/** The config module's public face: load once at start-up, pass the frozen result down. */
export { configSchema, namespaceOptionsSchema, accessLevel, type Config, type ConfigInput, type NamespaceOptions, type AccessLevel } from './schema.js';
export {
  loadConfig,
  publicUrl,
  resolveDataDir,
  resolveBlobsDir,
  databaseKind,
  deepFreeze,
  type FrozenConfig,
  type ConfigIssue,
  type LoadConfigOptions,
  type DatabaseKind,
} from './load.js';
export { redactConfig, redactUrl, REDACTED } from './redact.js';
export { CONFIG_KEYS, type ConfigKey } from './keys.js';
