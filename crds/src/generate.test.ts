import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { GENERATED_DIR, generatedFiles } from './generate.ts';

test('committed crds/generated is up to date (regenerate: node crds/src/generate.ts)', () => {
  const expected = generatedFiles();
  const committed = readdirSync(GENERATED_DIR).sort();
  assert.deepEqual(committed, [...expected.keys()].sort(), 'file list differs — run: node crds/src/generate.ts');
  for (const [name, content] of expected) {
    const actual = readFileSync(join(GENERATED_DIR, name), 'utf8');
    assert.ok(actual === content, `crds/generated/${name} is stale — run: node crds/src/generate.ts`);
  }
});

test('generated CRDs are apiextensions.k8s.io/v1 with status subresource, short names and printer columns', () => {
  const shortNames: Record<string, string> = { Tenant: 'sbt', Trunk: 'sbtr', RoutePolicy: 'sbrp' };
  for (const [name, content] of generatedFiles()) {
    if (!name.endsWith('.yaml')) continue;
    const crd = parse(content);
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.kind, 'CustomResourceDefinition');
    assert.equal(crd.spec.group, 'switchboard.dev');
    assert.equal(crd.spec.scope, 'Namespaced');
    assert.equal(crd.metadata.name, `${crd.spec.names.plural}.switchboard.dev`);
    assert.deepEqual(crd.spec.names.shortNames, [shortNames[crd.spec.names.kind]]);
    const [version] = crd.spec.versions;
    assert.equal(version.name, 'v1alpha1');
    assert.deepEqual(version.subresources, { status: {} });
    assert.ok(version.additionalPrinterColumns.some((c: { name: string }) => c.name === 'Ready'));
    const schema = version.schema.openAPIV3Schema;
    assert.equal(schema.properties.status.properties.conditions['x-kubernetes-list-type'], 'map');
    assert.equal(schema.properties.status.properties.observedGeneration.type, 'integer');
    assert.ok(content.includes('x-kubernetes-validations'));
  }
});
