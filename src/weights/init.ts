/**
 * The one random initialiser. Every weight latnas draws at random is He-scaled and drawn here:
 * the profiler's ONNX models (`RandomWeights`), a TF.js model's own weights and a supernet's
 * shared ones (`initWeights` with 'normal').
 */
import { Rng } from '../util/rng.js';
import type { Params, WeightSource } from './source.js';

/** He's standard deviation, sqrt(gain / fanIn): gain 2 where a ReLU may follow, 1 for the linear classifier. */
export function heStd(fanIn: number, gain = 2): number {
  return Math.sqrt(gain / fanIn);
}

export type Distribution = 'normal' | 'uniform';

/**
 * `n` weights of standard deviation `std`, one draw of `rng` each, in order: 'normal' (what the
 * TF.js models train from) or 'uniform', U(-std*sqrt(3), std*sqrt(3)) (see RandomWeights).
 */
export function initWeights(rng: Rng, n: number, std: number, dist: Distribution): Float32Array {
  const a = new Float32Array(n);
  if (dist === 'normal') {
    for (let i = 0; i < n; i++) a[i] = rng.normal() * std;
  } else {
    const bound = std * Math.sqrt(3);
    for (let i = 0; i < n; i++) a[i] = (2 * rng.next() - 1) * bound;
  }
  return a;
}

/**
 * He-uniform weights (PyTorch's default init) and small biases, seeded per layer name, so a layer
 * gets the same numbers whatever order layers are asked for in. Variance-preserving, so
 * activations of deep random nets stay normal floats: denormals would make timings
 * unrepresentative. Uniform, not normal: one PRNG draw per weight; Box-Muller normals were 70% of
 * the time to build an fbnet model for profiling.
 */
export class RandomWeights implements WeightSource {
  /**
   * Generated arrays by (seed, name, length, std): the numbers are a function of those alone, so
   * reusing them changes nothing but time. A profile builds hundreds of networks from the same
   * few dozen blocks: drawing fbnet's 3.9M weights took ~80 ms of a ~100 ms build, every network.
   * Capped at `CACHE_FLOATS` (cleared when full). Callers only read them (lower.ts copies into
   * the protobuf).
   */
  private static cache = new Map<string, Float32Array>();
  private static cached = 0;
  static readonly CACHE_FLOATS = 48 * 1024 * 1024;

  constructor(private readonly seed = 1) {}

  private draw(name: string, n: number, std: number): Float32Array {
    const key = `${this.seed}|${name}|${n}|${std}`;
    let a = RandomWeights.cache.get(key);
    if (!a) {
      a = initWeights(this.rng(name), n, std, 'uniform');
      if (RandomWeights.cached + n > RandomWeights.CACHE_FLOATS) {
        RandomWeights.cache.clear();
        RandomWeights.cached = 0;
      }
      RandomWeights.cache.set(key, a);
      RandomWeights.cached += n;
    }
    return a;
  }

  private rng(name: string): Rng {
    let h = 2166136261 ^ this.seed;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
    return new Rng(h);
  }

  conv(name: string, cout: number, cinPerGroup: number, k: number): Params {
    const fanIn = cinPerGroup * k * k;
    return { weight: this.draw(name, cout * fanIn, heStd(fanIn)), bias: this.draw(`${name}.bias`, cout, 0.01) };
  }

  fc(name: string, cout: number, cin: number): Params {
    return { weight: this.draw(name, cout * cin, heStd(cin, 1)), bias: this.draw(`${name}.bias`, cout, 0.01) };
  }
}
