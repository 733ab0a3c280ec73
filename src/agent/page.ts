/**
 * The profiling page the agent serves. It runs onnxruntime-web in whatever browser opens it,
 * executes the server's jobs one at a time and times runs with performance.now() inside the page.
 * Plain browser JavaScript (no build step), kept as strings here so dist/ carries it.
 */
import type { PageConfig } from './protocol.js';

/** The ORT bundle for an execution provider: the wasm-only bundle loads the same .wasm binary as onnxruntime-web in Node. */
export function ortBundle(ep: PageConfig['executionProvider']): string {
  return ep === 'webgpu' ? 'ort.webgpu.min.js' : 'ort.wasm.min.js';
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function pageHtml(config: PageConfig, title: string): string {
  // JSON inside <script>: escape '<' so no string can close the tag.
  const cfg = JSON.stringify(config).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>latnas agent: ${escapeHtml(title)}</title>
<style>
body { font: 16px/1.4 system-ui, sans-serif; margin: 1.5em; max-width: 40em; }
#status { font-weight: bold; } #detail { color: #555; font-size: 14px; white-space: pre-wrap; }
</style>
</head>
<body>
<h1>latnas: profiling this device</h1>
<p>Keep this tab in front and the screen on until it says it is done. Other tabs and apps make the timings noisy.</p>
<p id="status">loading onnxruntime-web…</p>
<p id="detail"></p>
<script>window.LATNAS = ${cfg};</script>
<script src="ort/${ortBundle(config.executionProvider)}"></script>
<script src="page.js"></script>
</body>
</html>
`;
}

/** The page's job loop (see protocol.ts). */
export const PAGE_JS = String.raw`'use strict';
(async () => {
  const cfg = window.LATNAS;
  const statusEl = document.getElementById('status');
  const detailEl = document.getElementById('detail');
  const say = (s, d) => { statusEl.textContent = s; if (d !== undefined) detailEl.textContent = d; };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const post = (path, body) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
  if (typeof ort === 'undefined') { say('onnxruntime-web did not load'); return; }

  // The smallest step performance.now() takes here: 5 us when cross-origin isolated, 100 us (with jitter) otherwise.
  function clockResolution() {
    let min = Infinity, last = performance.now(), seen = 0;
    for (let i = 0; i < 2e6 && seen < 50; i++) {
      const t = performance.now();
      if (t > last) { min = Math.min(min, t - last); last = t; seen++; }
    }
    return Number.isFinite(min) ? min : 1;
  }

  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  ort.env.wasm.numThreads = cfg.threads;
  ort.env.logLevel = 'error';
  const clockRes = clockResolution();
  let webgpu = false, webgpuAdapter;
  if (navigator.gpu) {
    try {
      // Bounded: a browser whose GPU process is stuck must not keep the page from attaching.
      const a = await Promise.race([navigator.gpu.requestAdapter(), sleep(cfg.executionProvider === 'webgpu' ? 10000 : 2000).then(() => null)]);
      webgpu = !!a;
      if (a && a.info) webgpuAdapter = [a.info.vendor, a.info.architecture, a.info.description].filter(Boolean).join(' ').slice(0, 500) || undefined;
    } catch (e) { /* no adapter */ }
  }
  let uaData;
  if (navigator.userAgentData && navigator.userAgentData.getHighEntropyValues) {
    try {
      const h = await Promise.race([navigator.userAgentData.getHighEntropyValues(['platformVersion', 'model', 'architecture', 'bitness']), sleep(2000).then(() => { throw new Error('no answer'); })]);
      uaData = { platform: h.platform, platformVersion: h.platformVersion, model: h.model, architecture: h.architecture, bitness: h.bitness, mobile: h.mobile };
    } catch (e) { /* not given */ }
  }
  const hello = {
    userAgent: navigator.userAgent,
    platform: navigator.platform,
    hardwareConcurrency: navigator.hardwareConcurrency,
    deviceMemory: navigator.deviceMemory,
    uaData,
    ortVersion: (ort.env.versions && ort.env.versions.web) || 'unknown',
    executionProvider: cfg.executionProvider,
    webgpu,
    webgpuAdapter,
    crossOriginIsolated: !!self.crossOriginIsolated,
    wasmThreads: self.crossOriginIsolated ? cfg.threads : 1,
    clockResolutionMs: clockRes,
  };
  if (cfg.executionProvider === 'webgpu' && !webgpu) {
    say('this browser has no WebGPU adapter', 'Profile with the wasm execution provider instead (latnas agent --ep wasm).');
  }
  let pageId;
  for (;;) {
    try {
      const r = await post('hello', hello);
      if (r.ok) { pageId = (await r.json()).page; break; }
      say('the agent refused this page (HTTP ' + r.status + ')', await r.text());
      return;
    } catch (e) { say('cannot reach the agent; retrying…', String(e)); await sleep(2000); }
  }

  const sessions = new Map();
  function input(c, h, w) {
    const n = c * h * w, d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = Math.sin(i * 0.7) * 0.5;
    return new ort.Tensor('float32', d, [1, c, h, w]);
  }
  function get(id) {
    const s = sessions.get(id);
    if (!s) throw new Error('no session ' + id + ' in this page (was it reloaded?)');
    return s;
  }
  function base64(f32) {
    const b = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
    let s = '';
    for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
    return btoa(s);
  }
  let jobs = 0, timedRuns = 0, lastPaint = 0;
  async function execute(job) {
    switch (job.kind) {
      case 'load': {
        const r = await fetch(job.model, { cache: 'no-store' });
        if (!r.ok) throw new Error('model ' + job.model + ': HTTP ' + r.status);
        const bytes = new Uint8Array(await r.arrayBuffer());
        const s = await ort.InferenceSession.create(bytes, {
          executionProviders: [cfg.executionProvider], graphOptimizationLevel: cfg.graphOptimizationLevel, logSeverityLevel: 3,
        });
        sessions.set(job.session, { s, feeds: { input: input(job.input[0], job.input[1], job.input[2]) } });
        return { kind: 'load', ok: true };
      }
      case 'time': {
        // Back-to-back runs, each timed here. A coarse clock (no cross-origin isolation) times
        // groups of runs: the first run decides how many make a sample of ~20 clock steps.
        const { s, feeds } = get(job.session);
        const samples = [];
        let repeat = 1, first = 1;
        for (let i = 0; i < job.runs; i++) {
          const t0 = performance.now();
          for (let k = 0; k < repeat; k++) await s.run(feeds);
          const dt = (performance.now() - t0) / repeat;
          samples.push(dt);
          if (i === 0 && clockRes > 0.02) repeat = Math.min(100, Math.max(1, Math.ceil((20 * clockRes) / Math.max(dt, clockRes))));
          if (i === 1) first = repeat;
        }
        timedRuns += job.runs;
        return { kind: 'time', ok: true, samples, repeat: job.runs > 1 ? first : 1 };
      }
      case 'output': {
        const { s, feeds } = get(job.session);
        const out = await s.run(feeds);
        const t = out[s.outputNames[0]];
        const data = t.data instanceof Float32Array ? t.data : Float32Array.from(await t.getData());
        return { kind: 'output', ok: true, output: base64(data) };
      }
      case 'release': {
        const e = sessions.get(job.session);
        sessions.delete(job.session);
        if (e) await e.s.release();
        return { kind: 'release', ok: true };
      }
      default: throw new Error('unknown job kind ' + job.kind);
    }
  }

  say('connected: profiling', navigator.userAgent);
  let body = { page: pageId };
  for (;;) {
    let job;
    try {
      const r = await post('next', body);
      if (r.status === 204) { body = { page: pageId }; continue; }
      if (!r.ok) {
        const why = await r.text();
        if (r.status >= 400 && r.status < 500) { say('stopped: the agent refused a request (HTTP ' + r.status + ')', why); return; }
        throw new Error('HTTP ' + r.status + ' ' + why);
      }
      job = await r.json();
    } catch (e) {
      say('lost the agent; retrying…', String(e));
      await sleep(1000);
      continue;
    }
    if (job.kind === 'done') {
      for (const e of sessions.values()) await e.s.release();
      sessions.clear();
      say('done: you can close this tab', jobs + ' jobs, ' + timedRuns + ' timed runs');
      return;
    }
    let result;
    try {
      result = Object.assign({ job: job.id }, await execute(job));
    } catch (e) {
      result = { job: job.id, kind: 'error', ok: false, error: String((e && e.message) || e).slice(0, 3900) };
    }
    body = { page: pageId, result };
    jobs++;
    const now = Date.now();
    if (now - lastPaint > 1000) { lastPaint = now; say('profiling: ' + jobs + ' jobs, ' + timedRuns + ' timed runs, ' + sessions.size + ' models loaded', navigator.userAgent); }
  }
})();
`;
