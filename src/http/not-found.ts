import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MycelError } from '../errors.js';
import { frameworkErrorHandlerFor, sendError, type FrameworkErrorHandler } from './errors.js';

/** A route pattern as a regular expression over the path: `:param` matches one segment, `*` the rest. */
function patternToRegExp(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      // `:name(regex)` keeps its constraint, so /api/v1 is not taken for a server API method.
      const constrained = /^:[^(]+\((.*)\)$/.exec(segment);
      if (constrained) return `(?:${constrained[1]!.replace(/^\^/, '').replace(/\$$/, '')})`;
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${source}/?$`);
}

/**
 * Answers requests no route matched: 405 METHOD_NOT_ALLOWED (with `Allow`) when the path is
 * known under other methods, else 404 ROUTE_NOT_FOUND. Fastify's router only says "no match",
 * so the known patterns are collected as routes are added (including routes added after
 * buildHttpApp returns, e.g. by the realtime layer).
 */
export function installNotFound(app: FastifyInstance): void {
  const routes: Array<{ re: RegExp; methods: Set<string> }> = [];
  const byUrl = new Map<string, { re: RegExp; methods: Set<string> }>();
  app.addHook('onRoute', (route) => {
    // A catch-all (the CORS plugin's `OPTIONS *`) says nothing about which paths exist.
    if (route.url === '*' || route.url === '/*') return;
    let entry = byUrl.get(route.url);
    if (!entry) {
      entry = { re: patternToRegExp(route.url), methods: new Set() };
      byUrl.set(route.url, entry);
      routes.push(entry);
    }
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(method);
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    const allowed = new Set<string>();
    for (const { re, methods } of routes) if (re.test(path)) for (const m of methods) allowed.add(m);
    // A path with an error shape of its own (the server API's) answers in it.
    const scoped: FrameworkErrorHandler = frameworkErrorHandlerFor(app, request.url) ?? ((err, _request, r) => sendError(r, err as MycelError));
    if (allowed.size > 0 && !allowed.has(request.method)) {
      const allow = [...allowed].sort();
      reply.header('allow', allow.join(', '));
      return scoped(new MycelError('METHOD_NOT_ALLOWED', { method: request.method, allow }), request, reply);
    }
    return scoped(new MycelError('ROUTE_NOT_FOUND', { method: request.method, path: path.slice(0, 512) }), request, reply);
  });
}
