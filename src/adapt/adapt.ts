/**
 * `latnas adapt` (NetAdapt, Yang et al. 2018; MobileNetV3's second step): from a trained arch,
 * step by step, try every proposal (./proposals.ts: the smallest width or expansion cut of each
 * layer group that lowers the LUT latency by the step), fine-tune each briefly from the current
 * weights sliced to it (src/weights/slice.ts), keep the one with the best validation accuracy,
 * until the latency is at most the target; then fine-tune the result longer into a `latnas train`
 * run folder (`OUT/train`, which `latnas export` takes).
 *
 *   OUT/adapt.json          settings, each step's proposals and choice, the final fine-tune
 *   OUT/steps/<k>/<i>/      proposal i of step k (a train run folder; only the kept ones stay)
 *   OUT/train/              the final fine-tune
 *
 * Resumable: adapt.json is rewritten after every proposal, and a rerun with the same settings
 * continues at the proposal it was on. The last step's cut saves at least what is left to the
 * target, so the result never exceeds it; a target no cut can reach fails before any training.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../datasets/dataset.js';
import { fail } from '../errors.js';
import type { Lut } from '../lut/lut.js';
import type { LutRecordRead } from '../runfolder/files.js';
import { ADAPT_RUN, type AdaptState, type AdaptStep, type Tried } from '../runfolder/adapt.js';
import { writeRunFile, readRunFile } from '../runfolder/files.js';
import { WEIGHTS_FILE } from '../runfolder/train.js';
import { LatencyModel } from '../search/latency.js';
import { formatBlock, type Block } from '../space/blocks.js';
import { networkUnits } from '../space/network.js';
import { resolveArch } from '../space/arch.js';
import { pathBlocks, pathOf } from '../space/path.js';
import { searchableLayers, type Space } from '../space/spaces.js';
import type { StoredTensor } from '../train/tensor-file.js';
import { readTensorFile } from '../train/tensor-file.js';
import { train, TRAIN_DEFAULTS, type TrainResult } from '../train/trainer.js';
import { describeChange } from '../util/changes.js';
import { lockFolder } from '../util/lock.js';
import { prepareOutputFolder } from '../util/outdir.js';
import { sliceWeights } from '../weights/slice.js';
import { narrowest, proposals, type Proposal } from './proposals.js';

/** `latnas adapt`'s defaults. */
export const ADAPT_DEFAULTS = {
  /** Steps from the start's latency to the target when --step-ms is not given (NetAdapt's constant reduction per step). */
  steps: 4,
  /**
   * Short fine-tune per proposal, in batches. NetAdapt fine-tunes each for 10-40 k ImageNet
   * iterations; on Fashion-MNIST 100 batches of 64 is a ninth of an epoch.
   */
  finetuneSteps: 100,
  finalEpochs: 1,
  /** From trained weights: a fifth of a from-scratch run's 0.05 peak. */
  lr: 0.01,
};

export interface AdaptOptions {
  space: Space;
  /** The trained arch and its variables (weights.bin of a `latnas train` run). */
  blocks: readonly Block[];
  weights: readonly StoredTensor[];
  /** Its validation accuracy where the run recorded one. */
  startValAcc: number | null;
  /** Where it came from (settings: a rerun must name the same). */
  source: string;
  dataset: Dataset;
  lut: Lut;
  lutPath: string;
  /** Recorded in the final run's arch.json, so `latnas export` predicts with the same table. */
  lutRecord?: LutRecordRead;
  targetMs: number;
  /** Latency each step must save (default: the start's distance to the target over ADAPT_DEFAULTS.steps). */
  stepMs?: number;
  finetuneSteps: number;
  finalEpochs: number;
  lr: number;
  batch: number;
  seed: number;
  out: string;
  backend: string;
  workers?: number;
  quiet?: boolean;
}

export interface AdaptResult { state: AdaptState; train: string; blocks: string[]; ms: number; testAcc: number }

/** Steps halve while no proposal saves them, down to this share of the start's latency. */
const MIN_STEP_SHARE = 1e-3;

export async function adapt(o: AdaptOptions): Promise<AdaptResult> {
  const layers = searchableLayers(o.space);
  const latency = new LatencyModel(o.space, o.lut, o.lutPath);
  try {
    const startPath = pathOf(o.space, o.blocks, layers);
    const startMs = latency.pathMs(startPath);
    const fmt = (ms: number) => `${ms.toFixed(4)} ms`;
    if (startMs <= o.targetMs) fail(`adapt: the arch already takes ${fmt(startMs)} on '${o.lutPath}', within --target-ms ${o.targetMs}; nothing to cut (give a lower --target-ms)`);
    const floorMs = latency.pathMs(narrowest(layers, o.blocks));
    if (floorMs > o.targetMs) {
      fail(`adapt: the narrowest this arch can be cut to (every layer at its stage's narrowest width, every inverted residual at its smallest expansion) takes ${fmt(floorMs)} on '${o.lutPath}', `
        + `above --target-ms ${o.targetMs}; give a target of at least ${floorMs.toFixed(4)}, or search a faster arch${layers.every((l) => l.widths.length === 1) ? ` (space '${o.space.name}' has no widths: its -widths variant cuts further)` : ''}`);
    }
    const stepMs = o.stepMs ?? (startMs - o.targetMs) / ADAPT_DEFAULTS.steps;
    const settings = {
      source: o.source, space: o.space.name, dataset: o.dataset.spec, table: o.lutPath, targetMs: o.targetMs, stepMs, finetuneSteps: o.finetuneSteps,
      finalEpochs: o.finalEpochs, lr: o.lr, batch: o.batch, seed: o.seed,
    };
    const lock = lockFolder(o.out);
    try {
      return await loop(o, { layers, latency, startPath, startMs, stepMs, settings });
    } finally {
      lock.release();
    }
  } finally {
    latency.dispose();
  }
}

interface LoopContext {
  layers: ReturnType<typeof searchableLayers>;
  latency: LatencyModel;
  startPath: number[];
  startMs: number;
  stepMs: number;
  settings: Record<string, unknown>;
}

async function loop(o: AdaptOptions, c: LoopContext): Promise<AdaptResult> {
  const say = (s: string) => { if (!o.quiet) process.stderr.write(`${s}\n`); };
  const statePath = join(o.out, ADAPT_RUN.state.name);
  let state: AdaptState;
  if (existsSync(statePath)) {
    state = readRunFile(o.out, ADAPT_RUN.state);
    const change = describeChange(state.settings, c.settings);
    if (change) fail(`adapt folder '${o.out}' holds a run with other settings (${change}); rerun with the original settings or choose another --out`);
    say(`adapt: resuming '${o.out}' after ${state.steps.length} step(s)${state.pending ? ` and ${state.pending.tried.length} proposal(s) of step ${state.pending.step}` : ''}`);
  } else {
    prepareOutputFolder(o.out);
    state = { version: 1, settings: c.settings, start: { blocks: o.blocks.map(formatBlock), ms: c.startMs, valAcc: o.startValAcc }, steps: [] };
  }
  const save = () => writeRunFile(o.out, ADAPT_RUN.state, state);
  save();
  const minStep = c.startMs * MIN_STEP_SHARE;
  const stepDir = (k: number, i: number) => join(o.out, 'steps', String(k), String(i));

  // Where the last finished step left the arch and its weights.
  let path = c.startPath;
  let weights = o.weights;
  const last = state.steps[state.steps.length - 1];
  if (last) {
    const kept = last.tried[last.chosen]!;
    path = pathOf(o.space, resolveArch(o.space, kept.blocks, `adapt state file '${statePath}'`), c.layers);
    weights = [...readTensorFile(join(stepDir(last.step, last.chosen), WEIGHTS_FILE), 'adapt step weights', { fix: `delete '${statePath}' to start the adapt run over` }).tensors.values()];
  }

  while (c.latency.pathMs(path) > o.targetMs) {
    const k = state.steps.length + 1;
    const now = c.latency.pathMs(path);
    const blocks = pathBlocks(o.space, path, c.layers);
    // The last step saves what is left, so the result lands at most at the target.
    let step = state.pending?.step === k ? state.pending.stepMs : Math.min(c.stepMs, now - o.targetMs);
    let props: Proposal[] = proposals(c.layers, blocks, c.latency, path, step);
    while (props.length === 0 && step / 2 >= minStep) {
      step /= 2;
      props = proposals(c.layers, blocks, c.latency, path, step);
    }
    if (props.length === 0) fail(`adapt: at step ${k} (${now.toFixed(4)} ms) no width or expansion cut saves time on '${o.lutPath}'; the target ${o.targetMs} ms cannot be reached from this arch`);
    if (state.pending?.step !== k) state.pending = { step: k, stepMs: step, tried: [] };
    say(`adapt step ${k}: ${now.toFixed(4)} ms -> target ${o.targetMs} ms, ${props.length} proposal(s) saving >= ${step.toFixed(4)} ms each`);
    const tried: Tried[] = state.pending.tried;
    for (let i = tried.length; i < props.length; i++) {
      const p = props[i]!;
      const t0 = Date.now();
      const r = await finetune(o, c, path, weights, p.path, stepDir(k, i), o.finetuneSteps, 1);
      tried.push({ kind: p.kind, layers: p.layers, label: p.label, blocks: r.blocks, ms: p.ms, valAcc: r.result.epochs.at(-1)!.valAcc, seconds: (Date.now() - t0) / 1000 });
      save();
      say(`  [${i + 1}/${props.length}] ${p.label}: ${p.ms.toFixed(4)} ms, validation ${(100 * tried[i]!.valAcc).toFixed(2)}% after ${o.finetuneSteps} fine-tune steps`);
    }
    // NetAdapt keeps the most accurate proposal; a tie goes to the faster.
    const chosen = tried.reduce((best, t, i) => (t.valAcc > tried[best]!.valAcc || (t.valAcc === tried[best]!.valAcc && t.ms < tried[best]!.ms) ? i : best), 0);
    const record: AdaptStep = { step: k, stepMs: step, tried: [...tried], chosen };
    state.steps.push(record);
    delete state.pending;
    save();
    // Only the kept proposal's weights are read again.
    tried.forEach((_, i) => { if (i !== chosen) rmSync(stepDir(k, i), { recursive: true, force: true }); });
    path = props[chosen]!.path;
    weights = [...readTensorFile(join(stepDir(k, chosen), WEIGHTS_FILE), 'adapt step weights').tensors.values()];
    say(`adapt step ${k}: kept ${tried[chosen]!.label} (${tried[chosen]!.ms.toFixed(4)} ms, validation ${(100 * tried[chosen]!.valAcc).toFixed(2)}%)`);
  }

  // The long fine-tune of the result: a train run folder that `latnas export` takes.
  const trainDir = join(o.out, 'train');
  const ms = c.latency.pathMs(path);
  if (!state.final) {
    say(`adapt: final fine-tune, ${o.finalEpochs} epoch(s), of ${ms.toFixed(4)} ms -> ${trainDir}`);
    const t0 = Date.now();
    const r = await finetune(o, c, path, weights, path, trainDir, undefined, o.finalEpochs);
    state.final = { blocks: r.blocks, ms, valAcc: r.result.epochs.at(-1)!.valAcc, testAcc: r.result.testAcc, seconds: (Date.now() - t0) / 1000, epochs: o.finalEpochs };
    save();
  }
  return { state, train: trainDir, blocks: state.final.blocks, ms, testAcc: state.final.testAcc };
}

/** Fine-tunes `to` from `weights` (of `from`) sliced to it, into a train run folder. */
async function finetune(o: AdaptOptions, c: LoopContext, from: number[], weights: readonly StoredTensor[], to: number[], out: string, maxSteps: number | undefined, epochs: number) {
  const blocksFrom = pathBlocks(o.space, from, c.layers), blocksTo = pathBlocks(o.space, to, c.layers);
  const net = (bs: readonly Block[]) => ({ layers: networkUnits(o.space, bs).flatMap((u) => u.layers), input: o.space.input });
  const init = sliceWeights(net(blocksFrom), weights, net(blocksTo), o.seed);
  const result: TrainResult = await train({
    ...TRAIN_DEFAULTS, space: o.space, blocks: blocksTo, dataset: o.dataset, out, epochs, batch: o.batch, lr: o.lr, seed: o.seed, resume: true,
    quiet: o.quiet, maxSteps, backend: o.backend, workers: o.workers ?? TRAIN_DEFAULTS.workers, init, ...(o.lutRecord ? { lut: o.lutRecord } : {}),
  });
  return { blocks: blocksTo.map(formatBlock), result };
}
