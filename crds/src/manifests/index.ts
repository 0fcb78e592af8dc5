// Manifests: load YAML, validate objects and the world they form, report path-qualified problems.
export { type LoadedManifest, type LoadResult, loadManifests, type ManifestSource, parseManifests } from './load.ts';
export { formatProblem, type Problem } from './problems.ts';
export {
  checkNumberOverlaps,
  checkReferences,
  idOf,
  matchesLabelSelector,
  type NamespaceInfo,
  namespaceOf,
  type ReferenceOptions,
  type ReferenceProblem,
  trunkAllowsTenant,
  type World,
} from './references.ts';
export { type ValidateOptions, type ValidationResult, validateManifests, validatePaths } from './validate.ts';
export { type ObjectProblem, type ObjectValidation, validateObject } from './validate-object.ts';
