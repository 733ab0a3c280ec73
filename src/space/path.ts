/**
 * A path is an architecture as the profiler and the search hold it: one candidate index per
 * searchable layer of a space. It converts to and from the blocks here only (arch.ts reads and
 * writes blocks as strings).
 */
import { fail } from '../errors.js';
import { formatBlock, type Block } from './blocks.js';
import { searchableLayers, type SearchableLayer, type Space } from './spaces.js';

/** One candidate index per searchable layer. */
export type Path = readonly number[];

/** Fails unless `path` holds one candidate index per searchable layer, each in range. `layers`: the space's, if at hand. */
export function checkPath(space: Space, path: Path, layers: readonly SearchableLayer[] = searchableLayers(space)): void {
  if (path.length !== layers.length) fail(`path has ${path.length} entries; space '${space.name}' has ${layers.length} searchable layers`);
  path.forEach((i, l) => {
    const n = layers[l]!.candidates.length;
    if (!Number.isInteger(i) || i < 0 || i >= n) fail(`path entry ${l} is ${i}; layer ${l} has candidates 0..${n - 1}`);
  });
}

/** The blocks of a path: each layer's chosen candidate. */
export function pathBlocks(space: Space, path: Path, layers: readonly SearchableLayer[] = searchableLayers(space)): Block[] {
  checkPath(space, path, layers);
  return path.map((i, l) => layers[l]!.candidates[i]!);
}

/** The path of an architecture of the space (blocks as resolveArch returns them). */
export function pathOf(space: Space, blocks: readonly Block[], layers: readonly SearchableLayer[] = searchableLayers(space)): number[] {
  if (blocks.length !== layers.length) fail(`arch has ${blocks.length} blocks; space '${space.name}' has ${layers.length} searchable layers`);
  return blocks.map((b, l) => {
    const f = formatBlock(b);
    const i = layers[l]!.candidates.findIndex((c) => formatBlock(c) === f);
    if (i < 0) fail(`layer ${l}: '${f}' is not a candidate of space '${space.name}'`);
    return i;
  });
}
