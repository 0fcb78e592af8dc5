import type { CSeq, NameAddr, RawHeader, Via } from './types.ts';

/** Short machine reasons a message (or one of its parts) is rejected. */
export type SipParseErrorCode =
  | 'too_large'
  | 'empty'
  | 'incomplete_headers'
  | 'line_too_long'
  | 'too_many_headers'
  | 'bad_start_line'
  | 'bad_version'
  | 'bad_status'
  | 'bad_uri'
  | 'unsupported_uri_scheme'
  | 'bad_header'
  | 'bad_via'
  | 'bad_name_addr'
  | 'bad_call_id'
  | 'bad_cseq'
  | 'cseq_method_mismatch'
  | 'bad_max_forwards'
  | 'bad_content_length'
  | 'duplicate_header'
  | 'missing_header'
  | 'missing_content_length'
  | 'body_truncated';

/**
 * A message that cannot be accepted. `reason` is a short ASCII phrase that never echoes received bytes, so it can be
 * used directly as the reason phrase of a `400` (or `416`/`505`, see {@link suggestedStatus}).
 * When the start line and some headers could be read, the fields below carry what was understood, so the caller can
 * still answer a request (Via, From, To, Call-ID and CSeq are all a response needs, RFC 3261 §8.2.6).
 */
export class SipParseError extends Error {
  readonly code: SipParseErrorCode;
  readonly reason: string;
  /** Canonical name of the header at fault, when there is one. */
  header?: string;
  isRequest?: boolean;
  method?: string;
  status?: number;
  callId?: string;
  cseq?: CSeq;
  from?: NameAddr;
  to?: NameAddr;
  vias?: Via[];
  /** Every header line read before the failure (or all of them for a late failure). */
  headers?: RawHeader[];

  constructor(code: SipParseErrorCode, reason: string, header?: string) {
    super(reason);
    this.name = 'SipParseError';
    this.code = code;
    this.reason = reason;
    if (header !== undefined) this.header = header;
  }
}

/** The status a UAS/proxy should answer a request that failed with this error (RFC 3261 §8.2.2, §21.4.16, §21.5.6). */
export function suggestedStatus(err: SipParseError): number {
  switch (err.code) {
    case 'unsupported_uri_scheme':
      return 416;
    case 'bad_version':
      return 505;
    case 'too_large':
      return 513;
    default:
      return 400;
  }
}
