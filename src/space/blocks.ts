/**
 * The block registry: every candidate block is defined here once, as a parser/formatter for its
 * string and a function that expands it into IR layers; the fixed stem and head are expanded here
 * too. Profiler, trainer, supernet and exporter all go through `blockLayers`, so a block cannot
 * mean different things in different stages. Each conv states its role (ir.ts `ConvRole`): what
 * the supernet shares by, instead of a naming convention.
 *
 * Block strings are timm-like: `ir_k5_e6_c40_s2_se0.25_hs`, `ir_k3_e1_g2_c24_s1`, `skip_c24_s2`.
 * A search space lists candidates in short form (`k5_e6`, `k3_e1_g2`, `skip`); the space supplies
 * the channels, stride, SE ratio and activation of each layer (see `completeBlock`).
 */
import { fail } from '../errors.js';
import type { Act, Layer, Shape } from './ir.js';

export type BlockAct = 're' | 'hs';

/** Inverted residual: 1x1 (group) expand, shuffle if grouped, kxk depthwise, optional SE, 1x1 project. */
export interface IrBlock { type: 'ir'; k: number; e: number; g: number; c: number; s: number; se: number; act: BlockAct }
/** Identity, or a 1x1 conv + BN where the shape changes. */
export interface SkipBlock { type: 'skip'; c: number; s: number }
export type Block = IrBlock | SkipBlock;

/** The fields a search space fills in for each layer. */
export interface LayerContext { c: number; s: number; se: number; act: BlockAct }

const ACTS: Record<BlockAct, Act> = { re: 'relu', hs: 'hswish' };

export const KERNELS = [1, 3, 5, 7] as const;

/** The physical range of each block field: what a mobile network can mean, and what the tools can build. */
export const BLOCK_LIMITS = { maxChannels: 8192, maxExpansion: 16 } as const;

function parseNumber(token: string, prefix: string, block: string, integer: boolean): number {
  const text = token.slice(prefix.length);
  // Plain decimal digits only: Number() would also take '1e3', '0x10' and ' 3'.
  const ok = integer ? /^\d+$/.test(text) : /^(?:\d+(?:\.\d+)?|\.\d+)$/.test(text);
  const v = Number(text);
  if (!ok || !Number.isFinite(v)) {
    fail(`block '${block}': bad value in token '${token}' (expected ${prefix}<${integer ? 'integer' : 'decimal number'}>, e.g. ${prefix}${integer ? '3' : '0.25'})`);
  }
  return v;
}

/**
 * Parses a block string. Fields the string omits stay undefined in the partial result, so the
 * same parser reads full strings and a space's short candidate forms.
 */
export function parseBlockPartial(block: string): Partial<IrBlock> & { type: Block['type'] } | Partial<SkipBlock> & { type: 'skip' } {
  const tokens = block.trim().split('_').filter((t) => t.length > 0);
  if (tokens.length === 0) fail(`empty block string`);
  let type: Block['type'] = 'ir';
  if (tokens[0] === 'ir' || tokens[0] === 'skip') {
    type = tokens.shift() as Block['type'];
  }
  const out: Record<string, unknown> = { type };
  const seen = new Map<string, string>();
  for (const t of tokens) {
    let key: string;
    if (t === 'ir' || t === 'skip') fail(`block '${block}': '${t}' may only open a block string`);
    if (t === 're' || t === 'hs') {
      key = 'act';
      out.act = t;
    } else if (t.startsWith('se')) {
      key = 'se';
      out.se = parseNumber(t, 'se', block, false);
    } else {
      key = t[0] ?? '';
      if (!['k', 'e', 'g', 'c', 's'].includes(key)) {
        fail(`unknown block '${block}': token '${t}' is not one of k<kernel> e<expansion> g<groups> c<channels> s<stride> se<ratio> re hs`);
      }
      out[key] = parseNumber(t, key, block, true);
    }
    if (type === 'skip' && !['c', 's'].includes(key)) {
      fail(`unknown block '${block}': a skip block takes only c<channels> and s<stride>`);
    }
    // 'k3_k5' would silently mean k5.
    const earlier = seen.get(key);
    if (earlier !== undefined) fail(`block '${block}': tokens '${earlier}' and '${t}' both set ${key === 'act' ? 'the activation' : key}; give each field once`);
    seen.set(key, t);
  }
  return out as ReturnType<typeof parseBlockPartial>;
}

function validate(b: Block, text: string): Block {
  if (b.s !== 1 && b.s !== 2) fail(`block '${text}': stride must be 1 or 2`);
  if (b.c < 1 || b.c > BLOCK_LIMITS.maxChannels) fail(`block '${text}': channels must be 1 to ${BLOCK_LIMITS.maxChannels}, not ${b.c}`);
  if (b.type === 'ir') {
    if (!(KERNELS as readonly number[]).includes(b.k)) fail(`block '${text}': kernel must be one of ${KERNELS.join(', ')}`);
    if (b.e < 1 || b.e > BLOCK_LIMITS.maxExpansion) fail(`block '${text}': expansion must be 1 to ${BLOCK_LIMITS.maxExpansion}, not ${b.e}`);
    if (b.g < 1) fail(`block '${text}': groups must be >= 1`);
    if (b.se < 0 || b.se > 1) fail(`block '${text}': se ratio must be in [0, 1]`);
    if (b.c % b.g !== 0) fail(`block '${text}': channels ${b.c} not divisible by groups ${b.g}`);
  }
  return b;
}

/**
 * Fails unless block `b` can run at input channels `cin`: a grouped expand and projection need
 * the input and the expanded channels to split evenly into the groups. '' when it can.
 */
export function groupsProblem(b: Block, cin: number): string {
  if (b.type !== 'ir' || b.g === 1) return '';
  if (cin % b.g !== 0) return `input channels ${cin} not divisible by groups ${b.g}`;
  if ((cin * b.e) % b.g !== 0) return `expanded channels ${cin * b.e} not divisible by groups ${b.g}`;
  return '';
}

/** Parses a complete block string (every field present or defaulted). */
export function parseBlock(text: string): Block {
  const p = parseBlockPartial(text);
  if (p.c === undefined || p.s === undefined) {
    fail(`block '${text}' lacks c<channels> or s<stride>: give the full form (e.g. ir_k3_e6_c24_s2) or a space's short form with --space`);
  }
  if (p.type === 'skip') return validate({ type: 'skip', c: p.c, s: p.s }, text);
  const ir = p as Partial<IrBlock>;
  if (ir.k === undefined || ir.e === undefined) fail(`block '${text}' lacks k<kernel> or e<expansion>`);
  return validate({ type: 'ir', k: ir.k, e: ir.e, g: ir.g ?? 1, c: p.c, s: p.s, se: ir.se ?? 0, act: ir.act ?? 're' }, text);
}

/** Fills a space's short candidate (`k5_e6`, `skip`) with the layer's channels, stride, SE and activation. */
export function completeBlock(candidate: string, ctx: LayerContext): Block {
  const p = parseBlockPartial(candidate);
  if (p.type === 'skip') return validate({ type: 'skip', c: p.c ?? ctx.c, s: p.s ?? ctx.s }, candidate);
  const ir = p as Partial<IrBlock>;
  if (ir.k === undefined || ir.e === undefined) fail(`candidate '${candidate}' lacks k<kernel> or e<expansion>`);
  return validate({
    type: 'ir', k: ir.k, e: ir.e, g: ir.g ?? 1, c: ir.c ?? ctx.c, s: ir.s ?? ctx.s,
    se: ir.se ?? ctx.se, act: ir.act ?? ctx.act,
  }, candidate);
}

/** Canonical string: `ir_k5_e6[_g2]_c40_s2[_se0.25]_re|hs`, `skip_c24_s2`. */
export function formatBlock(b: Block): string {
  if (b.type === 'skip') return `skip_c${b.c}_s${b.s}`;
  const parts = ['ir', `k${b.k}`, `e${b.e}`];
  if (b.g !== 1) parts.push(`g${b.g}`);
  parts.push(`c${b.c}`, `s${b.s}`);
  if (b.se > 0) parts.push(`se${b.se}`);
  parts.push(b.act);
  return parts.join('_');
}

/** Rounds to a multiple of `divisor`, never below 90% of v (the MobileNet rule). */
export function makeDivisible(v: number, divisor = 8): number {
  const r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return r < 0.9 * v ? r + divisor : r;
}

/** True where the block is a pure identity at this input (no ops to run). */
export function isIdentity(b: Block, input: Shape): boolean {
  return b.type === 'skip' && b.s === 1 && b.c === input.c;
}

/** Expands a block at an input shape into IR layers. `prefix` names its weights (e.g. `layers.3`). */
export function blockLayers(b: Block, input: Shape, prefix: string): Layer[] {
  if (b.type === 'skip') {
    if (isIdentity(b, input)) return [];
    return [{ op: 'conv', name: `${prefix}.conv`, role: 'skip', cout: b.c, k: 1, stride: b.s, groups: 1, bn: true, act: 'none' }];
  }
  const mid = input.c * b.e;
  const problem = groupsProblem(b, input.c);
  if (problem) fail(`block '${formatBlock(b)}': ${problem}`);
  const act = ACTS[b.act];
  const body: Layer[] = [
    { op: 'conv', name: `${prefix}.pw`, role: 'expand', cout: mid, k: 1, stride: 1, groups: b.g, bn: true, act },
  ];
  if (b.g > 1) body.push({ op: 'shuffle', groups: b.g });
  body.push({ op: 'conv', name: `${prefix}.dw`, role: 'depthwise', cout: mid, k: b.k, stride: b.s, groups: mid, bn: true, act });
  if (b.se > 0) body.push({ op: 'se', name: `${prefix}.se`, reduced: makeDivisible(mid * b.se) });
  body.push({ op: 'conv', name: `${prefix}.pwl`, role: 'project', cout: b.c, k: 1, stride: 1, groups: b.g, bn: true, act: 'none' });
  return b.s === 1 && b.c === input.c ? [{ op: 'residual', body }] : body;
}

/** A space's stem (its `stem` field): one conv + BN + activation on the input. */
export interface StemSpec { c: number; k: number; s: number; act: BlockAct }
/** A space's head (its `head` field): 1x1 conv + BN + act, global pool, optional 1x1 conv (bias) + act, classifier. */
export interface HeadSpec { c: number; act: BlockAct; preFc?: { c: number; act: BlockAct } }

/** The stem's IR layers, defined here once like a block's for every stage of the pipeline. */
export function stemLayers(stem: StemSpec): Layer[] {
  return [{ op: 'conv', name: 'stem', role: 'stem', cout: stem.c, k: stem.k, stride: stem.s, groups: 1, bn: true, act: ACTS[stem.act] }];
}

/** The head's IR layers, ending in a `classes`-way classifier. */
export function headLayers(head: HeadSpec, classes: number): Layer[] {
  const layers: Layer[] = [
    { op: 'conv', name: 'head.conv', role: 'head', cout: head.c, k: 1, stride: 1, groups: 1, bn: true, act: ACTS[head.act] },
    { op: 'gap' },
  ];
  if (head.preFc) {
    layers.push({ op: 'conv', name: 'head.prefc', role: 'pre-fc', cout: head.preFc.c, k: 1, stride: 1, groups: 1, bn: false, act: ACTS[head.preFc.act] });
  }
  layers.push({ op: 'fc', name: 'head.fc', cout: classes });
  return layers;
}
