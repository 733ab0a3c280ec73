/**
 * A space at another input size or class count, derived from a built-in (or any) space: the same
 * stages and candidates, the stem's and stages' strides adjusted to the new input. A derived space
 * has its own name (`fbnet-mini-3x64x64`, `…-5cls`), so its table is profiled and cached apart and
 * its fingerprint differs; `loadSpace` resolves such a name back to the same space.
 */
import { fail } from '../errors.js';
import { convOutSize, type Shape } from './ir.js';

/**
 * What deriving reads and rewrites of a space (spaces.ts's Space has these fields); declared here
 * so this module needs nothing from spaces.ts, which uses it.
 */
export interface DerivableSpace {
  name: string;
  description?: string;
  input: Shape;
  classes: number;
  stem: { s: 1 | 2 };
  stages: readonly { s: 1 | 2 }[];
}

export interface SpaceChange {
  input?: Shape;
  classes?: number;
}

/** `CxHxW` (e.g. `3x64x64`) as a shape; `flag` names the option in the error. */
export function parseInputShape(text: string, flag = '--input'): Shape {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(text.trim());
  const [c, h, w] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
  if (!m || !(c === 1 || c === 3)) fail(`${flag} '${text}': write CxHxW with 1 (grey) or 3 (RGB) channels, e.g. 3x64x64 or 1x28x28`);
  if (h < 8 || w < 8 || h > 1024 || w > 1024) fail(`${flag} '${text}': height and width must be 8 to 1024 pixels`);
  return { c, h, w };
}

export const formatShape = (s: Shape): string => `${s.c}x${s.h}x${s.w}`;

/** The side of the last feature map for an input side and a stride plan ('same' padding: ceil per stride). */
function lastSide(side: number, strides: readonly number[]): number {
  return strides.reduce((n, s) => convOutSize(n, s), side);
}

/** The smallest last feature map a derived space keeps: 3x3, below which a 3x3 kernel sees mostly padding. */
export const MIN_LAST_SIDE = 3;

/**
 * The stride plan for a new input side: the original's, plus a stride-2 stem when the input is so
 * much larger that the last map would be over twice the original's (the compute then stays near
 * the original's per pixel of the last map), minus stride-2 stages from the last one back while
 * the last map would be below MIN_LAST_SIDE.
 */
function stridePlan(space: DerivableSpace, side: number): { stem: 1 | 2; stages: (1 | 2)[] } {
  const original = lastSide(Math.min(space.input.h, space.input.w), [space.stem.s, ...space.stages.map((s) => s.s)]);
  let stem = space.stem.s;
  const stages = space.stages.map((s) => s.s);
  if (stem === 1 && lastSide(side, [1, ...stages]) > 2 * original) stem = 2;
  for (let i = stages.length - 1; lastSide(side, [stem, ...stages]) < MIN_LAST_SIDE && i >= -1; i--) {
    if (i === -1) stem = 1;
    else stages[i] = 1;
  }
  return { stem, stages };
}

/** The derived space's name: the base name, then `-CxHxW` when the input changed, then `-Ncls` when the classes did. */
export function derivedName(base: string, input: Shape | undefined, classes: number | undefined): string {
  return `${base}${input ? `-${formatShape(input)}` : ''}${classes !== undefined ? `-${classes}cls` : ''}`;
}

/** `name` split into a base and the change its suffixes name, or undefined when it has none. */
export function parseDerivedName(name: string): { base: string; change: SpaceChange } | undefined {
  const m = /^(.+?)(?:-(\d+)x(\d+)x(\d+))?(?:-(\d+)cls)?$/.exec(name);
  if (!m || (m[2] === undefined && m[5] === undefined)) return undefined;
  const input = m[2] === undefined ? undefined : { c: Number(m[2]), h: Number(m[3]), w: Number(m[4]) };
  return { base: m[1]!, change: { input, classes: m[5] === undefined ? undefined : Number(m[5]) } };
}

/** `space` at another input and/or class count; the space itself when neither differs. */
export function deriveSpace<S extends DerivableSpace>(space: S, change: SpaceChange): S {
  const input = change.input && (change.input.c !== space.input.c || change.input.h !== space.input.h || change.input.w !== space.input.w) ? change.input : undefined;
  const classes = change.classes !== undefined && change.classes !== space.classes ? change.classes : undefined;
  if (!input && classes === undefined) return space;
  if (classes !== undefined && (!Number.isInteger(classes) || classes < 2)) fail(`a space needs at least 2 classes, not ${classes}`);
  const name = derivedName(space.name, input, classes);
  if (name.length > 64) fail(`space '${space.name}' derived at ${input ? formatShape(input) : ''} would be named '${name}', over 64 characters; give the space a shorter name`);
  let stem = space.stem;
  let stages = space.stages;
  let plan = '';
  if (input) {
    const p = stridePlan(space, Math.min(input.h, input.w));
    if (lastSide(Math.min(input.h, input.w), [p.stem, ...p.stages]) < MIN_LAST_SIDE) {
      fail(`--input ${formatShape(input)}: too small for space '${space.name}' even with every stride 1; use at least ${MIN_LAST_SIDE}x${MIN_LAST_SIDE} pixels`);
    }
    stem = { ...space.stem, s: p.stem };
    stages = space.stages.map((s, i) => ({ ...s, s: p.stages[i]! }));
    plan = ` at ${formatShape(input)} (stem stride ${p.stem}, stage strides ${p.stages.join(',')})`;
  }
  return {
    ...space, name, stem, stages,
    input: input ?? space.input,
    classes: classes ?? space.classes,
    description: `derived from '${space.name}'${plan}${classes !== undefined ? ` with ${classes} classes` : ''}`,
  };
}
