// Media relay benchmark (issue [5/10]). Every relay runs in its own process pinned to core 0 (taskset); the load
// generator is a small native program (native/rtpgen.c, built here with the system C compiler: sendmmsg/recvmmsg
// batches, so it outruns any of the relays) pinned to core 1. Relays compared in the same run:
// - media pod: MediaEngine (relay-server.ts), one session per call set up by offer/answer;
// - bare node:dgram relay (relay-server.ts): per call two sockets that forward whatever arrives — the floor cost of
//   any Node relay;
// - rtpengine (Debian's `rtpengine-daemon`, userspace only: --table=-1, one worker thread), calls set up over its
//   ng control protocol. Skipped, with the reason printed, when it is missing or does not start.
// Figures:
// 1. Packets per second on one core: 172-byte G.711 packets through TP_CALLS calls (one stream each, caller → callee),
//    WINDOW packets in flight spread round-robin over the calls (so no single stream is flooded: rtpengine protects
//    itself against a flooded stream by discarding), forwarded packets per CPU-second of the relay process.
//    RTP→RTP for all three, SRTP→RTP (AES_CM_128_HMAC_SHA1_80) for the media pod. Two rounds, relays interleaved;
//    per relay, the valid round in which it waited least for its core counts.
// 2. Concurrent calls per core at < 0.1 % loss: N calls × 2 streams (both directions through the relay) × 50 pps,
//    paced evenly, 5 s after 1 s of warm-up; lost = a packet that did not come back (300 ms after the end) or came
//    back more than LATE_MS (100 ms) after it was sent, as a jitter buffer would discard it (a relay that cannot keep
//    up builds a backlog in its 1 MiB socket buffers long before the kernel drops anything). N is raised step by
//    step, the relays interleaved at each step. A step is "disturbed" when the relay or the generator spent > 15 % of
//    it waiting for its core (/proc/<pid>/task/*/schedstat: other work on the shared machine took it); a failure
//    counts only when undisturbed (twice, or once in 4 attempts), disturbed failures are retried (4 attempts at most).
//    Printed for each relay: an estimate of the calls a fully used core would carry at the CPU cost measured at its
//    best step. rtpengine's flood protection firing here is its overload behaviour (a stream's backlog passed 50
//    packets) and is noted, not a reason to discard the step.
// A throughput figure is printed as INVALID, with the reason, instead of a number when its run is not a measure of
// the relay: rtpengine's flood protection fired, or more than 0.1 % of the packets were lost; a calls step is invalid
// when the generator itself dropped packets or ran out of CPU (the last valid step is then a lower bound).
// Flags: --quick, --json, --no-rtpengine, --no-calls. Environment: RELAY_BENCH_LADDER=250,500 (calls ladder),
// RELAY_BENCH_DEBUG=1 (per-step details), RTPE_LOG=1 (rtpengine log on stderr).
import { type ChildProcess, execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { SrtpContext } from '../src/srtp/context.ts';
import { generateMasterKey } from '../src/srtp/sdes.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const skipRtpengine = process.argv.includes('--no-rtpengine');
const skipCalls = process.argv.includes('--no-calls');
const debug = Boolean(process.env.RELAY_BENCH_DEBUG);
const WARMUP_MS = quick ? 300 : 700;
const RUN_MS = quick ? 1000 : 2500;
/** Throughput: calls (one stream each) and packets in flight over all of them. */
const TP_CALLS = 200;
const WINDOW = 128;
/** Concurrent calls: packets per second per stream (G.711, 20 ms), run length per step. */
const PPS = 50;
const CALLS_WARMUP_MS = 1000;
const CALLS_RUN_MS = quick ? 2000 : 5000;
const LOSS_LIMIT_PCT = 0.1;
/** A packet delayed more than this through the relay counts as lost (a jitter buffer would discard it). */
const LATE_MS = 100;
const RELAY_CORE = 0;
const LOAD_CORE = 1;

const log = (s: string) => {
  if (!json) console.log(s);
};

const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;

/** Pin a process (all its threads) to one core. */
function pin(pid: number, core: number): void {
  if (canPin) execFileSync('taskset', ['-a', '-pc', String(core), String(pid)], { stdio: 'ignore' });
}
/** argv that runs a command on one core (taskset execs it: the pid stays the command's). */
const pinned = (core: number, cmd: string, args: string[]): [string, string[]] =>
  canPin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];

/** CPU seconds (user + system, all threads) of a process, from /proc/<pid>/stat (clock ticks of 10 ms). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Seconds the process's threads spent runnable but waiting for a CPU (/proc/<pid>/task/<tid>/schedstat): time other
 *  work on the shared machine took from the pinned relay. */
function procWaitSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // thread gone
    }
  }
  return ns / 1e9;
}

/** Kernel drop counters (receive buffer full) of the loopback UDP sockets, by local port. */
function udpDrops(): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const [addr, port] = f[1]!.split(':');
    if (addr !== '0100007F') continue;
    out.set(Number.parseInt(port!, 16), Number(f[f.length - 1]));
  }
  return out;
}
const dropsOf = (m: Map<number, number>, ports: number[]) => ports.reduce((n, p) => n + (m.get(p) ?? 0), 0);

// ---- the native load generator ----

function buildGenerator(): string {
  const src = join(import.meta.dirname, 'native', 'rtpgen.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'switchboard-bench');
  const bin = join(dir, `rtpgen-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', `${bin}.tmp`, src], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      `cannot build the load generator with ${cc} (${r.error?.message ?? r.stderr.trim()}): apt-get install gcc`,
    );
  }
  renameSync(`${bin}.tmp`, bin);
  return bin;
}

interface Counts {
  sent: number;
  received: number;
  stalls: number;
  /** Packets that came back more than LATE_MS after they were sent (plain RTP only). */
  late: number;
  /** One-way delay through the relay, µs (plain RTP only; 100 µs buckets). */
  p50: number;
  p99: number;
  max: number;
}

class Generator {
  readonly child: ChildProcess;
  readonly ports: number[];
  #waiting: { prefix: string; resolve: (c: Counts) => void }[] = [];

  private constructor(child: ChildProcess, ports: number[]) {
    this.child = child;
    this.ports = ports;
  }

  static async start(bin: string, sockets: number): Promise<Generator> {
    const [cmd, args] = pinned(LOAD_CORE, bin, [String(sockets), String(4 << 20)]);
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const [first] = (await once(lines, 'line')) as [string];
    const gen = new Generator(child, first.split(' ').slice(1).map(Number));
    lines.on('line', (l: string) => {
      const [word, ...n] = l.split(' ');
      const i = gen.#waiting.findIndex((w) => w.prefix === word);
      if (i < 0) return;
      const [w] = gen.#waiting.splice(i, 1);
      const [sent, received, stalls, late, p50, p99, max] = n.map(Number);
      w!.resolve({ sent: sent!, received: received!, stalls: stalls!, late: late!, p50: p50!, p99: p99!, max: max! });
    });
    return gen;
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(...commands: string[]): void {
    this.child.stdin!.write(`${commands.join('\n')}\n`);
  }

  #ask(word: 'mark' | 'stop', reply: string): Promise<Counts> {
    return new Promise((resolve) => {
      this.#waiting.push({ prefix: reply, resolve });
      this.send(word);
    });
  }

  mark(): Promise<Counts> {
    return this.#ask('mark', 'mark');
  }

  /** Stop sending, let what is in flight arrive (300 ms), and return the totals. */
  stop(): Promise<Counts> {
    return this.#ask('stop', 'stopped');
  }

  async close(): Promise<void> {
    const exited = once(this.child, 'exit');
    this.child.stdin!.end();
    await exited;
  }
}

// ---- relays under test ----

interface Call {
  caller: number;
  callee: number;
}

interface RelayUnderTest {
  pid: number;
  /** Ports of each call toward the caller (a) and toward the callee (b), where each side sends. */
  setup(calls: Call[]): Promise<{ a: number[]; b: number[] }>;
  /** Why the run is not a valid measure of the relay (e.g. its flood protection fired), or undefined. */
  invalid(): string | undefined;
  close(): Promise<void>;
}

type RelayFactory = (calls: number) => Promise<RelayUnderTest>;

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        child.off('message', on);
        child.off('exit', onExit);
        resolve(m as T);
      }
    };
    const onExit = (code: number | null) => reject(new Error(`relay process exited (${code}) waiting for ${type}`));
    child.on('message', on);
    child.once('exit', onExit);
  });
}

/** The media pod's engine or the bare node:dgram relay, in relay-server.ts. */
function nodeRelay(kind: 'engine' | 'bare', srtp: { key: Buffer; salt: Buffer } | null = null): RelayFactory {
  return async () => {
    const child = fork(join(import.meta.dirname, 'relay-server.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await nextMessage(child, 'started');
    pin(child.pid!, RELAY_CORE);
    return {
      pid: child.pid!,
      async setup(calls) {
        const ready = nextMessage<{ a: number[]; b: number[] }>(child, 'ready');
        child.send({
          type: 'setup',
          kind,
          calls,
          low: 20_000 + 2 * randomInt(0, 2000),
          srtp: srtp ? { key: srtp.key.toString('base64'), salt: srtp.salt.toString('base64') } : null,
        });
        return ready;
      },
      invalid: () => undefined,
      async close() {
        if (debug) {
          const s = nextMessage<{ forwarded: number; drops: Record<string, number> }>(child, 'stats');
          child.send({ type: 'stats' });
          console.error(`  relay stats: ${JSON.stringify(await s)}`);
        }
        const exited = once(child, 'exit');
        child.send({ type: 'exit' });
        await exited;
      },
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
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

/** Why rtpengine cannot be measured here, or undefined when it can. */
function rtpengineMissing(): string | undefined {
  const r = spawnSync('rtpengine', ['--version'], { stdio: 'pipe' });
  if (!r.error) return undefined;
  return `rtpengine not runnable (${(r.error as NodeJS.ErrnoException).code ?? String(r.error)}): apt-get install rtpengine-daemon`;
}

function rtpengineVersion(): string {
  const v = spawnSync('rtpengine', ['--version'], { encoding: 'utf8' });
  return `${v.stdout}${v.stderr}`.trim().replace(/^Version:\s*/, '');
}

/** rtpengine's messages when it discards packets of a flooded stream (its per-stream receive-queue protection). */
const RTPE_FLOOD = /Too many packets in UDP receive queue|UDP receive queue exceeded/;

/** rtpengine in userspace (--table=-1, one worker thread), pinned to the relay core. */
const rtpengineRelay: RelayFactory = async (calls) => {
  const ngPort = 22_000 + randomInt(0, 2000);
  const low = 40_000 + 2 * randomInt(0, 1000);
  const args = [
    '--config-file=none',
    '--foreground',
    '--log-stderr',
    '--log-level=6',
    '--table=-1',
    '--interface=127.0.0.1',
    `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${low}`,
    `--port-max=${Math.min(65_000, low + calls * 4 + 200)}`,
    '--num-threads=1',
    '--delete-delay=0',
  ];
  const [cmd, argv] = pinned(RELAY_CORE, 'rtpengine', args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const collect = (c: Buffer) => {
    out += c.toString();
    if (out.length > 1 << 20) out = out.slice(-(1 << 19));
    if (process.env.RTPE_LOG) process.stderr.write(c);
  };
  child.stderr.on('data', collect);
  child.stdout.on('data', collect);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await ng(ngPort, { command: 'ping' });
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`rtpengine did not start: ${String(err)}\n${out.slice(-2000)}`);
      }
      await delay(100);
    }
  }
  const flags = { ICE: 'remove', 'transport-protocol': 'RTP/AVP', replace: ['origin', 'session-connection'] };
  const port = (sdp: Bencode) => {
    const p = Number(/m=audio (\d+)/.exec(String(sdp))?.[1]);
    if (!p) throw new Error(`rtpengine SDP without a media port:\n${String(sdp)}`);
    return p;
  };
  const tag = randomInt(0, 1e9);
  return {
    pid: child.pid!,
    async setup(list) {
      const a: number[] = new Array(list.length);
      const b: number[] = new Array(list.length);
      const one = async (i: number) => {
        const callId = `bench-${tag}-${i}`;
        // the offer's reply goes to the callee (where the callee sends), the answer's to the caller
        const offer = await ng(ngPort, {
          command: 'offer',
          'call-id': callId,
          'from-tag': 'caller',
          sdp: plainSdp(list[i]!.caller),
          ...flags,
        });
        const answer = await ng(ngPort, {
          command: 'answer',
          'call-id': callId,
          'from-tag': 'caller',
          'to-tag': 'callee',
          sdp: plainSdp(list[i]!.callee),
          ...flags,
        });
        b[i] = port(offer.sdp!);
        a[i] = port(answer.sdp!);
      };
      for (let i = 0; i < list.length; i += 16) {
        await Promise.all(list.slice(i, i + 16).map((_, k) => one(i + k)));
      }
      out = '';
      return { a, b };
    },
    invalid() {
      const m = out.split('\n').filter((l) => RTPE_FLOOD.test(l));
      return m.length
        ? `rtpengine's flood protection fired (${m.length} log lines, e.g. "${m[0]!.trim()}")`
        : undefined;
    },
    async close() {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
};

// ---- 1. packets per second on one core ----

interface Throughput {
  perCore: number;
  wall: number;
  cpuPct: number;
  genCpuPct: number;
  /** Share of the run the relay was runnable but another process had its core. */
  waitPct: number;
  invalid?: string;
}

/** SRTP packets (seq 0..n-1, one SSRC) for the generator to replay: each call is its own session, so each sends all. */
function srtpPackets(keys: { key: Buffer; salt: Buffer }, n: number): string {
  const tx = new SrtpContext({ suite: 'AES_CM_128_HMAC_SHA1_80', keys: [keys] });
  const records: Buffer[] = [];
  for (let seq = 0; seq < n; seq++) {
    const b = Buffer.alloc(172, 0xd5);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(seq * 160, 4);
    b.writeUInt32BE(0x5eed, 8);
    records.push(tx.protect(b) as Buffer);
  }
  const file = join(tmpdir(), `switchboard-bench-srtp-${process.pid}.bin`);
  writeFileSync(file, Buffer.concat(records));
  return file;
}

async function throughput(
  bin: string,
  label: string,
  factory: RelayFactory,
  srtp: { key: Buffer; salt: Buffer } | null = null,
): Promise<Throughput> {
  const pairs = 16;
  const gen = await Generator.start(bin, pairs * 2);
  const relay = await factory(TP_CALLS);
  let packetFile: string | undefined;
  try {
    const calls = Array.from({ length: TP_CALLS }, (_, i) => ({
      caller: gen.ports[2 * (i % pairs)]!,
      callee: gen.ports[2 * (i % pairs) + 1]!,
    }));
    const { a } = await relay.setup(calls);
    if (srtp) {
      // 16,000 per call: over 50× what a call gets in a run, so they never run out (a rerun record is a replay)
      packetFile = srtpPackets(srtp, 16_000);
      gen.send(`packets ${packetFile} 182`);
    }
    gen.send(...a.map((port, i) => `flow ${2 * (i % pairs)} ${port}`), `window ${WINDOW}`);
    await delay(WARMUP_MS);
    const m0 = await gen.mark();
    const c0 = procCpuSeconds(relay.pid);
    const g0 = procCpuSeconds(gen.pid);
    const w0 = procWaitSeconds(relay.pid);
    const t0 = performance.now();
    await delay(RUN_MS);
    const m1 = await gen.mark();
    const c1 = procCpuSeconds(relay.pid);
    const g1 = procCpuSeconds(gen.pid);
    const w1 = procWaitSeconds(relay.pid);
    const t1 = performance.now();
    const total = await gen.stop();
    const packets = m1.received - m0.received;
    const cpu = c1 - c0;
    const r: Throughput = {
      perCore: cpu > 0 ? packets / cpu : 0,
      wall: (packets * 1000) / (t1 - t0),
      cpuPct: (cpu * 100_000) / (t1 - t0),
      genCpuPct: ((g1 - g0) * 100_000) / (t1 - t0),
      waitPct: ((w1 - w0) * 100_000) / (t1 - t0),
    };
    // packets still missing after the drain: lost by the relay (a stall alone is only a late packet)
    const lost = Math.max(0, total.sent - total.received);
    r.invalid =
      relay.invalid() ??
      (packets <= 0
        ? 'nothing came through the relay'
        : lost > total.sent * 0.001
          ? `${lost} of ${total.sent} packets lost (the closed loop stalled ${total.stalls} times)`
          : undefined);
    if (debug) console.error(`  ${label}: ${JSON.stringify({ m0, m1, total, cpu })}`);
    log(
      `  ${label.padEnd(44)} ` +
        (r.invalid
          ? `INVALID: ${r.invalid}`
          : `${Math.round(r.perCore).toLocaleString('en').padStart(9)} packets/s/core  (${Math.round(r.wall).toLocaleString('en')}/s wall, relay CPU ${r.cpuPct.toFixed(0)} % (waited ${r.waitPct.toFixed(0)} %), generator CPU ${r.genCpuPct.toFixed(0)} %, ${lost} of ${total.sent.toLocaleString('en')} lost)`),
    );
    return r;
  } finally {
    await relay.close();
    await gen.close();
    if (packetFile) rmSync(packetFile, { force: true });
  }
}

// ---- 2. concurrent calls per core at < 0.1 % loss ----

interface CallsStep {
  calls: number;
  /** Lost or later than LATE_MS, % of sent. */
  lossPct: number;
  p99Ms: number;
  maxMs: number;
  relayCpuPct: number;
  waitPct: number;
  genCpuPct: number;
  genWaitPct: number;
  relayDrops: number;
  genDrops: number;
  invalid?: string;
  note?: string;
}

async function callsStep(bin: string, factory: RelayFactory, n: number): Promise<CallsStep> {
  const pairs = Math.min(n, 64);
  const gen = await Generator.start(bin, pairs * 2);
  const relay = await factory(n);
  try {
    const calls = Array.from({ length: n }, (_, i) => ({
      caller: gen.ports[2 * (i % pairs)]!,
      callee: gen.ports[2 * (i % pairs) + 1]!,
    }));
    const { a, b } = await relay.setup(calls);
    const flows: string[] = [];
    for (let i = 0; i < n; i++) flows.push(`flow ${2 * (i % pairs)} ${a[i]}`, `flow ${2 * (i % pairs) + 1} ${b[i]}`);
    const d0 = udpDrops();
    gen.send(...flows, `late ${LATE_MS}`, `paced ${PPS}`);
    await delay(CALLS_WARMUP_MS);
    const c0 = procCpuSeconds(relay.pid);
    const g0 = procCpuSeconds(gen.pid);
    const w0 = procWaitSeconds(relay.pid);
    const gw0 = procWaitSeconds(gen.pid);
    const t0 = performance.now();
    await delay(CALLS_RUN_MS);
    const c1 = procCpuSeconds(relay.pid);
    const g1 = procCpuSeconds(gen.pid);
    const w1 = procWaitSeconds(relay.pid);
    const gw1 = procWaitSeconds(gen.pid);
    const t1 = performance.now();
    const total = await gen.stop();
    const d1 = udpDrops();
    const wall = (t1 - t0) / 1000;
    const genDrops = dropsOf(d1, gen.ports) - dropsOf(d0, gen.ports);
    const relayPorts = [...a, ...b];
    const step: CallsStep = {
      calls: n,
      lossPct: total.sent > 0 ? ((Math.max(0, total.sent - total.received) + total.late) / total.sent) * 100 : 100,
      p99Ms: total.p99 / 1000,
      maxMs: total.max / 1000,
      relayCpuPct: ((c1 - c0) / wall) * 100,
      waitPct: ((w1 - w0) / wall) * 100,
      genCpuPct: ((g1 - g0) / wall) * 100,
      genWaitPct: ((gw1 - gw0) / wall) * 100,
      relayDrops: dropsOf(d1, relayPorts) - dropsOf(d0, relayPorts),
      genDrops,
    };
    // rtpengine's flood protection here is its overload behaviour (a stream's backlog passed 50 packets, i.e. a second
    // at 50 pps): the step's loss is real, so it is a note, not a reason to discard the step
    step.note = relay.invalid();
    step.invalid =
      genDrops > total.sent * 0.0001
        ? `the generator's own sockets dropped ${genDrops} packets`
        : step.genCpuPct > 90
          ? `the generator's core is saturated (${step.genCpuPct.toFixed(0)} %)`
          : undefined;
    if (debug) console.error(`  ${n} calls: ${JSON.stringify({ total, ...step })}`);
    return step;
  } finally {
    await relay.close();
    await gen.close();
  }
}

interface Ladder {
  label: string;
  factory: RelayFactory;
  best: number;
  /** Relay CPU share at the best step (for a CPU-cost estimate of a full core). */
  bestCpuPct: number;
  limit: string;
  /** The ladder ended without an undisturbed failure (disturbed, invalid step, or the ladder's end). */
  lowerBound: boolean;
  invalid?: string;
  done: boolean;
}

const DISTURBED_WAIT_PCT = 15;
const disturbed = (s: CallsStep) => s.waitPct > DISTURBED_WAIT_PCT || s.genWaitPct > DISTURBED_WAIT_PCT;

/** Raise the number of calls for every relay, step by step, the relays interleaved at each step (so they share the
 *  machine's background load alike), until each fails twice at a step or its run stops being a valid measure. */
async function callsLadders(relays: { label: string; factory: RelayFactory }[]): Promise<Ladder[]> {
  const ladder = process.env.RELAY_BENCH_LADDER
    ? process.env.RELAY_BENCH_LADDER.split(',').map(Number)
    : quick
      ? [250, 500, 1000, 1500, 2000]
      : [100, 150, 200, 250, 300, 350, 400, 500, 600, 700, 800, 1000, 1200, 1500, 2000, 2500, 3000];
  const out: Ladder[] = relays.map((r) => ({
    ...r,
    best: 0,
    bestCpuPct: 0,
    limit: `no loss up to ${ladder.at(-1)} calls (the ladder's end): a lower bound`,
    lowerBound: true,
    done: false,
  }));
  for (const n of ladder) {
    for (const l of out) {
      if (l.done) continue;
      const show = (s: CallsStep, note = '') =>
        log(
          `  ${l.label.padEnd(36)} ${String(n).padStart(5)} calls (${(n * 2 * PPS).toLocaleString('en')} packets/s): loss ${s.lossPct.toFixed(3)} %, delay p99 ${s.p99Ms.toFixed(1)} ms max ${s.maxMs.toFixed(0)} ms,` +
            ` relay CPU ${s.relayCpuPct.toFixed(0)} % (waited ${s.waitPct.toFixed(0)} %), relay socket drops ${s.relayDrops}, generator CPU ${s.genCpuPct.toFixed(0)} % (waited ${s.genWaitPct.toFixed(0)} %)` +
            (s.invalid ? ` — INVALID: ${s.invalid}` : '') +
            (s.note ? ` (${s.note.replace(/, e\.g\..*/s, ')')})` : '') +
            note,
        );
      // Up to 4 attempts per step. A failure counts only when it was "undisturbed" (relay and generator each spent
      // ≤ 15 % of the step waiting for their core): failures while other work took the cores are retried, and a
      // step that never ran undisturbed ends the ladder with the last pass as a lower bound.
      let step: CallsStep | undefined;
      let realFails = 0;
      try {
        for (let attempt = 1; attempt <= 4; attempt++) {
          if (step) show(step, disturbed(step) ? ' — disturbed, again' : ' — again');
          step = await callsStep(bin, l.factory, n);
          if (step.invalid || step.lossPct < LOSS_LIMIT_PCT) break;
          if (!disturbed(step) && ++realFails >= 2) break;
        }
      } catch (err) {
        log(`  ${l.label}: could not be measured at ${n} calls: ${(err as Error).message}`);
        l.done = true;
        l.limit = `failed at ${n} calls: ${(err as Error).message.split('\n')[0]}`;
        if (!l.best) l.invalid = l.limit;
        continue;
      }
      show(step!);
      if (step!.invalid) {
        l.done = true;
        if (l.best) l.limit = `the step at ${n} calls was invalid (${step!.invalid}): ${l.best} is a lower bound`;
        else l.invalid = l.limit = step!.invalid;
      } else if (step!.lossPct >= LOSS_LIMIT_PCT) {
        l.done = true;
        l.lowerBound = realFails === 0;
        l.limit = realFails
          ? `loss ≥ ${LOSS_LIMIT_PCT} % at ${n} calls with the relay on its core (${realFails} undisturbed attempt${realFails > 1 ? 's' : ''})`
          : `every attempt at ${n} calls was disturbed by other work on the machine: a lower bound`;
      } else {
        l.best = n;
        l.bestCpuPct = step!.relayCpuPct;
      }
    }
    if (out.every((l) => l.done)) break;
  }
  return out;
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

// ---- run ----

interface Figure {
  name: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  ratio: number | null;
  /** Set when the figure (or its baseline) is not a valid measure; value/baseline are then null. */
  invalid?: string;
  /** E.g. that a figure is a lower bound (the ratio is then null). */
  note?: string;
}
const figures: Figure[] = [];
const round = (v: number) => Math.round(v);
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
function figure(
  name: string,
  unit: string,
  v: { value: number; invalid?: string },
  b?: { value: number; invalid?: string },
) {
  const invalid = v.invalid ?? b?.invalid;
  figures.push({
    name,
    value: v.invalid ? null : round(v.value),
    unit,
    baseline: b && !b.invalid ? round(b.value) : null,
    ratio: b && !invalid && b.value > 0 ? ratio(v.value, b.value) : null,
    ...(invalid ? { invalid } : {}),
  });
}

let bin: string;
try {
  bin = buildGenerator();
} catch (err) {
  console.error(`relay bench: ${(err as Error).message}`);
  process.exit(1);
}
const rtpeMissing = skipRtpengine ? 'skipped (--no-rtpengine)' : rtpengineMissing();
const rtpeVersion = rtpeMissing ? '' : rtpengineVersion();
log(
  canPin
    ? `relays pinned to core ${RELAY_CORE}, native load generator to core ${LOAD_CORE} (taskset); load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
    : 'not pinned (one core or no taskset): figures are not per core',
);
log(`packets per second on one core: 172-byte G.711, ${TP_CALLS} calls, ${WINDOW} packets in flight over all calls`);
// Two rounds (one with --quick), the relays interleaved; for each relay the valid round in which it waited least for
// its core counts (not the highest figure: a relay kept off its core finds more packets per wake-up and so spends
// less CPU per packet — contention flatters the per-CPU-second figure).
const ROUNDS = quick ? 1 : 2;
const srtpKey = generateMasterKey();
const best = (a: Throughput | undefined, b: Throughput): Throughput =>
  !a || (a.invalid && !b.invalid) || (!b.invalid && b.waitPct < a.waitPct) ? b : a;
let bare: Throughput | undefined;
let rtp: Throughput | undefined;
let srtp: Throughput | undefined;
let rtpe: Throughput | undefined;
let rtpeError: string | undefined = rtpeMissing;
for (let round = 1; round <= ROUNDS; round++) {
  if (ROUNDS > 1) log(` round ${round} of ${ROUNDS}`);
  bare = best(bare, await throughput(bin, 'bare node:dgram relay (baseline)', nodeRelay('bare')));
  rtp = best(rtp, await throughput(bin, 'media pod RTP→RTP', nodeRelay('engine')));
  srtp = best(srtp, await throughput(bin, 'media pod SRTP→RTP', nodeRelay('engine', srtpKey), srtpKey));
  if (!rtpeError) {
    try {
      rtpe = best(rtpe, await throughput(bin, `rtpengine ${rtpeVersion} userspace RTP→RTP`, rtpengineRelay));
    } catch (err) {
      rtpeError = `could not be measured: ${(err as Error).message}`;
    }
  }
}
if (rtpeError) log(`  rtpengine: ${rtpeError}`);
const unit = 'packets/s/core';
const tp = (t: Throughput) => ({ value: t.perCore, invalid: t.invalid });
if (!bare || !rtp || !srtp) throw new Error('unreachable: no throughput round ran');
figure('media relay RTP→RTP (172-byte G.711) vs bare node:dgram relay', unit, tp(rtp), tp(bare));
figure(
  'media relay SRTP→RTP (172-byte G.711, AES_CM_128_HMAC_SHA1_80) vs bare node:dgram relay',
  unit,
  tp(srtp),
  tp(bare),
);
if (rtpe) {
  figure(`media relay RTP→RTP vs rtpengine ${rtpeVersion} userspace (--table=-1)`, unit, tp(rtp), tp(rtpe));
  figure(`rtpengine ${rtpeVersion} userspace RTP→RTP vs bare node:dgram relay`, unit, tp(rtpe), tp(bare));
}
const show = (t: Throughput) => (t.invalid ? 'INVALID' : Math.round(t.perCore).toLocaleString('en'));
const r = (x: Throughput, y: Throughput) =>
  x.invalid || y.invalid ? 'n/a (invalid)' : String(ratio(x.perCore, y.perCore));
log(
  `  ratios: RTP→RTP/bare ${r(rtp, bare)}, SRTP→RTP/bare ${r(srtp, bare)}` +
    (rtpe ? `, RTP→RTP/rtpengine ${r(rtp, rtpe)}, rtpengine/bare ${r(rtpe, bare)}` : '') +
    ` (packets/s/core, from each relay's least disturbed round: bare ${show(bare)}, RTP ${show(rtp)}, SRTP ${show(srtp)}${rtpe ? `, rtpengine ${show(rtpe)}` : ''})`,
);

if (!skipCalls) {
  log(
    `concurrent G.711 calls per core at < ${LOSS_LIMIT_PCT} % loss (2 streams × ${PPS} packets/s per call; lost = not back, or back more than ${LATE_MS} ms late):`,
  );
  const relays = [
    { label: 'media pod RTP→RTP', factory: nodeRelay('engine') },
    { label: 'bare node:dgram relay (baseline)', factory: nodeRelay('bare') },
  ];
  if (!rtpeError) relays.push({ label: `rtpengine ${rtpeVersion} userspace`, factory: rtpengineRelay });
  const [pod, bareL, rtpeL] = await callsLadders(relays);
  const c = (x: Ladder) => ({ value: x.best, invalid: x.invalid });
  const name = `media relay concurrent G.711 calls per core at < ${LOSS_LIMIT_PCT} % loss (2 × ${PPS} pps per call)`;
  const callsFigure = (label: string, a: Ladder, b: Ladder) => {
    figure(label, 'calls', c(a), c(b));
    const f = figures.at(-1)!;
    const bounds = [a, b].filter((l) => l.lowerBound && !l.invalid).map((l) => l.label);
    if (bounds.length) {
      f.ratio = null;
      f.note = `lower bound (the ladder ended without an undisturbed failure): ${bounds.join(', ')}`;
    }
  };
  callsFigure(`${name} vs bare node:dgram relay`, pod!, bareL!);
  if (rtpeL) callsFigure(`${name} vs rtpengine ${rtpeVersion} userspace`, pod!, rtpeL);
  // The same, estimated from CPU cost: calls at the best step / the relay's CPU share there (less sensitive to the
  // machine's other work than where loss starts, which depends on how much of the core the relay got).
  const est = (l: Ladder) => ({
    value: l.best && l.bestCpuPct > 0 ? (l.best * 100) / l.bestCpuPct : 0,
    invalid: l.invalid ?? (l.best ? undefined : 'no step passed'),
  });
  const estName = 'media relay G.711 calls per fully used core, estimated from CPU cost at the best step';
  figure(`${estName} vs bare node:dgram relay`, 'calls', est(pod!), est(bareL!));
  if (rtpeL) figure(`${estName} vs rtpengine ${rtpeVersion} userspace`, 'calls', est(pod!), est(rtpeL));
  for (const l of [pod!, bareL!, ...(rtpeL ? [rtpeL] : [])]) {
    log(
      `  ${l.label}: ${l.invalid ? `INVALID: ${l.invalid}` : `${l.best} calls${l.lowerBound ? ' (lower bound)' : ''}`} (${l.limit})` +
        (l.best && l.bestCpuPct > 0
          ? `; at ${l.best} calls it used ${l.bestCpuPct.toFixed(0)} % of its core (≈ ${Math.round((l.best * 100) / l.bestCpuPct)} calls per fully used core by CPU cost)`
          : ''),
    );
  }
  const ratios = (a: Ladder, b: Ladder, what: string) => {
    if (a.invalid || b.invalid || !b.best) return;
    const e = est(a).value / est(b).value;
    log(
      `  ratio media pod / ${what}: ${a.lowerBound || b.lowerBound ? 'n/a (a lower bound)' : ratio(a.best, b.best)} at < ${LOSS_LIMIT_PCT} % loss, ${Math.round(e * 1000) / 1000} by CPU cost`,
    );
  };
  ratios(pod!, bareL!, 'bare');
  if (rtpeL) ratios(pod!, rtpeL, 'rtpengine');
}

const ops = cryptoOpsPerSecond();
log(
  `SRTP in-process (no sockets): protect ${round(ops.protect).toLocaleString('en')}/s, unprotect ${round(ops.unprotect).toLocaleString('en')}/s`,
);
if (json) for (const f of figures) console.log(JSON.stringify(f));
