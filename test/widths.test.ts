/**
 * Searchable widths (issue 15): spaces whose stages list width multipliers, their units in ONNX and
 * TF.js, the elastic supernet against standalone models, and the latency chain a width makes.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { loadDevice } from '../src/device/device.js';
import { loadLut, predict } from '../src/lut/lut.js';
import { buildModel } from '../src/onnx/model.js';
import { profile } from '../src/profiler/profile.js';
import type { ReportModel } from '../src/report/model.js';
import { writeReport } from '../src/report/report.js';
import { widthCuts, widthGroups } from '../src/adapt/proposals.js';
import { handDesignedFamily } from '../src/search/family.js';
import { LatencyModel } from '../src/search/latency.js';
import { BandSampler } from '../src/search/strategies/random.js';
import { randomArch, resolveArch } from '../src/space/arch.js';
import { formatBlock } from '../src/space/blocks.js';
import { networkUnits, spaceUnits, type Unit } from '../src/space/network.js';
import { pathBlocks } from '../src/space/path.js';
import { loadSpace, searchableLayers, stageWidths } from '../src/space/spaces.js';
import { Supernet } from '../src/supernet/supernet.js';
import { TfModel } from '../src/train/model.js';
import { Rng } from '../src/util/rng.js';
import type { WeightSource } from '../src/weights/source.js';
import { cli, ROOT, stderrLines, tempDir } from './helpers.js';
import { maxRelDiff, perturbBatchNorm } from './tensors.js';

const TINY = join(ROOT, 'test/fixtures/tiny-widths-space.json');

/** ONNX Runtime's output for layers at an input, with the given weights, on an NCHW batch. */
async function onnxRun(layers: Unit['layers'], input: Unit['input'], weights: WeightSource, nchw: Float32Array, batch: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(buildModel(layers, input, { weights, batch: 'N' }));
  try {
    const out = await session.run({ input: new ort.Tensor('float32', nchw, [batch, input.c, input.h, input.w]) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** TF.js output (NHWC in, transposed back to NCHW for a 4-D output) of a model on the same NCHW batch. */
function tfRun(model: TfModel, input: Unit['input'], nchw: Float32Array, batch: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.transpose(tf.tensor4d(nchw, [batch, input.c, input.h, input.w]), [0, 2, 3, 1]) as tf.Tensor4D;
    const y = model.forward(x, false) as tf.Tensor;
    return (y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y).dataSync() as Float32Array;
  });
}

test('a stage\'s widths round as MobileNet does, and every candidate comes at each width and each input the previous layer can give', () => {
  assert.deepEqual(stageWidths({ c: 24, widths: [0.5, 0.75, 1] }), [16, 24]);
  assert.deepEqual(stageWidths({ c: 112, widths: [0.5, 0.75, 1] }), [56, 88, 112]);
  assert.deepEqual(stageWidths({ c: 20 }), [20]);
  const space = loadSpace(TINY);
  const layers = searchableLayers(space);
  assert.deepEqual(layers.map((l) => l.inputs.map((s) => s.c)), [[8], [8, 16], [8, 16]]);
  assert.deepEqual(layers.map((l) => l.widths), [[8, 16], [8, 16], [16, 24]]);
  assert.deepEqual(layers[2]!.candidates.map(formatBlock), ['ir_k3_e3_c16_s2_re', 'ir_k3_e3_c24_s2_re', 'ir_k5_e3_c16_s2_se0.25_hs', 'ir_k5_e3_c24_s2_se0.25_hs']);
  // Full forms name any width; short forms take the full one; other channel counts are refused with the widths named.
  assert.deepEqual(resolveArch(space, ['k3_e1_c8', 'skip_c16', 'k3_e3']).map(formatBlock), ['ir_k3_e1_c8_s1_re', 'skip_c16_s1', 'ir_k3_e3_c24_s2_re']);
  assert.throws(() => resolveArch(space, ['k3_e1_c12', 'skip', 'k3_e3']), /layer 0 'k3_e1_c12' has 12 channels but space 'tiny-widths' layer 0 has widths c8, c16/);
  // A residual only where the block keeps its input's shape (units[1] is layer 0, after the stem's 8 channels): a layer that widens loses it.
  const narrowThenWide = networkUnits(space, resolveArch(space, ['k3_e1_c8', 'k3_e1_c16', 'k3_e3_c16']));
  assert.equal(narrowThenWide[1]!.layers[0]!.op, 'residual');
  assert.equal(narrowThenWide[2]!.layers[0]!.op, 'conv');
  const same = networkUnits(space, resolveArch(space, ['k3_e1_c8', 'k3_e1_c8', 'k3_e3_c16']));
  assert.equal(same[2]!.layers[0]!.op, 'residual');
  // The built-in width spaces keep the fixed ones' layers, with more candidates.
  for (const [fixed, wide] of [['fbnet-mini', 'fbnet-mini-widths'], ['mbv3-mini', 'mbv3-mini-widths']] as const) {
    const a = searchableLayers(loadSpace(fixed)), b = searchableLayers(loadSpace(wide));
    assert.equal(a.length, b.length);
    b.forEach((l, i) => assert.ok(l.candidates.length > a[i]!.candidates.length && a[i]!.candidates.every((c) => l.candidates.some((d) => formatBlock(d) === formatBlock(c)))));
  }
});

test('every unit of the width spaces, at every input width, and random width archs compute the same in ONNX and TF.js', async () => {
  await tf.setBackend('cpu');
  const rng = new Rng(3);
  for (const name of ['fbnet-mini-widths', 'mbv3-mini-widths']) {
    const space = loadSpace(name);
    const all = spaceUnits(space).filter((u) => u.kind === 'block' && !u.identity);
    // Every (candidate, input width) pair a layer can get is among the units profiled.
    const layers = searchableLayers(space);
    for (const l of layers) for (const input of l.inputs) for (const b of l.candidates) {
      assert.ok(b.type === 'skip' && b.c === input.c || all.some((u) => u.op === formatBlock(b) && u.input.c === input.c && u.input.h === input.h), `${name} layer ${l.index}: ${formatBlock(b)} at ${input.c}`);
    }
    // Every (input width, output width) combination of every layer, each with another block kind in
    // turn (all 535 units take minutes; the kinds themselves are onnx.test.ts's).
    const units: Unit[] = [];
    let turn = 0;
    for (const l of layers) for (const input of l.inputs) for (const c of l.widths) {
      const kinds = l.candidates.filter((b) => b.c === c && !(b.type === 'skip' && c === input.c));
      const b = kinds[turn++ % kinds.length]!;
      units.push(all.find((u) => u.op === formatBlock(b) && u.input.c === input.c && u.input.h === input.h)!);
    }
    let worst = 0;
    for (const [k, u] of units.entries()) {
      const model = new TfModel(u.layers, u.input, k + 1);
      perturbBatchNorm(model.allVariables(), rng);
      const batch = 2;
      const nchw = Float32Array.from({ length: batch * u.input.c * u.input.h * u.input.w }, () => rng.normal());
      const a = tfRun(model, u.input, nchw, batch);
      const b = await onnxRun(u.layers, u.input, model.asWeightSource(), nchw, batch);
      assert.equal(b.length, batch * u.output.c * u.output.h * u.output.w, u.key);
      worst = Math.max(worst, maxRelDiff(b, a));
      model.dispose();
    }
    assert.ok(worst < 1e-4, `${name}: worst unit's max relative difference ${worst}`);
    for (const seed of [1, 2, 3]) {
      const layers = networkUnits(space, randomArch(space, new Rng(seed))).flatMap((u) => u.layers);
      const model = new TfModel(layers, space.input, seed);
      perturbBatchNorm(model.allVariables(), rng);
      const nchw = Float32Array.from({ length: 2 * space.input.c * space.input.h * space.input.w }, () => rng.normal());
      const d = maxRelDiff(await onnxRun(layers, space.input, model.asWeightSource(), nchw, 2), tfRun(model, space.input, nchw, 2));
      assert.ok(d < 1e-4, `${name} random arch ${seed}: ${d}`);
      model.dispose();
    }
  }
});

test('elastic widths: a supernet path computes what the standalone arch does with the sliced weights, at every width', async () => {
  await tf.setBackend('cpu');
  const space = loadSpace(TINY);
  const net = new Supernet(space, 5);
  try {
    perturbBatchNorm(net.allVariables(), new Rng(8));
    const rng = new Rng(9);
    const batch = 3;
    const nchw = Float32Array.from({ length: batch * 64 }, () => rng.normal());
    const nhwc = tf.transpose(tf.tensor4d(nchw, [batch, 1, 8, 8]), [0, 2, 3, 1]) as tf.Tensor4D;
    // All 144 paths: narrow, wide, widening (no residual) and identity skips among them.
    let worst = 0, paths = 0;
    const sizes = net.layers.map((l) => l.candidates.length);
    for (let code = 0; code < sizes.reduce((a, b) => a * b, 1); code++) {
      let rest = code;
      const path = sizes.map((n) => { const i = rest % n; rest = Math.floor(rest / n); return i; });
      const fromSupernet = tf.tidy(() => net.forward(nhwc, { path }, false).dataSync() as Float32Array);
      const layers = networkUnits(space, pathBlocks(space, path)).flatMap((u) => u.layers);
      const standalone = await onnxRun(layers, space.input, net.pathWeights(path), nchw, batch);
      worst = Math.max(worst, maxRelDiff(standalone, fromSupernet));
      paths++;
    }
    assert.equal(paths, 144);
    assert.ok(worst < 1e-4, `worst path's max relative difference ${worst}`);
    // Narrow candidates slice the wide ones: a layer's weights are one family, BatchNorm per (input width, candidate).
    const own = net.trainableVariables([0, 0, 0]).filter((v) => /\/a\dc\d\//.test(v.name)).map((v) => v.name);
    assert.ok(own.length > 0 && own.every((n) => /bn\.(gamma|beta)$/.test(n)), own.join(' '));
    nhwc.dispose();
  } finally {
    net.dispose();
  }
});

test('the latency chain of a width space: a path\'s latency is predict\'s, the floor and ceiling are exact, the expectation is exact and differentiable', async () => {
  const space = loadSpace(TINY);
  const out = join(tempDir(), 'tiny-widths.json');
  await profile({ device: loadDevice('ort-cpu-1t'), space, out, resume: false, chunk: 8, fitNets: 12, quiet: true, plan: { rounds: 2, runsPerRound: 2, warmup: 1 } });
  const lut = loadLut(out, { device: 'ort-cpu-1t', space });
  // Every (block, input width) and every head width was profiled.
  for (const u of spaceUnits(space)) if (!u.identity) assert.ok(lut.entries[u.key], u.key);
  const latency = new LatencyModel(space, lut, out);
  try {
    assert.equal(latency.independent, false);
    assert.throws(() => latency.table, /has widths/);
    const sizes = searchableLayers(space).map((l) => l.candidates.length);
    const all: { path: number[]; ms: number }[] = [];
    for (let code = 0; code < 144; code++) {
      let rest = code;
      const path = sizes.map((n) => { const i = rest % n; rest = Math.floor(rest / n); return i; });
      const ms = latency.pathMs(path);
      const exact = predict(lut, networkUnits(space, pathBlocks(space, path)), out).totalMs;
      assert.ok(Math.abs(ms - exact) < 1e-12, `${path}: ${ms} vs ${exact}`);
      all.push({ path, ms });
    }
    const min = Math.min(...all.map((p) => p.ms)), max = Math.max(...all.map((p) => p.ms));
    assert.ok(Math.abs(latency.fastest().ms - min) < 1e-12 && Math.abs(latency.slowest().ms - max) < 1e-12);
    // Expectation under independent per-layer probabilities, by enumeration.
    const rng = new Rng(4);
    const probs = sizes.map((n) => { const w = Array.from({ length: n }, () => rng.next() + 0.1); const s = w.reduce((a, b) => a + b, 0); return w.map((v) => v / s); });
    const enumerated = all.reduce((s, p) => s + p.ms * p.path.reduce((q, i, l) => q * probs[l]![i]!, 1), 0);
    assert.ok(Math.abs(latency.expectedMs(probs) - enumerated) < 1e-12, `${latency.expectedMs(probs)} vs ${enumerated}`);
    await tf.setBackend('cpu');
    const theta = probs.map((p) => tf.variable(tf.tensor1d(p)));
    const { value, grads } = tf.variableGrads(() => latency.expected(theta as unknown as tf.Tensor1D[]));
    assert.ok(Math.abs(value.dataSync()[0]! - enumerated) < 1e-5 * enumerated);
    assert.equal(Object.keys(grads).length, theta.length);
    // The random control's band sampler draws every in-band path, and only those, about equally often.
    // The band around the median path: about 25 of the 144, whatever the measured table.
    const sorted = all.map((p) => p.ms).sort((a, b) => a - b);
    const lo = sorted[60]!, hi = sorted[84]!;
    const inBand = all.filter((p) => p.ms >= lo && p.ms <= hi).map((p) => p.path.join());
    assert.ok(inBand.length >= 25, `${inBand.length} paths in the band`);
    const sampler = new BandSampler(latency.chain, lo, hi);
    const counts = new Map<string, number>();
    const draws = 400 * inBand.length;
    for (let t = 0; t < draws; t++) {
      const p = sampler.draw(rng)!;
      assert.ok(inBand.includes(p.join()), `drew ${p} outside [${lo}, ${hi}]`);
      counts.set(p.join(), (counts.get(p.join()) ?? 0) + 1);
    }
    assert.equal(counts.size, inBand.length);
    for (const [k, n] of counts) assert.ok(n > 400 * 0.75 && n < 400 * 1.25, `${k} drawn ${n} times of an expected 400`);
    // The hand-designed family gains the width-multiplied MobileNetV2-style baseline, slower with width.
    const family = handDesignedFamily(space, latency);
    assert.deepEqual(family.slice(0, 2).map((m) => m.name), ['mbv2', 'mbv2-x0.5']);
    assert.deepEqual(family[1]!.blocks, ['ir_k3_e3_g2_c8_s1_re', 'ir_k3_e3_g2_c8_s1_re', 'ir_k3_e3_c16_s2_re']);
    // (Whether narrower is faster is the measured table's to say, not this test's: an 8x8 net's entries are noise-sized.)
    assert.equal(family[1]!.predictedMs, latency.pathMs(family[1]!.path));
    // NetAdapt's width cuts from the full-width baseline: per group of layers a residual ties, the smallest cut that saves the step.
    const layers = searchableLayers(space);
    const start = family[0]!.path;
    const startBlocks = pathBlocks(space, start);
    const groups = widthGroups(layers, startBlocks);
    assert.deepEqual(groups.flat(), layers.map((_, l) => l), 'the groups cover every layer once, in order');
    for (const g of groups) for (const l of g.slice(1)) assert.ok(layers[l]!.stage === layers[g[0]!]!.stage && startBlocks[l]!.c === startBlocks[g[0]!]!.c);
    // The path with a whole group at width w, or undefined where a layer lacks that block.
    const atWidth = (g: number[], w: number) => {
      const p = start.slice();
      for (const l of g) {
        p[l] = layers[l]!.candidates.findIndex((b) => formatBlock(b) === formatBlock({ ...startBlocks[l]!, c: w }));
        if (p[l] < 0) return undefined;
      }
      return p;
    };
    // Half the largest saving any one narrower width gives (an 8x8 net's entries are tiny and noisy: no fixed step is sure to be reachable).
    const savings = groups.flatMap((g) => layers[g[0]!]!.widths.filter((w) => w < startBlocks[g[0]!]!.c).map((w) => {
      const p = atWidth(g, w);
      return p ? latency.pathMs(start) - latency.pathMs(p) : 0;
    }));
    const best = Math.max(0, ...savings);
    if (!(best > 0)) assert.deepEqual(widthCuts(layers, startBlocks, latency, start, 1e-12), [], 'nothing saves time: no cut');
    const step = best / 2;
    const cuts = best > 0 ? widthCuts(layers, startBlocks, latency, start, step) : [];
    assert.ok(best <= 0 || cuts.length > 0);
    for (const c of cuts) {
      const after = pathBlocks(space, c.path);
      const w = after[c.layers[0]!]!.c, before = startBlocks[c.layers[0]!]!.c;
      assert.ok(groups.some((g) => g.join() === c.layers.join()), 'a cut changes one whole group');
      for (const l of c.layers) assert.equal(formatBlock({ ...after[l]!, c: before }), formatBlock(startBlocks[l]!), 'the cut keeps the blocks');
      assert.ok(w < before && c.savedMs >= step && Math.abs(c.ms - latency.pathMs(c.path)) < 1e-12);
      assert.deepEqual(c.path.filter((_, l) => !c.layers.includes(l)), start.filter((_, l) => !c.layers.includes(l)));
      // No width between the cut and the current one saves the step.
      for (const between of layers[c.layers[0]!]!.widths.filter((x) => x > w && x < before)) {
        const p = atWidth(c.layers, between);
        if (p) assert.ok(latency.pathMs(start) - latency.pathMs(p) < step);
      }
    }
    assert.deepEqual(widthCuts(layers, startBlocks, latency, start, 1e9), []);
    tf.dispose([value, ...Object.values(grads), ...theta]);
  } finally {
    latency.dispose();
  }
});


test('profile and every strategy search a space with widths end to end; the arch meets the target and names its widths; the report shows them', async () => {
  const dir = tempDir();
  const table = join(dir, 'tiny28-widths.json');
  const spaceFile = join(ROOT, 'test/fixtures/tiny28-widths-space.json');
  const p = cli(['profile', '--device', 'ort-cpu-1t', '--space', spaceFile, '--out', table, '--rounds', '2', '--runs', '2', '--quiet']);
  assert.equal(p.code, 0, p.stderr);
  const space = loadSpace(spaceFile);
  const widths = searchableLayers(space).map((l) => l.widths);
  for (const strategy of ['dnas', 'evolution', 'random']) {
    const out = join(dir, strategy, 'search');
    const r = cli(['search', '--table', table, '--space', spaceFile, '--dataset', 'mnist', '--backend', 'wasm', '--strategy', strategy, '--epochs', '2',
      '--steps-per-epoch', '3', '--batch', '16', '--samples', '3', '--eval-images', '64', '--calibration-batches', '1', '--out', out, '--quiet']);
    assert.equal(r.code, 0, `${strategy}: ${r.stderr}`);
    const arch = JSON.parse(readFileSync(join(out, 'arch.json'), 'utf8')) as { blocks: string[]; predictedMs: number; targetMs: number };
    assert.ok(arch.predictedMs <= arch.targetMs, `${strategy}: ${arch.predictedMs} > ${arch.targetMs}`);
    const blocks = resolveArch(space, arch.blocks);
    blocks.forEach((b, l) => assert.ok(widths[l]!.includes(b.c), `${strategy} layer ${l}: ${formatBlock(b)}`));
  }
  // The report's per-unit bars say each layer's channels, and its width where the layer is not at full width.
  writeFileSync(join(dir, 'dnas', 'pipeline.json'), JSON.stringify({ version: 1, options: { space: spaceFile, table }, stages: {} }));
  const html = readFileSync(await writeReport(join(dir, 'dnas')), 'utf8');
  const model = JSON.parse(/<script type="application\/json" id="latnas-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as ReportModel;
  const units = model.arch?.units;
  assert.ok(units, `no units: ${model.arch?.note}`);
  const arch = resolveArch(space, JSON.parse(readFileSync(join(dir, 'dnas', 'search', 'arch.json'), 'utf8')).blocks as string[]);
  arch.forEach((b, l) => {
    const row = units.find((u) => u.label.startsWith(`L${l}  `))!;
    const full = widths[l]![widths[l]!.length - 1]!;
    assert.equal(row.channels.split('→')[1], String(b.c));
    assert.equal(row.label.includes(`×${b.c / full} of ${full}`), b.c !== full, row.label);
  });
  // The mixed mode cannot sum widths, and says so in one line.
  const mixed = cli(['search', '--table', table, '--space', spaceFile, '--dataset', 'mnist', '--backend', 'wasm', '--mode', 'mixed', '--epochs', '1',
    '--steps-per-epoch', '1', '--batch', '16', '--out', join(dir, 'mixed'), '--quiet']);
  assert.equal(mixed.code, 1);
  assert.match(stderrLines(mixed.stderr).join('\n'), /^latnas: space 'tiny28-widths' has widths: the mixed mode cannot sum candidates of different widths; use --mode gated/);
});
