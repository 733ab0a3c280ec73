/**
 * The runtime interface (as nn-Meter's backends/interface.py): a runtime turns model bytes into a
 * session that can be run and timed, and says where it ran. The profiler, lut-check and export
 * see only this; the runtimes are src/device/ort.ts and src/device/browser.ts, opened by
 * src/device/runtime.ts.
 */
import type { Hello } from '../agent/protocol.js';
import type { Shape } from '../space/ir.js';
import type { HostProvenance } from './host.js';

export interface TimedSession {
  /** Runs once and returns the wall time in milliseconds. */
  timeOnce(): Promise<number>;
  /** Runs and returns the first output (for correctness checks). */
  output(): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * What a latency table's provenance records about where the runtime ran. onnxruntime in Node:
 * this machine. A browser: the page's own hardware hints, the page's report under `browser`, and
 * the machine that served the page under `host` (so nothing compares the table with that machine).
 */
export interface RuntimeProvenance {
  cpu: string;
  /** 0 where a browser does not say (hardwareConcurrency). */
  cpuCount: number;
  cpuId?: string;
  arch?: string;
  os: string;
  node: string;
  /** Threads the runtime really ran, where it knows better than the device (a page's wasm threads). */
  threads?: number;
  browser?: BrowserRecord;
  host?: HostProvenance;
}

/** A browser table's `provenance.browser`: what the page reported when it attached, and how it was opened. */
export type BrowserRecord = Pick<Hello, 'userAgent' | 'platform' | 'hardwareConcurrency' | 'uaData' | 'ortVersion' | 'executionProvider' | 'webgpu'
  | 'webgpuAdapter' | 'crossOriginIsolated' | 'wasmThreads' | 'clockResolutionMs'> & {
  /** navigator.deviceMemory (Hello's `deviceMemory`), in GB. */
  deviceMemoryGB?: number;
  /** A launched headless Chromium, or any browser that opened the URL. */
  launch: 'chromium' | 'none';
  executablePath?: string;
  browserVersion?: string;
};

export interface Runtime {
  readonly name: string;
  readonly version: string;
  /** Loads a model whose input named `input` has `shape` (batch 1). */
  createSession(model: Uint8Array, input: Shape): Promise<TimedSession>;
  /** Where this runtime runs, as the table records it (the profiler merges it into the table's provenance). */
  provenance(): RuntimeProvenance;
  /** false once the runtime cannot run any more (a browser page died). */
  readonly usable?: boolean;
  /** Stops what the runtime started (a browser runtime: its server and browser). */
  close?(): Promise<void>;
}
