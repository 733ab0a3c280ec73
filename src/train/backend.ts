/**
 * Picks the TensorFlow.js backend for training. Native TensorFlow (tfjs-node-gpu, tfjs-node) is
 * much the fastest but an optional dependency that downloads libtensorflow at install time, so it
 * is often absent; then WebAssembly (XNNPACK, SIMD) with our gradient kernels; the pure-JS cpu
 * backend is the last resort and the reference the tests compare against.
 *
 * Importing this module registers the wasm backend, whose priority beats cpu's, and wasm starts
 * asynchronously: await initBackend() before the first tensor op.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { fail } from '../errors.js';
import { registerWasmKernels } from './wasm-kernels.js';

export type BackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

/** GPU build first: where both load, it is the faster. Both register as 'tensorflow'. */
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

function importProblem(pkg: string, e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = String(err?.message ?? e);
  if ((err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && message.includes(`'${pkg}'`)) {
    return `${pkg} not installed`;
  }
  return `${pkg} failed to load (${message.split('\n')[0]})`;
}

/** Imports the native bindings and switches to them; on failure says why, per package. */
async function loadNative(): Promise<{ pkg?: string; problems: string[] }> {
  const problems: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    try {
      // A variable specifier: TypeScript rejects a literal one for a package that is not installed.
      const specifier: string = pkg;
      await import(specifier);
    } catch (e) {
      problems.push(importProblem(pkg, e));
      continue;
    }
    // A second copy of tfjs-core (a version mismatch) would get the backend instead of ours.
    if (!tf.findBackendFactory('tensorflow')) {
      problems.push(`${pkg} loaded but registered with another copy of @tensorflow/tfjs-core (it needs ${tf.version_core}; try npm dedupe)`);
      continue;
    }
    if (await tf.setBackend('tensorflow')) return { pkg, problems };
    problems.push(`${pkg} loaded but its backend failed to initialise`);
  }
  return { problems };
}

async function useWasm(): Promise<boolean> {
  registerWasmKernels();
  return tf.setBackend('wasm');
}

/**
 * Sets the global tfjs backend. 'auto' takes native TensorFlow if it loads, else wasm, else cpu;
 * 'tensorflow', 'wasm' and 'cpu' fail with one line if that backend cannot start.
 * Returns the backend's name and why it was chosen.
 */
export async function initBackend(choice: BackendChoice): Promise<{ name: string; reason: string }> {
  switch (choice) {
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) fail(`backend 'cpu' failed to initialise`);
      return { name: tf.getBackend(), reason: 'requested' };
    case 'wasm':
      if (!(await useWasm())) fail(`backend 'wasm' failed to initialise: use backend 'cpu'`);
      return { name: tf.getBackend(), reason: 'requested' };
    case 'tensorflow': {
      const native = await loadNative();
      if (native.pkg) return { name: tf.getBackend(), reason: `requested: ${native.pkg}` };
      return fail(`backend 'tensorflow' unavailable: ${native.problems.join(', ')}; npm install @tensorflow/tfjs-node (it downloads libtensorflow) or use backend 'wasm'`);
    }
    case 'auto': {
      const native = await loadNative();
      if (native.pkg) return { name: tf.getBackend(), reason: `${native.pkg} loaded` };
      const why = native.problems.join(', ');
      if (await useWasm()) return { name: tf.getBackend(), reason: `${why}: using wasm` };
      if (await tf.setBackend('cpu')) return { name: tf.getBackend(), reason: `${why}, and wasm failed to initialise: using cpu` };
      return fail(`no tfjs backend could start (${why}, wasm and cpu failed to initialise)`);
    }
    default:
      return fail(`unknown backend '${String(choice)}': use one of ${BACKEND_CHOICES.join(', ')}`);
  }
}
