/**
 * Convolution gradients for the wasm backend, written as forward convolutions (XNNPACK) plus
 * layout changes, because wasm has no Conv2DBackpropFilter / DepthwiseConv2dNativeBackprop*
 * kernels and its Conv2DBackpropInput is a naive loop several times slower than a forward conv.
 *
 * Index algebra (one spatial axis; the other is the same). Forward, with stride s and the pad
 * `top` that tfjs's computeConv2DInfo chose (TF 'same' puts the odd pad at the end):
 *   y[o] = sum_j x[o*s + j - top] * w[j]
 * Filter grad: dw[j] = sum_o x[j + o*s - top] * dy[o], a stride-1 conv of x by dy dilated by s,
 * with the batch axis as the contraction axis (so batch and channels swap places).
 * Input grad: dx[i] = sum_o dy[o] * w[i + top - o*s], at stride 1 a conv of dy by the flipped
 * filter; at stride s one conv per output phase (i + top) mod s, see stridedInputGrad.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { nativeDepthwiseFilterGrad, nativeDepthwiseInputGrad, nativePointwiseConv, nativePointwiseFilterGrad, nativePointwiseInputGrad, nativeSmallCinFilterGrad } from './native.js';
import { composed, type KernelScope, type Pair } from './scope.js';

export type Shape4 = [number, number, number, number];
type ConvInfo = tf.backend_util.Conv2DInfo;

const BACKEND = 'wasm';

function requireNhwc(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on wasm supports NHWC only (got ${dataFormat}); transpose to NHWC first`);
  }
}

function requireUnitDilation(kernel: string, dilations: number | [number, number] | undefined): void {
  const [dh, dw] = typeof dilations === 'number' ? [dilations, dilations] : dilations ?? [1, 1];
  if (dh !== 1 || dw !== 1) throw new Error(`${kernel} on wasm supports dilation 1 only (got ${dh}x${dw})`);
}

/**
 * Padding of x, per spatial axis, such that a stride-1 conv of x by dy dilated by the stride has
 * exactly k outputs: [top, k + (out - 1) * s - in - top]. The end is negative when the forward
 * conv never reached the last rows (stride > k, or 'valid'); cropForPadding then drops them.
 */
function filterGradPads(info: ConvInfo): [Pair, Pair] {
  const { padInfo } = info;
  return [
    [padInfo.top, info.filterHeight + (info.outHeight - 1) * info.strideHeight - info.inHeight - padInfo.top],
    [padInfo.left, info.filterWidth + (info.outWidth - 1) * info.strideWidth - info.inWidth - padInfo.left],
  ];
}

/**
 * Input grad at stride 1: dx[i] = sum_j dy[i + top - j] w[j], a 'valid' conv of dy padded by
 * [k - 1 - top, in + top - out] with the flipped filter (negative amounts crop).
 */
function unitStrideInputPads(info: ConvInfo): [Pair, Pair] {
  return [
    [info.filterHeight - 1 - info.padInfo.top, info.inHeight + info.padInfo.top - info.outHeight],
    [info.filterWidth - 1 - info.padInfo.left, info.inWidth + info.padInfo.left - info.outWidth],
  ];
}

/** Tap of the kernel at position u of phase r's flipped, zero-padded sub-filter (-1: none). */
function phaseTap(r: number, u: number, stride: number, taps: number, k: number): number {
  const j = r + (taps - 1 - u) * stride;
  return j < k ? j : -1;
}

/**
 * Input grad at stride s > 1. Writing i + top = q * s + r, dx[i] = sum_t dy[q - t] w[r + t * s]:
 * each phase r (s * s of them in 2-D) is a stride-1 conv of dy by the sub-filter of taps
 * r, r + s, r + 2s, ... That is about the forward conv's work, where convolving a zero-dilated dy
 * does s * s times more (here: k5 conv 17 -> 10 ms, mbv3's k7 depthwise 33 -> 14 ms at batch
 * 32). All phases run as one conv, stacked on the
 * output channels, with sub-filters zero-padded to ceil(k / s) taps; the phases are then
 * interleaved (depth to space) and the `top` / `left` rows cropped.
 */
function stridedInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, info: ConvInfo, depthwise: boolean): TensorInfo {
  const [kh, kw, fa, fb] = filter.shape as Shape4;
  const sh = info.strideHeight, sw = info.strideWidth;
  // XNNPACK's fast depthwise kernels take 2x2, 3x3 and 5x5 filters; 4x4 (k = 7 at stride 2)
  // runs 3x slower than 5x5, so such sub-filters get a fifth, zero, tap.
  const taps = (t: number) => (depthwise && t === 4 ? 5 : t);
  const th = taps(Math.ceil(kh / sh)), tw = taps(Math.ceil(kw / sw));
  const phases = sh * sw;
  const { top, left } = info.padInfo;
  const qh = Math.ceil((top + info.inHeight) / sh), qw = Math.ceil((left + info.inWidth) / sw);
  const [n, oh, ow, cdy] = dy.shape as Shape4;
  const w = s.read(filter);
  // Filter [th, tw, in, out]. Out channels are (phase, ci) for a conv. A depthwise conv with
  // multiplier s * s leaves XNNPACK's depthwise kernels for a grouped GEMM (2.5x slower than the
  // zero-dilated way), so its input is dy repeated per phase instead: channels (phase, c).
  const cin = depthwise ? phases * cdy : fb;
  const cout = depthwise ? 1 : phases * fa;
  const combined = new Float32Array(th * tw * cin * cout);
  for (let uh = 0; uh < th; uh++) for (let uw = 0; uw < tw; uw++) for (let rh = 0; rh < sh; rh++) for (let rw = 0; rw < sw; rw++) {
    const jh = phaseTap(rh, uh, sh, th, kh), jw = phaseTap(rw, uw, sw, tw, kw);
    if (jh < 0 || jw < 0) continue;
    const at = (uh * tw + uw) * cin * cout, phase = rh * sw + rw, src = (jh * kw + jw) * fa * fb;
    if (depthwise) {
      for (let c = 0; c < cdy; c++) combined[at + phase * cdy + c] = w[src + c]!;
    } else {
      for (let i = 0; i < fa; i++) for (let o = 0; o < fb; o++) combined[at + o * cout + phase * fa + i] = w[src + i * fb + o]!;
    }
  }
  const f = s.constant(combined, [th, tw, cin, cout]);
  const d = s.cropForPadding(dy, [[th - 1, qh - oh], [tw - 1, qw - ow]]);
  const c = depthwise ? cdy : fa;
  let out: TensorInfo; // [n, qh, qw, phases * c]
  if (depthwise) {
    const [, hh, ww] = d.x.shape as Shape4;
    const repeated = s.broadcastTo(s.reshape(d.x, [n, hh, ww, 1, cdy]), [n, hh, ww, phases, cdy]);
    out = s.depthwiseConv2d(s.reshape(repeated, [n, hh, ww, phases * cdy]), f, [1, 1], d.pads, [1, 1]);
  } else {
    out = s.conv2d(d.x, f, [1, 1], d.pads, [1, 1]);
  }
  const grid = s.transpose(s.reshape(out, [n * qh, qw, sh, sw * c]), [0, 2, 1, 3]);
  return s.slice(s.reshape(grid, [n, qh * sh, qw * sw, c]), [0, top, left, 0], [n, info.inHeight, info.inWidth, c]);
}

function isPointwise(info: ConvInfo): boolean {
  const p = info.padInfo;
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1 &&
    p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0;
}

export function conv2dFilterGrad(s: KernelScope, x: TensorInfo, dy: TensorInfo, info: ConvInfo): TensorInfo {
  const [n, h, w, ci] = x.shape as Shape4;
  const co = info.outChannels;
  if (isPointwise(info)) {
    // A plain matmul, x^T dy. The transposes are explicit because BatchMatMul's transpose flags
    // are slow on wasm. XNNPACK repacks the right operand on every call, so the narrower of
    // x and dy goes there: (dy^T x)^T when dy has more channels (up to 1.6x faster).
    const rows = n * h * w;
    const x2 = s.reshape(x, [rows, ci]), dy2 = s.reshape(dy, [rows, co]);
    if (co <= ci) {
      const xt = s.reshape(s.transpose(x2, [1, 0]), [1, ci, rows]);
      return s.reshape(s.matMul(xt, s.reshape(dy2, [1, rows, co])), [1, 1, ci, co]);
    }
    const dyt = s.reshape(s.transpose(dy2, [1, 0]), [1, co, rows]);
    const dwt = s.reshape(s.matMul(dyt, s.reshape(x2, [1, rows, ci])), [co, ci]);
    return s.reshape(s.transpose(dwt, [1, 0]), [1, 1, ci, co]);
  }
  const xt = s.transpose(x, [3, 1, 2, 0]); // [ci, h, w, n]: channels become the batch
  const dyt = s.transpose(dy, [1, 2, 0, 3]); // [oh, ow, n, co]: dy becomes the filter
  const c = s.cropForPadding(xt, filterGradPads(info));
  const dw = s.conv2d(c.x, dyt, [1, 1], c.pads, [info.strideHeight, info.strideWidth]); // [ci, kh, kw, co]
  return s.transpose(dw, [1, 2, 0, 3]);
}

export function conv2dInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo {
  if (info.strideHeight > 1 || info.strideWidth > 1) return stridedInputGrad(s, dy, filter, info, false);
  const pointwise = info.filterHeight === 1 && info.filterWidth === 1;
  const flipped = s.transpose(pointwise ? filter : s.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [kh, kw, co, ci]
  const d = s.cropForPadding(dy, unitStrideInputPads(info));
  return s.conv2d(d.x, flipped, [1, 1], d.pads, [1, 1]);
}

/** Depthwise filter [k, k, c, m]: output channel c * m + j reads input channel c. */
export function depthwiseFilterGrad(s: KernelScope, x: TensorInfo, dy: TensorInfo, info: ConvInfo, multiplier: number): TensorInfo {
  const [n, h, w, c] = x.shape as Shape4;
  const cm = c * multiplier;
  // With a multiplier every input channel feeds m outputs; repeating it makes the channels line
  // up. The repeat is a broadcast add of zeros: wasm's Tile is a JS loop, ~100x slower.
  const xs = multiplier === 1 ? x : s.reshape(s.broadcastTo(s.reshape(x, [n, h, w, c, 1]), [n, h, w, c, multiplier]), [n, h, w, cm]);
  // The batch folds into the channels: one depthwise conv over [1, h, w, n*cm] by the filter
  // dy [oh, ow, n*cm, 1] gives every (sample, channel) correlation at once; a sum over n remains.
  const xt = s.reshape(s.transpose(xs, [1, 2, 0, 3]), [1, h, w, n * cm]);
  const dyt = s.reshape(s.transpose(dy, [1, 2, 0, 3]), [info.outHeight, info.outWidth, n * cm, 1]);
  const cr = s.cropForPadding(xt, filterGradPads(info));
  const dw = s.depthwiseConv2d(cr.x, dyt, [1, 1], cr.pads, [info.strideHeight, info.strideWidth]); // [1, kh, kw, n*cm]
  const kh = info.filterHeight, kw = info.filterWidth;
  const perSample = s.reshape(dw, [kh, kw, n, cm]);
  const total = n === 1 ? perSample : s.sum(perSample, [2]);
  return s.reshape(total, [kh, kw, c, multiplier]);
}

export function depthwiseInputGrad(s: KernelScope, dy: TensorInfo, filter: TensorInfo, info: ConvInfo): TensorInfo {
  const [kh, kw, c, m] = filter.shape as Shape4;
  let dx: TensorInfo;
  if (info.strideHeight > 1 || info.strideWidth > 1) {
    dx = stridedInputGrad(s, dy, filter, info, true);
  } else {
    // A multiplier folds into the channels: dy channel c * m + j convolves with its own filter.
    const flat = m === 1 ? filter : s.reshape(filter, [kh, kw, c * m, 1]);
    const flipped = kh === 1 && kw === 1 ? flat : s.reverse(flat, [0, 1]);
    const d = s.cropForPadding(dy, unitStrideInputPads(info));
    dx = s.depthwiseConv2d(d.x, flipped, [1, 1], d.pads, [1, 1]);
  }
  if (m === 1) return dx;
  const [n, h, w] = dx.shape as Shape4;
  return s.sum(s.reshape(dx, [n, h, w, c, m]), [4]);
}

const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  requireNhwc(tf.Conv2DBackpropFilter, a.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  // 1x1: our SIMD x^T dy, 1.3-3x faster than a transpose plus XNNPACK's matmul (which repacks dy).
  // A stem (1-4 input channels): our SIMD kernel; XNNPACK's route below runs at ~1 GMAC/s there.
  const native = isPointwise(info) ? nativePointwiseFilterGrad(backend as tf.KernelBackend, x, dy)
    : nativeSmallCinFilterGrad(backend as tf.KernelBackend, x, dy, info);
  if (native) return native;
  return composed(backend as tf.KernelBackend, BACKEND, (s) => conv2dFilterGrad(s, x, dy, info));
};

const conv2DBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  requireNhwc(tf.Conv2DBackpropInput, a.dataFormat);
  const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as Shape4, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const native = isPointwise(info) ? nativePointwiseInputGrad(backend as tf.KernelBackend, dy, filter) : undefined;
  if (native) return native;
  return composed(backend as tf.KernelBackend, BACKEND, (s) => conv2dInputGrad(s, dy, filter, info));
};

const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  requireUnitDilation(tf.DepthwiseConv2dNativeBackpropFilter, a.dilations);
  const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, true, 'channelsLast');
  // Multiplier 1 (every depthwise conv of our blocks): our SIMD kernel, in one pass over x and dy.
  const native = nativeDepthwiseFilterGrad(backend as tf.KernelBackend, x, dy, info, a.filterShape[3]);
  if (native) return native;
  return composed(backend as tf.KernelBackend, BACKEND, (s) => depthwiseFilterGrad(s, x, dy, info, a.filterShape[3]));
};

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  requireUnitDilation(tf.DepthwiseConv2dNativeBackpropInput, a.dilations);
  const info = tf.backend_util.computeConv2DInfo(a.inputShape, filter.shape as Shape4, a.strides, 1, a.pad, a.dimRoundingMode, true, 'channelsLast');
  // Multiplier 1: our SIMD kernel, one pass over dy with the filter taps in registers.
  const native = nativeDepthwiseInputGrad(backend as tf.KernelBackend, dy, filter, info);
  if (native) return native;
  return composed(backend as tf.KernelBackend, BACKEND, (s) => depthwiseInputGrad(s, dy, filter, info));
};

/**
 * wasm's Conv2D with 1x1 stride-1 unpadded NHWC convs routed to our GEMM (native.ts); everything
 * else goes to the built-in XNNPACK kernel, whose setupFunc is kept.
 */
export function pointwiseConv2DKernel(builtinConfig: KernelConfig): KernelConfig {
  const builtin = builtinConfig.kernelFunc;
  const kernelFunc: KernelFunc = (args) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const a = args.attrs as unknown as tf.Conv2DAttrs;
    const [dh, dw] = typeof a.dilations === 'number' ? [a.dilations, a.dilations] : a.dilations ?? [1, 1];
    if ((a.dataFormat ?? 'NHWC') === 'NHWC' && dh === 1 && dw === 1 && x.shape.length === 4) {
      const info = tf.backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
      if (isPointwise(info)) {
        const native = nativePointwiseConv(args.backend as tf.KernelBackend, x, filter);
        if (native) return native;
      }
    }
    return builtin(args);
  };
  return { ...builtinConfig, kernelFunc };
}

export const convGradKernels: KernelConfig[] = [
  { kernelName: tf.Conv2DBackpropFilter, backendName: BACKEND, kernelFunc: conv2DBackpropFilter },
  { kernelName: tf.Conv2DBackpropInput, backendName: BACKEND, kernelFunc: conv2DBackpropInput },
  { kernelName: tf.DepthwiseConv2dNativeBackpropFilter, backendName: BACKEND, kernelFunc: depthwiseBackpropFilter },
  { kernelName: tf.DepthwiseConv2dNativeBackpropInput, backendName: BACKEND, kernelFunc: depthwiseBackpropInput },
];
