import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { computeNormalization } from '../src/datasets/normalize.js';
import { loadDataset } from '../src/datasets/load.js';
import { loadLut } from '../src/lut/lut.js';
import { baselinePath } from '../src/search/baseline.js';
import { evolutionSteps, initialState, runEvolution, type EvolutionOptions } from '../src/search/evolution.js';
import { LatencyModel } from '../src/search/latency.js';
import { SupernetPool } from '../src/search/parallel/pool.js';
import { openSupernet, scoringSplit } from '../src/search/scoring.js';
import { search, SEARCH_DEFAULTS, type SearchOptions } from '../src/search/search.js';
import { loadSpace } from '../src/space/spaces.js';
import { Supernet } from '../src/supernet/supernet.js';
import { initBackend } from '../src/train/backend.js';
import { readTensorFile } from '../src/train/tensor-file.js';
import { Rng } from '../src/util/rng.js';
import { cli, ROOT, tempDir } from './helpers.js';
import { writeTinyIdx } from './tiny-idx.js';

const TABLE = join(ROOT, 'latency-tables/ort-cpu-1t/fbnet-mini.json');
const dir = tempDir();
// On disk, so the CLI runs below read the very images the in-process searches do.
const DATA = writeTinyIdx(join(dir, 'data'), 320, 64);
const SETTINGS = { epochs: 3, stepsPerEpoch: 3, batch: 16, evalImages: 64, calibrationBatches: 1, population: 4, cycles: 4, sampleSize: 2 };

async function options(out: string, workers: number): Promise<SearchOptions> {
  const backend = await initBackend('wasm');
  const space = loadSpace('fbnet-mini');
  const { epochs, stepsPerEpoch, batch, evalImages, calibrationBatches, population, cycles, sampleSize } = SETTINGS;
  return {
    ...SEARCH_DEFAULTS, space, lut: loadLut(TABLE, { space }), lutPath: TABLE, dataset: loadDataset(DATA), strategy: 'evolution', target: 'baseline', out,
    resume: false, quiet: true, backend: backend.name, epochs, stepsPerEpoch, batch, evalImages, calibrationBatches, evolution: { population, cycles, sampleSize }, workers,
    // Data-parallel weight steps at this small batch too (the default starts at 32 images per worker).
    parallelStepsFrom: 1,
  };
}

const read = (d: string, f: string) => JSON.parse(readFileSync(join(d, f), 'utf8'));
const tensors = (d: string) => [...readTensorFile(join(d, 'search-state.bin'), 'search state').tensors.values()].map((t) => [t.name, Array.from(t.data)]);

test('a 2-worker evolution search is bit-reproducible, and serial scoring of its supernet gives its accuracies exactly', async () => {
  const a = join(dir, 'a'), b = join(dir, 'b');
  const ra = await search(await options(a, 2));
  const rb = await search(await options(b, 2));
  assert.deepEqual(rb, ra);
  assert.deepEqual(read(b, 'visited.json'), read(a, 'visited.json'));
  assert.deepEqual(read(b, 'evolution.json'), read(a, 'evolution.json'));
  assert.deepEqual(tensors(b), tensors(a));
  const log = read(a, 'search-log.json') as { workers: number; epochs: { loss: number }[] };
  assert.equal(log.workers, 2);
  assert.deepEqual((read(b, 'search-log.json') as typeof log).epochs.map((e) => e.loss), log.epochs.map((e) => e.loss));

  // The supernet search-state.bin saved, scored in this thread one arch after another: what the workers gave, to the bit.
  const o = await options(a, 1);
  const scorer = openSupernet(a, { space: o.space, dataset: o.dataset, calibrationBatches: SETTINGS.calibrationBatches, evalImages: SETTINGS.evalImages });
  try {
    const visited = read(a, 'visited.json') as { path: number[]; acc: number }[];
    assert.equal(visited.length, SETTINGS.population + SETTINGS.cycles);
    assert.ok(new Set(visited.map((v) => v.acc)).size > 1, `every arch scored ${visited[0]!.acc}: the comparison would prove little`);
    // In reverse: an arch's score must not depend on the archs scored before it.
    for (const v of [...visited].reverse()) assert.equal(scorer.accuracy(v.path), v.acc);
  } finally {
    scorer.dispose();
  }
});

test('a 2-worker dnas search (θ steps in the main thread between the workers\' weight epochs) scores its archs as serial scoring does', async () => {
  const out = join(dir, 'dnas');
  const o = await options(out, 2);
  await search({ ...o, strategy: 'dnas', epochs: 2, dnas: { warmup: 0, samples: 4 } });
  const log = read(out, 'search-log.json') as { epochs: { thetaLoss: number | null }[] };
  assert.ok(log.epochs.every((e) => Number.isFinite(e.thetaLoss)), JSON.stringify(log.epochs));
  const scorer = openSupernet(out, { space: o.space, dataset: o.dataset, calibrationBatches: SETTINGS.calibrationBatches, evalImages: SETTINGS.evalImages });
  try {
    for (const v of read(out, 'visited.json') as { path: number[]; acc: number }[]) assert.equal(scorer.accuracy(v.path), v.acc);
    assert.equal((read(out, 'arch.json') as { baseline: { acc: number } }).baseline.acc, scorer.accuracy(baselinePath(o.space)));
  } finally {
    scorer.dispose();
  }
});

const searchArgs = (out: string, workers: number) => [
  'search', '--table', TABLE, '--dataset', DATA, '--backend', 'wasm', '--strategy', 'evolution', '--epochs', String(SETTINGS.epochs),
  // Batch 64: 32 images per worker, where the CLI's search runs its weight steps data-parallel.
  '--steps-per-epoch', String(SETTINGS.stepsPerEpoch), '--batch', '64', '--eval-images', String(SETTINGS.evalImages),
  '--calibration-batches', String(SETTINGS.calibrationBatches), '--population', String(SETTINGS.population), '--cycles', String(SETTINGS.cycles),
  '--sample-size', String(SETTINGS.sampleSize), '--workers', String(workers), '--out', out, '--quiet'];

test('a 2-worker search killed after an epoch resumes with 1 worker', async () => {
  const out = join(dir, 'killed');
  const child = spawn(process.execPath, [join(ROOT, 'bin/latnas.js'), ...searchArgs(out, 2)], { stdio: 'ignore' });
  const state = join(out, 'search-state.bin');
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (existsSync(state)) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('close', () => { clearInterval(timer); resolve(); });
  });
  assert.ok(existsSync(state), 'no state was written');
  assert.ok(!existsSync(join(out, 'arch.json')), 'the search finished before it was killed');
  const resumed = cli([...searchArgs(out, 1), '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const done = Number(/resumed after epoch (\d)/.exec(resumed.stdout)?.[1]);
  assert.ok(done >= 1 && done < SETTINGS.epochs, resumed.stdout);
  // The epochs the killed run finished are those of an uninterrupted 2-worker search at its batch: its state carried them over.
  const whole = join(dir, 'whole64');
  await search({ ...(await options(whole, 2)), batch: 64, parallelStepsFrom: undefined });
  const epochs = (d: string) => (read(d, 'search-log.json') as { epochs: { loss: number; trainAcc: number }[] }).epochs.map((e) => [e.loss, e.trainAcc]);
  assert.deepEqual(epochs(out).slice(0, done), epochs(whole).slice(0, done));
  assert.equal((read(out, 'search-log.json') as { workers: number }).workers, 1);
  assert.equal((read(out, 'visited.json') as unknown[]).length, SETTINGS.population + SETTINGS.cycles);
});

test('a search worker that dies, or fails, ends the search with one line naming it', async () => {
  const o = await options(join(dir, 'unused'), 2);
  const net = new Supernet(o.space, o.seed);
  const { split, trainIdx } = scoringSplit(o.dataset, o.valFraction, o.seed);
  const setup = {
    space: o.space, seed: o.seed, dataset: o.dataset, norm: computeNormalization(o.dataset, split.train), wIdx: trainIdx, trainIdx, val: split.val,
    scoring: { batch: 16, seed: o.seed, calibrationBatches: 1, evalImages: 32 }, momentum: 0.9,
  };
  try {
    const pool = await SupernetPool.start(setup, net, 2, 'wasm');
    const threads = (pool as unknown as { threads: { threads: { terminate(): Promise<number> }[] } }).threads.threads;
    const rng = new Rng(1);
    const choices = Array.from({ length: 6 }, () => ({ path: net.randomPath(rng) }));
    let steps = 0;
    const epoch = pool.weightEpoch({ epoch: 0, steps: 6, totalSteps: 6, batch: 16, lr: 0.1, weightDecay: 4e-5, choices }, () => {
      if (++steps === 2) void threads[1]!.terminate();
    });
    await assert.rejects(epoch, /^LatnasError: search worker 2 of 2 exited unexpectedly \(exit code 1\); search-state.bin keeps the last finished epoch: rerun with --resume/);
    await pool.close();

    const again = await SupernetPool.start(setup, net, 2, 'wasm');
    try {
      await assert.rejects(again.scoring().accuracies([[0, 0], [0, 0]]), /^LatnasError: search worker [12] of 2: path has 2 entries; space 'fbnet-mini' has 12 searchable layers$/);
    } finally {
      await again.close();
    }
  } finally {
    net.dispose();
  }
});

test('evolution in generations of N children: the initial population of the serial one, the N children scored together, resumable between generations', () => {
  const space = loadSpace('fbnet-mini');
  const latency = new LatencyModel(space, loadLut(TABLE, { space }), TABLE);
  const evolution = (generation: number, onCycle?: EvolutionOptions['onCycle']): EvolutionOptions => ({
    sizes: latency.table.map((r) => r.length), population: 12, cycles: 40, sampleSize: 4, mutationProb: 0.2, crossoverProb: 0.5, objective: 'hard',
    targetMs: 0.1, latency: (p) => latency.pathMs(p), accuracy: (p) => Math.min(1, latency.pathMs(p) / 0.3), generation, onCycle,
  });
  try {
    const serial = runEvolution(evolution(1), initialState(7));
    let saves = 0;
    const whole = runEvolution(evolution(3, () => { saves++; }), initialState(7));
    assert.deepEqual(whole.state.history.slice(0, 12), serial.state.history.slice(0, 12));
    assert.notDeepEqual(whole.state.history, serial.state.history);
    assert.equal(whole.state.cycle, 40);
    // Saved once after the population, then once per generation of 3 (the last one of 1).
    assert.equal(saves, 1 + Math.ceil(40 / 3));
    // The archs are asked for 3 at a time (fewer when some were scored before).
    const steps = evolutionSteps(evolution(3), initialState(7));
    const sizes: number[] = [];
    for (let next = steps.next(); !next.done; next = steps.next(next.value.map(() => 0.5))) sizes.push(next.value.length);
    assert.ok(sizes.every((n) => n >= 1 && n <= 3) && sizes.filter((n) => n === 3).length > 10, `request sizes ${sizes.join(',')}`);
    let saved = '';
    assert.throws(() => runEvolution(evolution(3, (s) => {
      saved = JSON.stringify(s);
      if (s.cycle === 18) throw new Error('killed');
    }), initialState(7)), /killed/);
    assert.deepEqual(runEvolution(evolution(3), JSON.parse(saved)).state, whole.state);
  } finally {
    latency.dispose();
  }
});
