// Tenant number blocks (Tenant.spec.numbers): parsing, normalising and overlap detection.
//
// Format (one string per entry):
//   "+15551230000"                 a single E.164 number
//   "+15551230000-+15551239999"    an inclusive range; both ends have the same length, lowest first
//   "+44207946*"                   a prefix: every number that starts with "+44207946" (any length)
// Normalised form (what the rendered config carries):
//   { type: 'range', first, last, prefix }   prefix = the common leading digits of first and last (a trie key)
//   { type: 'prefix', prefix }
import { NUMBER_BLOCK_PATTERN } from './common.ts';

export type NumberBlock =
  | { type: 'range'; first: string; last: string; prefix: string }
  | { type: 'prefix'; prefix: string };

const blockRe = new RegExp(NUMBER_BLOCK_PATTERN);

/** Parse one entry; null when it is not in the format above (pattern or range order). */
export function parseNumberBlock(text: string): NumberBlock | null {
  if (!blockRe.test(text)) return null;
  if (text.endsWith('*')) return { type: 'prefix', prefix: text.slice(0, -1) };
  const [first, last = first] = text.split('-') as [string, string?];
  if (first.length !== last.length || first > last) return null;
  let i = 0;
  while (i < first.length && first[i] === last[i]) i++;
  return { type: 'range', first, last, prefix: first.slice(0, i) };
}

/** The entry as written in a manifest (inverse of parseNumberBlock, single numbers written without a range). */
export function formatNumberBlock(block: NumberBlock): string {
  if (block.type === 'prefix') return `${block.prefix}*`;
  return block.first === block.last ? block.first : `${block.first}-${block.last}`;
}

/** Does `number` (E.164 with "+") fall in the block? */
export function numberInBlock(number: string, block: NumberBlock): boolean {
  if (block.type === 'prefix') return number.startsWith(block.prefix);
  return number.length === block.first.length && number >= block.first && number <= block.last;
}

/** Do two blocks share at least one number? */
export function blocksOverlap(a: NumberBlock, b: NumberBlock): boolean {
  if (a.type === 'prefix' && b.type === 'prefix') return a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix);
  if (a.type === 'prefix' || b.type === 'prefix') {
    const p = (a.type === 'prefix' ? a : b) as { prefix: string };
    const r = (a.type === 'range' ? a : b) as { first: string; last: string };
    const len = r.first.length;
    if (p.prefix.length > len) return false;
    const lo = p.prefix.padEnd(len, '0');
    const hi = p.prefix.padEnd(len, '9');
    return lo <= r.last && hi >= r.first;
  }
  return a.first.length === b.first.length && a.first <= b.last && b.first <= a.last;
}

/** Sort key: by prefix/first, prefixes before ranges that share the start. Deterministic. */
export function compareNumberBlocks(a: NumberBlock, b: NumberBlock): number {
  const ka = a.type === 'prefix' ? a.prefix : a.first;
  const kb = b.type === 'prefix' ? b.prefix : b.first;
  if (ka !== kb) return ka < kb ? -1 : 1;
  if (a.type !== b.type) return a.type === 'prefix' ? -1 : 1;
  const la = a.type === 'range' ? a.last : '';
  const lb = b.type === 'range' ? b.last : '';
  return la < lb ? -1 : la > lb ? 1 : 0;
}
