/** Wraps lowered layers into a serialized ONNX model. */
import type { Layer, Shape } from '../space/ir.js';
import type { Unit } from '../space/network.js';
import { RandomWeights } from '../weights/init.js';
import type { WeightSource } from '../weights/source.js';
import { GraphBuilder, lowerLayers, OPSET } from './lower.js';
import { onnx, type OnnxTypes } from './proto.js';

export interface ModelOptions {
  /** A fixed batch size, or a symbolic name for a dynamic batch dimension. */
  batch?: number | string;
  weights?: WeightSource;
  inputName?: string;
  outputName?: string;
  metadata?: Record<string, string>;
  graphName?: string;
  /** ONNX opset to declare (default OPSET, 17); see SUPPORTED_OPSETS. */
  opset?: number;
}

/**
 * Opsets the lowering is valid for: HardSwish and Reshape's current form need 14; 21 is the
 * newest onnxruntime-node 1.30 and Debian's onnx checker both know.
 */
export const SUPPORTED_OPSETS = { min: 14, max: 21 } as const;

export function valueInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Builds a model computing `layers` on an input of `shape`; returns the encoded protobuf bytes. */
export function buildModel(layers: readonly Layer[], shape: Shape, opts: ModelOptions = {}): Uint8Array {
  return encodeModel(buildModelProto(layers, shape, opts));
}

export function encodeModel(model: OnnxTypes.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}

/** The model as a protobuf object, for passes that rewrite the graph (quantisation) before encoding. */
export function buildModelProto(layers: readonly Layer[], shape: Shape, opts: ModelOptions = {}): OnnxTypes.IModelProto {
  const batch = opts.batch ?? 1;
  const inputName = opts.inputName ?? 'input';
  const outputName = opts.outputName ?? 'output';
  const g = new GraphBuilder();
  let { out, shape: outShape } = lowerLayers(g, layers, inputName, shape, opts.weights ?? new RandomWeights());
  const flat = layers[layers.length - 1]?.op === 'fc';
  if (out === inputName) {
    // A graph output may not be its input: an empty layer list (identity skip) becomes an Identity node.
    out = g.node('Identity', [out]);
  }
  // Rename the last value to the public output name.
  const last = g.nodes[g.nodes.length - 1]!;
  last.output = [outputName];
  const outDims = flat ? [batch, outShape.c] : [batch, outShape.c, outShape.h, outShape.w];
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'latnas',
    opsetImport: [{ domain: '', version: opts.opset ?? OPSET }],
    graph: {
      name: opts.graphName ?? 'latnas',
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo(inputName, [batch, shape.c, shape.h, shape.w])],
      output: [valueInfo(outputName, outDims)],
    },
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return model;
}

/** A model of one unit (what the profiler times). */
export function buildUnitModel(unit: Unit, opts: ModelOptions = {}): Uint8Array {
  return buildModel(unit.layers, unit.input, { graphName: unit.key, ...opts });
}

/** A whole network of units in sequence. */
export function buildNetworkModel(units: readonly Unit[], opts: ModelOptions = {}): Uint8Array {
  const first = units[0];
  if (!first) throw new Error('buildNetworkModel: no units');
  return buildModel(units.flatMap((u) => u.layers), first.input, opts);
}
