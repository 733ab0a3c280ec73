/**
 * The layer IR every stage lowers from: the profiler and exporter to ONNX, the trainer to TF.js.
 * A block is defined once as a list of these primitives (see blocks.ts); nothing downstream
 * knows block names. `weightsOf`/`convsOf` enumerate a layer list's weights with typed roles,
 * so no lowering or weight store reads meaning from a layer's name.
 */
export type Act = 'relu' | 'hswish' | 'none';

/**
 * What a conv is for, declared where it is made (blocks.ts) rather than read off its name: the
 * supernet shares an inverted residual's 'expand', 'depthwise', 'project' and SE convs across
 * candidates by role. The SE convs are implicit in an `se` layer (see `seConvs`).
 */
export type ConvRole = 'stem' | 'expand' | 'depthwise' | 'project' | 'se-reduce' | 'se-expand' | 'skip' | 'head' | 'pre-fc';

/** Convolution followed by BatchNorm (`bn`) or a bias, then an activation. */
export interface ConvLayer {
  op: 'conv';
  name: string;
  role: ConvRole;
  cout: number;
  k: number;
  stride: number;
  groups: number; // groups === cin means depthwise
  bn: boolean;
  act: Act;
}
export interface ShuffleLayer { op: 'shuffle'; groups: number }
/** Squeeze-excite: global pool, 1x1 reduce + ReLU, 1x1 expand + hard-sigmoid, scale the input. */
export interface SeLayer { op: 'se'; name: string; reduced: number }
/** `body` applied to x, then added to x (shapes must match). */
export interface ResidualLayer { op: 'residual'; body: Layer[] }
export interface PoolLayer { op: 'gap' }
/** Fully connected classifier on a pooled [N, C, 1, 1] tensor; output [N, cout]. */
export interface FcLayer { op: 'fc'; name: string; cout: number }

export type Layer = ConvLayer | ShuffleLayer | SeLayer | ResidualLayer | PoolLayer | FcLayer;

/** Per-sample activation shape, NCHW without the batch dimension. */
export interface Shape { c: number; h: number; w: number }

export function shapeKey(s: Shape): string {
  return `${s.c}x${s.h}x${s.w}`;
}

/** 'same' padding output size (TF semantics), used by both ONNX and TF.js lowering. */
export function convOutSize(size: number, stride: number): number {
  return Math.ceil(size / stride);
}

export function outputShape(layers: readonly Layer[], input: Shape): Shape {
  let s = input;
  for (const l of layers) {
    switch (l.op) {
      case 'conv':
        s = { c: l.cout, h: convOutSize(s.h, l.stride), w: convOutSize(s.w, l.stride) };
        break;
      case 'residual': {
        const o = outputShape(l.body, s);
        if (o.c !== s.c || o.h !== s.h || o.w !== s.w) {
          throw new Error(`residual body changes shape ${shapeKey(s)} -> ${shapeKey(o)}`);
        }
        break;
      }
      case 'gap':
        s = { c: s.c, h: 1, w: 1 };
        break;
      case 'fc':
        s = { c: l.cout, h: 1, w: 1 };
        break;
      case 'shuffle':
      case 'se':
        break;
    }
  }
  return s;
}

/** Multiply-accumulate count of a layer list at a given input shape (for reports and sanity checks). */
export function countMacs(layers: readonly Layer[], input: Shape): number {
  let s = input;
  let macs = 0;
  for (const l of layers) {
    if (l.op === 'conv') {
      const o = outputShape([l], s);
      macs += o.c * o.h * o.w * (s.c / l.groups) * l.k * l.k;
      s = o;
    } else if (l.op === 'residual') {
      macs += countMacs(l.body, s);
    } else if (l.op === 'se') {
      macs += 2 * s.c * l.reduced + s.c * s.h * s.w;
    } else if (l.op === 'fc') {
      macs += s.c * l.cout;
      s = outputShape([l], s);
    } else {
      s = outputShape([l], s);
    }
  }
  return macs;
}

/** Parameter count of a layer list at a given input shape (conv weights + bias or folded BN, SE, fc). */
export function countParams(layers: readonly Layer[], input: Shape): number {
  let s = input;
  let params = 0;
  for (const l of layers) {
    if (l.op === 'conv') {
      params += l.cout * (s.c / l.groups) * l.k * l.k + l.cout;
    } else if (l.op === 'residual') {
      params += countParams(l.body, s);
    } else if (l.op === 'se') {
      params += 2 * s.c * l.reduced + l.reduced + s.c;
    } else if (l.op === 'fc') {
      params += s.c * l.cout + l.cout;
    }
    if (l.op !== 'residual') s = outputShape([l], s);
  }
  return params;
}

/** The weights of one conv: [cout, cin / groups, k, k] and a bias [cout] (BatchNorm folded in, where `bn`). */
export interface ConvWeights { kind: 'conv'; name: string; role: ConvRole; cin: number; cout: number; k: number; groups: number; bn: boolean }
/** The weights of a classifier: [cout, cin] and a bias [cout]. */
export interface FcWeights { kind: 'fc'; name: string; cin: number; cout: number }
export type LayerWeights = ConvWeights | FcWeights;

export function convWeights(l: ConvLayer, cin: number): ConvWeights {
  return { kind: 'conv', name: l.name, role: l.role, cin, cout: l.cout, k: l.k, groups: l.groups, bn: l.bn };
}

/** The two 1x1 convs of a squeeze-excite on `c` channels (with biases, no BatchNorm): reduce, then expand. */
export function seConvs(l: SeLayer, c: number): [ConvWeights, ConvWeights] {
  return [
    { kind: 'conv', name: `${l.name}.reduce`, role: 'se-reduce', cin: c, cout: l.reduced, k: 1, groups: 1, bn: false },
    { kind: 'conv', name: `${l.name}.expand`, role: 'se-expand', cin: l.reduced, cout: c, k: 1, groups: 1, bn: false },
  ];
}

/**
 * Every weighted layer of a layer list at an input shape, in the order the layers run (a residual's
 * body in place, an SE's reduce before its expand): what a lowering or a weight store walks instead
 * of recognising layers by name. Models draw their random weights in this order.
 */
export function weightsOf(layers: readonly Layer[], input: Shape): LayerWeights[] {
  const out: LayerWeights[] = [];
  let s = input;
  for (const l of layers) {
    switch (l.op) {
      case 'conv': out.push(convWeights(l, s.c)); break;
      case 'se': out.push(...seConvs(l, s.c)); break;
      case 'residual': out.push(...weightsOf(l.body, s)); continue;
      case 'fc': out.push({ kind: 'fc', name: l.name, cin: s.c, cout: l.cout }); break;
      case 'shuffle': case 'gap': break;
      default: { const unknown: never = l; throw new Error(`weightsOf: unknown layer ${JSON.stringify(unknown)}`); }
    }
    s = outputShape([l], s);
  }
  return out;
}

/** The convs of a layer list with their roles and shapes, in the order they run (see `weightsOf`). */
export function convsOf(layers: readonly Layer[], input: Shape): ConvWeights[] {
  return weightsOf(layers, input).filter((w): w is ConvWeights => w.kind === 'conv');
}
