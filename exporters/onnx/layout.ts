/**
 * Image layouts: TF.js and the batch streams are NHWC, ONNX models take NCHW.
 */

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
