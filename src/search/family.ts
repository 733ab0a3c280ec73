/**
 * The hand-designed family of a space: what a person gets without search. One uniform arch per
 * candidate name (every searchable layer the same block: `k3_e6` × 12, `skip` × 12, …) and the
 * MobileNetV2-style baseline (./baseline.ts), each at its own LUT latency. Retrained, they draw
 * the accuracy–latency curve a searched arch has to beat at equal latency.
 *
 * A name some layers lack (mbv3's `skip`, absent from each stage's first layer) still gets its
 * arch: those layers take their candidate closest to the name, by the baseline's rank for an
 * inverted residual (kernel first, then expansion, then ungrouped) and the smallest inverted
 * residual for a skip (the shallowest net a stage allows). The member lists every layer so
 * filled in (`substituted`), so the arch is never mistaken for a strictly uniform one.
 */
import { formatBlock, parseBlockPartial } from '../space/blocks.js';
import { pathBlocks, type Path } from '../space/path.js';
import { searchableLayers, stageWidths, type Space } from '../space/spaces.js';
import { baselinePath } from './baseline.js';
import type { LatencyModel } from './latency.js';

/** What the family needs of a LatencyModel: a path's LUT latency. */
export type PathLatency = Pick<LatencyModel, 'pathMs'>;

/** The name of the family's MobileNetV2-style member. */
export const MBV2 = 'mbv2';

export interface FamilyMember {
  /** A candidate's short name as the space lists it (`k3_e6`, `skip`), or `mbv2`. */
  name: string;
  /** Full block strings, one per searchable layer (as a search's arch.json holds them). */
  blocks: string[];
  path: number[];
  predictedMs: number;
  /** Layers that lack the name, and the candidate each took instead (empty for a strictly uniform arch). */
  substituted: { layer: number; block: string }[];
}

/** How far a layer's candidate `cand` is from the wanted short name `want` (0: the same block). */
function distance(want: string, cand: string): number {
  if (want === cand) return 0;
  const w = parseBlockPartial(want), c = parseBlockPartial(cand);
  if (c.type !== 'ir') return 1e6;
  const e = c.e ?? 1, k = c.k ?? 3, g = c.g ?? 1;
  // For a skip: the lightest inverted residual (a grouped expand is lighter still).
  if (w.type !== 'ir') return 1e3 + e * 10 + k - (g > 1 ? 0.5 : 0);
  return Math.abs(k - (w.k ?? 3)) * 100 + Math.abs(e - (w.e ?? 1)) * 10 + (g !== (w.g ?? 1) ? 1 : 0);
}

/** Each searchable layer's candidate names, in the order the space lists them. */
function layerNames(space: Space): string[][] {
  return space.stages.flatMap((stage) => Array.from({ length: stage.n }, (_, j) => (j === 0 && stage.firstCandidates ? stage.firstCandidates : stage.candidates)));
}

/** Each searchable layer's output widths (one for a fixed-width stage), as the space's layers hold them. */
function layerWidths(space: Space): number[][] {
  return searchableLayers(space).map((l) => l.widths);
}

/** The path entry of name index `n` at width index `w` (candidates are listed name-major, each at every width: spaces.ts). */
const candidateIndex = (widths: readonly number[], n: number, w: number) => n * widths.length + w;

function member(space: Space, latency: PathLatency, name: string, path: Path, substituted: FamilyMember['substituted']): FamilyMember {
  return { name, blocks: pathBlocks(space, path).map(formatBlock), path: [...path], predictedMs: latency.pathMs(path), substituted };
}

/** The space's uniform archs, one per candidate name in the order the space first lists them. */
export function uniformArchs(space: Space, latency: PathLatency): FamilyMember[] {
  const names = layerNames(space);
  const all = [...new Set(names.flat())];
  const widths = layerWidths(space);
  return all.map((name) => {
    const substituted: FamilyMember['substituted'] = [];
    const path = names.map((cands, l) => {
      const full = widths[l]!.length - 1;
      const i = cands.indexOf(name);
      if (i >= 0) return candidateIndex(widths[l]!, i, full);
      const best = cands.reduce((b, c, j) => (distance(name, c) < distance(name, cands[b]!) ? j : b), 0);
      substituted.push({ layer: l, block: cands[best]! });
      return candidateIndex(widths[l]!, best, full);
    });
    return member(space, latency, name, path, substituted);
  });
}

/** The MobileNetV2-style baseline as a family member (`substituted`: layers whose candidate is not `k3_e6`). */
export function mbv2Arch(space: Space, latency: PathLatency): FamilyMember {
  const path = baselinePath(space);
  const names = layerNames(space);
  const widths = layerWidths(space);
  const nameOf = (i: number, l: number) => names[l]![Math.floor(i / widths[l]!.length)]!;
  const substituted = path.flatMap((i, l) => (nameOf(i, l) === 'k3_e6' ? [] : [{ layer: l, block: nameOf(i, l) }]));
  return member(space, latency, MBV2, path, substituted);
}

/**
 * The MobileNetV2-style baseline with a width multiplier, `mbv2-x0.5` …: every stage's channels
 * times m, rounded as the stage's widths are (spaces.ts `stageWidths`); one member per multiplier
 * below 1 that every stage of a space with widths lists (none for a fixed-width space).
 */
export function widthMultipliedMbv2(space: Space, latency: PathLatency): FamilyMember[] {
  const lists = space.stages.map((s) => s.widths ?? [1]);
  const multipliers = lists[0]!.filter((m) => m < 1 && lists.every((list) => list.includes(m)));
  const base = mbv2Arch(space, latency);
  const widths = layerWidths(space);
  const stageOf = space.stages.flatMap((stage) => Array.from({ length: stage.n }, () => stage));
  return multipliers.map((m) => {
    const path = base.path.map((i, l) => {
      const ws = widths[l]!;
      const c = stageWidths({ c: stageOf[l]!.c, widths: [m] })[0]!;
      return candidateIndex(ws, Math.floor(i / ws.length), ws.indexOf(c));
    });
    return member(space, latency, `${MBV2}-x${m}`, path, base.substituted);
  });
}

/** The whole family: the MobileNetV2-style baseline first, its width-multiplied versions (spaces with widths), then the uniform archs. */
export function handDesignedFamily(space: Space, latency: PathLatency): FamilyMember[] {
  return [mbv2Arch(space, latency), ...widthMultipliedMbv2(space, latency), ...uniformArchs(space, latency)];
}
