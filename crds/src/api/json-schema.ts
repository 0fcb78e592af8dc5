// Structural schema → plain JSON Schema (draft-07) for ajv and editors. x-kubernetes-* keywords are dropped (their
// meaning is re-implemented in TS: CEL twins, list-map key uniqueness); `set` lists become uniqueItems; objects with
// declared properties become closed (additionalProperties: false), matching kubectl's strict field validation
// ("unknown field"); metadata gets the name/namespace rules the apiserver enforces.
import { API_VERSION, objectMetaSchema } from './common.ts';
import { crdRootSchema, type KindInfo } from './kinds.ts';
import type { JSONSchemaProps } from './schema.ts';

export type JsonSchema = { [key: string]: unknown };

export function toJsonSchema(node: JSONSchemaProps, closed = true): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') {
      const props: JsonSchema = {};
      for (const [name, child] of Object.entries(value as Record<string, JSONSchemaProps>)) {
        props[name] = toJsonSchema(child, closed);
      }
      out.properties = props;
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toJsonSchema(value as JSONSchemaProps, closed);
    } else {
      out[key] = value;
    }
  }
  if (node['x-kubernetes-list-type'] === 'set') out.uniqueItems = true;
  if (closed && node.type === 'object' && node.properties && !node.additionalProperties) {
    out.additionalProperties = false;
  }
  return out;
}

/** The JSON Schema of one whole object of a kind (apiVersion, kind, metadata, spec, status). */
export function kindJsonSchema(info: KindInfo): JsonSchema {
  const root = toJsonSchema(crdRootSchema(info));
  const props = root.properties as JsonSchema;
  props.apiVersion = { type: 'string', const: API_VERSION };
  props.kind = { type: 'string', const: info.kind };
  props.metadata = toJsonSchema(objectMetaSchema, false);
  root.required = ['apiVersion', 'kind', 'metadata', 'spec'];
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://switchboard.dev/schemas/${API_VERSION}/${info.singular}.schema.json`,
    title: `${info.kind} (${API_VERSION})`,
    ...root,
  };
}
