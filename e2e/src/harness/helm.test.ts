// Proves the helm binary from .cache/bin really works: version, create, lint --strict, template.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadAllYaml } from '@kubernetes/client-node';
import { type HelmResult, runHelm } from './helm.ts';

function ok(r: HelmResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (exit ${r.code})\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

describe('helm harness', { timeout: 120_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-helm-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('helm version reports a v3/v4 semantic version', async () => {
    const r = await runHelm(['version', '--short']);
    ok(r, 'helm version');
    assert.match(r.stdout.trim(), /^v[34]\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/);
  });

  test('helm create → lint --strict → template renders a Deployment', async () => {
    const chart = join(dir, 'demo');
    ok(await runHelm(['create', chart]), 'helm create');
    ok(await runHelm(['lint', '--strict', chart]), 'helm lint --strict');
    const r = await runHelm(['template', 'rel', chart, '--namespace', 'demo-ns']);
    ok(r, 'helm template');
    const docs = loadAllYaml(r.stdout).filter((d) => d !== null && d !== undefined);
    const deployment = docs.find((d) => d.kind === 'Deployment');
    assert.ok(deployment, `no Deployment in: ${docs.map((d) => d.kind).join(', ')}`);
    assert.equal(deployment.apiVersion, 'apps/v1');
    assert.equal(deployment.metadata.name, 'rel-demo');
    assert.ok(
      docs.some((d) => d.kind === 'Service'),
      'expected a Service too',
    );
  });

  test('a failing command reports its exit code and stderr instead of throwing', async () => {
    const r = await runHelm(['lint', join(dir, 'does-not-exist')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /does-not-exist/);
  });
});
