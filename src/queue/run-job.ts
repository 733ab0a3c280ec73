/**
 * Runs one job with the library code the CLI runs (train(), profile(), openSupernet), in its own
 * folder `<workdir>/jobs/<job id>/`. A retried job (its worker died, Redis lost it) resumes there:
 * trainings from their last epoch checkpoint, profiles from their last chunk.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { folderOf, loadFolder, scanFolder } from '../datasets/folder.js';
import { loadDataset } from '../datasets/load.js';
import { isFolderSpec } from '../datasets/open.js';
import type { Dataset } from '../datasets/dataset.js';
import { loadDevice } from '../device/device.js';
import { fail } from '../errors.js';
import { profile } from '../profiler/profile.js';
import { openSupernet } from '../search/scoring.js';
import { resolveArch } from '../space/arch.js';
import { formatShape } from '../space/derive.js';
import { pathOf } from '../space/path.js';
import { loadSpace, type Space } from '../space/spaces.js';
import { initBackend, type BackendChoice } from '../train/backend.js';
import { train } from '../train/trainer.js';
import { writeJsonAtomic } from '../util/files.js';
import { lockFile } from '../util/lock.js';
import { jobId, type FileBundle, type JobSpec, type ProfileJob, type ProfileJobResult, type ScoreJob, type ScoreJobResult, type TrainJob, type TrainJobResult } from './jobs.js';
import { datasetInside, insideWorkdir } from './paths.js';

export interface WorkerContext {
  /** Absolute real path of --workdir. */
  workdir: string;
  /** Device names this worker holds (--devices). */
  devices: readonly string[];
}

/** The space of a payload, through loadSpace's own checks (sizes, candidates) from a file in the job folder. */
function jobSpace(dir: string, space: unknown): Space {
  const file = join(dir, 'job-space.json');
  writeJsonAtomic(file, space);
  return loadSpace(file);
}

// Datasets are loaded once per worker thread: Fashion-MNIST takes about a second to decode.
const datasets = new Map<string, Dataset>();
async function jobDataset(ctx: WorkerContext, spec: string, space: Space, skipBad = false): Promise<Dataset> {
  const path = datasetInside(ctx.workdir, spec);
  const folder = isFolderSpec(path);
  // A folder is decoded to the job's input: the same photos at two sizes are two datasets.
  const key = folder ? `${path}|${formatShape(space.input)}|${skipBad}` : path;
  let d = datasets.get(key);
  if (!d) {
    if (datasets.size >= 2) datasets.clear();
    // The payload's spec, not the resolved path, names the dataset: records and supernet
    // identities then read the same on every worker and on the coordinator.
    d = { ...(folder ? await folderDataset(ctx, path, space, skipBad) : loadDataset(path)), spec };
    datasets.set(key, d);
  }
  return d;
}

/** A folder of images decoded to the job space's input, cached under `<workdir>/image-cache/` (reused by every later job). */
async function folderDataset(ctx: WorkerContext, spec: string, space: Space, skipBad: boolean): Promise<Dataset> {
  const scan = scanFolder(folderOf(spec));
  if (scan.classes.length !== space.classes) {
    fail(`job field 'dataset': the folder '${scan.dir}' on this worker has ${scan.classes.length} classes, the job's space ${space.classes}; copy the coordinator's folder to the worker as it is`);
  }
  return loadFolder(scan, spec, { shape: space.input, cacheDir: join(ctx.workdir, 'image-cache'), skipBad, quiet: true });
}

const backends = new Map<string, string>();
async function jobBackend(choice: BackendChoice): Promise<string> {
  let name = backends.get(choice);
  if (!name) {
    name = (await initBackend(choice)).name;
    backends.set(choice, name);
  }
  return name;
}

function bundle(dir: string): FileBundle {
  const files: FileBundle = {};
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.json') || f.endsWith('.bin')) files[f] = readFileSync(join(dir, f)).toString('base64');
  }
  return files;
}

async function runTrain(ctx: WorkerContext, dir: string, s: TrainJob): Promise<TrainJobResult> {
  const space = jobSpace(dir, s.space);
  const dataset = await jobDataset(ctx, s.dataset, space, s.skipBad);
  const backend = await jobBackend(s.backend);
  const out = join(dir, 'run');
  const r = await train({
    space, blocks: resolveArch(space, s.blocks, 'job field \'blocks\''), dataset, out, ...s.recipe, maxSteps: s.recipe.maxSteps ?? undefined,
    seed: s.seed, resume: true, quiet: true, backend, workers: s.workers,
  });
  const files = bundle(out);
  // The checkpoint is the resumable state, not an artifact: weights.bin holds the result.
  delete files['checkpoint.bin'];
  const last = r.epochs[r.epochs.length - 1];
  return { testAcc: r.testAcc, valAcc: last && Number.isFinite(last.valAcc) ? last.valAcc : null, resumedFrom: r.resumedFrom, workers: r.workers, backend, files };
}

async function runScore(ctx: WorkerContext, dir: string, s: ScoreJob): Promise<ScoreJobResult> {
  const space = jobSpace(dir, s.space);
  const dataset = await jobDataset(ctx, s.dataset, space, s.skipBad);
  await jobBackend(s.backend);
  const scorer = openSupernet(insideWorkdir(ctx.workdir, s.supernet, 'supernet'), { space, dataset, calibrationBatches: s.calibrationBatches, evalImages: s.evalImages });
  try {
    return { valAcc: s.archs.map((a, i) => scorer.accuracy(pathOf(space, resolveArch(space, a, `job field 'archs.${i}'`)))) };
  } finally {
    scorer.dispose();
  }
}

async function runProfile(ctx: WorkerContext, dir: string, s: ProfileJob): Promise<ProfileJobResult> {
  if (!ctx.devices.includes(s.device)) fail(`job field 'device': this worker does not hold '${s.device}' (it holds ${ctx.devices.join(', ') || 'no device'})`);
  const device = loadDevice(s.device);
  const space = jobSpace(dir, s.space);
  const out = join(dir, 'table.json');
  const lock = lockFile(out, 'latency table');
  try {
    const r = await profile({
      device, space, out, resume: true, quiet: true, seed: s.seed, chunk: s.chunk ?? undefined, fitNets: s.fitNets ?? undefined, fitRounds: s.fitRounds ?? undefined,
      plan: { ...(s.rounds !== null ? { rounds: s.rounds } : {}), ...(s.runsPerRound !== null ? { runsPerRound: s.runsPerRound } : {}) },
    });
    return { table: readFileSync(out, 'utf8'), entries: Object.keys(r.lut.entries).length, measured: r.measured, profileSeconds: r.seconds };
  } finally {
    lock.release();
  }
}

/** Runs a parsed spec in `<workdir>/jobs/<id>/`; `id` is the worker's own hash of the payload (jobId), never a payload string. */
export async function runJob(ctx: WorkerContext, spec: JobSpec, id: string = jobId(spec)): Promise<unknown> {
  if (!/^[a-z]+-[0-9a-f]{64}$/.test(id)) throw new Error(`runJob: '${id}' is not a job id`);
  const dir = insideWorkdir(ctx.workdir, join('jobs', id), 'id');
  switch (spec.kind) {
    case 'train': return runTrain(ctx, dir, spec);
    case 'score': return runScore(ctx, dir, spec);
    case 'profile': return runProfile(ctx, dir, spec);
  }
}
