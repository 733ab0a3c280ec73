/**
 * The agent server against misbehaving clients (127.0.0.1 only): request targets that are not
 * URLs, slow headers and bodies, too many connections. With `--host 0.0.0.0` any machine on the
 * LAN can be that client, so each must cost the server a bounded time and no 500.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import type { Hello } from '../src/agent/protocol.js';
import { AgentServer, SERVER_LIMITS, type ServerLimits } from '../src/agent/server.js';

const servers: AgentServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(limits?: Partial<ServerLimits>): Promise<AgentServer> {
  const server = new AgentServer({ host: '127.0.0.1', port: 0, title: 'test', config: { executionProvider: 'wasm', threads: 1, graphOptimizationLevel: 'all' }, limits });
  servers.push(server);
  await server.listen();
  return server;
}

/** Sends `data` on a new connection and resolves, when the server closes it, with what came back and after how long. */
function exchange(port: number, data: string, opts: { end?: boolean } = {}): Promise<{ status: string; text: string; ms: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (b) => { text += b.toString('utf8'); });
    socket.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'ECONNRESET') reject(e); });
    socket.on('close', () => resolve({ status: text.split('\r\n')[0] ?? '', text, ms: Date.now() - started, socket }));
    socket.write(data);
    if (opts.end) socket.end();
  });
}

test('agent: a request target that is not a URL gets 400, never 500', async () => {
  const server = await start();
  for (const target of ['//', '//[', 'http://[', '//x:99999/', 'http://a:b@/', '//@']) {
    const r = await exchange(server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 'HTTP/1.1 400 Bad Request', `${target}: ${r.text}`);
    assert.match(r.text, /bad request target/);
  }
  // The server still serves its page afterwards.
  assert.equal((await fetch(server.url())).status, 200);
});

test('agent: slow headers and slow bodies are cut off with 408 within the limits', async () => {
  assert.ok(SERVER_LIMITS.headersTimeoutMs <= 10_000 && SERVER_LIMITS.requestTimeoutMs <= 30_000, 'the defaults are far below Node\'s 60 s / 300 s');
  const server = await start({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
  const headers = await exchange(server.port, `POST /${server.token}/hello HTTP/1.1\r\nHost: x\r\n`);
  assert.equal(headers.status, 'HTTP/1.1 408 Request Timeout');
  assert.ok(headers.ms < 3000, `headers cut after ${headers.ms} ms`);
  // Headers in time, then a body that never finishes: the request handler is waiting on it.
  const body = await exchange(server.port, `POST /${server.token}/hello HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"userAgent":`);
  assert.ok(body.ms < 3000, `body cut after ${body.ms} ms`);
  assert.doesNotMatch(body.text, /500/);
  assert.equal(server.hello, undefined);
});

test('agent: the long poll outlives the request timeout (it bounds receiving, not answering)', async () => {
  const server = await start({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
  const hello: Hello = {
    userAgent: 'Mozilla/5.0 (test)', platform: 'Test', hardwareConcurrency: 4, ortVersion: '1.30.0', executionProvider: 'wasm',
    webgpu: false, crossOriginIsolated: true, wasmThreads: 1, clockResolutionMs: 0.005,
  };
  const attached = await fetch(`${server.url()}hello`, { method: 'POST', body: JSON.stringify(hello) });
  assert.equal(attached.status, 200);
  const { page } = await attached.json() as { page: string };
  const poll = fetch(`${server.url()}next`, { method: 'POST', body: JSON.stringify({ page }) });
  await new Promise((r) => setTimeout(r, 1200));
  const job = server.submit({ kind: 'release', session: 1 });
  job.catch(() => { /* failed by close() */ });
  const r = await poll;
  assert.equal(r.status, 200);
  assert.equal((await r.json() as { kind: string }).kind, 'release');
});

test('agent: connections beyond the cap are closed at once', async () => {
  const server = await start({ maxConnections: 2 });
  const held = [connect(server.port, '127.0.0.1'), connect(server.port, '127.0.0.1')];
  await Promise.all(held.map((s) => new Promise((r) => s.once('connect', r))));
  await new Promise((r) => setTimeout(r, 100));
  const third = await exchange(server.port, `GET /${server.token}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.equal(third.text, '', 'the third connection got no answer');
  for (const s of held) s.destroy();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await fetch(server.url())).status, 200, 'a connection is accepted again once others closed');
});
