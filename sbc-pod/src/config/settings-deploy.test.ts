// The settings the chart renders for Redis Sentinel, NAT/LoadBalancer advertising and signalling pools.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redisSettingsOf } from '../redis/connect.ts';
import { loadSettings, SettingsError } from './settings.ts';

test('Redis Sentinels: parsed host:port list, master name required', () => {
  const s = loadSettings({
    SWITCHBOARD_REDIS_URL: 'redis://:pw@redis:6379/0',
    SWITCHBOARD_REDIS_SENTINELS: 'sentinel-0.sentinel:26379, [fd00::1]:26380',
    SWITCHBOARD_REDIS_SENTINEL_MASTER: 'sbc-master',
  });
  assert.deepEqual(s.redisSentinels, [
    { host: 'sentinel-0.sentinel', port: 26379 },
    { host: 'fd00::1', port: 26380 },
  ]);
  assert.equal(s.redisSentinelMaster, 'sbc-master');
  assert.deepEqual(redisSettingsOf(s), {
    url: 'redis://:pw@redis:6379/0',
    sentinels: s.redisSentinels,
    sentinelMaster: 'sbc-master',
  });
  assert.throws(() => loadSettings({ SWITCHBOARD_REDIS_SENTINELS: 'a:1' }), /SWITCHBOARD_REDIS_SENTINEL_MASTER/);
  assert.throws(
    () => loadSettings({ SWITCHBOARD_REDIS_SENTINELS: 'nope', SWITCHBOARD_REDIS_SENTINEL_MASTER: 'm' }),
    /SWITCHBOARD_REDIS_SENTINELS/,
  );
  const none = loadSettings({});
  assert.equal(none.redisSentinels, undefined);
  assert.equal(none.redisSentinelMaster, undefined);
  const flags = loadSettings({}, ['--redis-sentinels', 'h:1', '--redis-sentinel-master', 'm']);
  assert.deepEqual(flags.redisSentinels, [{ host: 'h', port: 1 }]);
});

test('advertised SIP host: SWITCHBOARD_SIP_ADVERTISED_HOST, else the chart’s SWITCHBOARD_SIP_ADVERTISED_IP', () => {
  assert.equal(loadSettings({}).sipAdvertisedHost, undefined);
  assert.equal(
    loadSettings({ SWITCHBOARD_SIP_ADVERTISED_HOST: 'sbc.example.net' }).sipAdvertisedHost,
    'sbc.example.net',
  );
  assert.equal(loadSettings({ SWITCHBOARD_SIP_ADVERTISED_IP: '192.0.2.50' }).sipAdvertisedHost, '192.0.2.50');
  assert.equal(
    loadSettings({ SWITCHBOARD_SIP_ADVERTISED_HOST: '198.51.100.1', SWITCHBOARD_SIP_ADVERTISED_IP: '192.0.2.50' })
      .sipAdvertisedHost,
    '198.51.100.1',
  );
  assert.equal(loadSettings({}, ['--sip-advertised-host', '203.0.113.9']).sipAdvertisedHost, '203.0.113.9');
});

test('signalling pool: default `default`, a DNS label', () => {
  assert.equal(loadSettings({}).signallingPool, 'default');
  assert.equal(loadSettings({ SWITCHBOARD_SIGNALLING_POOL: 'regulated' }).signallingPool, 'regulated');
  assert.throws(() => loadSettings({ SWITCHBOARD_SIGNALLING_POOL: 'Not_A_Label' }), SettingsError);
});

test('advertised FQDN toward Teams: SWITCHBOARD_SIP_ADVERTISED_FQDN, lower-cased, must be an FQDN', () => {
  assert.equal(loadSettings({}).sipAdvertisedFqdn, undefined);
  assert.equal(
    loadSettings({ SWITCHBOARD_SIP_ADVERTISED_FQDN: 'EU.sbc.Example.net.' }).sipAdvertisedFqdn,
    'eu.sbc.example.net',
  );
  assert.throws(
    () => loadSettings({ SWITCHBOARD_SIP_ADVERTISED_FQDN: 'not a name' }),
    /SWITCHBOARD_SIP_ADVERTISED_FQDN/,
  );
  assert.throws(() => loadSettings({ SWITCHBOARD_SIP_ADVERTISED_FQDN: 'localhost' }), /fully qualified/);
});

test('SO_REUSEPORT for SIP listeners: off by default, true/false only', () => {
  assert.equal(loadSettings({}).sipReusePort, false);
  assert.equal(loadSettings({ SWITCHBOARD_SIP_REUSE_PORT: 'true' }).sipReusePort, true);
  assert.equal(loadSettings({}, ['--sip-reuse-port', 'true']).sipReusePort, true);
  assert.throws(() => loadSettings({ SWITCHBOARD_SIP_REUSE_PORT: 'yes' }), /SWITCHBOARD_SIP_REUSE_PORT/);
});

test('media discovery: static by default; redis needs a Redis URL or Sentinels', () => {
  assert.equal(loadSettings({}).mediaDiscovery, 'static');
  assert.equal(
    loadSettings({ SWITCHBOARD_MEDIA_DISCOVERY: 'redis', SWITCHBOARD_REDIS_URL: 'redis://r:6379' }).mediaDiscovery,
    'redis',
  );
  assert.equal(
    loadSettings({
      SWITCHBOARD_MEDIA_DISCOVERY: 'redis',
      SWITCHBOARD_REDIS_SENTINELS: 's:26379',
      SWITCHBOARD_REDIS_SENTINEL_MASTER: 'm',
    }).mediaDiscovery,
    'redis',
  );
  assert.throws(() => loadSettings({ SWITCHBOARD_MEDIA_DISCOVERY: 'redis' }), /needs SWITCHBOARD_REDIS_URL/);
  assert.throws(() => loadSettings({ SWITCHBOARD_MEDIA_DISCOVERY: 'dns' }), /static or redis/);
});
