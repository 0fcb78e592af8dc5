export {
  DEFAULT_MEDIA_POOL,
  DEFAULT_MEDIA_PORTS,
  type MediaPod,
  type MediaPodOptions,
  optionsFromEnv,
  startMediaPod,
} from './app.ts';
export {
  type AnswerRequest,
  type AnswerResponse,
  DEFAULT_NO_MEDIA_TIMEOUT_MS,
  EngineError,
  type LegInfo,
  type LegProfile,
  type LegStats,
  MediaEngine,
  type OfferRequest,
  type OfferResponse,
  type PortPoolConfig,
  type ReanchorResponse,
  type SessionInfo,
} from './relay/index.ts';
export { RedisSessionStore } from './state/redis-store.ts';
export { MemorySessionStore, type PodRecord, type SessionRecord, type SessionStore } from './state/store.ts';
