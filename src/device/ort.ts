/**
 * The onnxruntime packages: the two local runtimes (onnxruntime-node, and onnxruntime-web inside
 * Node), which time batch-1 runs of one fixed input, and `OrtModel`, batched onnxruntime-node
 * inference of real inputs (what export's verification, calibration and accuracy checks need).
 * One wrapper, so a model is verified with the same session options it is timed with.
 */
import type { Shape } from '../space/ir.js';
import type { Device } from './device.js';
import { hostProvenance } from './host.js';
import type { Runtime, RuntimeProvenance, TimedSession } from './interface.js';

// The two onnxruntime packages share this surface; typing it once keeps both adapters identical.
interface OrtTensorCtor { new (type: 'float32', data: Float32Array, dims: number[]): unknown }
interface OrtSession {
  run(feeds: Record<string, unknown>, fetches?: string[]): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}
interface OrtModule {
  Tensor: OrtTensorCtor;
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
}

type GraphOptimizationLevel = Device['graphOptimizationLevel'];

/** onnxruntime-node's session options: one op thread pool of `threads`, no inter-op parallelism, warnings off. */
function nodeSessionOptions(threads: number, graphOptimizationLevel: GraphOptimizationLevel, executionProvider = 'cpu'): Record<string, unknown> {
  return { executionProviders: [executionProvider], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel, logSeverityLevel: 3 };
}

/** This machine: onnxruntime runs here. Keys in the order tables have always listed them. */
function hostRecord(): RuntimeProvenance {
  const h = hostProvenance();
  return { cpu: h.cpu, cpuCount: h.cpuCount, cpuId: h.cpuId, arch: h.arch, os: h.os, node: h.node };
}

function deterministicInput(shape: Shape): Float32Array {
  const n = shape.c * shape.h * shape.w;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.7) * 0.5;
  return data;
}

function ortSession(ort: OrtModule, session: OrtSession, input: Shape): TimedSession {
  const feeds = { input: new ort.Tensor('float32', deterministicInput(input), [1, input.c, input.h, input.w]) };
  return {
    async timeOnce() {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
    async output() {
      const out = await session.run(feeds);
      return out[session.outputNames[0]!]!.data as Float32Array;
    },
    release: () => session.release(),
  };
}

/** A Runtime over either onnxruntime package: they differ only in their module and session options. */
function ortRuntime(name: string, version: string | undefined, module: unknown, options: Record<string, unknown>): Runtime {
  const m = module as OrtModule;
  return {
    name,
    version: version ?? 'unknown',
    async createSession(model, input) {
      return ortSession(m, await m.InferenceSession.create(model, options), input);
    },
    provenance: hostRecord,
  };
}

export async function openOrtNode(device: Device): Promise<Runtime> {
  const ort = await import('onnxruntime-node');
  const options = nodeSessionOptions(device.threads, device.graphOptimizationLevel, device.executionProvider);
  return ortRuntime('onnxruntime-node', ort.env.versions.node, ort, options);
}

export async function openOrtWeb(device: Device): Promise<Runtime> {
  const ort = await import('onnxruntime-web');
  // Node has no cross-origin-isolated workers for wasm threads: onnxruntime-web runs 1 thread here.
  ort.env.wasm.numThreads = device.threads;
  ort.env.wasm.simd = true;
  return ortRuntime('onnxruntime-web', ort.env.versions.web, ort, {
    executionProviders: ['wasm'], graphOptimizationLevel: device.graphOptimizationLevel, logSeverityLevel: 3,
  });
}

export interface OrtModelOptions {
  threads?: number;
  /** 'disabled' keeps every intermediate value as written (calibration reads them). */
  graphOptimizationLevel?: GraphOptimizationLevel;
}

/** Batched onnxruntime-node inference on the CPU (default 1 thread, every graph optimisation). */
export class OrtModel {
  private constructor(
    private readonly ort: OrtModule, private readonly session: OrtSession, readonly inputName: string, readonly outputNames: readonly string[],
  ) {}

  static async load(model: Uint8Array, opts: OrtModelOptions = {}): Promise<OrtModel> {
    const ort = (await import('onnxruntime-node')) as unknown as OrtModule;
    const session = await ort.InferenceSession.create(model, nodeSessionOptions(opts.threads ?? 1, opts.graphOptimizationLevel ?? 'all'));
    return new OrtModel(ort, session, session.inputNames[0]!, session.outputNames);
  }

  /** Runs an NCHW batch; returns the requested outputs (default: all) as flat arrays. */
  async run(x: Float32Array, dims: readonly number[], outputs: readonly string[] = this.outputNames): Promise<Map<string, Float32Array>> {
    const feeds = { [this.inputName]: new this.ort.Tensor('float32', x, [...dims]) };
    const out = await this.session.run(feeds, [...outputs]);
    const result = new Map<string, Float32Array>();
    for (const name of outputs) result.set(name, out[name]!.data as Float32Array);
    return result;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
