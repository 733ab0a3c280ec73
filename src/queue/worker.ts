/**
 * `latnas worker`'s engine: BullMQ workers on the compute queue (trainings, scorings; --concurrency
 * at a time) and on one queue per device it holds (profiles; one at a time, so two profiles never
 * time each other). Jobs run sandboxed (processor.ts); BullMQ's locks, stalled-job recovery and
 * retries move the job of a dead worker to a live one.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { loadDevice } from '../device/device.js';
import type { RedisTarget } from './connection.js';
import { COMPUTE_QUEUE, deviceQueue, QUEUE_PREFIX, type JobEnvelope } from './jobs.js';
import { openWorkdir } from './paths.js';
import type { ProcessorData } from './processor.js';

export interface WorkerOptions {
  redis: RedisTarget;
  /** Devices this worker profiles on (their device files must load here). */
  devices: string[];
  /** Trainings and scorings at a time; 0 serves device queues only. */
  concurrency: number;
  workdir: string;
  name?: string;
  /**
   * How long a job's lock lasts without renewal: a dead worker's job goes back to the queue
   * about this long after its death (BullMQ's default 30 s; tests use less).
   */
  lockMs?: number;
  say(line: string): void;
}

export interface RunningWorker { name: string; workdir: string; queues: string[]; close(): Promise<void> }

const PROCESSOR = fileURLToPath(new URL('./processor.js', import.meta.url));

/** How many times a job may be orphaned by a dying worker before it counts as failed. */
const MAX_STALLED = 5;

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  // Each device file is loaded now: a typo fails at start, not at the first profile job.
  for (const d of o.devices) loadDevice(d);
  const workdir = openWorkdir(o.workdir);
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const data: ProcessorData = { workdir, devices: o.devices, name };
  if (!existsSync(PROCESSOR)) throw new Error(`the job processor ${PROCESSOR} is missing; run npm run build`);
  const lockDuration = o.lockMs ?? 30_000;
  const queues = [...(o.concurrency > 0 ? [{ queue: COMPUTE_QUEUE, concurrency: o.concurrency }] : []), ...o.devices.map((d) => ({ queue: deviceQueue(d), concurrency: 1 }))];
  let lastError = '';
  const workers = queues.map(({ queue, concurrency }) => {
    const w = new Worker(queue, PROCESSOR, {
      connection: o.redis.options, prefix: QUEUE_PREFIX, concurrency, name,
      useWorkerThreads: true, workerThreadsOptions: { workerData: data },
      lockDuration, stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)), maxStalledCount: MAX_STALLED,
    });
    w.on('completed', (job: Job) => {
      const env = job.returnvalue as JobEnvelope<unknown> | undefined;
      o.say(`${job.id}: done in ${env?.seconds.toFixed(1) ?? '?'} s`);
    });
    w.on('failed', (job: Job | undefined, err: Error) => {
      o.say(`${job?.id ?? 'a job'}: failed (attempt ${job?.attemptsMade ?? '?'}): ${err.message.split('\n')[0]}`);
    });
    w.on('active', (job: Job) => o.say(`${job.id}: started (${job.name})`));
    // While Redis is down ioredis reports every reconnect attempt; say each distinct error once.
    w.on('error', (err: Error) => {
      const line = err.message.split('\n')[0] ?? '';
      if (line !== lastError) o.say(`redis: ${line} (retrying)`);
      lastError = line;
    });
    w.on('ready', () => { lastError = ''; });
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  return {
    name, workdir, queues: queues.map((q) => q.queue),
    // Waits for running jobs to finish (BullMQ's graceful close); a second Ctrl-C kills the process.
    close: async () => { await Promise.all(workers.map((w) => w.close())); },
  };
}
