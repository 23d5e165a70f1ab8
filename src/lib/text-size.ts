/**
 * Whether `text` takes more than `maxBytes` bytes in UTF-8. A UTF-16 code unit is at most
 * 3 UTF-8 bytes, so the exact (slower) count is only made when the length alone cannot tell.
 */
export function utf8LongerThan(text: string, maxBytes: number): boolean {
  return text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes);
}
