// Listener specs: `udp:127.0.0.1:5060`, `tcp:[::1]:5060`, `tls:0.0.0.0:5061`, `tls:[::]` (default port).

import { isIPv4, isIPv6 } from 'node:net';
import type { AddressFamily, TransportProtocol } from './types.ts';

export interface ListenSpec {
  transport: TransportProtocol;
  /** IP literal without brackets. */
  address: string;
  /** 0 asks the OS for a free port. */
  port: number;
  family: AddressFamily;
}

export const DEFAULT_PORTS: Record<TransportProtocol, number> = { UDP: 5060, TCP: 5060, TLS: 5061 };

export class ListenSpecError extends Error {
  readonly spec: string;
  constructor(spec: string, problem: string) {
    super(`invalid listen spec ${JSON.stringify(spec)}: ${problem}`);
    this.name = 'ListenSpecError';
    this.spec = spec;
  }
}

const EXAMPLES = 'expected e.g. udp:127.0.0.1:5060, tcp:[::1]:5060 or tls:0.0.0.0:5061';

function parsePort(spec: string, text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new ListenSpecError(spec, `port ${JSON.stringify(text)} is not a number`);
  const port = Number(text);
  if (port > 65535) throw new ListenSpecError(spec, `port ${port} is out of range 0-65535`);
  return port;
}

/** Parse `transport:address[:port]`. IPv6 addresses must be bracketed; hostnames are refused (bind to an IP). */
export function parseListenSpec(spec: string): ListenSpec {
  const text = spec.trim();
  const colon = text.indexOf(':');
  if (colon <= 0) throw new ListenSpecError(spec, `missing transport prefix; ${EXAMPLES}`);
  const proto = text.slice(0, colon).toUpperCase();
  if (proto !== 'UDP' && proto !== 'TCP' && proto !== 'TLS') {
    throw new ListenSpecError(spec, `unknown transport ${JSON.stringify(text.slice(0, colon))} (udp, tcp or tls)`);
  }
  const transport: TransportProtocol = proto;
  const rest = text.slice(colon + 1);
  if (rest === '') throw new ListenSpecError(spec, `missing address; ${EXAMPLES}`);
  let address: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new ListenSpecError(spec, 'unterminated "[" in IPv6 address');
    address = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new ListenSpecError(spec, `unexpected ${JSON.stringify(after)} after "]"`);
      portText = after.slice(1);
    }
    if (!isIPv6(address)) throw new ListenSpecError(spec, `${JSON.stringify(address)} is not an IPv6 address`);
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) {
      throw new ListenSpecError(spec, `IPv6 addresses must be in brackets, e.g. ${proto.toLowerCase()}:[${rest}]:5060`);
    }
    address = parts[0]!;
    portText = parts[1];
    if (!isIPv4(address)) {
      throw new ListenSpecError(
        spec,
        `${JSON.stringify(address)} is not an IP address (listeners bind to IP literals)`,
      );
    }
  }
  const port = portText === undefined ? DEFAULT_PORTS[transport] : parsePort(spec, portText);
  return { transport, address, port, family: isIPv6(address) ? 'IPv6' : 'IPv4' };
}

/** The inverse of parseListenSpec (lower-case transport, bracketed IPv6). */
export function formatListenSpec(spec: { transport: TransportProtocol; address: string; port: number }): string {
  const host = isIPv6(spec.address) ? `[${spec.address}]` : spec.address;
  return `${spec.transport.toLowerCase()}:${host}:${spec.port}`;
}
