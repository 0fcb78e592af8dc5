// OPTIONS answered per second on one core: our SIP element vs a bare Node responder (same run, same core).
// UDP is driven by sipp (Debian sip-tester); TLS by a Node load client (Debian's sipp has no TLS), with many
// OPTIONS pipelined over a few connections. The server under test is pinned to CPU 0, the load to CPU 1.
// `--json` prints one {"name","value","unit","baseline","ratio"} object per figure.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { createCa, issueLeaf } from '../../e2e/src/harness/pki.ts';
import { runSipp } from '../../e2e/src/harness/sipp.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const UDP_CALLS = quick ? 5_000 : 60_000;
const TLS_MS = quick ? 1_000 : 5_000;
const here = import.meta.dirname;
const scenario = join(here, '../../e2e/scenarios/options-uac.xml');
const hasTaskset = spawnSync('sh', ['-c', 'command -v taskset']).status === 0;

function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

async function startServer(
  script: string,
  cert: string,
  key: string,
): Promise<{ child: ChildProcess; ports: Record<string, number> }> {
  const [cmd, args] = pinned(0, process.execPath, [join(here, 'servers', script), cert, key]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, ports: JSON.parse(line.toString()) as Record<string, number> };
}

async function udpRate(port: number): Promise<number> {
  const t0 = performance.now();
  // sipp itself runs on CPU 1 (it is the load, not the subject).
  const r = await runSipp({
    scenario,
    target: `127.0.0.1:${port}`,
    calls: UDP_CALLS,
    // Offered faster than either server answers, with at most 200 requests outstanding: the socket buffer never
    // overflows (no loss, no 500 ms retransmissions), so the measured rate is the server's capacity, not sipp's.
    rate: 30_000,
    limit: 200,
    timeoutMs: 120_000,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.stats.failed > 0) process.stderr.write(`warning: ${r.stats.failed} OPTIONS failed\n`);
  return r.stats.successful / seconds;
}

/** Answers per second over TLS: `conns` connections, each keeping `window` OPTIONS in flight. */
async function tlsRate(port: number, conns = 4, window = 64): Promise<number> {
  let answered = 0;
  let stop = false;
  const sockets = await Promise.all(
    Array.from({ length: conns }, async (_, c) => {
      const sock = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      await once(sock, 'secureConnect');
      let seq = 0;
      const send = () => {
        seq++;
        sock.write(
          `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-${c}-${seq}\r\n` +
            `Max-Forwards: 70\r\nFrom: <sip:load@127.0.0.1>;tag=l${c}\r\nTo: <sip:ping@127.0.0.1>\r\n` +
            `Call-ID: load-${c}-${seq}\r\nCSeq: ${seq} OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        );
      };
      let buf = '';
      sock.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          buf = buf.slice(end + 4);
          answered++;
          if (!stop) send();
        }
      });
      return { sock, send };
    }),
  );
  const startCount = answered;
  for (const s of sockets) for (let i = 0; i < window; i++) s.send();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, TLS_MS));
  const rate = ((answered - startCount) * 1000) / (performance.now() - t0);
  stop = true;
  for (const s of sockets) s.sock.destroy();
  return rate;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-options-'));
try {
  const ca = await createCa('Bench CA');
  const leaf = await issueLeaf(ca, { commonName: 'bench.example.net', dnsNames: ['bench.example.net'] });
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  writeFileSync(cert, leaf.chainPem);
  writeFileSync(key, leaf.keyPem);
  const results: Record<string, { ours: number; bare: number }> = {};
  for (const kind of ['UDP', 'TLS'] as const) {
    const ours = await startServer('options-element.ts', cert, key);
    const bare = await startServer('bare-responder.ts', cert, key);
    try {
      const measure = kind === 'UDP' ? udpRate : (p: number) => tlsRate(p);
      await measure(ours.ports[kind]!); // warm-up (JIT, connections)
      const o = await measure(ours.ports[kind]!);
      const b = await measure(bare.ports[kind]!);
      results[kind] = { ours: o, bare: b };
    } finally {
      ours.child.kill();
      bare.child.kill();
    }
  }
  for (const [kind, r] of Object.entries(results)) {
    const figure = {
      name: `options-answered-${kind.toLowerCase()}`,
      value: Math.round(r.ours),
      unit: 'req/s',
      baseline: Math.round(r.bare),
      ratio: Number((r.ours / r.bare).toFixed(3)),
    };
    if (json) console.log(JSON.stringify(figure));
    else {
      console.log(
        `OPTIONS over ${kind} (server pinned to one core${hasTaskset ? '' : ' — taskset missing, not pinned'}): ` +
          `switchboard ${figure.value}/s, bare node responder ${figure.baseline}/s, ratio ${figure.ratio}`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
