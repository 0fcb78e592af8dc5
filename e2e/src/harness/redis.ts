// A private redis-server per test suite: free loopback port, no persistence, stopped after the suite.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/** The options of a private test server: loopback, no persistence, its own --dir (no foreign dump file is loaded). */
export function serverArgs(port: number, dir: string): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
}

/** Start redis-server with `args` (a server, a replica, or `CONF --sentinel`) and wait until its log says `ready`. */
export function launchRedisProcess(
  args: string[],
  ready: RegExp = /Ready to accept connections/,
): Promise<ChildProcess> {
  const child = spawn(redisServerPath(), [...args, '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`redis (${args.join(' ')}) not ready in 15 s:\n${output}`)), 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
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
    child.once('exit', (code) =>
      fail(new Error(`redis (${args.join(' ')}) exited (${code}) before ready:\n${output}`)),
    );
  });
}

/** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
export async function terminate(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-'));
  let child = await launchRedisProcess(serverArgs(port, dir));
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
      child = await launchRedisProcess(serverArgs(port, dir));
    },
  };
}

export interface SentinelServer {
  port: number;
  /** The master name it monitors. */
  master: string;
  stop(): Promise<void>;
}

/** A Sentinel (`redis-server CONF --sentinel`, what Debian's redis-sentinel runs) monitoring `master` as `name`. */
export async function startSentinel(master: Pick<RedisServer, 'port'>, name = 'sbtest'): Promise<SentinelServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sentinel-'));
  const port = await freeTcpPort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
      `sentinel down-after-milliseconds ${name} 2000`,
      `sentinel failover-timeout ${name} 10000`,
      '',
    ].join('\n'),
  );
  const child = await launchRedisProcess([conf, '--sentinel'], new RegExp(`\\+monitor master ${name}`));
  return {
    port,
    master: name,
    async stop() {
      await terminate(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
