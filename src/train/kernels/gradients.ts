/**
 * Gradients of the kernels a training step uses, for every backend.
 *
 * Why this exists: @tensorflow/tfjs-core's Node entry (dist/tf-core.node.js) registers no
 * gradients at all: they ship only as ES modules with extensionless imports, which Node cannot
 * load, and reach Node only through the @tensorflow/tfjs union package's bundle (not a
 * dependency here; it brings layers, converter, data and webgl along). Without them tf.grads
 * fails with "gradient function not found for Sum".
 *
 * The math follows tfjs-core 4.22's src/gradients (Apache-2.0; checked equal to it on cpu), with
 * these changes: Maximum/Minimum/SquaredDifference reduce broadcast axes like the other binary
 * ops (tfjs-core does not); Tile's gradient is one reshape + sum, not a slice per repetition;
 * and for wasm's sake BatchMatMul transposes explicitly instead of passing transpose flags,
 * Sum/Mean broadcast with tf.fill instead of tf.ones, and Relu6's mask avoids comparison ops
 * (each of those is 10-25x slower there). Conv gradients call the backprop kernels
 * (src/train/kernels/conv.ts provides them on wasm).
 *
 * A gradient is registered only where none is: if @tensorflow/tfjs or tfjs-node is loaded, its
 * official set wins, whichever loads first.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, GradFunc, NamedAttrMap, Tensor } from '@tensorflow/tfjs-core';

type NamedGradientMap = ReturnType<GradFunc>;

type Grad = (dy: Tensor, saved: Tensor[], attrs: NamedAttrMap) => NamedGradientMap;

const bu = tf.backend_util;

function first(dy: Tensor | Tensor[]): Tensor {
  if (Array.isArray(dy)) throw new Error('expected one upstream gradient');
  return dy;
}

function config(kernelName: string, save: Pick<GradConfig, 'inputsToSave' | 'outputsToSave' | 'saveAllInputs'>, grad: Grad): GradConfig {
  return { kernelName, ...save, gradFunc: (dy, saved, attrs) => grad(first(dy), saved, attrs) };
}

/** Sums a broadcast gradient back to the shape of the operand. */
function unbroadcast(g: Tensor, shape: number[]): Tensor {
  const axes = bu.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

function f32(t: Tensor): Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}

function binary(kernelName: string, da: (dy: Tensor, a: Tensor, b: Tensor) => Tensor, db: (dy: Tensor, a: Tensor, b: Tensor) => Tensor): GradConfig {
  return config(kernelName, { inputsToSave: ['a', 'b'] }, (dy, [a, b]) => ({
    a: () => unbroadcast(da(dy, a!, b!), a!.shape),
    b: () => unbroadcast(db(dy, a!, b!), b!.shape),
  }));
}

function unaryOfX(kernelName: string, dx: (dy: Tensor, x: Tensor, attrs: NamedAttrMap) => Tensor): GradConfig {
  return config(kernelName, { inputsToSave: ['x'] }, (dy, [x], attrs) => ({ x: () => dx(dy, x!, attrs) }));
}

function unaryOfY(kernelName: string, dx: (dy: Tensor, y: Tensor) => Tensor): GradConfig {
  return config(kernelName, { outputsToSave: [true] }, (dy, [y]) => ({ x: () => dx(dy, y!) }));
}

function keepDims(t: Tensor, xShape: number[], axes: number[]): Tensor {
  return t.rank < xShape.length ? tf.reshape(t, bu.expandShapeToKeepDim(t.shape, axes)) : t;
}

/** Max and Min: the gradient goes to every element equal to the extremum. */
function extremum(kernelName: string, axisAttr: string): GradConfig {
  return config(kernelName, { inputsToSave: ['x'], outputsToSave: [true] }, (dy, [x, y], attrs) => ({
    x: () => {
      const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x!.shape);
      return tf.mul(keepDims(dy, x!.shape, axes), tf.cast(tf.equal(x!, keepDims(y!, x!.shape, axes)), dy.dtype));
    },
  }));
}

function swapLastTwo(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return tf.transpose(t, perm);
}

function requireUnitDilation(op: string, dilations: unknown): void {
  const d = dilations == null ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : (dilations as number[]);
  if (d.some((v) => v !== 1)) throw new Error(`gradient of ${op}: dilations ${d} are not supported (only 1)`);
}

function run(kernelName: string, inputs: tf.NamedTensorMap, attrs: object): Tensor {
  return tf.engine().runKernel(kernelName, inputs, attrs as NamedAttrMap) as Tensor;
}

function gatherGrad(x: Tensor, indices: Tensor, dy: Tensor, axis: number): Tensor {
  // Bring the gathered axis to the front, scatter-add rows back by index, move it back.
  const outer = x.shape.slice(0, axis);
  const inner = x.shape.slice(axis + 1);
  const values = tf.reshape(dy, [...outer, indices.size, ...inner]);
  const perm = [outer.length, ...outer.map((_, i) => i), ...inner.map((_, i) => outer.length + 1 + i)];
  const summed = tf.unsortedSegmentSum(tf.transpose(values, perm), tf.reshape(indices, [indices.size]) as tf.Tensor1D, x.shape[axis]!);
  return tf.transpose(summed, bu.getUndoAxesPermutation(perm));
}

export const GRADIENTS: GradConfig[] = [
  binary(tf.Add, (dy) => dy, (dy) => dy),
  binary(tf.Sub, (dy) => dy, (dy) => tf.neg(dy)),
  binary(tf.Multiply, (dy, _a, b) => tf.mul(dy, f32(b)), (dy, a) => tf.mul(dy, f32(a))),
  binary(tf.RealDiv, (dy, _a, b) => tf.div(dy, f32(b)), (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), f32(tf.square(b))))),
  binary(tf.Maximum, (dy, a, b) => tf.mul(dy, f32(tf.greaterEqual(a, b))), (dy, a, b) => tf.mul(dy, f32(tf.less(a, b)))),
  binary(tf.Minimum, (dy, a, b) => tf.mul(dy, f32(tf.lessEqual(a, b))), (dy, a, b) => tf.mul(dy, f32(tf.greater(a, b)))),
  binary(tf.SquaredDifference, (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))), (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a)))),
  config(tf.Pow, { inputsToSave: ['a', 'b'], outputsToSave: [true] }, (dy, [a, b, y]) => ({
    a: () => unbroadcast(tf.mul(dy, tf.mul(f32(b!), tf.pow(a!, tf.sub(f32(b!), 1)))), a!.shape),
    b: () => unbroadcast(tf.mul(dy, tf.mul(y!, tf.where(tf.greater(a!, 0), tf.log(a!), tf.zerosLike(a!)))), b!.shape),
  })),

  config(tf.Neg, {}, (dy) => ({ x: () => tf.neg(dy) })),
  unaryOfX(tf.Relu, (dy, x) => tf.mul(dy, f32(tf.step(x)))),
  // The mask (0 < x <= 6) as step(x) - step(x - 6): the same values, but comparison ops are
  // ~20x slower than step on wasm (x - 6 is exact near 6, so the edges agree too).
  unaryOfX(tf.Relu6, (dy, x) => tf.mul(dy, tf.sub(tf.step(f32(x)), tf.step(tf.sub(f32(x), 6))))),
  unaryOfX(tf.LeakyRelu, (dy, x, attrs) => tf.where(tf.greater(x, 0), dy, tf.mul(dy, attrs['alpha'] as number))),
  unaryOfY(tf.Elu, (dy, y) => run(tf.EluGrad, { dy, y }, {})),
  unaryOfY(tf.Sigmoid, (dy, y) => tf.mul(dy, tf.mul(y, tf.sub(1, y)))),
  unaryOfY(tf.Tanh, (dy, y) => tf.mul(tf.sub(1, tf.square(y)), dy)),
  unaryOfY(tf.Exp, (dy, y) => tf.mul(dy, y)),
  unaryOfX(tf.Square, (dy, x) => tf.mul(dy, tf.mul(f32(x), 2))),
  unaryOfX(tf.Sqrt, (dy, x) => tf.div(dy, tf.mul(tf.sqrt(f32(x)), 2))),
  unaryOfX(tf.Rsqrt, (dy, x) => tf.neg(tf.div(dy, tf.mul(tf.pow(x, 1.5), 2)))),
  unaryOfX(tf.Log, (dy, x) => tf.div(dy, f32(x))),
  unaryOfX(tf.Abs, (dy, x) => tf.mul(dy, tf.step(f32(x), -1))),
  unaryOfX(tf.Reciprocal, (dy, x) => tf.neg(tf.div(dy, tf.square(x)))),
  unaryOfX(tf.ClipByValue, (dy, x, attrs) => tf.where(
    tf.logicalAnd(tf.greaterEqual(x, attrs['clipValueMin'] as number), tf.lessEqual(x, attrs['clipValueMax'] as number)), dy, tf.zerosLike(dy))),
  config(tf.Step, {}, (dy) => ({ x: () => tf.zerosLike(dy) })),
  config(tf.ZerosLike, {}, (dy) => ({ x: () => tf.zerosLike(dy) })),
  config(tf.OnesLike, {}, (dy) => ({ x: () => tf.zerosLike(dy) })),
  config(tf.Cast, {}, (dy) => ({ x: () => tf.clone(dy) })),
  config(tf.Identity, {}, (dy) => ({ x: () => f32(dy) })),
  config(tf.Select, { inputsToSave: ['condition'] }, (dy, [c]) => ({
    condition: () => f32(tf.zerosLike(c!)),
    t: () => tf.mul(dy, tf.cast(c!, dy.dtype)),
    e: () => tf.mul(dy, tf.cast(tf.logicalNot(c!), dy.dtype)),
  })),
  config(tf.AddN, { saveAllInputs: true }, (dy, saved) => Object.fromEntries(saved.map((_, i) => [i, () => tf.clone(dy)]))),
  config(tf.OneHot, { inputsToSave: ['indices'] }, (_dy, [indices]) => ({ indices: () => tf.zeros(indices!.shape, 'float32') })),

  // Broadcasts use tf.fill, not tf.ones: ones builds its buffer in JS (25x slower on wasm).
  unaryOfX(tf.Sum, (dy, x, attrs) => {
    const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
    return tf.mul(keepDims(dy, x.shape, axes), tf.fill(x.shape, 1, 'float32'));
  }),
  unaryOfX(tf.Mean, (dy, x, attrs) => {
    const axes = tf.util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
    const count = tf.util.sizeFromShape(bu.computeOutAndReduceShapes(x.shape, axes)[1]);
    // Scaling dy (small) before the broadcast saves a full-size division.
    return tf.mul(keepDims(tf.div(dy, count), x.shape, axes), tf.fill(x.shape, 1, 'float32'));
  }),
  extremum(tf.Max, 'reductionIndices'),
  extremum(tf.Min, 'axis'),
  config(tf.Softmax, { outputsToSave: [true] }, (dy, [y]) => ({
    logits: () => {
      const dyY = tf.mul(dy, y!);
      return tf.sub(dyY, tf.mul(tf.sum(dyY, [-1], true), y!));
    },
  })),

  unaryOfX(tf.Reshape, (dy, x) => tf.reshape(dy, x.shape)),
  config(tf.Transpose, {}, (dy, _s, attrs) => ({ x: () => tf.transpose(dy, bu.getUndoAxesPermutation(attrs['perm'] as number[])) })),
  config(tf.Reverse, {}, (dy, _s, attrs) => ({ x: () => tf.reverse(dy, tf.util.parseAxisParam(attrs['dims'] as number | number[], dy.shape)) })),
  config(tf.Concat, { saveAllInputs: true }, (dy, saved, attrs) => {
    const axis = tf.util.parseAxisParam(attrs['axis'] as number, saved[0]!.shape)[0]!;
    const parts = tf.split(dy, saved.map((t) => t.shape[axis]!), axis);
    return Object.fromEntries(parts.map((t, i) => [i, () => t]));
  }),
  {
    kernelName: tf.SplitV,
    gradFunc: (dy, _saved, attrs) => ({ x: () => tf.concat(dy as Tensor[], attrs['axis'] as number) }),
  },
  unaryOfX(tf.Slice, (dy, x, attrs) => {
    const [begin, size] = tf.slice_util.parseSliceParams(x, attrs['begin'] as number[], attrs['size'] as number[]);
    return tf.pad(dy, x.shape.map((n, i) => [begin![i]!, n - begin![i]! - size![i]!] as [number, number]));
  }),
  unaryOfX(tf.PadV2, (dy, x, attrs) => tf.slice(dy, (attrs['paddings'] as Array<[number, number]>).map((p) => p[0]), x.shape)),
  config(tf.Pack, { saveAllInputs: true }, (dy, _saved, attrs) =>
    Object.fromEntries(tf.unstack(dy, attrs['axis'] as number).map((t, i) => [i, () => t]))),
  {
    kernelName: tf.Unpack,
    gradFunc: (dy, _saved, attrs) => ({ value: () => tf.stack(dy as Tensor[], attrs['axis'] as number) }),
  },
  unaryOfX(tf.Tile, (dy, x, attrs) => {
    // dy viewed as [r0, d0, r1, d1, ...]: the copies of x lie along the r axes.
    const reps = attrs['reps'] as number[];
    const split = x.shape.flatMap((d, i) => [reps[i]!, d]);
    return tf.reshape(tf.sum(tf.reshape(dy, split), x.shape.map((_, i) => 2 * i)), x.shape);
  }),
  config(tf.GatherV2, { inputsToSave: ['x', 'indices'] }, (dy, [x, indices], attrs) => {
    const axis = tf.util.parseAxisParam(attrs['axis'] as number, x!.shape)[0]!;
    const batchDims = (attrs['batchDims'] as number | undefined) ?? 0;
    if (batchDims === 0) return { x: () => gatherGrad(x!, indices!, dy, axis), indices: () => indices! };
    if (batchDims !== 1) throw new Error(`gradient of gather: batchDims ${batchDims} is not supported`);
    return {
      x: () => {
        const n = x!.shape[0]!;
        const xs = tf.split(x!, n, 0);
        const rows = xs.map((xi, i) => gatherGrad(xi, tf.slice(indices!, i, 1), tf.slice(dy, i, 1), axis));
        return tf.reshape(tf.stack(rows), x!.shape);
      },
      indices: () => indices!,
    };
  }),

  config(tf.BatchMatMul, { inputsToSave: ['a', 'b'] }, (dy, [a, b], attrs) => {
    const ta = attrs['transposeA'] as boolean, tb = attrs['transposeB'] as boolean;
    const T = swapLastTwo;
    if (!ta && !tb) return { a: () => tf.matMul(dy, T(b!)), b: () => tf.matMul(T(a!), dy) };
    if (!ta && tb) return { a: () => tf.matMul(dy, b!), b: () => tf.matMul(T(dy), a!) };
    if (ta && !tb) return { a: () => tf.matMul(b!, T(dy)), b: () => tf.matMul(a!, dy) };
    return { a: () => tf.matMul(T(b!), T(dy)), b: () => tf.matMul(T(dy), T(a!)) };
  }),
  config(tf.Conv2D, { inputsToSave: ['x', 'filter'] }, (dy, [x, filter], attrs) => {
    requireUnitDilation('conv2d', attrs['dilations']);
    const { strides, pad, dataFormat, dimRoundingMode } = attrs;
    return {
      x: () => run(tf.Conv2DBackpropInput, { dy, filter: filter! }, { strides, pad, dataFormat, dimRoundingMode, inputShape: x!.shape }),
      filter: () => run(tf.Conv2DBackpropFilter, { x: x!, dy }, { strides, pad, dataFormat, dimRoundingMode, filterShape: filter!.shape }),
    };
  }),
  config(tf.DepthwiseConv2dNative, { inputsToSave: ['x', 'filter'] }, (dy, [x, filter], attrs) => {
    requireUnitDilation('depthwiseConv2d', attrs['dilations']);
    const { strides, pad, dimRoundingMode } = attrs;
    const dilations = [1, 1];
    return {
      x: () => run(tf.DepthwiseConv2dNativeBackpropInput, { dy, filter: filter! }, { strides, pad, dimRoundingMode, dilations, inputShape: x!.shape }),
      filter: () => run(tf.DepthwiseConv2dNativeBackpropFilter, { x: x!, dy }, { strides, pad, dimRoundingMode, dilations, filterShape: filter!.shape }),
    };
  }),
  unaryOfX(tf.AvgPool, (dy, x, attrs) => {
    const { filterSize, strides, pad } = attrs;
    return run(tf.AvgPoolGrad, { dy, input: x }, { filterSize, strides, pad });
  }),
  config(tf.MaxPool, { inputsToSave: ['x'], outputsToSave: [true] }, (dy, [x, y], attrs) => {
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    return { x: () => run(tf.MaxPoolGrad, { dy, input: x!, output: y! }, { filterSize, strides, pad, dimRoundingMode }) };
  }),
];

let registered = false;

/** Registers every gradient above that no one has registered yet. Idempotent. */
export function registerGradients(): void {
  if (registered) return;
  for (const g of GRADIENTS) if (!tf.getGradient(g.kernelName)) tf.registerGradient(g);
  registered = true;
}

registerGradients();
