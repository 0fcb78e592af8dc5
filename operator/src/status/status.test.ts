import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeConditions, readyCondition, sameStatus, transitions } from './conditions.ts';
import { describeRouteProblem, tenantConditions } from './objects.ts';

test('lastTransitionTime moves only when status flips', () => {
  const a = mergeConditions(undefined, [{ type: 'X', status: 'False', reason: 'A', message: 'm1' }], 't1');
  const b = mergeConditions(a, [{ type: 'X', status: 'False', reason: 'B', message: 'm2' }], 't2');
  assert.equal(b[0]!.lastTransitionTime, 't1');
  assert.deepEqual(transitions(a, b), []);
  const c = mergeConditions(b, [{ type: 'X', status: 'True', reason: 'C', message: 'm3' }], 't3');
  assert.equal(c[0]!.lastTransitionTime, 't3');
  assert.equal(transitions(b, c).length, 1);
  assert.ok(sameStatus({ conditions: c, observedGeneration: 2 }, { observedGeneration: 2, conditions: c }));
});

test('ReferencesResolved names the route and the trunk', () => {
  const problem = {
    severity: 'error' as const,
    kind: 'RoutePolicy',
    namespace: 'contoso',
    name: 'contoso',
    path: 'spec.routes[1].action.trunks[0]',
    message: 'Trunk carriers/international-trunk not found',
  };
  assert.equal(describeRouteProblem(problem, ['us', 'uk']), 'route uk: trunk carriers/international-trunk not found');
  const conds = tenantConditions({
    id: 'contoso/contoso',
    generation: 3,
    mode: 'Wildcard',
    policyId: 'contoso/contoso',
    routeNames: ['us', 'uk'],
    tenantProblems: [],
    policyProblems: [problem],
    rendered: false,
    carried: true,
    version: 'v',
  });
  const refs = conds.find((c) => c.type === 'ReferencesResolved')!;
  assert.equal(refs.status, 'False');
  assert.equal(refs.reason, 'TrunkNotFound');
  assert.equal(refs.observedGeneration, 3);
  const rendered = conds.find((c) => c.type === 'ConfigRendered')!;
  assert.match(rendered.message, /previous document/);
  const ready = readyCondition(conds, 3, 'ok');
  assert.equal(ready.status, 'False');
  assert.equal(ready.reason, 'TrunkNotFound');
});

test('CertificateReady mirrors the cert-manager Ready condition', () => {
  const base = {
    id: 'a/a',
    generation: 1,
    mode: 'Dedicated' as const,
    policyId: 'a/a',
    routeNames: [],
    tenantProblems: [],
    policyProblems: [],
    rendered: true,
    carried: false,
    version: 'v',
  };
  const cert = (ready?: { status: string; reason?: string; message?: string; observedGeneration?: number }) =>
    tenantConditions({
      ...base,
      certificate: { name: 'sys/tenant-a-a', generation: 2, ...(ready ? { ready } : {}) },
    }).find((c) => c.type === 'CertificateReady')!;
  assert.equal(cert().reason, 'CertificatePending');
  assert.equal(cert({ status: 'True', reason: 'Ready', observedGeneration: 1 }).status, 'Unknown'); // stale generation
  assert.equal(cert({ status: 'True', reason: 'Ready', observedGeneration: 2 }).status, 'True');
  const failed = cert({ status: 'False', reason: 'Failed', message: 'boom', observedGeneration: 2 });
  assert.deepEqual(
    [failed.status, failed.reason, failed.message],
    ['False', 'Failed', 'Certificate sys/tenant-a-a: boom'],
  );
});
