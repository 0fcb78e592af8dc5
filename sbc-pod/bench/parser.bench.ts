// Parser benchmark: our parseMessage (+ hot-header access + serialize) against sip.js Parser.parseMessage on the same
// bytes, in the same run. `--json` prints one {"name","value","unit","baseline","ratio"} object per figure.
import { Parser } from 'sip.js/lib/core/messages/parser.js';
import { parseMessage } from '../src/sip/message/parse.ts';
import { serializeMessage } from '../src/sip/message/serialize.ts';
import { TEAMS_200_OK, TEAMS_INVITE } from '../src/sip/message/test-fixtures.ts';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const WARMUP_MS = quick ? 50 : 300;
const RUN_MS = quick ? 100 : 700;

// sip.js wants a Logger; a silent one.
const silent = { error() {}, warn() {}, log() {}, debug() {} } as unknown as Parameters<typeof Parser.parseMessage>[1];

let sink = 0;

/** ops/s of `fn`, in batches of `batch` calls, after a warm-up; the best of three timed rounds. */
function measure(fn: () => void, batch: number): number {
  const deadline = (ms: number) => performance.now() + ms;
  let until = deadline(WARMUP_MS);
  while (performance.now() < until) for (let i = 0; i < batch; i++) fn();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let ops = 0;
    const t0 = performance.now();
    until = t0 + RUN_MS / 3;
    let now = t0;
    while (now < until) {
      for (let i = 0; i < batch; i++) fn();
      ops += batch;
      now = performance.now();
    }
    best = Math.max(best, (ops * 1000) / (now - t0));
  }
  return best;
}

interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: number;
  ratio: number;
}

const figures: Figure[] = [];

function run(label: string, text: string): void {
  const buf = Buffer.from(text);
  const oursParse = () => {
    const m = parseMessage(buf);
    sink += m.headers.length;
  };
  const oursFull = () => {
    const m = parseMessage(buf);
    const branch = m.vias[0]?.branch;
    const fromTag = m.from.params.get('tag');
    const toTag = m.to.params.get('tag');
    const contact = m.contacts[0]?.uri.host;
    sink += (branch?.length ?? 0) + (fromTag?.length ?? 0) + (toTag?.length ?? 0) + m.callId.length + m.cseq.seq;
    sink += (contact?.length ?? 0) + m.body.length;
    sink += serializeMessage(m).length;
  };
  const sipjsParse = () => {
    const m = Parser.parseMessage(buf.toString(), silent);
    sink += m ? 1 : 0;
  };
  const sipjsFull = () => {
    const m = Parser.parseMessage(buf.toString(), silent);
    if (!m) throw new Error('sip.js failed to parse the benchmark message');
    sink +=
      ((m.via as { branch?: string }).branch?.length ?? 0) +
      (m.fromTag?.length ?? 0) +
      (m.toTag?.length ?? 0) +
      m.callId.length;
    sink += (m.cseq ?? 0) + (m.getHeader('contact')?.length ?? 0) + (m.body?.length ?? 0);
  };
  // correctness guard: both must accept the message
  oursFull();
  sipjsFull();
  const sj = measure(sipjsParse, 20);
  const o = measure(oursParse, 500);
  figures.push({ name: `parse.${label}`, value: o, unit: 'ops/s', baseline: sj, ratio: o / sj });
  const sjf = measure(sipjsFull, 20);
  const of = measure(oursFull, 500);
  figures.push({ name: `parse+access+serialize.${label}`, value: of, unit: 'ops/s', baseline: sjf, ratio: of / sjf });
}

run('teams-invite-sdp', TEAMS_INVITE);
run('teams-200-ok-sdp', TEAMS_200_OK);

for (const f of figures) {
  if (json) {
    console.log(
      JSON.stringify({
        ...f,
        value: Math.round(f.value),
        baseline: Math.round(f.baseline),
        ratio: +f.ratio.toFixed(1),
      }),
    );
  } else {
    const us = 1e6 / f.value;
    const sjus = 1e6 / f.baseline;
    console.log(
      `${f.name.padEnd(40)} ours ${Math.round(f.value).toLocaleString('en-US').padStart(11)} ops/s (${us.toFixed(2)} µs)` +
        `   sip.js ${Math.round(f.baseline).toLocaleString('en-US').padStart(8)} ops/s (${sjus.toFixed(1)} µs)   ×${f.ratio.toFixed(0)}`,
    );
  }
}
if (sink === 42) console.log('');
