export { AesCm } from './aes-cm.ts';
export {
  estimateRoc,
  rtpHeaderLength,
  SRTP_SUITES,
  SrtpContext,
  type SrtpError,
  type SrtpMasterKey,
  type SrtpPolicy,
  type SrtpSuite,
  tagLength,
} from './context.ts';
export { deriveKey, deriveSessionKeys, type SessionKeys } from './kdf.ts';
export { ReplayWindow } from './replay.ts';
export {
  type CryptoAttribute,
  formatCryptoAttribute,
  generateMasterKey,
  parseCryptoAttribute,
  policyFromCrypto,
  type SdesKeyParam,
} from './sdes.ts';
