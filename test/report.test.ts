import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, test } from 'node:test';
import type { ReportModel } from '../src/report/model.js';
import { writeReport } from '../src/report/report.js';
import { CHROMIUM, cli, requireSystem, tempDir } from './helpers.js';

// One real pipeline run folder at tiny budgets (~25 s on 2 shared cores): search -> train ->
// export, laid out as `latnas run` lays it out, plus the pipeline.json that command writes.
const TABLE = 'latency-tables/ort-cpu-1t/fbnet-mini.json';
let run = '';

before(() => {
  run = join(tempDir(), 'run');
  const steps: string[][] = [
    ['search', '--table', TABLE, '--dataset', 'mnist', '--out', join(run, 'search'), '--epochs', '2', '--steps-per-epoch', '5', '--batch', '16',
      '--samples', '3', '--eval-images', '64', '--calibration-batches', '2', '--warmup', '1', '--backend', 'wasm', '--quiet'],
    ['train', '--space', 'fbnet-mini', '--arch', join(run, 'search/arch.json'), '--dataset', 'mnist', '--out', join(run, 'train'),
      '--epochs', '1', '--max-steps', '10', '--batch', '16', '--lr', '0.1', '--backend', 'wasm', '--quiet'],
    ['export', '--run', join(run, 'train'), '--out', join(run, 'model.onnx'), '--verify-images', '200', '--rounds', '2', '--backend', 'wasm', '--quiet'],
  ];
  for (const args of steps) {
    const r = cli(args);
    assert.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
  }
  // As src/pipeline/run.ts writes it (the report stage is recorded after the report is written).
  const done = (seconds: number, extra: Record<string, unknown> = {}) => ({ ...extra, done: true, seconds, finished: new Date().toISOString() });
  writeFileSync(join(run, 'pipeline.json'), JSON.stringify({
    version: 1,
    options: { device: 'ort-cpu-1t', space: 'fbnet-mini', table: TABLE, target: 'baseline', dataset: 'mnist', strategy: 'dnas' },
    stages: { lut: done(0.01, { path: TABLE, reused: true }), search: done(8), train: done(10), export: done(4) },
  }));
});

function embedded(html: string): ReportModel {
  const m = /<script type="application\/json" id="latnas-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'no embedded data');
  return JSON.parse(m[1]!) as ReportModel;
}

test('writeReport writes one self-contained page with the run\'s data embedded', async () => {
  const path = await writeReport(run);
  assert.equal(path, join(run, 'report.html'));
  const html = readFileSync(path, 'utf8');
  // Nothing to fetch: no external scripts, styles, images or CSS urls.
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|<img|<iframe|@import|url\((?!#)/i);
  const data = embedded(html);
  const visited = JSON.parse(readFileSync(join(run, 'search/visited.json'), 'utf8')) as unknown[];
  assert.equal(data.search?.visited.length, visited.length);
  assert.deepEqual(data.pending, []);
  assert.deepEqual(data.stages.map((s) => [s.name, s.state, s.seconds]), [['lut', 'reused', 0.01], ['search', 'done', 8], ['train', 'done', 10], ['export', 'done', 4]]);
  assert.equal(data.options?.['strategy'], 'dnas');
  assert.equal(data.arch?.source, 'export');
  assert.equal(data.arch?.units?.length, 14, 'stem + 12 blocks + head');
  assert.ok(Math.abs(data.arch!.totalMs! - data.search!.chosen.predictedMs!) < 1e-9, 'per-unit LUT latencies add up to the search\'s prediction');
  assert.equal(data.lut?.found, true);
  assert.ok(data.lut!.cvMapePct! > 0);
  assert.deepEqual(data.latency?.rows.map((r) => r.label), ['predicted (LUT)', 'measured: exported fp32', 'measured: profiler-built net', 'baseline (LUT)']);
  assert.deepEqual(data.accuracy.map((r) => r.label), [
    'chosen arch, supernet weights (val)', 'baseline arch, supernet weights (val)', 'trained, TF.js (test)', 'export check, TF.js', 'exported ONNX fp32',
  ]);
  assert.match(html, /calibration: cross-validated MAPE/);
  assert.match(html, /onnxruntime-node \d/);
  // The logit order, from the training's classes.
  assert.match(html, /<th>classes<\/th><td>10: 0 0, 1 1, 2 2, 3 3, 4 4, 5 5, 6 6, 7 7, 8 8, 9 9<\/td>/);
});

test('the report renders in headless Chromium with every plot drawn from the data, and fetches nothing', { skip: requireSystem(CHROMIUM) }, async () => {
  const path = await writeReport(run);
  const data = embedded(readFileSync(path, 'utf8'));
  const url = pathToFileURL(path).href;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM.path,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });
    const count = (selector: string) => page.locator(selector).count();

    // Pareto: one point per visited arch, the baseline, the front line and the target rule.
    assert.equal(await count('#fig-pareto .visited_marks path'), data.search!.visited.length);
    assert.equal(await count('#fig-pareto .baseline_marks path'), 1);
    assert.equal(await count('#fig-pareto .front_marks path'), 1);
    assert.equal(await count('#fig-pareto .mark-rule.role-mark line'), 1);
    // Search curves: weight loss, θ loss, temperature; each a drawn line.
    const curves = await page.locator('#fig-curves .mark-line.role-mark path').evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? ''));
    const fields = ['loss', 'thetaLoss', 'temperature'];
    assert.equal(curves.length, fields.length);
    fields.forEach((f, i) => {
      // θ starts training after the warm-up epoch, so its line may have a single point.
      const points = data.search!.epochs.filter((e) => e[f] !== null).length;
      assert.ok(points >= 1, f);
      assert.match(curves[i]!, points >= 2 ? /^M[\d.,-]+L/ : /^M/, `${f}: ${points} points`);
    });
    assert.ok(data.search!.epochs.filter((e) => e['loss'] !== null).length >= 2);
    assert.equal(await count('#fig-latency-curves .latency_marks path'), 2, 'expected and argmax latency');
    // Arch: one bar per unit, labelled with its op.
    assert.equal(await count('#fig-units .units_marks path'), data.arch!.units!.length);
    const labels = await page.locator('#fig-units .role-axis-label text').allTextContents();
    for (const u of data.arch!.units!) assert.ok(labels.includes(u.label), `no axis label '${u.label}'`);
    assert.equal(await count('#fig-latency .latency_marks path'), data.latency!.rows.length);
    assert.equal(await count('#fig-accuracy .accuracy_marks path'), data.accuracy.length);
    // Hover titles come from Vega's aria labels.
    assert.match((await page.locator('#fig-pareto .visited_marks path title').first().textContent()) ?? '', /arch: ir_|arch: skip/);
    // Every section, and text a reader needs.
    for (const id of ['stages', 'search', 'arch', 'latency', 'accuracy', 'train', 'export', 'device']) assert.equal(await count(`section#${id}`), 1, id);
    assert.equal(await count('#pending-stages'), 0);
    assert.match(await page.locator('#device').innerText(), /AMD|Intel|CPU/);

    await page.screenshot({ path: join(tempDir(), 'report.png'), fullPage: true });
    assert.deepEqual(requests, [url], `the page made requests: ${requests.join(', ')}`);
  } finally {
    await browser.close();
  }
});

test('a partial run (search only) still gets a page that says which stages are pending', async () => {
  const partial = join(tempDir(), 'partial');
  cpSync(join(run, 'search'), join(partial, 'search'), { recursive: true });
  mkdirSync(join(partial, 'train')); // training started but has not finished
  const html = readFileSync(await writeReport(partial), 'utf8');
  const data = embedded(html);
  assert.deepEqual(data.pending, ['train', 'export']);
  assert.deepEqual(data.stages.map((s) => s.state), ['done', 'done', 'started', 'pending']);
  assert.match(html, /Pending stages: <b>train<\/b>, <b>export<\/b>/);
  assert.match(html, /Test accuracy of the trained net: pending/);
  assert.match(html, /Measured latency of the exported net: pending/);
  assert.match(html, /id="fig-pareto"/);
  assert.equal(data.arch?.source, 'search');
  assert.equal(data.arch?.units?.length, 14);
  assert.equal(data.train, null);
  assert.equal(data.export, null);
});

test('an empty folder gets a page with every stage pending; an unreadable file is reported, not fatal', async () => {
  const empty = join(tempDir(), 'empty');
  mkdirSync(empty);
  writeFileSync(join(empty, 'pipeline.json'), '{ not json');
  const html = readFileSync(await writeReport(empty), 'utf8');
  const data = embedded(html);
  assert.deepEqual(data.pending, ['lut', 'search', 'train', 'export']);
  assert.equal(data.problems.length, 1);
  assert.match(data.problems[0]!, /pipeline\.json: not readable JSON/);
  assert.match(html, /Pareto front and search curves: pending/);
});
