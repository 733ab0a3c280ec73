/**
 * bench:train-throughput: images/s of training and inference for the same network in latnas
 * (tfjs-node if it loads, else wasm; 1..N data-parallel workers) and in PyTorch (Debian
 * python3-torch, if installed) at 1..N threads, at the same global batch. Both sides build the
 * net from the same layer IR.
 *
 *   npm run bench:train-throughput -- [--space fbnet-mini] [--arch k3_e6,...] [--batch 32] [--steps 20] [--rounds 3] [--workers 1,2]
 *
 * latnas runs through the trainer's own engines (src/train/engine.ts, parallel/pool.ts) on a
 * dataset of random bytes of the space's shape: a training step is the trainer's, batches built
 * from bytes included. Within a round every worker count of latnas and every thread count of
 * PyTorch run back to back, so a ratio is of two figures measured a few seconds apart; the
 * figures are medians over rounds. Ends with one JSON line.
 *
 * With 1 and 2 workers, each round also times the machine's two-core ceiling: two independent
 * 1-worker trainings at once (two worker threads, no exchange), each at half the batch as a
 * data-parallel worker steps it, their summed images/s over one alone at the whole batch; and
 * it splits that ceiling into the half batch's own rate alone (`half_batch_rate_vs_whole`) and
 * what two trainings at once lose to each other (`two_at_once_vs_alone`). What is left between
 * `scaling_2_vs_1` and `ceiling_2_vs_1` is the exchange's and the barriers'. On the 2-vCPU Intel
 * Xeon of 2026-12-03 the two met within 0.05 round by round in one run, and the half batch's own
 * rate (0.83x) was most of the ceiling's loss (bench/README.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveArch } from '../src/space/arch.js';
import { networkUnits } from '../src/space/network.js';
import { loadSpace, searchableLayers } from '../src/space/spaces.js';
import { initBackend } from '../src/train/backend.js';
import { LocalEngine, type EngineSetup, type TrainEngine } from '../src/train/engine.js';
import type { EpochPlan } from '../src/train/epoch.js';
import { WorkerPool } from '../src/train/parallel/pool.js';
import { randomDataset } from './random-data.js';

const { values } = parseArgs({ options: {
  space: { type: 'string', default: 'fbnet-mini' }, arch: { type: 'string' },
  batch: { type: 'string', default: '32' }, steps: { type: 'string', default: '20' },
  rounds: { type: 'string', default: '3' }, workers: { type: 'string', default: '1' },
} });
const space = loadSpace(values.space!);
const blocks = resolveArch(space, values.arch ? values.arch.split(',') : searchableLayers(space).map(() => 'k3_e6'));
const layers = networkUnits(space, blocks).flatMap((u) => u.layers);
const batch = Number(values.batch), steps = Number(values.steps), rounds = Number(values.rounds);
const counts = values.workers!.split(',').map(Number);
if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--workers '${values.workers}': give worker counts like 1,2`);

type Rates = { train: number; infer: number };

const dataset = randomDataset(space, batch * steps, 11);
const setup: EngineSetup = {
  spec: { layers, input: space.input, classes: space.classes, seed: 1, optimizer: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 4e-5, labelSmoothing: 0 },
  dataset, norm: { mean: Array(space.input.c).fill(0.5), std: Array(space.input.c).fill(0.25) },
  trainIdx: Uint32Array.from({ length: batch * steps }, (_, i) => i),
};
const plan = (epoch: number, n: number, size = batch): EpochPlan => ({ epoch, steps: n, totalSteps: 1e9, batch: size, lr: 0.01, seed: 1, augment: false });

/** A latnas engine with `workers` workers, warmed up; and a function timing `steps` training then inference steps. */
async function latnasTimer(workers: number, backend: string, size = batch, thread = false): Promise<{ time: (inference?: boolean) => Promise<Rates>; engine: TrainEngine }> {
  const engine = workers === 1 && !thread ? new LocalEngine(setup) : await WorkerPool.start(setup, workers, backend);
  await engine.runEpoch(plan(0, 2, size), () => {});
  await engine.accuracy('test', Uint32Array.from({ length: 2 * batch }, (_, i) => i), batch);
  let epoch = 1;
  return {
    engine,
    time: async (inference = true) => {
      let t0 = performance.now();
      await engine.runEpoch(plan(epoch++, steps, size), () => {});
      const train = (size * steps) / ((performance.now() - t0) / 1000);
      if (!inference) return { train, infer: NaN };
      t0 = performance.now();
      await engine.accuracy('test', undefined, batch);
      const infer = (batch * steps) / ((performance.now() - t0) / 1000);
      return { train, infer };
    },
  };
}

let torchVersion = '';
const irPath = join(mkdtempSync(join(tmpdir(), 'latnas-bench-')), 'ir.json');
writeFileSync(irPath, JSON.stringify({ input: space.input, classes: space.classes, layers }));
function timeTorch(threads: number): Rates | undefined {
  const script = join(dirname(fileURLToPath(import.meta.url)), '../../bench/torch_ir.py');
  const r = spawnSync('/usr/bin/python3', [script, irPath, String(batch), String(steps), String(threads)], { encoding: 'utf8' });
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
const round2 = (x: number) => Math.round(x * 100) / 100;

// The pure-JS cpu backend is left out: about 27 s a step for this net (0.5-1 img/s), it would dominate the run.
let backend = 'tensorflow';
try {
  await initBackend('tensorflow');
} catch {
  backend = 'wasm';
  await initBackend('wasm');
}
const timers = new Map<number, Awaited<ReturnType<typeof latnasTimer>>>();
for (const n of counts) timers.set(n, await latnasTimer(n, backend));
const ours = new Map<number, Rates[]>(counts.map((n) => [n, []]));
const theirs = new Map<number, Rates[]>(counts.map((n) => [n, []]));
const trainRatios = new Map<number, number[]>(counts.map((n) => [n, []]));
const inferRatios = new Map<number, number[]>(counts.map((n) => [n, []]));
/** A data-parallel worker's share of the batch (the larger, where it is odd). */
const half = Math.ceil(batch / 2);
const scaling: number[] = [];
const ceiling: number[] = [];
/** Per round: a half-batch step's images/s over a whole batch's (alone), and two at once over twice one alone. */
const halfAlone: number[] = [], together: number[] = [];
const ceilingPools = counts.includes(1) && counts.includes(2)
  ? await Promise.all([0, 1].map(async () => latnasTimer(1, backend, half, true))) : undefined;
let torchMissing = false;
for (let r = 0; r < rounds; r++) {
  const mine = new Map<number, Rates>();
  for (const n of counts) {
    const a = await timers.get(n)!.time();
    mine.set(n, a);
    ours.get(n)!.push(a);
    console.log(`round ${r + 1}: latnas ${backend} ${n} worker${n > 1 ? 's' : ''}: train ${a.train.toFixed(1)} img/s, inference ${a.infer.toFixed(1)} img/s`);
  }
  if (mine.has(1) && mine.has(2)) scaling.push(mine.get(2)!.train / mine.get(1)!.train);
  if (ceilingPools) {
    // One of them alone first: the half batch's own cost, apart from the two cores' contention.
    // Training only: one pool's inference would run beside the other's training.
    const alone = (await ceilingPools[0]!.time(false)).train;
    const both = await Promise.all(ceilingPools.map((t) => t.time(false)));
    const c = (both[0]!.train + both[1]!.train) / mine.get(1)!.train;
    ceiling.push(c);
    halfAlone.push(alone / mine.get(1)!.train);
    together.push((both[0]!.train + both[1]!.train) / (2 * alone));
    console.log(`round ${r + 1}: one 1-worker training of ${half} a step alone: ${alone.toFixed(1)} img/s, ${(alone / mine.get(1)!.train).toFixed(2)}× the whole batch's rate`);
    console.log(`round ${r + 1}: two independent 1-worker trainings of ${half} a step at once: ${both.map((b) => b.train.toFixed(1)).join(' + ')} img/s, ${c.toFixed(2)}× one alone (the two-core ceiling)`);
  }
  for (const n of counts) {
    const t = torchMissing ? undefined : timeTorch(n);
    if (!t) { torchMissing = true; continue; }
    theirs.get(n)!.push(t);
    const a = mine.get(n)!;
    trainRatios.get(n)!.push(a.train / t.train);
    inferRatios.get(n)!.push(a.infer / t.infer);
    console.log(`round ${r + 1}: pytorch ${torchVersion} ${n} thread${n > 1 ? 's' : ''}: train ${t.train.toFixed(1)} img/s, inference ${t.infer.toFixed(1)} img/s; `
      + `ratio train ${(a.train / t.train).toFixed(2)}, inference ${(a.infer / t.infer).toFixed(2)}`);
  }
}
for (const t of [...timers.values(), ...(ceilingPools ?? [])]) await t.engine.close();

const med = (xs: Rates[] | undefined, k: keyof Rates) => (xs?.length ? round2(median(xs.map((x) => x[k]))) : null);
const byCount = (m: Map<number, number[]>) => Object.fromEntries(counts.map((n) => [String(n), m.get(n)!.length ? round2(median(m.get(n)!)) : null]));
const first = counts[0]!;
console.log(JSON.stringify({
  bench: 'train-throughput', space: space.name, batch, threads: first, workers: counts, backend, rounds, cpu: cpus()[0]?.model ?? 'unknown',
  latnas_train_ips: med(ours.get(first), 'train'), latnas_infer_ips: med(ours.get(first), 'infer'),
  torch_train_ips: med(theirs.get(first), 'train'), torch_infer_ips: med(theirs.get(first), 'infer'),
  train_ratio_vs_torch: byCount(trainRatios)[String(first)], infer_ratio_vs_torch: byCount(inferRatios)[String(first)],
  train_ratio_vs_torch_by_threads: byCount(trainRatios), infer_ratio_vs_torch_by_threads: byCount(inferRatios),
  latnas_train_ips_by_workers: Object.fromEntries(counts.map((n) => [String(n), med(ours.get(n), 'train')])),
  torch_train_ips_by_threads: Object.fromEntries(counts.map((n) => [String(n), med(theirs.get(n), 'train')])),
  scaling_2_vs_1: scaling.length ? round2(median(scaling)) : null,
  ceiling_2_vs_1: ceiling.length ? round2(median(ceiling)) : null,
  half_batch_rate_vs_whole: halfAlone.length ? round2(median(halfAlone)) : null,
  two_at_once_vs_alone: together.length ? round2(median(together)) : null,
  scaling_by_round: scaling.map(round2), ceiling_by_round: ceiling.map(round2),
  train_ratios_by_round: Object.fromEntries(counts.map((n) => [String(n), trainRatios.get(n)!.map(round2)])),
}));
