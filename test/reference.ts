/**
 * A direct NCHW interpreter of the IR (batch 1), written from the op definitions, used only to
 * check that the ONNX lowering means what the IR says (padding, groups, shuffle, SE, activations).
 */
import { samePads } from '../src/onnx/lower.js';
import type { WeightSource } from '../src/weights/source.js';
import { convOutSize, type Act, type Layer, type Shape } from '../src/space/ir.js';

export interface Tensor { shape: Shape; data: Float32Array }

function act(v: number, a: Act): number {
  if (a === 'relu') return Math.max(0, v);
  if (a === 'hswish') return (v * Math.min(6, Math.max(0, v + 3))) / 6;
  return v;
}

function conv(x: Tensor, cout: number, k: number, stride: number, groups: number, w: Float32Array, b: Float32Array, a: Act): Tensor {
  const { c, h, w: width } = x.shape;
  const oh = convOutSize(h, stride), ow = convOutSize(width, stride);
  const [pt] = samePads(h, k, stride);
  const [pl] = samePads(width, k, stride);
  const cinG = c / groups, coutG = cout / groups;
  const out = new Float32Array(cout * oh * ow);
  for (let o = 0; o < cout; o++) {
    const g = Math.floor(o / coutG);
    for (let y = 0; y < oh; y++) {
      for (let xx = 0; xx < ow; xx++) {
        let s = b[o]!;
        for (let ci = 0; ci < cinG; ci++) {
          const cin = g * cinG + ci;
          for (let ky = 0; ky < k; ky++) {
            const iy = y * stride + ky - pt;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = xx * stride + kx - pl;
              if (ix < 0 || ix >= width) continue;
              s += x.data[(cin * h + iy) * width + ix]! * w[((o * cinG + ci) * k + ky) * k + kx]!;
            }
          }
        }
        out[(o * oh + y) * ow + xx] = act(s, a);
      }
    }
  }
  return { shape: { c: cout, h: oh, w: ow }, data: out };
}

export function runReference(layers: readonly Layer[], x: Tensor, weights: WeightSource): Tensor {
  let t = x;
  for (const l of layers) {
    const { c, h, w } = t.shape;
    switch (l.op) {
      case 'conv': {
        const p = weights.conv(l.name, l.cout, c / l.groups, l.k);
        t = conv(t, l.cout, l.k, l.stride, l.groups, p.weight, p.bias, l.act);
        break;
      }
      case 'shuffle': {
        // Channel i of group g goes to position i * groups + g.
        const per = c / l.groups;
        const out = new Float32Array(t.data.length);
        for (let g = 0; g < l.groups; g++) {
          for (let i = 0; i < per; i++) out.set(t.data.subarray((g * per + i) * h * w, (g * per + i + 1) * h * w), (i * l.groups + g) * h * w);
        }
        t = { shape: t.shape, data: out };
        break;
      }
      case 'se': {
        const r = weights.conv(`${l.name}.reduce`, l.reduced, c, 1);
        const e = weights.conv(`${l.name}.expand`, c, l.reduced, 1);
        const pooled = new Float32Array(c);
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = 0; i < h * w; i++) s += t.data[ch * h * w + i]!;
          pooled[ch] = s / (h * w);
        }
        const mid = new Float32Array(l.reduced);
        for (let j = 0; j < l.reduced; j++) {
          let s = r.bias[j]!;
          for (let ch = 0; ch < c; ch++) s += r.weight[j * c + ch]! * pooled[ch]!;
          mid[j] = Math.max(0, s);
        }
        const out = new Float32Array(t.data.length);
        for (let ch = 0; ch < c; ch++) {
          let s = e.bias[ch]!;
          for (let j = 0; j < l.reduced; j++) s += e.weight[ch * l.reduced + j]! * mid[j]!;
          const gate = Math.min(1, Math.max(0, s / 6 + 0.5));
          for (let i = 0; i < h * w; i++) out[ch * h * w + i] = t.data[ch * h * w + i]! * gate;
        }
        t = { shape: t.shape, data: out };
        break;
      }
      case 'residual': {
        const body = runReference(l.body, t, weights);
        const out = new Float32Array(t.data.length);
        for (let i = 0; i < out.length; i++) out[i] = t.data[i]! + body.data[i]!;
        t = { shape: t.shape, data: out };
        break;
      }
      case 'gap': {
        const out = new Float32Array(c);
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = 0; i < h * w; i++) s += t.data[ch * h * w + i]!;
          out[ch] = s / (h * w);
        }
        t = { shape: { c, h: 1, w: 1 }, data: out };
        break;
      }
      case 'fc': {
        const p = weights.fc(l.name, l.cout, c);
        const out = new Float32Array(l.cout);
        for (let o = 0; o < l.cout; o++) {
          let s = p.bias[o]!;
          for (let i = 0; i < c; i++) s += p.weight[o * c + i]! * t.data[i]!;
          out[o] = s;
        }
        t = { shape: { c: l.cout, h: 1, w: 1 }, data: out };
        break;
      }
    }
  }
  return t;
}
