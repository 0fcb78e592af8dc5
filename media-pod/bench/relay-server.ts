// The relay under test for relay.bench.ts, in its own process (pinned by the bench to the relay core), driven over
// IPC. Kinds:
// - 'engine': the media pod's MediaEngine, one session per call (leg a toward the caller, leg b toward the callee),
//   set up through offer/answer like the pod's HTTP API does; with `srtp`, leg a is SDES-SRTP (the caller's key)
//   and leg b plain RTP (SRTP→RTP).
// - 'bare': the baseline: per call two node:dgram sockets, whatever arrives on one is sent out of the other to the
//   other side (no parsing, no checks, no stats) — the least any Node relay has to do.
// Messages: {type:'setup', kind, calls:[{caller, callee}], srtp?, low} → {type:'ready', a:[port], b:[port]};
// {type:'stats'} → {type:'stats', forwarded, drops}; {type:'exit'}.
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { MediaEngine } from '../src/relay/engine.ts';
import { PoolSet } from '../src/relay/pool.ts';
import { carrierSdp, teamsSdp } from '../src/relay/testing.ts';
import { formatCryptoAttribute } from '../src/srtp/sdes.ts';

interface Call {
  caller: number;
  callee: number;
}

interface Setup {
  type: 'setup';
  kind: 'engine' | 'bare';
  calls: Call[];
  srtp: { key: string; salt: string } | null;
  /** First port of the range the relay may use (4 ports per call). */
  low: number;
}

let stats: () => { forwarded: number; drops: Record<string, number> } = () => ({ forwarded: 0, drops: {} });
let close: () => Promise<void> = async () => {};

async function open(port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  s.bind(port, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

async function bare(m: Setup): Promise<{ a: number[]; b: number[] }> {
  const sockets: Socket[] = [];
  const a: number[] = [];
  const b: number[] = [];
  let forwarded = 0;
  for (const call of m.calls) {
    const sa = await open(0);
    const sb = await open(0);
    sockets.push(sa, sb);
    sa.on('message', (msg) => {
      forwarded++;
      sb.send(msg, call.callee, '127.0.0.1');
    });
    sb.on('message', (msg) => {
      forwarded++;
      sa.send(msg, call.caller, '127.0.0.1');
    });
    a.push(sa.address().port);
    b.push(sb.address().port);
  }
  stats = () => ({ forwarded, drops: {} });
  close = async () => {
    for (const s of sockets) s.close();
  };
  return { a, b };
}

async function engine(m: Setup): Promise<{ a: number[]; b: number[] }> {
  const e = new MediaEngine({
    bindAddress: '127.0.0.1',
    pools: new PoolSet([{ name: 'bench', low: m.low, high: Math.min(65_535, m.low + m.calls.length * 4 + 64) }]),
    noMediaTimeoutMs: 0,
  });
  const a: number[] = [];
  const b: number[] = [];
  const crypto = m.srtp
    ? formatCryptoAttribute({
        tag: 1,
        suite: 'AES_CM_128_HMAC_SHA1_80',
        key: Buffer.from(m.srtp.key, 'base64'),
        salt: Buffer.from(m.srtp.salt, 'base64'),
      })
    : null;
  for (let i = 0; i < m.calls.length; i++) {
    const call = m.calls[i]!;
    const id = `c${i}`;
    const sdp = crypto ? teamsSdp(call.caller, { crypto, codecs: '0' }) : carrierSdp(call.caller, { codecs: '0' });
    const offer = await e.offer(id, 'a', { tenant: 'bench', sdp });
    await e.answer(id, 'b', { sdp: carrierSdp(call.callee, { codecs: '0' }) });
    a.push(offer.legs.a!.port);
    b.push(offer.legs.b!.port);
  }
  stats = () => {
    let forwarded = 0;
    const drops: Record<string, number> = {};
    for (const s of e.sessions.values()) {
      for (const leg of s.legs.values()) {
        forwarded += leg.sent.packets;
        for (const [k, v] of Object.entries(leg.dropped)) drops[k] = (drops[k] ?? 0) + v;
      }
    }
    return { forwarded, drops };
  };
  close = () => e.close();
  return { a, b };
}

process.on('message', async (m: Setup | { type: 'stats' | 'exit' }) => {
  if (m.type === 'setup') {
    const ports = m.kind === 'bare' ? await bare(m) : await engine(m);
    process.send!({ type: 'ready', ...ports });
  } else if (m.type === 'stats') {
    process.send!({ type: 'stats', ...stats() });
  } else if (m.type === 'exit') {
    await close();
    process.exit(0);
  }
});
process.send!({ type: 'started' });
