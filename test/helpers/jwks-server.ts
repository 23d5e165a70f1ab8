/**
 * A JSON Web Key Set endpoint on 127.0.0.1 (port 0, the same port again after a restart) for
 * the token tests: it serves the public halves of `keys`, counts requests, and can answer 503,
 * answer something that is not a key set, or not answer at all.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: KeyObject;
  jwk: JWK;
}

export async function signingKey(kid: string, alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const pair = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, alg, privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
}

/** A token signed by `key`, with its kid, another one, or none (null). */
export function jwksToken(key: SigningKey, claims: Record<string, unknown> = { sub: 'u1' }, kid: string | null = key.kid): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(kid === null ? { alg: key.alg } : { alg: key.alg, kid }).sign(key.privateKey);
}

/** A JWKS endpoint: serves `keys`, counts requests; `mode` makes it fail or hang. */
export class JwksServer {
  keys: SigningKey[] = [];
  requests = 0;
  mode: 'ok' | 'error' | 'garbage' | 'hang' = 'ok';
  #server: Server | undefined;
  #port = 0;
  readonly #hanging = new Set<ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.#port}/.well-known/jwks.json`;
  }

  async start(): Promise<void> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.requests++;
      if (this.mode === 'hang') {
        this.#hanging.add(res);
        return;
      }
      if (this.mode === 'error') return void res.writeHead(503).end('down for maintenance');
      if (this.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys": 7}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The same port again after a restart, so the verifier's URL stays right.
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
