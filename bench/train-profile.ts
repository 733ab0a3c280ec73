/**
 * bench:train-profile: where a wasm training step's time goes, per tfjs kernel. Each kernel's
 * time is exclusive: a gradient kernel built from other kernels (src/train/kernels/) is charged
 * only for what its children do not account for. Kernels without a name (tf.customGrad
 * functions, e.g. BatchNorm's closed-form gradient) show as '(custom)'.
 *
 *   npm run bench:train-profile -- [--space fbnet-mini] [--arch k3_e6,...] [--batch 32] [--steps 10] [--workers 2]
 *
 * Then the same batch data-parallel over --workers workers (src/train/parallel/): per step and
 * worker, computing vs copying gradients to and from TF.js vs waiting at the all-reduce's
 * barriers vs summing. Ends with one JSON line: step time, the top kernels' shares, and the
 * parallel step's parts.
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { TfModel } from '../src/train/model.js';
import { parallelStepParts } from './parallel-parts.js';

const { values } = parseArgs({ options: {
  space: { type: 'string', default: 'fbnet-mini' }, arch: { type: 'string' },
  batch: { type: 'string', default: '32' }, steps: { type: 'string', default: '10' }, workers: { type: 'string', default: '2' },
} });
await initBackend('wasm');
const space = loadSpace(values.space!);
const blocks = resolveArch(space, values.arch ? values.arch.split(',') : searchableLayers(space).map(() => 'k3_e6'));
const model = new TfModel(networkUnits(space, blocks).flatMap((u) => u.layers), space.input, 1);
const batch = Number(values.batch), steps = Number(values.steps);
const vars = model.trainableVariables();
const optimizer = tf.train.momentum(0.01, 0.9, true);
const x = tf.randomNormal([batch, space.input.h, space.input.w, space.input.c]);
const y = tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % space.classes), 'int32'), space.classes);
const step = () => tf.tidy(() => {
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.forward(x as tf.Tensor4D, true)) as tf.Scalar, vars);
  optimizer.applyGradients(grads as Parameters<typeof optimizer.applyGradients>[0]);
});
for (let i = 0; i < 3; i++) step();

// Wrap the engine's kernel entry point; wasm kernels run synchronously, so wall time is theirs.
type Engine = { runKernelFunc: (p: { kernelName?: string }) => unknown };
const engine = tf.engine() as unknown as Engine;
const run = engine.runKernelFunc.bind(engine);
const totals = new Map<string, { ms: number; calls: number }>();
const childTime: number[] = [];
engine.runKernelFunc = (p) => {
  const name = p.kernelName ?? '(custom)';
  childTime.push(0);
  const t0 = performance.now();
  try {
    return run(p);
  } finally {
    const dt = performance.now() - t0;
    const inner = childTime.pop()!;
    if (childTime.length > 0) childTime[childTime.length - 1]! += dt;
    const e = totals.get(name) ?? { ms: 0, calls: 0 };
    e.ms += dt - inner;
    e.calls++;
    totals.set(name, e);
  }
};
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const stepMs = (performance.now() - t0) / steps;
const rows = [...totals].map(([k, v]) => ({ kernel: k, ms: v.ms / steps, calls: v.calls / steps })).sort((a, b) => b.ms - a.ms);
const kernelMs = rows.reduce((s, r) => s + r.ms, 0);
console.log(`step ${stepMs.toFixed(1)} ms (${((batch * 1000) / stepMs).toFixed(0)} img/s), in kernels ${kernelMs.toFixed(1)} ms, outside (JS, tape) ${(stepMs - kernelMs).toFixed(1)} ms`);
for (const r of rows.slice(0, 15)) console.log(`${r.kernel.padEnd(38)} ${r.ms.toFixed(2).padStart(7)} ms ${(100 * r.ms / stepMs).toFixed(1).padStart(5)}%  ${r.calls.toFixed(0).padStart(5)} calls`);
engine.runKernelFunc = run;
model.dispose();
const workers = Number(values.workers);
const parts = workers > 1 ? await parallelStepParts(space, blocks, batch, steps, workers) : undefined;

const share = (k: string) => Math.round((1000 * (totals.get(k)?.ms ?? 0)) / steps / stepMs) / 10;
console.log(JSON.stringify({
  bench: 'train-profile', space: space.name, batch, step_ms: Math.round(stepMs * 10) / 10, img_per_s: Math.round((batch * 1000) / stepMs),
  top: rows.slice(0, 5).map((r) => ({ kernel: r.kernel, pct: Math.round((1000 * r.ms) / stepMs) / 10, calls: Math.round(r.calls) })),
  depthwise_filter_grad_pct: share('DepthwiseConv2dNativeBackpropFilter'), sum_pct: share('Sum'),
  outside_kernels_pct: Math.round((1000 * (stepMs - kernelMs)) / stepMs) / 10,
  ...(parts ? { parallel: parts } : {}),
}));
