/**
 * Lowers the layer IR to a TensorFlow.js model (NHWC), the trainer's side of the one block
 * registry: the same `Layer[]` the profiler lowers to ONNX. Its weights go back out through
 * `asWeightSource()` (BatchNorm folded, the IR's OIHW layouts: src/weights/source.ts), so an
 * exported network is the profiled lowering with trained numbers, never a second implementation.
 */
import * as tf from '@tensorflow/tfjs-core';
import { outputShape, seConvs, weightsOf, type Act, type ConvLayer, type ConvWeights, type FcWeights, type Layer, type Shape } from '../space/ir.js';
import { Rng } from '../util/rng.js';
import { heStd, initWeights } from '../weights/init.js';
import type { Params, WeightSource } from '../weights/source.js';
import { batchNormInfer, batchNormTrain, channelShuffle, conv2dSame, hardSigmoid, hardSwish, movingStatistics } from './ops.js';

export const BN_EPS = 1e-5;
/** Weight of the new batch statistics in the running averages (PyTorch's 0.1). */
export const BN_MOMENTUM = 0.1;

interface BatchNorm {
  gamma: tf.Variable<tf.Rank.R1>;
  beta: tf.Variable<tf.Rank.R1>;
  /** Running statistics: updated in training steps, not trained. */
  mean: tf.Variable<tf.Rank.R1>;
  variance: tf.Variable<tf.Rank.R1>;
}

/**
 * Weights a model borrows instead of owning (a supernet's candidates slice one shared tensor):
 * called inside the forward pass, so gradients reach the shared variables.
 */
export interface SharedConv {
  weight: () => tf.Tensor4D;
  /** For convs without BatchNorm. */
  bias?: () => tf.Tensor1D;
}

/** Given a conv (its role says what it is for) and its HWIO shape, the shared weights to use, or undefined to own them. */
export type SharedConvs = (conv: ConvWeights, shape: [number, number, number, number]) => SharedConv | undefined;

interface ConvParams {
  /** [k, k, cin / groups, cout] (HWIO per group): owned, or borrowed through `shared`. */
  weight?: tf.Variable<tf.Rank.R4>;
  bias?: tf.Variable<tf.Rank.R1>;
  shared?: SharedConv;
  bn?: BatchNorm;
  groups: number;
}

interface FcParams {
  /** [cin, cout]. */
  weight: tf.Variable<tf.Rank.R2>;
  bias: tf.Variable<tf.Rank.R1>;
}

function convWeight(p: ConvParams): tf.Tensor4D {
  return p.weight ?? p.shared!.weight();
}

function convBias(p: ConvParams): tf.Tensor1D | undefined {
  return p.bias ?? p.shared?.bias?.();
}

function activate(x: tf.Tensor4D, act: Act): tf.Tensor4D {
  if (act === 'relu') return tf.relu(x);
  if (act === 'hswish') return hardSwish(x) as tf.Tensor4D;
  return x;
}

export class TfModel {
  private readonly convs = new Map<string, ConvParams>();
  private readonly fcs = new Map<string, FcParams>();
  readonly output: Shape;
  /**
   * Weight of a training batch's statistics in the running averages. The supernet sets 1 / t for
   * the t-th batch of a BatchNorm recalibration, which makes the running values exact averages.
   */
  bnMomentum = BN_MOMENTUM;

  constructor(readonly layers: readonly Layer[], readonly input: Shape, seed = 1, private readonly sharedConvs?: SharedConvs) {
    // One generator for the whole model: weights are drawn in the order the layers run.
    const rng = new Rng(seed);
    for (const w of weightsOf(layers, input)) {
      if (w.kind === 'conv') this.conv(w, rng);
      else this.fc(w, rng);
    }
    this.output = outputShape(layers, input);
  }

  private conv(c: ConvWeights, rng: Rng): void {
    const { name, cout, groups, bn } = c;
    const shape = [c.k, c.k, c.cin / groups, cout] as [number, number, number, number];
    const shared = this.sharedConvs?.(c, shape);
    const fanIn = (c.cin / groups) * c.k * c.k;
    const p: ConvParams = shared
      ? { shared, groups }
      : { weight: tf.variable(tf.tensor4d(initWeights(rng, fanIn * cout, heStd(fanIn), 'normal'), shape), true, `${name}.weight`), groups };
    if (bn) {
      p.bn = {
        gamma: tf.variable(tf.ones([cout]), true, `${name}.bn.gamma`) as tf.Variable<tf.Rank.R1>,
        beta: tf.variable(tf.zeros([cout]), true, `${name}.bn.beta`) as tf.Variable<tf.Rank.R1>,
        mean: tf.variable(tf.zeros([cout]), false, `${name}.bn.mean`) as tf.Variable<tf.Rank.R1>,
        variance: tf.variable(tf.ones([cout]), false, `${name}.bn.variance`) as tf.Variable<tf.Rank.R1>,
      };
    } else if (!shared?.bias) {
      p.bias = tf.variable(tf.zeros([cout]), true, `${name}.bias`) as tf.Variable<tf.Rank.R1>;
    }
    this.convs.set(name, p);
  }

  private fc({ name, cin, cout }: FcWeights, rng: Rng): void {
    // std sqrt(1 / cin): the classifier has no ReLU after it, so no He factor of 2.
    const weight = tf.variable(tf.tensor2d(initWeights(rng, cin * cout, heStd(cin, 1), 'normal'), [cin, cout]), true, `${name}.weight`) as tf.Variable<tf.Rank.R2>;
    this.fcs.set(name, { weight, bias: tf.variable(tf.zeros([cout]), true, `${name}.bias`) as tf.Variable<tf.Rank.R1> });
  }

  /** Every trained variable this model owns (BN running statistics and shared weights excluded). */
  trainableVariables(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const p of this.convs.values()) {
      if (p.weight) vars.push(p.weight);
      if (p.bias) vars.push(p.bias);
      if (p.bn) vars.push(p.bn.gamma, p.bn.beta);
    }
    for (const p of this.fcs.values()) vars.push(p.weight, p.bias);
    return vars;
  }

  /** BatchNorm running statistics (not trained). */
  runningStatistics(): tf.Variable[] {
    const vars: tf.Variable[] = [];
    for (const p of this.convs.values()) if (p.bn) vars.push(p.bn.mean, p.bn.variance);
    return vars;
  }

  /** Every variable, running statistics included (what a checkpoint saves). */
  allVariables(): tf.Variable[] {
    return [...this.trainableVariables(), ...this.runningStatistics()];
  }

  private applyConv(x: tf.Tensor4D, l: ConvLayer, training: boolean): tf.Tensor4D {
    const p = this.convs.get(l.name)!;
    let y = conv2dSame(x, convWeight(p), l.stride, l.groups);
    if (p.bn) {
      if (training) {
        // A ReLU goes into the BatchNorm (one fused kernel on wasm).
        const fuseRelu = l.act === 'relu';
        const r = batchNormTrain(y, p.bn.gamma, p.bn.beta, BN_EPS, fuseRelu ? 'relu' : 'none');
        // Running statistics move outside the gradient tape (they are not trained).
        const bn = p.bn;
        const n = y.shape[0] * y.shape[1] * y.shape[2];
        tf.tidy(() => {
          const [mean, variance] = movingStatistics(bn, r, this.bnMomentum, n);
          bn.mean.assign(mean);
          bn.variance.assign(variance);
        });
        if (fuseRelu) return r.y;
        y = r.y;
      } else {
        // Likewise for inference: a ReLU goes into the BatchNorm (one fused kernel on wasm).
        if (l.act === 'relu') return batchNormInfer(y, p.bn.gamma, p.bn.beta, p.bn.mean, p.bn.variance, BN_EPS, 'relu');
        y = batchNormInfer(y, p.bn.gamma, p.bn.beta, p.bn.mean, p.bn.variance, BN_EPS);
      }
    } else {
      const bias = convBias(p);
      if (bias) y = tf.add(y, bias);
    }
    return activate(y, l.act);
  }

  private run(layers: readonly Layer[], x: tf.Tensor4D, training: boolean): tf.Tensor {
    let cur: tf.Tensor = x;
    for (const l of layers) {
      switch (l.op) {
        case 'conv':
          cur = this.applyConv(cur as tf.Tensor4D, l, training);
          break;
        case 'shuffle':
          cur = channelShuffle(cur as tf.Tensor4D, l.groups);
          break;
        case 'se': {
          const pooled = tf.mean(cur, [1, 2], true) as tf.Tensor4D;
          const [r, e] = seConvs(l, cur.shape[3]!);
          const reduce = this.convs.get(r.name)!;
          const expand = this.convs.get(e.name)!;
          const mid = tf.relu(tf.add(conv2dSame(pooled, convWeight(reduce), 1, 1), convBias(reduce)!)) as tf.Tensor4D;
          const gate = hardSigmoid(tf.add(conv2dSame(mid, convWeight(expand), 1, 1), convBias(expand)!));
          cur = tf.mul(cur, gate);
          break;
        }
        case 'residual':
          cur = tf.add(cur, this.run(l.body, cur as tf.Tensor4D, training));
          break;
        case 'gap':
          cur = tf.mean(cur, [1, 2], true);
          break;
        case 'fc': {
          const p = this.fcs.get(l.name)!;
          const flat = tf.reshape(cur, [cur.shape[0]!, -1]) as tf.Tensor2D;
          cur = tf.add(tf.matMul(flat, p.weight), p.bias);
          break;
        }
      }
    }
    return cur;
  }

  /** Logits [N, classes] for an NHWC batch. `training` uses batch statistics and updates the running ones. */
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return this.run(this.layers, x, training) as tf.Tensor2D;
  }

  /**
   * The weights as the ONNX lowering wants them: OIHW convs with BatchNorm folded in
   * (W' = W * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps)), [cout, cin] FC.
   */
  asWeightSource(): WeightSource {
    const convs = new Map<string, Params>();
    for (const [name, p] of this.convs) {
      const wt = p.weight ?? tf.tidy(() => p.shared!.weight());
      const [k, , cinG, cout] = wt.shape;
      const w = wt.dataSync();
      // A borrowed weight may be the shared variable itself (a supernet's largest candidate): never dispose that.
      if (!p.weight && !(wt instanceof tf.Variable)) wt.dispose();
      const scale = new Float32Array(cout).fill(1);
      const bias = new Float32Array(cout);
      if (p.bn) {
        const g = p.bn.gamma.dataSync(), b = p.bn.beta.dataSync(), m = p.bn.mean.dataSync(), v = p.bn.variance.dataSync();
        for (let o = 0; o < cout; o++) {
          scale[o] = g[o]! / Math.sqrt(v[o]! + BN_EPS);
          bias[o] = b[o]! - m[o]! * scale[o]!;
        }
      } else {
        const b = tf.tidy(() => convBias(p));
        if (b) bias.set(b.dataSync());
        if (b && !p.bias && !(b instanceof tf.Variable)) b.dispose();
      }
      const weight = new Float32Array(w.length);
      // HWIO -> OIHW.
      for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) for (let i = 0; i < cinG; i++) for (let o = 0; o < cout; o++) {
        weight[((o * cinG + i) * k + ky) * k + kx] = w[((ky * k + kx) * cinG + i) * cout + o]! * scale[o]!;
      }
      convs.set(name, { weight, bias });
    }
    const fcs = new Map<string, Params>();
    for (const [name, p] of this.fcs) {
      const [cin, cout] = p.weight.shape;
      const w = p.weight.dataSync();
      const weight = new Float32Array(w.length);
      for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) weight[o * cin + i] = w[i * cout + o]!;
      fcs.set(name, { weight, bias: Float32Array.from(p.bias.dataSync()) });
    }
    const get = (m: Map<string, Params>, name: string): Params => {
      const p = m.get(name);
      if (!p) throw new Error(`no weights for layer '${name}'`);
      return p;
    };
    return { conv: (name) => get(convs, name), fc: (name) => get(fcs, name) };
  }

  dispose(): void {
    for (const v of this.allVariables()) v.dispose();
  }
}
