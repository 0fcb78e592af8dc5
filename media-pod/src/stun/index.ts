export { crc32 } from './crc32.ts';
export {
  answerBindingRequest,
  type BindingOutcome,
  buildBindingRequest,
  generateIceCredentials,
  type IceCredentials,
} from './ice-lite.ts';
export {
  Attr,
  decodeStun,
  decodeXorAddress,
  type EncodeOptions,
  encodeStun,
  encodeXorAddress,
  getAttribute,
  looksLikeStun,
  METHOD_BINDING,
  type StunAttribute,
  StunClass,
  type StunMessage,
  type TransportAddress,
  verifyFingerprint,
  verifyMessageIntegrity,
} from './message.ts';
