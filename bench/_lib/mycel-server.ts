/**
 * Runs the real `mycel serve` (src/cli/index.ts, same argv) in a process that also answers
 * the benchmark's control requests (memory after GC, CPU), like the peers. The control channel
 * is unreferenced, so SIGTERM still shuts Mycel down gracefully and the process exits.
 */
import { fileURLToPath } from 'node:url';
import { installServerControl } from './control.js';

installServerControl();
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
process.argv = [process.argv[0]!, cli, ...process.argv.slice(2)];
await import('../../src/cli/index.js');
