export {
  type AnswerRequest,
  type AnswerResponse,
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
