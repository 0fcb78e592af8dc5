// SipStack.sentBy: the host in Via sent-by / Contact — an explicit host, else the advertised host (NAT, LoadBalancer),
// else the listener's address; the port is always the listener's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SipStack } from './stack.ts';

async function withStack(advertisedHost: string | undefined, f: (stack: SipStack, port: number) => void) {
  const stack = new SipStack({ listen: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'], advertisedHost });
  const listeners = await stack.start();
  try {
    const udp = listeners.find((l) => l.transport === 'UDP')!;
    f(stack, udp.port);
  } finally {
    await stack.close();
  }
}

const carrier = { transport: 'UDP' as const, address: '192.0.2.10', port: 5060 };

test('without an advertised host: the listener address', async () => {
  await withStack(undefined, (stack, port) => {
    assert.equal(stack.sentBy(carrier), `127.0.0.1:${port}`);
    assert.equal(stack.sentBy(carrier, 'tenant.sbc.example.net'), `tenant.sbc.example.net:${port}`);
  });
});

test('with an advertised host: it replaces the listener address unless a host is given', async () => {
  await withStack('198.51.100.7', (stack, port) => {
    assert.equal(stack.sentBy(carrier), `198.51.100.7:${port}`);
    // The B2BUA's explicit host (the tenant FQDN toward Teams) still wins.
    assert.equal(stack.sentBy(carrier, 'tenant.sbc.example.net'), `tenant.sbc.example.net:${port}`);
    const tcp = stack.listeners().find((l) => l.transport === 'TCP')!;
    assert.equal(stack.sentBy({ ...carrier, transport: 'TCP' }), `198.51.100.7:${tcp.port}`);
  });
});

test('an IPv6 advertised address is bracketed; an FQDN is used as is', async () => {
  await withStack('2001:db8::5', (stack, port) => {
    assert.equal(stack.sentBy(carrier), `[2001:db8::5]:${port}`);
  });
  await withStack('[2001:db8::6]', (stack, port) => {
    assert.equal(stack.sentBy(carrier), `[2001:db8::6]:${port}`);
  });
  await withStack('sbc.example.net', (stack, port) => {
    assert.equal(stack.sentBy(carrier), `sbc.example.net:${port}`);
  });
});
