import type { FastifyRequest } from 'fastify';

/** Query parameters that may carry a secret: an API key, a connect command with its token. */
const SECRET_QUERY_PARAMS = new Set(['api_key', 'cf_connect', 'token', 'password', 'access_token']);

/** The URL with the value of every secret-bearing query parameter replaced by `[redacted]`. */
export function redactUrlQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // A malformed name is logged as sent; it cannot be one of ours.
      }
      return SECRET_QUERY_PARAMS.has(decoded.toLowerCase()) && eq !== -1 ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

/** Fastify's request log fields, with secrets taken out of the URL before it is written. */
export function requestLogSerializer(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrlQuery(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}
