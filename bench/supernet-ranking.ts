/**
 * bench:supernet-ranking — how well does a supernet rank the study's retrained archs, and which
 * supernet settings rank them better? (issue 14: "improve the search, measuring each change's
 * effect on τ"). The retrained accuracies come from the search-quality study's results file; this
 * trains a supernet the study's way (or takes --supernet DIR), scores every retrained arch with
 * inherited weights under each --eval-images × --calibration-batches setting, and prints Kendall
 * τ and Spearman against the retrained means, next to the retraining's own noise (seed 1 against
 * seed 2) and the τ a perfect ranker would expect (./search-quality/ranking.ts).
 *
 *   npm run bench:supernet-ranking -- [--results FILE] [--supernet DIR | --search-epochs 10 --search-steps 200
 *                                      --sampling uniform|fair --seed 1] [--eval-images 2000,6000] [--calibration-batches 8,32]
 *
 * Resumable: the supernet trains in --work/<variant> (search --resume), and every scored setting
 * is one record appended to --out (bench/results/supernet-ranking/ranking.jsonl); a rerun skips
 * recorded settings. The last stdout line is the headline JSON.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadDataset } from '../src/datasets/load.js';
import { loadDevice } from '../src/device/device.js';
import { hostProvenance } from '../src/device/host.js';
import { closeRuntimes } from '../src/device/runtime.js';
import { fail, LatnasError } from '../src/errors.js';
import { loadLut } from '../src/lut/lut.js';
import { SEARCH_STATE_FILE, SearchStateMetaSchema } from '../src/runfolder/search.js';
import { baselinePath } from '../src/search/baseline.js';
import { LatencyModel } from '../src/search/latency.js';
import { SAMPLINGS, type Sampling } from '../src/search/sampling.js';
import { openSupernet } from '../src/search/scoring.js';
import { search, SEARCH_DEFAULTS } from '../src/search/search.js';
import { budgetOptions } from '../src/search/strategies/index.js';
import { resolveArch } from '../src/space/arch.js';
import { pathOf } from '../src/space/path.js';
import { loadSpace } from '../src/space/spaces.js';
import { BACKEND_CHOICES, initBackend, type BackendChoice } from '../src/train/backend.js';
import { readTensorFile } from '../src/train/tensor-file.js';
import { appendLineDurable } from '../src/util/files.js';
import { lockFile } from '../src/util/lock.js';
import { rankAgreement, retrainedAccuracies, seedStd, seedTau, tauCeiling } from './search-quality/ranking.js';
import { readJsonLines, readRecords, type StudyRecord } from './search-quality/records.js';

const { values: v } = parseArgs({
  options: {
    results: { type: 'string' },
    out: { type: 'string', default: 'bench/results/supernet-ranking/ranking.jsonl' },
    work: { type: 'string', default: 'runs/supernet-ranking' },
    supernet: { type: 'string' },
    'search-epochs': { type: 'string', default: '10' },
    'search-steps': { type: 'string', default: '200' },
    sampling: { type: 'string', default: 'uniform' },
    seed: { type: 'string', default: '1' },
    'eval-images': { type: 'string', default: '2000' },
    'calibration-batches': { type: 'string', default: '8' },
    workers: { type: 'string', default: String(availableParallelism()) },
    backend: { type: 'string', default: 'auto' },
  },
});

function ints(name: string, text: string): number[] {
  const out = text.split(',').map((s) => s.trim());
  if (out.some((s) => !/^\d+$/.test(s) || Number(s) < 1)) fail(`--${name} ${text}: give integers >= 1, comma-separated`);
  return out.map(Number);
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) fail(`--${name} ${text}: use one of ${allowed.join(', ')}`);
  return text as T;
}

const RankingRecordSchema = z.object({
  kind: z.literal('ranking'), key: z.string(), results: z.string(),
  supernet: z.object({ dir: z.string(), epochs: z.number().int(), stepsPerEpoch: z.number().int().nullable(), seed: z.number().int(), sampling: z.string(), trainSeconds: z.number().nullable() }),
  evalImages: z.number().int(), calibrationBatches: z.number().int(),
  archs: z.number().int(), kendallTau: z.number(), spearman: z.number(),
  scores: z.record(z.string(), z.number()), scoreSeconds: z.number(), cpu: z.string(), cpuId: z.string(), date: z.string(),
});
type RankingRecord = z.infer<typeof RankingRecordSchema>;

function readRanking(path: string): RankingRecord[] {
  return readJsonLines(path, RankingRecordSchema, 'ranking results', 'its setting is scored again');
}

/** The newest study results file: the one a study on this checkout appends to. */
function newestResults(dir: string): string {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /^results-[0-9a-f]+\.jsonl$/.test(f)) : [];
  if (files.length === 0) fail(`no study results in '${dir}'; run npm run bench:search-quality first, or give --results FILE`);
  return join(dir, files.sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs)[0]!);
}

async function main(): Promise<void> {
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  const resultsPath = v.results ?? newestResults('bench/results/search-quality');
  const records = readRecords(resultsPath);
  const study = records.find((r): r is StudyRecord => r.kind === 'study');
  if (!study) fail(`results file '${resultsPath}' has no study record; give the results file of a search-quality study`);
  const accs = retrainedAccuracies(records);
  if (accs.size < 3) fail(`results file '${resultsPath}' has ${accs.size} retrained archs; the study needs at least 3 before a ranking means anything`);
  if (!(SAMPLINGS as readonly string[]).includes(v.sampling!)) fail(`--sampling ${v.sampling}: use ${SAMPLINGS.join(' or ')}`);
  const sampling = v.sampling as Sampling;
  const evalImages = ints('eval-images', v['eval-images']!);
  const calibration = ints('calibration-batches', v['calibration-batches']!);
  const [epochs] = ints('search-epochs', v['search-epochs']!), [steps] = ints('search-steps', v['search-steps']!), [seed] = ints('seed', v.seed!);
  const [workers] = ints('workers', v.workers!);
  const say = (l: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${l}\n`);
  const host = hostProvenance();

  const space = loadSpace(study.recipe.space);
  const dataset = loadDataset(study.recipe.dataset);
  mkdirSync(dirname(v.out!), { recursive: true });
  const lock = lockFile(v.out!, 'ranking results');
  try {
    const backend = await initBackend(oneOf<BackendChoice>('backend', v.backend!, BACKEND_CHOICES));
    let dir: string, trainSeconds: number | null = null;
    if (v.supernet) {
      dir = v.supernet;
    } else {
      dir = join(v.work!, `e${epochs}-s${steps}-${sampling}-seed${seed}`);
      const lutPath = study.recipe.lut.path;
      const lut = loadLut(lutPath, { device: loadDevice(study.recipe.lut.device).name, space });
      const baselineMs = new LatencyModel(space, lut, lutPath).pathMs(baselinePath(space));
      say(`supernet: ${epochs} epochs × ${steps} steps, ${sampling} sampling, seed ${seed} into '${dir}' (resumable)`);
      const s0 = Date.now();
      await search({
        ...SEARCH_DEFAULTS, space, lut, lutPath, dataset, seed: seed!, resume: true, quiet: true, backend: backend.name,
        epochs: epochs!, batch: study.recipe.search.batch, stepsPerEpoch: steps, sampling, workers,
        ...budgetOptions(1), strategy: 'random', target: baselineMs, out: dir, random: { samples: 1 },
      });
      trainSeconds = (Date.now() - s0) / 1000;
      say(`supernet: done in ${trainSeconds.toFixed(0)} s`);
    }
    const meta = readTensorFile(join(dir, SEARCH_STATE_FILE), 'search state', { meta: SearchStateMetaSchema, fix: 'give the run folder of a finished search' }).meta;
    const id = meta.identity as { epochs: number; stepsPerEpoch: number | null; seed: number; sampling?: string };
    trainSeconds ??= meta.searchSeconds;
    const supernet = { dir, epochs: id.epochs, stepsPerEpoch: id.stepsPerEpoch, seed: id.seed, sampling: id.sampling ?? 'uniform', trainSeconds: meta.searchSeconds };
    const done = readRanking(v.out!);
    const keyOf = (e: number, c: number) => createHash('sha256').update(JSON.stringify({ results: basename(resultsPath), n: accs.size, supernet: { ...supernet, trainSeconds: null, dir: null }, e, c })).digest('hex').slice(0, 12);
    for (const c of calibration) {
      for (const e of evalImages) {
        const key = keyOf(e, c);
        if (done.some((r) => r.key === key)) { say(`eval ${e}, calibration ${c}: already recorded`); continue; }
        const scorer = openSupernet(dir, { space, dataset, calibrationBatches: c, evalImages: e });
        const s0 = Date.now();
        const scores: Record<string, number> = {};
        try {
          for (const a of accs.keys()) scores[a] = scorer.accuracy(pathOf(space, resolveArch(space, a.split(','))));
        } finally {
          scorer.dispose();
        }
        const agree = rankAgreement(new Map(Object.entries(scores)), accs);
        const rec: RankingRecord = {
          kind: 'ranking', key, results: basename(resultsPath), supernet, evalImages: e, calibrationBatches: c, ...agree, scores,
          scoreSeconds: (Date.now() - s0) / 1000, cpu: host.cpu, cpuId: host.cpuId, date: new Date().toISOString(),
        };
        appendLineDurable(v.out!, JSON.stringify(rec));
        done.push(rec);
        say(`eval ${e}, calibration ${c}: τ ${agree.kendallTau.toFixed(3)}, Spearman ${agree.spearman.toFixed(3)} over ${agree.archs} archs (${rec.scoreSeconds.toFixed(0)} s)`);
      }
    }
    const seeds = seedTau(accs);
    const mine = done.filter((r) => r.supernet.dir === dir && r.results === basename(resultsPath));
    console.log(JSON.stringify({
      bench: 'supernet-ranking', results: basename(resultsPath), archs: accs.size, supernet: { ...supernet, trainSeconds },
      settings: mine.map((r) => ({ evalImages: r.evalImages, calibrationBatches: r.calibrationBatches, kendallTau: +r.kendallTau.toFixed(3), spearman: +r.spearman.toFixed(3) })),
      seedTau: seeds && +seeds.kendallTau.toFixed(3), seedTauArchs: seeds?.archs ?? 0, seedStdPt: (() => { const s = seedStd(accs); return s === null ? null : +(100 * s).toFixed(2); })(),
      tauCeiling: (() => { const t = tauCeiling(accs); return t === null ? null : +t.toFixed(3); })(), cpu: host.cpu,
    }));
  } finally {
    lock.release();
  }
}

try {
  await main();
} catch (e) {
  if (!(e instanceof LatnasError)) throw e;
  process.stderr.write(`supernet-ranking: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  await closeRuntimes();
}
