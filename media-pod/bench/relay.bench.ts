// Media relay benchmark: relayed packets per second on one core (the relay process), for RTP→RTP and SRTP→RTP with
// 172-byte G.711 packets, next to a bare node:dgram relay measured in the same run. The load generator runs in a
// child process (the other core) with a bounded number of packets in flight; the figure is packets forwarded per
// CPU-second of the relay process. `--json` prints one {"name","value","unit","baseline","ratio"} object per figure.
import { type ChildProcess, fork } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { MediaEngine } from '../src/relay/engine.ts';
import { PoolSet } from '../src/relay/pool.ts';
import { carrierSdp, teamsSdp } from '../src/relay/testing.ts';
import { SrtpContext } from '../src/srtp/context.ts';
import { formatCryptoAttribute, generateMasterKey } from '../src/srtp/sdes.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const WARMUP_MS = quick ? 200 : 500;
const RUN_MS = quick ? 500 : 2000;
const WINDOW = 64;
const PREBUILD = quick ? 60_000 : 250_000;

interface Ready {
  senderPort: number;
  sinkPort: number;
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
  });
}

async function withLoad(
  label: string,
  setup: (ports: Ready) => Promise<{ port: number; forwarded: () => number; close: () => Promise<void> }>,
  srtp: { key: Buffer; salt: Buffer } | null,
): Promise<{ perCore: number; wall: number }> {
  const child = fork(join(import.meta.dirname, 'load.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await nextMessage<Ready>(child, 'ready');
  const relay = await setup(ready);
  child.send({
    type: 'start',
    port: relay.port,
    window: WINDOW,
    srtp: srtp ? { key: srtp.key.toString('base64'), salt: srtp.salt.toString('base64') } : null,
    prebuild: PREBUILD,
  });
  await nextMessage(child, 'prepared');
  await delay(WARMUP_MS);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const f0 = relay.forwarded();
  await delay(RUN_MS);
  const f1 = relay.forwarded();
  const t1 = performance.now();
  const cpu = process.cpuUsage(c0);
  child.send({ type: 'stop' });
  await nextMessage(child, 'stopped');
  child.send({ type: 'exit' });
  await once(child, 'exit');
  await relay.close();
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const packets = f1 - f0;
  if (!json) {
    console.log(
      `${label.padEnd(34)} ${Math.round(packets / cpuSeconds)
        .toLocaleString('en')
        .padStart(10)} packets/s/core` +
        `  (${Math.round((packets * 1000) / (t1 - t0)).toLocaleString('en')} packets/s wall, relay CPU ${Math.round((cpuSeconds * 100_000) / (t1 - t0))}%)`,
    );
  }
  return { perCore: packets / cpuSeconds, wall: (packets * 1000) / (t1 - t0) };
}

/** A bare node:dgram relay: receive on one socket, send the same buffer out of another. */
async function bareRelay(ports: Ready) {
  const a = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const b = createSocket('udp4');
  a.bind(0, '127.0.0.1');
  b.bind(0, '127.0.0.1');
  await Promise.all([once(a, 'listening'), once(b, 'listening')]);
  let forwarded = 0;
  a.on('message', (m) => {
    forwarded++;
    b.send(m, ports.sinkPort, '127.0.0.1');
  });
  return {
    port: a.address().port,
    forwarded: () => forwarded,
    close: async () => {
      a.close();
      b.close();
    },
  };
}

const base = 20_000 + 2 * randomInt(0, 10_000);

/** The media engine with leg a facing the generator (RTP or SRTP) and leg b facing the sink (plain RTP). */
function engineRelay(srtpKey: { key: Buffer; salt: Buffer } | null) {
  return async (ports: Ready) => {
    const engine = new MediaEngine({
      bindAddress: '127.0.0.1',
      pools: new PoolSet([{ name: 'bench', low: base, high: base + 99 }]),
      noMediaTimeoutMs: 0,
    });
    const offerSdp = srtpKey
      ? teamsSdp(ports.senderPort, {
          crypto: formatCryptoAttribute({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', ...srtpKey }),
          codecs: '0',
        })
      : carrierSdp(ports.senderPort, { codecs: '0' });
    const offer = await engine.offer('bench', 'a', { tenant: 'bench', sdp: offerSdp });
    const answer = await engine.answer('bench', 'b', { sdp: carrierSdp(ports.sinkPort, { codecs: '0' }) });
    const port = offer.legs.a!.port;
    void answer;
    return {
      port,
      forwarded: () => engine.sessions.get('bench')?.legs.get('b')?.sent.packets ?? 0,
      close: () => engine.close(),
    };
  };
}

/** In-process SRTP cost (no sockets), for context. */
function cryptoOpsPerSecond(): { protect: number; unprotect: number } {
  const keys = generateMasterKey();
  const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [keys] });
  const rx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [keys] });
  const pkt = Buffer.alloc(172);
  pkt[0] = 0x80;
  const n = quick ? 20_000 : 100_000;
  const enc: Buffer[] = [];
  let t = performance.now();
  for (let i = 0; i < n; i++) {
    pkt.writeUInt16BE(i & 0xffff, 2);
    enc.push(tx.protect(pkt) as Buffer);
  }
  const protect = (n * 1000) / (performance.now() - t);
  t = performance.now();
  for (const e of enc) rx.unprotect(e);
  const unprotect = (n * 1000) / (performance.now() - t);
  return { protect, unprotect };
}

const figures: { name: string; value: number; unit: string; baseline: number; ratio: number }[] = [];
const bare = await withLoad('bare node:dgram relay (baseline)', bareRelay, null);
const rtp = await withLoad('media-pod RTP→RTP', engineRelay(null), null);
const srtpKey = generateMasterKey();
const srtp = await withLoad('media-pod SRTP→RTP', engineRelay(srtpKey), srtpKey);
const unit = 'packets/s/core';
const round = (v: number) => Math.round(v);
figures.push({
  name: 'media relay RTP→RTP (172-byte G.711)',
  value: round(rtp.perCore),
  unit,
  baseline: round(bare.perCore),
  ratio: Math.round((rtp.perCore / bare.perCore) * 1000) / 1000,
});
figures.push({
  name: 'media relay SRTP→RTP (172-byte G.711, AES_CM_128_HMAC_SHA1_80)',
  value: round(srtp.perCore),
  unit,
  baseline: round(bare.perCore),
  ratio: Math.round((srtp.perCore / bare.perCore) * 1000) / 1000,
});
const c = cryptoOpsPerSecond();
if (json) {
  for (const f of figures) console.log(JSON.stringify(f));
} else {
  console.log(
    `ratio to bare relay: RTP→RTP ${figures[0]!.ratio}, SRTP→RTP ${figures[1]!.ratio}` +
      `\nSRTP in-process (no sockets): protect ${round(c.protect).toLocaleString('en')}/s, unprotect ${round(c.unprotect).toLocaleString('en')}/s`,
  );
}
