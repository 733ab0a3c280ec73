import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLut, predict } from '../src/lut/lut.js';
import { gumbelNoise, hardGumbel } from '../src/search/gumbel.js';
import { initialState, runEvolution, type EvolutionOptions } from '../src/search/evolution.js';
import { LatencyModel } from '../src/search/latency.js';
import { fbnetLoss } from '../src/search/objective.js';
import { paretoFront } from '../src/search/plots.js';
import { projectToTarget } from '../src/search/strategies/dnas.js';
import { randomArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace } from '../src/space/spaces.js';
import { Supernet } from '../src/supernet/supernet.js';
import { Rng } from '../src/util/rng.js';
import { cli, ROOT, tempDir } from './helpers.js';

const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');

function fbnetMini() {
  const space = loadSpace('fbnet-mini');
  const lut = loadLut(TABLE, { space });
  return { space, lut, latency: new LatencyModel(space, lut, TABLE) };
}

test('a path\'s LUT latency is what latnas predict says for that arch', async () => {
  await tf.setBackend('cpu');
  const { space, lut, latency } = fbnetMini();
  const net = new Supernet(space, 1);
  try {
    const rng = new Rng(3);
    for (let i = 0; i < 20; i++) {
      const blocks = randomArch(space, rng);
      const want = predict(lut, networkUnits(space, blocks)).totalMs;
      assert.ok(Math.abs(latency.pathMs(net.pathOf(blocks)) - want) < 1e-9);
    }
    assert.ok(latency.fastest().ms < latency.slowest().ms);
  } finally {
    net.dispose();
  }
});

test('the latency term\'s gradient in θ matches finite differences', async () => {
  await tf.setBackend('cpu');
  const { latency } = fbnetMini();
  const rng = new Rng(5);
  const thetaValues = latency.table.map((row) => Float64Array.from(row, () => rng.normal()));
  const targetMs = 0.08;
  const ce = 0.7;
  // Float64 reference of CE · α · (log max(LAT, T)_µs)^β + μ · max(0, LAT / T - 1) under softmax(θ).
  const latOf = (th: Float64Array[]) => {
    let lat = latency.fixedMs;
    th.forEach((t, l) => {
      const m = Math.max(...t);
      const e = Array.from(t, (v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      e.forEach((v, i) => { lat += (v / z) * latency.table[l]![i]!; });
    });
    return lat;
  };
  const lossOf = (th: Float64Array[]) => {
    const lat = latOf(th);
    return ce * 0.2 * Math.pow(Math.log(Math.max(lat, targetMs) * 1000), 0.6) + 2 * Math.abs(lat / targetMs - 1);
  };
  const theta = thetaValues.map((t) => tf.variable(tf.tensor1d(Float32Array.from(t))));
  try {
    const { grads } = tf.variableGrads(() => {
      const lat = latency.expected(theta.map((t) => tf.softmax(t) as tf.Tensor1D));
      return fbnetLoss(tf.scalar(ce), lat, { alpha: 0.2, beta: 0.6, penalty: 2, targetMs });
    }, theta);
    const eps = 1e-4;
    let checked = 0;
    thetaValues.forEach((t, l) => {
      const g = grads[theta[l]!.name]!.dataSync();
      for (let i = 0; i < t.length; i++) {
        const plus = thetaValues.map((x) => x.slice()); plus[l]![i]! += eps;
        const minus = thetaValues.map((x) => x.slice()); minus[l]![i]! -= eps;
        const fd = (lossOf(plus) - lossOf(minus)) / (2 * eps);
        assert.ok(Math.abs(g[i]! - fd) <= 1e-3 * Math.abs(fd) + 1e-6, `θ[${l}][${i}]: autodiff ${g[i]} vs finite difference ${fd}`);
        checked++;
      }
    });
    assert.equal(checked, 12 * 9);
    // The hinge is live: this θ's expected latency is over the target.
    assert.ok(latOf(thetaValues) > targetMs, `expected latency ${latOf(thetaValues)} ms`);
    // Under the target, FBNet's term is flat; the two-sided penalty pulls latency up to T, the hinge does not.
    const below = (penaltyMode: 'two-sided' | 'hinge') => tf.tidy(() => {
      const t = theta.map((v) => tf.softmax(v) as tf.Tensor1D);
      const scaled = (s: tf.Tensor) => latency.expected(t.map((p, l) => (l === 0 ? tf.mul(p, s) as tf.Tensor1D : p)));
      return tf.grad((s: tf.Tensor) => fbnetLoss(tf.scalar(ce), scaled(s), { alpha: 0.2, beta: 0.6, penalty: 2, targetMs: 1, penaltyMode }))(tf.scalar(1)).dataSync()[0]!;
    });
    assert.equal(below('hinge'), 0);
    assert.ok(below('two-sided') < 0, 'more latency should lower the loss under the target');
  } finally {
    tf.dispose(theta);
    latency.dispose();
  }
});

test('hard Gumbel samples follow softmax(θ) and their gate is 1 with the soft sample\'s gradient', async () => {
  await tf.setBackend('cpu');
  const logits = [1.5, 0, -1, 0.5];
  const theta = tf.tensor1d(logits);
  const rng = new Rng(11);
  const n = 20000;
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    tf.tidy(() => { counts[hardGumbel(theta, gumbelNoise(rng, 4), 3).index]!++; });
  }
  const z = logits.reduce((a, v) => a + Math.exp(v), 0);
  logits.forEach((v, i) => {
    const p = Math.exp(v) / z;
    const sd = Math.sqrt(p * (1 - p) / n);
    assert.ok(Math.abs(counts[i]! / n - p) < 4 * sd, `candidate ${i}: frequency ${counts[i]! / n}, softmax ${p}`);
  });
  const noise = gumbelNoise(new Rng(2), 4);
  const [gateValue, gateGrad, softGrad] = tf.tidy(() => {
    const s = hardGumbel(theta, noise, 2);
    const gGate = tf.grad((t: tf.Tensor) => hardGumbel(t as tf.Tensor1D, noise, 2).gate)(theta).dataSync();
    const gSoft = tf.grad((t: tf.Tensor) => tf.squeeze(tf.slice(hardGumbel(t as tf.Tensor1D, noise, 2).soft, [s.index], [1])))(theta).dataSync();
    return [s.gate.dataSync()[0]!, gGate, gSoft];
  });
  assert.equal(gateValue, 1);
  assert.deepEqual(Array.from(gateGrad), Array.from(softGrad));
  assert.ok(Math.max(...Array.from(gateGrad, Math.abs)) > 1e-3);
  theta.dispose();
});

/** Accuracy that rewards latency, so evolution is tempted past the budget. */
function syntheticEvolution(objective: 'hard' | 'mnas', targetMs: number, cycles: number, onCycle?: EvolutionOptions['onCycle']): EvolutionOptions {
  const { latency } = fbnetMini();
  return {
    sizes: latency.table.map((r) => r.length), population: 12, cycles, sampleSize: 4, mutationProb: 0.2, crossoverProb: 0.5,
    objective, targetMs, latency: (p) => latency.pathMs(p), accuracy: (p) => Math.min(1, latency.pathMs(p) / 0.3), onCycle,
  };
}

test('evolution under a hard constraint never visits or returns an arch over the target', () => {
  const target = 0.09;
  const r = runEvolution(syntheticEvolution('hard', target, 150), initialState(1));
  assert.equal(r.state.cycle, 150);
  assert.ok(r.state.history.length > 100);
  for (const s of r.state.history) assert.ok(s.latencyMs <= target, `visited ${s.latencyMs} ms`);
  assert.ok(r.best.latencyMs <= target);
  // It climbs toward the budget (the synthetic accuracy rewards latency).
  assert.ok(r.best.latencyMs > 0.95 * target, `best at ${r.best.latencyMs} ms`);
  // The soft MnasNet objective, by contrast, does look past the target.
  const soft = runEvolution(syntheticEvolution('mnas', target, 150), initialState(1));
  assert.ok(soft.state.history.some((s) => s.latencyMs > target));
});

test('an evolution stopped after any cycle resumes to the same result', () => {
  const whole = runEvolution(syntheticEvolution('hard', 0.1, 40), initialState(7));
  let saved = '';
  assert.throws(() => runEvolution(syntheticEvolution('hard', 0.1, 40, (s) => {
    saved = JSON.stringify(s);
    if (s.cycle === 17) throw new Error('killed');
  }), initialState(7)), /killed/);
  const resumed = runEvolution(syntheticEvolution('hard', 0.1, 40), JSON.parse(saved));
  assert.deepEqual(resumed.state, whole.state);
});

test('the Pareto front and the projection under a target', () => {
  const pts = [{ latencyMs: 1, acc: 0.5 }, { latencyMs: 2, acc: 0.4 }, { latencyMs: 2, acc: 0.7 }, { latencyMs: 3, acc: 0.6 }, { latencyMs: 4, acc: 0.8 }];
  assert.deepEqual(paretoFront(pts), [pts[0], pts[2], pts[4]]);
  const { latency } = fbnetMini();
  const slow = latency.slowest();
  const probs = latency.table.map((r) => Float64Array.from(r, () => 1 / r.length));
  const target = (slow.ms + latency.fastest().ms) / 2;
  const p = projectToTarget(slow.path, probs, latency, target);
  assert.ok(latency.pathMs(p) <= target);
});

const SEARCH = ['search', '--table', TABLE, '--dataset', 'mnist', '--backend', 'wasm', '--epochs', '3', '--steps-per-epoch', '4', '--batch', '32',
  '--samples', '3', '--eval-images', '128', '--calibration-batches', '1', '--warmup', '0', '--quiet'];

test('a search killed mid-run resumes and ends where an uninterrupted one does', async () => {
  const dir = tempDir();
  const whole = cli([...SEARCH, '--out', join(dir, 'whole')]);
  assert.equal(whole.code, 0, whole.stderr);
  const out = join(dir, 'killed');
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), ...SEARCH, '--out', out], { stdio: 'ignore' });
  const state = join(out, 'search-state.bin');
  const deadline = Date.now() + 120_000;
  while (!existsSync(state) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.ok(existsSync(state), 'no state was written');
  assert.ok(!existsSync(join(out, 'arch.json')), 'the search finished before it was killed');
  const again = cli([...SEARCH, '--out', out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /holds an unfinished search \(search-state.bin\); pass --resume/);
  const changed = cli([...SEARCH, '--out', out, '--resume', '--seed', '2']);
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /cannot resume .*seed was 1, now 2/);
  const resumed = cli([...SEARCH, '--out', out, '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed after epoch [12]/);
  const read = (d: string, f: string) => JSON.parse(readFileSync(join(dir, d, f), 'utf8'));
  const a = read('whole', 'search-log.json').epochs as { loss: number; thetaLoss: number; argmax: string[] }[];
  const b = read('killed', 'search-log.json').epochs as typeof a;
  assert.equal(b.length, 3);
  assert.deepEqual(b.map((e) => [e.loss, e.thetaLoss, e.argmax]), a.map((e) => [e.loss, e.thetaLoss, e.argmax]));
  const arch = read('killed', 'arch.json') as { blocks: string[]; predictedMs: number; targetMs: number; lut: { device: string } };
  assert.deepEqual(arch.blocks, read('whole', 'arch.json').blocks);
  assert.ok(arch.predictedMs <= arch.targetMs);
  assert.equal(arch.lut.device, 'ort-cpu-1t');
  assert.match(readFileSync(join(out, 'pareto.svg'), 'utf8'), /^<svg/);
});

test('an infeasible target fails at once, naming the fastest achievable latency', () => {
  const r = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--out', join(tempDir(), 's'), '--target-ms', '0.001', '--backend', 'cpu']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^latnas: --target-ms 0.001 is infeasible: the fastest arch of space 'fbnet-mini' is predicted at 0\.0\d+ ms .*raise --target-ms to at least 0\.0\d+\n$/);
  const bad = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--out', join(tempDir(), 's'), '--strategy', 'grid']);
  assert.match(bad.stderr, /^latnas: --strategy 'grid': use one of dnas, evolution, random\n$/);
  const sampling = cli(['search', '--table', TABLE, '--dataset', 'mnist', '--out', join(tempDir(), 's'), '--strategy', 'random', '--sampling', 'round-robin']);
  assert.equal(sampling.code, 1);
  assert.match(sampling.stderr, /^latnas: --sampling 'round-robin': use uniform, fair or sandwich\n$/);
});
