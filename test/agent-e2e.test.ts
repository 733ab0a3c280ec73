import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { BrowserRuntime } from '../src/device/browser.js';
import { CHROMIUM_ARGS } from '../src/device/chromium.js';
import { loadDevice } from '../src/device/device.js';
import { hostProvenance } from '../src/device/host.js';
import { closeRuntimes, openRuntime } from '../src/device/runtime.js';
import { lutCheck } from '../src/lut/check.js';
import { loadLut, predict } from '../src/lut/lut.js';
import { buildNetworkModel } from '../src/onnx/model.js';
import { profile } from '../src/profiler/profile.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits, spaceUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Rng } from '../src/util/rng.js';
import { CHROMIUM, cli, requireSystem, ROOT, tempDir, TINY_SPACE } from './helpers.js';

// Debian's chromium (/usr/bin/chromium; .ci/run installs it), headless, driven by playwright-core.
// Every test here launches it.
const skip = requireSystem(CHROMIUM);
const device = loadDevice('browser-chromium');
const space = loadSpace(TINY_SPACE);

after(() => closeRuntimes());

test('browser-chromium: a headless Chromium page computes what onnxruntime-node computes', { skip }, async () => {
  const model = buildNetworkModel(networkUnits(space, randomArch(space, new Rng(3))));
  const browser = (await openRuntime(device)) as BrowserRuntime;
  assert.equal(await openRuntime(device), browser, 'one page per device for the whole process');
  assert.match(browser.info.page.userAgent, /Chrome\//);
  assert.match(browser.version, /^\d+\.\d+\.\d+/);
  const node = await openRuntime(loadDevice('ort-cpu-1t'));
  const a = await browser.createSession(model, space.input);
  const b = await node.createSession(model, space.input);
  const ya = await a.output();
  const yb = await b.output();
  assert.equal(ya.length, space.classes);
  const scale = Math.max(...yb.map(Math.abs));
  for (let i = 0; i < ya.length; i++) assert.ok(Math.abs(ya[i]! - yb[i]!) / scale < 1e-4, `logit ${i}: ${ya[i]} vs ${yb[i]}`);
  // Runs of one visit are timed back to back in the page: one job, then buffered samples.
  const before = browser.server.counts.time;
  const times = [];
  for (let i = 0; i < 3; i++) times.push(await a.timeOnce());
  assert.ok(times.every((t) => Number.isFinite(t) && t > 0));
  assert.equal(browser.server.counts.time - before, 1);
  await a.release();
  await b.release();
});

test('browser-chromium: profile a space, a LUT with the user agent, and lut-check in the same page', { skip }, async () => {
  const out = join(tempDir(), 'tiny-browser.json');
  const browser = (await openRuntime(device)) as BrowserRuntime;
  const counts = { ...browser.server.counts };
  // runsPerRound 3 where the device says 4: the runtime follows the visits the profiler makes.
  const plan = { rounds: 3, runsPerRound: 3, warmup: 1 };
  const r = await profile({ device, space, out, resume: false, chunk: 8, fitNets: 12, quiet: true, plan });
  const units = spaceUnits(space).filter((u) => !u.identity);
  assert.equal(r.measured, units.length);
  const lut = loadLut(out, { device: 'browser-chromium', space });
  assert.equal(lut.complete, true);
  assert.equal(lut.calibration.nets.length, 12);
  assert.equal(lut.provenance.runtime, 'onnxruntime-web (browser)');
  assert.equal(lut.provenance.executionProvider, 'wasm');
  const raw = JSON.parse(readFileSync(out, 'utf8')) as { provenance: { browser: Record<string, unknown>; host: Record<string, unknown> } };
  assert.equal(raw.provenance.browser.userAgent, browser.info.page.userAgent);
  assert.match(String(raw.provenance.browser.userAgent), /HeadlessChrome\//);
  assert.equal(raw.provenance.browser.hardwareConcurrency, browser.info.page.hardwareConcurrency);
  assert.equal(raw.provenance.browser.launch, 'chromium');
  assert.equal(raw.provenance.browser.ortVersion, lut.provenance.runtimeVersion);
  assert.equal(typeof raw.provenance.host.node, 'string', "the serving machine's details are kept under host");
  for (const e of Object.values(lut.entries)) {
    assert.equal(e.samples, plan.rounds * plan.runsPerRound);
    assert.ok(e.p25 > 0 && e.p10 <= e.p25 && e.p25 <= e.median && e.median <= e.p90);
  }
  // HTTP round trips: one time job per visit (a warm-up visit, then one per visit the profiler
  // makes, retakes included), and at most two per sentinel sample around it; not one per run.
  const models = units.length + 12;
  const visits = lut.timing.chunks.reduce((s, c) => s + c.visits, 0);
  const timeJobs = browser.server.counts.time - counts.time;
  const runs = browser.server.counts.runs - counts.runs;
  assert.ok(r.fitRounds >= 1 && r.fitRounds <= plan.rounds, `${r.fitRounds} fit rounds`);
  assert.ok(visits >= units.length * plan.rounds + 12 * r.fitRounds, `${visits} visits`);
  assert.ok(timeJobs <= models + 3 * visits + 100, `${timeJobs} time jobs for ${visits} visits of ${models} models`);
  assert.ok(runs >= 3 * timeJobs, `${runs} runs in ${timeJobs} time jobs`);

  // Whole networks in the same page against the table.
  const k = await lutCheck({ device, space, lut, lutPath: out, samples: 4, seed: 5, quiet: true, rounds: 3, runsPerRound: 3 });
  assert.equal(await openRuntime(device), browser, 'lut-check ran in the same page');
  assert.equal(k.nets.length, 4);
  for (const n of k.nets) {
    assert.equal(n.blocks.length, 3);
    assert.ok(Number.isFinite(n.predictedMs) && n.predictedMs > 0, `predicted ${n.predictedMs}`);
    assert.ok(Number.isFinite(n.measuredMs) && n.measuredMs > 0, `measured ${n.measuredMs}`);
    assert.ok(Number.isFinite(n.errPct));
  }
  assert.ok(Number.isFinite(k.report.mapePct));
  assert.ok(Number.isFinite(k.sentinelDriftPct) && Number.isFinite(k.floor.mapePct), 'the page was checked against its own noise floor');
  const p = predict(lut, networkUnits(space, randomArch(space, new Rng(9))), out);
  assert.ok(p.totalMs > 0);
});

test('latnas profile and lut-check --device browser-chromium work from the command line', { skip }, () => {
  const dir = tempDir();
  const out = join(dir, 'tiny.json');
  const p = cli(['profile', '--device', 'browser-chromium', '--space', TINY_SPACE, '--out', out, '--rounds', '3', '--runs', '3', '--fit-nets', '10', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /onnxruntime-web \(browser\) \d/);
  assert.match(p.stderr, /device attached: .*HeadlessChrome/);
  const raw = JSON.parse(readFileSync(out, 'utf8')) as { provenance: { browser: { userAgent: string } } };
  assert.match(raw.provenance.browser.userAgent, /HeadlessChrome/);
  const c = cli(['lut-check', '--device', 'browser-chromium', '--space', TINY_SPACE, '--table', out, '--samples', '3', '--rounds', '2', '--runs', '2', '--json']);
  assert.equal(c.code, 0, c.stderr);
  const summary = JSON.parse(c.stdout) as { samples: number; mapePct: number };
  assert.equal(summary.samples, 3);
  assert.ok(Number.isFinite(summary.mapePct));
});

test('latnas run --device browser-chromium records the browser as the device of the table it profiles, not this machine', { skip }, () => {
  // The run profiles with the device's own timing plan: a working folder whose
  // devices/browser-chromium.json (found before the package's) is the shipped device with a tiny one.
  const cwd = tempDir();
  mkdirSync(join(cwd, 'devices'));
  const shipped = JSON.parse(readFileSync(join(ROOT, 'devices/browser-chromium.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(cwd, 'devices/browser-chromium.json'), JSON.stringify({ ...shipped, warmup: 1, rounds: 2, runsPerRound: 2, fitRounds: 1 }));
  const out = join(cwd, 'run');
  const r = cli(['run', '--out', out, '--device', 'browser-chromium', '--space', join(ROOT, 'test/fixtures/tiny28-space.json'), '--dataset', 'mnist',
    '--backend', 'wasm', '--search-epochs', '1', '--search-steps', '4', '--train-steps', '40', '--samples', '2', '--eval-images', '64', '--quiet'], cwd);
  assert.equal(r.code, 0, r.stderr);
  type Provenance = Record<string, unknown> & { browser?: Record<string, unknown>; host?: Record<string, unknown> };
  const raw = JSON.parse(readFileSync(join(out, 'lut.json'), 'utf8')) as { device: string; provenance: Provenance };
  assert.equal(raw.device, 'browser-chromium');
  assert.equal(raw.provenance['runtime'], 'onnxruntime-web (browser)');
  assert.match(String(raw.provenance.browser?.['userAgent']), /HeadlessChrome\//);
  assert.equal(raw.provenance.browser?.['launch'], 'chromium');
  assert.equal(raw.provenance['cpuId'], undefined, "this machine's cpuId is not the device's");
  assert.equal(raw.provenance['arch'], undefined);
  assert.equal(raw.provenance.host?.['cpuId'], hostProvenance().cpuId, 'the machine that served the page is kept under host');
  // The model was timed in the browser too.
  const exported = JSON.parse(readFileSync(join(out, 'model.export.json'), 'utf8')) as { latency: { device: string; measuredMs: number } };
  assert.equal(exported.latency.device, 'browser-chromium');
  assert.ok(exported.latency.measuredMs > 0);
});

test('latnas agent prints a URL and profiles the browser that opens it; a second page is refused', { skip }, async () => {
  const dir = tempDir();
  const out = join(dir, 'phone.json');
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), 'agent', '--port', '0', '--space', TINY_SPACE, '--out', out, '--name', 'test-phone',
    '--rounds', '2', '--runs', '2', '--warmup', '1', '--fit-nets', '10', '--check', '3', '--quiet'], { cwd: dir });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/)\n[^]*--host 0\.0\.0\.0/m.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`latnas agent exited: ${stderr}`)));
    });
    assert.equal((await fetch(new URL(url).origin + '/')).status, 403);
    // The "device": another browser that opens the URL (here a separate headless Chromium).
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: device.browser!.executablePath, headless: true, args: CHROMIUM_ARGS });
    const status = (re: RegExp) => re.test(document.getElementById('status')?.textContent ?? '');
    try {
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForFunction(status, /profiling|done/, { timeout: 60_000 });
      const second = await browser.newPage();
      await second.goto(url);
      await second.waitForFunction(status, /refused/, { timeout: 60_000 });
      assert.equal(await exited, 0, stderr);
      await page.waitForFunction(status, /done/, { timeout: 60_000 });
    } finally {
      await browser.close();
    }
  } finally {
    // The agent waits for a page as long as it takes: never leave it behind.
    if (child.exitCode === null) child.kill();
  }
  assert.match(stdout, /onnxruntime-web 1\.\d+\.\d+ wasm in Mozilla/);
  assert.match(stdout, /lut-check test-phone\/tiny: 3 random nets/);
  const lut = loadLut(out, { device: 'test-phone', space });
  assert.equal(lut.complete, true);
  const raw = JSON.parse(readFileSync(out, 'utf8')) as { provenance: { browser: { userAgent: string; launch: string } } };
  assert.equal(raw.provenance.browser.launch, 'none');
  assert.match(raw.provenance.browser.userAgent, /HeadlessChrome/);
});

test('a browser without WebGPU is refused for --ep webgpu with one line, and Chromium is closed', { skip }, () => {
  // Chromium runs with --disable-gpu here: it has no WebGPU adapter.
  const r = cli(['agent', '--ep', 'webgpu', '--launch', 'chromium', '--port', '0', '--space', TINY_SPACE, '--out', join(tempDir(), 'x.json')]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^latnas: device 'browser': executionProvider is 'webgpu' but the browser found no WebGPU adapter .*use 'wasm'/m);
});
