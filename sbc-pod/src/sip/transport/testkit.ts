// Helpers for the transport tests: bounded waits on events (no sleeps), raw socket clients, sample SIP messages.

import type { EventEmitter } from 'node:events';
import net from 'node:net';

export const WAIT_MS = 5_000;

/** Resolve with the arguments of the first `event` whose arguments satisfy `predicate`; reject after `timeoutMs`. */
export function waitForEvent<A extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  predicate: (...args: A) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<A> {
  return new Promise<A>((resolve, reject) => {
    const onEvent = (...args: unknown[]) => {
      if (!predicate(...(args as A))) return;
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
      resolve(args as A);
    };
    const timer = setTimeout(() => {
      emitter.removeListener(event, onEvent);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.on(event, onEvent);
  });
}

/** Collect events into an array and wait until `count` have arrived. */
export function collector<T>(
  emitter: EventEmitter,
  event: string,
): { items: T[]; waitFor(count: number): Promise<T[]> } {
  const items: T[] = [];
  const waiters: Array<{ count: number; resolve: (v: T[]) => void; timer: NodeJS.Timeout }> = [];
  emitter.on(event, (item: T) => {
    items.push(item);
    for (const w of [...waiters]) {
      if (items.length >= w.count) {
        clearTimeout(w.timer);
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(items);
      }
    }
  });
  return {
    items,
    waitFor(count: number) {
      if (items.length >= count) return Promise.resolve(items);
      return new Promise<T[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${count} "${event}" events (got ${items.length})`)),
          WAIT_MS,
        );
        waiters.push({ count, resolve, timer });
      });
    },
  };
}

export interface RawClient {
  socket: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Wait until the received bytes satisfy `predicate`. */
  waitForData(predicate: (all: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
  /** Resolves when the socket is closed (by either side). */
  closed: Promise<void>;
}

export function wrapRawClient(socket: net.Socket): RawClient {
  let buf = Buffer.alloc(0);
  const checks: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (const c of [...checks]) c();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    received: () => buf,
    closed,
    waitForData(predicate, timeoutMs = WAIT_MS) {
      return new Promise<Buffer>((resolve, reject) => {
        const check = () => {
          if (!predicate(buf)) return;
          clearTimeout(timer);
          checks.splice(checks.indexOf(check), 1);
          resolve(buf);
        };
        const timer = setTimeout(() => {
          checks.splice(checks.indexOf(check), 1);
          reject(new Error(`timed out waiting for data; got ${JSON.stringify(buf.toString('latin1'))}`));
        }, timeoutMs);
        checks.push(check);
        check();
      });
    },
  };
}

/** Connect a raw TCP client and wait for the connection. */
export function rawTcpClient(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(wrapRawClient(socket));
    });
    socket.once('error', reject);
  });
}

let seq = 0;

/** A small well-framed SIP request. */
export function sipRequest(method = 'OPTIONS', body = '', extra = ''): Buffer {
  seq += 1;
  const text =
    `${method} sip:sbc.example.test SIP/2.0\r\n` +
    `Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-${seq}\r\n` +
    'From: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>\r\n' +
    `Call-ID: call-${seq}\r\nCSeq: ${seq} ${method}\r\nMax-Forwards: 70\r\n` +
    extra +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return Buffer.from(text);
}

export function sipResponse(status = 200, reason = 'OK'): Buffer {
  return Buffer.from(
    `SIP/2.0 ${status} ${reason}\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-x\r\n` +
      'From: <sip:a@example.test>;tag=1\r\nTo: <sip:b@example.test>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n',
  );
}

/** A port that was free a moment ago (for connection-refused tests). */
export function unusedTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
