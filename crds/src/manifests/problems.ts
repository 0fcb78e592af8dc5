// A problem found in a manifest: where (file and document), which object, which field, and what is wrong.

export interface Problem {
  severity: 'error' | 'warning';
  /** The file as given (or found under a given directory). */
  file?: string;
  /** 1-based document number within the file (`#1` is the first YAML document). */
  index?: number;
  kind?: string;
  namespace?: string;
  name?: string;
  /** Field path inside the object, e.g. `spec.routes[1].action.trunks[0]`; empty for the whole object. */
  path: string;
  message: string;
  /** The CEL rule (x-kubernetes-validations) whose TS twin reported this, if any. */
  rule?: string;
}

/** `examples/tenants.yaml#2 Tenant contoso/contoso: spec.certificate.issuerRef: required when mode is Dedicated` */
export function formatProblem(p: Problem): string {
  let where = p.file ? `${p.file}${p.index !== undefined ? `#${p.index}` : ''}` : '';
  if (p.kind) {
    const id = p.name ? ` ${p.namespace ? `${p.namespace}/` : ''}${p.name}` : '';
    where = `${where}${where ? ' ' : ''}${p.kind}${id}`;
  }
  const head = p.severity === 'warning' ? 'warning: ' : '';
  const path = p.path ? `${p.path}: ` : '';
  return `${head}${where}${where ? ': ' : ''}${path}${p.message}`;
}

/** Append a property or index to a dotted field path. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base ? `${base}.${key}` : key;
}

/** Append a CEL fieldPath (`.a.b`) to a dotted field path. */
export function joinFieldPath(base: string, fieldPath: string | undefined): string {
  if (!fieldPath) return base;
  return fieldPath
    .split('.')
    .filter(Boolean)
    .reduce((acc, key) => joinPath(acc, key), base);
}
