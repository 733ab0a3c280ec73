/**
 * Where a lowering gets its numbers. The profiler uses seeded random weights; the exporter will
 * supply trained weights with BatchNorm already folded. Shapes are ONNX's (OIHW for convs).
 */
import { Rng } from '../util/rng.js';

export interface Params {
  weight: Float32Array;
  bias: Float32Array;
}

export interface WeightSource {
  /** Conv weight [cout, cin/groups, k, k] and bias [cout] (BN folded in, where the layer has BN). */
  conv(name: string, cout: number, cinPerGroup: number, k: number): Params;
  /** Fully connected weight [cout, cin] and bias [cout]. */
  fc(name: string, cout: number, cin: number): Params;
}

/**
 * He-normal weights and small biases, seeded. Variance-preserving, so activations of deep random
 * nets stay normal floats: denormals would make timings unrepresentative.
 */
export class RandomWeights implements WeightSource {
  private readonly rng: Rng;
  constructor(seed = 1) {
    this.rng = new Rng(seed);
  }
  private fill(n: number, std: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = this.rng.normal() * std;
    return a;
  }
  conv(_name: string, cout: number, cinPerGroup: number, k: number): Params {
    const fanIn = cinPerGroup * k * k;
    return { weight: this.fill(cout * fanIn, Math.sqrt(2 / fanIn)), bias: this.fill(cout, 0.01) };
  }
  fc(_name: string, cout: number, cin: number): Params {
    return { weight: this.fill(cout * cin, Math.sqrt(1 / cin)), bias: this.fill(cout, 0.01) };
  }
}
