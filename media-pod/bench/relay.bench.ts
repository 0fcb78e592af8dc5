// Media relay benchmark: relayed packets per second on one core (the relay process), for RTP→RTP and SRTP→RTP with
// 172-byte G.711 packets, next to a bare node:dgram relay measured in the same run. The load generator runs in a
// child process (the other core) with a bounded number of packets in flight; the figure is packets forwarded per
// CPU-second of the relay process. `--json` prints one {"name","value","unit","baseline","ratio"} object per figure.
//
// Also measured (same generator, same pinning: the relay on core 0, the generator on core 1, via taskset when there
// are two cores):
// - rtpengine (Debian's `rtpengine`, userspace only: --table=-1, one worker thread) relaying RTP→RTP, set up through
//   its ng control protocol (bencode over UDP, offer/answer), its CPU read from /proc/<pid>/stat. Skipped, with the
//   reason printed, when the binary is missing (`apt-get install rtpengine-daemon`) or does not start.
// - Concurrent calls per core: N simultaneous 50 pps G.711 streams through the media engine (one session each),
//   paced evenly, N raised until relay-side loss reaches 0.1 % or the relay's core is saturated (≥ 95 %); the figure
//   is the largest N below both, in streams and in calls (two streams each, one per direction).
// Flags: --quick, --json, --no-rtpengine, --no-calls. Environment (diagnostics): RELAY_BENCH_STREAMS=250,500 (the
// ladder), RELAY_BENCH_DEBUG=1 (per-step counters), RTPE_LOG=1 (rtpengine debug log on stderr).
import { type ChildProcess, execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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
const RTPENGINE_WINDOW = 32;
const PREBUILD = quick ? 60_000 : 250_000;

const skipRtpengine = process.argv.includes('--no-rtpengine');
const skipCalls = process.argv.includes('--no-calls');

/** Pin a process (all its threads) to one core; false when there is no taskset or only one core. */
function pin(pid: number, core: number): boolean {
  if (availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-pc', String(core), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const RELAY_CORE = 0;
const LOAD_CORE = 1;
const pinned = pin(process.pid, RELAY_CORE);

/** CPU seconds (user + system, all threads) of another process, from /proc/<pid>/stat (clock ticks of 10 ms). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function selfCpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

interface Relay {
  port: number;
  forwarded: () => number | Promise<number>;
  close: () => Promise<void>;
  /** CPU seconds of the relay so far (default: this process). */
  cpuSeconds?: () => number;
}

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

function loadGenerator(): ChildProcess {
  const child = fork(join(import.meta.dirname, 'load.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (pinned) pin(child.pid!, LOAD_CORE);
  return child;
}

async function withLoad(
  label: string,
  setup: (ports: Ready, child: ChildProcess) => Promise<Relay>,
  srtp: { key: Buffer; salt: Buffer } | null,
  window = WINDOW,
): Promise<{ perCore: number; wall: number }> {
  const child = loadGenerator();
  const ready = await nextMessage<Ready>(child, 'ready');
  const relay = await setup(ready, child);
  const cpuNow = relay.cpuSeconds ?? selfCpuSeconds;
  child.send({
    type: 'start',
    port: relay.port,
    window,
    srtp: srtp ? { key: srtp.key.toString('base64'), salt: srtp.salt.toString('base64') } : null,
    prebuild: PREBUILD,
  });
  await nextMessage(child, 'prepared');
  await delay(WARMUP_MS);
  const c0 = cpuNow();
  const t0 = performance.now();
  const f0 = await relay.forwarded();
  await delay(RUN_MS);
  const f1 = await relay.forwarded();
  const t1 = performance.now();
  const cpuSeconds = cpuNow() - c0;
  child.send({ type: 'stop' });
  await nextMessage(child, 'stopped');
  child.send({ type: 'exit' });
  await once(child, 'exit');
  await relay.close();
  const packets = f1 - f0;
  if (packets <= 0) throw new Error(`${label}: nothing came through the relay`);
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

// ---- rtpengine (userspace) over its ng control protocol ----

type Bencode = string | number | Buffer | Bencode[] | { [key: string]: Bencode };

/** Bencode: strings as <len>:<bytes>, integers i<n>e, lists l…e, dictionaries d…e (keys sorted). */
export function bencode(v: Bencode): Buffer {
  if (typeof v === 'number') return Buffer.from(`i${Math.trunc(v)}e`);
  if (typeof v === 'string' || Buffer.isBuffer(v)) {
    const b = typeof v === 'string' ? Buffer.from(v) : v;
    return Buffer.concat([Buffer.from(`${b.length}:`), b]);
  }
  if (Array.isArray(v)) return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const keys = Object.keys(v).sort();
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [bencode(k), bencode(v[k]!)]), Buffer.from('e')]);
}

/** Decode one bencoded value (byte strings become utf-8 strings). */
export function bdecode(buf: Buffer, at = 0): { value: Bencode; end: number } {
  const c = String.fromCharCode(buf[at]!);
  if (c === 'i') {
    const e = buf.indexOf(0x65, at);
    return { value: Number(buf.subarray(at + 1, e).toString()), end: e + 1 };
  }
  if (c === 'l' || c === 'd') {
    const items: Bencode[] = [];
    let i = at + 1;
    while (buf[i] !== 0x65) {
      if (i >= buf.length) throw new Error('bencode: unterminated list/dictionary');
      const r = bdecode(buf, i);
      items.push(r.value);
      i = r.end;
    }
    if (c === 'l') return { value: items, end: i + 1 };
    const dict: Record<string, Bencode> = {};
    for (let k = 0; k + 1 < items.length; k += 2) dict[String(items[k])] = items[k + 1]!;
    return { value: dict, end: i + 1 };
  }
  const colon = buf.indexOf(0x3a, at);
  const len = Number(buf.subarray(at, colon).toString());
  if (colon < 0 || !Number.isInteger(len)) throw new Error(`bencode: bad string at ${at}`);
  return { value: buf.subarray(colon + 1, colon + 1 + len).toString(), end: colon + 1 + len };
}

/** One ng command: `<cookie> <bencoded dict>` over UDP; the reply carries the same cookie. */
async function ng(port: number, command: Record<string, Bencode>): Promise<Record<string, Bencode>> {
  const sock = createSocket('udp4');
  try {
    const cookie = `${process.pid}_${randomInt(0, 1e9)}`;
    const reply = once(sock, 'message', { signal: AbortSignal.timeout(5000) });
    sock.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(command)]), port, '127.0.0.1');
    const [msg] = (await reply) as [Buffer];
    const space = msg.indexOf(0x20);
    if (msg.subarray(0, space).toString() !== cookie) throw new Error('ng: cookie mismatch');
    const out = bdecode(msg, space + 1).value as Record<string, Bencode>;
    if (out.result !== 'ok' && out.result !== 'pong') {
      throw new Error(`ng ${String(command.command)}: ${String(out.result)} ${String(out['error-reason'] ?? '')}`);
    }
    return out;
  } finally {
    sock.close();
  }
}

function plainSdp(port: number): string {
  return [
    'v=0',
    'o=- 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** Why rtpengine cannot be measured here, or undefined when it can. */
function rtpengineMissing(): string | undefined {
  try {
    const r = spawnSync('rtpengine', ['--version'], { stdio: 'pipe' });
    if (r.error) throw r.error;
    return undefined;
  } catch (err) {
    return `rtpengine not runnable (${(err as NodeJS.ErrnoException).code ?? String(err)}): apt-get install rtpengine-daemon`;
  }
}

/** rtpengine in userspace (--table=-1), pinned to the relay core; caller → rtpengine → sink, set up by offer/answer. */
async function rtpengineRelay(ports: Ready): Promise<Relay & { version: string }> {
  const ngPort = 22_000 + randomInt(0, 2000);
  const low = 40_000 + 2 * randomInt(0, 5000);
  const args = [
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    process.env.RTPE_LOG ? '--log-level=7' : '--log-level=4',
    '--table=-1',
    '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${low}`,
    `--port-max=${low + 99}`,
    '--num-threads=1',
    '--delete-delay=0',
  ];
  const child = pinned ? spawn('taskset', ['-c', String(RELAY_CORE), 'rtpengine', ...args]) : spawn('rtpengine', args);
  let log = '';
  child.stderr.on('data', (c: Buffer) => {
    log += c.toString();
    if (process.env.RTPE_LOG) process.stderr.write(c);
  });
  child.stdout.on('data', (c: Buffer) => (log += c.toString()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await ng(ngPort, { command: 'ping' });
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`rtpengine did not start: ${String(err)}\n${log.slice(-2000)}`);
      }
      await delay(100);
    }
  }
  // taskset execs rtpengine in place: the pid is rtpengine's.
  const pid = child.pid!;
  const callId = `bench-${randomInt(0, 1e9)}`;
  const flags = { ICE: 'remove', 'transport-protocol': 'RTP/AVP', replace: ['origin', 'session-connection'] };
  await ng(ngPort, {
    command: 'offer',
    'call-id': callId,
    'from-tag': 'caller',
    sdp: plainSdp(ports.senderPort),
    ...flags,
  });
  const answer = await ng(ngPort, {
    command: 'answer',
    'call-id': callId,
    'from-tag': 'caller',
    'to-tag': 'callee',
    sdp: plainSdp(ports.sinkPort),
    ...flags,
  });
  // The answer's SDP goes to the caller: its media port is where the caller sends.
  const port = Number(/m=audio (\d+)/.exec(String(answer.sdp))?.[1]);
  if (!port) throw new Error(`rtpengine answer without a media port:\n${String(answer.sdp)}`);
  const v = spawnSync('rtpengine', ['--version'], { encoding: 'utf8' });
  const version = `${v.stdout}${v.stderr}`.trim().replace(/^Version:\s*/, '');
  return {
    port,
    version,
    cpuSeconds: () => procCpuSeconds(pid),
    forwarded: () => Promise.resolve(0),
    close: async () => {
      await ng(ngPort, { command: 'delete', 'call-id': callId }).catch(() => undefined);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** What came out at the generator's sink (the relay is another process). */
function sinkCount(child: ChildProcess): () => Promise<number> {
  return async () => {
    const reply = nextMessage<{ received: number }>(child, 'count');
    child.send({ type: 'count' });
    return (await reply).received;
  };
}

// ---- concurrent calls per core (our relay) ----

interface CallsStep {
  streams: number;
  lossPct: number;
  relayCpuPct: number;
  loadCpuPct: number;
}

/** Kernel UDP counters (all sockets of the host): receive-buffer overflows. */
function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

async function callsStep(streams: number): Promise<CallsStep> {
  const rcvbuf0 = udpRcvbufErrors();
  const child = loadGenerator();
  const ready = await nextMessage<Ready>(child, 'ready');
  const low = 20_000 + 2 * randomInt(0, 2000);
  const engine = new MediaEngine({
    bindAddress: '127.0.0.1',
    pools: new PoolSet([{ name: 'bench', low, high: Math.min(65_000, low + streams * 4 + 200) }]),
    noMediaTimeoutMs: 0,
  });
  const ports: number[] = [];
  for (let i = 0; i < streams; i++) {
    const id = `c${i}`;
    const offer = await engine.offer(id, 'a', { tenant: 'bench', sdp: carrierSdp(ready.senderPort, { codecs: '0' }) });
    await engine.answer(id, 'b', { sdp: carrierSdp(ready.sinkPort, { codecs: '0' }) });
    ports.push(offer.legs.a!.port);
  }
  const forwarded = () => {
    let n = 0;
    for (const s of engine.sessions.values()) n += s.legs.get('b')?.sent.packets ?? 0;
    return n;
  };
  const seconds = quick ? 2 : 4;
  child.send({ type: 'paced', ports, pps: 50 });
  await nextMessage(child, 'prepared');
  await delay(500);
  const f0 = forwarded();
  const c0 = selfCpuSeconds();
  const l0 = procCpuSeconds(child.pid!);
  const t0 = performance.now();
  await delay(seconds * 1000);
  const relayCpu = selfCpuSeconds() - c0;
  const loadCpu = procCpuSeconds(child.pid!) - l0;
  const wall = (performance.now() - t0) / 1000;
  const stopped = nextMessage<{ sent: number }>(child, 'stopped');
  child.send({ type: 'stop' });
  const { sent } = await stopped;
  const total = forwarded();
  if (process.env.RELAY_BENCH_DEBUG) {
    const drops: Record<string, number> = {};
    let rx = 0;
    for (const sess of engine.sessions.values()) {
      const a = sess.legs.get('a');
      for (const [k, v] of Object.entries(a?.dropped ?? {})) drops[k] = (drops[k] ?? 0) + v;
      rx += a?.snapshot().received.packets ?? 0;
    }
    console.error({
      streams,
      sent,
      forwarded: total,
      legAReceived: rx,
      drops,
      rcvbufErrors: udpRcvbufErrors() - rcvbuf0,
    });
  }
  child.send({ type: 'exit' });
  await once(child, 'exit');
  await engine.close();
  void f0;
  // Relay-side loss over the whole run: what the generator sent vs what the relay sent on (the sink is not counted,
  // so a busy generator cannot pass for relay loss).
  const lossPct = sent > 0 ? Math.max(0, ((sent - total) / sent) * 100) : 100;
  return { streams, lossPct, relayCpuPct: (relayCpu / wall) * 100, loadCpuPct: (loadCpu / wall) * 100 };
}

async function callsPerCore(): Promise<{ best: CallsStep | undefined; steps: CallsStep[]; limit: string }> {
  const steps: CallsStep[] = [];
  let best: CallsStep | undefined;
  let limit = 'step limit reached';
  const ladder = process.env.RELAY_BENCH_STREAMS
    ? process.env.RELAY_BENCH_STREAMS.split(',').map(Number)
    : quick
      ? [250, 500, 1000, 2000]
      : [250, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500];
  for (const n of ladder) {
    const step = await callsStep(n);
    steps.push(step);
    if (!json) {
      console.log(
        `  ${String(n).padStart(5)} streams × 50 pps: loss ${step.lossPct.toFixed(3)} %, relay CPU ${step.relayCpuPct.toFixed(0)} %, generator CPU ${step.loadCpuPct.toFixed(0)} %`,
      );
    }
    if (step.lossPct >= 0.1) {
      limit = `loss ${step.lossPct.toFixed(3)} % at ${n} streams`;
      break;
    }
    if (step.relayCpuPct >= 95) {
      limit = `relay core saturated (${step.relayCpuPct.toFixed(0)} %) at ${n} streams`;
      break;
    }
    if (step.loadCpuPct >= 95) {
      limit = `generator core saturated (${step.loadCpuPct.toFixed(0)} %) at ${n} streams: a lower bound`;
      best = step;
      break;
    }
    best = step;
  }
  return { best, steps, limit };
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

const figures: { name: string; value: number; unit: string; baseline: number | null; ratio: number | null }[] = [];
if (!json)
  console.log(
    pinned
      ? `relay pinned to core ${RELAY_CORE}, generator to core ${LOAD_CORE}`
      : 'not pinned (one core or no taskset)',
  );
const bare = await withLoad('bare node:dgram relay (baseline)', bareRelay, null);
const rtp = await withLoad('media-pod RTP→RTP', engineRelay(null), null);
const srtpKey = generateMasterKey();
const srtp = await withLoad('media-pod SRTP→RTP', engineRelay(srtpKey), srtpKey);
let rtpe: { perCore: number; wall: number } | undefined;
let rtp32: { perCore: number; wall: number } | undefined;
let bare32: { perCore: number; wall: number } | undefined;
let rtpeVersion = '';
const missing = skipRtpengine ? 'skipped (--no-rtpengine)' : rtpengineMissing();
if (missing) {
  if (!json) console.log(`rtpengine: ${missing}`);
} else {
  // rtpengine reads at most 50 packets per stream per loop and, after that happens 5 times, starts discarding
  // ("UDP receive queue exceeded"): a protection against one flooded port. With 64 in flight the single bench
  // stream trips it, so this comparison runs every relay with 32 in flight.
  try {
    rtpe = await withLoad(
      'rtpengine RTP→RTP (userspace), 32 in flight',
      async (ports, child) => {
        const r = await rtpengineRelay(ports);
        rtpeVersion = r.version;
        return { ...r, forwarded: sinkCount(child) };
      },
      null,
      RTPENGINE_WINDOW,
    );
    rtp32 = await withLoad('media-pod RTP→RTP, 32 in flight', engineRelay(null), null, RTPENGINE_WINDOW);
    bare32 = await withLoad('bare node:dgram relay, 32 in flight', bareRelay, null, RTPENGINE_WINDOW);
  } catch (err) {
    rtpe = undefined;
    if (!json) console.log(`rtpengine: could not be measured: ${(err as Error).message}`);
  }
}
const unit = 'packets/s/core';
const round = (v: number) => Math.round(v);
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
figures.push({
  name: 'media relay RTP→RTP (172-byte G.711)',
  value: round(rtp.perCore),
  unit,
  baseline: round(bare.perCore),
  ratio: ratio(rtp.perCore, bare.perCore),
});
figures.push({
  name: 'media relay SRTP→RTP (172-byte G.711, AES_CM_128_HMAC_SHA1_80)',
  value: round(srtp.perCore),
  unit,
  baseline: round(bare.perCore),
  ratio: ratio(srtp.perCore, bare.perCore),
});
if (rtpe && rtp32 && bare32) {
  figures.push({
    name: `media relay RTP→RTP vs rtpengine ${rtpeVersion} userspace (--table=-1), 32 in flight`,
    value: round(rtp32.perCore),
    unit,
    baseline: round(rtpe.perCore),
    ratio: ratio(rtp32.perCore, rtpe.perCore),
  });
  figures.push({
    name: `rtpengine ${rtpeVersion} userspace RTP→RTP vs bare node:dgram relay, 32 in flight`,
    value: round(rtpe.perCore),
    unit,
    baseline: round(bare32.perCore),
    ratio: ratio(rtpe.perCore, bare32.perCore),
  });
}
let calls: Awaited<ReturnType<typeof callsPerCore>> | undefined;
if (!skipCalls) {
  if (!json) console.log('concurrent 50 pps G.711 streams through the media engine (RTP→RTP, one core):');
  calls = await callsPerCore();
  if (calls.best) {
    figures.push({
      name: 'media relay concurrent G.711 streams per core at < 0.1 % loss (50 pps each)',
      value: calls.best.streams,
      unit: 'streams',
      baseline: null,
      ratio: null,
    });
    figures.push({
      name: 'media relay concurrent G.711 calls per core at < 0.1 % loss (2 × 50 pps each)',
      value: Math.floor(calls.best.streams / 2),
      unit: 'calls',
      baseline: null,
      ratio: null,
    });
  }
}
const c = cryptoOpsPerSecond();
if (json) {
  for (const f of figures) console.log(JSON.stringify(f));
} else {
  console.log(
    `ratio to bare relay: RTP→RTP ${figures[0]!.ratio}, SRTP→RTP ${figures[1]!.ratio}` +
      (rtpe && rtp32 && bare32
        ? `; at 32 in flight: rtpengine/bare ${ratio(rtpe.perCore, bare32.perCore)}, media-pod/rtpengine ${ratio(rtp32.perCore, rtpe.perCore)}`
        : '') +
      `\nSRTP in-process (no sockets): protect ${round(c.protect).toLocaleString('en')}/s, unprotect ${round(c.unprotect).toLocaleString('en')}/s`,
  );
  if (calls) {
    console.log(
      calls.best
        ? `concurrent calls per core at < 0.1 % loss: ${calls.best.streams} streams = ${Math.floor(calls.best.streams / 2)} calls (${calls.limit})`
        : `concurrent calls per core: none below 0.1 % loss (${calls.limit})`,
    );
  }
}
