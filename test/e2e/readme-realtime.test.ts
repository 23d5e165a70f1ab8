// The README's realtime example runs as written: its YAML and its client snippet are taken from
// README.md (between `<!-- snippet: … -->` markers), a real `mycel serve` is started as the
// README says (MYCEL_API_KEY, --config with that YAML), and the snippet runs as an ES module
// in a child process from the repository root, on this Node. The only change made to it is the
// port (the README's 5103, here a free one). Without the YAML, the same snippet is refused with
// a 102 that names the namespace and the setting that declares it, and the node logs that once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, startMycel, type ServingNode } from '../helpers/process.js';
import { API_KEY } from '../integration/realtime-harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(root, 'README.md'), 'utf8');
const REFUSAL = 'unknown channel: namespace "chat" is not declared (realtime.namespaces.chat in the YAML config)';

/** The fenced code between `<!-- snippet: name -->` and `<!-- /snippet -->`. */
function snippet(name: string): string {
  const match = new RegExp(`<!-- snippet: ${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\`\\s*<!-- /snippet -->`).exec(README);
  assert.ok(match, `README.md has no snippet "${name}"`);
  return match[1]!;
}

/**
 * Runs the client snippet against `node` until `done(stdout, stderr)` holds (then ends it) or it
 * exits; at most 20 s.
 */
async function runClient(node: ServingNode, done: (out: string, err: string) => boolean): Promise<{ out: string; err: string; code: number | null }> {
  const code = snippet('realtime-client');
  assert.ok(code.includes('ws://127.0.0.1:5103/'), 'the snippet no longer connects to the README\'s address');
  const port = new URL(node.url).port;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code.replace('ws://127.0.0.1:5103/', `ws://127.0.0.1:${port}/`)], {
    cwd: root,
    env: cleanEnv({ MYCEL_API_KEY: API_KEY }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const check = (): void => {
    if (done(out, err)) child.kill('SIGKILL');
  };
  child.stdout.on('data', (d: Buffer) => ((out += d.toString()), check()));
  child.stderr.on('data', (d: Buffer) => ((err += d.toString()), check()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [exitCode] = (await once(child, 'close')) as [number | null]; // 'close': every byte it printed is read
  clearTimeout(timer);
  return { out, err, code: exitCode };
}

describe("the README's realtime example", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-readme-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('with the README\'s YAML, the client snippet prints the message it published, and exits', { timeout: 60_000 }, async () => {
    const config = join(dir, 'mycel.yaml');
    writeFileSync(config, snippet('realtime-config'));
    const node = await startMycel({ MYCEL_API_KEY: API_KEY, MYCEL_DATA_DIR: join(dir, 'with-chat') }, ['--config', config]);
    try {
      const run = await runClient(node, () => false);
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /\{ text: 'hello' \}/);
    } finally {
      await node.stop();
    }
  });

  it('without it, `chat:lobby` is refused with 102 naming the namespace and its setting, to the client, the server API and once in the log', { timeout: 60_000 }, async () => {
    const node = await startMycel({ MYCEL_API_KEY: API_KEY, MYCEL_DATA_DIR: join(dir, 'default') });
    try {
      const run = await runClient(node, (_out, err) => err.includes(REFUSAL));
      assert.ok(run.err.includes(REFUSAL) && run.err.includes('102'), run.err);
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${node.url}/api/publish`, {
          method: 'POST',
          headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'chat:lobby', data: { text: 'hello' } }),
        });
        assert.deepEqual(await res.json(), { error: { code: 102, message: REFUSAL } });
      }
      const logged = node.lines.map((l) => JSON.parse(l) as { msg: string; namespace?: string }).filter((l) => l.msg === REFUSAL);
      assert.equal(logged.length, 1, node.lines.join('\n'));
      assert.equal(logged[0]!.namespace, 'chat');
    } finally {
      await node.stop();
    }
  });
});
