// The bare limit of bench/blobs.ts, in a process of its own as `mycel serve` is: a node:http
// server that streams one file to every GET (no auth, no hashing, no framework).
// Usage: node --import tsx bench/_lib/bare-file-server.ts FILE [HIGH_WATER_MARK]
// Prints `{"port":N}` once listening; exits when its stdin closes (the bench ended or died).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const [file, hwm] = process.argv.slice(2);
if (!file) {
  console.error('usage: bare-file-server.ts FILE [HIGH_WATER_MARK]');
  process.exit(2);
}
const highWaterMark = hwm ? Number(hwm) : undefined;
const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(statSync(file).size) });
  createReadStream(file, { highWaterMark }).pipe(res);
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
