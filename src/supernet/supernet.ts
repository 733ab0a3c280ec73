/**
 * The supernet: one TF.js model that holds every candidate block of every searchable layer of a
 * space, plus the shared stem and head. Every architecture of the space is a path through it and
 * inherits its weights.
 *
 * Weights are shared within a layer as in Once-for-All: the inverted-residual candidates with the
 * same groups slice one set of convolutions (a k3 depthwise kernel is the centre of the k5 one; e3
 * uses the first 3·cin channels of e6's expansion). BatchNorm stays private to each candidate
 * (switchable BN, Yu et al. 2019), so each keeps its own statistics. Measured on Fashion-MNIST
 * with uniform single-path sampling over fbnet-mini's 9 candidates, independent weights per
 * candidate stayed at chance for 100+ steps: each layer then feeds the next 9 unrelated feature
 * sets; sliced weights give every candidate the same features to build on.
 *
 * Three ways to run a layer, chosen per call:
 * - single path: one candidate per layer; a step costs about one subnet (SPOS, OFA, evolution);
 * - gated path: the same, with the chosen candidate's output scaled by a gate whose value is 1 but
 *   whose gradient reaches the architecture parameters (straight-through Gumbel, as GDAS and
 *   ProxylessNAS do): DNAS at the cost of one subnet;
 * - mixed: the weighted sum of every candidate (FBNet's Gumbel-softmax), about as costly as all
 *   candidates together, so for small spaces;
 * - sandwich (BigNAS, OFA; steps only): a few paths on the same batch, the first (the largest)
 *   trained on the labels and the others on its predictions (in-place distillation), their losses
 *   summed into one update.
 *
 * Widths (a space whose stages list `widths`) are elastic by channel slicing, as in OFA: a layer
 * holds a model per (input width, candidate), and all of them slice the layer's one shared family,
 * sized for the widest input and output, by their leading channels (the first k filters); each
 * keeps its own BatchNorm (BN per width). The head's input width varies with the last layer's; a
 * narrower input is zero-padded to the widest, which is exactly the head conv with its weights
 * sliced to the first input channels. The mixed mode cannot sum candidates of different widths.
 *
 * The search drives it through `forward`, `step`, `recalibrate` and `evaluatePath`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchStream } from '../datasets/batches.js';
import { fail } from '../errors.js';
import type { Block } from '../space/blocks.js';
import { convsOf, type ConvRole, type Layer } from '../space/ir.js';
import { blockUnit, headUnit, stemUnit } from '../space/network.js';
import { checkPath, pathBlocks, pathOf, type Path } from '../space/path.js';
import { headInputs, inputIndex, searchableLayers, type SearchableLayer, type Space } from '../space/spaces.js';
import { BN_MOMENTUM, TfModel, type SharedConv } from '../train/model.js';
import type { WeightSource } from '../weights/source.js';
import { pathInputs } from '../space/chain.js';
import { argmaxFinite } from '../util/finite.js';
import { Rng } from '../util/rng.js';
import { heStd, initWeights } from '../weights/init.js';

export type Choice =
  /** Single path; `gates[l]` (value 1) multiplies layer l's output when given. */
  | { path: Path; gates?: readonly tf.Scalar[] }
  /** Weighted sum of every candidate: `weights[l]` has one entry per candidate of layer l. */
  | { mixed: readonly tf.Tensor1D[] }
  /** Steps only: `paths[0]` learns from the labels, every other path from paths[0]'s softmax (./sandwich in `step`). */
  | { sandwich: readonly Path[] };

/** The identity whose gradient is zero: a distillation target the teacher is not pulled towards. */
const stopGradient = tf.customGrad((...args) => {
  const [x] = args as [tf.Tensor, tf.GradSaveFunc];
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

/** What a step needs of an optimizer: tfjs's (same variables every step) or SgdMomentum (any path). */
export interface GradientApplier { applyGradients(grads: tf.NamedTensorMap): void }

export interface StepOptions {
  /** Use SgdMomentum for weights trained along changing paths (see src/train/optim.ts). */
  optimizer: GradientApplier;
  /** The variables this step trains (e.g. a path's weights, or the architecture parameters). */
  vars: readonly tf.Variable[];
  weightDecay?: number;
  labelSmoothing?: number;
  /** Turns the cross-entropy into the loss (e.g. FBNet's CE · α · log(LAT)^β); default CE. */
  objective?: (ce: tf.Scalar) => tf.Scalar;
  /**
   * Data-parallel steps (src/search/parallel/): turns this shard's gradients and results into the
   * whole batch's (an all-reduce over the workers). The update is applied only when the batch's
   * loss is finite: the search fails on a non-finite loss anyway, and every worker skips alike.
   */
  reduce?: (grads: tf.NamedTensorMap, shard: StepResult) => { grads: tf.NamedTensorMap; result: StepResult };
}

export interface StepResult { loss: number; ce: number; hits: number }

/** Renames a unit's weights so they cannot clash with another model's in tfjs's variable registry. */
function prefixed(layers: readonly Layer[], prefix: string): Layer[] {
  return layers.map((l): Layer => {
    switch (l.op) {
      case 'conv': case 'se': case 'fc': return { ...l, name: `${prefix}${l.name}` };
      case 'residual': return { ...l, body: prefixed(l.body, prefix) };
      default: return l;
    }
  });
}

/**
 * Distinguishes live supernets in one process: tfjs variable names are global. A supernet takes
 * the lowest number no live one holds, so searches run one after another in one process (a study,
 * a script searching many targets) all name their variables `supernet0/…`, as a CLI process
 * does: search-state.bin stores those names, and a numbering that kept counting would make a
 * state saved by a process's second search unreadable by a resumed run or by --supernet.
 */
const liveIds = new Set<number>();

function takeId(): number {
  let id = 0;
  while (liveIds.has(id)) id++;
  liveIds.add(id);
  return id;
}

/**
 * The convs of an inverted residual that its layer's candidates share, and the suffix of their
 * variable names (checkpoints name the variables, so the suffixes stay).
 */
const SHARED_ROLES = { expand: 'pw', depthwise: 'dw', 'se-reduce': 'se.reduce', 'se-expand': 'se.expand', project: 'pwl' } as const satisfies Partial<Record<ConvRole, string>>;
type Role = keyof typeof SHARED_ROLES;

function isShared(role: ConvRole): role is Role {
  return role in SHARED_ROLES;
}

type Hwio = [number, number, number, number];

/**
 * The largest version of each conv of a layer's inverted-residual candidates with one group
 * count; a candidate takes the leading corner of each (the centre, for depthwise kernels).
 */
class SharedFamily {
  private readonly weights = new Map<Role, tf.Variable<tf.Rank.R4>>();
  private readonly biases = new Map<Role, tf.Variable<tf.Rank.R1>>();

  /** `convs`: per role the largest shape and whether the conv has a bias (no BatchNorm), in the order the convs run. */
  constructor(name: string, convs: Map<Role, { shape: Hwio; bias: boolean }>, seed: number) {
    const rng = new Rng(seed);
    for (const [role, { shape, bias }] of convs) {
      const fanIn = shape[0] * shape[1] * shape[2];
      const data = initWeights(rng, fanIn * shape[3], heStd(fanIn), 'normal');
      this.weights.set(role, tf.variable(tf.tensor4d(data, shape), true, `${name}.${SHARED_ROLES[role]}.weight`));
      if (bias) this.biases.set(role, tf.variable(tf.zeros([shape[3]]), true, `${name}.${SHARED_ROLES[role]}.bias`) as tf.Variable<tf.Rank.R1>);
    }
  }

  /**
   * A candidate's conv as a view of the shared one. With g groups the 1x1 convs are the dense
   * ones with their off-diagonal blocks dropped, so a grouped candidate computes what the dense
   * one would with those blocks zeroed: the expansion's output channels are taken in the order
   * the channel shuffle after it undoes (pre-shuffle channel i of group j is dense channel
   * i·g + j), so the depthwise conv and the projection see dense-ordered channels.
   */
  conv(role: Role, shape: Hwio, g: number): SharedConv {
    const full = this.weights.get(role)!;
    const bias = this.biases.get(role);
    const [kh, kw, cinG, cout] = shape;
    let weight: () => tf.Tensor4D;
    if (role === 'depthwise') {
      const off = (full.shape[0] - kh) / 2;
      weight = () => (kh === full.shape[0] && cout === full.shape[3] ? full : tf.slice(full, [off, off, 0, 0], shape));
    } else if (g === 1 || role === 'se-reduce' || role === 'se-expand') {
      weight = () => (shape.every((d, i) => d === full.shape[i]) ? full : tf.slice(full, [0, 0, 0, 0], shape));
    } else if (role === 'expand') {
      const perGroup = cout / g;
      const columns = Array.from({ length: g }, (_, j) => Int32Array.from({ length: perGroup }, (_, i) => i * g + j));
      weight = () => tf.concat(columns.map((cols, j) => tf.gather(tf.slice(full, [0, 0, j * cinG, 0], [kh, kw, cinG, full.shape[3]]), tf.tensor1d(cols, 'int32'), 3)), 3) as tf.Tensor4D;
    } else {
      const outPerGroup = cout / g;
      weight = () => tf.concat(Array.from({ length: g }, (_, j) => tf.slice(full, [0, 0, j * cinG, j * outPerGroup], [kh, kw, cinG, outPerGroup])), 3) as tf.Tensor4D;
    }
    return {
      weight,
      bias: bias ? () => (bias.shape[0] === cout ? bias : tf.slice(bias, [0], [cout])) : undefined,
    };
  }

  variables(): tf.Variable[] {
    return [...this.weights.values(), ...this.biases.values()];
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

export class Supernet {
  readonly layers: SearchableLayer[];
  private readonly stem: TfModel;
  private readonly head: TfModel;
  /** candidates[l][a][i]: the model of candidate i of layer l at its input a (no layers for an identity skip). */
  private readonly candidates: TfModel[][][];
  /** next[l][i]: the input index candidate i of layer l gives layer l + 1 (the last layer: its output channels). */
  private readonly next: number[][];
  /** The head's widest input channels, to which a narrower last layer's output is zero-padded. */
  private readonly headChannels: number;
  /** The prefix of every variable and layer name of this supernet (`supernet<id>/`). */
  private readonly prefix: string;
  /** families[l][i]: the shared weights candidate i of layer l slices, if any. */
  private readonly families: (SharedFamily | undefined)[][];
  private readonly id: number;
  private disposed = false;

  constructor(readonly space: Space, seed = 1) {
    this.id = takeId();
    const prefix = `supernet${this.id}/`;
    this.prefix = prefix;
    this.layers = searchableLayers(space);
    const stem = stemUnit(space);
    this.stem = new TfModel(prefixed(stem.layers, prefix), space.input, seed);
    this.families = [];
    this.candidates = this.layers.map((layer) => {
      // A fixed-width layer's candidate models keep the names (and seeds) they always had: checkpoints name variables.
      const many = layer.inputs.length > 1;
      const units = layer.inputs.map((input, a) => layer.candidates.map((b, i) => prefixed(blockUnit(b, input, layer.index).layers, `${prefix}${many ? `a${a}` : ''}c${i}/`)));
      // One family for the layer's inverted-residual candidates, sized for the largest (dense) one at the widest input.
      const groupOf = (i: number) => { const b = layer.candidates[i]!; return b.type === 'ir' ? b.g : undefined; };
      const convs = new Map<Role, { shape: Hwio; bias: boolean }>();
      units.forEach((byCandidate, a) => byCandidate.forEach((layers, i) => {
        const g = groupOf(i);
        if (g === undefined) return;
        for (const c of convsOf(layers, layer.inputs[a]!)) {
          if (!isShared(c.role)) continue;
          // Dense equivalent: a grouped 1x1 conv's input axis holds all the groups' channels.
          const dense = c.role === 'expand' || c.role === 'project' ? c.cin : c.cin / c.groups;
          const shape: Hwio = [c.k, c.k, dense, c.cout];
          const cur = convs.get(c.role);
          convs.set(c.role, { shape: cur ? cur.shape.map((d, j) => Math.max(d, shape[j]!)) as Hwio : shape, bias: !c.bn });
        }
      }));
      const family = convs.size > 0 ? new SharedFamily(`${prefix}l${layer.index}`, convs, seed * 7919 + layer.index * 131) : undefined;
      this.families.push(layer.candidates.map((_, i) => (groupOf(i) === undefined ? undefined : family)));
      return units.map((byCandidate, a) => byCandidate.map((layers, i) => {
        const family = this.families[layer.index]![i];
        const g = groupOf(i) ?? 1;
        const shared = family ? (c: { role: ConvRole }, shape: Hwio) => (isShared(c.role) ? family.conv(c.role, shape, g) : undefined) : undefined;
        return new TfModel(layers, layer.inputs[a]!, seed * 7919 + layer.index * 131 + i + 1 + a * 1009, shared);
      }));
    });
    const inputs = headInputs(space, this.layers);
    this.next = this.layers.map((layer, l) => {
      const after = this.layers[l + 1];
      return layer.candidates.map((b) => (after ? inputIndex(after, b.c) : 0));
    });
    const input = inputs[inputs.length - 1]!;
    this.headChannels = input.c;
    this.head = new TfModel(prefixed(headUnit(space, input).layers, prefix), input, seed + 104729);
  }

  /** Number of architectures: the product of the candidate counts. */
  get size(): number {
    return this.layers.reduce((n, l) => n * l.candidates.length, 1);
  }

  blocksOf(path: Path): Block[] {
    return pathBlocks(this.space, path, this.layers);
  }

  /** The path of an architecture of this space (blocks as resolveArch returns them). */
  pathOf(blocks: readonly Block[]): number[] {
    return pathOf(this.space, blocks, this.layers);
  }

  randomPath(rng: Rng): number[] {
    return this.layers.map((l) => rng.int(l.candidates.length));
  }

  private checkPath(path: Path): void {
    checkPath(this.space, path, this.layers);
  }

  /** Layer l's model of candidate i at input a. */
  private model(l: number, a: number, i: number): TfModel {
    return this.candidates[l]![a]![i]!;
  }

  /** The models of a path's layers, each at the input its previous layer gives it. */
  private layerModels(path: Path): TfModel[] {
    let a = 0;
    return path.map((i, l) => { const m = this.model(l, a, i); a = this.next[l]![i]!; return m; });
  }

  /** The models a path runs through: stem, one candidate per layer, head. */
  private pathModels(path: Path): TfModel[] {
    this.checkPath(path);
    return [this.stem, ...this.layerModels(path), this.head];
  }

  private allModels(): TfModel[] {
    return [this.stem, ...this.candidates.flat(2), this.head];
  }

  /**
   * The weights of a path as the standalone arch names them (`stem`, `layers.<l>.pw`, `head.conv`,
   * …; BatchNorm folded, the IR's layouts: weights/source.ts): each layer's candidate at its input,
   * its shared convs sliced to their leading channels, and the head conv sliced to the first input
   * channels the path's last layer gives it. What a model built from `networkUnits` of the path
   * computes with these is what `forward` computes for the path in inference mode.
   */
  pathWeights(path: Path): WeightSource {
    this.checkPath(path);
    const sources = this.pathModels(path).map((m) => m.asWeightSource());
    const lastC = this.blocksOf(path).at(-1)?.c ?? this.headChannels;
    const inputs = pathInputs({ next: this.next }, path);
    const owner = (name: string): { source: WeightSource; name: string } => {
      if (name === 'stem') return { source: sources[0]!, name: `${this.prefix}stem` };
      if (name.startsWith('head.')) return { source: sources[sources.length - 1]!, name: `${this.prefix}${name}` };
      const l = Number(/^layers\.(\d+)\./.exec(name)?.[1] ?? Number.NaN);
      if (!Number.isInteger(l) || l < 0 || l >= path.length) throw new Error(`pathWeights: no layer owns '${name}'`);
      return { source: sources[l + 1]!, name: `${this.prefix}${this.layers[l]!.inputs.length > 1 ? `a${inputs[l]}` : ''}c${path[l]}/${name}` };
    };
    return {
      conv: (name, cout, cinPerGroup, k) => {
        const o = owner(name);
        if (name !== 'head.conv' || cinPerGroup === this.headChannels) return o.source.conv(o.name, cout, cinPerGroup, k);
        // OIHW [cout, headChannels, 1, 1] -> its first `lastC` input channels.
        const full = o.source.conv(o.name, cout, this.headChannels, k);
        if (cinPerGroup !== lastC) throw new Error(`pathWeights: head.conv asked for ${cinPerGroup} input channels; the path gives ${lastC}`);
        const weight = new Float32Array(cout * lastC * k * k);
        for (let c = 0; c < cout; c++) weight.set(full.weight.subarray(c * this.headChannels * k * k, (c * this.headChannels + lastC) * k * k), c * lastC * k * k);
        return { weight, bias: full.bias };
      },
      fc: (name, cout, cin) => { const o = owner(name); return o.source.fc(o.name, cout, cin); },
    };
  }

  /** The last layer's output zero-padded to the head's widest input (the head conv's weights sliced to its channels). */
  private toHead(x: tf.Tensor4D): tf.Tensor4D {
    const c = x.shape[3];
    return c === this.headChannels ? x : tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, this.headChannels - c]]);
  }

  private sharedOf(path?: Path): SharedFamily[] {
    const all = path ? path.map((i, l) => this.families[l]![i]) : this.families.flat();
    return [...new Set(all.filter((f): f is SharedFamily => f !== undefined))];
  }

  /** Trained variables of a path (what a single-path step should update), or of the whole supernet. */
  trainableVariables(path?: Path): tf.Variable[] {
    return [...(path ? this.pathModels(path) : this.allModels()).flatMap((m) => m.trainableVariables()), ...this.sharedOf(path).flatMap((f) => f.variables())];
  }

  /** What a weight step with `choice` trains: a path's variables, a sandwich's paths' (each once), or all for mixed weights. */
  choiceVariables(choice: Choice): tf.Variable[] {
    if ('path' in choice) return this.trainableVariables(choice.path);
    if ('sandwich' in choice) return [...new Set(choice.sandwich.flatMap((p) => this.trainableVariables(p)))];
    return this.trainableVariables();
  }

  /** Everything a checkpoint saves: trained variables and BatchNorm running statistics. */
  allVariables(): tf.Variable[] {
    return [...this.allModels().flatMap((m) => m.allVariables()), ...this.sharedOf().flatMap((f) => f.variables())];
  }

  /** Every BatchNorm running statistic, in a fixed order (data-parallel workers average them). */
  runningStatistics(): tf.Variable[] {
    return this.allModels().flatMap((m) => m.runningStatistics());
  }

  /** Logits [N, classes]. */
  forward(x: tf.Tensor4D, choice: Choice, training: boolean): tf.Tensor2D {
    if ('sandwich' in choice) throw new Error('forward: a sandwich is a step\'s choice; run its paths one by one');
    let cur = this.stem.forward(x, training) as unknown as tf.Tensor4D;
    if ('path' in choice) {
      this.checkPath(choice.path);
      if (choice.gates && choice.gates.length !== this.layers.length) fail(`gates has ${choice.gates.length} entries; expected ${this.layers.length}`);
      this.layerModels(choice.path).forEach((m, l) => {
        const out = m.forward(cur, training) as unknown as tf.Tensor4D;
        const gate = choice.gates?.[l];
        cur = gate ? tf.mul(out, gate) : out;
      });
    } else {
      if (choice.mixed.length !== this.layers.length) fail(`mixed weights have ${choice.mixed.length} layers; expected ${this.layers.length}`);
      if (this.layers.some((l) => l.widths.length > 1)) {
        fail(`space '${this.space.name}' has widths: the mixed mode cannot sum candidates of different widths; use --mode gated (one sampled path per step)`);
      }
      choice.mixed.forEach((w, l) => {
        const models = this.candidates[l]![0]!;
        if (w.shape[0] !== models.length) fail(`mixed weights of layer ${l} have ${w.shape[0]} entries; layer ${l} has ${models.length} candidates`);
        const parts = tf.unstack(w) as tf.Scalar[];
        const input = cur;
        cur = tf.addN(models.map((m, i) => tf.mul(m.forward(input, training) as unknown as tf.Tensor4D, parts[i]!))) as tf.Tensor4D;
      });
    }
    return this.head.forward(this.toHead(cur), training);
  }

  /**
   * One optimisation step on a batch: `choice` is called inside the gradient tape, so mixed
   * weights or gates made there from architecture parameters get gradients. A sandwich's loss is
   * the first path's (objective of its) cross-entropy plus each other path's cross-entropy against
   * its softmax; the result reports the first path's cross-entropy and hits.
   */
  step(x: tf.Tensor4D, labels: Int32Array, choice: () => Choice, opts: StepOptions): StepResult {
    const wd = opts.weightDecay ?? 0;
    const decayed = wd > 0 ? opts.vars.filter((v) => v.shape.length > 1) : [];
    return tf.tidy(() => {
      const y = tf.oneHot(tf.tensor1d(labels, 'int32'), this.space.classes);
      let hit: tf.Tensor | undefined;
      let ceKept: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const c = choice();
        const paths = 'sandwich' in c ? c.sandwich : undefined;
        if (paths?.length === 0) throw new Error('step: a sandwich needs at least one path');
        const logits = this.forward(x, paths ? { path: paths[0]! } : c, true);
        hit = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32')));
        const ce = tf.losses.softmaxCrossEntropy(y, logits, undefined, opts.labelSmoothing ?? 0) as tf.Scalar;
        ceKept = tf.keep(tf.clone(ce));
        let loss = opts.objective ? opts.objective(ce) : ce;
        if (paths && paths.length > 1) {
          // In-place distillation (BigNAS, OFA): the smaller paths learn the first path's softmax, which they do not move.
          const soft = stopGradient(tf.softmax(logits));
          const kd = paths.slice(1).map((p) => tf.losses.softmaxCrossEntropy(soft, this.forward(x, { path: p }, true)) as tf.Scalar);
          loss = tf.addN([loss, ...kd]) as tf.Scalar;
        }
        if (decayed.length > 0) loss = tf.add(loss, tf.mul(wd / 2, tf.addN(decayed.map((v) => tf.sum(tf.square(v)))))) as tf.Scalar;
        return loss;
      }, [...opts.vars]);
      if (opts.reduce) {
        const { grads: summed, result } = opts.reduce(grads, { loss: value.dataSync()[0]!, ce: ceKept!.dataSync()[0]!, hits: hit!.dataSync()[0]! });
        if (Number.isFinite(result.loss)) opts.optimizer.applyGradients(summed);
        return { loss: result.loss, ce: result.ce, hits: result.hits };
      }
      opts.optimizer.applyGradients(grads);
      return { loss: value.dataSync()[0]!, ce: ceKept!.dataSync()[0]!, hits: hit!.dataSync()[0]! };
    });
  }

  /**
   * Recomputes a path's BatchNorm statistics as exact averages over `batches` training batches
   * (SPOS): running statistics gathered while training random paths do not fit any one path.
   */
  recalibrate(path: Path, stream: BatchStream, batches: number): void {
    const models = this.pathModels(path);
    const { h, w, c } = this.space.input;
    for (const m of models) {
      for (const v of m.runningStatistics()) {
        // Momentum 1 on the first batch overwrites these; zero them only for tidiness.
        v.assign(tf.zerosLike(v));
      }
    }
    let t = 0;
    try {
      for (const b of stream.epoch()) {
        if (t >= batches) break;
        t++;
        for (const m of models) m.bnMomentum = 1 / t;
        tf.tidy(() => { this.forward(tf.tensor4d(b.x.subarray(0, b.size * h * w * c), [b.size, h, w, c]), { path }, true); });
      }
    } finally {
      for (const m of models) m.bnMomentum = BN_MOMENTUM;
    }
    if (t === 0) fail('BatchNorm recalibration got no batches; the calibration split is empty');
  }

  /**
   * Top-1 accuracy of a path on `stream` (inference mode), optionally at most `limit` samples.
   * A row of logits with a NaN or an infinity counts as wrong (tf.argMax would call it class 0,
   * right for a tenth of the images). No samples is an error, not 0%: every arch would tie.
   */
  accuracy(path: Path, stream: BatchStream, limit = Infinity): number {
    const { h, w, c } = this.space.input;
    let correct = 0, seen = 0;
    for (const b of stream.epoch()) {
      if (seen >= limit) break;
      const n = Math.min(b.size, limit - seen);
      const logits = tf.tidy(() => {
        const x = tf.tensor4d(b.x.subarray(0, n * h * w * c), [n, h, w, c]);
        return this.forward(x, { path }, false).dataSync() as Float32Array;
      });
      const k = logits.length / n;
      for (let i = 0; i < n; i++) if (argmaxFinite(logits, i * k, k) === b.y[i]) correct++;
      seen += n;
    }
    if (seen === 0) fail('scoring an arch got no validation images; the validation split is empty: raise --val-fraction');
    return correct / seen;
  }

  /** Validation accuracy of a path with inherited weights and its own BatchNorm statistics. */
  evaluatePath(path: Path, data: { calibration: BatchStream; calibrationBatches: number; validation: BatchStream; limit?: number }): number {
    this.recalibrate(path, data.calibration, data.calibrationBatches);
    return this.accuracy(path, data.validation, data.limit);
  }

  dispose(): void {
    for (const m of this.allModels()) m.dispose();
    for (const f of this.sharedOf()) f.dispose();
    // Once: a second dispose must not free a number a newer supernet holds.
    if (!this.disposed) liveIds.delete(this.id);
    this.disposed = true;
  }
}
