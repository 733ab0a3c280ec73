/**
 * A space as a chain: what each searchable layer can be (a candidate at one of its inputs), and
 * which input the next layer then gets. In a fixed-width space every layer has one input, so a
 * unit's cost depends on its own candidate only; with widths (spaces.ts `widths`) a block's cost
 * depends on its input channels too, which the previous layer's candidate sets. LUT checks, the
 * search's latency model and the profiler's reference nets all cost a space through this chain,
 * so the stem, the blocks and the width-dependent head are walked in one place.
 */
import { blockUnit, headUnit, stemUnit, type Unit } from './network.js';
import type { Path } from './path.js';
import { headInputs, inputIndex, searchableLayers, type SearchableLayer, type Space } from './spaces.js';

export interface UnitChain {
  stem: Unit;
  /** blocks[l][a][i]: candidate i of layer l at the layer's input a. */
  blocks: Unit[][][];
  /** next[l][i]: the input index of layer l + 1 (of `heads` after the last layer) that candidate i of layer l gives. */
  next: number[][];
  /** One head per output width of the last layer, ascending. */
  heads: Unit[];
}

export function unitChain(space: Space, layers: readonly SearchableLayer[] = searchableLayers(space)): UnitChain {
  const heads = headInputs(space, layers).map((input) => headUnit(space, input));
  return {
    stem: stemUnit(space),
    blocks: layers.map((l) => l.inputs.map((input) => l.candidates.map((b) => blockUnit(b, input, l.index)))),
    next: layers.map((l, i) => {
      const after = layers[i + 1];
      return l.candidates.map((b) => (after ? inputIndex(after, b.c) : heads.findIndex((h) => h.input.c === b.c)));
    }),
    heads,
  };
}

/**
 * Costs on a chain: `cost[l][a][i]` for layer l's candidate i at input a, the head's cost folded
 * into the last layer's entries (the head's input is the last block's output), `fixed` the stem's
 * (and any per-network constant). A path's cost is `fixed` plus one entry per layer.
 */
export interface CostChain {
  fixed: number;
  cost: number[][][];
  next: number[][];
}

/**
 * The chain's costs by `cost(unit)`; `constant` is added to `fixed` (a LUT's per-network overhead).
 * With one head (no widths in the last stage) the head is fixed: summed as (stem + head) + constant,
 * the order the fixed-width latency model always used, so its figures stay bit for bit.
 */
export function costChain(chain: UnitChain, cost: (u: Unit) => number, constant = 0): CostChain {
  const last = chain.blocks.length - 1;
  const oneHead = chain.heads.length === 1;
  return {
    fixed: (oneHead ? cost(chain.stem) + cost(chain.heads[0]!) : cost(chain.stem)) + constant,
    cost: chain.blocks.map((byInput, l) => byInput.map((units) => units.map((u, i) => (l === last && !oneHead ? cost(u) + cost(chain.heads[chain.next[l]![i]!]!) : cost(u))))),
    next: chain.next,
  };
}

/** A chain of independent layers (one input each): `table[l][i]` the cost of layer l's candidate i. */
export function independentChain(table: readonly (readonly number[])[], fixed: number): CostChain {
  return { fixed, cost: table.map((row) => [[...row]]), next: table.map((row) => row.map(() => 0)) };
}

/** The input index each layer of `path` gets (0 for the first layer). */
export function pathInputs(c: Pick<CostChain, 'next'>, path: Path): number[] {
  const inputs: number[] = [];
  let a = 0;
  path.forEach((i, l) => { inputs.push(a); a = c.next[l]![i]!; });
  return inputs;
}

export function pathCost(c: CostChain, path: Path): number {
  let sum = c.fixed, a = 0;
  path.forEach((i, l) => { sum += c.cost[l]![a]![i]!; a = c.next[l]![i]!; });
  return sum;
}

/**
 * The path of least (`min`) or most (`max`) cost, by dynamic programming over (layer, input):
 * exact where a greedy per-layer choice is not (a cheap block may hand the next layer a wide input).
 * NaN entries are excluded (e.g. skips, for the profiler's reference nets); undefined when every
 * path has one.
 */
export function chainExtreme(c: CostChain, goal: 'min' | 'max'): { path: number[]; cost: number } | undefined {
  const better = goal === 'min' ? (x: number, y: number) => x < y : (x: number, y: number) => x > y;
  const layers = c.cost.length;
  // best[l][a]: the best cost of layers l.. given input a, and the candidate that reaches it.
  const best: { cost: number; pick: number }[][] = new Array(layers);
  for (let l = layers - 1; l >= 0; l--) {
    best[l] = c.cost[l]!.map((row) => {
      let b = { cost: Number.NaN, pick: -1 };
      row.forEach((v, i) => {
        const rest = l + 1 < layers ? best[l + 1]![c.next[l]![i]!]!.cost : 0;
        const total = v + rest;
        if (!Number.isNaN(total) && (b.pick < 0 || better(total, b.cost))) b = { cost: total, pick: i };
      });
      return b;
    });
  }
  if (layers === 0) return { path: [], cost: c.fixed };
  if (best[0]![0]!.pick < 0) return undefined;
  const path: number[] = [];
  let a = 0;
  for (let l = 0; l < layers; l++) {
    const i = best[l]![a]!.pick;
    path.push(i);
    a = c.next[l]![i]!;
  }
  return { path, cost: c.fixed + best[0]![0]!.cost };
}
