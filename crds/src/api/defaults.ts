// Schema-driven defaulting, as the apiserver does it before validation: a missing property with a `default` gets a
// copy of it, then defaulting recurses into objects and array items (so `default: {}` fills nested defaults).
import type { JSONSchemaProps } from './schema.ts';

/** Returns a defaulted deep copy of `value`; the input is not modified. */
export function applyDefaults<T>(schema: JSONSchemaProps, value: T): T {
  return fill(schema, structuredClone(value)) as T;
}

function fill(schema: JSONSchemaProps, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (schema.items) for (let i = 0; i < value.length; i++) value[i] = fill(schema.items, value[i]);
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const obj = value as Record<string, unknown>;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    if (obj[name] === undefined && child.default !== undefined) obj[name] = structuredClone(child.default);
    if (obj[name] !== undefined) obj[name] = fill(child, obj[name]);
  }
  if (schema.additionalProperties) {
    for (const key of Object.keys(obj)) obj[key] = fill(schema.additionalProperties, obj[key]);
  }
  return obj;
}
