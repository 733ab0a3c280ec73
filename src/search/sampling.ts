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
 * - `sandwich`: the sandwich rule with in-place distillation (BigNAS, Yu et al. ECCV 2020; OFA):
 *   every step trains the largest path (the LUT's slowest) on the labels, and the smallest (its
 *   fastest) and SANDWICH_RANDOM uniform paths on the largest's predictions, on the same batch, in
 *   one update. A step then costs about 2 + SANDWICH_RANDOM subnets; compare at equal compute.
 *
 * A group restarts at every epoch (200 steps of 9 candidates leave a group of 2 unfinished): the
 * sampler's state is then a function of the epoch's rng alone, so a resumed search and the
 * data-parallel plan (drawn up front, search.ts) draw what an uninterrupted one-thread run would.
 */
import { shuffleInPlace } from '../datasets/split.js';
import type { Path } from '../space/path.js';
import type { Choice, Supernet } from '../supernet/supernet.js';
import type { Rng } from '../util/rng.js';

export const SAMPLINGS = ['uniform', 'fair', 'sandwich'] as const;
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

/** The random paths of a sandwich besides the largest and the smallest (BigNAS's n = 2). */
export const SANDWICH_RANDOM = 2;

/** The paths a sandwich is made of: the space's largest and smallest archs (by LUT latency). */
export interface SandwichEnds { slowest(): { path: Path }; fastest(): { path: Path } }

export function pathSampler(net: Supernet, sampling: Sampling, ends: SandwichEnds): PathSampler {
  if (sampling === 'uniform') return { beginEpoch: () => {}, choice: (rng) => ({ path: net.randomPath(rng) }) };
  if (sampling === 'sandwich') {
    const largest = [...ends.slowest().path], smallest = [...ends.fastest().path];
    return {
      beginEpoch: () => {},
      choice: (rng) => ({ sandwich: [largest, smallest, ...Array.from({ length: SANDWICH_RANDOM }, () => net.randomPath(rng))] }),
    };
  }
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
