// IP literal helpers: canonical forms so that `[2001:DB8:0::1]`, `2001:db8::1` and `::ffff:10.0.0.1` compare equal
// to what Node reports on sockets.

import { isIP, isIPv6 } from 'node:net';
import type { AddressFamily, TransportProtocol } from './types.ts';

const MAPPED_DOTTED = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * True for a dotted-quad IPv4 literal exactly as `net.isIPv4` accepts it (0–255, no leading zeros), checked without
 * regular expressions: the per-message fast path of the helpers below (sockets report IPv4 peers this way).
 */
export function isPlainIPv4(a: string): boolean {
  const n = a.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let i = 0;
  for (;;) {
    const c0 = a.charCodeAt(i) - 48;
    if (c0 < 0 || c0 > 9) return false;
    let v = c0;
    let len = 1;
    i++;
    while (i < n) {
      const d = a.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (c0 === 0 || len === 3) return false;
      v = v * 10 + d;
      len++;
      i++;
    }
    if (v > 255) return false;
    parts++;
    if (i === n) return parts === 4;
    if (parts === 4 || a.charCodeAt(i) !== 46) return false;
    i++;
    if (i === n) return false;
  }
}

/** Canonical IP literal: no brackets, lower-case RFC 5952 IPv6, IPv4-mapped IPv6 turned into IPv4. */
export function normalizeAddress(address: string): string {
  if (isPlainIPv4(address)) return address;
  let a = address.trim();
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  const dotted = MAPPED_DOTTED.exec(a);
  if (dotted) return dotted[1]!;
  if (!isIPv6(a) || a.includes('%')) return a.toLowerCase();
  // The WHATWG URL serializer produces the canonical compressed IPv6 form.
  const canonical = new URL(`http://[${a}]/`).hostname.slice(1, -1);
  const hex = MAPPED_HEX.exec(canonical);
  if (hex) {
    const hi = Number.parseInt(hex[1]!, 16);
    const lo = Number.parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return canonical;
}

export function isIpLiteral(address: string): boolean {
  if (isPlainIPv4(address)) return true;
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return isIP(a) !== 0;
}

export function familyOf(address: string): AddressFamily {
  if (isPlainIPv4(address)) return 'IPv4';
  return isIPv6(normalizeAddress(address)) ? 'IPv6' : 'IPv4';
}

export function endpointKey(transport: TransportProtocol, address: string, port: number): string {
  return `${transport}|${normalizeAddress(address)}|${port}`;
}

/** `address:port` with IPv6 bracketed. */
export function formatHostPort(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}
