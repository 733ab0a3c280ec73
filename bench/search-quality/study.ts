/**
 * The search-quality study (issue 14): does the search beat random archs of the same latency and
 * the hand-designed family, and does the supernet rank archs as retraining does?
 *
 * Pieces, in order, each one record in the results file when it finishes (./records.ts):
 *   supernet  one weight-sharing supernet trained with --search-sampling (default uniform; a random search
 *             at the baseline's latency); evolution and random search with it (--supernet), and it
 *             scores every retrained arch for τ
 *   search    dnas (its own supernet), evolution and random at each target
 *   score     every arch to retrain, with the shared supernet's inherited weights, exactly as the
 *             search scores (BatchNorm recalibrated, the validation subset: src/search/scoring.ts)
 *   train     every arch from scratch with one recipe, seed by seed (all archs' seed 1 first, so τ
 *             and a first table exist early): the searched archs, the archs sampled uniformly in
 *             [0.9·T, T] (src/search/strategies/random.ts BandSampler) and the family
 * Run folders go under --work/<recipe hash>/ (searches and trainings resume inside a piece); the
 * results file, the table, summary.json and pareto.svg under --out.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { checkDatasetFits, type Dataset } from '../../src/datasets/dataset.js';
import { loadDataset } from '../../src/datasets/load.js';
import { loadDevice } from '../../src/device/device.js';
import { hostProvenance, warnIfOtherMachine } from '../../src/device/host.js';
import { fail } from '../../src/errors.js';
import { loadLut, type Lut } from '../../src/lut/lut.js';
import { profile } from '../../src/profiler/profile.js';
import { baselinePath } from '../../src/search/baseline.js';
import { handDesignedFamily, MBV2 } from '../../src/search/family.js';
import { checkTarget, LatencyModel } from '../../src/search/latency.js';
import { openSupernet, type SupernetScorer } from '../../src/search/scoring.js';
import type { Sampling } from '../../src/search/sampling.js';

/** How the progress line names each supernet sampling. */
const SAMPLING_NAMES: Record<Sampling, string> = {
  uniform: 'uniform single-path sampling', fair: 'FairNAS strict-fairness single-path sampling', sandwich: 'sandwich rule with in-place distillation',
};
import { SEARCH_STATE_FILE } from '../../src/runfolder/search.js';
import { search, SEARCH_DEFAULTS } from '../../src/search/search.js';
import { budgetOptions } from '../../src/search/strategies/index.js';
import { BAND_LOW, BandSampler } from '../../src/search/strategies/random.js';
import { pathKey } from '../../src/search/evolution.js';
import { formatBlock } from '../../src/space/blocks.js';
import { resolveArch } from '../../src/space/arch.js';
import { pathBlocks, pathOf } from '../../src/space/path.js';
import { loadSpace, type Space } from '../../src/space/spaces.js';
import { initBackend, type BackendChoice } from '../../src/train/backend.js';
import { train, TRAIN_DEFAULTS } from '../../src/train/trainer.js';
import { writeFileAtomic, writeJsonAtomic } from '../../src/util/files.js';
import { lockFile } from '../../src/util/lock.js';
import { Rng } from '../../src/util/rng.js';
import { appendRecord, archKey, dropTornTail, keys, readRecords, targetKey, trainingIdentity, type Method, type Recipe, type SearchRecord, type StudyLine, type StudyRecord, type TrainRecord } from './records.js';
import { headline, paretoStudySvg, summarize, type Headline } from './summary.js';

export const PIECE_KINDS = ['supernet', 'search', 'score', 'train'] as const;
export type PieceKind = (typeof PIECE_KINDS)[number];

export interface StudyOptions {
  /** The study folder: the table (if profiled here), results-<hash>.jsonl, summary.json, pareto.svg. */
  out: string;
  /** Run folders of the searches and trainings (large; not committed). */
  work: string;
  dataset: string;
  space: string;
  device: string;
  /** A table to use; default: --out/lut-<space>.json, profiled there when absent. */
  table?: string;
  /** Factors of the MobileNetV2-style baseline's LUT latency. */
  targets: number[];
  methods: Method[];
  /** Seeds of the searched archs and the family; of the sampled archs. */
  seeds: number;
  sampleSeeds: number;
  /** Archs drawn uniformly in [0.9·T, T] per target. */
  samples: number;
  /** Family members by name (default: all; the MobileNetV2-style baseline always). */
  family?: string[];
  recipe: { epochs: number; maxSteps?: number; batch: number; lr: number };
  searchBudget: { epochs: number; stepsPerEpoch?: number; samples: number; evalImages: number; calibrationBatches: number; sampling?: Sampling };
  only: PieceKind[];
  maxHours?: number;
  backend: BackendChoice;
  /** Worker threads for every search and training (default: every core). */
  workers: number;
  say(line: string): void;
  /** Runs the train pieces (default localTrainer; bench:search-quality --redis fans them out on the queue: ./queue.ts). */
  trainer?: StudyTrainer;
}

const SEARCH_SEED = SEARCH_DEFAULTS.seed;
const sha = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

/** The study's table: --table, else --out/lut-<space>.json, profiled there on this machine when absent. */
async function studyTable(o: StudyOptions, space: Space, say: (l: string) => void): Promise<{ lut: Lut; lutPath: string }> {
  const device = loadDevice(o.device);
  const lutPath = o.table ?? join(o.out, `lut-${space.name}.json`);
  if (!o.table && !existsSync(lutPath)) {
    say(`profiling ${device.name} for ${space.name} into '${lutPath}' (resumable)`);
    const lock = lockFile(lutPath, 'latency table');
    try {
      await profile({ device, space, out: lutPath, resume: true, quiet: true });
    } finally {
      lock.release();
    }
  }
  const lut = loadLut(lutPath, { device: device.name, space });
  // The study's latencies are this table's: said when it is another machine's, and recorded either way.
  warnIfOtherMachine(lut, lutPath, device.runtime);
  return { lut, lutPath };
}

function recipeOf(o: StudyOptions, space: Space, lut: Lut, lutPath: string): Recipe {
  const p = lut.provenance;
  return {
    dataset: o.dataset, space: space.name,
    lut: { path: lutPath, device: lut.device, created: p.created, cpu: p.cpu, cpuId: p.cpuId ?? null, profileSeconds: p.profileSeconds },
    train: {
      epochs: o.recipe.epochs, maxSteps: o.recipe.maxSteps ?? null, batch: o.recipe.batch, lr: o.recipe.lr, momentum: TRAIN_DEFAULTS.momentum,
      weightDecay: TRAIN_DEFAULTS.weightDecay, optimizer: TRAIN_DEFAULTS.optimizer, labelSmoothing: TRAIN_DEFAULTS.labelSmoothing,
      valFraction: TRAIN_DEFAULTS.valFraction, augment: TRAIN_DEFAULTS.augment,
    },
    search: {
      epochs: o.searchBudget.epochs, stepsPerEpoch: o.searchBudget.stepsPerEpoch ?? null, batch: o.recipe.batch, lr: SEARCH_DEFAULTS.lr,
      samples: o.searchBudget.samples, evalImages: o.searchBudget.evalImages, calibrationBatches: o.searchBudget.calibrationBatches, seed: SEARCH_SEED,
      valFraction: SEARCH_DEFAULTS.valFraction,
      // Only when not uniform: the files of studies from before it was a setting keep their hash.
      ...(o.searchBudget.sampling && o.searchBudget.sampling !== 'uniform' ? { sampling: o.searchBudget.sampling } : {}),
    },
  };
}

/** The hash that names the results file: every setting that shapes a piece, the table by its creation (not its path). */
export function recipeHash(r: Recipe): string {
  return sha(JSON.stringify({ ...r, lut: { device: r.lut.device, created: r.lut.created } }), 10);
}

/** The archs drawn uniformly in [0.9·T, T]: the same ones for the same table, and a prefix of a larger --samples. */
function drawSamples(latency: LatencyModel, targetMs: number, target: number, n: number): { paths: number[][]; acceptance: number } {
  const sampler = new BandSampler(latency.chain, BAND_LOW * targetMs, targetMs);
  if (!sampler.feasible) fail(`--targets ${targetKey(target)}: no arch has a LUT latency in [0.9·T, T] for T = ${targetMs.toFixed(4)} ms; choose other --targets`);
  const rng = new Rng(7919 + Math.round(target * 1e4));
  const seen = new Set<string>();
  const paths: number[][] = [];
  let stale = 0;
  while (paths.length < n && stale < 1000) {
    const p = sampler.draw(rng);
    if (!p) break;
    if (seen.has(pathKey(p))) { stale++; continue; }
    seen.add(pathKey(p));
    paths.push(p);
  }
  return { paths, acceptance: sampler.proposed > 0 ? sampler.accepted / sampler.proposed : 0 };
}

export interface StudyPaths { results: string; summary: string; plot: string }

/** The trainings of the other results files in `out` whose training recipe and table are `recipe`'s, by key. */
function reusableTrainings(out: string, mine: string, recipe: Recipe): Map<string, { record: TrainRecord; file: string }> {
  const found = new Map<string, { record: TrainRecord; file: string }>();
  const want = trainingIdentity(recipe);
  const files = existsSync(out) ? readdirSync(out).filter((f) => /^results-[0-9a-f]+\.jsonl$/.test(f) && join(out, f) !== mine).sort() : [];
  for (const f of files) {
    const records = readRecords(join(out, f));
    const study = records.find((r): r is StudyRecord => r.kind === 'study');
    if (!study || trainingIdentity(study.recipe) !== want) continue;
    for (const r of records) if (r.kind === 'train' && !r.reusedFrom && !found.has(r.key)) found.set(r.key, { record: r, file: f });
  }
  return found;
}

/**
 * Writes summary.json and pareto.svg from the records (the study written last, which report.html
 * shows), and the same pair as summary-<hash>.json and pareto-<hash>.svg, so a second round of the
 * study (changed search settings, a new results file) keeps the first round's summary; returns the headline.
 */
export async function writeSummary(records: readonly StudyLine[], paths: StudyPaths): Promise<Headline> {
  const study = records.find((r): r is StudyRecord => r.kind === 'study');
  if (!study) fail(`results file '${paths.results}' has no study record; run the study to start it`);
  const s = summarize(records, basename(paths.results));
  const svg = await paretoStudySvg(records, s);
  const dir = dirname(paths.summary);
  for (const [summary, plot] of [[paths.summary, paths.plot], [join(dir, `summary-${study.hash}.json`), join(dir, `pareto-${study.hash}.svg`)]] as const) {
    writeJsonAtomic(summary, s);
    writeFileAtomic(plot, svg);
  }
  return headline(records, s);
}

export function studyPaths(out: string, hash: string): StudyPaths {
  return { results: join(out, `results-${hash}.jsonl`), summary: join(out, 'summary.json'), plot: join(out, 'pareto.svg') };
}

/** One training of the study, as a trainer runs it: into `out` (a run folder under --work). */
export interface TrainPiece { key: string; label: string; blocks: string[]; predictedMs: number; seed: number; out: string }
export interface TrainOutcome { testAcc: number; resumedFrom: number; workers: number; backend: string; seconds: number }
export interface TrainContext {
  space: Space; dataset: Dataset; recipe: StudyOptions['recipe']; workers: number; backend: BackendChoice; backendName: string;
  say(line: string): void;
  /** False once no new piece may start (--only, --max-hours). */
  go(): boolean;
}
/** Runs the train pieces, calling `done` as each finishes (the study appends its record there). */
export type StudyTrainer = (pieces: readonly TrainPiece[], ctx: TrainContext, done: (p: TrainPiece, r: TrainOutcome) => void) => Promise<void>;

/** The study's own trainer: train() here, one piece after another. */
export const localTrainer: StudyTrainer = async (pieces, c, done) => {
  for (const p of pieces) {
    if (!c.go()) break;
    c.say(`${p.label}: start (${p.predictedMs.toFixed(4)} ms)`);
    const s0 = Date.now();
    const r = await train({
      ...TRAIN_DEFAULTS, space: c.space, blocks: resolveArch(c.space, p.blocks), dataset: c.dataset, out: p.out,
      epochs: c.recipe.epochs, batch: c.recipe.batch, lr: c.recipe.lr, maxSteps: c.recipe.maxSteps, seed: p.seed, resume: true, quiet: true, backend: c.backendName,
      workers: c.workers,
    });
    done(p, { testAcc: r.testAcc, resumedFrom: r.resumedFrom, workers: r.workers, backend: c.backendName, seconds: (Date.now() - s0) / 1000 });
  }
};

interface TrainItem { blocks: string[]; predictedMs: number; method: string; target: number | null; supernetValAcc: number | null; seeds: number }

export async function runStudy(o: StudyOptions): Promise<Headline> {
  const started = Date.now();
  const t0 = () => new Date().toISOString().slice(11, 19);
  const say = (l: string) => o.say(`${t0()} ${l}`);
  const space = loadSpace(o.space);
  const dataset = loadDataset(o.dataset);
  checkDatasetFits(space, dataset);
  const { lut, lutPath } = await studyTable(o, space, say);
  const recipe = recipeOf(o, space, lut, lutPath);
  const hash = recipeHash(recipe);
  const paths = studyPaths(o.out, hash);
  const work = join(o.work, hash);
  const lock = lockFile(paths.results, 'results file');
  const latency = new LatencyModel(space, lut, lutPath);
  try {
    if (dropTornTail(paths.results)) say(`dropped a torn last record of '${paths.results}' (a killed append): its piece runs again`);
    const records = readRecords(paths.results);
    const done = new Map(records.map((r) => [r.key, r] as const));
    const add = (r: StudyLine) => { appendRecord(paths.results, r); records.push(r); done.set(r.key, r); };
    const host = hostProvenance();
    const where = () => ({ cpu: host.cpu, cpuId: host.cpuId, date: new Date().toISOString() });
    const blocksOf = (p: readonly number[]) => pathBlocks(space, p).map(formatBlock);

    const baselineMs = latency.pathMs(baselinePath(space));
    const old = done.get('study') as StudyRecord | undefined;
    if (old && old.hash !== hash) fail(`results file '${paths.results}' was started with recipe ${old.hash}, not ${hash}; move it aside`);
    if (!old) add({ kind: 'study', key: 'study', hash, recipe, baselineMs, fastestMs: latency.fastest().ms, ...where() });
    say(`search-quality: ${space.name} on ${dataset.spec}, table '${lutPath}' (${lut.provenance.cpu}), baseline ${baselineMs.toFixed(4)} ms; `
      + `results '${paths.results}' (${records.length} records), run folders '${work}'`);

    // The family and the sampled archs: no training, recorded so the summary needs nothing but the file.
    const whole = handDesignedFamily(space, latency);
    const unknown = (o.family ?? []).filter((n) => !whole.some((m) => m.name === n));
    if (unknown.length > 0) fail(`--family ${unknown.join(',')}: not a member of space '${space.name}'s family; choose from ${whole.map((m) => m.name).join(', ')}`);
    // The baseline always: the goals compare with it.
    const family = whole.filter((m) => !o.family || m.name === MBV2 || o.family.includes(m.name));
    for (const m of family) {
      if (!done.has(keys.family(m.name))) add({ kind: 'family', key: keys.family(m.name), name: m.name, blocks: m.blocks, predictedMs: m.predictedMs, substituted: m.substituted });
    }
    const targets = o.targets.map((target) => ({ target, targetMs: target * baselineMs }));
    for (const t of targets) {
      checkTarget(latency, t.targetMs, lutPath);
      const { paths: drawn, acceptance } = drawSamples(latency, t.targetMs, t.target, o.samples);
      drawn.forEach((p, i) => {
        const key = keys.sample(t.target, i + 1);
        if (!done.has(key)) add({ kind: 'sample', key, target: t.target, targetMs: t.targetMs, k: i + 1, blocks: blocksOf(p), predictedMs: latency.pathMs(p), acceptance });
      });
    }

    const deadline = o.maxHours !== undefined ? started + o.maxHours * 3600e3 : Infinity;
    let stopped = false;
    const may = (kind: PieceKind) => o.only.includes(kind);
    const timeLeft = () => {
      if (!stopped && Date.now() > deadline) { stopped = true; say(`--max-hours ${o.maxHours} reached: no new piece starts`); }
      return !stopped;
    };
    const backend = await initBackend(o.backend);
    const searchCommon = {
      ...SEARCH_DEFAULTS, space, lut, lutPath, dataset, seed: SEARCH_SEED, resume: true, quiet: true, backend: backend.name,
      epochs: o.searchBudget.epochs, batch: o.recipe.batch, stepsPerEpoch: o.searchBudget.stepsPerEpoch, evalImages: o.searchBudget.evalImages,
      calibrationBatches: o.searchBudget.calibrationBatches, ...budgetOptions(o.searchBudget.samples), workers: o.workers,
      sampling: o.searchBudget.sampling ?? 'uniform',
    };

    // 1. The shared supernet.
    const supernetDir = join(work, 'supernet');
    const needsSupernet = o.methods.some((m) => m !== 'dnas') || may('score');
    if (needsSupernet && !done.has('supernet') && may('supernet') && timeLeft()) {
      say(`supernet: training (${SAMPLING_NAMES[o.searchBudget.sampling ?? 'uniform']})`);
      const s0 = Date.now();
      await search({ ...searchCommon, strategy: 'random', target: baselineMs, out: supernetDir, random: { samples: 1 } });
      add({ kind: 'supernet', key: 'supernet', dir: supernetDir, seconds: (Date.now() - s0) / 1000, workers: o.workers, ...where() });
      say(`supernet: done in ${((Date.now() - s0) / 1000).toFixed(0)} s`);
    }
    // Run folders do not survive a move to another machine, the results file does: a supernet
    // recorded but gone is trained again (same seed and settings) before a piece reads it, and the
    // rebuild's time is recorded under its own key, so the study's compute hours count it.
    const ensureSupernet = async () => {
      if (existsSync(join(supernetDir, SEARCH_STATE_FILE))) return;
      const n = records.filter((r) => r.kind === 'supernet').length;
      say(`supernet: recorded, but its run folder '${supernetDir}' is gone (another machine); training it again`);
      const s0 = Date.now();
      await search({ ...searchCommon, strategy: 'random', target: baselineMs, out: supernetDir, random: { samples: 1 } });
      add({ kind: 'supernet', key: `supernet-rebuild-${n}`, dir: supernetDir, seconds: (Date.now() - s0) / 1000, workers: o.workers, ...where() });
    };

    // 2. Searches.
    const searches = targets.flatMap((t) => o.methods.map((method) => ({ ...t, method })));
    for (const [i, s] of searches.entries()) {
      const key = keys.search(s.method, s.target);
      if (done.has(key) || !may('search') || !timeLeft()) continue;
      const label = `search ${s.method}@${targetKey(s.target)} [${i + 1}/${searches.length}]`;
      if (s.method !== 'dnas' && !done.has('supernet')) { say(`${label}: skipped, needs the supernet (--only supernet)`); continue; }
      if (s.method !== 'dnas') await ensureSupernet();
      say(`${label}: T = ${s.targetMs.toFixed(4)} ms`);
      const s0 = Date.now();
      const r = await search({
        ...searchCommon, strategy: s.method, target: s.targetMs, out: join(work, `search-${s.method}-${targetKey(s.target)}`),
        ...(s.method === 'dnas' ? {} : { supernetFrom: supernetDir }),
      });
      const seconds = (Date.now() - s0) / 1000;
      add({
        kind: 'search', key, method: s.method, target: s.target, targetMs: s.targetMs, blocks: r.blocks, predictedMs: r.predictedMs, supernetValAcc: r.valAcc,
        supernet: s.method === 'dnas' ? 'own' : 'supernet', seconds, workers: o.workers, ...where(),
      });
      say(`${label}: done in ${seconds.toFixed(0)} s: ${r.predictedMs.toFixed(4)} ms, ${(100 * r.valAcc).toFixed(2)}% with inherited weights`);
    }

    // What to retrain: searched archs and the family (--seeds), sampled archs (--sample-seeds); each arch and seed once.
    const items: TrainItem[] = [];
    for (const r of records.filter((x): x is SearchRecord => x.kind === 'search' && o.methods.includes(x.method) && o.targets.some((t) => targetKey(t) === targetKey(x.target)))) {
      items.push({ blocks: r.blocks, predictedMs: r.predictedMs, method: r.method, target: r.target, supernetValAcc: r.supernetValAcc, seeds: o.seeds });
    }
    for (const r of records) {
      if (r.kind === 'sample' && r.k <= o.samples && o.targets.some((t) => targetKey(t) === targetKey(r.target))) {
        items.push({ blocks: r.blocks, predictedMs: r.predictedMs, method: 'random-sampled', target: r.target, supernetValAcc: null, seeds: o.sampleSeeds });
      }
    }
    for (const m of family) items.push({ blocks: m.blocks, predictedMs: m.predictedMs, method: m.name, target: null, supernetValAcc: null, seeds: o.seeds });

    // 3. Scores with the shared supernet, for τ.
    const toScore = [...new Map(items.map((it) => [archKey(it.blocks), it])).values()].filter((it) => !done.has(keys.score(it.blocks)));
    if (toScore.length > 0 && may('score') && done.has('supernet') && timeLeft()) {
      await ensureSupernet();
      let scorer: SupernetScorer | undefined;
      try {
        for (const [i, it] of toScore.entries()) {
          if (!timeLeft()) break;
          scorer ??= openSupernet(supernetDir, { space, dataset, calibrationBatches: o.searchBudget.calibrationBatches, evalImages: o.searchBudget.evalImages });
          const s0 = Date.now();
          const valAcc = scorer.accuracy(pathOf(space, resolveArch(space, it.blocks)));
          const seconds = (Date.now() - s0) / 1000;
          add({ kind: 'score', key: keys.score(it.blocks), blocks: it.blocks, predictedMs: it.predictedMs, valAcc, supernet: 'supernet', seconds, ...where() });
          say(`score ${it.method}${it.target === null ? '' : `@${targetKey(it.target)}`} [${i + 1}/${toScore.length}]: ${(100 * valAcc).toFixed(2)}% with inherited weights`);
        }
      } finally {
        scorer?.dispose();
      }
    }

    // 4. Trainings, seed by seed.
    const maxSeeds = Math.max(o.seeds, o.sampleSeeds);
    const trainings = new Map<string, TrainItem & { seed: number }>();
    for (let seed = 1; seed <= maxSeeds; seed++) {
      for (const it of items) if (seed <= it.seeds && !trainings.has(keys.train(it.blocks, seed))) trainings.set(keys.train(it.blocks, seed), { ...it, seed });
    }
    // Trainings another results file in --out holds for the same training recipe and table (a study
    // that changed only its search settings): copied, not rerun, when they ran on as many workers.
    const reusable = reusableTrainings(o.out, paths.results, recipe);
    let reused = 0;
    for (const [key, it] of trainings) {
      const r = reusable.get(key);
      if (done.has(key) || !r || r.record.workers !== o.workers) continue;
      // The result and its cost are the other file's; the role and the inherited score are this study's.
      add({ ...r.record, method: it.method, target: it.target, supernetValAcc: it.supernetValAcc, reusedFrom: r.file });
      reused++;
    }
    const todo = [...trainings].filter(([key]) => !done.has(key));
    say(`train: ${trainings.size - todo.length} of ${trainings.size} trainings already recorded${reused > 0 ? ` (${reused} reused from other results files)` : ''}`);
    const pieces = todo.map(([key, it], i): TrainPiece => ({
      key, blocks: it.blocks, predictedMs: it.predictedMs, seed: it.seed, out: join(work, 'train', `${sha(archKey(it.blocks), 12)}-s${it.seed}`),
      label: `train ${it.method}${it.target === null ? '' : `@${targetKey(it.target)}`} seed ${it.seed} [${i + 1}/${todo.length}]`,
    }));
    const ctx: TrainContext = { space, dataset, recipe: o.recipe, workers: o.workers, backend: o.backend, backendName: backend.name, say, go: () => may('train') && timeLeft() };
    await (o.trainer ?? localTrainer)(pieces, ctx, (p, r) => {
      const it = trainings.get(p.key)!;
      add({
        kind: 'train', key: p.key, blocks: it.blocks, predictedMs: it.predictedMs, method: it.method, target: it.target, seed: it.seed, testAcc: r.testAcc,
        supernetValAcc: it.supernetValAcc, seconds: r.seconds, resumedFromEpoch: r.resumedFrom, backend: r.backend, workers: r.workers, ...where(),
      });
      say(`${p.label}: done in ${r.seconds.toFixed(0)} s: test ${(100 * r.testAcc).toFixed(2)}%`);
    });

    const h = await writeSummary(records, paths);
    say(`summary: '${paths.summary}', plot '${paths.plot}'`);
    return h;
  } finally {
    latency.dispose();
    lock.release();
  }
}

/**
 * --summarize-only: summary.json and the plot from a results file, nothing run: `results`, else
 * the file these options' recipe names (the table must exist: nothing is profiled).
 */
export async function summarizeOnly(o: StudyOptions, results?: string): Promise<Headline> {
  let paths: StudyPaths;
  if (results) {
    paths = { ...studyPaths(o.out, ''), results };
  } else {
    const space = loadSpace(o.space);
    const lutPath = o.table ?? join(o.out, `lut-${space.name}.json`);
    const lut = loadLut(lutPath, { device: loadDevice(o.device).name, space });
    paths = studyPaths(o.out, recipeHash(recipeOf(o, space, lut, lutPath)));
  }
  if (!existsSync(paths.results)) fail(`results file '${paths.results}' does not exist; give --results FILE, or run the study first with these options`);
  return writeSummary(readRecords(paths.results), paths);
}
