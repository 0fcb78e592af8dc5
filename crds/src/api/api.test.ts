import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateObject } from '../manifests/validate-object.ts';
import { celTwin } from './cel.ts';
import { applyDefaults } from './defaults.ts';
import {
  allCelRules,
  blocksOverlap,
  crdRootSchema,
  formatNumberBlock,
  type JSONSchemaProps,
  KINDS,
  numberInBlock,
  parseNumberBlock,
  type RoutePolicy,
  type Tenant,
  type Trunk,
  walkSchema,
} from './index.ts';

test('every CEL rule has a TypeScript twin', () => {
  const rules = allCelRules();
  assert.ok(rules.length >= 25, `expected the CEL rules of all kinds, found ${rules.length}`);
  for (const r of rules) assert.equal(typeof celTwin(r.rule), 'function', `${r.kind} ${r.path}: ${r.rule}`);
});

test('schemas are structural and CEL-cost-bounded', () => {
  for (const info of KINDS) {
    walkSchema(crdRootSchema(info), (node: JSONSchemaProps, path) => {
      assert.ok(node.type, `${info.kind} ${path}: every node needs a type`);
      if (node.type === 'array') assert.ok(node.maxItems, `${info.kind} ${path}: arrays need maxItems (CEL cost)`);
      if (node.type === 'string' && !node.enum && !node.format && path.startsWith('spec')) {
        assert.ok(node.maxLength, `${info.kind} ${path}: strings need maxLength (CEL cost)`);
      }
      if (node.properties && node.required) {
        for (const r of node.required) assert.ok(node.properties[r], `${info.kind} ${path}: required ${r} is declared`);
      }
      // fieldPath must point at a declared property.
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        if (!rule.fieldPath) continue;
        let target: JSONSchemaProps | undefined = node;
        for (const seg of rule.fieldPath.split('.').filter(Boolean)) target = target?.properties?.[seg];
        assert.ok(target, `${info.kind} ${path}: fieldPath ${rule.fieldPath} of ${rule.rule}`);
      }
    });
  }
});

// Objects typed with the schema-derived TS types: if a type drifted from the schema, either tsc rejects these or
// validation below does.
const tenant: Tenant = {
  apiVersion: 'switchboard.dev/v1alpha1',
  kind: 'Tenant',
  metadata: { name: 'contoso', namespace: 'contoso' },
  spec: {
    displayName: 'Contoso',
    fqdn: 'contoso.sbc.example.net',
    certificate: { mode: 'Dedicated', issuerRef: { name: 'ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
    numbers: ['+15551230000-+15551239999', '+44207946*', '+15550001111'],
    limits: { callsPerSecond: 5, maxConcurrentCalls: 50 },
    routePolicyRef: { name: 'contoso' },
    signallingPool: 'default',
    mediaPool: 'eu',
    callerIdScreening: 'Replace',
    defaultCallerId: '+15551230000',
    billing: { accountId: 'A-1', currency: 'EUR', model: 'PerCall', ratePlan: 'gold' },
    suspended: false,
  },
  status: {
    observedGeneration: 3,
    configVersion: '0123456789abcdef',
    conditions: [
      { type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z', reason: 'Rendered', message: '' },
    ],
  },
};
const trunk: Trunk = {
  apiVersion: 'switchboard.dev/v1alpha1',
  kind: 'Trunk',
  metadata: { name: 'trunk-1', namespace: 'carriers' },
  spec: {
    description: 'carrier',
    targets: [{ host: '192.0.2.1', port: 5060, transport: 'UDP', priority: 1, weight: 10 }],
    inbound: { sourceCidrs: ['192.0.2.0/24', '2001:db8::/32'], digest: { secretRef: { name: 's' }, realm: 'r' } },
    outbound: {
      auth: { secretRef: { name: 's' } },
      registration: { registrar: 'reg.example.com', expiresSeconds: 600 },
    },
    healthCheck: { enabled: true, optionsIntervalSeconds: 15, failureThreshold: 2 },
    capacity: { channels: 100, callsPerSecond: 10 },
    sharing: {
      mode: 'Shared',
      allowedTenants: {
        namespaces: {
          from: 'Selector',
          selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] },
        },
      },
      reservations: [{ tenantRef: { namespace: 'contoso', name: 'contoso' }, channels: 10, priority: 1 }],
    },
    numberNormalisation: {
      countryCode: '1',
      nationalPrefix: '1',
      internationalPrefix: '011',
      outboundFormat: 'National',
      rules: [{ direction: 'Outbound', matchPrefix: '+1', stripPrefix: '+1', addPrefix: '' }],
    },
    media: { srtp: 'Optional', codecs: ['PCMU', 'G722', 'opus'] },
  },
};
const policy: RoutePolicy = {
  apiVersion: 'switchboard.dev/v1alpha1',
  kind: 'RoutePolicy',
  metadata: { name: 'contoso', namespace: 'contoso' },
  spec: {
    routes: [
      {
        name: 'office-hours',
        match: {
          destinationPattern: '^\\+1555[0-9]{7}$',
          sourcePrefix: '+1',
          timeOfDay: { timeZone: 'America/New_York', days: ['Mon', 'Fri'], start: '08:00', end: '18:00' },
        },
        action: {
          trunks: [{ name: 'trunk-1', namespace: 'carriers' }],
          translate: { stripPrefix: '+', addPrefix: '00' },
        },
      },
    ],
    defaultAction: { block: { sipCode: 404, reason: 'No route' } },
  },
};

test('TS-typed objects using every field validate against the schemas', () => {
  for (const obj of [tenant, trunk, policy]) {
    const result = validateObject(obj);
    assert.deepEqual(result.problems, [], `${obj.kind}`);
    assert.ok(result.object);
  }
});

test('defaults are applied from the schema, including nested defaults under default: {}', () => {
  const minimal = { ...trunk, spec: { targets: [{ host: 'a.example.com' }], sharing: { mode: 'Shared' as const } } };
  const out = validateObject(minimal).object as Trunk;
  assert.deepEqual(out.spec.healthCheck, { enabled: true, optionsIntervalSeconds: 30, failureThreshold: 3 });
  assert.deepEqual(out.spec.media, { srtp: 'Disabled', codecs: ['PCMU', 'PCMA'] });
  assert.equal(out.spec.targets[0]!.transport, 'UDP');
  assert.equal(out.metadata.namespace, 'carriers');
  // the input is not modified
  assert.equal((minimal.spec as { healthCheck?: unknown }).healthCheck, undefined);
  const info = KINDS.find((k) => k.kind === 'Tenant')!;
  const t = applyDefaults<unknown>(crdRootSchema(info), { spec: { billing: { accountId: 'x' } } }) as {
    spec: { billing: { currency: string }; suspended: boolean };
  };
  assert.equal(t.spec.billing.currency, 'USD');
  assert.equal(t.spec.suspended, false);
});

test('number blocks: parse, format, membership and overlap', () => {
  assert.deepEqual(parseNumberBlock('+15551230000-+15551239999'), {
    type: 'range',
    first: '+15551230000',
    last: '+15551239999',
    prefix: '+1555123',
  });
  assert.deepEqual(parseNumberBlock('+44207946*'), { type: 'prefix', prefix: '+44207946' });
  assert.deepEqual(parseNumberBlock('+15550001111'), {
    type: 'range',
    first: '+15550001111',
    last: '+15550001111',
    prefix: '+15550001111',
  });
  for (const bad of ['15551230000', '+0123', '+1555-+1554', '+1555-+15550', '+*', '+1 555']) {
    assert.equal(parseNumberBlock(bad), null, bad);
  }
  for (const s of ['+15551230000-+15551239999', '+44207946*', '+15550001111']) {
    assert.equal(formatNumberBlock(parseNumberBlock(s)!), s);
  }
  const range = parseNumberBlock('+15551230000-+15551239999')!;
  assert.ok(numberInBlock('+15551234567', range));
  assert.ok(!numberInBlock('+155512345678', range));
  assert.ok(numberInBlock('+442079460123', parseNumberBlock('+44207946*')!));
  const o = (a: string, b: string) => blocksOverlap(parseNumberBlock(a)!, parseNumberBlock(b)!);
  assert.ok(o('+1555*', '+15551230000-+15551239999'));
  assert.ok(o('+1555123*', '+1555*'));
  assert.ok(!o('+1556*', '+15551230000-+15551239999'));
  assert.ok(!o('+15551230000-+15551234999', '+15551235000-+15551239999'));
  assert.ok(o('+15551230000-+15551235000', '+15551235000-+15551239999'));
  assert.ok(!o('+155512300000-+155512399999', '+15551230000-+15551239999'), 'different lengths never overlap');
  assert.ok(!o('+15551239*', '+1555123000-+1555123899'), 'prefix longer than the range numbers');
});
