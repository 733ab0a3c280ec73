/**
 * SGD with (Nesterov) momentum whose state is keyed by variable name. tfjs's MomentumOptimizer
 * matches accumulators to gradients by position in the gradient list, which is right only when
 * every step trains the same variables; a supernet trains a different path each step, so its
 * momentum would land on other candidates' weights (or fail on their shapes). Variables without
 * a gradient in a step are left alone, as PyTorch's SGD leaves parameters whose grad is None.
 * Also the learning-rate schedule the trainer and the search share.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MOMENTUM_UPDATE, type MomentumUpdateAttrs } from './kernels/native.js';
import type { StoredTensor } from './tensor-file.js';

/** Cosine decay from `lr` to 0 over all steps. */
export function cosineLr(lr: number, step: number, total: number): number {
  return 0.5 * lr * (1 + Math.cos((Math.PI * step) / Math.max(1, total)));
}

export class SgdMomentum {
  private readonly velocity = new Map<string, tf.Variable>();

  constructor(public learningRate: number, readonly momentum = 0.9, readonly nesterov = true) {}

  applyGradients(grads: tf.NamedTensorMap): void {
    // On wasm each variable's update is one kernel (kernels/native.ts), with the composed ops' results.
    const fused = tf.getKernel(MOMENTUM_UPDATE, tf.getBackend()) !== undefined;
    for (const [name, g] of Object.entries(grads)) {
      const value = tf.engine().registeredVariables[name];
      if (!value || !g) continue;
      let v = this.velocity.get(name);
      if (!v) {
        v = tf.variable(tf.zerosLike(value), false, `${name}/velocity`);
        this.velocity.set(name, v);
      }
      const vel = v;
      tf.tidy(() => {
        if (fused) {
          // One kernel: value + (-lr)·direction is value - lr·direction to the bit (negation is exact).
          const attrs: MomentumUpdateAttrs = { negLr: -this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
          const [next, nextVel] = tf.engine().runKernel(MOMENTUM_UPDATE, { value, accumulation: vel, gradient: g }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
          vel.assign(nextVel!);
          value.assign(next!);
          return;
        }
        const next = tf.add(tf.mul(this.momentum, vel), g);
        const direction = this.nesterov ? tf.add(g, tf.mul(this.momentum, next)) : next;
        vel.assign(next);
        value.assign(tf.sub(value, tf.mul(this.learningRate, direction)));
      });
    }
  }

  /** State for a checkpoint, named `<variable>/velocity`. */
  state(): StoredTensor[] {
    return [...this.velocity].map(([name, v]) => ({ name: `${name}/velocity`, shape: v.shape, data: v.dataSync() as Float32Array }));
  }

  restore(stored: Iterable<StoredTensor>): void {
    for (const t of stored) {
      if (!t.name.endsWith('/velocity')) continue;
      const name = t.name.slice(0, -'/velocity'.length);
      this.velocity.get(name)?.dispose();
      this.velocity.set(name, tf.variable(tf.tensor(t.data, t.shape), false, t.name));
    }
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}

/**
 * tfjs's MomentumOptimizer with each variable's update one kernel (kernels/native.ts) where the
 * backend has it (wasm), the composed ops elsewhere. Bit-identical results, and the same state
 * (getWeights/setWeights), so checkpoints of either resume in the other.
 */
export class FusedMomentumOptimizer extends tf.MomentumOptimizer {
  constructor(learningRate: number, private readonly momentumValue: number, private readonly nesterov: boolean) {
    super(learningRate, momentumValue, nesterov);
  }

  override applyGradients(variableGradients: Parameters<tf.MomentumOptimizer['applyGradients']>[0]): void {
    if (Array.isArray(variableGradients) || !tf.getKernel(MOMENTUM_UPDATE, tf.getBackend())) {
      super.applyGradients(variableGradients);
      return;
    }
    // The base class's state, by position as it keeps it: its getWeights/setWeights stay valid.
    const state = this as unknown as { accumulations: { originalName: string; variable: tf.Variable }[] };
    const attrs: MomentumUpdateAttrs = { negLr: -this.learningRate, momentum: this.momentumValue, nesterov: this.nesterov };
    Object.keys(variableGradients).forEach((name, i) => {
      const value = tf.engine().registeredVariables[name]!;
      state.accumulations[i] ??= { originalName: `${name}/momentum`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      const accumulation = state.accumulations[i]!.variable;
      const gradient = (variableGradients as tf.NamedTensorMap)[name];
      if (!gradient) return;
      tf.tidy(() => {
        const [next, nextAcc] = tf.engine().runKernel(MOMENTUM_UPDATE, { value, accumulation, gradient }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        accumulation.assign(nextAcc!);
        value.assign(next!);
      });
    });
    this.incrementIterations();
  }
}
