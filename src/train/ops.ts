/**
 * The training ops our blocks are made of, as pure functions of tfjs tensors (NHWC, TF 'same'
 * padding, HWIO filters). They use only ops every backend has (with src/train/wasm-kernels.ts
 * registered on wasm), so the same code trains on tfjs-node, wasm and cpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../errors.js';
// tfjs-core's Node build registers no gradients; this registers the ones training needs.
import './kernels/gradients.js';
import { BATCHNORM_GRAD, BATCHNORM_INFER, BATCHNORM_TRAIN, RUNNING_STATS } from './kernels/native.js';

/**
 * Convolution with TF 'same' padding. `w` is [k, k, cin / groups, cout] for every `groups` (HWIO
 * per group, the layout model.ts creates and ONNX Conv's grouping): output channel o reads input
 * group floor(o / (cout / groups)).
 * - groups === 1: tf.conv2d.
 * - groups === cin: depthwise, so w is [k, k, 1, cout] with cout a multiple of cin (cout === cin
 *   for our blocks). It is the same memory as tf.depthwiseConv2d's [k, k, cin, cout / cin]
 *   (channel c * m + j comes from input c in both), so it is reshaped, not copied.
 * - otherwise: the channels split into groups, one conv each, outputs concatenated.
 */
export function conv2dSame(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, groups: number): tf.Tensor4D {
  const cin = x.shape[3];
  const [kh, kw, cinG, cout] = w.shape;
  if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0 || cout % groups !== 0) {
    fail(`conv2dSame: groups ${groups} must divide input channels ${cin} and output channels ${cout}`);
  }
  if (cinG * groups !== cin) {
    fail(`conv2dSame: filter [${w.shape}] has ${cinG} input channels per group, expected ${cin / groups} (${cin} channels in ${groups} groups)`);
  }
  if (groups === 1) return tf.conv2d(x, w, stride, 'same');
  if (groups === cin) {
    const dw = tf.reshape(w, [kh, kw, cin, cout / cin]) as tf.Tensor4D;
    return tf.depthwiseConv2d(x, dw, stride, 'same');
  }
  const xs = tf.split(x, groups, 3) as tf.Tensor4D[];
  const ws = tf.split(w, groups, 3) as tf.Tensor4D[];
  return tf.concat(xs.map((xi, i) => tf.conv2d(xi, ws[i]!, stride, 'same')), 3);
}

/**
 * Per-channel sum over N, H, W in two steps (over W, then over N * H): wasm's Sum transposes the
 * reduced axes to the end first, and two small transposes beat one big one by 2-3x there.
 */
function channelSum(x: tf.Tensor4D): tf.Tensor1D {
  const [n, h, w, c] = x.shape;
  return tf.sum(tf.sum(tf.reshape(x, [n * h, w, c]), 1), 0);
}

/** The activation batchNormTrain can fuse after the normalisation. */
export type BatchNormAct = 'none' | 'relu';

/**
 * BatchNorm with the batch statistics over N, H, W (biased variance, as PyTorch and TF use for
 * normalising), followed by `act`. The gradient w.r.t. x, gamma and beta is the closed form
 *   dbeta = sum(dy), dgamma = sum(dy * xhat),
 *   dx = gamma / (sqrt(var + eps) * M) * (M * dy - dbeta - xhat * dgamma),   M = N * H * W,
 * because the taped one goes through mean's gradient (a broadcast via `tile`-like ops) twice and
 * took most of a training step on wasm. On wasm the forward pass and the gradient are one kernel
 * each (kernels/native.ts: statistics in one pass over x, normalisation and ReLU in a second; both sums
 * and dx in two passes over dy), where the composed version takes ~20 tfjs ops. `mean` and
 * `variance` come out for the running averages; they carry no gradient.
 */
export function batchNormTrain(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps = 1e-5, act: BatchNormAct = 'none',
): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (tf.getBackend() === 'wasm' && tf.getKernel(BATCHNORM_TRAIN, 'wasm') && x.dtype === 'float32') {
    return fusedBatchNormTrain(x, gamma, beta, eps, act === 'relu');
  }
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const f = tf.customGrad((...args) => {
    const [xi, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const count = xi.shape[0] * xi.shape[1] * xi.shape[2];
    const m = tf.div(channelSum(xi), count) as tf.Tensor1D;
    const centered = tf.sub(xi, m);
    const v = tf.div(channelSum(tf.square(centered) as tf.Tensor4D), count) as tf.Tensor1D;
    const invStd = tf.rsqrt(tf.add(v, eps)) as tf.Tensor1D;
    const xhat = tf.mul(centered, invStd) as tf.Tensor4D;
    save([xhat, invStd, g]);
    // customGrad runs f inside a tidy that frees all but `value`; keep the statistics.
    mean = tf.keep(m);
    variance = tf.keep(v);
    return {
      value: tf.add(tf.mul(xhat, g), b) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [sx, sInvStd, sGamma] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
        const count = dy.shape[0] * dy.shape[1] * dy.shape[2];
        const dbeta = channelSum(dy);
        const dgamma = channelSum(tf.mul(dy, sx));
        // Per-channel factors first, so only four full-size ops remain.
        const k = tf.mul(sGamma, sInvStd);
        const kBeta = tf.mul(k, tf.div(dbeta, count));
        const kGamma = tf.mul(k, tf.div(dgamma, count));
        const dx = tf.sub(tf.mul(dy, k), tf.add(tf.mul(sx, kGamma), kBeta)) as tf.Tensor4D;
        return [dx, dgamma, dbeta];
      },
    };
  });
  const y = f(x, gamma, beta);
  return { y: act === 'relu' ? tf.relu(y) : y, ...keptStatistics(mean!, variance!) };
}

/** Clones bring statistics kept inside a customGrad back under the caller's tidy scopes. */
function keptStatistics(mean: tf.Tensor1D, variance: tf.Tensor1D): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const m = tf.clone(mean);
  const v = tf.clone(variance);
  mean.dispose();
  variance.dispose();
  return { mean: m, variance: v };
}

/** batchNormTrain on wasm's fused kernels; with relu, the ReLU and its mask are fused in too. */
function fusedBatchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number, relu: boolean): { y: tf.Tensor4D; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let mean: tf.Tensor1D | undefined;
  let variance: tf.Tensor1D | undefined;
  const attrs = { eps, relu };
  const f = tf.customGrad((...args) => {
    const [xi, g, b, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const [y, m, v] = tf.engine().runKernel(BATCHNORM_TRAIN, { x: xi, gamma: g, beta: b }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    save([xi, y, m, v, g]);
    mean = tf.keep(m);
    variance = tf.keep(v);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [sx, sy, sm, sv, sg] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        return tf.engine().runKernel(BATCHNORM_GRAD, { dy, x: sx, y: sy, mean: sm, variance: sv, gamma: sg }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      },
    };
  });
  const y = f(x, gamma, beta);
  return { y, ...keptStatistics(mean!, variance!) };
}

/**
 * BatchNorm running averages after a training batch of `count` values per channel:
 * running = (1 - momentum) * running + momentum * batch, with the batch variance unbiased by
 * count / (count - 1) (PyTorch's rule). One kernel on wasm. Returns the new [mean, variance].
 */
export function movingStatistics(
  running: { mean: tf.Tensor1D; variance: tf.Tensor1D }, batch: { mean: tf.Tensor1D; variance: tf.Tensor1D }, momentum: number, count: number,
): [tf.Tensor1D, tf.Tensor1D] {
  const unbias = count > 1 ? count / (count - 1) : 1;
  if (tf.getBackend() === 'wasm' && tf.getKernel(RUNNING_STATS, 'wasm')) {
    const inputs = { mean: running.mean, variance: running.variance, batchMean: batch.mean, batchVariance: batch.variance };
    return tf.engine().runKernel(RUNNING_STATS, inputs, { momentum, unbias }) as [tf.Tensor1D, tf.Tensor1D];
  }
  return tf.tidy(() => [
    tf.add(tf.mul(running.mean, 1 - momentum), tf.mul(batch.mean, momentum)) as tf.Tensor1D,
    tf.add(tf.mul(running.variance, 1 - momentum), tf.mul(unbias === 1 ? batch.variance : tf.mul(batch.variance, unbias), momentum)) as tf.Tensor1D,
  ]);
}

/**
 * BatchNorm with given (running) statistics, as one per-channel scale and shift, followed by
 * `act`. On wasm one fused kernel (kernels/native.ts, ReLU included) with a registered gradient.
 */
export function batchNormInfer(
  x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, mean: tf.Tensor1D, variance: tf.Tensor1D, eps = 1e-5, act: BatchNormAct = 'none',
): tf.Tensor4D {
  if (tf.getBackend() === 'wasm' && tf.getKernel(BATCHNORM_INFER, 'wasm') && x.dtype === 'float32') {
    return tf.engine().runKernel(BATCHNORM_INFER, { x, gamma, beta, mean, variance }, { eps, relu: act === 'relu' }) as tf.Tensor4D;
  }
  const y = tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    const shift = tf.sub(beta, tf.mul(mean, scale));
    return tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
  });
  return act === 'relu' ? tf.relu(y) : y;
}

/** x * relu6(x + 3) / 6 (MobileNetV3). */
export function hardSwish(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, hardSigmoid(x));
}

/** relu6(x + 3) / 6, the gate of MobileNetV3's squeeze-excite (PyTorch's Hardsigmoid). */
export function hardSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.relu6(tf.add(x, 3)), 1 / 6);
}

/**
 * ShuffleNet channel shuffle in NHWC: [N, H, W, g, C/g] -> swap the last two axes -> [N, H, W, C].
 * Channel i of group g moves to position i * groups + g, as ONNX Reshape / Transpose
 * [0, 2, 1, 3, 4] / Reshape does in NCHW.
 */
export function channelShuffle(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) fail(`channelShuffle: groups ${groups} must divide the ${c} channels`);
  // A reshape, not x itself: the caller may dispose input and output independently.
  if (groups === 1) return tf.reshape(x, [n, h, w, c]);
  const split = tf.reshape(x, [n, h, w, groups, c / groups]);
  return tf.reshape(tf.transpose(split, [0, 1, 2, 4, 3]), [n, h, w, c]);
}
