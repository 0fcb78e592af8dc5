import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings, SettingsError } from './settings.ts';

test('defaults listen on loopback only', () => {
  const s = loadSettings({});
  assert.deepEqual(s.sipListen, ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060', 'tls:127.0.0.1:5061']);
  assert.deepEqual(s.adminListen, { host: '127.0.0.1', port: 8080 });
  assert.equal(s.teamsTargets[0], 'sip.pstnhub.microsoft.com:5061');
  assert.equal(s.teamsTargets.length, 3);
  assert.equal(s.redisUrl, undefined);
  assert.deepEqual(s.teamsSources, ['52.112.0.0/14', '52.122.0.0/15']);
});

test('the hosts map is a stub resolver: name=address pairs, names lower-cased', () => {
  const s = loadSettings({
    SWITCHBOARD_HOSTS: 'SIP.pstnhub.microsoft.com=127.0.1.1, sip2.pstnhub.microsoft.com=127.0.1.2',
  });
  assert.equal(s.hosts.get('sip.pstnhub.microsoft.com'), '127.0.1.1');
  assert.equal(s.hosts.get('sip2.pstnhub.microsoft.com'), '127.0.1.2');
});

test('a flag wins over the environment variable', () => {
  const s = loadSettings({ SWITCHBOARD_SIP_LISTEN: 'udp:127.0.0.1:1' }, ['--sip-listen', 'tcp:[::1]:5070']);
  assert.deepEqual(s.sipListen, ['tcp:[::1]:5070']);
  const t = loadSettings({}, ['--admin-listen=[::1]:9000']);
  assert.deepEqual(t.adminListen, { host: '::1', port: 9000 });
});

test('bad values are rejected with the variable named', () => {
  assert.throws(() => loadSettings({ SWITCHBOARD_MEDIA_PORTS: '3000' }), /SWITCHBOARD_MEDIA_PORTS/);
  assert.throws(() => loadSettings({ SWITCHBOARD_MEDIA_PORTS: '30000-20000' }), /LOW-HIGH/);
  assert.throws(() => loadSettings({ SWITCHBOARD_ADMIN_LISTEN: 'nohost' }), /SWITCHBOARD_ADMIN_LISTEN/);
  assert.throws(() => loadSettings({ SWITCHBOARD_TLS_CERT: 'a.pem' }), /given together/);
  assert.throws(() => loadSettings({}, ['--sip-lisen', 'x']), SettingsError);
  assert.throws(() => loadSettings({}, ['--sip-listen']), /needs a value/);
  assert.throws(() => loadSettings({ SWITCHBOARD_HOSTS: 'sip.example' }), /SWITCHBOARD_HOSTS/);
});
