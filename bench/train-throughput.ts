/**
 * bench:train-throughput: images/s of training and inference steps for the same network in
 * latnas (every TF.js backend that starts here) and in PyTorch (Debian python3-torch, if
 * installed), at the same batch and thread count. Both sides build the net from the same layer IR.
 *
 *   npm run bench:train-throughput -- [--space fbnet-mini] [--arch k3_e6,...] [--batch 32] [--steps 20]
 *
 * Ends with one JSON line: images/s per side and the latnas/torch ratios.
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
} });
const space = loadSpace(values.space!);
const blocks = resolveArch(space, values.arch ? values.arch.split(',') : searchableLayers(space).map(() => 'k3_e6'));
const layers = networkUnits(space, blocks).flatMap((u) => u.layers);
const batch = Number(values.batch), steps = Number(values.steps);
const { c, h, w } = space.input;

async function timeLatnas(backend: BackendChoice): Promise<{ train: number; infer: number } | undefined> {
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
  const n = steps;
  step(); step();
  let t0 = performance.now();
  for (let i = 0; i < n; i++) step();
  const train = (batch * n) / ((performance.now() - t0) / 1000);
  const infer1 = () => tf.tidy(() => { model.forward(x, false).dataSync(); });
  infer1(); infer1();
  t0 = performance.now();
  for (let i = 0; i < n; i++) infer1();
  const infer = (batch * n) / ((performance.now() - t0) / 1000);
  model.dispose(); optimizer.dispose(); x.dispose(); y.dispose();
  return { train, infer };
}

function timeTorch(): { train: number; infer: number; version: string } | undefined {
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
  return { train: o.train_ips, infer: o.infer_ips, version: o.torch };
}

const results: Record<string, { train: number; infer: number }> = {};
// The pure-JS cpu backend is left out: about 27 s a step for this net (0.5-1 img/s), it would dominate the run.
for (const b of ['tensorflow', 'wasm'] as const) {
  const r = await timeLatnas(b);
  if (r) {
    results[b] = r;
    console.log(`latnas ${b.padEnd(10)} train ${r.train.toFixed(1)} img/s, inference ${r.infer.toFixed(1)} img/s`);
  } else console.log(`latnas ${b.padEnd(10)} not available here`);
}
const torch = timeTorch();
if (torch) console.log(`pytorch ${torch.version.padEnd(9)} train ${torch.train.toFixed(1)} img/s, inference ${torch.infer.toFixed(1)} img/s (1 thread)`);
const best = results.tensorflow ?? results.wasm!;
const bestName = results.tensorflow ? 'tensorflow' : 'wasm';
const round = (x: number) => Math.round(x * 100) / 100;
console.log(JSON.stringify({
  bench: 'train-throughput', space: space.name, batch, threads: 1, backend: bestName,
  latnas_train_ips: round(best.train), latnas_infer_ips: round(best.infer),
  torch_train_ips: torch ? round(torch.train) : null, torch_infer_ips: torch ? round(torch.infer) : null,
  train_ratio_vs_torch: torch ? round(best.train / torch.train) : null, infer_ratio_vs_torch: torch ? round(best.infer / torch.infer) : null,
}));
