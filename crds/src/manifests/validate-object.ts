// Offline validation of one object against the same schema the CRD carries, in the apiserver's order:
// defaulting → OpenAPI schema (ajv, strict unknown-field checking like kubectl) → CEL rules (their TS twins) →
// list-map key uniqueness → a few checks the apiserver cannot do (regex syntax, IANA time zones).
import { isIP } from 'node:net';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { celTwin } from '../api/cel.ts';
import { API_VERSION, GROUP, PATTERN_HINTS } from '../api/common.ts';
import { applyDefaults } from '../api/defaults.ts';
import type { SwitchboardObject } from '../api/index.ts';
import { kindJsonSchema } from '../api/json-schema.ts';
import { crdRootSchema, KINDS, type KindInfo, kindInfo } from '../api/kinds.ts';
import type { JSONSchemaProps } from '../api/schema.ts';
import { joinFieldPath, joinPath, type Problem } from './problems.ts';

const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

export type ObjectProblem = Omit<Problem, 'file' | 'index'>;

export interface ObjectValidation {
  /** The defaulted object (namespace defaulted to "default"), present when it has no errors. */
  object?: SwitchboardObject;
  problems: ObjectProblem[];
}

/** Is this a valid CIDR (IPv4 or IPv6, prefix length in range)? */
export function isCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const ip = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  const version = isIP(ip);
  if (!version || !/^[0-9]{1,3}$/.test(bits)) return false;
  return Number(bits) <= (version === 4 ? 32 : 128);
}

let compiled: Map<string, ValidateFunction> | undefined;

function validators(): Map<string, ValidateFunction> {
  if (compiled) return compiled;
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
  addFormats(ajv, ['date-time']);
  ajv.addFormat('cidr', { type: 'string', validate: isCidr });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  compiled = new Map(KINDS.map((k) => [k.kind, ajv.compile(kindJsonSchema(k))]));
  return compiled;
}

export function isSwitchboardApiVersion(apiVersion: unknown): boolean {
  return typeof apiVersion === 'string' && apiVersion.startsWith(`${GROUP}/`);
}

/** Validate one object of a switchboard.dev kind. */
export function validateObject(input: unknown): ObjectValidation {
  const problems: ObjectProblem[] = [];
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { problems: [{ severity: 'error', path: '', message: 'not an object' }] };
  }
  const raw = input as Record<string, unknown>;
  const meta = (raw.metadata ?? {}) as Record<string, unknown>;
  const ident: Pick<Problem, 'kind' | 'namespace' | 'name'> = {};
  if (typeof raw.kind === 'string') ident.kind = raw.kind;
  if (typeof meta.name === 'string') ident.name = meta.name;
  if (typeof meta.name === 'string') ident.namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const err = (path: string, message: string, rule?: string) =>
    problems.push({ severity: 'error', ...ident, path, message, ...(rule ? { rule } : {}) });

  if (raw.apiVersion !== API_VERSION) {
    err('apiVersion', `unsupported apiVersion ${JSON.stringify(raw.apiVersion)}; expected ${API_VERSION}`);
    return { problems };
  }
  const info = typeof raw.kind === 'string' ? kindInfo(raw.kind) : undefined;
  if (!info) {
    err('kind', `unknown kind ${JSON.stringify(raw.kind)}; expected one of ${KINDS.map((k) => k.kind).join(', ')}`);
    return { problems };
  }

  const root = crdRootSchema(info);
  const obj = applyDefaults(root, raw);
  if (
    obj.metadata &&
    typeof obj.metadata === 'object' &&
    (obj.metadata as Record<string, unknown>).namespace === undefined
  ) {
    (obj.metadata as Record<string, unknown>).namespace = 'default';
  }

  const validate = validators().get(info.kind)!;
  const schemaErrorPaths: string[] = [];
  if (!validate(obj)) {
    for (const e of dedupeErrors(validate.errors ?? [])) {
      const { path, message } = describeAjvError(e);
      schemaErrorPaths.push(path);
      err(path, message);
    }
  }

  runTwins(root, obj, '', schemaErrorPaths, err);
  checkListMapKeys(root, obj, '', err);
  extraChecks(info, obj, err);

  return problems.length === 0 ? { object: obj as unknown as SwitchboardObject, problems } : { problems };
}

/** Walk value and schema together; run each node's CEL twins where no schema error sits at or below the node. */
function runTwins(
  schema: JSONSchemaProps,
  value: unknown,
  path: string,
  errorPaths: readonly string[],
  err: (path: string, message: string, rule?: string) => void,
): void {
  if (value === undefined || value === null) return;
  const rules = schema['x-kubernetes-validations'];
  if (rules && !errorPaths.some((p) => isAtOrBelow(p, path))) {
    for (const rule of rules) {
      const twin = celTwin(rule.rule);
      if (!twin) throw new Error(`CEL rule without a TS twin: ${rule.rule}`);
      let ok: boolean;
      try {
        ok = twin(value);
      } catch {
        ok = true; // the schema errors already describe a value the rule cannot read
      }
      if (!ok) {
        const target = joinFieldPath(path, rule.fieldPath);
        // A root-level rule has no path; its message names the field.
        err(target, rule.message, rule.rule);
      }
    }
  }
  if (Array.isArray(value)) {
    if (schema.items)
      value.forEach((item, i) => {
        runTwins(schema.items!, item, joinPath(path, i), errorPaths, err);
      });
    return;
  }
  if (typeof value !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    runTwins(child, obj[name], joinPath(path, name), errorPaths, err);
  }
  if (schema.additionalProperties) {
    for (const key of Object.keys(obj))
      runTwins(schema.additionalProperties, obj[key], joinPath(path, key), errorPaths, err);
  }
}

function isAtOrBelow(errorPath: string, nodePath: string): boolean {
  if (nodePath === '') return true;
  if (!errorPath.startsWith(nodePath)) return false;
  const next = errorPath[nodePath.length];
  return next === undefined || next === '.' || next === '[';
}

/** x-kubernetes-list-type: map — the key fields must be unique across items (the apiserver says "Duplicate value"). */
function checkListMapKeys(
  schema: JSONSchemaProps,
  value: unknown,
  path: string,
  err: (path: string, message: string) => void,
): void {
  if (value === undefined || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    const keys = schema['x-kubernetes-list-map-keys'];
    if (schema['x-kubernetes-list-type'] === 'map' && keys) {
      const seen = new Map<string, number>();
      value.forEach((item, i) => {
        if (!item || typeof item !== 'object') return;
        const key = JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k]));
        const first = seen.get(key);
        if (first === undefined) seen.set(key, i);
        else {
          const shown = keys.map((k) => `${k}=${JSON.stringify((item as Record<string, unknown>)[k])}`).join(', ');
          err(joinPath(path, i), `duplicate ${shown} (also at ${joinPath(path, first)})`);
        }
      });
    }
    if (schema.items)
      value.forEach((item, i) => {
        checkListMapKeys(schema.items!, item, joinPath(path, i), err);
      });
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const [name, child] of Object.entries(schema.properties ?? {}))
    checkListMapKeys(child, obj[name], joinPath(path, name), err);
}

const RE2_UNSUPPORTED = /\(\?[=!<]|\\[1-9]|\\k</;

/** A destinationPattern must be a regular expression both Go's RE2 and JavaScript accept the same way. */
export function checkPattern(pattern: string): string | null {
  if (RE2_UNSUPPORTED.test(pattern)) return 'lookaround and backreferences are not supported (RE2 subset)';
  try {
    new RegExp(pattern, 'u');
  } catch (e) {
    return `invalid regular expression: ${(e as Error).message}`;
  }
  return null;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Checks with no CEL equivalent: the operator reports these in status (ReferencesResolved/ConfigRendered). */
function extraChecks(info: KindInfo, obj: Record<string, unknown>, err: (path: string, message: string) => void): void {
  if (info.kind !== 'RoutePolicy') return;
  const spec = obj.spec as { routes?: unknown; defaultAction?: unknown } | undefined;
  if (!spec || !Array.isArray(spec.routes)) return;
  spec.routes.forEach((route: unknown, i: number) => {
    const match = (route as { match?: { destinationPattern?: unknown; timeOfDay?: { timeZone?: unknown } } })?.match;
    if (typeof match?.destinationPattern === 'string') {
      const problem = checkPattern(match.destinationPattern);
      if (problem) err(`spec.routes[${i}].match.destinationPattern`, problem);
    }
    const tz = match?.timeOfDay?.timeZone;
    if (typeof tz === 'string' && !isTimeZone(tz)) {
      err(`spec.routes[${i}].match.timeOfDay.timeZone`, `unknown IANA time zone ${JSON.stringify(tz)}`);
    }
  });
}

function dedupeErrors(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function pointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<string>((acc, seg) => joinPath(acc, /^[0-9]+$/.test(seg) ? Number(seg) : seg), '');
}

function describeAjvError(e: ErrorObject): { path: string; message: string } {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: joinPath(path, String(p.missingProperty)), message: 'required' };
    case 'additionalProperties':
      return { path: joinPath(path, String(p.additionalProperty)), message: 'unknown field' };
    case 'enum':
      return {
        path,
        message: `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')} (got ${JSON.stringify(e.data)})`,
      };
    case 'const':
      return { path, message: `must be ${JSON.stringify(p.allowedValue)} (got ${JSON.stringify(e.data)})` };
    case 'pattern': {
      const hint = PATTERN_HINTS[String(p.pattern)];
      return { path, message: `${JSON.stringify(e.data)} is not ${hint ?? `matching ${String(p.pattern)}`}` };
    }
    case 'format':
      return { path, message: `${JSON.stringify(e.data)} is not a valid ${String(p.format)}` };
    case 'type':
      return { path, message: `must be ${article(String(p.type))} ${String(p.type)}` };
    case 'uniqueItems':
      return { path, message: `duplicate entries (items ${String(p.j)} and ${String(p.i)} are equal)` };
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? 'an' : 'a';
}
