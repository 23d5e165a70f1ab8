/**
 * Blob URIs (`sha256://<hex>`, `sha1://<hex>`). The code lives in the model layer so the domain
 * (access checks, records) parses them the same way; this is the service's entry point.
 */
export { assertSha256Hex, formatBlobUri, isHexDigest, parseBlobUri, type BlobAlgo, type BlobUri } from '../model/blob-uri.js';
