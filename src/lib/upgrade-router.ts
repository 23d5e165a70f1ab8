import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { writeRawJsonResponse } from './raw-http-response.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const routers = new WeakMap<Server, Map<string, UpgradeHandler>>();

/** Answers an upgrade on a path nobody serves, so the client is not left hanging. */
export type UpgradeRefusal = (socket: Duplex) => void;

const plainNotFound: UpgradeRefusal = (socket) => writeRawJsonResponse(socket, 404, { error: { code: 'ROUTE_NOT_FOUND' } });

/**
 * Routes an HTTP server's upgrade requests for `path` to `handler`. A server gets a single
 * 'upgrade' listener that dispatches by path and answers 404 for every other path, however many
 * WebSocket endpoints are mounted. `refuse` answers the other paths (the first route mounted on a
 * server sets it; the layers above pass their error registry's body). Returns the function that
 * removes the route.
 */
export function routeUpgrade(server: Server, path: string, handler: UpgradeHandler, refuse: UpgradeRefusal = plainNotFound): () => void {
  let routes = routers.get(server);
  if (!routes) {
    const table = new Map<string, UpgradeHandler>();
    routes = table;
    routers.set(server, table);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const route = table.get(q === -1 ? url : url.slice(0, q));
      if (route) route(req, socket, head);
      else refuse(socket);
    });
  }
  if (routes.has(path)) throw new Error(`an upgrade handler for ${path} is already mounted`);
  routes.set(path, handler);
  const table = routes;
  return () => {
    if (table.get(path) === handler) table.delete(path);
  };
}
