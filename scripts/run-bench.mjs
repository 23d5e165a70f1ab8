#!/usr/bin/env node
// `npm run bench -- <name> [args]` runs bench/<name>.ts (or bench/<name>/index.ts) with tsx.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [name, ...rest] = process.argv.slice(2);
const candidates = name ? [join(root, 'bench', `${name}.ts`), join(root, 'bench', name, 'index.ts')] : [];
const file = candidates.find((f) => existsSync(f));
if (!file) {
  const names = readdirSync(join(root, 'bench')).filter((f) => !f.startsWith('_')).map((f) => f.replace(/\.ts$/, ''));
  console.error(`usage: npm run bench -- <name>\nbenchmarks: ${names.join(', ')}`);
  process.exit(2);
}
const child = spawn(process.execPath, ['--import', 'tsx', file, ...rest], { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
