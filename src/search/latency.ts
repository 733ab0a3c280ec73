/**
 * The LUT as the search sees it: a latency per candidate per searchable layer, plus the fixed
 * part (stem, head, per-network overhead). A path's latency is exactly what `latnas predict`
 * says for that arch; the expected latency under per-layer probabilities is differentiable.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../errors.js';
import { predict, type Lut } from '../lut/lut.js';
import { formatBlock } from '../space/blocks.js';
import { chainExtreme, costChain, pathCost, unitChain, type CostChain } from '../space/chain.js';
import { pathBlocks, type Path } from '../space/path.js';
import { searchableLayers, type Space } from '../space/spaces.js';

export class LatencyModel {
  /**
   * The space's latencies as a chain (space/chain.ts): `cost[l][a][i]` ms of layer l's candidate i
   * at its input a (0 for an identity skip), `next[l][i]` the input it gives layer l + 1; with one
   * input per layer (no widths) `cost[l][0]` is the layer's row. `fixed`: the stem, the head (when
   * its input is fixed; otherwise folded into the last layer's entries) and the per-network overhead.
   */
  readonly chain: CostChain;
  /** True when every layer has one input (a fixed-width space): then a layer's latency is its own choice's. */
  readonly independent: boolean;
  private readonly tensors: { cost: tf.Tensor2D; next?: tf.Tensor2D }[] = [];

  constructor(readonly space: Space, lut: Lut, lutPath: string) {
    const layers = searchableLayers(space);
    this.chain = costChain(unitChain(space, layers), (u) => predict(lut, [u], lutPath).units[0]!.latencyMs, lut.calibration.overheadMs);
    this.independent = this.chain.cost.every((byInput) => byInput.length === 1);
  }

  /**
   * [layer][candidate] in ms, for a fixed-width space (one input per layer), where a layer's
   * latency is its own choice's; a space with widths has no such table (use `chain`).
   */
  get table(): number[][] {
    if (!this.independent) throw new Error(`LatencyModel.table: space '${this.space.name}' has widths, so a layer's latency depends on its input; use .chain`);
    return this.chain.cost.map((byInput) => byInput[0]!);
  }

  /** Stem, head (fixed-width) and the per-network overhead, in ms. */
  get fixedMs(): number {
    return this.chain.fixed;
  }

  pathMs(path: Path): number {
    return pathCost(this.chain, path);
  }

  /** The fastest path of the space and its latency: the floor under any target. */
  fastest(): { path: number[]; ms: number } {
    const r = chainExtreme(this.chain, 'min')!;
    return { path: r.path, ms: r.cost };
  }

  slowest(): { path: number[]; ms: number } {
    const r = chainExtreme(this.chain, 'max')!;
    return { path: r.path, ms: r.cost };
  }

  /**
   * The expected latency when each layer's candidate is drawn independently with probabilities
   * `probs[l]` (float32, differentiable, for the θ loss). Fixed-width: Σ_l Σ_i p[l][i] · LAT[l][i] + fixed.
   * With widths, layer l's input is a, with probability q_l[a] = Σ over the previous layer's
   * candidates that output a of their probabilities, so the term is q_lᵀ · LAT_l · p_l: still exact
   * (the layers are independent), and still a product of the probabilities, so it differentiates.
   */
  expected(probs: readonly tf.Tensor1D[]): tf.Scalar {
    if (this.tensors.length === 0) {
      this.chain.cost.forEach((byInput, l) => {
        const next = this.chain.next[l]!;
        const outputs = Math.max(...next) + 1;
        this.tensors.push({
          cost: tf.keep(tf.tensor2d(byInput)),
          ...(this.independent ? {} : { next: tf.keep(tf.tensor2d(Array.from({ length: outputs }, (_, b) => next.map((n) => (n === b ? 1 : 0))))) }),
        });
      });
    }
    if (this.independent) {
      return tf.add(this.fixedMs, tf.addN(probs.map((p, l) => tf.sum(tf.mul(p, tf.squeeze(this.tensors[l]!.cost, [0])))))) as tf.Scalar;
    }
    let q: tf.Tensor1D = tf.ones([1]);
    const terms = probs.map((p, l) => {
      const t = this.tensors[l]!;
      const column = tf.reshape(p, [-1, 1]);
      const term = tf.sum(tf.mul(q, tf.reshape(tf.matMul(t.cost, column), [-1])));
      q = tf.reshape(tf.matMul(t.next!, column), [-1]);
      return term;
    });
    return tf.add(this.fixedMs, tf.addN(terms)) as tf.Scalar;
  }

  /** The same expectation as `expected`, in float64 from probabilities read back: what the search logs per epoch. */
  expectedMs(probs: readonly ArrayLike<number>[]): number {
    let sum = 0;
    let q: number[] = [1];
    probs.forEach((p, l) => {
      const byInput = this.chain.cost[l]!, next = this.chain.next[l]!;
      const nq: number[] = [];
      let layer = 0;
      byInput.forEach((row, a) => {
        let perInput = 0;
        for (let i = 0; i < p.length; i++) perInput += p[i]! * row[i]!;
        layer += (q[a] ?? 0) * perInput;
      });
      for (let i = 0; i < p.length; i++) nq[next[i]!] = (nq[next[i]!] ?? 0) + p[i]!;
      q = nq;
      sum += layer;
    });
    return this.fixedMs + sum;
  }

  dispose(): void {
    for (const t of this.tensors) { t.cost.dispose(); t.next?.dispose(); }
    this.tensors.length = 0;
  }
}

/** Fails at once, naming the floor, when no arch of the space can meet the target. */
export function checkTarget(model: LatencyModel, targetMs: number, lutPath: string): void {
  if (!(targetMs > 0)) fail(`--target-ms must be a positive number of milliseconds (got ${targetMs})`);
  const floor = model.fastest();
  // Not `targetMs < floor.ms`: that is false for a NaN floor, and the search would start anyway.
  if (!(targetMs >= floor.ms)) {
    const arch = pathBlocks(model.space, floor.path).map(formatBlock).join(',');
    fail(`--target-ms ${targetMs} is infeasible: the fastest arch of space '${model.space.name}' is predicted at ${floor.ms.toFixed(4)} ms by '${lutPath}' (${arch}); `
      + `raise --target-ms to at least ${floor.ms.toFixed(4)}`);
  }
}
