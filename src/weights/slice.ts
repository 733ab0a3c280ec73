/**
 * A trained network's weights carried to a narrower arch of the same space (NetAdapt's proposals,
 * src/adapt/proposals.ts): every conv, BatchNorm and classifier of the new arch takes the leading
 * channels of the same-named one, the rule the supernet's elastic widths follow
 * (src/supernet/supernet.ts, SharedFamily.conv), so a cut keeps what OFA's channel slicing keeps.
 *
 * Each conv is read in its dense view: a grouped 1x1 conv is the dense one with the off-group
 * blocks zero, and a grouped expansion's outputs are in the order the channel shuffle after it
 * produces (pre-shuffle channel i of group j is dense channel i·g + j). Slicing happens there, so
 * a narrower grouped layer sees the same channels as the wider one did; a weight whose two
 * channels fall in different groups of the narrower conv was not in the wider one and starts at 0.
 *
 * What the old arch did not have starts as a fresh model would (its seeded init), except a conv
 * that replaces an identity skip (a skip whose output became narrower than its input): it starts
 * as the identity on the channels it keeps, so the cut net computes what the old one did there.
 */
import { snapshot } from '../train/checkpoint.js';
import { TfModel } from '../train/model.js';
import type { StoredTensor } from '../train/tensor-file.js';
import { weightsOf, type ConvWeights, type Layer, type LayerWeights, type Shape } from '../space/ir.js';

export interface NetWeights {
  layers: readonly Layer[];
  input: Shape;
}

/** Where stored channel `o` of a conv sits in its dense view (expansions after a shuffle are reordered). */
function denseOut(c: ConvWeights, o: number): number {
  if (c.role !== 'expand' || c.groups === 1) return o;
  const perGroup = c.cout / c.groups;
  return (o % perGroup) * c.groups + Math.floor(o / perGroup);
}

/** The stored output channel of dense channel `d`, or -1 when the conv has fewer. */
function storedOut(c: ConvWeights, d: number): number {
  if (d >= c.cout) return -1;
  if (c.role !== 'expand' || c.groups === 1) return d;
  const perGroup = c.cout / c.groups;
  return (d % c.groups) * perGroup + Math.floor(d / c.groups);
}

/** Whether a conv is depthwise (one input channel per output: its dense view is diagonal). */
const depthwise = (c: ConvWeights) => c.role === 'depthwise';

/**
 * The HWIO weight of conv `to` sliced from `from`'s (same name, same role), 0 where the dense
 * views do not overlap. Kernels crop to their centre, as the supernet's k3 is the centre of k5.
 */
function sliceConv(from: ConvWeights, w: Float32Array, to: ConvWeights): Float32Array {
  const kf = from.k, kt = to.k, off = (kf - kt) / 2;
  const cinGf = depthwise(from) ? 1 : from.cin / from.groups, cinGt = depthwise(to) ? 1 : to.cin / to.groups;
  const out = new Float32Array(kt * kt * cinGt * to.cout);
  if (!Number.isInteger(off) || off < 0) return out;
  const perGroupT = to.cout / to.groups, perGroupF = from.cout / from.groups;
  for (let o = 0; o < to.cout; o++) {
    const d = denseOut(to, o);
    const of = storedOut(from, d);
    if (of < 0) continue;
    for (let i = 0; i < cinGt; i++) {
      let if_: number;
      if (depthwise(to)) {
        // Diagonal: channel o reads input o; the source must be depthwise too.
        if (!depthwise(from)) continue;
        if_ = 0;
      } else {
        // Input channel in the dense view, then its place in the source's groups.
        const inDense = Math.floor(o / perGroupT) * cinGt + i;
        const groupF = Math.floor(of / perGroupF);
        if (inDense < groupF * cinGf || inDense >= (groupF + 1) * cinGf) continue;
        if_ = inDense - groupF * cinGf;
      }
      for (let ky = 0; ky < kt; ky++) for (let kx = 0; kx < kt; kx++) {
        out[((ky * kt + kx) * cinGt + i) * to.cout + o] = w[(((ky + off) * kf + kx + off) * cinGf + if_) * from.cout + of]!;
      }
    }
  }
  return out;
}

/** A per-output-channel vector (BatchNorm, bias) of `to` from `from`'s; channels `from` lacks keep `fresh`. */
function sliceChannels(from: ConvWeights, v: Float32Array, to: ConvWeights, fresh: Float32Array): Float32Array {
  const out = Float32Array.from(fresh);
  for (let o = 0; o < to.cout; o++) {
    const of = storedOut(from, denseOut(to, o));
    if (of >= 0) out[o] = v[of]!;
  }
  return out;
}

/**
 * The variables of `to` (as TfModel names them: `<conv>.weight`, `<conv>.bn.gamma`, …) taken from
 * `tensors`, the stored variables of `from`. `seed` is the fresh init for what `from` lacks.
 */
export function sliceWeights(from: NetWeights, tensors: readonly StoredTensor[], to: NetWeights, seed: number): StoredTensor[] {
  const model = new TfModel(to.layers, to.input, seed);
  let fresh: StoredTensor[];
  try {
    fresh = snapshot(model.allVariables()).map((t) => ({ ...t, data: Float32Array.from(t.data) }));
  } finally {
    model.dispose();
  }
  const stored = new Map(tensors.map((t) => [t.name, t.data]));
  const byName = (ws: LayerWeights[]) => new Map(ws.map((w) => [w.name, w]));
  const src = byName(weightsOf(from.layers, from.input));
  const dst = byName(weightsOf(to.layers, to.input));
  return fresh.map((t): StoredTensor => {
    const [, owner = '', field = ''] = /^(.*)\.(weight|bias|bn\.gamma|bn\.beta|bn\.mean|bn\.variance)$/.exec(t.name) ?? [];
    const target = dst.get(owner), source = src.get(owner);
    const data = stored.get(t.name);
    if (!target) return t;
    if (!source || data === undefined) {
      // A conv in place of an identity skip: the identity on its channels (BatchNorm at rest does nothing).
      if (target.kind === 'conv' && target.role === 'skip' && field === 'weight' && target.k === 1) {
        const w = new Float32Array(t.data.length);
        for (let o = 0; o < Math.min(target.cout, target.cin); o++) w[o * target.cout + o] = 1;
        return { ...t, data: w };
      }
      return t;
    }
    if (target.kind === 'fc' && source.kind === 'fc') {
      // [cin, cout]: the leading corner.
      const w = new Float32Array(t.data.length);
      if (field === 'weight') for (let i = 0; i < target.cin && i < source.cin; i++) for (let o = 0; o < target.cout && o < source.cout; o++) w[i * target.cout + o] = data[i * source.cout + o]!;
      else for (let o = 0; o < target.cout && o < source.cout; o++) w[o] = data[o]!;
      return { ...t, data: w };
    }
    if (target.kind !== 'conv' || source.kind !== 'conv' || target.role !== source.role) return t;
    return { ...t, data: field === 'weight' ? sliceConv(source, data, target) : sliceChannels(source, data, target, t.data) };
  });
}
