/**
 * NetAdapt's proposals (Yang et al. 2018), as MobileNetV3 used them for its second step: from an
 * arch of a space, the cuts one step of the adapt loop tries, each the smallest of its kind that
 * lowers the path's LUT latency by at least `stepMs`:
 *
 * - width: the layers a residual ties together (consecutive layers of a stage at one width, as
 *   MobileNetV3 cuts "all blocks that share the same bottleneck size") take a narrower width of
 *   their stage. Cutting one of them alone would drop the residuals around it.
 * - expansion: one inverted residual takes a smaller expansion of its space with the same kernel,
 *   groups, SE and width (MobileNetV3's "reduce the size of any expansion layer").
 *
 * Savings count the next layer too: a narrower output is a narrower input there (the latency
 * chain, space/chain.ts). A group or layer none of whose cuts saves `stepMs` proposes nothing;
 * the loop shrinks its step (or stops) when nothing does.
 */
import { formatBlock, type Block } from '../space/blocks.js';
import type { Path } from '../space/path.js';
import type { SearchableLayer } from '../space/spaces.js';
import type { LatencyModel } from '../search/latency.js';

export interface Proposal {
  kind: 'width' | 'expansion';
  /** The layers cut. */
  layers: number[];
  /** What changes, e.g. `layers 3-5: 32 -> 24 channels` or `layer 4: e6 -> e3`. */
  label: string;
  path: number[];
  /** The path's LUT latency after the cut, and what the cut saves. */
  ms: number;
  savedMs: number;
}

type Latency = Pick<LatencyModel, 'pathMs'>;

/** The index of `block` among a layer's candidates, or -1. */
function candidateIndex(layer: SearchableLayer, block: Block): number {
  const f = formatBlock(block);
  return layer.candidates.findIndex((b) => formatBlock(b) === f);
}

const range = (ls: readonly number[]) => (ls.length === 1 ? `layer ${ls[0]}` : `layers ${ls[0]}-${ls[ls.length - 1]}`);

/** Runs of consecutive layers of one stage at one width: what a width cut changes together. */
export function widthGroups(layers: readonly SearchableLayer[], blocks: readonly Block[]): number[][] {
  const groups: number[][] = [];
  blocks.forEach((b, l) => {
    const last = groups[groups.length - 1];
    const prev = last?.[last.length - 1];
    if (last && prev !== undefined && layers[prev]!.stage === layers[l]!.stage && blocks[prev]!.c === b.c) last.push(l);
    else groups.push([l]);
  });
  return groups;
}

/** Each group's widest narrower width that saves `stepMs`, in layer order. */
export function widthCuts(layers: readonly SearchableLayer[], blocks: readonly Block[], latency: Latency, path: Path, stepMs: number): Proposal[] {
  const now = latency.pathMs(path);
  const cuts: Proposal[] = [];
  for (const group of widthGroups(layers, blocks)) {
    const c = blocks[group[0]!]!.c;
    const narrower = layers[group[0]!]!.widths.filter((w) => w < c).sort((a, b) => b - a);
    for (const w of narrower) {
      const next = path.slice();
      const ok = group.every((l) => (next[l] = candidateIndex(layers[l]!, { ...blocks[l]!, c: w })) >= 0);
      if (!ok) continue;
      const ms = latency.pathMs(next);
      if (now - ms >= stepMs) {
        cuts.push({ kind: 'width', layers: group, label: `${range(group)}: ${c} -> ${w} channels`, path: next, ms, savedMs: now - ms });
        break;
      }
    }
  }
  return cuts;
}

/** Each inverted residual's largest smaller expansion (same kernel, groups, SE, width) that saves `stepMs`. */
export function expansionCuts(layers: readonly SearchableLayer[], blocks: readonly Block[], latency: Latency, path: Path, stepMs: number): Proposal[] {
  const now = latency.pathMs(path);
  const cuts: Proposal[] = [];
  blocks.forEach((b, l) => {
    if (b.type !== 'ir') return;
    const smaller = [...new Set(layers[l]!.candidates.flatMap((c) => (c.type === 'ir' && c.e < b.e ? [c.e] : [])))].sort((x, y) => y - x);
    for (const e of smaller) {
      const i = candidateIndex(layers[l]!, { ...b, e });
      if (i < 0) continue;
      const next = path.slice();
      next[l] = i;
      const ms = latency.pathMs(next);
      if (now - ms >= stepMs) {
        cuts.push({ kind: 'expansion', layers: [l], label: `layer ${l}: e${b.e} -> e${e}`, path: next, ms, savedMs: now - ms });
        break;
      }
    }
  });
  return cuts;
}

/** Every proposal of one adapt step: the width cuts, then the expansion cuts. */
export function proposals(layers: readonly SearchableLayer[], blocks: readonly Block[], latency: Latency, path: Path, stepMs: number): Proposal[] {
  return [...widthCuts(layers, blocks, latency, path, stepMs), ...expansionCuts(layers, blocks, latency, path, stepMs)];
}

/**
 * The fastest arch the cuts can reach from `path`: every group at its stage's narrowest width and
 * every inverted residual at its smallest expansion (the blocks' kind and kernel stay). Above the
 * target, no run of the loop can meet it.
 */
export function narrowest(layers: readonly SearchableLayer[], blocks: readonly Block[]): number[] {
  return blocks.map((b, l) => {
    const w = Math.min(...layers[l]!.widths);
    const es = b.type === 'ir' ? layers[l]!.candidates.flatMap((c) => (c.type === 'ir' && candidateIndex(layers[l]!, { ...b, c: w, e: c.e }) >= 0 ? [c.e] : [])) : [];
    const target: Block = b.type === 'ir' ? { ...b, c: w, e: Math.min(b.e, ...es) } : { ...b, c: w };
    const i = candidateIndex(layers[l]!, target);
    return i >= 0 ? i : candidateIndex(layers[l]!, { ...b, c: w });
  });
}
