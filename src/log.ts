import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear in a log line: secrets never reach a log. */
export const REDACTED_LOG_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];

export interface LogOptions {
  level?: LevelWithSilent;
  /** Where lines go; stdout by default. Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

/** The root logger of a process; modules take children of it (`log.child({ module })`). */
export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? ((process.env.MYCEL_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const opts = { level, redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' }, base: { pid: process.pid } };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
