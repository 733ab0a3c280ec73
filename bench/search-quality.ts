/**
 * bench:search-quality — does the search beat random archs of its latency and the hand-designed
 * family, and does the supernet rank archs as retraining does? (issue 14; the pieces: ./search-quality/study.ts)
 *
 *   npm run bench:search-quality -- [--targets 0.45,0.7,1] [--seeds 3] [--samples 5] [--recipe-epochs 1]
 *                                   [--search-sampling uniform|fair|sandwich] [--only supernet,search,score,train] [--max-hours H] [--workers N] [--summarize-only]
 *                                   [--redis URL]   (the trainings fanned out to `latnas worker`s: ./search-quality/queue.ts)
 *
 * Resumable: every finished piece is one record in bench/results/search-quality/results-<recipe
 * hash>.jsonl and a rerun skips it; a changed recipe writes a new file. Progress lines go to
 * stderr; the last stdout line is the headline JSON (Kendall τ, Spearman, archs retrained, per
 * target the best searched arch against the random in-band archs' mean).
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { closeRuntimes } from '../src/device/runtime.js';
import { fail, LatnasError } from '../src/errors.js';
import { SAMPLINGS, type Sampling } from '../src/search/sampling.js';
import { BACKEND_CHOICES, type BackendChoice } from '../src/train/backend.js';
import { METHODS, type Method } from './search-quality/records.js';
import { checkRedis, parseRedisUrl } from '../src/queue/connection.js';
import { queueTrainer } from './search-quality/queue.js';
import { PIECE_KINDS, runStudy, summarizeOnly, type PieceKind, type StudyOptions } from './search-quality/study.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'bench/results/search-quality' },
    work: { type: 'string', default: 'runs/search-quality' },
    dataset: { type: 'string', default: 'fashion-mnist' },
    space: { type: 'string', default: 'fbnet-mini' },
    device: { type: 'string', default: 'ort-cpu-1t' },
    table: { type: 'string' },
    targets: { type: 'string', default: '0.45,0.7,1' },
    methods: { type: 'string', default: METHODS.join(',') },
    seeds: { type: 'string', default: '3' },
    samples: { type: 'string', default: '5' },
    'sample-seeds': { type: 'string', default: '1' },
    family: { type: 'string' },
    'recipe-epochs': { type: 'string', default: '1' },
    'recipe-steps': { type: 'string' },
    'recipe-lr': { type: 'string', default: '0.1' },
    batch: { type: 'string', default: '64' },
    'search-epochs': { type: 'string', default: '10' },
    'search-steps': { type: 'string', default: '200' },
    'search-samples': { type: 'string', default: '20' },
    'eval-images': { type: 'string', default: '2000' },
    'calibration-batches': { type: 'string', default: '8' },
    'search-sampling': { type: 'string', default: 'uniform' },
    only: { type: 'string', default: PIECE_KINDS.join(',') },
    'max-hours': { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    workers: { type: 'string', default: String(availableParallelism()) },
    'summarize-only': { type: 'boolean', default: false },
    results: { type: 'string' },
    redis: { type: 'string' },
  },
});

function int(name: string, text: string, min = 1): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < min) fail(`--${name} ${text}: give an integer >= ${min}`);
  return v;
}
function positive(name: string, text: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v <= 0) fail(`--${name} ${text}: give a positive number`);
  return v;
}
function list<T extends string>(name: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = items.find((s) => !(allowed as readonly string[]).includes(s));
  if (bad !== undefined || items.length === 0) fail(`--${name} ${text}: use a comma-separated list of ${allowed.join(', ')}`);
  return items as T[];
}

async function main(): Promise<void> {
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  const v = values;
  const o: StudyOptions = {
    out: v.out!, work: v.work!, dataset: v.dataset!, space: v.space!, device: v.device!, table: v.table,
    targets: v.targets!.split(',').map((t) => positive('targets', t)),
    methods: list<Method>('methods', v.methods!, METHODS),
    seeds: int('seeds', v.seeds!), samples: int('samples', v.samples!, 0), sampleSeeds: int('sample-seeds', v['sample-seeds']!),
    family: v.family?.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    recipe: {
      epochs: int('recipe-epochs', v['recipe-epochs']!), maxSteps: v['recipe-steps'] === undefined ? undefined : int('recipe-steps', v['recipe-steps']),
      batch: int('batch', v.batch!), lr: positive('recipe-lr', v['recipe-lr']!),
    },
    searchBudget: {
      epochs: int('search-epochs', v['search-epochs']!), stepsPerEpoch: v['search-steps'] === undefined ? undefined : int('search-steps', v['search-steps']),
      samples: int('search-samples', v['search-samples']!), evalImages: int('eval-images', v['eval-images']!),
      calibrationBatches: int('calibration-batches', v['calibration-batches']!),
      sampling: list<Sampling>('search-sampling', v['search-sampling']!, SAMPLINGS)[0]!,
    },
    only: list<PieceKind>('only', v.only!, PIECE_KINDS),
    maxHours: v['max-hours'] === undefined ? undefined : positive('max-hours', v['max-hours']),
    backend: list<BackendChoice>('backend', v.backend!, BACKEND_CHOICES)[0]!,
    workers: int('workers', v.workers!),
    say: (line) => process.stderr.write(`${line}\n`),
  };
  if (v.redis !== undefined) {
    const redis = parseRedisUrl(v.redis);
    await checkRedis(redis);
    o.trainer = queueTrainer(redis);
  }
  const h = v['summarize-only'] ? await summarizeOnly(o, v.results) : await runStudy(o);
  console.log(JSON.stringify(h));
}

try {
  await main();
} catch (e) {
  if (!(e instanceof LatnasError)) throw e;
  process.stderr.write(`search-quality: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  await closeRuntimes();
}
