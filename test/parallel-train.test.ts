import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Dataset } from '../src/datasets/dataset.js';
import type { Layer } from '../src/space/ir.js';
import { initBackend } from '../src/train/backend.js';
import { LocalEngine, type EngineSetup, type TrainEngine } from '../src/train/engine.js';
import type { EpochPlan } from '../src/train/epoch.js';
import { WorkerPool } from '../src/train/parallel/pool.js';
import type { StoredTensor } from '../src/train/tensor-file.js';
import { Rng } from '../src/util/rng.js';
import { cli, ROOT, tempDir } from './helpers.js';

/** Random 12x12 grey images whose label is decided by their brightest quadrant: learnable, and made here. */
function quadrantDataset(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const make = (n: number) => {
    const images = new Uint8Array(n * 144), labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const q = rng.int(4);
      labels[i] = q;
      for (let p = 0; p < 144; p++) {
        const inQ = (Math.floor(p / 12) < 6 ? 0 : 2) + ((p % 12) < 6 ? 0 : 1) === q;
        images[i * 144 + p] = rng.int(128) + (inQ ? 100 : 0);
      }
    }
    return { images, labels, count: n };
  };
  return {
    name: 'quadrants', spec: 'quadrants', source: 'test', shape: { c: 1, h: 12, w: 12 }, classes: ['0', '1', '2', '3'],
    train: make(count), test: make(64), augment: { pad: 1, flip: true },
  };
}

const conv = (name: string, cout: number, k: number, stride: number, groups: number, bn: boolean): Layer =>
  ({ op: 'conv', name, role: groups > 1 ? 'depthwise' : 'stem', cout, k, stride, groups, bn, act: 'relu' });

/** No BatchNorm anywhere: a batch's gradient is exactly the mean of its samples', split or not. */
const PLAIN: Layer[] = [conv('c1', 8, 3, 1, 1, false), conv('d1', 8, 3, 2, 8, false), conv('p1', 16, 1, 1, 1, false), { op: 'gap' }, { op: 'fc', name: 'fc', cout: 4 }];
const WITH_BN: Layer[] = [conv('c1', 8, 3, 1, 1, true), conv('d1', 8, 3, 2, 8, true), conv('p1', 16, 1, 1, 1, true), { op: 'gap' }, { op: 'fc', name: 'fc', cout: 4 }];

function setup(layers: Layer[]): EngineSetup {
  const dataset = quadrantDataset(256, 7);
  return {
    spec: { layers, input: dataset.shape, classes: 4, seed: 3, optimizer: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 4e-5, labelSmoothing: 0.1 },
    dataset, norm: { mean: [0.35], std: [0.2] }, trainIdx: Uint32Array.from({ length: 256 }, (_, i) => i),
  };
}

const plan = (steps: number, augment = false): EpochPlan => ({ epoch: 0, steps, totalSteps: 10 * steps, batch: 32, lr: 0.1, seed: 5, augment });

async function trained(engine: TrainEngine, steps: number, augment = false): Promise<{ weights: StoredTensor[]; losses: number[] }> {
  const losses: number[] = [];
  try {
    await engine.runEpoch(plan(steps, augment), (s) => losses.push(s.loss));
    return { weights: await engine.weights(), losses };
  } finally {
    await engine.close();
  }
}

const flat = (ts: StoredTensor[]) => Float64Array.from(ts.flatMap((t) => Array.from(t.data)));

test('two workers with half batches take the same step as one worker with the whole batch (no BatchNorm)', async () => {
  await initBackend('wasm');
  const s = setup(PLAIN);
  const initial = new LocalEngine(s);
  const before = flat(await initial.weights());
  await initial.close();
  const one = await trained(new LocalEngine(s), 1);
  const two = await trained(await WorkerPool.start(s, 2, 'wasm'), 1);
  const d1 = flat(one.weights).map((v, i) => v - before[i]!), d2 = flat(two.weights).map((v, i) => v - before[i]!);
  let maxStep = 0, maxDiff = 0;
  for (let i = 0; i < d1.length; i++) {
    maxStep = Math.max(maxStep, Math.abs(d1[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(d1[i]! - d2[i]!));
  }
  assert.ok(maxStep > 1e-4, `the step moved the weights by only ${maxStep}`);
  assert.ok(maxDiff / maxStep <= 1e-5, `updates differ by ${maxDiff} of ${maxStep} (${(maxDiff / maxStep).toExponential(2)} relative)`);
  assert.ok(Math.abs(one.losses[0]! - two.losses[0]!) <= 1e-5 * Math.abs(one.losses[0]!), `loss ${one.losses[0]} vs ${two.losses[0]}`);
});

test('a two-worker run with BatchNorm and augmentation is bit-reproducible', async () => {
  await initBackend('wasm');
  const s = setup(WITH_BN);
  const a = await trained(await WorkerPool.start(s, 2, 'wasm'), 8, true);
  const b = await trained(await WorkerPool.start(s, 2, 'wasm'), 8, true);
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(flat(a.weights), flat(b.weights));
  assert.ok(a.losses.every(Number.isFinite) && a.losses.some((l) => l !== a.losses[0]), `losses: ${a.losses.join(', ')}`);
  // Running statistics were averaged over the workers: a moved mean, not the initial zeros.
  const mean = a.weights.find((t) => t.name === 'c1.bn.mean')!;
  assert.ok(mean.data.some((v) => v !== 0));
});

test('a worker that dies ends the run with one line naming it, and wakes the others', async () => {
  await initBackend('wasm');
  const pool = await WorkerPool.start(setup(WITH_BN), 2, 'wasm');
  const threads = (pool as unknown as { threads: { threads: { terminate(): Promise<number> }[] } }).threads.threads;
  let steps = 0;
  const run = pool.runEpoch({ ...plan(8), steps: 8 }, () => {
    if (++steps === 2) void threads[1]!.terminate();
  });
  await assert.rejects(run, /^LatnasError: training worker 2 of 2 exited unexpectedly \(exit code 1\); the last checkpoint is kept: rerun with --resume/);
  await pool.close();
});

test('a worker\'s own error reaches the user as its one line', async () => {
  await initBackend('wasm');
  const pool = await WorkerPool.start(setup(WITH_BN), 2, 'wasm');
  const stored = new Map([['c1.weight', { name: 'c1.weight', shape: [1, 1, 1, 1], data: new Float32Array(1) }]]);
  await assert.rejects(pool.restore(stored, 'x.bin'), /^LatnasError: training worker [12] of 2: checkpoint 'x.bin' does not match the arch: variable 'c1.weight' has shape 1x1x1x1, expected 3x3x1x8; it was written by another latnas/);
  await pool.close();
});

const SPACE = join(ROOT, 'test/fixtures/tiny28-space.json');
const ARCH = 'k3_e3_g2,k5_e3_se0.25_hs';
const trainArgs = (out: string, workers: number, epochs: number) =>
  ['train', '--space', SPACE, '--arch', ARCH, '--dataset', 'mnist', '--out', out, '--backend', 'wasm', '--batch', '32', '--max-steps', '20',
    '--epochs', String(epochs), '--workers', String(workers), '--quiet'];

/** Starts a training, SIGKILLs it once its first checkpoint is on disk, and waits for it to go. */
async function killedAfterCheckpoint(args: string[], out: string): Promise<void> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), ...args], { stdio: 'ignore' });
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(join(out, 'checkpoint.bin'))) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('close', () => { clearInterval(timer); resolve(); });
  });
}

test('a checkpoint written with 2 workers resumes with 2 bit-identically, and with 1', async () => {
  const dir = tempDir();
  const whole = cli(trainArgs(join(dir, 'whole'), 2, 3));
  assert.equal(whole.code, 0, whole.stderr);
  // Whichever epoch the kill lands after, the resumed run must end where the whole one did.
  const parts = join(dir, 'parts');
  await killedAfterCheckpoint(trainArgs(parts, 2, 3), parts);
  const resumed = cli([...trainArgs(parts, 2, 3), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /resumed after epoch [123]/);
  assert.deepEqual(readFileSync(join(parts, 'weights.bin')), readFileSync(join(dir, 'whole', 'weights.bin')));
  const metrics = JSON.parse(readFileSync(join(parts, 'metrics.json'), 'utf8')) as { workers: number };
  assert.equal(metrics.workers, 2);

  const other = join(dir, 'other');
  await killedAfterCheckpoint(trainArgs(other, 2, 3), other);
  const single = cli([...trainArgs(other, 1, 3), '--resume']);
  assert.equal(single.code, 0, single.stderr);
  assert.match(single.stdout, /after 3 epochs \(resumed after epoch [123]\)/);
  assert.equal((JSON.parse(readFileSync(join(other, 'metrics.json'), 'utf8')) as { workers: number }).workers, 1);
});
