/**
 * A network is a sequence of units: stem, one block per searchable layer, head. A unit is the
 * thing a LUT entry times; its key is the op plus its input shape (as in mobile-vision's FBNet).
 */
import { blockLayers, formatBlock, headLayers, isIdentity, stemLayers, type Block } from './blocks.js';
import { outputShape, shapeKey, type Layer, type Shape } from './ir.js';
import { headInputs, searchableLayers, stemOutput, type Space } from './spaces.js';

export interface Unit {
  /** LUT key: `<op>|<c>x<h>x<w>` of the unit's input. */
  key: string;
  kind: 'stem' | 'block' | 'head';
  /** The op string: a block string, or the stem/head descriptor. */
  op: string;
  input: Shape;
  output: Shape;
  layers: Layer[];
  /** True where the unit runs no op at all (identity skip): its latency is 0 by definition. */
  identity: boolean;
}

export function unitKey(op: string, input: Shape): string {
  return `${op}|${shapeKey(input)}`;
}

function makeUnit(kind: Unit['kind'], op: string, input: Shape, layers: Layer[], identity = false): Unit {
  return { key: unitKey(op, input), kind, op, input, output: outputShape(layers, input), layers, identity };
}

export function stemUnit(space: Space): Unit {
  const { c, k, s, act } = space.stem;
  return makeUnit('stem', `stem_k${k}_c${c}_s${s}_${act}`, space.input, stemLayers(space.stem));
}

export function headUnit(space: Space, input: Shape): Unit {
  const h = space.head;
  const op = `head_c${h.c}_${h.act}${h.preFc ? `_pre${h.preFc.c}_${h.preFc.act}` : ''}_fc${space.classes}`;
  return makeUnit('head', op, input, headLayers(h, space.classes));
}

export function blockUnit(block: Block, input: Shape, index: number): Unit {
  return makeUnit('block', formatBlock(block), input, blockLayers(block, input, `layers.${index}`), isIdentity(block, input));
}

/** The units of a whole network: stem, the arch's blocks, head. `blocks` must fit the space (see arch.ts). */
export function networkUnits(space: Space, blocks: readonly Block[]): Unit[] {
  const units: Unit[] = [stemUnit(space)];
  let shape = stemOutput(space);
  blocks.forEach((b, i) => {
    const u = blockUnit(b, shape, i);
    units.push(u);
    shape = u.output;
  });
  units.push(headUnit(space, shape));
  return units;
}

/** Every distinct unit a space can contain (with widths: each candidate at each input it can get): what `latnas profile` measures. */
export function spaceUnits(space: Space): Unit[] {
  const byKey = new Map<string, Unit>();
  const add = (u: Unit) => { if (!byKey.has(u.key)) byKey.set(u.key, u); };
  add(stemUnit(space));
  const layers = searchableLayers(space);
  for (const layer of layers) {
    for (const input of layer.inputs) for (const b of layer.candidates) add(blockUnit(b, input, layer.index));
  }
  for (const input of headInputs(space, layers)) add(headUnit(space, input));
  return [...byKey.values()];
}
