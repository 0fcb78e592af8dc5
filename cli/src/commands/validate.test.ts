// `switchboard validate`, spawned as users run it: node cli/src/main.ts validate …
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '..', '..', '..');
const invalid = 'crds/src/manifests/testdata/invalid';

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['cli/src/main.ts', 'validate', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('valid: the shipped examples exit 0 with a one-line summary', () => {
  const r = cli('examples/', '--base-domain', 'sbc.example.net');
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'valid: 6 switchboard objects (5 other) in 5 files\n');
  assert.equal(r.code, 0);
});

test('invalid: each problem path-qualified on stderr, a summary, exit 1', () => {
  const r = cli(`${invalid}/tenants-cel.yaml`, '--schema-only');
  assert.equal(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.ok(
    lines.includes(
      `${invalid}/tenants-cel.yaml#1 Tenant a/dedicated-no-issuer: spec.certificate.issuerRef: required when mode is Dedicated`,
    ),
    r.stderr,
  );
  assert.equal(lines.at(-1), 'invalid: 9 errors, 0 warnings in 8 switchboard objects (0 other) in 1 file');
  assert.equal(r.stdout, '');
});

test("invalid: a tenant routing to another tenant's dedicated trunk is rejected with the reason", () => {
  const r = cli(`${invalid}/references.yaml`);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /references\.yaml#9 RoutePolicy gamma\/gamma: spec\.defaultAction\.trunks\[0\]: Trunk carriers\/dedicated is Dedicated to Tenant ghost\/ghost; Tenant gamma\/gamma may not use it/,
  );
  assert.match(r.stderr, /^warning: .*not used by any Tenant$/m);
});

test('a directory of invalid manifests fails; warnings alone do not', () => {
  assert.equal(cli(invalid).code, 1);
});

test('usage errors exit 2', () => {
  for (const args of [[], ['--nope', 'examples/'], ['does-not-exist.yaml'], ['examples/', '--base-domain']]) {
    const r = cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^switchboard validate: /);
    assert.match(r.stderr, /Usage: switchboard validate/);
  }
  const help = cli('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--schema-only/);
});
