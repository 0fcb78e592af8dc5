// Structural OpenAPI v3 schemas as data, and the type-level mapping from a schema to the TypeScript type it describes.
// The schemas in this folder are the single source of truth: the CRD YAML is generated from them, the offline
// validator converts them to JSON Schema for ajv, and the TS types are *derived* from them with `FromSchema<>`, so a
// field added to a schema is a field in the type (no hand-written interface to drift).

/** One `x-kubernetes-validations` entry (a CEL rule). Every rule has a TypeScript twin, see cel.ts. */
export interface ValidationRule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps this project uses (all structural). */
export interface JSONSchemaProps {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly description?: string;
  readonly format?: string;
  readonly enum?: readonly (string | number)[];
  readonly default?: unknown;
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minProperties?: number;
  readonly maxProperties?: number;
  readonly required?: readonly string[];
  readonly properties?: { readonly [name: string]: JSONSchemaProps };
  readonly additionalProperties?: JSONSchemaProps;
  readonly items?: JSONSchemaProps;
  readonly 'x-kubernetes-validations'?: readonly ValidationRule[];
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
  readonly 'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ObjectFrom<P, R> = Simplify<
  { -readonly [K in keyof P & R]-?: FromSchema<P[K]> } & { -readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K]> }
>;

/** The TypeScript type of a value valid against schema `S` (declared `as const`). Defaulted fields stay optional. */
export type FromSchema<S> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly type: 'string' }
    ? string
    : S extends { readonly type: 'integer' | 'number' }
      ? number
      : S extends { readonly type: 'boolean' }
        ? boolean
        : S extends { readonly type: 'array'; readonly items: infer I }
          ? FromSchema<I>[]
          : S extends { readonly type: 'object'; readonly properties: infer P }
            ? ObjectFrom<P, S extends { readonly required: readonly (infer R)[] } ? R : never>
            : S extends { readonly type: 'object'; readonly additionalProperties: infer A }
              ? Record<string, FromSchema<A>>
              : S extends { readonly type: 'object' }
                ? Record<string, unknown>
                : unknown;

/** Visit every schema node with its path of property names (`[]` for array items is written as `[]`). */
export function walkSchema(
  schema: JSONSchemaProps,
  visit: (node: JSONSchemaProps, path: string) => void,
  path = '',
): void {
  visit(schema, path);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    walkSchema(child, visit, path ? `${path}.${name}` : name);
  }
  if (schema.items) walkSchema(schema.items, visit, `${path}[]`);
  if (schema.additionalProperties) walkSchema(schema.additionalProperties, visit, `${path}.*`);
}
