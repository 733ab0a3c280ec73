/**
 * The Redis connection of the queue, from a URL: `redis://[user:password@]host[:port][/db]`, or
 * `rediss://…` for TLS. The password is never printed: every message names the URL through
 * `redactUrl`, and ioredis's own errors carry only host and port.
 */
import type { RedisOptions } from 'bullmq';
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import { fail } from '../errors.js';

/** What BullMQ takes (its RedisOptions: ioredis's, which BullMQ connects with); the same object for queues, workers and events. */
export interface RedisTarget {
  options: RedisOptions;
  /** The URL with its password replaced by ***, for messages. */
  shown: string;
}

/** The URL with any password replaced by ***: safe to print. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Not a URL at all: it may still hold a secret, so show only its scheme-like head.
    return `${url.split(/[/@]/)[0] ?? ''}…`;
  }
}

export function parseRedisUrl(url: string, option = '--redis'): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    fail(`${option} ${redactUrl(url)}: not a URL; give redis://[:password@]host[:port][/db] or rediss://… for TLS`);
  }
  const shown = redactUrl(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') fail(`${option} ${shown}: the scheme must be redis:// or rediss:// (TLS), not ${u.protocol}//`);
  if (!u.hostname) fail(`${option} ${shown}: no host; give redis://host:port`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!/^\d*$/.test(dbText) || !Number.isSafeInteger(db)) fail(`${option} ${shown}: the path must be a database number (/0), not /${dbText}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const options: RedisOptions = {
    host, port, db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    // TLS checks the server's certificate against Node's CAs (a private CA: NODE_EXTRA_CA_CERTS=ca.pem).
    // SNI carries host names only (RFC 6066): an IP address is checked against the certificate's IP SANs.
    ...(u.protocol === 'rediss:' ? { tls: isIP(host) ? {} : { servername: host } } : {}),
    // BullMQ's workers block on Redis; without this ioredis gives up on a command after 20
    // retries and jobs silently never finish. With it, commands wait through a Redis restart.
    maxRetriesPerRequest: null,
  };
  return { options, shown };
}

/**
 * Fails in one line unless Redis answers PING within `timeoutMs`: BullMQ's own clients retry
 * for ever (maxRetriesPerRequest: null), so a wrong URL would otherwise hang without a word.
 */
export async function checkRedis(target: RedisTarget, timeoutMs = 10_000, option = '--redis'): Promise<void> {
  const probe = new Redis({ ...target.options, maxRetriesPerRequest: 0, lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, enableOfflineQueue: false });
  // ioredis rejects connect() with "Connection is closed."; the socket's own error (ECONNREFUSED, ENOTFOUND) says more.
  let socketError: string | undefined;
  probe.on('error', (e: NodeJS.ErrnoException) => { socketError ??= e.code ?? e.message.split('\n')[0]; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const why = socketError ?? (e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0];
    fail(`${option} ${target.shown}: cannot reach Redis (${why}); start redis-server there, or check the host, port, password and TLS (rediss://)`);
  } finally {
    probe.disconnect();
  }
}
