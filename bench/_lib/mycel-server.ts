/**
 * Runs the real `mycel serve` (src/cli/index.ts, same argv) in a process that also answers
 * the benchmark's control requests (memory after GC, CPU), like the peers. The control channel
 * is unreferenced, so SIGTERM still shuts Mycel down gracefully and the process exits.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { installServerControl } from './control.js';

installServerControl();
// The coordinator removes the temp dir; if it was killed outright (IPC gone), this process does.
const tempDir = process.env.BENCH_TEMP_DIR;
process.on('exit', () => {
  if (tempDir && !process.connected) rmSync(tempDir, { recursive: true, force: true });
});
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
process.argv = [process.argv[0]!, cli, ...process.argv.slice(2)];
await import('../../src/cli/index.js');
