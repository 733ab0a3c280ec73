/**
 * NetAdapt's proposals (Yang et al. 2018; MobileNetV3's second step): from an arch of a space with
 * widths, for each layer the one width cut that a step of the adapt loop would try. A layer keeps
 * its block (kernel, expansion, groups) and takes a narrower width of its stage; the cut is the
 * widest such width that lowers the path's LUT latency by at least `stepMs`, so each proposal
 * removes as few channels as the step allows. The saving counts the next layer too: a narrower
 * output is a narrower input there (the latency chain, space/chain.ts).
 *
 * A layer none of whose narrower widths saves `stepMs` makes no proposal, as in NetAdapt; the
 * loop shrinks its step (or stops) when no layer makes one.
 */
import type { Path } from '../space/path.js';
import type { SearchableLayer } from '../space/spaces.js';
import type { LatencyModel } from './latency.js';

export interface WidthCut {
  /** The layer whose width is cut. */
  layer: number;
  /** Its output channels before and after the cut. */
  from: number;
  to: number;
  path: number[];
  /** The path's LUT latency after the cut, and what the cut saves. */
  ms: number;
  savedMs: number;
}

/** Candidate i of a layer as (name index, width index): a space lists each name at every width of its stage (spaces.ts). */
function split(layer: SearchableLayer, i: number): { name: number; width: number } {
  const n = layer.widths.length;
  return { name: Math.floor(i / n), width: i % n };
}

/** The width cuts of `path`, one per layer that has one saving at least `stepMs`, in layer order. */
export function widthCuts(layers: readonly SearchableLayer[], latency: Pick<LatencyModel, 'pathMs'>, path: Path, stepMs: number): WidthCut[] {
  const now = latency.pathMs(path);
  const cuts: WidthCut[] = [];
  layers.forEach((layer, l) => {
    const { name, width } = split(layer, path[l]!);
    // Widest first: the first narrower width that saves enough is the smallest cut.
    for (let w = width - 1; w >= 0; w--) {
      const next = path.slice();
      next[l] = name * layer.widths.length + w;
      const ms = latency.pathMs(next);
      if (now - ms >= stepMs) {
        cuts.push({ layer: l, from: layer.widths[width]!, to: layer.widths[w]!, path: next, ms, savedMs: now - ms });
        break;
      }
    }
  });
  return cuts;
}
