// The CDR of one call attempt (DESIGN.md §8), built from the call when it ends. Pure.
import { CDR_SCHEMA_VERSION, type Cdr, cdrId, q850ForSipStatus } from '../cdr/record.ts';
import type { Call } from './call.ts';
import { dispositionFor } from './outcome.ts';

export interface CallEnd {
  status: number;
  reason: string;
  endedBy: 'caller' | 'callee' | 'sbc';
  byeReason?: string | undefined;
}

export function buildCdr(call: Call, how: CallEnd, podName: string): Cdr {
  const answered = call.times.answer !== undefined;
  const end = call.times.end ?? Date.now();
  const status = answered ? 200 : how.status;
  const out = call.outbound;
  // RFC 3326: a BYE's `Reason: Q.850;cause=N` is the cause; else the RFC 3398 mapping of the final status.
  const fromReason = /(?:^|,)\s*Q\.850\s*;(?:[^,]*;)?\s*cause\s*=\s*(\d{1,3})/i.exec(how.byeReason ?? '')?.[1];
  const q850 = fromReason !== undefined && Number(fromReason) <= 127 ? Number(fromReason) : q850ForSipStatus(status);
  // An answered call's sipCode is 200 whatever ended it; the reason goes in endReason (capped like the schema).
  const endReason = answered ? (how.byeReason ?? (how.endedBy === 'sbc' ? how.reason : undefined)) : undefined;
  return {
    schema: CDR_SCHEMA_VERSION,
    id: cdrId(call.tenant.id, call.inbound.req.callId, call.inbound.req.from.params.get('tag') ?? ''),
    tenant: call.tenant.id,
    account: call.tenant.billing.accountId,
    direction: call.direction,
    inboundCallId: call.inbound.req.callId,
    ...(out ? { outboundCallId: out.req.callId } : {}),
    caller: call.caller,
    callee: call.callee,
    ...(call.trunk ? { trunk: call.trunk.id } : {}),
    setupTime: new Date(call.times.setup).toISOString(),
    ...(call.times.ring ? { ringTime: new Date(call.times.ring).toISOString() } : {}),
    ...(call.times.answer ? { answerTime: new Date(call.times.answer).toISOString() } : {}),
    endTime: new Date(end).toISOString(),
    durationMs: end - call.times.setup,
    talkMs: answered ? end - call.times.answer! : 0,
    disposition: answered ? 'answered' : (call.disposition ?? dispositionFor(status)),
    sipCode: status,
    sipReason: answered ? 'OK' : how.reason,
    ...(q850 !== undefined ? { q850Cause: q850 } : {}),
    endedBy: how.endedBy,
    ...(endReason ? { endReason: endReason.slice(0, 256) } : {}),
    attempts: call.attempt,
    failover: call.attempt > 1,
    ...(call.codec ? { codec: call.codec } : {}),
    ...(call.admissionReason && call.disposition === 'admission-rejected'
      ? { admissionReason: call.admissionReason }
      : {}),
    // A call another pod set up and this one ended (takeover after a pod loss or a drain): every pod, in order.
    pods: call.replica?.pods.length ? [...call.replica.pods] : [podName],
    ...(call.replica?.takenOverFrom ? { takenOverBy: podName } : {}),
  };
}
