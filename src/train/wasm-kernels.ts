/**
 * Makes TensorFlow.js training work on the WebAssembly backend. tfjs-backend-wasm 4.22 ships the
 * forward kernels only; a training step of our blocks also needs the kernels below. All of them
 * are compositions of fast wasm forward kernels (XNNPACK convs, transposes, pads), see
 * kernels/conv.ts. Conv2DBackpropInput exists on wasm but is replaced: the built-in is a naive
 * loop, 6-12x slower than the same work done as a forward conv. Transpose is wrapped to route
 * its pathological 2-D case through the 3-D path (kernels/transpose.ts). Identity shares its
 * input's buffer instead of copying it (kernels/identity.ts). Our own SIMD wasm module
 * (kernels/native.ts, source in kernels/simd/) provides the depthwise filter gradient and fused
 * BatchNorm(+ReLU) training and inference kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { convGradKernels, pointwiseConv2DKernel } from './kernels/conv.js';
import { sharingIdentityKernel } from './kernels/identity.js';
import { nativeKernels } from './kernels/native.js';
import { segmentKernels } from './kernels/segment.js';
import { fastTransposeKernel } from './kernels/transpose.js';

const KERNELS: tf.KernelConfig[] = [...convGradKernels, ...segmentKernels, ...nativeKernels];

/** Names of the kernels registerWasmKernels() installs for the 'wasm' backend. */
export const WASM_KERNEL_NAMES: readonly string[] = [...KERNELS.map((k) => k.kernelName), tf.Transpose, tf.Identity, tf.Conv2D];

let registered = false;

/** Registers (or replaces) our kernels on the 'wasm' backend. Idempotent. */
export function registerWasmKernels(): readonly string[] {
  if (registered) return WASM_KERNEL_NAMES;
  const builtinTranspose = tf.getKernel(tf.Transpose, 'wasm');
  const builtinIdentity = tf.getKernel(tf.Identity, 'wasm');
  const builtinConv2D = tf.getKernel(tf.Conv2D, 'wasm');
  if (!builtinTranspose || !builtinIdentity || !builtinConv2D) throw new Error('tfjs-backend-wasm registered no Transpose, Identity or Conv2D kernel');
  const wrapped = [fastTransposeKernel(builtinTranspose), sharingIdentityKernel(builtinIdentity), pointwiseConv2DKernel(builtinConv2D)];
  for (const k of [...KERNELS, ...wrapped]) {
    // Unregister first: registerKernel would warn about the duplicate, then replace it anyway.
    if (tf.getKernel(k.kernelName, k.backendName)) tf.unregisterKernel(k.kernelName, k.backendName);
    tf.registerKernel(k);
  }
  registered = true;
  return WASM_KERNEL_NAMES;
}
