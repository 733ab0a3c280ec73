/**
 * bench:adapt — NetAdapt against a uniform width multiplier (issue 15): from one trained arch
 * (default: the search-quality study's evolution pick at the baseline's latency), `adapt` cuts
 * it to a target --cut below its LUT latency; the comparison is the same arch with every stage's
 * width times one multiplier (with or without every expansion at its smallest: the one closest to
 * the target from below), fine-tuned from the same trained weights sliced to it for the same
 * final epochs. Both end at the same recipe's test split; what differs is which channels go.
 *
 *   npm run bench:adapt -- [--space fbnet-mini-widths] [--table LUT] [--arch BLOCKS] [--cut 0.25]
 *                          [--dataset fashion-mnist] [--epochs 1] [--seeds 1] [--workers N]
 *
 * Resumable: every training is a run folder under --work (train --resume, adapt resumes per
 * proposal); the summary goes to --out/summary.json; the last stdout line is the headline JSON.
 */
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ADAPT_DEFAULTS, adapt } from '../src/adapt/adapt.js';
import { narrowest } from '../src/adapt/proposals.js';
import { loadDataset } from '../src/datasets/load.js';
import { loadDevice } from '../src/device/device.js';
import { hostProvenance } from '../src/device/host.js';
import { closeRuntimes } from '../src/device/runtime.js';
import { fail, LatnasError } from '../src/errors.js';
import { loadLut } from '../src/lut/lut.js';
import { profile } from '../src/profiler/profile.js';
import { WEIGHTS_FILE } from '../src/runfolder/train.js';
import { LatencyModel } from '../src/search/latency.js';
import { resolveArch } from '../src/space/arch.js';
import { formatBlock, type Block } from '../src/space/blocks.js';
import { networkUnits } from '../src/space/network.js';
import { pathOf } from '../src/space/path.js';
import { loadSpace, searchableLayers, stageWidths, type Space } from '../src/space/spaces.js';
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../src/train/backend.js';
import { readTensorFile } from '../src/train/tensor-file.js';
import { train, TRAIN_DEFAULTS } from '../src/train/trainer.js';
import { writeJsonAtomic } from '../src/util/files.js';
import { lockFile } from '../src/util/lock.js';
import { sliceWeights } from '../src/weights/slice.js';
import { readRecords } from './search-quality/records.js';

const STUDY_RESULTS = 'bench/results/search-quality/results-43a09607a8.jsonl';

const { values: v } = parseArgs({
  options: {
    space: { type: 'string', default: 'fbnet-mini-widths' },
    table: { type: 'string' },
    arch: { type: 'string' },
    cut: { type: 'string', default: '0.25' },
    dataset: { type: 'string', default: 'fashion-mnist' },
    epochs: { type: 'string', default: '1' },
    seeds: { type: 'string', default: '1' },
    out: { type: 'string', default: 'bench/results/adapt' },
    work: { type: 'string', default: 'runs/adapt-bench' },
    workers: { type: 'string', default: String(availableParallelism()) },
    backend: { type: 'string', default: 'auto' },
  },
});

const say = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);
const num = (name: string, min: number) => {
  const x = Number(v[name as keyof typeof v]);
  if (!Number.isFinite(x) || x < min) fail(`--${name} ${String(v[name as keyof typeof v])}: expected a number of at least ${min}`);
  return x;
};

/** The study's evolution pick at the baseline's latency (its first search at target 1). */
function studyArch(): string[] {
  if (!existsSync(STUDY_RESULTS)) fail(`no --arch given and '${STUDY_RESULTS}' does not exist; pass --arch with block strings`);
  const r = readRecords(STUDY_RESULTS).find((x) => x.kind === 'search' && x.method === 'evolution' && x.target === 1);
  if (!r || r.kind !== 'search') fail(`'${STUDY_RESULTS}' has no evolution search at target 1; pass --arch`);
  return r.blocks;
}

/**
 * Every layer at its stage's width times `m` (rounded as the space rounds widths), and, when
 * `expand` is set, every inverted residual at its smallest expansion of the same kind: the cut a
 * MobileNet width multiplier makes.
 */
function multiplied(space: Space, blocks: readonly Block[], m: number, expand: boolean): Block[] | undefined {
  const layers = searchableLayers(space);
  const floor = expand ? narrowest(layers, blocks) : undefined;
  const out = blocks.map((b, l) => {
    const stage = space.stages[layers[l]!.stage]!;
    const c = stageWidths({ c: stage.c, widths: [m] })[0]!;
    const e = floor ? layers[l]!.candidates[floor[l]!]! : b;
    const cut: Block = b.type === 'ir' && e.type === 'ir' ? { ...b, c, e: e.e } : { ...b, c };
    return layers[l]!.candidates.find((x) => formatBlock(x) === formatBlock(cut));
  });
  return out.every((b) => b !== undefined) ? (out as Block[]) : undefined;
}

async function main(): Promise<void> {
  const space = loadSpace(v.space!);
  const cutShare = num('cut', 0);
  if (cutShare <= 0 || cutShare >= 1) fail(`--cut ${v.cut}: the share of the latency to cut, between 0 and 1 (0.25: 25% faster)`);
  const epochs = num('epochs', 1), seeds = num('seeds', 1), workers = num('workers', 1);
  if (!(BACKEND_CHOICES as readonly string[]).includes(v.backend!)) fail(`--backend ${v.backend}: one of ${BACKEND_CHOICES.join(', ')}`);
  const backend = await initBackend(v.backend as BackendChoice);
  const device = loadDevice('ort-cpu-1t');
  const tablePath = v.table ?? join(v.out!, `lut-${space.name}.json`);
  if (!v.table) {
    const lock = lockFile(tablePath, 'latency table');
    try {
      let ready = false;
      try {
        ready = existsSync(tablePath) && loadLut(tablePath, { space }).complete;
      } catch (e) {
        if (!(e instanceof LatnasError)) throw e; // an interrupted table: profile --resume finishes it
      }
      if (!ready) {
        say(`profiling ${space.name} into '${tablePath}' (resumable)`);
        await profile({ device, space, out: tablePath, resume: true, quiet: true });
      }
    } finally {
      lock.release();
    }
  }
  const lut = loadLut(tablePath, { space });
  const latency = new LatencyModel(space, lut, tablePath);
  const dataset = loadDataset(v.dataset!);
  const layers = searchableLayers(space);
  const start = resolveArch(space, v.arch ? v.arch.split(',') : studyArch());
  const startMs = latency.pathMs(pathOf(space, start, layers));
  const targetMs = (1 - cutShare) * startMs;
  const recipe = { ...TRAIN_DEFAULTS, epochs, batch: 64, lr: 0.1 };
  const host = hostProvenance();
  const results: Record<string, unknown>[] = [];
  try {
    for (let seed = 1; seed <= seeds; seed++) {
      const dir = join(v.work!, `seed${seed}`);
      say(`seed ${seed}: training the start, ${start.map(formatBlock).join(',')} (${startMs.toFixed(4)} ms)`);
      const t0 = Date.now();
      const s = await train({ ...recipe, space, blocks: start, dataset, out: join(dir, 'start'), seed, resume: true, quiet: true, backend: backend.name, workers });
      const startSeconds = (Date.now() - t0) / 1000;
      const weights = [...readTensorFile(join(dir, 'start', WEIGHTS_FILE), 'start weights').tensors.values()];
      say(`seed ${seed}: start ${(100 * s.testAcc).toFixed(2)}%; NetAdapt to ${targetMs.toFixed(4)} ms`);
      const a0 = Date.now();
      const a = await adapt({
        space, blocks: start, weights, startValAcc: s.epochs.at(-1)?.valAcc ?? null, source: join(dir, 'start'), dataset, lut, lutPath: tablePath, targetMs,
        finetuneSteps: ADAPT_DEFAULTS.finetuneSteps, finalEpochs: ADAPT_DEFAULTS.finalEpochs, lr: ADAPT_DEFAULTS.lr, batch: recipe.batch, seed,
        out: join(dir, 'adapt'), backend: backend.name, workers, quiet: true,
      });
      const adaptSeconds = (Date.now() - a0) / 1000;
      // Every uniform multiplier (widths alone, or with every expansion at its smallest); the
      // comparison is the one closest to the target from below (the slowest that meets it).
      const ladder = [0.75, 0.5].flatMap((m) => [false, true].flatMap((expand) => {
        const blocks = multiplied(space, start, m, expand);
        return blocks ? [{ m, expand, blocks, ms: latency.pathMs(pathOf(space, blocks, layers)) }] : [];
      }));
      // A multiplier's steps are coarse (x0.75 may miss the target and x0.5 overshoot it far):
      // the closest below the target is the comparison, the closest above brackets it.
      const below = ladder.filter((o) => o.ms <= targetMs).sort((x, y) => y.ms - x.ms)[0];
      const above = ladder.filter((o) => o.ms > targetMs).sort((x, y) => x.ms - y.ms)[0];
      const net = (bs: readonly Block[]) => ({ layers: networkUnits(space, bs).flatMap((u) => u.layers), input: space.input });
      const fineTune = async (o: (typeof ladder)[number]) => {
        say(`seed ${seed}: uniform x${o.m}${o.expand ? ' with the smallest expansions' : ''} at ${o.ms.toFixed(4)} ms, fine-tuned from the start's weights`);
        const u0 = Date.now();
        const u = await train({
          ...recipe, space, blocks: o.blocks, dataset, out: join(dir, `uniform-x${o.m}${o.expand ? '-e' : ''}`), epochs: ADAPT_DEFAULTS.finalEpochs, lr: ADAPT_DEFAULTS.lr, seed,
          resume: true, quiet: true, backend: backend.name, workers, init: sliceWeights(net(start), weights, net(o.blocks), seed),
        });
        return { multiplier: o.m, smallestExpansions: o.expand, blocks: o.blocks.map(formatBlock), ms: o.ms, testAcc: u.testAcc, seconds: (Date.now() - u0) / 1000 };
      };
      say(`seed ${seed}: adapted ${(100 * a.testAcc).toFixed(2)}% at ${a.ms.toFixed(4)} ms`);
      const uniform = below ? await fineTune(below) : null;
      const uniformAbove = above ? await fineTune(above) : null;
      if (!below) say(`seed ${seed}: no uniform multiplier reaches ${targetMs.toFixed(4)} ms`);
      results.push({
        seed, start: { blocks: start.map(formatBlock), ms: startMs, testAcc: s.testAcc, seconds: startSeconds },
        adapt: { blocks: a.blocks, ms: a.ms, steps: a.state.steps.length, proposals: a.state.steps.reduce((n, st) => n + st.tried.length, 0), testAcc: a.testAcc, seconds: adaptSeconds },
        uniform, uniformAbove, ladder: ladder.map((o) => ({ multiplier: o.m, smallestExpansions: o.expand, ms: o.ms })),
      });
    }
  } finally {
    latency.dispose();
  }
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const adapted = results.map((r) => (r['adapt'] as { testAcc: number }).testAcc);
  const uniformAcc = results.flatMap((r) => (r['uniform'] ? [(r['uniform'] as { testAcc: number }).testAcc] : []));
  const aboveAcc = results.flatMap((r) => (r['uniformAbove'] ? [(r['uniformAbove'] as { testAcc: number }).testAcc] : []));
  const headline = {
    bench: 'adapt', space: space.name, table: tablePath, tableCpu: lut.provenance.cpu, cpu: host.cpu, cpuId: host.cpuId, date: new Date().toISOString(),
    startMs, targetMs, cut: cutShare, seeds, startTestAcc: mean(results.map((r) => (r['start'] as { testAcc: number }).testAcc)),
    adaptTestAcc: mean(adapted), uniformTestAcc: uniformAcc.length ? mean(uniformAcc) : null, uniformAboveTestAcc: aboveAcc.length ? mean(aboveAcc) : null,
    adaptMinusUniform: uniformAcc.length === adapted.length ? mean(adapted.map((x, i) => x - uniformAcc[i]!)) : null,
  };
  writeJsonAtomic(join(v.out!, 'summary.json'), { ...headline, runs: results });
  process.stdout.write(`${JSON.stringify(headline)}\n`);
}

main().catch((e) => {
  if (e instanceof LatnasError) {
    process.stderr.write(`bench:adapt: ${e.message}\n`);
    process.exitCode = 1;
  } else throw e;
}).finally(() => closeRuntimes());
