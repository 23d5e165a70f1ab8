/**
 * Finds a key that appears twice in one JSON object. JSON.parse keeps the last value of a
 * repeated key silently; another parser (a proxy, a client library, a verifier of the change
 * log) may keep the first. A body that means different things to different readers has no
 * place in a hash-chained log, so writers refuse it instead of guessing.
 *
 * One pass over the text, no values built: only the keys of the objects still open are kept.
 * Text that is not JSON is never reported (the real parser reports it); sequences of values
 * (newline-delimited JSON) are scanned as a whole.
 */

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/** An open object (its keys, and whether the next string is a key) or an open array (null). */
type Frame = { keys: Set<string>; expectKey: boolean } | null;

/** The end (index after the closing quote) of the string starting at `start`, or -1 if unterminated. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote === -1) return -1;
    // A quote is escaped when an odd number of backslashes precede it.
    let backslashes = 0;
    for (let j = quote - 1; j > start && text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

/** The first key that appears twice in one object of `text`, or null. */
export function findDuplicateKey(text: string): string | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end === -1) return null;
      const top = stack[stack.length - 1];
      if (top && top.expectKey) {
        const raw = text.slice(i + 1, end - 1);
        let key = raw;
        if (raw.includes('\\')) {
          try {
            key = JSON.parse(text.slice(i, end)) as string;
          } catch {
            return null;
          }
        }
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
      i = end - 1;
    } else if (c === OPEN_OBJECT) {
      stack.push({ keys: new Set(), expectKey: true });
    } else if (c === OPEN_ARRAY) {
      stack.push(null);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
    } else if (c === COMMA) {
      const top = stack[stack.length - 1];
      if (top) top.expectKey = true;
    }
  }
  return null;
}
