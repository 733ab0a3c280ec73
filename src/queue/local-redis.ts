/**
 * A throwaway redis-server on a loopback port, for tests and bench:queue: its own temporary
 * folder, no persistence unless asked (`appendonly`: the restart test needs the jobs to survive
 * a restart, as a deployment's Redis must), stopped and removed by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface LocalRedis {
  url: string;
  port: number;
  /** SIGTERM and wait for the exit (with appendonly the data stays in its folder). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForPing(port: number, password: string | undefined, tls: LocalTls | undefined, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${log()}`);
    const r = new Redis({ port, host: '127.0.0.1', ...(password ? { password } : {}), ...(tls ? { tls: { ca: readFileSync(tls.ca) } } : {}), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      r.disconnect();
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer: ${log()}`);
}

/** PEM files for a TLS-only server (rediss://): its certificate and key, and the CA that signed it. */
export interface LocalTls { cert: string; key: string; ca: string }

export async function startLocalRedis(o: { appendonly?: boolean; password?: string; tls?: LocalTls } = {}): Promise<LocalRedis> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`needs ${REDIS_SERVER}: apt-get install -y redis-server`);
  const dir = mkdtempSync(join(tmpdir(), 'latnas-redis-'));
  const port = await freePort();
  let child: ChildProcess;
  let log = '';
  const start = async () => {
    log = '';
    child = spawn(REDIS_SERVER, [
      ...(o.tls
        ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', o.tls.cert, '--tls-key-file', o.tls.key, '--tls-ca-cert-file', o.tls.ca, '--tls-auth-clients', 'no']
        : ['--port', String(port)]),
      '--bind', '127.0.0.1', '--dir', dir, '--save', '',
      '--appendonly', o.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
      ...(o.password ? ['--requirepass', o.password] : []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-2000); });
    child.stderr!.on('data', (b: Buffer) => { log = (log + b.toString()).slice(-2000); });
    await waitForPing(port, o.password, o.tls, child, () => log);
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await start();
  } catch (e) {
    // A server that never answered is stopped and its folder removed: nothing of it outlives the failure.
    child!.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const auth = o.password ? `:${encodeURIComponent(o.password)}@` : '';
  return {
    url: `${o.tls ? 'rediss' : 'redis'}://${auth}127.0.0.1:${port}`, port, stop, restart: start,
    dispose: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}
