/**
 * How the supernet's weight steps pick their paths when nothing is learned about the archs
 * (evolution, random; dnas samples from θ instead):
 * - `uniform`: every layer's candidate drawn uniformly and independently each step (SPOS, OFA);
 * - `fair`: FairNAS's strict fairness (Chu et al., ICCV 2021): each layer walks a fresh random
 *   permutation of its candidates, so within every group of m steps (m: the layer's candidate
 *   count) each candidate of the layer trains exactly once, on consecutive batches. FairNAS also
 *   sums the m paths' gradients into one update; here each path updates at once (the step, the
 *   optimiser and the data-parallel plan stay the ones uniform sampling uses).
 *
 * A group restarts at every epoch (200 steps of 9 candidates leave a group of 2 unfinished): the
 * sampler's state is then a function of the epoch's rng alone, so a resumed search and the
 * data-parallel plan (drawn up front, search.ts) draw what an uninterrupted one-thread run would.
 */
import { shuffleInPlace } from '../datasets/split.js';
import type { Choice, Supernet } from '../supernet/supernet.js';
import type { Rng } from '../util/rng.js';

export const SAMPLINGS = ['uniform', 'fair'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

export interface PathSampler {
  /** Called before an epoch's weight steps. */
  beginEpoch(): void;
  /** The next weight step's choice. */
  choice(rng: Rng): Choice;
}

/** 0..n-1 shuffled with the epoch's rng. */
function permutation(n: number, rng: Rng): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  shuffleInPlace(p, rng);
  return p;
}

export function pathSampler(net: Supernet, sampling: Sampling): PathSampler {
  if (sampling === 'uniform') return { beginEpoch: () => {}, choice: (rng) => ({ path: net.randomPath(rng) }) };
  const sizes = net.layers.map((l) => l.candidates.length);
  let perms: Uint32Array[] = [];
  let step = 0;
  return {
    beginEpoch: () => { perms = []; step = 0; },
    choice(rng) {
      const path = sizes.map((m, l) => {
        const at = step % m;
        if (at === 0) perms[l] = permutation(m, rng);
        return perms[l]![at]!;
      });
      step++;
      return { path };
    },
  };
}
