/**
 * latnas as a library: `import { loadSpace, search, … } from 'latnas'`. These are the functions
 * the commands call, with their typed options and results, so a script or notebook gets the same
 * checks, files and resumable run folders as the CLI, and bad input is the same one-line
 * `LatnasError` (file, field, fix). Everything else in src/ is internal and may move.
 */

// Search spaces, blocks, architectures.
export { BUILTIN_SPACES, loadSpace, searchableLayers, type SearchableLayer, type Space } from './space/spaces.js';
export { formatBlock, parseBlock, type Block } from './space/blocks.js';
export { archToJson, randomArch, readArchArgument, resolveArch, type ArchJson } from './space/arch.js';
export { networkUnits, type Unit } from './space/network.js';
export { countMacs } from './space/ir.js';

// Devices and their runtimes.
export { listDevices, loadDevice, type Device } from './device/device.js';
export { closeRuntimes, openRuntime, type Runtime, type RuntimeProvenance, type TimedSession } from './device/runtime.js';

// Stage 1: profile a device into a latency table; predict and check with it.
export { profile, type ProfileOptions, type ProfileResult } from './profiler/profile.js';
export { defaultLutPath, loadLut, predict, type LoadLutOptions, type Lut, type Prediction } from './lut/lut.js';
export { lutCheck, type CheckOptions, type CheckResult } from './lut/check.js';

// Stage 2: data, training backends, training, search.
export { DATASET_SPECS, loadDataset } from './datasets/load.js';
export type { Dataset } from './datasets/dataset.js';
export { BACKEND_CHOICES, initBackend, type BackendChoice } from './train/backend.js';
export { train, TRAIN_DEFAULTS, type TrainOptions, type TrainResult } from './train/trainer.js';
export { resolveTarget, search, SEARCH_DEFAULTS, STRATEGIES, type SearchOptions, type SearchResult, type Strategy } from './search/search.js';
export { DNAS_DEFAULTS, type DnasOptions } from './search/strategies/dnas.js';
export { EVOLUTION_DEFAULTS, type EvolutionStrategyOptions } from './search/strategies/evolution.js';

// Stage 3: export a trained run folder.
export {
  EXPORTERS, type Exporter, type ExportFormat, type ExportOptions, type ExportSummary, type OnnxExportOptions, type OnnxExportResult,
} from '../exporters/registry.js';

// All stages in order (`latnas run`), and the report.
export { BUDGETS, runPipeline, type Budget, type PipelineOptions, type PipelineResult } from './pipeline/run.js';
export { writeReport } from './report/report.js';

// Beyond one machine: the job queue on Redis (BullMQ); `latnas worker` is startWorker.
export { checkRedis, parseRedisUrl, redactUrl, type RedisTarget } from './queue/connection.js';
export { Coordinator, withCoordinator, type RunJobsOptions } from './queue/coordinator.js';
export { jobId, type JobEnvelope, type JobSpec, type ProfileJob, type ScoreJob, type TrainJob } from './queue/jobs.js';
export { profileSpec, trainSpec, writeProfiledTable, writeTrainRun } from './queue/specs.js';
export { startWorker, type RunningWorker, type WorkerOptions } from './queue/worker.js';

export { LatnasError } from './errors.js';
