// Config sources: one stream of validated snapshots from manifests (local mode) or rendered files (mounted volumes).

export { KubernetesSource, type KubernetesSourceOptions } from './kubernetes.ts';
export {
  loadManifestConfig,
  ManifestDirectorySource,
  type ManifestLoadOptions,
  type ManifestSourceOptions,
} from './manifest-directory.ts';
export { loadRenderedConfig, RenderedDirectorySource, type RenderedSourceOptions } from './rendered-directory.ts';
export type {
  CertificateProvider,
  CheckResult,
  ConfigSource,
  LoadOutcome,
  Rejection,
  Snapshot,
  SourceOptions,
} from './types.ts';
export { WatchedSource } from './watched-source.ts';
