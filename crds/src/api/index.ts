// switchboard.dev/v1alpha1: the API in one place (types derived from the schemas, the schemas, CRD metadata).

export { type CelTwin, cel, celTwin } from './cel.ts';
export * from './common.ts';
export { applyDefaults } from './defaults.ts';
export { kindJsonSchema, toJsonSchema } from './json-schema.ts';
export * from './kinds.ts';
export * from './numbers.ts';
export * from './route-policy.ts';
export * from './schema.ts';
export * from './tenant.ts';
export * from './trunk.ts';

import type { RoutePolicy } from './route-policy.ts';
import type { Tenant } from './tenant.ts';
import type { Trunk } from './trunk.ts';

export type SwitchboardObject = Tenant | Trunk | RoutePolicy;
