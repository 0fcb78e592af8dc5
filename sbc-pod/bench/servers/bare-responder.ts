// Bench baseline: the least a Node process can do to answer OPTIONS — copy the five mandatory header lines into a
// canned 200 with string operations, no parsing, no transactions. UDP (node:dgram) and TLS (node:tls).
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';

const [certFile, keyFile] = process.argv.slice(2);

function answer(request: string): string {
  let out = 'SIP/2.0 200 OK\r\n';
  for (const line of request.split('\r\n')) {
    const c = line.charCodeAt(0) | 0x20;
    if (c === 118 || c === 102 || c === 116 || c === 99) {
      const name = line.slice(0, line.indexOf(':')).toLowerCase();
      if (name === 'via' || name === 'from' || name === 'call-id' || name === 'cseq') out += `${line}\r\n`;
      else if (name === 'to') out += `${line};tag=bare\r\n`;
    }
  }
  return `${out}Content-Length: 0\r\n\r\n`;
}

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => udp.send(answer(msg.toString('latin1')), rinfo.port, rinfo.address));
await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));

const tls = createServer({ cert: readFileSync(certFile!), key: readFileSync(keyFile!) }, (sock) => {
  let buf = '';
  sock.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
      sock.write(answer(buf.slice(0, end)));
      buf = buf.slice(end + 4);
    }
  });
  sock.on('error', () => {});
});
await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
process.stdout.write(`${JSON.stringify({ UDP: udp.address().port, TLS: (tls.address() as { port: number }).port })}\n`);
