import { readFileSync } from 'node:fs';

let cached: string | undefined;

/**
 * Mycel's version from package.json. The path is the same from src/lib (tsx) and from
 * dist/lib (the build), both two levels under the package root.
 */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return cached;
}
