import { isMycelError, type MycelError } from '../errors.js';
import { hintFor, INTERNAL_HINT } from './hints.js';

/**
 * How every command ends on an error: an `error CODE: message` line on stderr (details
 * below it) and a `hint:` line saying what to do, never a stack trace, and a non-zero exit
 * code. Configuration errors exit with 2, everything else with 1, so scripts can tell "fix
 * your settings" from "it failed".
 */

/** Exit code for a configuration the command cannot start with. */
export const EXIT_CONFIG = 2;
/** Exit code for any other failure. */
export const EXIT_FAILURE = 1;

function isConfigError(err: MycelError): boolean {
  return err.code.startsWith('CONFIG_');
}

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The lines printed for an error (exported for tests). */
export function formatCliError(err: unknown): { lines: string[]; exitCode: number } {
  if (isMycelError(err)) {
    const lines = [`error ${err.code}: ${err.message}`];
    // A config error's message already names the key, source, variable or file.
    if (!isConfigError(err)) {
      for (const [key, value] of Object.entries(err.details ?? {})) lines.push(`  ${key}: ${formatValue(value)}`);
      if (err.cause instanceof Error) lines.push(`  cause: ${err.cause.message}`);
    }
    lines.push(`hint: ${hintFor(err)}`);
    return { lines, exitCode: isConfigError(err) ? EXIT_CONFIG : EXIT_FAILURE };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { lines: [`error INTERNAL: ${message}`, `hint: ${INTERNAL_HINT}`], exitCode: EXIT_FAILURE };
}

/** Prints the error to stderr and ends the process. */
export function exitWithError(err: unknown): never {
  const { lines, exitCode } = formatCliError(err);
  // A bug has no code to look up: where it happened is worth printing when asked for.
  if (!isMycelError(err) && err instanceof Error && err.stack && /^(debug|trace)$/i.test(process.env.MYCEL_LOG_LEVEL ?? '')) {
    lines.push(err.stack);
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(exitCode);
}

/**
 * Makes every way a command can fail end through exitWithError: an error thrown outside the
 * command's promise (an event handler, a stream) would otherwise print Node's stack trace.
 * A closed stdout (`mycel info | head -1`) is not a failure: the reader has what it wanted.
 */
export function installCliErrorHandlers(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    exitWithError(err);
  });
  process.on('uncaughtException', exitWithError);
  process.on('unhandledRejection', exitWithError);
}
