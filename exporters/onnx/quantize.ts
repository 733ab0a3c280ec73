/**
 * Static int8 quantisation of an exported float model in ONNX's QDQ form, calibrated on real
 * training images: activations uint8 per tensor (min/max ranges, as onnxruntime's quantize_static
 * MinMax default), conv and classifier weights int8 symmetric per output channel, biases int32 at
 * input scale x weight scale. uint8 activations with int8 weights (U8S8) because onnxruntime's x86
 * CPU kernels fuse int8-activation convs only where the CPU has VNNI; weights use 7 bits (±63,
 * onnxruntime's reduce_range) because AVX2's u8 x s8 pair sums saturate int16 with full 8-bit weights. The graph stays standard ONNX (QuantizeLinear/DequantizeLinear around
 * float ops); onnxruntime fuses DQ -> Conv -> Q into QLinearConv and friends at load time.
 *
 * Written here rather than shelling out to onnxruntime's Python quantiser: that is pip-only (no
 * Debian package), and latnas must run with `npm install` alone.
 */
import { OrtModel } from '../../src/device/ort.js';
import { fail } from '../../src/errors.js';
import { bytes } from '../../src/onnx/lower.js';
import { encodeModel } from '../../src/onnx/model.js';
import { onnx, type OnnxTypes } from '../../src/onnx/proto.js';

type ModelProto = OnnxTypes.IModelProto;
type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const QMIN = 0;
const QMAX = 255;
const WMAX = 63;

/** Ops that only move values: their outputs reuse the input's scale and zero point, so onnxruntime drops the Q/DQ around them. */
const MOVERS = new Set(['Reshape', 'Transpose', 'Flatten']);

export interface CalibrationSet {
  /** `count` NCHW images back to back, normalised as the model expects. */
  images: Float32Array;
  count: number;
  chw: [number, number, number];
}

export interface QuantizeReport {
  format: 'QDQ';
  activations: 'uint8 per tensor, min/max';
  weights: 'int8 (7-bit) symmetric per output channel';
  calibrationImages: number;
  quantizedActivations: number;
  quantizedWeights: number;
}

interface Range { min: number; max: number }
interface QParams { scale: number; zeroPoint: number }

/** Min/max of every node output (and the input) over the calibration images. */
export async function calibrate(model: ModelProto, calib: CalibrationSet, batch = 64): Promise<Map<string, Range>> {
  const graph = model.graph!;
  const inputName = graph.input![0]!.name!;
  const names = [inputName, ...graph.node!.map((n) => n.output![0]!)];
  const known = new Set(graph.output!.map((o) => o.name!));
  // Every intermediate value becomes a graph output; optimisation is off so each is computed as written.
  const probe: ModelProto = {
    ...model,
    graph: {
      ...graph,
      output: [...graph.output!, ...names.filter((n) => n !== inputName && !known.has(n)).map((name) => ({ name, type: { tensorType: { elemType: DT.FLOAT } } }))],
    },
  };
  const session = await OrtModel.load(encodeModel(probe), { graphOptimizationLevel: 'disabled' });
  const ranges = new Map<string, Range>(names.map((n) => [n, { min: Infinity, max: -Infinity }]));
  const [c, h, w] = calib.chw;
  const size = c * h * w;
  const outputs = names.filter((n) => n !== inputName);
  try {
    for (let start = 0; start < calib.count; start += batch) {
      const n = Math.min(batch, calib.count - start);
      const x = calib.images.subarray(start * size, (start + n) * size);
      const values = await session.run(x, [n, c, h, w], outputs);
      values.set(inputName, x);
      for (const [name, v] of values) {
        const r = ranges.get(name)!;
        let lo = r.min, hi = r.max;
        for (let i = 0; i < v.length; i++) {
          const t = v[i]!;
          // `t < lo` is false for NaN: without this a NaN activation would vanish from its range.
          if (!Number.isFinite(t)) {
            fail(`int8 calibration: '${name}' is ${t} on calibration image ${start + Math.floor(i / (v.length / n))}; ` +
              "the float model's activations are not finite, so its weights are broken: train again with a lower --lr");
          }
          if (t < lo) lo = t;
          if (t > hi) hi = t;
        }
        r.min = lo;
        r.max = hi;
      }
    }
  } finally {
    await session.release();
  }
  return ranges;
}

/** Asymmetric uint8 parameters of a range widened to hold 0 (so zero padding is exact). */
export function activationParams(r: Range): QParams {
  const lo = Math.min(r.min, 0);
  const hi = Math.max(r.max, 0);
  const scale = hi > lo ? (hi - lo) / (QMAX - QMIN) : 1;
  const zeroPoint = Math.max(QMIN, Math.min(QMAX, Math.round(QMIN - lo / scale)));
  return { scale, zeroPoint };
}

/** Symmetric 7-bit int8 per output channel (axis 0) of a float weight [cout, ...]. */
export function quantizeWeight(w: Float32Array, cout: number): { q: Int8Array; scales: Float32Array } {
  const per = w.length / cout;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    let m = 0;
    for (let i = 0; i < per; i++) {
      const v = w[o * per + i]!;
      // Math.round(NaN) stores as 0 in an Int8Array: a NaN weight would quantise to a plausible model.
      if (!Number.isFinite(v)) fail(`int8 quantisation: weight ${o * per + i} of output channel ${o} is ${v}; the model's weights are broken: train again with a lower --lr`);
      m = Math.max(m, Math.abs(v));
    }
    const s = m > 0 ? m / WMAX : 1;
    scales[o] = s;
    for (let i = 0; i < per; i++) q[o * per + i] = Math.max(-WMAX, Math.min(WMAX, Math.round(w[o * per + i]! / s)));
  }
  return { q, scales };
}

function floatData(t: TensorProto): Float32Array {
  const raw = t.rawData!;
  const copy = new Uint8Array(raw.length);
  copy.set(raw);
  return new Float32Array(copy.buffer);
}

/**
 * Rewrites `model` (opset >= 13) into its QDQ int8 form. `ranges` come from `calibrate`. The
 * graph output (the logits) stays float: the classifier's DequantizeLinear feeds a float Gemm.
 */
export function quantizeQdq(model: ModelProto, ranges: Map<string, Range>, calibrationImages: number): { model: ModelProto; report: QuantizeReport } {
  const graph = model.graph!;
  // Copies: the float model stays usable (it is written and verified too).
  const nodes = graph.node!.map((n) => ({ ...n, input: [...n.input!] }));
  const inputName = graph.input![0]!.name!;
  const outputName = graph.output![0]!.name!;
  const inits = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input!) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  // Which values get a Q/DQ pair, and their parameters.
  const params = new Map<string, QParams>();
  const rangeOf = (name: string): QParams => {
    const r = ranges.get(name);
    if (!r || !Number.isFinite(r.min)) throw new Error(`quantize: no calibration range for '${name}'`);
    return activationParams(r);
  };
  params.set(inputName, rangeOf(inputName));
  for (const n of nodes) {
    const out = n.output![0]!;
    if (out === outputName) continue;
    const users = consumers.get(out) ?? [];
    // Conv -> Relu: quantise after the Relu only; onnxruntime then folds the Relu into the Q (zero point 0).
    if (n.opType === 'Conv' && users.length === 1 && users[0]!.opType === 'Relu') continue;
    const moved = MOVERS.has(n.opType!) ? params.get(n.input![0]!) : undefined;
    params.set(out, moved ?? rangeOf(out));
  }

  const newInits: TensorProto[] = [];
  const scalar = (name: string, dataType: number, bytes: Uint8Array): string => {
    newInits.push({ name, dims: [], dataType, rawData: bytes });
    return name;
  };
  const written = new Set<string>();
  const qParams = (name: string, p: QParams): [string, string] => {
    if (!written.has(name)) {
      scalar(`${name}.scale`, DT.FLOAT, bytes(Float32Array.of(p.scale)));
      scalar(`${name}.zero_point`, DT.UINT8, Uint8Array.of(p.zeroPoint));
      written.add(name);
    }
    return [`${name}.scale`, `${name}.zero_point`];
  };
  const quantizeNode = (name: string, p: QParams): NodeProto =>
    ({ opType: 'QuantizeLinear', input: [name, ...qParams(name, p)], output: [`${name}.q`], name: `${name}.quantize` });
  // One DequantizeLinear per consumer: onnxruntime fuses a DQ -> op -> Q unit only when the DQ feeds that op alone.
  const dequantizeNode = (name: string, p: QParams, user: number): NodeProto =>
    ({ opType: 'DequantizeLinear', input: [`${name}.q`, ...qParams(name, p)], output: [`${name}.dq${user}`], name: `${name}.dequantize${user}` });

  // Weights and biases of Conv and Gemm: int8 / int32 initialisers behind a per-channel DequantizeLinear.
  const weightNodes: NodeProto[] = [];
  const dropped = new Set<string>();
  let quantizedWeights = 0;
  for (const n of nodes) {
    if (n.opType !== 'Conv' && n.opType !== 'Gemm') continue;
    const [x, wName, bName] = n.input as [string, string, string | undefined];
    const wInit = inits.get(wName);
    const xp = params.get(x);
    if (!wInit || !xp) continue;
    const cout = Number(wInit.dims![0]);
    const { q, scales } = quantizeWeight(floatData(wInit), cout);
    const axis = { name: 'axis', type: AT.INT, i: 0 };
    newInits.push({ name: `${wName}.int8`, dims: wInit.dims, dataType: DT.INT8, rawData: bytes(q) });
    newInits.push({ name: `${wName}.scale`, dims: [cout], dataType: DT.FLOAT, rawData: bytes(scales) });
    newInits.push({ name: `${wName}.zero_point`, dims: [cout], dataType: DT.INT8, rawData: bytes(new Int8Array(cout)) });
    weightNodes.push({ opType: 'DequantizeLinear', input: [`${wName}.int8`, `${wName}.scale`, `${wName}.zero_point`], output: [`${wName}.dq`], name: `${wName}.dequantize`, attribute: [axis] });
    dropped.add(wName);
    const inputs = [x, `${wName}.dq`];
    if (bName) {
      const b = floatData(inits.get(bName)!);
      const bScales = scales.map((s) => s * xp.scale);
      const bq = Int32Array.from(b, (v, o) => Math.round(v / bScales[o]!));
      newInits.push({ name: `${bName}.int32`, dims: [cout], dataType: DT.INT32, rawData: bytes(bq) });
      newInits.push({ name: `${bName}.scale`, dims: [cout], dataType: DT.FLOAT, rawData: bytes(bScales) });
      newInits.push({ name: `${bName}.zero_point`, dims: [cout], dataType: DT.INT32, rawData: bytes(new Int32Array(cout)) });
      weightNodes.push({ opType: 'DequantizeLinear', input: [`${bName}.int32`, `${bName}.scale`, `${bName}.zero_point`], output: [`${bName}.dq`], name: `${bName}.dequantize`, attribute: [axis] });
      dropped.add(bName);
      inputs.push(`${bName}.dq`);
    }
    n.input = inputs;
    quantizedWeights++;
  }

  // Activations: each quantised value is followed by its QuantizeLinear; each user reads its own DQ.
  const out: NodeProto[] = [...weightNodes, quantizeNode(inputName, params.get(inputName)!)];
  nodes.forEach((n, user) => {
    const inputs = n.input.map((i) => {
      const p = params.get(i);
      if (!p) return i;
      out.push(dequantizeNode(i, p, user));
      return `${i}.dq${user}`;
    });
    out.push({ ...n, input: inputs });
    const o = n.output![0]!;
    const p = params.get(o);
    if (p) out.push(quantizeNode(o, p));
  });

  const quantized: ModelProto = {
    ...model,
    graph: {
      ...graph,
      node: out,
      initializer: [...graph.initializer!.filter((t) => !dropped.has(t.name!)), ...newInits],
    },
  };
  return {
    model: quantized,
    report: {
      format: 'QDQ', activations: 'uint8 per tensor, min/max', weights: 'int8 (7-bit) symmetric per output channel',
      calibrationImages, quantizedActivations: params.size, quantizedWeights,
    },
  };
}
