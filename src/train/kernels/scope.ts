/**
 * Composes a kernel out of other kernels of the same backend, the way the backends' own kernels
 * do: each call goes straight to a registered kernelFunc, so nothing touches the engine (no tape
 * node, no tidy scope, no tracked Tensor). The scope owns every intermediate it creates and frees
 * them when the composed kernel returns; only the result survives, owning one backend reference
 * (the contract every kernel output has).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelBackend, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

export type Pair = [number, number];

export class KernelScope {
  private readonly owned = new Set<TensorInfo>();

  constructor(private readonly backend: KernelBackend, private readonly backendName: string) {}

  run(kernelName: string, inputs: Record<string, TensorInfo>, attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, this.backendName);
    if (!kernel) throw new Error(`no '${kernelName}' kernel registered for backend '${this.backendName}'`);
    const out = kernel.kernelFunc({ inputs, attrs: attrs as NamedAttrMap, backend: this.backend });
    if (Array.isArray(out)) throw new Error(`kernel '${kernelName}' returned ${out.length} outputs where one was expected`);
    this.owned.add(out);
    return out;
  }

  /** A new float32 tensor holding `values`. */
  constant(values: Float32Array, shape: number[]): TensorInfo {
    const out: TensorInfo = { dataId: this.backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
    this.owned.add(out);
    return out;
  }

  read(x: TensorInfo): Float32Array {
    return this.backend.readSync(x.dataId) as Float32Array;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    if (perm.every((p, i) => p === i)) return x;
    return this.run('Transpose', { x }, { perm });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  sum(x: TensorInfo, axis: number[]): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  /** x broadcast to `shape` (same rank), as x + zeros. */
  broadcastTo(x: TensorInfo, shape: number[]): TensorInfo {
    const zeros = this.run('Fill', {}, { shape, value: 0, dtype: x.dtype });
    return this.run('Add', { a: x, b: zeros });
  }

  pad(x: TensorInfo, paddings: Pair[]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  /** [b, m, k] x [b, k, n]. No transpose flags: they take a slow path on wasm. */
  matMul(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /** NHWC conv with explicit non-negative padding [[top, bottom], [left, right]]. */
  conv2d(x: TensorInfo, filter: TensorInfo, strides: Pair, pads: [Pair, Pair], dilations: Pair): TensorInfo {
    return this.run('Conv2D', { x, filter }, {
      strides, pad: [[0, 0], pads[0], pads[1], [0, 0]], dataFormat: 'NHWC', dilations, dimRoundingMode: undefined,
    });
  }

  depthwiseConv2d(x: TensorInfo, filter: TensorInfo, strides: Pair, pads: [Pair, Pair], dilations: Pair): TensorInfo {
    return this.run('DepthwiseConv2dNative', { x, filter }, {
      strides, pad: [[0, 0], pads[0], pads[1], [0, 0]], dataFormat: 'NHWC', dilations, dimRoundingMode: undefined,
    });
  }

  /**
   * Applies [[top, bottom], [left, right]] to the spatial axes of an NHWC tensor, where a negative
   * amount crops: returns the tensor (cropped if needed) and the non-negative padding left for the
   * conv to apply itself, which saves a padded copy.
   */
  cropForPadding(x: TensorInfo, pads: [Pair, Pair]): { x: TensorInfo; pads: [Pair, Pair] } {
    const begin = [0, 0, 0, 0];
    const size = [...x.shape];
    const rest: [Pair, Pair] = [[0, 0], [0, 0]];
    for (let a = 0; a < 2; a++) {
      const [lo, hi] = pads[a]!;
      const axis = a + 1;
      if (lo < 0) {
        begin[axis] = -lo;
        size[axis]! += lo;
      }
      if (hi < 0) size[axis]! += hi;
      rest[a] = [Math.max(lo, 0), Math.max(hi, 0)];
    }
    return { x: this.slice(x, begin, size), pads: rest };
  }

  /**
   * Frees every intermediate except `out` and returns `out` owning one reference. An `out` that
   * is not ours (an input handed back unchanged) gets its own reference through Reshape.
   */
  finish(out: TensorInfo): TensorInfo {
    let result = out;
    if (!this.owned.has(out)) result = this.reshape(out, [...out.shape]);
    this.owned.delete(result);
    this.dispose();
    return result;
  }

  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.clear();
  }
}

/** Runs `body` in a fresh scope; intermediates are freed on return and on throw. */
export function composed(backend: KernelBackend, backendName: string, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.finish(body(scope));
  } finally {
    scope.dispose();
  }
}
