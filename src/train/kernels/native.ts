/**
 * Our own wasm SIMD kernels (simd/kernels.c, built into simd/module.ts), run inside the memory of
 * tfjs-backend-wasm: the module imports the backend's WebAssembly.Memory, so a tensor is read and
 * written in place at its memoryOffset, with no copies. Kernels:
 * - DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput (multiplier 1;
 *   other cases fall back to the compositions in conv.ts).
 * - 1x1 convs (stride 1, unpadded): Conv2D (x W), Conv2DBackpropInput (dy W^T) and
 *   Conv2DBackpropFilter (x^T dy), as GEMMs straight on the NHWC rows.
 * - LatnasBatchNormTrain / LatnasBatchNormGrad: BatchNorm with batch statistics (optionally
 *   followed by ReLU) and its gradient, one kernel each instead of ~20 tfjs ops; ops.ts uses
 *   them on wasm only, other backends keep the composed version.
 * - LatnasBatchNormInfer: BatchNorm with given (running) statistics, optionally followed by ReLU,
 *   one pass over x instead of two or three elementwise ops (plus the ReLU); its gradient is
 *   registered here as tfjs ops (inference-mode gradients are rare: supernet gate tests).
 * - LatnasMomentumUpdate: SGD with (Nesterov) momentum for one variable, one SIMD pass instead of
 *   tfjs MomentumOptimizer's six elementwise ops (about 700 kernel calls a step on fbnet-mini),
 *   bit-identical to them (optim.ts FusedMomentumOptimizer uses it).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { KERNELS_WASM_BASE64 } from './simd/module.js';

export const BATCHNORM_TRAIN = 'LatnasBatchNormTrain';
export const BATCHNORM_GRAD = 'LatnasBatchNormGrad';
export const RUNNING_STATS = 'LatnasRunningStats';
export const BATCHNORM_INFER = 'LatnasBatchNormInfer';
export const MOMENTUM_UPDATE = 'LatnasMomentumUpdate';

export interface MomentumUpdateAttrs {
  /** The learning rate, negated (tfjs's `c`). */
  negLr: number;
  momentum: number;
  nesterov: boolean;
}

export interface RunningStatsAttrs {
  /** Weight of the batch statistics. */
  momentum: number;
  /** Factor applied to the batch variance first (count / (count - 1) for an unbiased one). */
  unbias: number;
}

export interface BatchNormTrainAttrs {
  eps: number;
  /** Fuse a ReLU after the normalisation. */
  relu: boolean;
}

/** The parts of tfjs-backend-wasm's BackendWasm we use. */
interface WasmBackend {
  wasm: {
    _malloc(bytes: number): number;
    _free(ptr: number): void;
    asm?: { memory?: WebAssembly.Memory };
  };
  getMemoryOffset(dataId: object): number;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

interface Exports {
  depthwise_filter_grad(x: number, dy: number, dw: number, n: number, h: number, w: number, c: number,
    oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  batchnorm_forward(x: number, gamma: number, beta: number, y: number, mean: number, variance: number,
    m: number, c: number, eps: number, relu: number, scratch: number): void;
  batchnorm_infer(x: number, gamma: number, beta: number, mean: number, variance: number, y: number,
    m: number, c: number, eps: number, relu: number, scratch: number): void;
  batchnorm_backward(dy: number, x: number, y: number, mean: number, variance: number, gamma: number,
    dx: number, dgamma: number, dbeta: number, m: number, c: number, eps: number, relu: number, scratch: number): void;
  depthwise_input_grad(dy: number, w: number, dx: number, n: number, h: number, w_: number, c: number,
    oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  conv_filter_grad_small_cin(x: number, dy: number, dw: number, n: number, h: number, w: number, ci: number, co: number,
    oh: number, ow: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number): void;
  matmul_tn(a: number, b: number, c: number, rows: number, i: number, o: number): void;
  matmul_nn(a: number, b: number, c: number, rows: number, k: number, o: number, scratch: number): void;
  matmul_nt(a: number, w: number, c: number, rows: number, k: number, o: number, scratch: number): void;
  momentum_update(w: number, a: number, g: number, ow: number, oa: number, n: number, c: number, m: number, nesterov: number): void;
  __stack_pointer: WebAssembly.Global;
}

/** Shadow stack for the module (kernels.c uses none today; this keeps it safe if that changes). */
const STACK_BYTES = 64 * 1024;

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<object, Exports>();

/** The module instantiated on this backend's memory (once per backend instance). */
function kernels(backend: KernelBackend): { k: Exports; b: WasmBackend } {
  const b = backend as unknown as WasmBackend;
  let k = instances.get(b);
  if (!k) {
    const memory = b.wasm.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory)) throw new Error('tfjs-backend-wasm exposes no WebAssembly.Memory (wasm.asm.memory): unsupported version');
    compiled ??= new WebAssembly.Module(Buffer.from(KERNELS_WASM_BASE64, 'base64'));
    k = new WebAssembly.Instance(compiled, { env: { memory } }).exports as unknown as Exports;
    const stack = b.wasm._malloc(STACK_BYTES) >>> 0;
    k.__stack_pointer.value = stack + STACK_BYTES; // grows down
    instances.set(b, k);
  }
  return { k, b };
}

function ptr(b: WasmBackend, t: TensorInfo): number {
  return b.getMemoryOffset(t.dataId);
}

/** Runs `f` with `floats` floats of scratch memory on the wasm heap. */
function withScratch<T>(b: WasmBackend, floats: number, f: (p: number) => T): T {
  const p = b.wasm._malloc(Math.max(floats, 1) * 4) >>> 0;
  try {
    return f(p);
  } finally {
    b.wasm._free(p);
  }
}

function requireFloat32(kernel: string, ...ts: TensorInfo[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${kernel} on wasm: float32 only (got ${t.dtype})`);
}

/**
 * dw [kh, kw, c, 1] of a depthwise conv with multiplier 1, NHWC, dilation 1. Returns undefined
 * where the caller should use the composed version instead.
 */
export function nativeDepthwiseFilterGrad(backend: KernelBackend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo, multiplier: number): TensorInfo | undefined {
  if (multiplier !== 1 || info.filterWidth > 7 || x.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const out = b.makeOutput([info.filterHeight, info.filterWidth, c, 1], 'float32');
  k.depthwise_filter_grad(ptr(b, x), ptr(b, dy), ptr(b, out), n, h, w, c, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
  return out;
}

/**
 * dw [1, 1, ci, co] of a 1x1, stride-1, unpadded conv: x^T dy over the N * H * W rows, straight
 * from NHWC x and dy (no transpose, no packing).
 */
export function nativePointwiseFilterGrad(backend: KernelBackend, x: TensorInfo, dy: TensorInfo): TensorInfo | undefined {
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const [rows, ci] = rowsAndChannels(x);
  const co = dy.shape[3]!;
  const out = b.makeOutput([1, 1, ci, co], 'float32');
  k.matmul_tn(ptr(b, x), ptr(b, dy), ptr(b, out), rows, ci, co);
  return out;
}

/** y [n, h, w, co] = x [n, h, w, ci] W [1, 1, ci, co], a 1x1 stride-1 unpadded conv. */
export function nativePointwiseConv(backend: KernelBackend, x: TensorInfo, filter: TensorInfo): TensorInfo | undefined {
  if (x.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const [rows, ci] = rowsAndChannels(x);
  const co = filter.shape[3]!;
  const out = b.makeOutput([...x.shape.slice(0, 3), co], 'float32');
  withScratch(b, ci * co, (s) => k.matmul_nn(ptr(b, x), ptr(b, filter), ptr(b, out), rows, ci, co, s));
  return out;
}

/** dx [n, h, w, ci] = dy [n, h, w, co] W^T for a 1x1 stride-1 unpadded conv with W [1, 1, ci, co]. */
export function nativePointwiseInputGrad(backend: KernelBackend, dy: TensorInfo, filter: TensorInfo): TensorInfo | undefined {
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const [rows, co] = rowsAndChannels(dy);
  const ci = filter.shape[2]!;
  const out = b.makeOutput([...dy.shape.slice(0, 3), ci], 'float32');
  withScratch(b, ci * co, (s) => k.matmul_nt(ptr(b, dy), ptr(b, filter), ptr(b, out), rows, co, ci, s));
  return out;
}

/** dx of a depthwise conv with multiplier 1 (filter [kh, kw, c, 1]), NHWC, dilation 1; undefined: use the composed version. */
export function nativeDepthwiseInputGrad(backend: KernelBackend, dy: TensorInfo, filter: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo | undefined {
  if (filter.shape[3] !== 1 || info.filterWidth > 7 || dy.dtype !== 'float32' || filter.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c } = info;
  const out = b.makeOutput([n, h, w, c], 'float32');
  k.depthwise_input_grad(ptr(b, dy), ptr(b, filter), ptr(b, out), n, h, w, c, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
  return out;
}

/** Inputs with at most this many channels get conv_filter_grad_small_cin (a stem's image input). */
export const SMALL_CIN = 4;

/** dw [kh, kw, ci, co] of a conv with ci <= SMALL_CIN, kw <= 7, NHWC, dilation 1; undefined: use the composed version. */
export function nativeSmallCinFilterGrad(backend: KernelBackend, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo | undefined {
  if (info.inChannels > SMALL_CIN || info.filterWidth > 7 || x.dtype !== 'float32' || dy.dtype !== 'float32') return undefined;
  const { k, b } = kernels(backend);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co } = info;
  const out = b.makeOutput([info.filterHeight, info.filterWidth, ci, co], 'float32');
  k.conv_filter_grad_small_cin(ptr(b, x), ptr(b, dy), ptr(b, out), n, h, w, ci, co, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);
  return out;
}

function rowsAndChannels(x: TensorInfo): [number, number] {
  const c = x.shape[x.shape.length - 1]!;
  return [tf.util.sizeFromShape(x.shape) / c, c];
}

/** inputs x [..., C], gamma [C], beta [C] -> [y, mean, variance (biased)]. */
const batchNormTrain: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
  const { eps, relu } = attrs as unknown as BatchNormTrainAttrs;
  requireFloat32(BATCHNORM_TRAIN, x, gamma, beta);
  const { k, b } = kernels(backend as KernelBackend);
  const [m, c] = rowsAndChannels(x);
  const y = b.makeOutput([...x.shape], 'float32');
  const mean = b.makeOutput([c], 'float32');
  const variance = b.makeOutput([c], 'float32');
  withScratch(b, 8 * c, (s) => k.batchnorm_forward(ptr(b, x), ptr(b, gamma), ptr(b, beta), ptr(b, y), ptr(b, mean), ptr(b, variance), m, c, eps, relu ? 1 : 0, s));
  return [y, mean, variance];
};

/** inputs dy, x, y (the forward output; read only with relu), mean, variance, gamma -> [dx, dgamma, dbeta]. */
const batchNormGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x, y, mean, variance, gamma } = inputs as Record<'dy' | 'x' | 'y' | 'mean' | 'variance' | 'gamma', TensorInfo>;
  const { eps, relu } = attrs as unknown as BatchNormTrainAttrs;
  requireFloat32(BATCHNORM_GRAD, dy, x, y, mean, variance, gamma);
  const { k, b } = kernels(backend as KernelBackend);
  const [m, c] = rowsAndChannels(x);
  const dx = b.makeOutput([...x.shape], 'float32');
  const dgamma = b.makeOutput([c], 'float32');
  const dbeta = b.makeOutput([c], 'float32');
  withScratch(b, 5 * c, (s) => k.batchnorm_backward(ptr(b, dy), ptr(b, x), ptr(b, y), ptr(b, mean), ptr(b, variance), ptr(b, gamma),
    ptr(b, dx), ptr(b, dgamma), ptr(b, dbeta), m, c, eps, relu ? 1 : 0, s));
  return [dx, dgamma, dbeta];
};

/** inputs x [..., C], gamma, beta, mean, variance [C] -> y = x * scale + shift (then ReLU if relu). */
const batchNormInfer: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta, mean, variance } = inputs as Record<'x' | 'gamma' | 'beta' | 'mean' | 'variance', TensorInfo>;
  const { eps, relu } = attrs as unknown as BatchNormTrainAttrs;
  requireFloat32(BATCHNORM_INFER, x, gamma, beta, mean, variance);
  const { k, b } = kernels(backend as KernelBackend);
  const [m, c] = rowsAndChannels(x);
  const y = b.makeOutput([...x.shape], 'float32');
  withScratch(b, 2 * c, (s) => k.batchnorm_infer(ptr(b, x), ptr(b, gamma), ptr(b, beta), ptr(b, mean), ptr(b, variance), ptr(b, y), m, c, eps, relu ? 1 : 0, s));
  return y;
};

/**
 * Gradient of LatnasBatchNormInfer, as tfjs ops. With g = dy (masked by y > 0 if relu), s =
 * gamma * invStd, invStd = 1 / sqrt(var + eps), and the channel sums G = sum g, X = sum g * x:
 *   dx = g * s, dbeta = G, dmean = -s * G, dgamma = (X - mean * G) * invStd,
 *   dvariance = -0.5 * gamma * invStd^3 * (X - mean * G).
 */
const batchNormInferGrad: tf.GradConfig = {
  kernelName: BATCHNORM_INFER,
  inputsToSave: ['x', 'gamma', 'mean', 'variance'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma, mean, variance, y] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor];
    const { eps, relu } = attrs as unknown as BatchNormTrainAttrs;
    const c = x.shape[x.shape.length - 1]!;
    const g = () => (relu ? tf.mul(dy as tf.Tensor, tf.step(y!)) : (dy as tf.Tensor));
    const invStd = () => tf.rsqrt(tf.add(variance!, eps));
    const sum = (t: tf.Tensor) => tf.sum(tf.reshape(t, [-1, c]), 0);
    const centredSum = () => tf.sub(sum(tf.mul(g(), x!)), tf.mul(mean!, sum(g())));
    return {
      x: () => tf.mul(g(), tf.mul(gamma!, invStd())),
      gamma: () => tf.mul(centredSum(), invStd()),
      beta: () => sum(g()),
      mean: () => tf.neg(tf.mul(tf.mul(gamma!, invStd()), sum(g()))),
      variance: () => tf.mul(tf.mul(centredSum(), tf.mul(gamma!, tf.pow(invStd(), 3))), -0.5),
    };
  },
};

// Gradients are per kernel name, not per backend; registered on import like kernels/gradients.ts.
if (!tf.getGradient(BATCHNORM_INFER)) tf.registerGradient(batchNormInferGrad);

/**
 * inputs mean, variance (running), batchMean, batchVariance, all [C] -> [mean', variance'] with
 * v' = (1 - momentum) v + momentum b (b unbiased first for the variance). Seven tiny tfjs ops per
 * BatchNorm layer otherwise; a plain loop here (C floats, nothing to vectorise).
 */
const runningStats: KernelFunc = ({ inputs, backend, attrs }) => {
  const { mean, variance, batchMean, batchVariance } = inputs as Record<'mean' | 'variance' | 'batchMean' | 'batchVariance', TensorInfo>;
  const { momentum, unbias } = attrs as unknown as RunningStatsAttrs;
  requireFloat32(RUNNING_STATS, mean, variance, batchMean, batchVariance);
  const b = backend as unknown as WasmBackend & { typedArrayFromHeap(t: TensorInfo): Float32Array };
  const c = mean.shape[0]!;
  const outMean = b.makeOutput([c], 'float32');
  const outVariance = b.makeOutput([c], 'float32');
  // Views are taken after both allocations: a malloc can grow (and detach) the heap's buffer.
  const m = b.typedArrayFromHeap(mean), v = b.typedArrayFromHeap(variance);
  const bm = b.typedArrayFromHeap(batchMean), bv = b.typedArrayFromHeap(batchVariance);
  const om = b.typedArrayFromHeap(outMean), ov = b.typedArrayFromHeap(outVariance);
  const keep = 1 - momentum;
  for (let i = 0; i < c; i++) {
    om[i] = keep * m[i]! + momentum * bm[i]!;
    ov[i] = keep * v[i]! + momentum * (bv[i]! * unbias);
  }
  return [outMean, outVariance];
};

/** inputs value, accumulation, gradient (one shape) -> [value', accumulation']. */
const momentumUpdate: KernelFunc = ({ inputs, backend, attrs }) => {
  const { value, accumulation, gradient } = inputs as Record<'value' | 'accumulation' | 'gradient', TensorInfo>;
  requireFloat32(MOMENTUM_UPDATE, value, accumulation, gradient);
  const { negLr, momentum, nesterov } = attrs as unknown as MomentumUpdateAttrs;
  const { k, b } = kernels(backend as KernelBackend);
  const outValue = b.makeOutput([...value.shape], 'float32');
  const outAcc = b.makeOutput([...value.shape], 'float32');
  const n = value.shape.reduce((p, d) => p * d, 1);
  k.momentum_update(ptr(b, value), ptr(b, accumulation), ptr(b, gradient), ptr(b, outValue), ptr(b, outAcc), n, negLr, momentum, nesterov ? 1 : 0);
  return [outValue, outAcc];
};

export const nativeKernels: KernelConfig[] = [
  { kernelName: MOMENTUM_UPDATE, backendName: 'wasm', kernelFunc: momentumUpdate },
  { kernelName: RUNNING_STATS, backendName: 'wasm', kernelFunc: runningStats },
  { kernelName: BATCHNORM_TRAIN, backendName: 'wasm', kernelFunc: batchNormTrain },
  { kernelName: BATCHNORM_GRAD, backendName: 'wasm', kernelFunc: batchNormGrad },
  { kernelName: BATCHNORM_INFER, backendName: 'wasm', kernelFunc: batchNormInfer },
];
