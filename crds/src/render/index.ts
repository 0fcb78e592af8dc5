// The renderer (operator side) and the rendered-config contract (pod side).
export * from './config-types.ts';
export { canonicalJson, contentHash } from './hash.ts';
export {
  DEFAULT_WILDCARD_SECRET,
  type RenderOptions,
  type RenderProblem,
  type RenderResult,
  render,
  snapshotVersion,
} from './render.ts';
export { type ConfigValidation, validateRenderedConfig } from './validate-config.ts';
