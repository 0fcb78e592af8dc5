// KEP-1623 conditions: desired conditions are merged with the stored ones so lastTransitionTime moves only when
// status flips; a status is written only when the merge changed something.
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type DesiredCondition = Omit<Condition, 'lastTransitionTime'>;

export interface ObjectStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  [k: string]: unknown;
}

/** Merge: keep lastTransitionTime for conditions whose status did not change; order as desired. */
export function mergeConditions(
  existing: readonly Condition[] | undefined,
  desired: readonly DesiredCondition[],
  now: string,
): Condition[] {
  const old = new Map((existing ?? []).map((c) => [c.type, c]));
  return desired.map((d) => {
    const prev = old.get(d.type);
    return { ...d, lastTransitionTime: prev && prev.status === d.status ? prev.lastTransitionTime : now };
  });
}

/** Conditions whose status flipped (or that are new), for Events. */
export function transitions(existing: readonly Condition[] | undefined, merged: readonly Condition[]): Condition[] {
  const old = new Map((existing ?? []).map((c) => [c.type, c]));
  return merged.filter((c) => old.get(c.type)?.status !== c.status);
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

export function sameStatus(a: unknown, b: unknown): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

/** The aggregate Ready condition: True when all the others are True, else the first that is not. */
export function readyCondition(
  parts: readonly DesiredCondition[],
  generation: number | undefined,
  readyMessage: string,
): DesiredCondition {
  const bad = parts.find((c) => c.status !== 'True');
  const base = generation === undefined ? {} : { observedGeneration: generation };
  if (!bad) return { type: 'Ready', status: 'True', reason: 'Ready', message: readyMessage, ...base };
  return {
    type: 'Ready',
    status: bad.status === 'Unknown' ? 'Unknown' : 'False',
    reason: bad.reason,
    message: `${bad.type}: ${bad.message}`,
    ...base,
  };
}
