/**
 * Batched inference of an ONNX model with onnxruntime-node: what verification, calibration and
 * accuracy checks need (the profiler's Runtime times batch-1 runs of one fixed input instead).
 */
import * as ort from 'onnxruntime-node';

export interface OrtOptions {
  threads?: number;
  /** 'disabled' keeps every intermediate value as written (calibration reads them). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

export class OrtModel {
  private constructor(private readonly session: ort.InferenceSession, readonly inputName: string, readonly outputNames: readonly string[]) {}

  static async load(model: Uint8Array, opts: OrtOptions = {}): Promise<OrtModel> {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
      logSeverityLevel: 3,
    });
    return new OrtModel(session, session.inputNames[0]!, session.outputNames);
  }

  /** Runs an NCHW batch; returns the requested outputs (default: all) as flat arrays. */
  async run(x: Float32Array, dims: readonly number[], outputs: readonly string[] = this.outputNames): Promise<Map<string, Float32Array>> {
    const feeds = { [this.inputName]: new ort.Tensor('float32', x, [...dims]) };
    const out = await this.session.run(feeds, [...outputs]);
    const result = new Map<string, Float32Array>();
    for (const name of outputs) result.set(name, out[name]!.data as Float32Array);
    return result;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** NHWC (TF.js, the batch streams) to NCHW (ONNX) for `n` samples; `out` is reused by the caller. */
export function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number, out: Float32Array): Float32Array {
  if (c === 1) {
    out.set(x.subarray(0, n * h * w));
    return out.subarray(0, n * h * w);
  }
  const hw = h * w;
  for (let b = 0; b < n; b++) {
    const base = b * hw * c;
    for (let p = 0; p < hw; p++) for (let ch = 0; ch < c; ch++) out[base + ch * hw + p] = x[base + p * c + ch]!;
  }
  return out.subarray(0, n * hw * c);
}
