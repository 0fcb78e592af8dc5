// IPv4/IPv6 addresses and CIDR blocks: parsing, containment, and a binary trie that answers "which blocks contain
// this address" in at most 32/128 steps, independent of how many blocks (trunks) are configured.
//
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, what a dual-stack socket reports for an IPv4 peer) are treated as
// the IPv4 address, and a ::ffff:0:0/96-or-longer block as the IPv4 block it maps, so one config serves both.
import { isIP } from 'node:net';

export interface IpAddress {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

export interface Cidr extends IpAddress {
  prefixLength: number;
}

/** Parse an IPv4 or IPv6 address (brackets and an IPv6 zone id are accepted and dropped). */
export function parseIp(text: string): IpAddress | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 4) return { family: 4, bytes: parseV4(s)! };
  if (family === 6) {
    const bytes = parseV6(s);
    if (!bytes) return undefined;
    if (isV4Mapped(bytes)) return { family: 4, bytes: bytes.slice(12) };
    return { family: 6, bytes };
  }
  return undefined;
}

/** Parse "ADDRESS/LEN" (a bare address is a host block: /32 or /128). Host bits need not be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  let s = addr.trim();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const family = isIP(s);
  if (!family) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefixLength = max;
  if (slash >= 0) {
    const bits = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(bits)) return undefined;
    prefixLength = Number(bits);
    if (prefixLength > max) return undefined;
  }
  if (family === 4) return { family: 4, bytes: parseV4(s)!, prefixLength };
  const bytes = parseV6(s);
  if (!bytes) return undefined;
  if (isV4Mapped(bytes) && prefixLength >= 96)
    return { family: 4, bytes: bytes.slice(12), prefixLength: prefixLength - 96 };
  return { family: 6, bytes, prefixLength };
}

/** Is `ip` inside `cidr`? Unparseable input is never inside. */
export function cidrContains(cidr: string | Cidr, ip: string | IpAddress): boolean {
  const block = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  const addr = typeof ip === 'string' ? parseIp(ip) : ip;
  if (!block || !addr || block.family !== addr.family) return false;
  return samePrefix(block.bytes, addr.bytes, block.prefixLength);
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ b[whole]!) & mask) === 0;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(parts[i]);
    if (!Number.isInteger(n) || n < 0 || n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parse a (net.isIP-validated) IPv6 address, including "::" compression and a trailing dotted IPv4 part. */
function parseV6(s: string): Uint8Array | undefined {
  let text = s.toLowerCase();
  const words: number[] = [];
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = parseV4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const toWords = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const w of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(w)) return undefined;
      out.push(Number.parseInt(w, 16));
    }
    return out;
  };
  const head = toWords(halves[0]!);
  const rest = halves.length === 2 ? toWords(halves[1]!) : [];
  if (!head || !rest) return undefined;
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return undefined;
    words.push(...head, ...new Array<number>(fill).fill(0), ...rest);
  } else {
    if (head.length !== 8) return undefined;
    words.push(...head);
  }
  const bytes = new Uint8Array(16);
  words.forEach((w, i) => {
    bytes[i * 2] = w >> 8;
    bytes[i * 2 + 1] = w & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

interface BitNode<T> {
  zero?: BitNode<T>;
  one?: BitNode<T>;
  values?: T[];
}

/** Binary trie of CIDR blocks (one per address family). */
export class CidrTrie<T> {
  #v4: BitNode<T> = {};
  #v6: BitNode<T> = {};
  #size = 0;

  /** Add a value under a block; false (nothing added) when the block does not parse. */
  insert(cidr: string | Cidr, value: T): boolean {
    const block = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
    if (!block) return false;
    let node = block.family === 4 ? this.#v4 : this.#v6;
    for (let i = 0; i < block.prefixLength; i++) {
      const bit = (block.bytes[i >> 3]! >> (7 - (i & 7))) & 1;
      if (bit) {
        node.one ??= {};
        node = node.one;
      } else {
        node.zero ??= {};
        node = node.zero;
      }
    }
    node.values ??= [];
    node.values.push(value);
    this.#size++;
    return true;
  }

  get size(): number {
    return this.#size;
  }

  /** Values of every block containing the address, most specific (longest prefix) first. */
  matches(ip: string | IpAddress): T[] {
    const addr = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!addr) return [];
    const found: T[][] = [];
    let node: BitNode<T> | undefined = addr.family === 4 ? this.#v4 : this.#v6;
    const bits = addr.family === 4 ? 32 : 128;
    for (let i = 0; node; i++) {
      if (node.values) found.push(node.values);
      if (i === bits) break;
      const bit = (addr.bytes[i >> 3]! >> (7 - (i & 7))) & 1;
      node = bit ? node.one : node.zero;
    }
    const out: T[] = [];
    for (let i = found.length - 1; i >= 0; i--) out.push(...found[i]!);
    return out;
  }
}
