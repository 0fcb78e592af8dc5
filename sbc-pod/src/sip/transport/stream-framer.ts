// Message framing for SIP over stream transports (TCP, TLS). Pure: bytes in, frames out; no sockets, no timers.
//
// - RFC 3261 §18.3: on a stream the message ends Content-Length bytes after the blank line; the header is mandatory.
// - RFC 5626 §4.4.1: between messages a double CRLF is a keep-alive "ping" (answer with a single CRLF "pong");
//   a lone CRLF (a pong, or padding) is ignored.
// - Limits: the header section and the whole message are bounded; nothing is buffered past those bounds.
//
// The framer finds Content-Length itself (long form and compact `l`, any case, folded values) but does not parse SIP:
// the message parser runs on each emitted frame.

export type FramingErrorCode =
  | 'MISSING_CONTENT_LENGTH'
  | 'INVALID_CONTENT_LENGTH'
  | 'HEADER_TOO_LARGE'
  | 'MESSAGE_TOO_LARGE';

export type FrameEvent =
  /** Exactly one SIP message (headers + body). */
  | { type: 'message'; data: Buffer }
  /** A CRLFCRLF keep-alive ping: the caller should write a single CRLF back (`PONG`). */
  | { type: 'ping' }
  /** A lone CRLF between messages (a pong to our ping, or padding): nothing to do. */
  | { type: 'crlf' }
  /**
   * Framing failed; the framer is now dead and the connection must be closed (optionally after a 400).
   * `headers` holds the header section when it was complete (so the caller can build a response), else undefined.
   */
  | { type: 'error'; code: FramingErrorCode; reason: string; headers?: Buffer };

export interface FramerLimits {
  /** Largest header section accepted (start line + headers + blank line), bytes. */
  maxHeaderBytes: number;
  /** Largest message accepted (header section + body), bytes. */
  maxMessageBytes: number;
}

export const DEFAULT_FRAMER_LIMITS: FramerLimits = { maxHeaderBytes: 32 * 1024, maxMessageBytes: 64 * 1024 };

/** The reply to a CRLFCRLF ping (RFC 5626 §4.4.1). */
export const PONG = Buffer.from('\r\n');
/** A keep-alive ping to send on an idle flow (RFC 5626 §4.4.1). */
export const PING = Buffer.from('\r\n\r\n');

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

export class StreamFramer {
  readonly limits: FramerLimits;
  // Pending bytes live in buf[start, end). Capacity grows geometrically up to the message limit.
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** Where to resume the search for the end of headers (relative to `start`), to stay linear on tiny segments. */
  private scanFrom = 0;
  /** Header length and body length once the header section of the pending message has been read. */
  private headerLength = -1;
  private bodyLength = -1;
  private failed = false;

  constructor(limits: Partial<FramerLimits> = {}) {
    this.limits = { ...DEFAULT_FRAMER_LIMITS, ...limits };
    if (this.limits.maxHeaderBytes > this.limits.maxMessageBytes) {
      this.limits.maxHeaderBytes = this.limits.maxMessageBytes;
    }
  }

  /** Bytes held while waiting for the rest of a message. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** True once a framing error has been reported; further input is ignored. */
  get isFailed(): boolean {
    return this.failed;
  }

  /** Feed bytes; returns every complete event they finish, in order. */
  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    if (this.failed || chunk.length === 0) return events;
    if (this.end === this.start) {
      // Fast path: nothing pending, frame straight out of the chunk (zero-copy for the messages it completes).
      const used = this.drain(chunk, 0, chunk.length, events, false);
      if (!this.failed && used < chunk.length) this.append(chunk.subarray(used));
      return events;
    }
    this.append(chunk);
    const used = this.drain(this.buf, this.start, this.end, events, true);
    this.start += used;
    if (this.start === this.end) {
      this.start = 0;
      this.end = 0;
      // Let a large buffer go once it has been fully consumed.
      if (this.buf.length > 64 * 1024) this.buf = Buffer.alloc(0);
    }
    return events;
  }

  /** Forget pending bytes and any failure (e.g. when reusing the object for a new connection). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.start = 0;
    this.end = 0;
    this.scanFrom = 0;
    this.headerLength = -1;
    this.bodyLength = -1;
    this.failed = false;
  }

  private append(chunk: Buffer): void {
    const pending = this.end - this.start;
    const needed = pending + chunk.length;
    if (this.end + chunk.length > this.buf.length) {
      if (needed <= this.buf.length && this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
      } else {
        // Never allocate past the largest acceptable message (+ a few bytes of slack for CRLF keep-alives).
        const cap = Math.max(needed, Math.min(Math.max(this.buf.length * 2, 4096), this.limits.maxMessageBytes + 8));
        const next = Buffer.allocUnsafe(cap);
        this.buf.copy(next, 0, this.start, this.end);
        this.buf = next;
      }
      this.start = 0;
      this.end = pending;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /**
   * Consume as many complete events as possible from `data[from, to)`; returns the number of bytes consumed.
   * `copy` says whether emitted messages must be copied (true when `data` is our reusable buffer).
   */
  private drain(data: Buffer, from: number, to: number, events: FrameEvent[], copy: boolean): number {
    let pos = from;
    for (;;) {
      if (this.headerLength < 0) {
        // Between messages: keep-alives and stray line ends.
        while (pos < to) {
          const b = data[pos];
          if (b !== CR && b !== LF) break;
          if (b === LF) {
            pos += 1; // bare LF: tolerate and skip
            continue;
          }
          // b === CR
          if (pos + 1 >= to) return pos - from; // need more bytes to decide
          if (data[pos + 1] !== LF) {
            pos += 1; // bare CR: skip
            continue;
          }
          if (pos + 3 < to && data[pos + 2] === CR && data[pos + 3] === LF) {
            events.push({ type: 'ping' });
            pos += 4;
            continue;
          }
          if (pos + 2 >= to || (pos + 3 >= to && data[pos + 2] === CR)) return pos - from; // maybe a split ping
          events.push({ type: 'crlf' });
          pos += 2;
        }
        if (pos >= to) return pos - from;
        const headerEnd = this.findHeaderEnd(data, pos, to);
        if (headerEnd < 0) {
          if (to - pos > this.limits.maxHeaderBytes) {
            return this.fail(events, 'HEADER_TOO_LARGE', `header section exceeds ${this.limits.maxHeaderBytes} bytes`);
          }
          return pos - from;
        }
        const headerLength = headerEnd - pos;
        if (headerLength > this.limits.maxHeaderBytes) {
          return this.fail(events, 'HEADER_TOO_LARGE', `header section exceeds ${this.limits.maxHeaderBytes} bytes`);
        }
        const headers = data.subarray(pos, headerEnd);
        const cl = findContentLength(headers);
        if (cl === undefined) {
          return this.fail(
            events,
            'MISSING_CONTENT_LENGTH',
            'Content-Length is required on stream transports',
            headers,
          );
        }
        if (cl < 0) {
          return this.fail(events, 'INVALID_CONTENT_LENGTH', 'Content-Length is malformed or inconsistent', headers);
        }
        if (headerLength + cl > this.limits.maxMessageBytes) {
          return this.fail(
            events,
            'MESSAGE_TOO_LARGE',
            `message of ${headerLength + cl} bytes exceeds ${this.limits.maxMessageBytes}`,
            headers,
          );
        }
        this.headerLength = headerLength;
        this.bodyLength = cl;
        this.scanFrom = 0;
      }
      const total = this.headerLength + this.bodyLength;
      if (to - pos < total) return pos - from;
      const frame = data.subarray(pos, pos + total);
      events.push({ type: 'message', data: copy ? Buffer.from(frame) : frame });
      pos += total;
      this.headerLength = -1;
      this.bodyLength = -1;
    }
  }

  /** Index just past the blank line ending the header section, or -1. Accepts CRLFCRLF (and tolerates LFLF). */
  private findHeaderEnd(data: Buffer, from: number, to: number): number {
    let i = Math.max(from, from + this.scanFrom - 3);
    for (; i < to; i++) {
      if (data[i] !== LF) continue;
      // data[i] is LF; a blank line follows when the next line is empty.
      if (i + 1 < to && data[i + 1] === LF) return i + 2;
      if (i + 2 < to && data[i + 1] === CR && data[i + 2] === LF) return i + 3;
    }
    this.scanFrom = to - from;
    return -1;
  }

  private fail(events: FrameEvent[], code: FramingErrorCode, reason: string, headers?: Buffer): number {
    this.failed = true;
    events.push({ type: 'error', code, reason, ...(headers ? { headers: Buffer.from(headers) } : {}) });
    this.buf = Buffer.alloc(0);
    this.start = 0;
    this.end = 0;
    return 0;
  }
}

function lowerAscii(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** True when `headers[at, at+name.length)` equals `name` (lower-case ASCII) ignoring case. */
function nameIs(headers: Buffer, at: number, endName: number, name: string): boolean {
  if (endName - at !== name.length) return false;
  for (let k = 0; k < name.length; k++) {
    if (lowerAscii(headers[at + k]!) !== name.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Content-Length from a header section (start line included): the value, `undefined` when absent, or -1 when it is
 * malformed or when several Content-Length headers disagree. Handles `Content-Length` and compact `l`, any case,
 * whitespace before the colon, and values folded onto continuation lines.
 */
export function findContentLength(headers: Buffer): number | undefined {
  let result: number | undefined;
  const n = headers.length;
  // Skip the start line.
  let i = headers.indexOf(LF);
  if (i < 0) return undefined;
  i += 1;
  while (i < n) {
    // Start of a header line (continuation lines are consumed with their header below).
    let lineEnd = headers.indexOf(LF, i);
    if (lineEnd < 0) lineEnd = n;
    const b0 = headers[i];
    if (b0 === CR || b0 === LF) break; // blank line: end of headers
    // Header name: up to whitespace or colon.
    let j = i;
    while (j < lineEnd && headers[j] !== COLON && headers[j] !== SP && headers[j] !== HT) j++;
    const nameEnd = j;
    const isCl = nameIs(headers, i, nameEnd, 'content-length') || nameIs(headers, i, nameEnd, 'l');
    // Find the full logical line: extend over continuation lines (next line starting with SP/HT).
    let logicalEnd = lineEnd;
    while (logicalEnd + 1 < n && (headers[logicalEnd + 1] === SP || headers[logicalEnd + 1] === HT)) {
      const next = headers.indexOf(LF, logicalEnd + 1);
      logicalEnd = next < 0 ? n : next;
    }
    if (isCl) {
      while (j < logicalEnd && (headers[j] === SP || headers[j] === HT)) j++;
      if (headers[j] !== COLON) return -1;
      j += 1;
      let value = -1;
      let digits = 0;
      let trailing = false;
      for (; j < logicalEnd; j++) {
        const c = headers[j]!;
        if (c >= 0x30 && c <= 0x39) {
          if (trailing) return -1; // "12 34"
          value = Math.max(value, 0) * 10 + (c - 0x30);
          digits += 1;
          if (digits > 10) return -1;
        } else if (c === SP || c === HT || c === CR || c === LF) {
          if (digits > 0) trailing = true;
        } else {
          return -1;
        }
      }
      if (value < 0) return -1;
      if (result !== undefined && result !== value) return -1;
      result = value;
    }
    i = logicalEnd + 1;
  }
  return result;
}
