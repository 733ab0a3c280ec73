/**
 * random (Li & Talwalkar 2019; Sciuto et al. 2020): the control every NAS result needs. The
 * supernet trains exactly as evolution's (uniform single-path sampling, the whole training split),
 * then archs are drawn uniformly among those whose LUT latency lies in [0.9·T, T], each scored
 * with inherited weights, and the most accurate kept.
 *
 * Plain rejection from uniform archs lands in that band about 2 times in 400 on fbnet-mini, so
 * `BandSampler` draws exactly uniformly with a dynamic programme over a latency grid, and a final
 * rejection on the exact LUT latency (see there). The acceptance rate of that rejection is said on
 * the search's log line and written into every visited arch's `source` in visited.json.
 */
import { fail } from '../../errors.js';
import { pathCost, type CostChain } from '../../space/chain.js';
import type { Visited } from '../../runfolder/search.js';
import { progress } from '../../util/progress.js';
import { Rng } from '../../util/rng.js';
import { pathKey } from '../evolution.js';
import { NO_EPOCH_FIELDS, STATELESS, type SearchStrategy } from '../strategy.js';
import { pathSampler } from '../sampling.js';

export interface RandomOptions {
  /** Distinct archs drawn in [0.9·T, T] and scored (fewer when the band holds fewer). */
  samples: number;
}

/**
 * 250 archs: what evolution scores by default (a population of 50 plus 200 cycles), so the two
 * compare at the same evaluation budget.
 */
export const RANDOM_DEFAULTS: Readonly<RandomOptions> = { samples: 250 };

/** The band's lower edge as a share of the target. */
export const BAND_LOW = 0.9;

/**
 * Uniform draws among the paths whose latency (space/chain.ts `pathCost`: `fixed` plus layer l's
 * entry at the input the previous layer gives it) lies in [loMs, hiMs].
 *
 * Hand-written because no library does it: what is needed is uniform sampling over a product of
 * categorical choices under a constraint on the sum of per-choice costs (a knapsack-style count),
 * not a distribution with a known sampler. The latencies are put on a grid of step h (each layer
 * offset by its fastest entry, so skips at 0 and negative fitted entries are fine);
 * counts[l][a][s] is the number of ways layers 0..l-1 reach grid sum s and hand layer l its input
 * a (one input per layer without widths). A draw picks a final input and grid sum in the band in
 * proportion to its count, then walks back layer by layer picking each (input, candidate) that
 * leads there in proportion to the count of the prefix it leaves: that is uniform over the paths
 * whose grid sum is in the band. Rounding moves a path's sum by at most L·h/2, so the grid band is
 * widened by that much (and a bin) on each side: every path truly in [loMs, hiMs] can be drawn,
 * all with the same probability, and rejecting on the exact latency makes the draws exactly
 * uniform over the band. h is 1/(20·L) of the band's width, so the widening costs about 5% of the draws.
 *
 * Counts are float64: exact up to 2^53 paths per bin (fbnet-mini has 9^12 ≈ 2.8e11 in all), and
 * beyond that off by a relative 1e-16, far below any sampling noise.
 */
export class BandSampler {
  /** Draws from the grid band, and those whose exact latency was in [loMs, hiMs]. */
  proposed = 0;
  accepted = 0;
  /** bins[l][a][i]: layer l's candidate i at input a on the grid. */
  private readonly bins: number[][][];
  /** counts[l][a]: ways to reach each grid sum with layer l getting input a (l = L: the head's input). */
  private readonly counts: Float64Array[][];
  private readonly lowBin: number;
  private readonly highBin: number;
  private readonly total: number;

  constructor(readonly chain: CostChain, readonly loMs: number, readonly hiMs: number) {
    const { cost, next } = chain;
    const layers = cost.length;
    const mins = cost.map((byInput) => Math.min(...byInput.flat()));
    const base = chain.fixed + mins.reduce((a, b) => a + b, 0);
    const range = cost.reduce((s, byInput, l) => s + Math.max(...byInput.flat()) - mins[l]!, 0);
    // Grid step: 1/(20·L) of the band, coarser only to keep the counts within 4e6 (32 MB).
    const width = Math.max(hiMs - loMs, 1e-12);
    const states = cost.reduce((n, byInput) => n + byInput.length, 0);
    const step = Math.max(width / (20 * Math.max(layers, 1)), range / Math.max(1, Math.floor(4e6 / Math.max(states, 1)) - 1));
    this.bins = cost.map((byInput, l) => byInput.map((row) => row.map((ms) => Math.round((ms - mins[l]!) / step))));
    const maxBin = this.bins.reduce((s, byInput) => s + Math.max(...byInput.flat()), 0);
    const start = new Float64Array(maxBin + 1);
    start[0] = 1;
    this.counts = [[start]];
    let reach = 0;
    for (let l = 0; l < layers; l++) {
      const outputs = Math.max(...next[l]!) + 1;
      const after = Array.from({ length: outputs }, () => new Float64Array(maxBin + 1));
      this.counts[l]!.forEach((prev, a) => {
        const bins = this.bins[l]![a]!;
        for (let s = 0; s <= reach; s++) {
          const c = prev[s]!;
          if (c === 0) continue;
          bins.forEach((b, i) => { after[next[l]![i]!]![s + b]! += c; });
        }
      });
      reach += Math.max(...this.bins[l]!.flat());
      this.counts.push(after);
    }
    const slack = (layers * step) / 2;
    this.lowBin = Math.max(0, Math.ceil((loMs - base - slack) / step) - 1);
    this.highBin = Math.min(maxBin, Math.floor((hiMs - base + slack) / step) + 1);
    let total = 0;
    for (const last of this.counts[layers]!) for (let s = this.lowBin; s <= this.highBin; s++) total += last[s]!;
    this.total = total;
  }

  /** False when no path lies in the band (none lies even in the widened grid band). */
  get feasible(): boolean {
    return this.total > 0;
  }

  latencyMs(path: readonly number[]): number {
    return pathCost(this.chain, path);
  }

  /** One draw, uniform over the paths whose grid sum is in the widened band; not yet checked on the exact latency. */
  propose(rng: Rng): number[] {
    if (!this.feasible) throw new Error('BandSampler: no path in the band');
    const layers = this.bins.length;
    const last = this.counts[layers]!;
    const span = this.highBin - this.lowBin + 1;
    // Input-major, so with one input per layer the draws are those of the fixed-width sampler.
    const k = this.pick(rng, last.length * span, (j) => last[Math.floor(j / span)]![this.lowBin + (j % span)]!);
    let b = Math.floor(k / span);
    let s = this.lowBin + (k % span);
    const path = new Array<number>(layers);
    for (let l = layers - 1; l >= 0; l--) {
      const byInput = this.bins[l]!, next = this.chain.next[l]!, prefix = this.counts[l]!;
      const n = next.length;
      const j = this.pick(rng, byInput.length * n, (m) => {
        const a = Math.floor(m / n), i = m % n;
        const rest = s - byInput[a]![i]!;
        return next[i] === b && rest >= 0 ? prefix[a]![rest]! : 0;
      });
      const a = Math.floor(j / n), i = j % n;
      path[l] = i;
      s -= byInput[a]![i]!;
      b = a;
    }
    this.proposed++;
    return path;
  }

  /** A path drawn uniformly among those whose exact latency is in [loMs, hiMs]; undefined after `maxTries` rejected proposals. */
  draw(rng: Rng, maxTries = 10_000): number[] | undefined {
    for (let t = 0; t < maxTries; t++) {
      const path = this.propose(rng);
      const ms = this.latencyMs(path);
      if (ms >= this.loMs && ms <= this.hiMs) {
        this.accepted++;
        return path;
      }
    }
    return undefined;
  }

  /** An index in [0, n) with probability weight(k) / Σ weight. */
  private pick(rng: Rng, n: number, weight: (k: number) => number): number {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += weight(k);
    let u = rng.next() * sum;
    let last = -1;
    for (let k = 0; k < n; k++) {
      const w = weight(k);
      if (w <= 0) continue;
      last = k;
      u -= w;
      if (u < 0) return k;
    }
    return last;
  }
}

export const random: SearchStrategy<RandomOptions> = {
  name: 'random',
  summary: 'random (uniform in [0.9·T, T], the control)',
  defaults: RANDOM_DEFAULTS,
  weightShare: 1,
  files: [],
  lrOptions: [],
  weightsLabel: '',
  curves: [{ field: 'loss', title: 'supernet loss (CE)' }, { field: 'trainAcc', title: 'train accuracy' }],
  identity: (options, supernetFrom) => ({ random: options, supernetFrom: supernetFrom ?? null }),
  // Evolution's budget of n archs scores a population of 2n plus 5n children: 7n, the same here.
  forBudget: (samples) => ({ samples: samples * 7 }),

  start(ctx, o) {
    const { net, latency, targetMs } = ctx;
    const lo = BAND_LOW * targetMs;
    const sampler = new BandSampler(latency.chain, lo, targetMs);
    const noArch = (why: string) => {
      const fastest = latency.fastest().ms, slowest = latency.slowest().ms;
      fail(`--target-ms ${targetMs.toFixed(4)}: ${why} of space '${ctx.space.name}' has a LUT latency in [0.9·T, T] = [${lo.toFixed(4)}, ${targetMs.toFixed(4)}] ms, `
        + `where --strategy random draws; its archs span ${fastest.toFixed(4)}–${slowest.toFixed(4)} ms; choose --target-ms between ${fastest.toFixed(4)} and ${(slowest / BAND_LOW).toFixed(4)}`);
    };
    // Before any training: a band with no arch fails at once.
    if (!sampler.feasible) noArch('no arch');
    const paths = pathSampler(net, ctx.sampling, ctx.latency);
    return {
      ...STATELESS,
      beginEpoch: () => paths.beginEpoch(),
      weightChoice: (rng) => paths.choice(rng),
      endEpoch: async () => ({ fields: NO_EPOCH_FIELDS, line: '' }),

      async choose(scoring) {
        // Drawn before scoring (cheap), so the same seed draws the same archs, resumed or not. No checkpoint of its
        // own: a search resumed after its last epoch scores its draws again (evolution.json-style saving is not done).
        const rng = new Rng(ctx.seed * 6007 + 23);
        const paths = new Map<string, number[]>();
        // Distinct archs; a band smaller than --samples ends after many draws without a new one.
        let stale = 0;
        while (paths.size < o.samples && stale < 1000) {
          const p = sampler.draw(rng);
          if (!p) {
            if (paths.size === 0) noArch(`none of ${sampler.proposed} draws near the band was in it: no arch`);
            break;
          }
          if (paths.has(pathKey(p))) { stale++; continue; }
          stale = 0;
          paths.set(pathKey(p), p);
        }
        const rate = `${sampler.accepted}/${sampler.proposed} = ${(100 * sampler.accepted / sampler.proposed).toFixed(1)}%`;
        ctx.say(`search: random drew ${paths.size} distinct archs uniformly in [${lo.toFixed(4)}, ${targetMs.toFixed(4)}] ms; `
          + `acceptance of the exact-latency check after the grid sampler ${rate}`);
        const list = [...paths.values()];
        const bar = progress('scoring random archs', list.length, ctx.quiet);
        let best = -Infinity;
        const acc = await scoring.accuracies(list, (_, a) => {
          best = Math.max(best, a);
          bar.increment(1, `best ${(100 * best).toFixed(2)}%`);
        });
        bar.stop();
        const visited: Visited[] = list.map((path, k) => ({
          blocks: ctx.blocksOf(path), path, latencyMs: latency.pathMs(path), acc: acc[k]!,
          source: `random ${k + 1}/${list.length}, uniform in [0.9T, T] (sampler acceptance ${rate})`,
        }));
        return { visited, chosen: visited.reduce((a, b) => (b.acc > a.acc ? b : a)) };
      },

      dispose: () => {},
    };
  },
};
