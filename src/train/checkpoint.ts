/**
 * Variables to and from tensor files (src/train/tensor-file.ts): what the trainer's checkpoints,
 * the search's state and the exporters' weights share. A stored tensor is matched to a variable
 * by name and shape, so a file of another arch or supernet layout is refused by variable.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../errors.js';
import type { StoredTensor } from './tensor-file.js';

export function snapshot(vars: readonly tf.Variable[]): StoredTensor[] {
  return vars.map((v) => ({ name: v.name, shape: v.shape, data: v.dataSync() as Float32Array }));
}

/** Assigns every variable its stored value; fails with one line naming the file, the variable and `fix` when one is missing or of another shape. */
const OTHER_RUN = 'it was written by another latnas or another run: delete it to start training over, or choose another --out';

export function restore(vars: readonly tf.Variable[], stored: Map<string, StoredTensor>, path: string, fix = OTHER_RUN, what = 'checkpoint'): void {
  for (const v of vars) {
    const t = stored.get(v.name);
    if (!t || t.shape.join('x') !== v.shape.join('x')) {
      fail(`${what} '${path}' does not match the arch: variable '${v.name}' ${t ? `has shape ${t.shape.join('x')}, expected ${v.shape.join('x')}` : 'is missing'}; ${fix}`);
    }
    v.assign(tf.tensor(t.data, v.shape));
  }
}

/** A tfjs optimizer's state (`getWeights`) as stored tensors named `<prefix>/<name>`. */
export async function optimizerState(optimizer: tf.Optimizer, prefix: string): Promise<StoredTensor[]> {
  return (await optimizer.getWeights()).map((t) => ({ name: `${prefix}/${t.name}`, shape: t.tensor.shape, data: t.tensor.dataSync() as Float32Array }));
}

/** Restores what optimizerState stored under `prefix` (nothing when the file has none). */
export async function restoreOptimizer(optimizer: tf.Optimizer, stored: Map<string, StoredTensor>, prefix: string): Promise<void> {
  const weights = [...stored.values()].filter((t) => t.name.startsWith(`${prefix}/`)).map((t) => ({ name: t.name.slice(prefix.length + 1), tensor: tf.tensor(t.data, t.shape) }));
  if (weights.length > 0) await optimizer.setWeights(weights);
}
