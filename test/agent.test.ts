import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, test } from 'node:test';
import { HelloSchema, MAX_HELLO_BYTES, type Hello } from '../src/agent/protocol.js';
import { AgentServer } from '../src/agent/server.js';
import { DeviceSchema } from '../src/device/device.js';
import { cli } from './helpers.js';

const servers: AgentServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function start(): Promise<{ server: AgentServer; base: string }> {
  const server = new AgentServer({ host: '127.0.0.1', port: 0, title: 'test', config: { executionProvider: 'wasm', threads: 1, graphOptimizationLevel: 'all' } });
  servers.push(server);
  const url = await server.listen();
  return { server, base: url };
}

const hello: Hello = {
  userAgent: 'Mozilla/5.0 (test)', platform: 'Test', hardwareConcurrency: 4, ortVersion: '1.30.0', executionProvider: 'wasm',
  webgpu: false, crossOriginIsolated: true, wasmThreads: 1, clockResolutionMs: 0.005,
};

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** A raw request (fetch would normalise `..` away). */
function rawGet(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('agent: requests without the URL token are refused with 403', async () => {
  const { server, base } = await start();
  assert.match(server.token, /^[0-9a-f]{32}$/, '128 random bits');
  const origin = new URL(base).origin;
  for (const path of ['/', '/page.js', '/ort/ort.wasm.min.js', `/${'0'.repeat(32)}/`, `/${server.token}`, `/${server.token.slice(0, 31)}/page.js`]) {
    const r = await fetch(origin + path);
    assert.equal(r.status, 403, path);
    assert.match(await r.text(), /token/);
  }
  assert.equal((await post(`${origin}/hello`, hello)).status, 403);
  assert.equal(server.hello, undefined);
  // With the token: the page, its script and onnxruntime-web's files.
  const page = await fetch(base);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
  assert.match(await page.text(), /ort\/ort\.wasm\.min\.js/);
  assert.equal((await fetch(`${base}page.js`)).status, 200);
  const wasm = await fetch(`${base}ort/ort-wasm-simd-threaded.wasm`, { method: 'HEAD' });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  // Nothing but ORT's bundles comes off the disk.
  assert.equal(await rawGet(server.port, `/${server.token}/ort/../package.json`), 404);
  assert.equal(await rawGet(server.port, `/${server.token}/ort/%2e%2e%2fpackage.json`), 404);
  assert.equal((await fetch(`${base}model/m1`)).status, 404);
});

test('agent: oversize payloads get 413, invalid ones 400 naming the field', async () => {
  const { server, base } = await start();
  const big = JSON.stringify({ ...hello, userAgent: 'x'.repeat(MAX_HELLO_BYTES) });
  const r413 = await post(`${base}hello`, big);
  assert.equal(r413.status, 413);
  assert.match(await r413.text(), /payload too large/);
  const notJson = await post(`${base}hello`, '{"userAgent": ');
  assert.equal(notJson.status, 400);
  assert.match(await notJson.text(), /not JSON/);
  const badField = await post(`${base}hello`, { ...hello, hardwareConcurrency: 'many' });
  assert.equal(badField.status, 400);
  assert.match(await badField.text(), /field 'hardwareConcurrency'/);
  const extra = await post(`${base}hello`, { ...hello, cookie: 'x' });
  assert.equal(extra.status, 400);
  assert.equal(server.hello, undefined, 'no bad hello attached a page');

  const ok = await post(`${base}hello`, hello);
  assert.equal(ok.status, 200);
  const { page } = (await ok.json()) as { page: string };
  assert.deepEqual(server.hello, HelloSchema.parse(hello));
  // One page per token.
  assert.equal((await post(`${base}hello`, hello)).status, 409);
  assert.equal((await post(`${base}next`, { page: '0123456789abcdef' })).status, 409);
  const badResult = await post(`${base}next`, { page, result: { job: 1, kind: 'time', ok: true, samples: [-1], repeat: 1 } });
  assert.equal(badResult.status, 400);
  assert.match(await badResult.text(), /field 'result.samples.0'/);
  const badOutput = await post(`${base}next`, { page, result: { job: 1, kind: 'output', ok: true, output: 'not base64!' } });
  assert.equal(badOutput.status, 400);
});

test('agent: jobs go to the page one at a time; results resolve them; a lost job is sent again', async () => {
  const { server, base } = await start();
  const { page } = (await (await post(`${base}hello`, hello)).json()) as { page: string };
  const model = server.addModel(new Uint8Array([1, 2, 3]));
  const loaded = server.submit({ kind: 'load', session: 1, model, input: [3, 8, 8] });
  const timed = server.submit({ kind: 'time', session: 1, runs: 3 });
  const job1 = (await (await post(`${base}next`, { page })).json()) as { id: number; kind: string; model: string };
  assert.equal(job1.kind, 'load');
  const bytes = new Uint8Array(await (await fetch(base + job1.model)).arrayBuffer());
  assert.deepEqual([...bytes], [1, 2, 3]);
  // The page lost the answer and asks again without a result: the same job comes back.
  const again = (await (await post(`${base}next`, { page })).json()) as { id: number };
  assert.equal(again.id, job1.id);
  const job2 = (await (await post(`${base}next`, { page, result: { job: job1.id, kind: 'load', ok: true } })).json()) as { id: number; kind: string; runs: number };
  assert.deepEqual(await loaded, { job: job1.id, kind: 'load', ok: true });
  assert.equal(job2.kind, 'time');
  assert.equal(job2.runs, 3);
  const release = server.submit({ kind: 'release', session: 1 });
  const job3 = (await (await post(`${base}next`, { page, result: { job: job2.id, kind: 'time', ok: true, samples: [0.5, 0.25, 0.25], repeat: 1 } })).json()) as { id: number };
  const t = await timed;
  assert.deepEqual(t.kind === 'time' ? t.samples : [], [0.5, 0.25, 0.25]);
  // An error in the page rejects the job with the page's message.
  const next = post(`${base}next`, { page, result: { job: job3.id, kind: 'error', ok: false, error: 'no such session' } });
  await assert.rejects(release, /no such session/);
  // Closing tells the waiting page it is done.
  await server.close();
  assert.deepEqual(await (await next).json(), { id: 0, kind: 'done' });
  assert.deepEqual({ ...server.counts }, { load: 1, time: 1, output: 0, release: 1, runs: 3 });
});

test('agent: browser device descriptors are validated with one-line errors', () => {
  const base = { name: 'b', runtime: 'browser', executionProvider: 'wasm', threads: 1, graphOptimizationLevel: 'all' };
  assert.equal(DeviceSchema.safeParse({ ...base, browser: { launch: 'chromium' } }).success, true);
  const d = DeviceSchema.parse({ ...base, browser: { launch: 'none' } });
  assert.deepEqual(d.browser, { launch: 'none', executablePath: '/usr/bin/chromium', host: '127.0.0.1', port: 0, timeoutSeconds: 120 });
  const missing = DeviceSchema.safeParse(base);
  assert.equal(missing.success, false);
  assert.deepEqual(missing.error?.issues[0]?.path, ['browser']);
  assert.equal(DeviceSchema.safeParse({ ...base, executionProvider: 'cpu', browser: { launch: 'none' } }).success, false);
  assert.equal(DeviceSchema.safeParse({ ...base, runtime: 'onnxruntime-node', executionProvider: 'cpu', browser: { launch: 'none' } }).success, false);
  assert.equal(DeviceSchema.safeParse({ ...base, browser: { launch: 'firefox' } }).success, false);

  const bad = cli(['agent', '--name', 'My_Phone', '--port', '0']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^latnas: latnas agent: field 'name': .*--name takes lowercase/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  const ep = cli(['agent', '--ep', 'webgl', '--port', '0']);
  assert.equal(ep.code, 1);
  assert.match(ep.stderr, /--ep 'webgl': use wasm or webgpu/);
  const port = cli(['agent', '--port', '70000']);
  assert.notEqual(port.code, 0);
  assert.match(port.stderr, /--port must be an integer from 0 to 65535/);
});
