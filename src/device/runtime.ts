/**
 * Runtimes behind one interface (as nn-Meter's backends): each turns model bytes into a session
 * that can be run and timed. Adding a runtime means adding one `Runtime` here and a device JSON.
 */
import type { Shape } from '../space/ir.js';
import type { Device } from './device.js';

export interface TimedSession {
  /** Runs once and returns the wall time in milliseconds. */
  timeOnce(): Promise<number>;
  /** Runs and returns the first output (for correctness checks). */
  output(): Promise<Float32Array>;
  release(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  readonly version: string;
  /** Loads a model whose input named `input` has `shape` (batch 1). */
  createSession(model: Uint8Array, input: Shape): Promise<TimedSession>;
  /** false once the runtime cannot run any more (a browser page died). */
  readonly usable?: boolean;
  /** Stops what the runtime started (a browser runtime: its server and browser). */
  close?(): Promise<void>;
}

// The two onnxruntime packages share this surface; typing it once keeps both adapters identical.
interface OrtTensorCtor { new (type: 'float32', data: Float32Array, dims: number[]): unknown }
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release(): Promise<void>;
  readonly outputNames: readonly string[];
}
interface OrtModule {
  Tensor: OrtTensorCtor;
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
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
  };
}

async function ortNode(device: Device): Promise<Runtime> {
  const ort = await import('onnxruntime-node');
  return ortRuntime('onnxruntime-node', ort.env.versions.node, ort, {
    executionProviders: [device.executionProvider],
    intraOpNumThreads: device.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: device.graphOptimizationLevel,
    logSeverityLevel: 3,
  });
}

async function ortWeb(device: Device): Promise<Runtime> {
  const ort = await import('onnxruntime-web');
  // Node has no cross-origin-isolated workers for wasm threads: onnxruntime-web runs 1 thread here.
  ort.env.wasm.numThreads = device.threads;
  ort.env.wasm.simd = true;
  return ortRuntime('onnxruntime-web', ort.env.versions.web, ort, {
    executionProviders: ['wasm'], graphOptimizationLevel: device.graphOptimizationLevel, logSeverityLevel: 3,
  });
}

/**
 * Browser runtimes stay open for the process (one page serves profile and lut-check in turn, and
 * a phone is attached once); `closeRuntimes()` stops them.
 */
const browserRuntimes = new Map<string, Promise<Runtime>>();

async function browser(device: Device): Promise<Runtime> {
  const key = JSON.stringify(device);
  const open = browserRuntimes.get(key);
  if (open) {
    const rt = await open.catch(() => undefined);
    if (rt && rt.usable !== false) return rt;
    browserRuntimes.delete(key);
  }
  const { openBrowserRuntime } = await import('../agent/runtime.js');
  const p = openBrowserRuntime(device);
  browserRuntimes.set(key, p);
  p.catch(() => browserRuntimes.delete(key));
  return p;
}

export async function openRuntime(device: Device): Promise<Runtime> {
  if (device.runtime === 'browser') return browser(device);
  return device.runtime === 'onnxruntime-node' ? ortNode(device) : ortWeb(device);
}

/** Closes every browser runtime this process opened (the CLI does this before it exits). */
export async function closeRuntimes(): Promise<void> {
  const all = [...browserRuntimes.values()];
  browserRuntimes.clear();
  await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close?.()));
}
