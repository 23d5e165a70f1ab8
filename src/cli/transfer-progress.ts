import { Transform } from 'node:stream';
import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr for a blob transfer (`mycel store`, `cat`, `load`): only when stderr
 * is a terminal and the transfer is larger than PROGRESS_MIN_BYTES (or of unknown size), so
 * scripts, pipes and small files see nothing. The bytes pass through unchanged.
 */

/** Below this, a transfer is over before a bar would help. */
export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

const mib = (n: number): string => (n / (1024 * 1024)).toFixed(1);

/** A pass-through that advances a bar for `label` (total `size` bytes; null = unknown), or null when no bar is wanted. */
export function transferProgress(label: string, size: number | null): Transform | null {
  if (!process.stderr.isTTY || (size !== null && size <= PROGRESS_MIN_BYTES)) return null;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% {done}/{all} MiB {speed} MiB/s`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  const total = size ?? 0;
  bar.start(total, 0, { done: '0.0', all: size === null ? '?' : mib(total), speed: '0.0' });
  const payload = () => ({ done: mib(done), all: size === null ? '?' : mib(total), speed: mib(done / Math.max(0.001, (Date.now() - started) / 1000)) });
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      bar.update(Math.min(done, total), payload());
      callback(null, chunk);
    },
    flush(callback) {
      bar.stop();
      callback();
    },
    destroy(err, callback) {
      bar.stop();
      callback(err);
    },
  });
}
