import { Worker } from 'node:worker_threads';

/**
 * Starts the worker module `name` that sits next to the module at `importMetaUrl`, of the same
 * kind: compiled (dist/, `npm start`) it is `name.js`; from the TypeScript sources (tests,
 * `npm run dev`, under tsx) it is `name.ts`, which a worker thread can load only after registering
 * tsx's loader in that thread (Node 20 does not run the parent's `--import tsx` in workers).
 */
export function startWorkerModule(importMetaUrl: string, name: string): Worker {
  if (!importMetaUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, importMetaUrl));
  const entry = new URL(`./${name}.ts`, importMetaUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
}
