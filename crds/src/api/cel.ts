// CEL rules (`x-kubernetes-validations`) and their TypeScript twins.
//
// The kube-apiserver evaluates the CEL text; offline (`switchboard validate`, local mode, the operator's own checks)
// we cannot run CEL, so every rule is declared together with an equivalent TS predicate. `cel()` returns the plain
// rule object that goes into the schema and registers the twin under the exact rule text. The offline validator
// walks the (defaulted) object alongside the schema and, wherever a node carries rules, runs their twins with
// `self` bound to that node, exactly as the apiserver binds `self`. A test asserts that every rule in every schema
// has a twin and that every rule is violated by at least one invalid fixture.
import type { ValidationRule } from './schema.ts';

// biome-ignore lint/suspicious/noExplicitAny: a twin reads the same untyped data CEL sees (`self` is dynamic).
export type CelSelf = any;
export type CelTwin = (self: CelSelf) => boolean;

const twins = new Map<string, CelTwin>();

export function cel(
  rule: string,
  message: string,
  twin: CelTwin,
  options: { fieldPath?: string; reason?: ValidationRule['reason'] } = {},
): ValidationRule {
  const existing = twins.get(rule);
  if (existing && existing !== twin && existing.toString() !== twin.toString()) {
    throw new Error(`CEL rule declared twice with different twins: ${rule}`);
  }
  twins.set(rule, twin);
  const out: { -readonly [K in keyof ValidationRule]: ValidationRule[K] } = { rule, message };
  if (options.fieldPath) out.fieldPath = options.fieldPath;
  if (options.reason) out.reason = options.reason;
  return out;
}

/** The TS twin of a CEL rule, by its exact text. */
export function celTwin(rule: string): CelTwin | undefined {
  return twins.get(rule);
}

/** CEL `has(self.field)`: the field is present (null counts as absent, as after apiserver pruning). */
export function has(obj: CelSelf, field: string): boolean {
  return obj !== null && typeof obj === 'object' && obj[field] !== undefined && obj[field] !== null;
}
