// Bench server: the real SIP element (stack + core) answering OPTIONS on UDP and TLS. Prints its ports as one JSON
// line on stdout, then serves until killed. Run pinned to one core by the benchmark.
import { readFileSync } from 'node:fs';
import { loadSettings } from '../../src/config/settings.ts';
import { createLogger } from '../../src/log.ts';
import { startSbc } from '../../src/sbc/app.ts';

const [certFile, keyFile] = process.argv.slice(2);
const element = await startSbc({
  settings: loadSettings({
    SWITCHBOARD_SIP_LISTEN: 'udp:127.0.0.1:0,tls:127.0.0.1:0',
    SWITCHBOARD_ADMIN_LISTEN: '127.0.0.1:0',
  }),
  logger: createLogger('silent'),
  certificates: [{ certPem: readFileSync(certFile!, 'utf8'), keyPem: readFileSync(keyFile!, 'utf8'), default: true }],
});
element.setReady(true);
const ports = Object.fromEntries(element.stack.listeners().map((l) => [l.transport, l.port]));
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on('SIGINT', () => process.exit(0));
