// A private redis-server per test suite: free loopback port, no persistence, stopped after the suite.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort } from './ports.ts';

export interface RedisServer {
  url: string;
  port: number;
  /** Stop the server (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Kill and start again on the same port, with empty data: the "Redis restarted mid-run" case. */
  restart(): Promise<void>;
}

export function redisServerPath(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error('redis-server not found: run `make deps` (installs the Debian package redis-server)');
  return found;
}

function launch(bin: string, port: number, dir: string): Promise<ChildProcess> {
  // A private --dir: no dump file from another server is ever loaded, and none is left in the caller's cwd.
  const child = spawn(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis-server did not become ready in 15 s:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(child);
      }
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => fail(new Error(`redis-server exited (${code}) before ready:\n${output}`)));
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function startRedis(): Promise<RedisServer> {
  const bin = redisServerPath();
  const port = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-'));
  let child = await launch(bin, port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      child.kill('SIGKILL');
      await once(child, 'exit').catch(() => {});
      child = await launch(bin, port, dir);
    },
  };
}
