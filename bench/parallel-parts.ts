/**
 * bench:train-profile's parallel part: `steps` data-parallel training steps of one batch split
 * over `workers` workers (the trainer's WorkerPool, random bytes of the space's shape), and where
 * each worker's step time went, as the workers report it (src/train/parallel/protocol.ts).
 */
import type { Block } from '../src/space/blocks.js';
import { networkUnits } from '../src/space/network.js';
import type { Space } from '../src/space/spaces.js';
import { WorkerPool } from '../src/train/parallel/pool.js';
import { randomDataset } from './random-data.js';

export interface StepParts { workers: number; step_ms: number; compute_ms: number; copy_ms: number; wait_ms: number; sum_ms: number; floats: number }

export async function parallelStepParts(space: Space, blocks: readonly Block[], batch: number, steps: number, workers: number): Promise<StepParts> {
  const { c } = space.input;
  const n = batch * (steps + 2);
  const dataset = randomDataset(space, n, 5);
  const layers = networkUnits(space, blocks).flatMap((u) => u.layers);
  const pool = await WorkerPool.start({
    spec: { layers, input: space.input, classes: space.classes, seed: 1, optimizer: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 4e-5, labelSmoothing: 0 },
    dataset, norm: { mean: Array(c).fill(0.5), std: Array(c).fill(0.25) }, trainIdx: Uint32Array.from({ length: n }, (_, i) => i),
  }, workers, 'wasm');
  try {
    const plan = (epoch: number, k: number) => ({ epoch, steps: k, totalSteps: 1e9, batch, lr: 0.01, seed: 1, augment: false });
    await pool.runEpoch(plan(0, 2), () => {});
    await pool.runEpoch(plan(1, steps), () => {});
    const t = pool.lastTimings;
    const mean = (f: (x: (typeof t)[number]) => number) => Math.round((10 * t.reduce((s, x) => s + f(x) / x.steps, 0)) / t.length) / 10;
    console.log(`data-parallel, ${workers} workers, batch ${batch} (${batch / workers} per worker), per step and worker:`);
    t.forEach((x, i) => {
      const per = (v: number) => (v / x.steps).toFixed(1).padStart(6);
      console.log(`  worker ${i + 1}: step ${per(x.stepMs)} ms = compute ${per(x.stepMs - x.copyMs - x.waitMs - x.sumMs)} + copy ${per(x.copyMs)} + wait ${per(x.waitMs)} + sum ${per(x.sumMs)}`);
    });
    const lengths = (await import('../src/train/replica.js')).exchangeLengths(layers, space.input);
    return {
      workers, step_ms: mean((x) => x.stepMs), compute_ms: mean((x) => x.stepMs - x.copyMs - x.waitMs - x.sumMs), copy_ms: mean((x) => x.copyMs),
      wait_ms: mean((x) => x.waitMs), sum_ms: mean((x) => x.sumMs), floats: lengths.gradients,
    };
  } finally {
    await pool.close();
  }
}
