// The generated CRDs on a real kube-apiserver: they install and become Established (so every CEL rule compiles and
// fits the cost budget), the shipped examples are accepted through server-side apply, and invalid objects are
// rejected with the CEL/schema messages users will read.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  apply,
  ensureNamespace,
  errText,
  parseYaml,
  repoRoot,
  startTestCluster,
  type TestCluster,
} from './testing/cluster.ts';

async function rejection(c: TestCluster, obj: KubernetesObject): Promise<string> {
  try {
    await apply(c.kc, obj);
  } catch (err) {
    return errText(err);
  }
  assert.fail(`${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name} was accepted but should be rejected`);
}

const tenant = (name: string, spec: Record<string, unknown>): KubernetesObject =>
  ({
    apiVersion: 'switchboard.dev/v1alpha1',
    kind: 'Tenant',
    metadata: { name, namespace: 'a' },
    spec: {
      fqdn: `${name}.sbc.example.net`,
      certificate: { mode: 'Wildcard' },
      limits: { callsPerSecond: 1, maxConcurrentCalls: 1 },
      routePolicyRef: { name: 'p' },
      billing: { accountId: 'x' },
      ...spec,
    },
  }) as KubernetesObject;

describe('CRDs on a real kube-apiserver', { timeout: 300_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startTestCluster();
    for (const ns of ['a', 'c']) await ensureNamespace(c.kc, ns);
  });
  after(async () => {
    await c?.stop();
  });

  test('the examples apply cleanly (server-side apply)', async () => {
    const files = ['namespaces.yaml', 'secrets.yaml', 'trunks.yaml', 'route-policies.yaml', 'tenants.yaml'];
    let n = 0;
    for (const f of files) {
      for (const obj of parseYaml(await readFile(join(repoRoot, 'examples', f), 'utf8'))) {
        const stored = await apply(c.kc, obj).catch((err: unknown) => {
          throw new Error(`examples/${f}: ${obj.kind} ${obj.metadata?.name} rejected: ${errText(err)}`);
        });
        assert.equal(stored.metadata?.name, obj.metadata?.name);
        n++;
      }
    }
    assert.ok(n >= 9, `applied ${n} example objects`);
  });

  test('readable rejections: Dedicated without issuerRef, both trunks and block, bad FQDN', async () => {
    const noIssuer = await rejection(c, tenant('no-issuer', { certificate: { mode: 'Dedicated' } }));
    assert.match(noIssuer, /spec\.certificate\.issuerRef: Required value: required when mode is Dedicated/);

    const badFqdn = await rejection(c, tenant('bad-fqdn', { fqdn: 'Contoso.Example' }));
    assert.match(badFqdn, /spec\.fqdn: Invalid value: "Contoso\.Example": spec\.fqdn in body should match/);

    const both = await rejection(c, {
      apiVersion: 'switchboard.dev/v1alpha1',
      kind: 'RoutePolicy',
      metadata: { name: 'both', namespace: 'a' },
      spec: {
        routes: [
          {
            name: 'uk',
            match: { destinationPrefix: '+44' },
            action: { trunks: [{ name: 't' }], block: { sipCode: 403 } },
          },
        ],
        defaultAction: { block: {} },
      },
    } as KubernetesObject);
    assert.match(both, /spec\.routes\[0\]\.action: Invalid value: .*exactly one of trunks or block is required/);
  });

  // Every CEL fixture of the offline validator is refused by the real API server with the same message.
  for (const fixture of ['tenants-cel.yaml', 'trunks-cel.yaml', 'route-policies-cel.yaml']) {
    test(`CEL fixture ${fixture} is rejected with the offline validator's messages`, async () => {
      const text = await readFile(join(repoRoot, 'crds/src/manifests/testdata/invalid', fixture), 'utf8');
      const expects = [...text.matchAll(/^# expect: #(\d+) \S+ \S+: (?:([^: ]+): )?(.+)$/gm)].map((m) => ({
        doc: Number(m[1]),
        path: m[2] ?? '',
        message: m[3]!,
      }));
      const docs = parseYaml(text);
      assert.ok(expects.length > 0);
      const misses: string[] = [];
      for (const [i, obj] of docs.entries()) {
        const mine = expects.filter((e) => e.doc === i + 1);
        if (mine.length === 0) continue;
        const msg = await rejection(c, obj);
        for (const e of mine) {
          // Every CEL rule keeps its message on the API server (reason FieldValueDuplicate would print only
          // "Duplicate value", so the uniqueness rules use the default reason).
          const want = e.message.replace(/ \(.*\)$/, '');
          if (!msg.includes(want)) misses.push(`doc #${i + 1}: expected "${want}" in: ${msg}`);
          else if (e.path && !msg.includes(`${e.path}: `)) misses.push(`doc #${i + 1}: path ${e.path} not in: ${msg}`);
        }
      }
      assert.deepEqual(misses, []);
    });
  }
});
