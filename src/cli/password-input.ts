import { MycelError } from '../errors.js';

/**
 * Reads passwords for a command: typed at a terminal without echo, or piped in one per line
 * (`printf '%s\n' "$OLD" "$NEW" | mycel owner set-password`), so they never appear in the
 * command line, the shell history or the environment.
 */
export interface PasswordInput {
  /** The next password: a hidden prompt on a terminal, the next line otherwise. */
  read(prompt: string): Promise<string>;
  /** A new password: asked twice on a terminal (they must match), read once otherwise. */
  readNew(prompt: string): Promise<string>;
}

/** Ends the process on Ctrl-C while a hidden prompt has the terminal in raw mode. */
const CTRL_C = '\u0003';

function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve) => {
    let chars: string[] = [];
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(chars.join(''));
          return;
        }
        if (ch === CTRL_C) {
          done();
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') chars = chars.slice(0, -1);
        else chars.push(ch);
      }
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

async function readAllStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

/** Password input from the process's stdin: a terminal or a pipe. */
export function stdinPasswordInput(): PasswordInput {
  if (process.stdin.isTTY) {
    return {
      read: askHidden,
      async readNew(prompt) {
        const first = await askHidden(prompt);
        const again = await askHidden('Repeat it: ');
        if (first !== again) throw new MycelError('VALIDATION_FAILED', { field: 'newPassword' }, 'The two new passwords differ');
        return first;
      },
    };
  }
  return pipedPasswordInput();
}

/**
 * Password input from standard input, read to its end and taken line by line, even from a terminal (for
 * `--password-stdin`: a script pipes the password in; typed at a terminal it echoes and ends with Ctrl-D).
 */
export function pipedPasswordInput(): PasswordInput {
  let lines: Promise<string[]> | undefined;
  let used = 0;
  const next = async (what: string): Promise<string> => {
    lines ??= readAllStdin().then((text) => text.split(/\r?\n/));
    const all = await lines;
    const line = all[used++];
    if (line === undefined || (line === '' && used >= all.length)) {
      throw new MycelError('VALIDATION_FAILED', { field: what }, `Standard input ended before the ${what} (one password per line)`);
    }
    return line;
  };
  return { read: () => next('current password'), readNew: () => next('new password') };
}
