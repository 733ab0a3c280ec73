/**
 * An architecture is one block string per searchable layer of a space. Users write it as a
 * comma/space-separated list (full `ir_k5_e6_c40_s2` or short `k5_e6` forms) or as a JSON file
 * `{ "space": "fbnet", "blocks": [...] }` (a bare JSON array is accepted too): any arch.json of a
 * run folder is one (src/runfolder/files.ts), and a search's carries the LUT it was searched with.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../errors.js';
import { ArchRecordSchema, type LutRecordRead } from '../runfolder/files.js';
import type { Rng } from '../util/rng.js';
import { parseWith, readJsonFile } from '../util/validate.js';
import { completeBlock, formatBlock, parseBlockPartial, type Block } from './blocks.js';
import { searchableLayers, type Space } from './spaces.js';

export interface ArchJson {
  space: string;
  blocks: string[];
}

/** A run folder's arch.json, a hand-written one (the space may be left out), or a bare array of block strings. */
const ArchSchema = z.union([ArchRecordSchema.partial({ space: true }), z.array(z.string()).min(1)]);

/**
 * Reads ARCH from the CLI: a path to an arch JSON file, or block strings separated by commas or
 * spaces. `lut`: the table the arch was searched with, when the file is a search's arch.json.
 */
export function readArchArgument(arg: string): { blocks: string[]; space?: string; lut?: LutRecordRead; source: string } {
  const looksLikeFile = arg.endsWith('.json') || existsSync(arg);
  if (!looksLikeFile) {
    const blocks = arg.split(/[\s,]+/).filter((s) => s.length > 0);
    if (blocks.length === 0) fail(`--arch is empty: give block strings (e.g. k3_e6,k5_e3,...) or an arch JSON file`);
    return { blocks, source: '--arch' };
  }
  const data = parseWith(ArchSchema, readJsonFile(arg, 'arch'), `arch file '${arg}'`, 'expected {"space": ..., "blocks": [block strings]}');
  if (Array.isArray(data)) return { blocks: data, source: `arch file '${arg}'` };
  return { blocks: data.blocks, space: data.space, ...(data.lut ? { lut: data.lut } : {}), source: `arch file '${arg}'` };
}

/**
 * Resolves block strings against a space: one per searchable layer, each one of the layer's
 * candidates. Short forms get the layer's channels and stride; full forms must agree with them.
 */
export function resolveArch(space: Space, blocks: readonly string[], source = 'arch'): Block[] {
  const layers = searchableLayers(space);
  if (blocks.length !== layers.length) {
    fail(`${source}: has ${blocks.length} blocks but space '${space.name}' has ${layers.length} searchable layers; give one block per layer`);
  }
  return layers.map((layer, i) => {
    const text = blocks[i]!;
    let partial;
    try {
      partial = parseBlockPartial(text);
    } catch (e) {
      fail(`${source}: layer ${i}: ${(e as Error).message}`);
    }
    const ref = layer.candidates[0]!;
    const expectS = ref.s;
    // A short form takes the stage's full width; a full form may name any of the stage's widths.
    const expectC = partial.c !== undefined && layer.widths.includes(partial.c) ? partial.c : layer.widths[layer.widths.length - 1]!;
    if (partial.s !== undefined && partial.s !== expectS) {
      fail(`${source}: layer ${i} '${text}' has stride ${partial.s} but space '${space.name}' layer ${i} has stride ${expectS}; use s${expectS} or the short form`);
    }
    if (partial.c !== undefined && partial.c !== expectC) {
      const allowed = layer.widths.map((c) => `c${c}`).join(', ');
      fail(`${source}: layer ${i} '${text}' has ${partial.c} channels but space '${space.name}' layer ${i} has ${layer.widths.length > 1 ? `widths ${allowed}` : expectC}; use ${layer.widths.length > 1 ? 'one of them' : `c${expectC}`} or the short form`);
    }
    const stageSpec = space.stages[layer.stage]!;
    let block: Block;
    try {
      block = completeBlock(text, { c: expectC, s: expectS, se: stageSpec.se, act: stageSpec.act });
    } catch (e) {
      fail(`${source}: layer ${i}: ${(e as Error).message}`);
    }
    const f = formatBlock(block);
    if (!layer.candidates.some((c) => formatBlock(c) === f)) {
      fail(`${source}: layer ${i}: unknown block '${text}' for space '${space.name}'; candidates: ${layer.candidates.map(formatBlock).join(', ')}`);
    }
    return block;
  });
}

export function archToJson(space: Space, blocks: readonly Block[]): ArchJson {
  return { space: space.name, blocks: blocks.map(formatBlock) };
}

/** Uniform random architecture (one candidate per layer). */
export function randomArch(space: Space, rng: Rng): Block[] {
  return searchableLayers(space).map((l) => rng.pick(l.candidates));
}
