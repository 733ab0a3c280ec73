/**
 * What moves between a parallel search's coordinator and its workers: every supernet variable
 * (running statistics included) and the weights' momentum. Matched by position in
 * `allVariables()`, not by name: tfjs names are per thread, and the coordinator's supernet is
 * `supernet1/` when another one is alive in its process while a worker's is always `supernet0/`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Supernet } from '../../supernet/supernet.js';
import type { SgdMomentum } from '../../train/optim.js';

export interface NetState {
  /** One per variable of `allVariables()`, in its order. */
  values: Float32Array[];
  /** The momentum of the variables that have one, by their index in `allVariables()`. */
  velocity: { index: number; data: Float32Array }[];
}

const VELOCITY = '/velocity';

export function netState(net: Supernet, wOpt: SgdMomentum): NetState {
  const vars = net.allVariables();
  const index = new Map(vars.map((v, i) => [v.name, i]));
  const velocity = wOpt.state().map((t) => ({ index: index.get(t.name.slice(0, -VELOCITY.length))!, data: t.data }));
  return { values: vars.map((v) => v.dataSync() as Float32Array), velocity };
}

/** Sets `net` and `wOpt` to a state `netState` took from a supernet of the same space. */
export function loadNetState(net: Supernet, wOpt: SgdMomentum, s: NetState): void {
  const vars = net.allVariables();
  if (s.values.length !== vars.length) throw new Error(`supernet state has ${s.values.length} variables; this supernet has ${vars.length}`);
  tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(s.values[i]!, v.shape, 'float32'))));
  wOpt.restore(s.velocity.map(({ index, data }) => ({ name: `${vars[index]!.name}${VELOCITY}`, shape: vars[index]!.shape, data })));
}
