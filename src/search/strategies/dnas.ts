/**
 * dnas (FBNet, Wu et al. 2019): architecture logits θ per layer. The supernet's weights train on
 * 80% of the training split along Gumbel-sampled paths, θ on the other 20% with Adam under
 * CE · α · (log LAT)^β + a penalty at the target (two-sided by default, see ../objective.ts), τ
 * annealed per epoch. Then archs are sampled from softmax(θ), those within the target scored with
 * inherited weights, and the most accurate kept.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../../datasets/batches.js';
import { fail } from '../../errors.js';
import type { Visited } from '../../runfolder/search.js';
import { optimizerState, restoreOptimizer, snapshot } from '../../train/checkpoint.js';
import { findNonFinite } from '../../util/finite.js';
import { yieldToEventLoop } from '../../util/lock.js';
import { progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { pathKey } from '../evolution.js';
import { gumbelNoise, gumbelSoftmax, hardGumbel, sampleCategorical, temperature } from '../gumbel.js';
import type { LatencyModel } from '../latency.js';
import { fbnetLoss, type TargetPenalty } from '../objective.js';
import type { SearchStrategy } from '../strategy.js';

export interface DnasOptions {
  /** gated: one sampled path per step (straight-through Gumbel); mixed: every candidate (FBNet). */
  mode: 'gated' | 'mixed';
  alpha: number;
  beta: number;
  penalty: number;
  penaltyMode: TargetPenalty;
  thetaLr: number;
  /** Epochs of weight training before θ updates. */
  warmup: number;
  /** Archs sampled from softmax(θ) at the end. */
  samples: number;
  tau0: number;
  tauDecay: number;
}

/** FBNet's α, β and temperature schedule; μ = 10 and the two-sided penalty as ../objective.ts measured them. */
export const DNAS_DEFAULTS: Readonly<DnasOptions> = {
  mode: 'gated', alpha: 0.2, beta: 0.6, penalty: 10, penaltyMode: 'two-sided', thetaLr: 0.01, warmup: 1, samples: 20, tau0: 5, tauDecay: 0.045,
};

/** dnas trains θ on this share's complement of the training split. */
const WEIGHT_SHARE = 0.8;

export const dnas: SearchStrategy<DnasOptions> = {
  name: 'dnas',
  summary: 'dnas (FBNet)',
  defaults: DNAS_DEFAULTS,
  weightShare: WEIGHT_SHARE,
  checkOwnSplit({ images, steps, batch, datasetSpec }) {
    if (steps < 1) {
      fail(`--batch ${batch} is larger than the ${images} images dnas trains θ on (20% of the training split of ${datasetSpec}), so θ would never move; `
        + `lower --batch to at most ${images}`);
    }
  },
  ownSupernet: 'dnas trains its supernet with its own θ',
  files: [],
  lrOptions: ['--theta-lr'],
  weightsLabel: ' weights',
  curves: [
    { field: 'loss', title: 'weight loss (CE)' }, { field: 'thetaLoss', title: 'θ loss' },
    { field: 'expectedMs', title: 'expected latency (ms)' }, { field: 'temperature', title: 'temperature τ' },
  ],
  identity: (options) => ({ dnas: options }),
  forBudget: (samples) => ({ samples }),

  start(ctx, o) {
    const { net, latency, targetMs } = ctx;
    const theta = net.layers.map((l, i) => tf.variable(tf.zeros([l.candidates.length]), true, `search/theta.${i}`) as tf.Variable<tf.Rank.R1>);
    const thetaOpt = tf.train.adam(o.thetaLr);
    // tfjs types Adam's input as variables; it takes gradient tensors (θ is the same list every step).
    const thetaApplier = { applyGradients: (g: tf.NamedTensorMap) => thetaOpt.applyGradients(g as unknown as Parameters<typeof thetaOpt.applyGradients>[0]) };
    const softmaxTheta = () => theta.map((t) => tf.tidy(() => tf.softmax(t).dataSync() as Float32Array));
    const argmaxPath = () => softmaxTheta().map((p) => p.indexOf(Math.max(...p)));
    let tau = 0;

    return {
      stateVariables: () => theta,
      optimizerState: () => optimizerState(thetaOpt, 'adam'),
      restoreOptimizer: (stored) => restoreOptimizer(thetaOpt, stored, 'adam'),
      beginEpoch(epoch) {
        tau = temperature(epoch, o.tau0, o.tauDecay);
      },
      weightChoice(rng) {
        if (o.mode === 'mixed') return { mixed: theta.map((t) => gumbelSoftmax(t, gumbelNoise(rng, t.shape[0]), tau)) };
        // Hard Gumbel sample: argmax of θ + g, independent of τ.
        return { path: theta.map((t) => tf.tidy(() => hardGumbel(t, gumbelNoise(rng, t.shape[0]), tau).index)) };
      },

      async endEpoch(epoch, rng, { norm, toX }) {
        let thetaLoss: number | null = null, thetaCe: number | null = null;
        if (epoch >= o.warmup) {
          const tStream = new BatchStream(ctx.dataset, { batchSize: ctx.batch, norm, seed: ctx.seed * 2003 + epoch, indices: ctx.ownIdx, dropLast: true });
          const tBar = progress(`search epoch ${epoch + 1}/${ctx.epochs} θ`, ctx.ownSteps, ctx.quiet);
          let ls = 0, cs = 0, n = 0;
          for (const b of tStream.epoch()) {
            if (n >= ctx.ownSteps) break;
            const x = toX(b);
            let lat: tf.Scalar | undefined;
            const r = net.step(x, b.y.subarray(0, b.size), () => {
              // Expected latency under softmax(θ), the distribution paths are drawn from (Gumbel-max),
              // not under the τ-flattened relaxed samples: measured, with those the penalty saw
              // ~0.11 ms while softmax(θ) had reached 0.21 ms, and pushed the wrong way.
              lat = latency.expected(theta.map((t) => tf.softmax(t) as tf.Tensor1D));
              if (o.mode === 'mixed') return { mixed: theta.map((t) => gumbelSoftmax(t, gumbelNoise(rng, t.shape[0]), tau)) };
              const samples = theta.map((t) => hardGumbel(t, gumbelNoise(rng, t.shape[0]), tau));
              return { path: samples.map((s) => s.index), gates: samples.map((s) => s.gate) };
            }, { optimizer: thetaApplier, vars: theta, objective: (ce) => fbnetLoss(ce, lat!, { alpha: o.alpha, beta: o.beta, penalty: o.penalty, penaltyMode: o.penaltyMode, targetMs }) });
            x.dispose();
            if (!Number.isFinite(r.loss)) {
              fail(`search θ loss became ${r.loss} at epoch ${epoch + 1}, θ step ${n + 1}; the state of epoch ${epoch} in '${ctx.statePath}' is kept; `
                + 'lower --theta-lr (or --lr, if the weights diverged)');
            }
            ls += r.loss; cs += r.ce; n++;
            tBar.increment(1, `loss ${(ls / n).toFixed(4)}`);
            await yieldToEventLoop();
          }
          tBar.stop();
          if (n > 0) { thetaLoss = ls / n; thetaCe = cs / n; }
          // The last θ step's loss was finite, but its update may not be: a NaN θ has no argmax arch to log.
          const badTheta = findNonFinite(snapshot(theta));
          if (badTheta) {
            const kept = epoch > 0 ? `the state of epoch ${epoch} in '${ctx.statePath}' is kept` : 'no state was written';
            fail(`search diverged: '${badTheta.name}' became ${badTheta.value} at epoch ${epoch + 1}, θ step ${n} (θ loss ${(ls / Math.max(n, 1)).toPrecision(4)}); `
              + `nothing was saved and ${kept}; lower --theta-lr`);
          }
        }
        const expectedMs = latency.expectedMs(softmaxTheta());
        const am = argmaxPath();
        const argmaxMs = latency.pathMs(am);
        return {
          fields: { thetaLoss, thetaCe, temperature: tau, expectedMs, argmaxMs, argmax: ctx.blocksOf(am) },
          line: `, θ loss ${thetaLoss?.toFixed(4) ?? '-'}, τ ${tau.toFixed(2)}, expected ${expectedMs.toFixed(4)} ms, argmax ${argmaxMs.toFixed(4)} ms`,
        };
      },

      async choose(scoring) {
        const rng = new Rng(ctx.seed * 4241 + 17);
        const probs = softmaxTheta();
        const candidates = new Map<string, { path: number[]; source: string }>();
        const am = argmaxPath();
        candidates.set(pathKey(am), { path: am, source: 'argmax' });
        for (let i = 0; i < o.samples; i++) {
          const p = probs.map((pr) => sampleCategorical(pr, rng));
          if (!candidates.has(pathKey(p))) candidates.set(pathKey(p), { path: p, source: 'sample' });
        }
        if (![...candidates.values()].some((cd) => latency.pathMs(cd.path) <= targetMs)) {
          const p = projectToTarget(am, probs, latency, targetMs);
          candidates.set(pathKey(p), { path: p, source: 'argmax projected to the target' });
        }
        const list = [...candidates.values()];
        const bar = progress('scoring sampled archs', list.length, ctx.quiet);
        const acc = await scoring.accuracies(list.map((cd) => cd.path), () => bar.increment(1));
        bar.stop();
        const visited: Visited[] = list.map((cd, i) => ({ blocks: ctx.blocksOf(cd.path), path: cd.path, latencyMs: latency.pathMs(cd.path), acc: acc[i]!, source: cd.source }));
        const fit = visited.filter((v) => v.latencyMs <= targetMs);
        if (fit.length === 0) fail(`no sampled architecture meets the target ${targetMs.toFixed(4)} ms; raise --target-ms`);
        return { visited, chosen: fit.reduce((a, b) => (b.acc > a.acc ? b : a)) };
      },

      explainFailure(e, epochsDone) {
        // The wasm heap is capped; mixed mode keeps every candidate's activations for backprop.
        if (o.mode === 'mixed' && /Aborted|memory/i.test(String((e as Error)?.message ?? e))) {
          const kept = epochsDone > 0 ? `the state of epoch ${epochsDone} in '${ctx.statePath}' is kept` : 'no epoch had finished';
          fail(`--mode mixed ran out of memory at batch ${ctx.batch} (every candidate's activations are kept for backprop); ${kept}; `
            + 'lower --batch (16 runs on fbnet-mini) or use --mode gated');
        }
      },

      dispose() {
        tf.dispose(theta);
        thetaOpt.dispose();
      },
    };
  },
};

/**
 * Greedy projection of a path under the target: repeatedly take the single-layer change to a
 * cheaper candidate that loses the least log-probability per millisecond saved.
 */
export function projectToTarget(start: readonly number[], probs: readonly ArrayLike<number>[], latency: LatencyModel, targetMs: number): number[] {
  const path = start.slice();
  while (latency.pathMs(path) > targetMs) {
    let best: [number, number] | undefined, bestCost = Infinity;
    const now = latency.pathMs(path);
    path.forEach((cur, l) => {
      // The whole path's latency, not the layer's row: with widths a cut also narrows the next layer's input.
      const n = latency.chain.cost[l]![0]!.length;
      for (let i = 0; i < n; i++) {
        const row = latency.chain.cost[l]![0]!;
        const saved = latency.independent ? row[cur]! - row[i]! : i === cur ? 0 : now - latency.pathMs(path.map((v, j) => (j === l ? i : v)));
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
