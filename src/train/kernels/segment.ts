/**
 * UnsortedSegmentSum for wasm: the gradient of tf.gather. A direct scatter-add over the flat
 * data; the cpu backend's version (one masked full-size sum per segment) costs
 * numSegments x size, this costs size.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const b = backend as tf.KernelBackend;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new Error(`UnsortedSegmentSum on wasm: unsupported dtype ${x.dtype}`);
  const ids = b.readSync(segmentIds.dataId) as tf.TypedArray;
  const values = b.readSync(x.dataId) as Float32Array | Int32Array;
  // Segment ids cover the leading axes of x (TF semantics); each id owns one inner block.
  const idRank = segmentIds.shape.length;
  const inner = tf.util.sizeFromShape(x.shape.slice(idRank));
  const shape = [numSegments, ...x.shape.slice(idRank)];
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    // Out-of-range ids are dropped, as TF and the cpu backend do.
    if (id < 0 || id >= numSegments) continue;
    const src = i * inner, dst = id * inner;
    for (let j = 0; j < inner; j++) out[dst + j]! += values[src + j]!;
  }
  return { dataId: b.write(out, shape, x.dtype), shape, dtype: x.dtype };
};

export const segmentKernels: KernelConfig[] = [
  { kernelName: tf.UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSum },
];
