// The SIP message layer: parse, inspect, build and serialize SIP messages.
export { SipParseError, type SipParseErrorCode, suggestedStatus } from './errors.ts';
export {
  addHeader,
  COMPACT_FORMS,
  canonicalName,
  getHeader,
  getHeaders,
  hasHeader,
  headerKey,
  prependHeader,
  removeHeader,
  setHeader,
} from './headers.ts';
export { formatNameAddr, parseNameAddr, parseNameAddrList } from './name-addr.ts';
export { DEFAULT_LIMITS, findHeaderEnd, type ParseLimits, parseMessage } from './parse.ts';
export {
  buildErrorResponse,
  buildRequest,
  buildResponse,
  defaultReason,
  REASON_PHRASES,
  type RequestSpec,
  type ResponseOptions,
  serializeMessage,
} from './serialize.ts';
export type * from './types.ts';
export { formatUri, parseUri, unescapeUriText } from './uri.ts';
export { formatVia, parseVia } from './via.ts';
