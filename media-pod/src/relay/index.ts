export {
  type AnswerRequest,
  type AnswerResponse,
  DEFAULT_NO_MEDIA_TIMEOUT_MS,
  EngineError,
  type EngineOptions,
  MediaEngine,
  type OfferRequest,
  type OfferResponse,
  type ReanchorResponse,
} from './engine.ts';
export { Leg, type LegProfile, type LegStats } from './leg.ts';
export { PoolSet, PortPool, type PortPoolConfig, parsePortRange } from './pool.ts';
export { type LegInfo, MediaSession, type SessionInfo } from './session.ts';
