/**
 * bench:train-throughput: images/s of training and inference steps for the same network in
 * latnas (every TF.js backend that starts here) and in PyTorch (Debian python3-torch, if
 * installed), at the same batch and thread count. Both sides build the net from the same layer IR.
 *
 *   npm run bench:train-throughput -- [--space fbnet-mini] [--arch k3_e6,...] [--batch 32] [--steps 20] [--rounds 3]
 *
 * latnas and PyTorch alternate `rounds` times. Ends with one JSON line: median images/s per side
 * and the median of the per-round latnas/torch ratios.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { initBackend, type BackendChoice } from '../src/train/backend.js';
import { TfModel } from '../src/train/model.js';

const { values } = parseArgs({ options: {
  space: { type: 'string', default: 'fbnet-mini' }, arch: { type: 'string' },
  batch: { type: 'string', default: '32' }, steps: { type: 'string', default: '20' },
  rounds: { type: 'string', default: '3' },
} });
const space = loadSpace(values.space!);
const blocks = resolveArch(space, values.arch ? values.arch.split(',') : searchableLayers(space).map(() => 'k3_e6'));
const layers = networkUnits(space, blocks).flatMap((u) => u.layers);
const batch = Number(values.batch), steps = Number(values.steps), rounds = Number(values.rounds);
const { c, h, w } = space.input;

type Rates = { train: number; infer: number };

/** A latnas model on one backend, and a function timing `steps` training then inference steps. */
async function latnasTimer(backend: BackendChoice): Promise<(() => Rates) | undefined> {
  try {
    await initBackend(backend);
  } catch {
    return undefined;
  }
  const model = new TfModel(layers, space.input, 1);
  const optimizer = tf.train.momentum(0.01, 0.9, true);
  const x = tf.randomNormal([batch, h, w, c]) as tf.Tensor4D;
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % space.classes), 'int32'), space.classes);
  const vars = model.trainableVariables();
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x, true)) as tf.Scalar, vars);
    optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
    value.dataSync();
  });
  const infer1 = () => tf.tidy(() => { model.forward(x, false).dataSync(); });
  step(); step(); infer1(); infer1();
  return () => {
    let t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    const train = (batch * steps) / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    for (let i = 0; i < steps; i++) infer1();
    const infer = (batch * steps) / ((performance.now() - t0) / 1000);
    return { train, infer };
  };
}

let torchVersion = '';
function timeTorch(): Rates | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'latnas-bench-'));
  const spec = join(dir, 'ir.json');
  writeFileSync(spec, JSON.stringify({ input: space.input, classes: space.classes, layers }));
  const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/torch_ir.py');
  const r = spawnSync('/usr/bin/python3', [script, spec, String(batch), String(steps), '1'], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`PyTorch: not measured (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); apt-get install python3-torch`);
    return undefined;
  }
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; train_ips: number; infer_ips: number };
  torchVersion = o.torch;
  return { train: o.train_ips, infer: o.infer_ips };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// The pure-JS cpu backend is left out: about 27 s a step for this net (0.5-1 img/s), it would dominate the run.
// tfjs-node if it loads, else wasm. On a shared machine load comes and goes: latnas and PyTorch
// run in alternation, `rounds` times, and the ratio is the median of the per-round ratios.
let timer = await latnasTimer('tensorflow');
const bestName = timer ? 'tensorflow' : 'wasm';
timer ??= await latnasTimer('wasm');
if (!timer) throw new Error('no tfjs backend started');
const ours: Rates[] = [], theirs: Rates[] = [], trainRatios: number[] = [], inferRatios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const a = timer();
  ours.push(a);
  console.log(`round ${r + 1}: latnas ${bestName} train ${a.train.toFixed(1)} img/s, inference ${a.infer.toFixed(1)} img/s`);
  const t = timeTorch();
  if (!t) continue;
  theirs.push(t);
  trainRatios.push(a.train / t.train);
  inferRatios.push(a.infer / t.infer);
  console.log(`round ${r + 1}: pytorch ${torchVersion} train ${t.train.toFixed(1)} img/s, inference ${t.infer.toFixed(1)} img/s (1 thread); ` +
    `ratio train ${(a.train / t.train).toFixed(2)}, inference ${(a.infer / t.infer).toFixed(2)}`);
}
const round = (x: number) => Math.round(x * 100) / 100;
const med = (xs: Rates[], k: keyof Rates) => (xs.length ? round(median(xs.map((x) => x[k]))) : null);
console.log(JSON.stringify({
  bench: 'train-throughput', space: space.name, batch, threads: 1, backend: bestName, rounds,
  latnas_train_ips: med(ours, 'train'), latnas_infer_ips: med(ours, 'infer'),
  torch_train_ips: med(theirs, 'train'), torch_infer_ips: med(theirs, 'infer'),
  train_ratio_vs_torch: trainRatios.length ? round(median(trainRatios)) : null, infer_ratio_vs_torch: inferRatios.length ? round(median(inferRatios)) : null,
}));
