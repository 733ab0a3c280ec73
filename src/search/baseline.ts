/**
 * The comparison arch of a space: MobileNetV2-style, every layer an inverted residual with a 3x3
 * depthwise conv and expansion 6 (`k3_e6`), or where a layer lacks it, its closest candidate
 * (k3, then the largest expansion, ungrouped). Searched archs are judged against it at its own
 * LUT latency, which is also the default search target.
 */
import { fail } from '../errors.js';
import type { Block } from '../space/blocks.js';
import { searchableLayers, type Space } from '../space/spaces.js';

export function baselinePath(space: Space): number[] {
  return searchableLayers(space).map((layer) => {
    let best = -1, bestRank = Infinity;
    const full = layer.widths[layer.widths.length - 1];
    layer.candidates.forEach((b: Block, i) => {
      // At the stage's full width (a space with widths lists each candidate at each): MobileNetV2 ×1.0.
      if (b.type !== 'ir' || b.c !== full) return;
      const rank = Math.abs(b.k - 3) * 100 + Math.abs(b.e - 6) * 10 + (b.g > 1 ? 1 : 0);
      if (rank < bestRank) { best = i; bestRank = rank; }
    });
    if (best < 0) fail(`space '${space.name}' layer ${layer.index} has no inverted-residual candidate for the MobileNetV2-style baseline`);
    return best;
  });
}
