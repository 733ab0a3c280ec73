/*
 * Training kernels for tfjs-backend-wasm that neither tfjs nor XNNPACK provides, compiled to a
 * freestanding wasm32 + SIMD128 module that imports tfjs's own linear memory, so tensors are
 * read and written in place (pointers are tfjs's memoryOffsets). Build: see build.mjs here.
 *
 * Why by hand: XNNPACK (inside tfjs-backend-wasm) has forward convolutions and GEMMs only. The
 * depthwise filter gradient composed from them needs two full transposes and a batch-folded
 * depthwise conv with a huge filter (a quarter of a training step), and BatchNorm's batch
 * statistics and gradient take ~8 reductions plus ~10 elementwise passes per layer as tfjs ops.
 *
 * Rules for this file: no libc, no static data, no globals (the module has no data segment and
 * must not write anywhere but the buffers it is given); the shadow stack is a block the loader
 * mallocs from tfjs's heap.
 *
 * Layouts: NHWC activations; a depthwise filter gradient is [KH, KW, C] (multiplier 1);
 * BatchNorm treats its input as [M, C] rows, M = N * H * W.
 */
#include <wasm_simd128.h>

typedef v128_t vf;
#define EXPORT(name) __attribute__((export_name(#name)))
#define INLINE static inline __attribute__((always_inline))

INLINE vf ld(const float *p) { return wasm_v128_load(p); }
INLINE void st(float *p, vf v) { wasm_v128_store(p, v); }
INLINE vf madd(vf acc, vf a, vf b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

/* ------------------------------------------------------------------------------------------ */
/* Depthwise convolution filter gradient.                                                     */
/*   dw[kh, kw, c] = sum_{n, oh, ow} x[n, oh*SH + kh - top, ow*SW + kw - left, c] dy[n, oh, ow, c] */
/* For one (n, oh, kh) the KW taps of a 4-channel group stay in registers while ow runs over    */
/* the row: per 4*KW multiply-adds one dy load and KW x loads, no stores.                       */
/* ------------------------------------------------------------------------------------------ */

/* Adds the (n, oh, kh) row's contribution to dw[kh, :, :]. KW is a constant after inlining. */
INLINE void dwf_row(const float *xrow, const float *dyrow, float *dwrow, int W, int C, int OW,
                    const int KW, int SW, int left, int owLo, int owHi) {
  int c = 0;
  for (; c + 4 <= C; c += 4) {
    vf acc[7]; /* KW <= 7 */
#pragma clang loop unroll(full)
    for (int j = 0; j < KW; j++) acc[j] = wasm_f32x4_splat(0.f);
    for (int ow = owLo; ow < owHi; ow++) {
      const vf d = ld(dyrow + ow * C + c);
      const float *xp = xrow + (ow * SW - left) * C + c;
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) acc[j] = madd(acc[j], ld(xp + j * C), d);
    }
    /* Border columns, where some taps fall in the padding. */
    for (int ow = 0; ow < OW; ow++) {
      if (ow == owLo) ow = owHi > owLo ? owHi : owLo;
      if (ow >= OW) break;
      const vf d = ld(dyrow + ow * C + c);
      const int iw0 = ow * SW - left;
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) {
        const int iw = iw0 + j;
        if (iw >= 0 && iw < W) acc[j] = madd(acc[j], ld(xrow + iw * C + c), d);
      }
    }
#pragma clang loop unroll(full)
    for (int j = 0; j < KW; j++) st(dwrow + j * C + c, wasm_f32x4_add(ld(dwrow + j * C + c), acc[j]));
  }
  for (; c < C; c++) {
    for (int ow = 0; ow < OW; ow++) {
      const float d = dyrow[ow * C + c];
      const int iw0 = ow * SW - left;
      for (int j = 0; j < KW; j++) {
        const int iw = iw0 + j;
        if (iw >= 0 && iw < W) dwrow[j * C + c] += xrow[iw * C + c] * d;
      }
    }
  }
}

/* Any KW: the same sums, accumulated in dw's memory. */
static void dwf_row_any(const float *xrow, const float *dyrow, float *dwrow, int W, int C, int OW,
                        int KW, int SW, int left) {
  for (int ow = 0; ow < OW; ow++) {
    const int iw0 = ow * SW - left;
    for (int j = 0; j < KW; j++) {
      const int iw = iw0 + j;
      if (iw < 0 || iw >= W) continue;
      const float *xp = xrow + iw * C, *dp = dyrow + ow * C;
      float *wp = dwrow + j * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) st(wp + c, madd(ld(wp + c), ld(xp + c), ld(dp + c)));
      for (; c < C; c++) wp[c] += xp[c] * dp[c];
    }
  }
}

EXPORT(depthwise_filter_grad)
void depthwise_filter_grad(const float *x, const float *dy, float *dw, int N, int H, int W, int C,
                           int OH, int OW, int KH, int KW, int SH, int SW, int top, int left) {
  for (int i = 0; i < KH * KW * C; i++) dw[i] = 0.f;
  /* Output columns whose KW taps all lie inside the row: [owLo, owHi). */
  int owLo = (left + SW - 1) / SW;
  int owHi = W - KW + left >= 0 ? (W - KW + left) / SW + 1 : 0;
  if (owHi > OW) owHi = OW;
  if (owLo > OW) owLo = OW;
  if (owHi < owLo) owHi = owLo;
  for (int n = 0; n < N; n++) {
    for (int oh = 0; oh < OH; oh++) {
      const float *dyrow = dy + (long)((n * OH + oh) * OW) * C;
      for (int kh = 0; kh < KH; kh++) {
        const int ih = oh * SH + kh - top;
        if (ih < 0 || ih >= H) continue;
        const float *xrow = x + (long)((n * H + ih) * W) * C;
        float *dwrow = dw + kh * KW * C;
        switch (KW) {
          case 1: dwf_row(xrow, dyrow, dwrow, W, C, OW, 1, SW, left, owLo, owHi); break;
          case 2: dwf_row(xrow, dyrow, dwrow, W, C, OW, 2, SW, left, owLo, owHi); break;
          case 3: dwf_row(xrow, dyrow, dwrow, W, C, OW, 3, SW, left, owLo, owHi); break;
          case 4: dwf_row(xrow, dyrow, dwrow, W, C, OW, 4, SW, left, owLo, owHi); break;
          case 5: dwf_row(xrow, dyrow, dwrow, W, C, OW, 5, SW, left, owLo, owHi); break;
          case 6: dwf_row(xrow, dyrow, dwrow, W, C, OW, 6, SW, left, owLo, owHi); break;
          case 7: dwf_row(xrow, dyrow, dwrow, W, C, OW, 7, SW, left, owLo, owHi); break;
          default: dwf_row_any(xrow, dyrow, dwrow, W, C, OW, KW, SW, left); break;
        }
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Depthwise convolution input gradient (multiplier 1).                                       */
/*   dx[n, ih, iw, c] = sum over taps with ih = oh*SH + kh - top, iw = ow*SW + kw - left of     */
/*                      dy[n, oh, ow, c] w[kh, kw, c]                                          */
/* Each output row ih collects the dy rows oh that reach it; each such row is scattered with  */
/* the KW filter taps of its kh held in registers, into dx's row (in L1).                      */
/* ------------------------------------------------------------------------------------------ */

INLINE void dwi_row(const float *dyrow, const float *wrow, float *dxrow, int W, int C, int OW,
                    const int KW, int SW, int left, int owLo, int owHi) {
  int c = 0;
  for (; c + 4 <= C; c += 4) {
    vf wv[7]; /* KW <= 7 */
#pragma clang loop unroll(full)
    for (int j = 0; j < KW; j++) wv[j] = ld(wrow + j * C + c);
    for (int ow = owLo; ow < owHi; ow++) {
      const vf d = ld(dyrow + ow * C + c);
      float *xp = dxrow + (ow * SW - left) * C + c;
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) st(xp + j * C, madd(ld(xp + j * C), d, wv[j]));
    }
    for (int ow = 0; ow < OW; ow++) {
      if (ow == owLo) ow = owHi > owLo ? owHi : owLo;
      if (ow >= OW) break;
      const vf d = ld(dyrow + ow * C + c);
      const int iw0 = ow * SW - left;
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) {
        const int iw = iw0 + j;
        if (iw >= 0 && iw < W) st(dxrow + iw * C + c, madd(ld(dxrow + iw * C + c), d, wv[j]));
      }
    }
  }
  for (; c < C; c++) {
    for (int ow = 0; ow < OW; ow++) {
      const float d = dyrow[ow * C + c];
      const int iw0 = ow * SW - left;
      for (int j = 0; j < KW; j++) {
        const int iw = iw0 + j;
        if (iw >= 0 && iw < W) dxrow[iw * C + c] += d * wrow[j * C + c];
      }
    }
  }
}

static void dwi_row_any(const float *dyrow, const float *wrow, float *dxrow, int W, int C, int OW,
                        int KW, int SW, int left) {
  for (int ow = 0; ow < OW; ow++) {
    const int iw0 = ow * SW - left;
    for (int j = 0; j < KW; j++) {
      const int iw = iw0 + j;
      if (iw < 0 || iw >= W) continue;
      const float *dp = dyrow + ow * C, *wp = wrow + j * C;
      float *xp = dxrow + iw * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) st(xp + c, madd(ld(xp + c), ld(dp + c), ld(wp + c)));
      for (; c < C; c++) xp[c] += dp[c] * wp[c];
    }
  }
}

EXPORT(depthwise_input_grad)
void depthwise_input_grad(const float *dy, const float *w, float *dx, int N, int H, int W, int C,
                          int OH, int OW, int KH, int KW, int SH, int SW, int top, int left) {
  int owLo = (left + SW - 1) / SW;
  int owHi = W - KW + left >= 0 ? (W - KW + left) / SW + 1 : 0;
  if (owHi > OW) owHi = OW;
  if (owLo > OW) owLo = OW;
  if (owHi < owLo) owHi = owLo;
  for (int n = 0; n < N; n++) {
    for (int ih = 0; ih < H; ih++) {
      float *dxrow = dx + (long)((n * H + ih) * W) * C;
      for (int i = 0; i < W * C; i++) dxrow[i] = 0.f;
      for (int kh = 0; kh < KH; kh++) {
        const int t = ih + top - kh;
        if (t < 0 || t % SH != 0) continue;
        const int oh = t / SH;
        if (oh >= OH) continue;
        const float *dyrow = dy + (long)((n * OH + oh) * OW) * C;
        const float *wrow = w + kh * KW * C;
        switch (KW) {
          case 1: dwi_row(dyrow, wrow, dxrow, W, C, OW, 1, SW, left, owLo, owHi); break;
          case 2: dwi_row(dyrow, wrow, dxrow, W, C, OW, 2, SW, left, owLo, owHi); break;
          case 3: dwi_row(dyrow, wrow, dxrow, W, C, OW, 3, SW, left, owLo, owHi); break;
          case 4: dwi_row(dyrow, wrow, dxrow, W, C, OW, 4, SW, left, owLo, owHi); break;
          case 5: dwi_row(dyrow, wrow, dxrow, W, C, OW, 5, SW, left, owLo, owHi); break;
          case 6: dwi_row(dyrow, wrow, dxrow, W, C, OW, 6, SW, left, owLo, owHi); break;
          case 7: dwi_row(dyrow, wrow, dxrow, W, C, OW, 7, SW, left, owLo, owHi); break;
          default: dwi_row_any(dyrow, wrow, dxrow, W, C, OW, KW, SW, left); break;
        }
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Filter gradient of a conv with few input channels (a network's stem: RGB or grey input).   */
/*   dw[kh, kw, ci, co] = sum_{n, oh, ow} x[n, ih, iw, ci] dy[n, oh, ow, co]                   */
/* The depthwise row scheme with x broadcast over a 4-wide group of output channels: KW      */
/* accumulators per (row, ci, co group). Here XNNPACK's route (transposes and a conv with dy  */
/* as a huge filter) did ~1 GMAC/s.                                                           */
/* ------------------------------------------------------------------------------------------ */

INLINE void cf_row(const float *xrow, const float *dyrow, float *dwrow, int W, int CI, int CO, int OW,
                   const int KW, int SW, int left, int owLo, int owHi) {
  for (int ci = 0; ci < CI; ci++) {
    const float *xc = xrow + ci;
    for (int co = 0; co + 4 <= CO; co += 4) {
      vf acc[7]; /* KW <= 7 */
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) acc[j] = wasm_f32x4_splat(0.f);
      for (int ow = owLo; ow < owHi; ow++) {
        const vf d = ld(dyrow + ow * CO + co);
        const float *xp = xc + (ow * SW - left) * CI;
#pragma clang loop unroll(full)
        for (int j = 0; j < KW; j++) acc[j] = madd(acc[j], wasm_v128_load32_splat(xp + j * CI), d);
      }
      for (int ow = 0; ow < OW; ow++) {
        if (ow == owLo) ow = owHi > owLo ? owHi : owLo;
        if (ow >= OW) break;
        const vf d = ld(dyrow + ow * CO + co);
        const int iw0 = ow * SW - left;
#pragma clang loop unroll(full)
        for (int j = 0; j < KW; j++) {
          const int iw = iw0 + j;
          if (iw >= 0 && iw < W) acc[j] = madd(acc[j], wasm_v128_load32_splat(xc + iw * CI), d);
        }
      }
#pragma clang loop unroll(full)
      for (int j = 0; j < KW; j++) {
        float *wp = dwrow + (j * CI + ci) * CO + co;
        st(wp, wasm_f32x4_add(ld(wp), acc[j]));
      }
    }
    for (int co = CO & ~3; co < CO; co++) {
      for (int ow = 0; ow < OW; ow++) {
        const float d = dyrow[ow * CO + co];
        const int iw0 = ow * SW - left;
        for (int j = 0; j < KW; j++) {
          const int iw = iw0 + j;
          if (iw >= 0 && iw < W) dwrow[(j * CI + ci) * CO + co] += xc[iw * CI] * d;
        }
      }
    }
  }
}

EXPORT(conv_filter_grad_small_cin)
void conv_filter_grad_small_cin(const float *x, const float *dy, float *dw, int N, int H, int W, int CI,
                                int CO, int OH, int OW, int KH, int KW, int SH, int SW, int top, int left) {
  for (long i = 0; i < (long)KH * KW * CI * CO; i++) dw[i] = 0.f;
  int owLo = (left + SW - 1) / SW;
  int owHi = W - KW + left >= 0 ? (W - KW + left) / SW + 1 : 0;
  if (owHi > OW) owHi = OW;
  if (owLo > OW) owLo = OW;
  if (owHi < owLo) owHi = owLo;
  for (int n = 0; n < N; n++) {
    for (int oh = 0; oh < OH; oh++) {
      const float *dyrow = dy + (long)((n * OH + oh) * OW) * CO;
      for (int kh = 0; kh < KH; kh++) {
        const int ih = oh * SH + kh - top;
        if (ih < 0 || ih >= H) continue;
        const float *xrow = x + (long)((n * H + ih) * W) * CI;
        float *dwrow = dw + (long)kh * KW * CI * CO;
        switch (KW) {
          case 1: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 1, SW, left, owLo, owHi); break;
          case 2: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 2, SW, left, owLo, owHi); break;
          case 3: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 3, SW, left, owLo, owHi); break;
          case 4: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 4, SW, left, owLo, owHi); break;
          case 5: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 5, SW, left, owLo, owHi); break;
          case 6: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 6, SW, left, owLo, owHi); break;
          default: cf_row(xrow, dyrow, dwrow, W, CI, CO, OW, 7, SW, left, owLo, owHi); break;
        }
      }
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* BatchNorm over [M, C] rows with batch statistics, optionally followed by ReLU.              */
/* Column sums go through a block of rows into `part` first, then into the total, which keeps */
/* float32 rounding error near that of a pairwise sum at M in the tens of thousands.          */
/* ------------------------------------------------------------------------------------------ */

#define ROW_BLOCK 64

INLINE void zero(float *p, int n) {
  for (int i = 0; i < n; i++) p[i] = 0.f;
}

/* acc[c] += part[c]; part[c] = 0. */
INLINE void flush(float *acc, float *part, int C) {
  for (int c = 0; c < C; c++) {
    acc[c] += part[c];
    part[c] = 0.f;
  }
}

/*
 * y = x * scale[c] + shift[c] over M rows of C channels, then max(y, 0) if relu: the apply pass of
 * batchnorm_forward (batch statistics) and batchnorm_infer (running statistics).
 */
static void affine_rows(const float *x, float *y, const float *scale, const float *shift, int M, int C,
                        int relu) {
  const vf zero4 = wasm_f32x4_splat(0.f);
  if (C == 1 || C == 2 || C == 4) {
    /* Rows shorter than a vector: run over the flat array with the factors repeated. */
    const vf s4 = wasm_f32x4_make(scale[0], scale[1 % C], scale[2 % C], scale[3 % C]);
    const vf b4 = wasm_f32x4_make(shift[0], shift[1 % C], shift[2 % C], shift[3 % C]);
    const long n = (long)M * C;
    long i = 0;
    for (; i + 4 <= n; i += 4) {
      vf v = madd(b4, ld(x + i), s4);
      if (relu) v = wasm_f32x4_max(v, zero4);
      st(y + i, v);
    }
    for (; i < n; i++) {
      float v = x[i] * scale[i % C] + shift[i % C];
      if (relu && !(v > 0.f)) v = 0.f;
      y[i] = v;
    }
    return;
  }
  for (int r = 0; r < M; r++) {
    const float *xr = x + (long)r * C;
    float *yr = y + (long)r * C;
    int c = 0;
    for (; c + 8 <= C; c += 8) {
      vf v0 = madd(ld(shift + c), ld(xr + c), ld(scale + c));
      vf v1 = madd(ld(shift + c + 4), ld(xr + c + 4), ld(scale + c + 4));
      if (relu) {
        v0 = wasm_f32x4_max(v0, zero4);
        v1 = wasm_f32x4_max(v1, zero4);
      }
      st(yr + c, v0);
      st(yr + c + 4, v1);
    }
    for (; c + 4 <= C; c += 4) {
      vf v = madd(ld(shift + c), ld(xr + c), ld(scale + c));
      if (relu) v = wasm_f32x4_max(v, zero4);
      st(yr + c, v);
    }
    for (; c < C; c++) {
      float v = xr[c] * scale[c] + shift[c];
      if (relu && !(v > 0.f)) v = 0.f;
      yr[c] = v;
    }
  }
}

/*
 * Forward: mean, biased variance, y = (x - mean) / sqrt(var + eps) * gamma + beta, then
 * max(y, 0) if relu. scratch: 8 * C floats, 8-byte aligned (malloc's).
 *
 * The statistics take one pass over x: shifted sums S = sum (x - K), Q = sum (x - K)^2 with K
 * the mean of 64 rows sampled over x (so |mean - K| is ~std / 8, and Q - S^2 / M does not
 * cancel), in float32 over a block of rows and float64 across blocks; then
 * mean = K + S / M, var = (Q - S^2 / M) / M in float64.
 */
EXPORT(batchnorm_forward)
void batchnorm_forward(const float *x, const float *gamma, const float *beta, float *y, float *mean,
                       float *var, int M, int C, float eps, int relu, float *scratch) {
  double *ts = (double *)scratch, *tq = ts + C;
  float *ps = scratch + 4 * C, *pq = scratch + 5 * C, *scale = scratch + 6 * C, *shift = scratch + 7 * C;
  /* K (in shift for now): the mean of ROW_BLOCK rows spread evenly over x (not the first block:
   * those are the top rows of the first image, which may sit far from the batch mean). */
  const int k1 = M < ROW_BLOCK ? M : ROW_BLOCK;
  zero(shift, C);
  for (int i = 0; i < k1; i++) {
    const float *xr = x + (long)((long long)i * M / k1) * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) st(shift + c, wasm_f32x4_add(ld(shift + c), ld(xr + c)));
    for (; c < C; c++) shift[c] += xr[c];
  }
  for (int c = 0; c < C; c++) {
    shift[c] /= (float)(k1 > 0 ? k1 : 1);
    ts[c] = 0.0;
    tq[c] = 0.0;
  }
  zero(ps, C);
  zero(pq, C);
  for (int r0 = 0; r0 < M; r0 += ROW_BLOCK) {
    const int r1 = r0 + ROW_BLOCK < M ? r0 + ROW_BLOCK : M;
    for (int r = r0; r < r1; r++) {
      const float *xr = x + (long)r * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        const vf d = wasm_f32x4_sub(ld(xr + c), ld(shift + c));
        st(ps + c, wasm_f32x4_add(ld(ps + c), d));
        st(pq + c, madd(ld(pq + c), d, d));
      }
      for (; c < C; c++) {
        const float d = xr[c] - shift[c];
        ps[c] += d;
        pq[c] += d * d;
      }
    }
    for (int c = 0; c < C; c++) {
      ts[c] += (double)ps[c];
      tq[c] += (double)pq[c];
      ps[c] = 0.f;
      pq[c] = 0.f;
    }
  }
  const double invM = 1.0 / (double)M;
  for (int c = 0; c < C; c++) {
    const double s = ts[c] * invM;
    double v = tq[c] * invM - s * s;
    if (v < 0.0) v = 0.0;
    const double mu = (double)shift[c] + s;
    mean[c] = (float)mu;
    var[c] = (float)v;
    const double sc = (double)gamma[c] / __builtin_sqrt(v + (double)eps);
    scale[c] = (float)sc;
    shift[c] = (float)((double)beta[c] - mu * sc);
  }
  affine_rows(x, y, scale, shift, M, C, relu);
}

/*
 * Inference: y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta - mean *
 * scale (the given running statistics), then max(y, 0) if relu. One pass over x; the per-channel
 * factors are computed here (C values). scratch: 2 * C floats.
 */
EXPORT(batchnorm_infer)
void batchnorm_infer(const float *x, const float *gamma, const float *beta, const float *mean,
                     const float *var, float *y, int M, int C, float eps, int relu, float *scratch) {
  float *scale = scratch, *shift = scratch + C;
  for (int c = 0; c < C; c++) {
    scale[c] = gamma[c] / __builtin_sqrtf(var[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  affine_rows(x, y, scale, shift, M, C, relu);
}

/*
 * Backward of batchnorm_forward. With g = dy masked by y > 0 (relu) or dy, xhat = (x - mean) *
 * invStd, k = gamma * invStd:
 *   dbeta = sum g, dgamma = sum g * xhat, dx = k * (g - dbeta / M - xhat * dgamma / M).
 * y is read only if relu. scratch: 5 * C floats.
 */
EXPORT(batchnorm_backward)
void batchnorm_backward(const float *dy, const float *x, const float *y, const float *mean,
                        const float *var, const float *gamma, float *dx, float *dgamma, float *dbeta,
                        int M, int C, float eps, int relu, float *scratch) {
  float *pb = scratch, *pg = scratch + C, *a = scratch + 2 * C, *b = scratch + 3 * C, *k0 = scratch + 4 * C;
  const vf zero4 = wasm_f32x4_splat(0.f);
  zero(dbeta, C);
  zero(dgamma, C);
  zero(pb, C);
  zero(pg, C);
  /* Pass 1: sum g and sum g * (x - mean). */
  for (int r0 = 0; r0 < M; r0 += ROW_BLOCK) {
    const int r1 = r0 + ROW_BLOCK < M ? r0 + ROW_BLOCK : M;
    for (int r = r0; r < r1; r++) {
      const float *dr = dy + (long)r * C, *xr = x + (long)r * C, *yr = y + (long)r * C;
      int c = 0;
      for (; c + 4 <= C; c += 4) {
        vf g = ld(dr + c);
        if (relu) g = wasm_v128_and(g, wasm_f32x4_gt(ld(yr + c), zero4));
        st(pb + c, wasm_f32x4_add(ld(pb + c), g));
        st(pg + c, madd(ld(pg + c), g, wasm_f32x4_sub(ld(xr + c), ld(mean + c))));
      }
      for (; c < C; c++) {
        const float g = relu && !(yr[c] > 0.f) ? 0.f : dr[c];
        pb[c] += g;
        pg[c] += g * (xr[c] - mean[c]);
      }
    }
    flush(dbeta, pb, C);
    flush(dgamma, pg, C);
  }
  /* dx = a * g + b * (x - mean) + k0 per channel. */
  const float inv = 1.f / (float)M;
  for (int c = 0; c < C; c++) {
    const float invStd = 1.f / __builtin_sqrtf(var[c] + eps);
    dgamma[c] *= invStd;
    const float kc = gamma[c] * invStd;
    a[c] = kc;
    b[c] = -kc * invStd * dgamma[c] * inv;
    k0[c] = -kc * dbeta[c] * inv;
  }
  for (int r = 0; r < M; r++) {
    const float *dr = dy + (long)r * C, *xr = x + (long)r * C, *yr = y + (long)r * C;
    float *out = dx + (long)r * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      vf g = ld(dr + c);
      if (relu) g = wasm_v128_and(g, wasm_f32x4_gt(ld(yr + c), zero4));
      st(out + c, madd(madd(ld(k0 + c), ld(a + c), g), ld(b + c), wasm_f32x4_sub(ld(xr + c), ld(mean + c))));
    }
    for (; c < C; c++) {
      const float g = relu && !(yr[c] > 0.f) ? 0.f : dr[c];
      out[c] = a[c] * g + b[c] * (xr[c] - mean[c]) + k0[c];
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* C[I, O] = A[R, I]^T B[R, O]: the filter gradient of a 1x1 conv (A = x, B = dy as rows).    */
/* XNNPACK's GEMMs want A^T materialised (a transpose) and repack B on every call; here a 4x8 */
/* register tile of C runs down a block of rows of A and B as they lie, with A's four values  */
/* broadcast from memory (the same microkernel shape as XNNPACK's wasmsimd 4x8 GEMM).         */
/* ------------------------------------------------------------------------------------------ */

#define TN_ROWS 128

/* Edge tiles (fewer than 4 rows of C or 8 columns): C[i, o] += sum_r A[r, i] B[r, o]. */
static void tn_edge(const float *A, const float *B, float *Cm, int r0, int r1, int I, int O,
                    int i0, int i1, int o0, int o1) {
  for (int r = r0; r < r1; r++) {
    const float *ar = A + (long)r * I, *br = B + (long)r * O;
    for (int i = i0; i < i1; i++) {
      const float a = ar[i];
      float *cr = Cm + (long)i * O;
      int o = o0;
      const vf av = wasm_f32x4_splat(a);
      for (; o + 4 <= o1; o += 4) st(cr + o, madd(ld(cr + o), av, ld(br + o)));
      for (; o < o1; o++) cr[o] += a * br[o];
    }
  }
}

EXPORT(matmul_tn)
void matmul_tn(const float *A, const float *B, float *Cm, int R, int I, int O) {
  for (long i = 0; i < (long)I * O; i++) Cm[i] = 0.f;
  const int I4 = I & ~3, O8 = O & ~7;
  for (int r0 = 0; r0 < R; r0 += TN_ROWS) {
    const int r1 = r0 + TN_ROWS < R ? r0 + TN_ROWS : R;
    for (int i0 = 0; i0 < I4; i0 += 4) {
      for (int o0 = 0; o0 < O8; o0 += 8) {
        float *c0 = Cm + (long)i0 * O + o0, *c1 = c0 + O, *c2 = c1 + O, *c3 = c2 + O;
        vf x0 = ld(c0), y0 = ld(c0 + 4), x1 = ld(c1), y1 = ld(c1 + 4);
        vf x2 = ld(c2), y2 = ld(c2 + 4), x3 = ld(c3), y3 = ld(c3 + 4);
        const float *ap = A + (long)r0 * I + i0, *bp = B + (long)r0 * O + o0;
        for (int r = r0; r < r1; r++, ap += I, bp += O) {
          const vf b0 = ld(bp), b1 = ld(bp + 4);
          const vf a0 = wasm_v128_load32_splat(ap), a1 = wasm_v128_load32_splat(ap + 1);
          const vf a2 = wasm_v128_load32_splat(ap + 2), a3 = wasm_v128_load32_splat(ap + 3);
          x0 = madd(x0, a0, b0); y0 = madd(y0, a0, b1);
          x1 = madd(x1, a1, b0); y1 = madd(y1, a1, b1);
          x2 = madd(x2, a2, b0); y2 = madd(y2, a2, b1);
          x3 = madd(x3, a3, b0); y3 = madd(y3, a3, b1);
        }
        st(c0, x0); st(c0 + 4, y0); st(c1, x1); st(c1 + 4, y1);
        st(c2, x2); st(c2 + 4, y2); st(c3, x3); st(c3 + 4, y3);
      }
      if (O8 < O) tn_edge(A, B, Cm, r0, r1, I, O, i0, i0 + 4, O8, O);
    }
    if (I4 < I) tn_edge(A, B, Cm, r0, r1, I, O, I4, I, 0, O);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* C[R, O] = A[R, K] B[K, O]: a 1x1 conv (A = x rows, B = the [ci, co] filter), and with      */
/* B = W^T its input gradient. 4x8 register tiles; B is walked in 8-column strips that stay in */
/* L1 while a block of A's rows (in L2) goes by. Measured faster than tfjs-wasm's XNNPACK      */
/* Conv2D on our shapes (it builds an operator and packs the filter on every call).           */
/* ------------------------------------------------------------------------------------------ */

#define NN_ROWS 64

/*
 * Rows [r0, r1) x columns [o0, o1) of C, any size; column o of B is at E[k * es + (o - e0)].
 */
static void nn_edge(const float *A, const float *E, int es, int e0, float *Cm, int K, int O, int r0, int r1, int o0, int o1) {
  for (int r = r0; r < r1; r++) {
    const float *ar = A + (long)r * K;
    float *cr = Cm + (long)r * O;
    int o = o0;
    for (; o + 4 <= o1; o += 4) {
      vf acc = wasm_f32x4_splat(0.f);
      for (int k = 0; k < K; k++) acc = madd(acc, wasm_f32x4_splat(ar[k]), ld(E + (long)k * es + (o - e0)));
      st(cr + o, acc);
    }
    for (; o < o1; o++) {
      float acc = 0.f;
      for (int k = 0; k < K; k++) acc += ar[k] * E[(long)k * es + (o - e0)];
      cr[o] = acc;
    }
  }
}

/*
 * C = A B with B packed: P holds B's first O8 columns as strips [O8 / 8][K][8], then its last
 * O - O8 columns as [K][O - O8].
 */
static void nn_packed(const float *A, const float *P, float *Cm, int R, int K, int O) {
  const int O8 = O & ~7;
  const float *E = P + (long)K * O8;
  for (int r0 = 0; r0 < R; r0 += NN_ROWS) {
    const int r1 = r0 + NN_ROWS < R ? r0 + NN_ROWS : R;
    const int r4 = r0 + ((r1 - r0) & ~3);
    for (int o0 = 0; o0 < O8; o0 += 8) {
      const float *strip = P + (long)o0 * K;
      for (int r = r0; r < r4; r += 4) {
        const float *a0 = A + (long)r * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
        const float *bp = strip;
        vf x0 = wasm_f32x4_splat(0.f), y0 = x0, x1 = x0, y1 = x0, x2 = x0, y2 = x0, x3 = x0, y3 = x0;
        for (int k = 0; k < K; k++, bp += 8) {
          const vf b0 = ld(bp), b1 = ld(bp + 4);
          const vf s0 = wasm_v128_load32_splat(a0 + k), s1 = wasm_v128_load32_splat(a1 + k);
          const vf s2 = wasm_v128_load32_splat(a2 + k), s3 = wasm_v128_load32_splat(a3 + k);
          x0 = madd(x0, s0, b0); y0 = madd(y0, s0, b1);
          x1 = madd(x1, s1, b0); y1 = madd(y1, s1, b1);
          x2 = madd(x2, s2, b0); y2 = madd(y2, s2, b1);
          x3 = madd(x3, s3, b0); y3 = madd(y3, s3, b1);
        }
        float *c0 = Cm + (long)r * O + o0, *c1 = c0 + O, *c2 = c1 + O, *c3 = c2 + O;
        st(c0, x0); st(c0 + 4, y0); st(c1, x1); st(c1 + 4, y1);
        st(c2, x2); st(c2 + 4, y2); st(c3, x3); st(c3 + 4, y3);
      }
      if (r4 < r1) nn_edge(A, strip, 8, o0, Cm, K, O, r4, r1, o0, o0 + 8);
    }
    if (O8 < O) nn_edge(A, E, O - O8, O8, Cm, K, O, r0, r1, O8, O);
  }
}

/* C[R, O] = A[R, K] B[K, O]. scratch: K * O floats (B packed). */
EXPORT(matmul_nn)
void matmul_nn(const float *A, const float *B, float *Cm, int R, int K, int O, float *scratch) {
  const int O8 = O & ~7, e = O - O8;
  for (int k = 0; k < K; k++) {
    const float *br = B + (long)k * O;
    for (int o0 = 0; o0 < O8; o0 += 8) {
      st(scratch + (long)o0 * K + k * 8, ld(br + o0));
      st(scratch + (long)o0 * K + k * 8 + 4, ld(br + o0 + 4));
    }
    for (int j = 0; j < e; j++) scratch[(long)K * O8 + k * e + j] = br[O8 + j];
  }
  nn_packed(A, scratch, Cm, R, K, O);
}

/* C[R, O] = A[R, K] W^T for W [O, K]. scratch: K * O floats (W^T packed). */
EXPORT(matmul_nt)
void matmul_nt(const float *A, const float *W, float *Cm, int R, int K, int O, float *scratch) {
  const int O8 = O & ~7, e = O - O8;
  for (int o = 0; o < O; o++) {
    const float *wr = W + (long)o * K;
    if (o < O8) {
      float *strip = scratch + (long)(o & ~7) * K + (o & 7);
      for (int k = 0; k < K; k++) strip[k * 8] = wr[k];
    } else {
      for (int k = 0; k < K; k++) scratch[(long)K * O8 + k * e + (o - O8)] = wr[k];
    }
  }
  nn_packed(A, scratch, Cm, R, K, O);
}

/* ------------------------------------------------------------------------------------------ */
/* SGD with (Nesterov) momentum, one variable per call, tfjs's MomentumOptimizer's arithmetic:  */
/*   a' = m a + g;  w' = c (g + m a') + w  (Nesterov)  or  w' = c a' + w;  c = -lr.            */
/* Each product and sum is rounded to float32 in that order (wasm has no FMA to contract them   */
/* into), so the results are the composed tfjs ops' to the bit.                                */

EXPORT(momentum_update)
void momentum_update(const float *w, const float *a, const float *g, float *ow, float *oa, int n, float c, float m, int nesterov) {
  const vf vc = wasm_f32x4_splat(c), vm = wasm_f32x4_splat(m);
  int i = 0;
  if (nesterov) {
    for (; i + 4 <= n; i += 4) {
      const vf gi = ld(g + i);
      const vf acc = wasm_f32x4_add(wasm_f32x4_mul(vm, ld(a + i)), gi);
      st(oa + i, acc);
      st(ow + i, wasm_f32x4_add(wasm_f32x4_mul(vc, wasm_f32x4_add(gi, wasm_f32x4_mul(acc, vm))), ld(w + i)));
    }
    for (; i < n; i++) {
      const float acc = m * a[i] + g[i];
      oa[i] = acc;
      ow[i] = c * (g[i] + acc * m) + w[i];
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const vf acc = wasm_f32x4_add(wasm_f32x4_mul(vm, ld(a + i)), ld(g + i));
      st(oa + i, acc);
      st(ow + i, wasm_f32x4_add(wasm_f32x4_mul(vc, acc), ld(w + i)));
    }
    for (; i < n; i++) {
      const float acc = m * a[i] + g[i];
      oa[i] = acc;
      ow[i] = c * acc + w[i];
    }
  }
}
