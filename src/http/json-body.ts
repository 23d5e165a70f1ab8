/**
 * What a request body must be before any route reads it: UTF-8 text (a `charset` other than
 * utf-8 is refused rather than decoded as UTF-8 anyway) and, for JSON, one value per key (a
 * repeated key is refused rather than resolved to its last value; see lib/json-duplicate-key).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MycelError } from '../errors.js';
import { findDuplicateKey } from '../lib/json-duplicate-key.js';

const UTF8 = new Set(['utf-8', 'utf8']);

/** The charset parameter of a Content-Type, lower-cased and unquoted, or null when there is none. */
export function charsetOf(contentType: string | undefined): string | null {
  if (contentType === undefined) return null;
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq === -1 || part.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return null;
}

/** Why the request's body may not be read as UTF-8, or null when it may. */
export function charsetRefusal(request: FastifyRequest): string | null {
  const charset = charsetOf(request.headers['content-type']);
  if (charset === null || UTF8.has(charset)) return null;
  return `the body must be UTF-8; charset=${charset.slice(0, 40)} is not supported`;
}

/** Why a JSON text is refused though it parses, or null. */
export function duplicateKeyRefusal(text: string): { key: string; message: string } | null {
  const key = findDuplicateKey(text);
  if (key === null) return null;
  return { key, message: `the key ${JSON.stringify(key.slice(0, 100))} appears twice in one object` };
}

/**
 * Replaces the app's application/json parser with fastify's own (prototype poisoning refused)
 * behind the charset and duplicate-key checks.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetRefusal(request);
    if (charset !== null) {
      done(new MycelError('UNSUPPORTED_MEDIA_TYPE', { reason: charset }), undefined);
      return;
    }
    const text = body as string;
    const duplicate = duplicateKeyRefusal(text);
    if (duplicate !== null) {
      done(new MycelError('BAD_JSON', { key: duplicate.key }, duplicate.message), undefined);
      return;
    }
    parseJson(request, text, done);
  });
}
