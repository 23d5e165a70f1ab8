import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DisconnectError, ERRORS, ReplyError } from './codes.js';
import { checkCommandData } from './data-limits.js';
import { encodePublicationPush, parseCommand, type Command } from './frames.js';

const METHODS = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh'];
const FIELDS = ['channel', 'token', 'data', 'recover', 'offset', 'epoch', 'limit', 'since', 'reverse', 'method', 'subs', 'headers', 'name', 'version', 'flag', 'positioned'];

/** Deep nests as JSON text (no JSON.stringify, which overflows on them). */
const deepText = fc.integer({ min: 1, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d));

/** Field values of every type, hostile numbers and nests included. */
const anyField = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom('1e999', '-1e999', '9007199254740993', '-1', '0.5', '"\\ud800"', '"\\u0000"', 'null', '{}', '[]'),
  deepText,
);

/** A command line: mostly well-formed shapes with random field values, sometimes garbage. */
const commandLine = fc.oneof(
  fc
    .record({
      id: fc.oneof(fc.nat({ max: 10 }).map(String), fc.constantFrom('-1', '4294967296', '"1"', '1.5', '1e999')),
      method: fc.constantFrom(...METHODS),
      params: fc.dictionary(fc.constantFrom(...FIELDS), anyField, { maxKeys: 5 }),
    })
    .map(({ id, method, params }) => `{"id":${id},"${method}":{${Object.entries(params).map(([k, v]) => `"${k}":${v}`).join(',')}}}`),
  fc.string({ maxLength: 40 }),
  anyField,
);

describe('frames: properties', () => {
  it('property: parseCommand of any line gives a command or DisconnectError 3501, nothing else', () => {
    fc.assert(
      fc.property(commandLine, (line) => {
        let cmd: Command;
        try {
          cmd = parseCommand(line);
        } catch (err) {
          assert.ok(err instanceof DisconnectError, `${line.slice(0, 80)}: ${String(err)}`);
          assert.equal(err.code, 3501);
          return;
        }
        assert.ok(cmd.method === 'pong' || METHODS.includes(cmd.method));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: client data past the limits is ReplyError 107; data within them always encodes into a publication', () => {
    fc.assert(
      fc.property(commandLine, (line) => {
        let cmd: Command;
        try {
          cmd = parseCommand(line);
        } catch {
          return;
        }
        try {
          checkCommandData(cmd);
        } catch (err) {
          assert.ok(err instanceof ReplyError && err.code === ERRORS.badRequest.code, String(err));
          return;
        }
        if (cmd.method === 'publish' && cmd.params.data !== undefined) {
          const frame = encodePublicationPush('ch', { offset: 1, data: cmd.params.data });
          assert.deepEqual(JSON.parse(frame).push.pub.data, JSON.parse(JSON.stringify(cmd.params.data)));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
