/**
 * Lowers IR layers to an ONNX graph (NCHW, opset 17). The one ONNX implementation of every block:
 * the profiler times what this emits, `latnas build` writes it, the exporter reuses it.
 */
import { convOutSize, convWeights, seConvs, type Act, type ConvWeights, type Layer, type Shape } from '../space/ir.js';
import type { WeightSource } from '../weights/source.js';
import { onnx, type OnnxTypes } from './proto.js';

type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;
type AttributeProto = OnnxTypes.IAttributeProto;

export const OPSET = 17;
const AT = onnx.AttributeProto.AttributeType;

export function bytes(a: ArrayBufferView): Uint8Array {
  // onnx-proto wants a byte view; a typed array passed directly is written one byte per element.
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function intsAttr(name: string, ints: number[]): AttributeProto {
  return { name, type: AT.INTS, ints };
}
export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: AT.INT, i };
}
export function floatAttr(name: string, f: number): AttributeProto {
  return { name, type: AT.FLOAT, f };
}

/** Accumulates nodes and initializers with unique value names. */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  node(opType: string, inputs: string[], attributes: AttributeProto[] = [], hint = opType.toLowerCase()): string {
    const out = this.fresh(hint);
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute: attributes });
    return out;
  }

  floatInit(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes(data) });
    return name;
  }

  int64Init(name: string, values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: bytes(data) });
    return name;
  }
}

/** TF-style 'same' padding [begin, end] for one spatial axis; matches TF.js so both agree exactly. */
export function samePads(size: number, k: number, stride: number): [number, number] {
  const out = convOutSize(size, stride);
  const total = Math.max((out - 1) * stride + k - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

function activation(g: GraphBuilder, x: string, act: Act): string {
  if (act === 'relu') return g.node('Relu', [x]);
  if (act === 'hswish') return g.node('HardSwish', [x]);
  return x;
}

/** A conv's weight (OIHW) and bias initializers; returns their value names. */
function convInitializers(g: GraphBuilder, weights: WeightSource, c: ConvWeights): [string, string] {
  const cinPerGroup = c.cin / c.groups;
  const p = weights.conv(c.name, c.cout, cinPerGroup, c.k);
  return [g.floatInit(`${c.name}.weight`, [c.cout, cinPerGroup, c.k, c.k], p.weight), g.floatInit(`${c.name}.bias`, [c.cout], p.bias)];
}

/** Emits `layers` on value `x` of shape `shape`; returns the output value and shape. */
export function lowerLayers(g: GraphBuilder, layers: readonly Layer[], x: string, shape: Shape, weights: WeightSource): { out: string; shape: Shape } {
  let cur = x;
  let s = shape;
  for (const layer of layers) {
    switch (layer.op) {
      case 'conv': {
        const [w, b] = convInitializers(g, weights, convWeights(layer, s.c));
        const [pt, pb] = samePads(s.h, layer.k, layer.stride);
        const [pl, pr] = samePads(s.w, layer.k, layer.stride);
        cur = g.node('Conv', [cur, w, b], [
          intsAttr('kernel_shape', [layer.k, layer.k]),
          intsAttr('strides', [layer.stride, layer.stride]),
          intsAttr('pads', [pt, pl, pb, pr]),
          intsAttr('dilations', [1, 1]),
          intAttr('group', layer.groups),
        ], 'conv');
        cur = activation(g, cur, layer.act);
        s = { c: layer.cout, h: convOutSize(s.h, layer.stride), w: convOutSize(s.w, layer.stride) };
        break;
      }
      case 'shuffle': {
        const split = g.int64Init(g.fresh('shuffle_split'), [0, layer.groups, s.c / layer.groups, s.h, s.w]);
        const merge = g.int64Init(g.fresh('shuffle_merge'), [0, s.c, s.h, s.w]);
        cur = g.node('Reshape', [cur, split]);
        cur = g.node('Transpose', [cur], [intsAttr('perm', [0, 2, 1, 3, 4])]);
        cur = g.node('Reshape', [cur, merge]);
        break;
      }
      case 'se': {
        const pooled = g.node('GlobalAveragePool', [cur]);
        const [reduce, expand] = seConvs(layer, s.c);
        let gate = g.node('Conv', [pooled, ...convInitializers(g, weights, reduce)], [intsAttr('kernel_shape', [1, 1])], 'conv');
        gate = g.node('Relu', [gate]);
        gate = g.node('Conv', [gate, ...convInitializers(g, weights, expand)], [intsAttr('kernel_shape', [1, 1])], 'conv');
        gate = g.node('HardSigmoid', [gate], [floatAttr('alpha', 1 / 6), floatAttr('beta', 0.5)]);
        cur = g.node('Mul', [cur, gate]);
        break;
      }
      case 'residual': {
        const body = lowerLayers(g, layer.body, cur, s, weights);
        cur = g.node('Add', [cur, body.out]);
        break;
      }
      case 'gap':
        cur = g.node('GlobalAveragePool', [cur]);
        s = { c: s.c, h: 1, w: 1 };
        break;
      case 'fc': {
        const p = weights.fc(layer.name, layer.cout, s.c);
        const w = g.floatInit(`${layer.name}.weight`, [layer.cout, s.c], p.weight);
        const b = g.floatInit(`${layer.name}.bias`, [layer.cout], p.bias);
        cur = g.node('Flatten', [cur], [intAttr('axis', 1)]);
        cur = g.node('Gemm', [cur, w, b], [intAttr('transB', 1)]);
        s = { c: layer.cout, h: 1, w: 1 };
        break;
      }
    }
  }
  return { out: cur, shape: s };
}
