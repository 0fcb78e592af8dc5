// Load generator for relay.bench.ts, run in a child process (the other core): sends 172-byte G.711 RTP (or SRTP)
// packets to the relay with a bounded number in flight, and counts what comes back out of the relay at its sink.
// Paced mode ('paced'): N streams at `pps` each (G.711: 50), each to its own relay port with its own SSRC and
// sequence, spread evenly over time (not in 20 ms bursts); 'stop' reports how many were sent and received.
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { SrtpContext } from '../src/srtp/context.ts';

interface Start {
  type: 'start';
  port: number;
  srtp: { key: string; salt: string } | null;
  window: number;
  /** Packets built (and SRTP-protected) before the run, so the generator's own crypto does not limit the rate. */
  prebuild: number;
}

const sender = createSocket('udp4');
const sink = createSocket({ type: 'udp4', recvBufferSize: 1 << 21 });
sender.bind(0, '127.0.0.1');
sink.bind(0, '127.0.0.1');
await Promise.all([once(sender, 'listening'), once(sink, 'listening')]);
process.send!({ type: 'ready', senderPort: sender.address().port, sinkPort: sink.address().port });

let sent = 0;
let received = 0;
let running = false;
let seq = 0;
let ctx: SrtpContext | null = null;
let target = 0;
let window = 64;
const payload = Buffer.alloc(160, 0xd5);

let ring: Buffer[] = [];
let ringAt = 0;

function build(): Buffer {
  const b = Buffer.allocUnsafe(172);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(0x5eed, 8);
  payload.copy(b, 12);
  seq++;
  return ctx ? (ctx.protect(b) as Buffer) : b;
}

function packet(): Buffer {
  // past the prebuilt ring, build on the fly (never replay: the relay would drop replays)
  return ringAt < ring.length ? ring[ringAt++]! : build();
}

function pump(): void {
  while (running && sent - received < window) {
    sent++;
    sender.send(packet(), target, '127.0.0.1');
  }
}

sink.on('message', () => {
  received++;
  if (!pacedTimer) pump();
});

let lastReceived = 0;
setInterval(() => {
  // a lost packet would shrink the window for good: top it up when nothing moved
  if (running && received === lastReceived) {
    sent = received;
    pump();
  }
  lastReceived = received;
}, 20).unref();

interface Paced {
  type: 'paced';
  ports: number[];
  pps: number;
}

let pacedTimer: NodeJS.Timeout | undefined;
let pacedSent = 0;

function startPaced(m: Paced): void {
  const n = m.ports.length;
  const seqs = new Uint16Array(n);
  let next = 0;
  const rate = (n * m.pps) / 1000; // packets per ms, all streams
  const t0 = performance.now();
  pacedSent = 0;
  received = 0;
  pacedTimer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) * rate);
    while (pacedSent < due) {
      const i = next;
      next = next + 1 === n ? 0 : next + 1;
      const b = Buffer.allocUnsafe(172);
      b[0] = 0x80;
      b[1] = 0;
      const q = seqs[i]!;
      seqs[i] = q + 1;
      b.writeUInt16BE(q, 2);
      b.writeUInt32BE((q * 160) >>> 0, 4);
      b.writeUInt32BE(0x10000 + i, 8);
      payload.copy(b, 12);
      sender.send(b, m.ports[i]!, '127.0.0.1');
      pacedSent++;
    }
  }, 1);
}

process.on('message', (m: Start | Paced | { type: 'stop' | 'count' | 'exit' }) => {
  if (m.type === 'paced') {
    startPaced(m);
    process.send!({ type: 'prepared' });
  } else if (m.type === 'start') {
    target = m.port;
    window = m.window;
    ctx = m.srtp
      ? new SrtpContext({
          suite: 'AES_CM_128_HMAC_SHA1_80',
          keys: [{ key: Buffer.from(m.srtp.key, 'base64'), salt: Buffer.from(m.srtp.salt, 'base64') }],
        })
      : null;
    ring = [];
    ringAt = 0;
    for (let i = 0; i < m.prebuild; i++) ring.push(build());
    process.send!({ type: 'prepared' });
    sent = received = lastReceived = 0;
    running = true;
    pump();
  } else if (m.type === 'stop') {
    running = false;
    if (pacedTimer) {
      clearInterval(pacedTimer);
      pacedTimer = undefined;
      // Let the last packets through the relay before counting.
      setTimeout(() => process.send!({ type: 'stopped', received, sent: pacedSent, cpu: process.cpuUsage() }), 300);
      return;
    }
    process.send!({ type: 'stopped', received });
  } else if (m.type === 'count') {
    process.send!({ type: 'count', received });
  } else if (m.type === 'exit') {
    sender.close();
    sink.close();
    process.exit(0);
  }
});
