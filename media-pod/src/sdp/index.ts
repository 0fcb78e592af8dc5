export {
  type AnswerSelection,
  buildLocalSdp,
  describeRemote,
  isAudioCodec,
  type LocalLegDescription,
  offerCodecs,
  payloadTypeMap,
  type RemoteStream,
  selectAnswerCodecs,
} from './negotiate.ts';
export {
  type Codec,
  codecsOf,
  type Direction,
  directionOf,
  parseSdp,
  reverseDirection,
  type Sdp,
  SdpError,
  type SdpMedia,
  sameCodec,
  serializeSdp,
} from './sdp.ts';
