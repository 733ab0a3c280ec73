/**
 * `latnas search`: finds the most accurate arch of a space whose LUT latency meets a target.
 *
 * - dnas (FBNet): architecture logits θ per layer; the supernet's weights train on 80% of the
 *   training split along Gumbel-sampled paths, θ on the other 20% with Adam under
 *   CE · α · (log LAT)^β + a hinge at the target (see objective.ts), τ annealed per epoch. Then
 *   archs are sampled from softmax(θ), those within the target evaluated with inherited weights,
 *   and the best by validation accuracy kept.
 * - evolution (SPOS / OFA / MnasNet): the supernet trains along uniformly sampled paths, then
 *   aging evolution scores archs by inherited-weight validation accuracy and LUT latency.
 *
 * A run folder keeps everything: `search-state.bin` (supernet, θ and optimiser state, rewritten
 * atomically after every epoch), `evolution.json` (after every cycle), then `arch.json`,
 * `visited.json`, `pareto.json`, `pareto.svg`, `search-log.json` and `curves.svg`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { BatchStream } from '../datasets/batches.js';
import type { Dataset } from '../datasets/dataset.js';
import { computeNormalization } from '../datasets/normalize.js';
import { shuffleInPlace, splitTrainVal } from '../datasets/split.js';
import { fail } from '../errors.js';
import { spaceFingerprint, type Lut } from '../lut/lut.js';
import { formatBlock } from '../space/blocks.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import { Supernet, type Path } from '../supernet/supernet.js';
import { SgdMomentum } from '../train/optim.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from '../train/tensor-file.js';
import { checkDatasetFits, cosineLr, restore, snapshot } from '../train/trainer.js';
import { readJsonFile } from '../util/validate.js';
import { writeJsonAtomic, writeFileAtomic } from '../util/files.js';
import { describeChange } from '../util/changes.js';
import { findNonFinite } from '../util/finite.js';
import { lockFolder, yieldToEventLoop } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { baselinePath } from './baseline.js';
import { evolutionSteps, initialState, parseEvolutionState, pathKey, type EvolutionState } from './evolution.js';
import { gumbelNoise, gumbelSoftmax, hardGumbel, sampleCategorical, temperature } from './gumbel.js';
import { checkTarget, LatencyModel } from './latency.js';
import { fbnetLoss, type EvolutionObjective, type TargetPenalty } from './objective.js';
import { curvesSvg, paretoFront, paretoSvg, type ParetoPoint } from './plots.js';

export type Strategy = 'dnas' | 'evolution';
export const STRATEGIES: readonly Strategy[] = ['dnas', 'evolution'];

export interface SearchOptions {
  space: Space;
  lut: Lut;
  lutPath: string;
  dataset: Dataset;
  strategy: Strategy;
  /** Milliseconds, or the baseline arch's LUT latency. */
  target: number | 'baseline';
  out: string;
  seed: number;
  resume: boolean;
  quiet?: boolean;
  backend: string;
  /** Supernet training epochs (dnas: weights and θ; evolution: before the evolution). */
  epochs: number;
  batch: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Caps weight steps per epoch (a budget knob and for smoke runs). */
  stepsPerEpoch?: number;
  valFraction: number;
  /** BatchNorm recalibration batches per evaluated arch, and validation images used to score it. */
  calibrationBatches: number;
  evalImages: number;
  /** evolution: start from the trained supernet of another run folder (OFA: train once, search many targets). */
  supernetFrom?: string;
  dnas: { mode: 'gated' | 'mixed'; alpha: number; beta: number; penalty: number; penaltyMode: TargetPenalty; thetaLr: number; warmup: number; samples: number; tau0: number; tauDecay: number };
  evolution: { population: number; cycles: number; sampleSize: number; mutationProb: number; crossoverProb: number; objective: EvolutionObjective };
}

export interface EpochLog {
  epoch: number;
  seconds: number;
  lr: number;
  /** Weight-step loss and accuracy on the sampled paths. */
  loss: number;
  trainAcc: number;
  /** dnas only: θ-step loss and CE, temperature, latency under softmax(θ), and its argmax arch. */
  thetaLoss: number | null;
  thetaCe: number | null;
  temperature: number | null;
  expectedMs: number | null;
  argmaxMs: number | null;
  argmax: string[] | null;
}

interface StateMeta {
  version: 1;
  /** What must match for --resume to continue this run. */
  identity: Record<string, unknown>;
  epochsDone: number;
  log: EpochLog[];
  searchSeconds: number;
}

/** JSON writes NaN as null. */
const numberOrNull = z.number().nullable();

/** The meta of search-state.bin, checked when a search resumes or reuses a supernet (--supernet). */
const StateMetaSchema: z.ZodType<StateMeta> = z.object({
  version: z.literal(1),
  identity: z.record(z.string(), z.unknown()),
  epochsDone: z.number().int().nonnegative(),
  log: z.array(z.object({
    epoch: z.number().int().min(1), seconds: z.number().nonnegative(), lr: z.number(), loss: z.number(), trainAcc: z.number().min(0).max(1),
    thetaLoss: numberOrNull, thetaCe: numberOrNull, temperature: numberOrNull, expectedMs: numberOrNull, argmaxMs: numberOrNull,
    argmax: z.array(z.string()).nullable(),
  })),
  searchSeconds: z.number().nonnegative(),
});

export interface Visited { blocks: string[]; path: number[]; latencyMs: number; acc: number; source: string }

export interface SearchResult { blocks: string[]; predictedMs: number; targetMs: number; valAcc: number; resumedFrom: number }

const STATE_FILE = 'search-state.bin';
const EVOLUTION_FILE = 'evolution.json';
/** The files `latnas search` writes into its run folder. */
export const SEARCH_FILES = [STATE_FILE, EVOLUTION_FILE, 'arch.json', 'visited.json', 'pareto.json', 'pareto.svg', 'search-log.json', 'curves.svg'] as const;

function identityOf(o: SearchOptions, targetMs: number): Record<string, unknown> {
  return {
    space: o.space.name, spaceFingerprint: spaceFingerprint(o.space), lutDevice: o.lut.device, lutCreated: o.lut.provenance,
    strategy: o.strategy, targetMs, seed: o.seed, dataset: o.dataset.spec, epochs: o.epochs, batch: o.batch, lr: o.lr,
    stepsPerEpoch: o.stepsPerEpoch ?? null, valFraction: o.valFraction,
    ...(o.strategy === 'dnas' ? { dnas: o.dnas } : { evolution: o.evolution, supernetFrom: o.supernetFrom ?? null }),
  };
}

/**
 * The target in ms ('baseline': the MobileNetV2-style arch's LUT latency); fails at once when no
 * arch of the space can meet it. Cheap: the CLI calls it before loading data or a backend.
 */
export function resolveTarget(space: Space, lut: Lut, lutPath: string, target: number | 'baseline'): { targetMs: number; baselineMs: number } {
  const latency = new LatencyModel(space, lut, lutPath);
  const layers = searchableLayers(space);
  const baselineMs = latency.pathMs(baselinePath(space));
  const targetMs = target === 'baseline' ? baselineMs : target;
  checkTarget(latency, targetMs, (p) => p.map((i, l) => layers[l]!.candidates[i]!), lutPath);
  return { targetMs, baselineMs };
}

/**
 * The splits a search uses: validation to score archs; the rest trains (dnas: 80% weights, 20% θ).
 * Fails with one line when one of them cannot do its job, before anything is written: an empty
 * validation split scores every arch 0%, a θ split smaller than a batch never moves θ.
 */
export function searchSplits(o: Pick<SearchOptions, 'dataset' | 'valFraction' | 'seed' | 'strategy' | 'batch' | 'stepsPerEpoch'>) {
  const split = splitTrainVal(o.dataset, o.valFraction, o.seed);
  if (split.val.length === 0) {
    fail(`the validation split of ${o.dataset.spec} is empty (--val-fraction ${o.valFraction} of ${o.dataset.train.count} training images), so every arch would score 0%; raise --val-fraction (e.g. 0.1)`);
  }
  const trainIdx = Uint32Array.from(split.train);
  shuffleInPlace(trainIdx, new Rng(o.seed * 31 + 7));
  const cut = o.strategy === 'dnas' ? Math.floor(trainIdx.length * 0.8) : trainIdx.length;
  const wIdx = trainIdx.subarray(0, cut);
  const thetaIdx = trainIdx.subarray(cut);
  const stepsPerEpoch = Math.min(o.stepsPerEpoch ?? Infinity, Math.floor(wIdx.length / o.batch));
  const thetaSteps = Math.min(Math.ceil(stepsPerEpoch * thetaIdx.length / Math.max(1, wIdx.length)), Math.floor(thetaIdx.length / o.batch));
  if (stepsPerEpoch < 1) fail(`--batch ${o.batch} is larger than the ${wIdx.length} images the supernet's weights train on (${o.dataset.spec}); lower --batch to at most ${wIdx.length}`);
  if (o.strategy === 'dnas' && thetaSteps < 1) {
    fail(`--batch ${o.batch} is larger than the ${thetaIdx.length} images dnas trains θ on (20% of the training split of ${o.dataset.spec}), so θ would never move; lower --batch to at most ${thetaIdx.length}`);
  }
  return { split, trainIdx, wIdx, thetaIdx, stepsPerEpoch, thetaSteps };
}

export async function search(o: SearchOptions): Promise<SearchResult> {
  checkDatasetFits(o.space, o.dataset);
  resolveTarget(o.space, o.lut, o.lutPath, o.target);
  const splits = searchSplits(o);
  const lock = lockFolder(o.out);
  try {
    return await searchLocked(o, splits);
  } finally {
    lock.release();
  }
}

async function searchLocked(o: SearchOptions, splits: ReturnType<typeof searchSplits>): Promise<SearchResult> {
  const net = new Supernet(o.space, o.seed);
  const latency = new LatencyModel(o.space, o.lut, o.lutPath);
  const blocksOf = (p: Path) => net.blocksOf(p).map(formatBlock);
  const baseline = baselinePath(o.space);
  const { targetMs, baselineMs } = resolveTarget(o.space, o.lut, o.lutPath, o.target);
  const say = (line: string) => { if (!o.quiet) process.stderr.write(`${line}\n`); };
  say(`search: ${o.strategy} on space '${o.space.name}' (${net.size.toExponential(2)} archs), target ${targetMs.toFixed(4)} ms (baseline ${blocksOf(baseline).length}x MobileNetV2-style: ${baselineMs.toFixed(4)} ms; fastest ${latency.fastest().ms.toFixed(4)} ms)`);

  prepareOutputFolder(o.out);
  const statePath = join(o.out, STATE_FILE);
  const evolutionPath = join(o.out, EVOLUTION_FILE);
  const identity = identityOf(o, targetMs);
  const theta = net.layers.map((l, i) => tf.variable(tf.zeros([l.candidates.length]), true, `search/theta.${i}`) as tf.Variable<tf.Rank.R1>);
  const wOpt = new SgdMomentum(o.lr, o.momentum, true);
  const thetaOpt = tf.train.adam(o.dnas.thetaLr);
  // tfjs types Adam's input as variables; it takes gradient tensors (θ is the same list every step).
  const thetaApplier = { applyGradients: (g: tf.NamedTensorMap) => thetaOpt.applyGradients(g as unknown as Parameters<typeof thetaOpt.applyGradients>[0]) };
  let meta: StateMeta = { version: 1, identity, epochsDone: 0, log: [], searchSeconds: 0 };

  if (!o.resume) {
    // Name what the folder really holds: a finished search is not "in progress".
    if (existsSync(join(o.out, 'arch.json'))) {
      fail(`run folder '${o.out}' already holds a finished search (arch.json); choose another --out, or pass --resume to score its archs again with the same settings`);
    }
    const partial = [STATE_FILE, EVOLUTION_FILE].filter((f) => existsSync(join(o.out, f)));
    if (partial.length > 0) fail(`run folder '${o.out}' holds an unfinished search (${partial.join(', ')}); pass --resume to continue it with the same settings, or choose another --out`);
  }
  const corrupt = `delete it to start the search over, or choose another --out`;
  if (o.resume && existsSync(statePath)) {
    const st = readTensorFile(statePath, 'search state', { meta: StateMetaSchema, fix: corrupt });
    const saved = st.meta;
    const change = describeChange(saved.identity, identity);
    if (change) fail(`cannot resume '${o.out}': the search settings changed (${change}); rerun with the original settings or choose another --out`);
    restore([...net.allVariables(), ...theta], st.tensors, statePath, 'it was made by another supernet layout (an older latnas?); start a new --out');
    wOpt.restore(st.tensors.values());
    const adam = [...st.tensors.values()].filter((t) => t.name.startsWith('adam/')).map((t) => ({ name: t.name.slice('adam/'.length), tensor: tf.tensor(t.data, t.shape) }));
    if (adam.length > 0) await thetaOpt.setWeights(adam);
    meta = saved;
    say(`search: resumed after epoch ${meta.epochsDone} of ${o.epochs}`);
  }
  const resumedFrom = meta.epochsDone;
  if (o.supernetFrom && meta.epochsDone === 0) {
    if (o.strategy !== 'evolution') fail('--supernet applies to --strategy evolution only (dnas trains its supernet with its own θ)');
    const from = join(o.supernetFrom, STATE_FILE);
    if (!existsSync(from)) fail(`--supernet '${o.supernetFrom}' has no ${STATE_FILE}; give the run folder of a search of space '${o.space.name}'`);
    const st = readTensorFile(from, 'search state', { meta: StateMetaSchema, fix: `give the run folder of another search, or search again there to train a new supernet` });
    const other = st.meta.identity;
    if (other['spaceFingerprint'] !== identity['spaceFingerprint']) fail(`--supernet '${o.supernetFrom}' was trained for another space (${String(other['space'])}); use a run of space '${o.space.name}'`);
    restore(net.allVariables(), st.tensors, from, 'it was made by another supernet layout (an older latnas?); search again to train a new one');
    const fromMeta = st.meta;
    meta.log = fromMeta.log;
    meta.epochsDone = o.epochs;
    say(`search: supernet from '${o.supernetFrom}' (${fromMeta.epochsDone} epochs, ${String(other['strategy'])}); no supernet training`);
  }

  const { split, trainIdx, wIdx, thetaIdx, stepsPerEpoch, thetaSteps } = splits;
  const norm = computeNormalization(o.dataset, split.train);
  const totalSteps = stepsPerEpoch * o.epochs;
  const { h, w, c } = o.space.input;
  const toX = (b: { x: Float32Array; size: number }) => tf.tensor4d(b.x.subarray(0, b.size * h * w * c), [b.size, h, w, c]);
  const started = Date.now() - meta.searchSeconds * 1000;

  const saveState = (epoch: number) => {
    const tensors: StoredTensor[] = [...snapshot([...net.allVariables(), ...theta]), ...wOpt.state()];
    return thetaOpt.getWeights().then((ws) => {
      for (const t of ws) tensors.push({ name: `adam/${t.name}`, shape: t.tensor.shape, data: t.tensor.dataSync() as Float32Array });
      // A finite last loss does not prove finite weights: its update may have made them NaN.
      const bad = findNonFinite(tensors);
      if (bad) {
        fail(`search diverged: '${bad.name}' became ${bad.value} in epoch ${epoch + 1}; nothing was saved and ${epoch > 0 ? `the state of epoch ${epoch} in '${statePath}' is kept` : 'no state was written'}; lower --lr${o.strategy === 'dnas' ? ' or --theta-lr' : ''}`);
      }
      meta.searchSeconds = (Date.now() - started) / 1000;
      writeTensorFile(statePath, meta, tensors);
    });
  };
  const softmaxTheta = () => theta.map((t) => tf.tidy(() => tf.softmax(t).dataSync() as Float32Array));
  const argmaxPath = () => softmaxTheta().map((p) => p.indexOf(Math.max(...p)));

  try {
    for (let epoch = meta.epochsDone; epoch < o.epochs; epoch++) {
      const epochStarted = Date.now();
      // Per-epoch seeds: a resumed run draws what an uninterrupted one would.
      const rng = new Rng(o.seed * 7777 + epoch);
      const tau = temperature(epoch, o.dnas.tau0, o.dnas.tauDecay);
      const dnas = o.strategy === 'dnas';
      const stream = new BatchStream(o.dataset, { batchSize: o.batch, norm, seed: o.seed * 1009 + epoch, indices: wIdx, dropLast: true, augment: o.dataset.augment });
      const bar = progress(`search epoch ${epoch + 1}/${o.epochs}${dnas ? ' weights' : ''}`, stepsPerEpoch, o.quiet);
      let lossSum = 0, hits = 0, seen = 0, step = 0, lr = o.lr;
      for (const b of stream.epoch()) {
        if (step >= stepsPerEpoch) break;
        lr = cosineLr(o.lr, epoch * stepsPerEpoch + step, totalSteps);
        wOpt.learningRate = lr;
        const x = toX(b);
        let r;
        if (dnas && o.dnas.mode === 'mixed') {
          const mixed = theta.map((t) => gumbelSoftmax(t, gumbelNoise(rng, t.shape[0]), tau));
          r = net.step(x, b.y.subarray(0, b.size), () => ({ mixed }), { optimizer: wOpt, vars: net.trainableVariables(), weightDecay: o.weightDecay });
          tf.dispose(mixed);
        } else {
          // Hard Gumbel sample (argmax of θ + g, independent of τ) or uniform.
          const path = dnas ? theta.map((t) => tf.tidy(() => { const s = hardGumbel(t, gumbelNoise(rng, t.shape[0]), tau); return s.index; })) : net.randomPath(rng);
          r = net.step(x, b.y.subarray(0, b.size), () => ({ path }), { optimizer: wOpt, vars: net.trainableVariables(path), weightDecay: o.weightDecay });
        }
        x.dispose();
        if (!Number.isFinite(r.loss)) fail(`search loss became ${r.loss} at epoch ${epoch + 1}, step ${step + 1}; the state of epoch ${meta.epochsDone} in '${statePath}' is kept; lower --lr`);
        lossSum += r.ce * b.size; hits += r.hits; seen += b.size; step++;
        bar.increment(1, `loss ${(lossSum / seen).toFixed(4)} acc ${(hits / seen).toFixed(3)}`);
        await yieldToEventLoop();
      }
      bar.stop();

      let thetaLoss: number | null = null, thetaCe: number | null = null;
      if (dnas && epoch >= o.dnas.warmup) {
        const tStream = new BatchStream(o.dataset, { batchSize: o.batch, norm, seed: o.seed * 2003 + epoch, indices: thetaIdx, dropLast: true });
        const tBar = progress(`search epoch ${epoch + 1}/${o.epochs} θ`, thetaSteps, o.quiet);
        let ls = 0, cs = 0, n = 0;
        for (const b of tStream.epoch()) {
          if (n >= thetaSteps) break;
          const x = toX(b);
          let lat: tf.Scalar | undefined;
          const r = net.step(x, b.y.subarray(0, b.size), () => {
            // Expected latency under softmax(θ), the distribution paths are drawn from (Gumbel-max),
            // not under the τ-flattened relaxed samples: measured, with those the penalty saw
            // ~0.11 ms while softmax(θ) had reached 0.21 ms, and pushed the wrong way.
            lat = latency.expected(theta.map((t) => tf.softmax(t) as tf.Tensor1D));
            if (o.dnas.mode === 'mixed') return { mixed: theta.map((t) => gumbelSoftmax(t, gumbelNoise(rng, t.shape[0]), tau)) };
            const samples = theta.map((t) => hardGumbel(t, gumbelNoise(rng, t.shape[0]), tau));
            return { path: samples.map((s) => s.index), gates: samples.map((s) => s.gate) };
          }, { optimizer: thetaApplier, vars: theta, objective: (ce) => fbnetLoss(ce, lat!, { alpha: o.dnas.alpha, beta: o.dnas.beta, penalty: o.dnas.penalty, penaltyMode: o.dnas.penaltyMode, targetMs }) });
          x.dispose();
          if (!Number.isFinite(r.loss)) fail(`search θ loss became ${r.loss} at epoch ${epoch + 1}, θ step ${n + 1}; the state of epoch ${meta.epochsDone} in '${statePath}' is kept; lower --theta-lr (or --lr, if the weights diverged)`);
          ls += r.loss; cs += r.ce; n++;
          tBar.increment(1, `loss ${(ls / n).toFixed(4)}`);
          await yieldToEventLoop();
        }
        tBar.stop();
        if (n > 0) { thetaLoss = ls / n; thetaCe = cs / n; }
        // The last θ step's loss was finite, but its update may not be: a NaN θ has no argmax arch to log.
        const badTheta = findNonFinite(snapshot(theta));
        if (badTheta) fail(`search diverged: '${badTheta.name}' became ${badTheta.value} at epoch ${epoch + 1}, θ step ${n} (θ loss ${(ls / Math.max(n, 1)).toPrecision(4)}); nothing was saved and ${epoch > 0 ? `the state of epoch ${epoch} in '${statePath}' is kept` : 'no state was written'}; lower --theta-lr`);
      }
      const probs = softmaxTheta();
      const expectedMs = dnas ? latency.fixedMs + probs.reduce((s, p, l) => s + p.reduce((a, v, i) => a + v * latency.table[l]![i]!, 0), 0) : null;
      const am = argmaxPath();
      meta.log.push({
        epoch: epoch + 1, seconds: (Date.now() - epochStarted) / 1000, lr, loss: lossSum / seen, trainAcc: hits / seen,
        thetaLoss, thetaCe, temperature: dnas ? tau : null, expectedMs, argmaxMs: dnas ? latency.pathMs(am) : null, argmax: dnas ? blocksOf(am) : null,
      });
      meta.epochsDone = epoch + 1;
      await saveState(epoch);
      const e = meta.log[meta.log.length - 1]!;
      say(`search epoch ${epoch + 1}: loss ${e.loss.toFixed(4)}, acc ${e.trainAcc.toFixed(3)}${dnas ? `, θ loss ${thetaLoss?.toFixed(4) ?? '-'}, τ ${tau.toFixed(2)}, expected ${expectedMs!.toFixed(4)} ms, argmax ${e.argmaxMs!.toFixed(4)} ms` : ''}, ${e.seconds.toFixed(0)} s`);
    }

    // Scoring archs with inherited weights: fixed calibration batches, a fixed validation subset.
    const calibration = new BatchStream(o.dataset, { batchSize: o.batch, norm, seed: o.seed, indices: trainIdx, shuffle: false });
    const validation = new BatchStream(o.dataset, { batchSize: 256, norm, seed: o.seed, indices: split.val, shuffle: false });
    const accuracy = (p: readonly number[]) => net.evaluatePath(p, { calibration, calibrationBatches: o.calibrationBatches, validation, limit: o.evalImages });
    const visited: Visited[] = [];
    let chosen: Visited;

    if (o.strategy === 'dnas') {
      const rng = new Rng(o.seed * 4241 + 17);
      const probs = softmaxTheta();
      const candidates = new Map<string, { path: number[]; source: string }>();
      const am = argmaxPath();
      candidates.set(pathKey(am), { path: am, source: 'argmax' });
      for (let i = 0; i < o.dnas.samples; i++) {
        const p = probs.map((pr) => sampleCategorical(pr, rng));
        if (!candidates.has(pathKey(p))) candidates.set(pathKey(p), { path: p, source: 'sample' });
      }
      if (![...candidates.values()].some((cd) => latency.pathMs(cd.path) <= targetMs)) {
        const p = projectToTarget(am, probs, latency, targetMs);
        candidates.set(pathKey(p), { path: p, source: 'argmax projected to the target' });
      }
      const bar = progress('scoring sampled archs', candidates.size, o.quiet);
      for (const cd of candidates.values()) {
        visited.push({ blocks: blocksOf(cd.path), path: cd.path, latencyMs: latency.pathMs(cd.path), acc: accuracy(cd.path), source: cd.source });
        bar.increment(1);
        await yieldToEventLoop();
      }
      bar.stop();
      const fit = visited.filter((v) => v.latencyMs <= targetMs);
      if (fit.length === 0) fail(`no sampled architecture meets the target ${targetMs.toFixed(4)} ms; raise --target-ms`);
      chosen = fit.reduce((a, b) => (b.acc > a.acc ? b : a));
    } else {
      let state: EvolutionState = initialState(o.seed * 3571 + 11);
      const sizes = net.layers.map((l) => l.candidates.length);
      if (o.resume && existsSync(evolutionPath)) {
        const data = readJsonFile(evolutionPath, 'evolution state');
        const source = `evolution state file '${evolutionPath}'`;
        // Older files carry no identity; newer ones must match the settings, as search-state.bin does.
        const saved = (data as { identity?: unknown } | null)?.identity;
        const change = saved && typeof saved === 'object' ? describeChange(saved as Record<string, unknown>, identity) : '';
        if (change) fail(`cannot resume '${o.out}': the search settings changed (${change}); rerun with the original settings or choose another --out`);
        state = parseEvolutionState(data, source, { sizes, population: o.evolution.population, cycles: o.evolution.cycles }, corrupt);
        say(`search: evolution resumed after cycle ${state.cycle} of ${o.evolution.cycles}`);
      }
      const ev = o.evolution;
      const bar = progress('evolution (archs scored)', ev.population + ev.cycles, o.quiet);
      let shown = Math.min(state.population.length, ev.population) + state.cycle;
      bar.increment(shown);
      const steps = evolutionSteps({
        sizes: net.layers.map((l) => l.candidates.length), population: ev.population, cycles: ev.cycles, sampleSize: ev.sampleSize,
        mutationProb: ev.mutationProb, crossoverProb: ev.crossoverProb, objective: ev.objective, targetMs,
        latency: (p) => latency.pathMs(p), accuracy,
        onCycle: (s) => {
          writeJsonAtomic(evolutionPath, { ...s, identity });
          const best = s.history.filter((x) => x.latencyMs <= targetMs).reduce((a, b) => (a && a.score >= b.score ? a : b), undefined as typeof s.history[number] | undefined);
          const done = Math.min(s.population.length, ev.population) + s.cycle;
          bar.increment(done - shown, best ? `best ${(100 * best.acc).toFixed(2)}% at ${best.latencyMs.toFixed(4)} ms` : '');
          shown = done;
        },
      }, state);
      let next = steps.next();
      // One arch scored per step; yielding between them keeps Ctrl-C working during the evolution.
      while (!next.done) {
        await yieldToEventLoop();
        next = steps.next();
      }
      const result = next.value;
      bar.stop();
      for (const s of result.state.history) visited.push({ blocks: blocksOf(s.path), path: s.path, latencyMs: s.latencyMs, acc: s.acc, source: s.cycle < 0 ? 'initial population' : `cycle ${s.cycle + 1}` });
      chosen = visited.find((v) => pathKey(v.path) === pathKey(result.best.path))!;
    }

    const baselineAcc = accuracy(baseline);
    const searchSeconds = (Date.now() - started) / 1000;
    await writeOutputs(o, { chosen, visited, targetMs, baseline: { blocks: blocksOf(baseline), latencyMs: baselineMs, acc: baselineAcc }, log: meta.log, searchSeconds, fastestMs: latency.fastest().ms });
    say(`search: chose ${chosen.blocks.join(',')}: ${chosen.latencyMs.toFixed(4)} ms predicted (target ${targetMs.toFixed(4)}), ${(100 * chosen.acc).toFixed(2)}% validation accuracy with supernet weights (baseline ${(100 * baselineAcc).toFixed(2)}% at ${baselineMs.toFixed(4)} ms)`);
    return { blocks: chosen.blocks, predictedMs: chosen.latencyMs, targetMs, valAcc: chosen.acc, resumedFrom };
  } catch (e) {
    // The wasm heap is capped; mixed mode keeps every candidate's activations for backprop.
    if (o.strategy === 'dnas' && o.dnas.mode === 'mixed' && /Aborted|memory/i.test(String((e as Error)?.message ?? e))) {
      fail(`--mode mixed ran out of memory at batch ${o.batch} (every candidate's activations are kept for backprop); ${meta.epochsDone > 0 ? `the state of epoch ${meta.epochsDone} in '${statePath}' is kept` : 'no epoch had finished'}; lower --batch (16 runs on fbnet-mini) or use --mode gated`);
    }
    throw e;
  } finally {
    net.dispose();
    latency.dispose();
    tf.dispose(theta);
    wOpt.dispose();
    thetaOpt.dispose();
  }
}

/**
 * Greedy projection of a path under the target: repeatedly take the single-layer change to a
 * cheaper candidate that loses the least log-probability per millisecond saved.
 */
export function projectToTarget(start: readonly number[], probs: readonly ArrayLike<number>[], latency: LatencyModel, targetMs: number): number[] {
  const path = start.slice();
  while (latency.pathMs(path) > targetMs) {
    let best: [number, number] | undefined, bestCost = Infinity;
    path.forEach((cur, l) => {
      const row = latency.table[l]!;
      for (let i = 0; i < row.length; i++) {
        const saved = row[cur]! - row[i]!;
        if (saved <= 0) continue;
        const cost = (Math.log(probs[l]![cur]! + 1e-12) - Math.log(probs[l]![i]! + 1e-12)) / saved;
        if (cost < bestCost) { bestCost = cost; best = [l, i]; }
      }
    });
    if (!best) fail(`no architecture meets the target ${targetMs} ms`);
    path[best[0]] = best[1];
  }
  return path;
}

async function writeOutputs(o: SearchOptions, r: {
  chosen: Visited; visited: Visited[]; targetMs: number; baseline: { blocks: string[]; latencyMs: number; acc: number };
  log: EpochLog[]; searchSeconds: number; fastestMs: number;
}): Promise<void> {
  const { out } = o;
  const lut = { path: o.lutPath, device: o.lut.device, space: o.lut.space, spaceFingerprint: o.lut.spaceFingerprint, provenance: o.lut.provenance };
  writeJsonAtomic(join(out, 'arch.json'), {
    space: o.space.name, blocks: r.chosen.blocks, predictedMs: r.chosen.latencyMs, targetMs: r.targetMs,
    supernetValAcc: r.chosen.acc, strategy: o.strategy, seed: o.seed, dataset: o.dataset.spec, lut,
    baseline: r.baseline, fastestMs: r.fastestMs, searchSeconds: r.searchSeconds,
  });
  writeJsonAtomic(join(out, 'visited.json'), r.visited);
  const front = paretoFront(r.visited);
  writeJsonAtomic(join(out, 'pareto.json'), front);
  const frontKeys = new Set(front.map((v) => pathKey(v.path)));
  const points: ParetoPoint[] = r.visited.map((v) => ({
    latencyMs: v.latencyMs, acc: v.acc, blocks: v.blocks,
    role: pathKey(v.path) === pathKey(r.chosen.path) ? 'chosen' : frontKeys.has(pathKey(v.path)) ? 'front' : 'visited',
  }));
  points.push({ latencyMs: r.baseline.latencyMs, acc: r.baseline.acc, blocks: r.baseline.blocks, role: 'baseline' });
  writeFileAtomic(join(out, 'pareto.svg'), await paretoSvg(points, r.targetMs, `${o.strategy} on ${o.space.name}, ${o.lut.device}: accuracy vs latency (target ${r.targetMs.toFixed(4)} ms)`));
  writeJsonAtomic(join(out, 'search-log.json'), { strategy: o.strategy, targetMs: r.targetMs, options: identityOf(o, r.targetMs), searchSeconds: r.searchSeconds, epochs: r.log });
  const series = o.strategy === 'dnas'
    ? [{ field: 'loss', title: 'weight loss (CE)' }, { field: 'thetaLoss', title: 'θ loss' }, { field: 'expectedMs', title: 'expected latency (ms)' }, { field: 'temperature', title: 'temperature τ' }]
    : [{ field: 'loss', title: 'supernet loss (CE)' }, { field: 'trainAcc', title: 'train accuracy' }];
  writeFileAtomic(join(out, 'curves.svg'), await curvesSvg(r.log.map((e) => ({ epoch: e.epoch, loss: e.loss, trainAcc: e.trainAcc, thetaLoss: e.thetaLoss, expectedMs: e.expectedMs, temperature: e.temperature })), series, `${o.strategy} search curves`));
}
