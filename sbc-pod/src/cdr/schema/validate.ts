// Validation of CDRs against the published, versioned JSON Schema (cdr-v1.schema.json, documented in docs/cdr.md),
// plus the cross-field rules a JSON Schema cannot say. e2e tests call `assertValidCdr` on every CDR a run emits.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import schema from './cdr-v1.schema.json' with { type: 'json' };

const addFormats = addFormatsModule as unknown as (typeof addFormatsModule)['default'];

export const CDR_V1_SCHEMA: Readonly<Record<string, unknown>> = schema;

export type CdrValidation = { valid: true } | { valid: false; errors: string[] };

let compiled: ReturnType<Ajv2020['compile']> | undefined;

function validator(): ReturnType<Ajv2020['compile']> {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv, ['date-time']);
  compiled = ajv.compile(schema);
  return compiled;
}

/** Rules across fields (each only checked when the fields involved are well-formed). */
function crossFieldErrors(cdr: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const t = (k: string) => (typeof cdr[k] === 'string' ? Date.parse(cdr[k] as string) : Number.NaN);
  const setup = t('setupTime');
  const ring = t('ringTime');
  const answer = t('answerTime');
  const end = t('endTime');
  if (end < setup) errors.push('/endTime is before setupTime');
  if (answer < setup) errors.push('/answerTime is before setupTime');
  if (ring < setup) errors.push('/ringTime is before setupTime');
  if (end < answer) errors.push('/endTime is before answerTime');
  const answered = cdr.answerTime !== undefined;
  if (cdr.disposition === 'answered' && !answered) errors.push('/answerTime is required when disposition is answered');
  if (answered && cdr.disposition !== 'answered') errors.push('/disposition must be answered when answerTime is set');
  if (!answered && typeof cdr.talkMs === 'number' && cdr.talkMs !== 0)
    errors.push('/talkMs must be 0 when not answered');
  if (typeof cdr.talkMs === 'number' && typeof cdr.durationMs === 'number' && cdr.talkMs > cdr.durationMs) {
    errors.push('/talkMs exceeds durationMs');
  }
  if (answered && typeof cdr.sipCode === 'number' && (cdr.sipCode < 200 || cdr.sipCode > 299)) {
    errors.push('/sipCode must be 2xx when answered');
  }
  if (cdr.admissionReason !== undefined && cdr.disposition !== 'admission-rejected') {
    errors.push('/admissionReason is only set when disposition is admission-rejected');
  }
  return errors;
}

/** Validate one CDR (a Cdr object, or anything parsed from a CDR stream). */
export function validateCdr(cdr: unknown): CdrValidation {
  const v = validator();
  const errors: string[] = [];
  if (!v(cdr)) {
    for (const e of v.errors ?? []) {
      const extra =
        e.keyword === 'additionalProperties'
          ? ` (${(e.params as { additionalProperty: string }).additionalProperty})`
          : '';
      errors.push(`${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`);
    }
  }
  if (cdr !== null && typeof cdr === 'object' && !Array.isArray(cdr)) {
    errors.push(...crossFieldErrors(cdr as Record<string, unknown>));
  }
  return errors.length ? { valid: false, errors } : { valid: true };
}

export class InvalidCdrError extends Error {
  override name = 'InvalidCdrError';
  readonly errors: string[];
  constructor(errors: string[], cdr: unknown) {
    const id = cdr && typeof cdr === 'object' ? (cdr as { id?: unknown }).id : undefined;
    super(`CDR ${String(id ?? '?')} does not match cdr-v1: ${errors.join('; ')}`);
    this.errors = errors;
  }
}

/** Throw InvalidCdrError unless the CDR is valid (for tests: `for (const c of cdrs) assertValidCdr(c)`). */
export function assertValidCdr(cdr: unknown): void {
  const r = validateCdr(cdr);
  if (!r.valid) throw new InvalidCdrError(r.errors, cdr);
}
