/** Shared pieces of the blob CLI e2e tests: digests, files, a CLI run with stdout kept as bytes. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, mycelArgv, runProcess } from '../helpers/process.js';

export const hex = (algo: 'sha256' | 'sha1', bytes: Buffer): string => createHash(algo).update(bytes).digest('hex');

export function fileIn(dir: string, name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Runs `mycel <args>` (bounded by 60 s) with stdout kept as bytes. */
export async function catBytes(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const [bin, ...pre] = mycelArgv();
  return runProcess(bin!, [...pre, ...args], { env: cleanEnv(env), timeoutMs: 60_000 });
}
