import { canonicalJson } from '../lib/canonical-json.js';
import { CONTENT_KINDS, walkContent, type ContentKind, type ContentReader, type ContentRecord } from './replicated-content.js';

/** The first entity (in kind, then id order) on which two sets of tables disagree. */
export interface ContentDifference {
  kind: ContentKind;
  id: string;
  /** `differs`: both hold it with other values; `missing`: only `right` holds it; `extra`: only `left` does. */
  problem: 'differs' | 'missing' | 'extra';
  /** The fields whose values differ (every field of the record when one side lacks it). */
  fields: string[];
  /** The entity as each side holds it (null where it is absent). */
  left: ContentRecord | null;
  right: ContentRecord | null;
}

function fieldsOf(record: ContentRecord): string[] {
  return Object.keys(record).sort();
}

function differingFields(left: ContentRecord, right: ContentRecord): string[] {
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  return [...keys].filter((k) => canonicalJson(left[k] ?? null) !== canonicalJson(right[k] ?? null)).sort();
}

async function firstInKind(left: ContentReader, right: ContentReader, kind: ContentKind): Promise<ContentDifference | null> {
  const a = walkContent(left, kind);
  const b = walkContent(right, kind);
  try {
    let x = await a.next();
    let y = await b.next();
    while (!x.done || !y.done) {
      // Both walks are in ascending id order: the smaller id is the one the other side lacks.
      if (y.done || (!x.done && x.value.id < y.value.id)) {
        const l = x.value as ContentRecord;
        return { kind, id: l.id, problem: 'extra', fields: fieldsOf(l), left: l, right: null };
      }
      if (x.done || y.value.id < x.value.id) {
        return { kind, id: y.value.id, problem: 'missing', fields: fieldsOf(y.value), left: null, right: y.value };
      }
      const fields = differingFields(x.value, y.value);
      if (fields.length > 0) return { kind, id: x.value.id, problem: 'differs', fields, left: x.value, right: y.value };
      x = await a.next();
      y = await b.next();
    }
    return null;
  } finally {
    await a.return(undefined);
    await b.return(undefined);
  }
}

/**
 * Walks both sides' content in the digest's order and returns the first entity they disagree
 * on, or null when they hold the same. Memory stays a page per side.
 */
export async function firstContentDifference(left: ContentReader, right: ContentReader): Promise<ContentDifference | null> {
  for (const kind of CONTENT_KINDS) {
    const difference = await firstInKind(left, right, kind);
    if (difference) return difference;
  }
  return null;
}
