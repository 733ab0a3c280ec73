/**
 * The LUT as the search sees it: a latency per candidate per searchable layer, plus the fixed
 * part (stem, head, per-network overhead). A path's latency is exactly what `latnas predict`
 * says for that arch; the expected latency under per-layer probabilities is differentiable.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../errors.js';
import { predict, type Lut } from '../lut/lut.js';
import { formatBlock } from '../space/blocks.js';
import { blockUnit, networkUnits } from '../space/network.js';
import { pathBlocks, type Path } from '../space/path.js';
import { searchableLayers, type Space } from '../space/spaces.js';

export class LatencyModel {
  /** [layer][candidate] in ms (0 for an identity skip). */
  readonly table: number[][];
  /** Stem, head and the per-network overhead, in ms. */
  readonly fixedMs: number;
  private readonly tableTensors: tf.Tensor1D[] = [];

  constructor(readonly space: Space, lut: Lut, lutPath: string) {
    const layers = searchableLayers(space);
    // Any arch gives the fixed part: the whole prediction minus its blocks.
    const first = layers.map((l) => l.candidates[0]!);
    const whole = predict(lut, networkUnits(space, first), lutPath);
    this.fixedMs = whole.units.filter((u) => u.kind !== 'block').reduce((s, u) => s + u.latencyMs, 0) + whole.overheadMs;
    this.table = layers.map((l) => l.candidates.map((b) => {
      const unit = blockUnit(b, l.input, l.index);
      return predict(lut, [unit], lutPath).units[0]!.latencyMs;
    }));
  }

  pathMs(path: Path): number {
    return path.reduce((s, i, l) => s + this.table[l]![i]!, this.fixedMs);
  }

  /** The fastest path of the space and its latency: the floor under any target. */
  fastest(): { path: number[]; ms: number } {
    const path = this.table.map((row) => row.indexOf(Math.min(...row)));
    return { path, ms: this.pathMs(path) };
  }

  slowest(): { path: number[]; ms: number } {
    const path = this.table.map((row) => row.indexOf(Math.max(...row)));
    return { path, ms: this.pathMs(path) };
  }

  /** Σ_l Σ_i p[l][i] · LAT[l][i] + fixed: differentiable in the probabilities (float32, for the θ loss). */
  expected(probs: readonly tf.Tensor1D[]): tf.Scalar {
    if (this.tableTensors.length === 0) for (const row of this.table) this.tableTensors.push(tf.keep(tf.tensor1d(row)));
    return tf.add(this.fixedMs, tf.addN(probs.map((p, l) => tf.sum(tf.mul(p, this.tableTensors[l]!))))) as tf.Scalar;
  }

  /** The same expectation as `expected`, in float64 from probabilities read back: what the search logs per epoch. */
  expectedMs(probs: readonly ArrayLike<number>[]): number {
    let sum = 0;
    probs.forEach((p, l) => {
      const row = this.table[l]!;
      let layer = 0;
      for (let i = 0; i < p.length; i++) layer += p[i]! * row[i]!;
      sum += layer;
    });
    return this.fixedMs + sum;
  }

  dispose(): void {
    for (const t of this.tableTensors) t.dispose();
    this.tableTensors.length = 0;
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
