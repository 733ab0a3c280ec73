/**
 * A wrapper around wasm's Transpose for its slow case: a plain 2-D swap [A, C] -> [C, A] (after
 * size-1 axes are dropped). The built-in 2-D path writes with a stride of A floats, and when A
 * has a large power-of-two factor, as N * H * W has at batch 32, the writes thrash the cache:
 * [8192, 144] took 20 ms. Viewed as [A / b, b, C] -> [C, A / b, b] the same copy goes through the
 * 3-D path in 0.7 ms. Training hits this in every matmul gradient and pointwise filter gradient.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const BLOCKS = [64, 32, 16];

/** `builtinConfig` is wasm's own Transpose config; its setupFunc (which binds the C++ entry point) is kept. */
export function fastTransposeKernel(builtinConfig: KernelConfig): KernelConfig {
  const builtin = builtinConfig.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const x = args.inputs['x'] as TensorInfo;
    const perm = (args.attrs as { perm: number[] }).perm;
    const axes = perm.filter((p) => x.shape[p] !== 1);
    if (axes.length !== 2 || axes[0]! < axes[1]!) return builtin(args);
    const a = x.shape[axes[1]!]!, c = x.shape[axes[0]!]!;
    const b = BLOCKS.find((k) => a % k === 0 && a > k);
    if (b === undefined) return builtin(args);
    // A view of x's buffer with another shape: the built-in kernel reads the buffer through the
    // shape it is given and takes no reference, and its output is contiguous [C, A].
    const view: TensorInfo = { dataId: x.dataId, shape: [a / b, b, c], dtype: x.dtype };
    const out = builtin({ ...args, inputs: { x: view }, attrs: { perm: [2, 0, 1] } }) as TensorInfo;
    out.shape = perm.map((p) => x.shape[p]!);
    return out;
  };
  return { ...builtinConfig, kernelFunc };
}
