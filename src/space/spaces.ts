/**
 * Search spaces are data: a macro-architecture (stem, stages, head) and the candidate blocks of
 * each searchable layer. Built-in spaces are below; `--space path.json` loads a user's space
 * through the same schema.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../errors.js';
import { parseWith, readJsonFile } from '../util/validate.js';
import { BLOCK_LIMITS, blockLayers, completeBlock, formatBlock, groupsProblem, headLayers, makeDivisible, parseBlockPartial, stemLayers, type Block, type BlockAct } from './blocks.js';
import { deriveSpace, parseDerivedName, type SpaceChange } from './derive.js';
import { convOutSize, countMacs, countParams, outputShape, type Shape } from './ir.js';

/** Bounds of a space: what a mobile/edge network can physically be (and what latnas can build and train). */
export const SPACE_LIMITS = {
  channels: BLOCK_LIMITS.maxChannels,
  /** Input height and width. */
  inputSize: 2048,
  layersPerStage: 64,
  classes: 100_000,
  /** Of the largest arch a space can make (per layer its largest candidate): about 400 MB of float32 weights. */
  params: 100e6,
  /** 20 G multiply-accumulates per image (ResNet-152 is 11.5 G; fbnet's largest arch 0.57 G). */
  macs: 20e9,
} as const;

const positiveInt = z.number().int().positive();
const channels = z.number().int().min(1).max(SPACE_LIMITS.channels);
const inputSize = z.number().int().min(1).max(SPACE_LIMITS.inputSize);
const act = z.enum(['re', 'hs']);
const stride = z.union([z.literal(1), z.literal(2)]);
const kernel = z.number().int().min(1).max(11).refine((k) => k % 2 === 1, 'must be odd (1, 3, 5, 7, 9 or 11)');

const StageSchema = z.object({
  c: channels,
  n: z.number().int().min(1).max(SPACE_LIMITS.layersPerStage),
  s: stride,
  candidates: z.array(z.string().min(1)).min(1),
  /** Overrides `candidates` for the stage's first layer (e.g. no skip where depth must be >= 1). */
  firstCandidates: z.array(z.string().min(1)).min(1).optional(),
  se: z.number().min(0).max(1).default(0),
  act: act.default('re'),
  /**
   * Output-width choices as multipliers of `c` (e.g. [0.5, 0.75, 1]): every candidate of the stage
   * at each width, rounded to a multiple of 8 as MobileNet does (`stageWidths`). Absent: `c` only.
   */
  widths: z.array(z.number().gt(0).max(1)).min(1).max(8).optional(),
}).strict();

export const SpaceSchema = z.object({
  name: z.string().max(64).regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  description: z.string().optional(),
  input: z.object({ c: channels, h: inputSize, w: inputSize }).strict(),
  classes: z.number().int().min(1).max(SPACE_LIMITS.classes),
  stem: z.object({ c: channels, k: kernel, s: stride, act }).strict(),
  stages: z.array(StageSchema).min(1),
  head: z.object({
    /** 1x1 conv + BN + act before pooling. */
    c: channels,
    act,
    /** Optional 1x1 conv (bias, no BN) + act after pooling, as in MobileNetV3. */
    preFc: z.object({ c: channels, act }).strict().optional(),
  }).strict(),
}).strict();

export type Space = z.infer<typeof SpaceSchema>;

const FBNET_CANDIDATES = ['k3_e1', 'k3_e1_g2', 'k3_e3', 'k3_e6', 'k5_e1', 'k5_e1_g2', 'k5_e3', 'k5_e6', 'skip'];
const MBV3_CANDIDATES = ['k3_e3', 'k3_e4', 'k3_e6', 'k5_e3', 'k5_e4', 'k5_e6', 'k7_e3', 'k7_e4', 'k7_e6'];

/** The width choices of the `-widths` spaces: MobileNet's ×0.5 … ×1.0 multipliers, per layer. */
export const WIDTH_CHOICES = [0.5, 0.75, 1];

function fbnetStages(c: number[], n: number[], s: (1 | 2)[]): Space['stages'] {
  return c.map((ci, i) => ({ c: ci, n: n[i]!, s: s[i]!, candidates: FBNET_CANDIDATES, se: 0, act: 're' as const }));
}

/** MobileNetV3/OFA stages: kernel and expansion searched, depth searched via skip (not in a stage's first layer). */
function mbv3Stages(c: number[], n: number[], s: (1 | 2)[], se: number[], acts: BlockAct[]): Space['stages'] {
  return c.map((ci, i) => ({
    c: ci, n: n[i]!, s: s[i]!, candidates: [...MBV3_CANDIDATES, 'skip'], firstCandidates: MBV3_CANDIDATES,
    se: se[i]!, act: acts[i]!,
  }));
}

/**
 * A stage's output-channel choices, ascending and distinct: `c` at each multiplier, rounded to a
 * multiple of 8 and never below 90% of it (makeDivisible, as MobileNet and OFA round), except that
 * ×1 is `c` itself. Small stages collapse: 24 at [0.5, 0.75, 1] gives 16, 24 (0.75·24 = 18 rounds to 24).
 */
export function stageWidths(stage: Pick<Space['stages'][number], 'c' | 'widths'>): number[] {
  const widths = (stage.widths ?? [1]).map((m) => (m === 1 ? stage.c : Math.min(stage.c, makeDivisible(stage.c * m))));
  return [...new Set(widths)].sort((a, b) => a - b);
}

export const BUILTIN_SPACES: Record<string, Space> = {
  fbnet: {
    name: 'fbnet',
    description: 'FBNet (Wu et al. 2019) macro-architecture at 224x224: 22 searchable layers, 9 candidates each',
    input: { c: 3, h: 224, w: 224 },
    classes: 1000,
    stem: { c: 16, k: 3, s: 2, act: 're' },
    stages: fbnetStages([16, 24, 32, 64, 112, 184, 352], [1, 4, 4, 4, 4, 4, 1], [1, 2, 2, 2, 1, 2, 1]),
    head: { c: 1984, act: 're' },
  },
  'fbnet-mini': {
    name: 'fbnet-mini',
    description: 'FBNet candidates on a 28x28x1 macro-architecture (MNIST, Fashion-MNIST): 12 searchable layers',
    input: { c: 1, h: 28, w: 28 },
    classes: 10,
    stem: { c: 16, k: 3, s: 1, act: 're' },
    stages: fbnetStages([16, 24, 32, 64, 112], [1, 2, 3, 4, 2], [2, 1, 2, 2, 1]),
    head: { c: 512, act: 're' },
  },
  mbv3: {
    name: 'mbv3',
    description: 'MobileNetV3-Large / OFA macro-architecture at 224x224: 20 searchable layers (k, e, depth)',
    input: { c: 3, h: 224, w: 224 },
    classes: 1000,
    stem: { c: 16, k: 3, s: 2, act: 'hs' },
    stages: mbv3Stages([24, 40, 80, 112, 160], [4, 4, 4, 4, 4], [2, 2, 2, 1, 2], [0, 0.25, 0, 0.25, 0.25], ['re', 're', 'hs', 'hs', 'hs']),
    head: { c: 960, act: 'hs', preFc: { c: 1280, act: 'hs' } },
  },
  'mbv3-mini': {
    name: 'mbv3-mini',
    description: 'MobileNetV3 candidates on a 32x32x3 macro-architecture (CIFAR-10): 12 searchable layers',
    input: { c: 3, h: 32, w: 32 },
    classes: 10,
    stem: { c: 16, k: 3, s: 1, act: 'hs' },
    stages: mbv3Stages([24, 40, 80, 112], [3, 3, 3, 3], [2, 2, 2, 1], [0, 0.25, 0, 0.25], ['re', 're', 'hs', 'hs']),
    head: { c: 480, act: 'hs', preFc: { c: 640, act: 'hs' } },
  },
};

/** `space` with every stage's candidates at each of WIDTH_CHOICES: the `-widths` variant of a built-in space. */
function withWidths(space: Space): Space {
  return {
    ...space, name: `${space.name}-widths`,
    description: `${space.name} with searchable widths: each layer's candidates at ×0.5, ×0.75 and ×1.0 its stage's channels`,
    stages: space.stages.map((s) => ({ ...s, widths: WIDTH_CHOICES })),
  };
}
BUILTIN_SPACES['fbnet-mini-widths'] = withWidths(BUILTIN_SPACES['fbnet-mini']!);
BUILTIN_SPACES['mbv3-mini-widths'] = withWidths(BUILTIN_SPACES['mbv3-mini']!);

/**
 * One searchable layer of a space: where it is, the input shapes it can get, and its candidates as
 * full blocks. A layer after a stage with widths gets one input per width the previous layer can
 * output (`inputs`, ascending channels); a fixed-width space's layers have one. Which input a path
 * gives a layer is its previous block's channels (`inputIndex`).
 */
export interface SearchableLayer {
  index: number;
  stage: number;
  inputs: Shape[];
  /** The output channels the candidates take, ascending (the stage's widths). */
  widths: number[];
  candidates: Block[];
}

/** The index in `layer.inputs` of an input with `c` channels; fails when the layer cannot get it. */
export function inputIndex(layer: SearchableLayer, c: number): number {
  const a = layer.inputs.findIndex((s) => s.c === c);
  if (a < 0) fail(`layer ${layer.index} gets ${layer.inputs.map((s) => s.c).join(' or ')} input channels, not ${c}`);
  return a;
}

/** Loads a built-in space by name or a user space from a JSON file. */
export function loadSpace(nameOrPath: string): Space {
  const builtin = BUILTIN_SPACES[nameOrPath];
  if (builtin) return checkSpace(builtin, `space '${nameOrPath}'`);
  // A built-in space derived at another input or class count, by the name deriveSpace gives it.
  const derived = parseDerivedName(nameOrPath);
  const base = derived && BUILTIN_SPACES[derived.base];
  if (derived && base) {
    const space = deriveSpace(base, derived.change);
    if (space.name === nameOrPath) return checkSpace(space, `space '${nameOrPath}'`);
  }
  if (!nameOrPath.endsWith('.json') && !existsSync(nameOrPath)) {
    fail(`unknown space '${nameOrPath}': use one of ${Object.keys(BUILTIN_SPACES).join(', ')} or a path to a space JSON file`);
  }
  const data = readJsonFile(nameOrPath, 'space');
  const space = parseWith(SpaceSchema, data, `space file '${nameOrPath}'`, 'see src/space/spaces.ts for the format');
  return checkSpace(space, `space file '${nameOrPath}'`);
}

/**
 * `space` at another input or class count (derive.ts). A space already derived from a built-in
 * one is derived again from that one, so a name carries at most one suffix of each kind.
 */
export function spaceAt(space: Space, change: SpaceChange): Space {
  const parsed = parseDerivedName(space.name);
  const base = parsed && BUILTIN_SPACES[parsed.base];
  if (parsed && base && deriveSpace(base, parsed.change).name === space.name) {
    return checkSpace(deriveSpace(base, { input: change.input ?? parsed.change.input, classes: change.classes ?? parsed.change.classes }), `space '${space.name}'`);
  }
  const derived = deriveSpace(space, change);
  return derived === space ? space : checkSpace(derived, `space '${derived.name}'`);
}

/** Whether a space is a built-in one as shipped (not derived, not a file): then a folder's images may choose its input. */
export const isBuiltinSpace = (space: Space): boolean => BUILTIN_SPACES[space.name] !== undefined;

/** Checks what the schema cannot: every candidate parses and fits its layer, and the space's size is bounded. */
export function checkSpace(space: Space, source: string): Space {
  const layers = searchableLayers(space, source);
  checkSize(space, layers, source);
  return space;
}

/** Fails when the largest arch of the space (each layer's largest candidate) is beyond SPACE_LIMITS. */
function checkSize(space: Space, layers: readonly SearchableLayer[], source: string): void {
  const stem = stemLayers(space.stem);
  let params = countParams(stem, space.input);
  let macs = countMacs(stem, space.input);
  for (const l of layers) {
    // The widest input: every candidate costs most there.
    const input = l.inputs[l.inputs.length - 1]!;
    const candidates = l.candidates.map((b) => blockLayers(b, input, `layers.${l.index}`));
    params += Math.max(...candidates.map((c) => countParams(c, input)));
    macs += Math.max(...candidates.map((c) => countMacs(c, input)));
  }
  const head = headLayers(space.head, space.classes);
  const inputs = headInputs(space, layers);
  const input = inputs[inputs.length - 1]!;
  params += countParams(head, input);
  macs += countMacs(head, input);
  const fix = 'lower the channels, expansions, layer counts or input size';
  if (params > SPACE_LIMITS.params) {
    fail(`${source}: its largest arch has ${(params / 1e6).toFixed(0)} M parameters (${(params * 4 / 2 ** 20).toFixed(0)} MiB of float32 weights), ` +
      `over the limit of ${SPACE_LIMITS.params / 1e6} M; ${fix}`);
  }
  if (macs > SPACE_LIMITS.macs) {
    fail(`${source}: its largest arch takes ${(macs / 1e9).toFixed(1)} G multiply-accumulates per image, over the limit of ${SPACE_LIMITS.macs / 1e9} G; ${fix}`);
  }
}

export function stemOutput(space: Space): Shape {
  return { c: space.stem.c, h: convOutSize(space.input.h, space.stem.s), w: convOutSize(space.input.w, space.stem.s) };
}

/** The head's input shapes: one per output width of the last searchable layer (the stage sets them), ascending. */
export function headInputs(space: Space, layers: readonly SearchableLayer[] = searchableLayers(space)): Shape[] {
  const last = layers[layers.length - 1];
  if (!last) return [stemOutput(space)];
  const out = outputShape(blockLayers(last.candidates[0]!, last.inputs[0]!, `layers.${last.index}`), last.inputs[0]!);
  return last.widths.map((c) => ({ ...out, c }));
}

export function searchableLayers(space: Space, source = `space '${space.name}'`): SearchableLayer[] {
  const layers: SearchableLayer[] = [];
  let inputs = [stemOutput(space)];
  space.stages.forEach((stage, si) => {
    const widths = stageWidths(stage);
    for (let j = 0; j < stage.n; j++) {
      const s = j === 0 ? stage.s : 1;
      const names = j === 0 && stage.firstCandidates ? stage.firstCandidates : stage.candidates;
      const field = j === 0 && stage.firstCandidates ? 'firstCandidates' : 'candidates';
      // Each name at each width, name-major: a fixed-width stage's candidate i is its name i.
      const candidates = names.flatMap((name, ci) => widths.map((width) => {
        const where = `${source}: field 'stages.${si}.${field}.${ci}'`;
        let partial;
        try {
          partial = parseBlockPartial(name);
        } catch (e) {
          fail(`${where}: ${(e as Error).message}`);
        }
        // The stage owns the layer's shape: a candidate that set its own would break the next layer's input.
        if (partial.s !== undefined && partial.s !== s) {
          fail(`${where}: candidate '${name}' sets stride ${partial.s} but stage ${si} layer ${j} has stride ${s}; drop s${partial.s} (the stage's s sets the stride)`);
        }
        if (partial.c !== undefined && (partial.c !== stage.c || widths.length > 1)) {
          fail(`${where}: candidate '${name}' sets ${partial.c} channels but stage ${si} has ${widths.length > 1 ? `widths ${widths.join(', ')}` : stage.c}; drop c${partial.c} (the stage's c${widths.length > 1 ? ' and widths set' : ' sets'} the channels)`);
        }
        let block: Block;
        try {
          block = completeBlock(name, { c: width, s, se: stage.se, act: stage.act });
        } catch (e) {
          fail(`${where}: ${(e as Error).message}`);
        }
        for (const input of inputs) {
          const problem = groupsProblem(block, input.c);
          if (problem) fail(`${where}: candidate '${name}' at stage ${si} layer ${j}${width === stage.c ? '' : ` width ${width}`}: ${problem}; use groups that divide ${input.c}`);
        }
        if (block.type === 'ir' && block.g > 1 && width % block.g !== 0) {
          fail(`${where}: candidate '${name}' at stage ${si} width ${width}: ${width} output channels not divisible by groups ${block.g}; use widths whose channels divide by ${block.g}`);
        }
        return block;
      }));
      const seen = new Set<string>();
      for (const b of candidates) {
        const f = formatBlock(b);
        if (seen.has(f)) fail(`${source}: stage ${si} lists candidate '${f}' twice`);
        seen.add(f);
      }
      layers.push({ index: layers.length, stage: si, inputs, widths, candidates });
      const h = convOutSize(inputs[0]!.h, s), w = convOutSize(inputs[0]!.w, s);
      inputs = widths.map((c) => ({ c, h, w }));
    }
  });
  return layers;
}
