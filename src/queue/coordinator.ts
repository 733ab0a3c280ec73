/**
 * The coordinator's side: submit job specs, wait for their results, one progress bar over all of
 * them with per-worker rates. A job's id is its spec's hash, so submitting a finished spec again
 * reuses its result (kept in Redis: removeOnComplete is off); a spec whose job failed for good is
 * retried once more on resubmission.
 *
 * Waiting is event-driven (QueueEvents) with a poll as fallback, and the poll re-adds a job that
 * is missing: if Redis restarted without its data, the run still completes.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import { fail } from '../errors.js';
import { progress } from '../util/progress.js';
import type { RedisTarget } from './connection.js';
import { jobId, JobSpecSchema, QUEUE_PREFIX, queueOf, type JobEnvelope, type JobSpec, type ResultOf } from './jobs.js';
import { firstIssue } from '../util/validate.js';

/** Attempts per job for errors that may pass (a crash, a lost connection); LatnasErrors fail at once. */
export const JOB_ATTEMPTS = 3;
const POLL_MS = 1000;
const EVENTS_KEPT = 100;

export interface Submitted<S extends JobSpec> { spec: S; id: string; index: number }

export interface RunJobsOptions<S extends JobSpec> {
  label: string;
  quiet?: boolean;
  /** Called as each job's result arrives, in completion order (the study appends its record here). */
  onResult?: (s: Submitted<S>, r: JobEnvelope<ResultOf<S>>) => void | Promise<void>;
}

export interface RunUntilOptions<S extends JobSpec> extends RunJobsOptions<S> {
  /**
   * Checked at every scan; once true, no job starts any more: those still waiting are removed
   * from the queue (a later run submits them again) and the run returns when the running ones
   * have finished (a deadline such as the study's --max-hours).
   */
  stop: () => boolean;
}

export class Coordinator {
  private queues = new Map<string, { queue: Queue; events: QueueEvents }>();
  private wake: (() => void) | undefined;
  /** An event arrived since the last scan: scan again at once instead of sleeping. */
  private dirty = false;

  constructor(readonly redis: RedisTarget) {}

  private async open(name: string): Promise<{ queue: Queue; events: QueueEvents }> {
    let q = this.queues.get(name);
    if (!q) {
      q = {
        // BullMQ's event stream copies each result into its 'completed' event (a training's is ~1.2 MB)
        // and keeps 10 000 events by default; here events only wake the coordinator (the poll is the
        // fallback), so a short stream bounds Redis's memory to the results themselves.
        queue: new Queue(name, { connection: this.redis.options, prefix: QUEUE_PREFIX, streams: { events: { maxLen: EVENTS_KEPT } } }),
        events: new QueueEvents(name, { connection: this.redis.options, prefix: QUEUE_PREFIX }),
      };
      // Connection errors are retried by ioredis; the poll below carries the run through them.
      q.queue.on('error', () => {});
      q.events.on('error', () => {});
      const poke = () => { this.dirty = true; this.wake?.(); };
      q.events.on('completed', poke);
      q.events.on('failed', poke);
      this.queues.set(name, q);
      await q.events.waitUntilReady();
    }
    return q;
  }

  /** Adds the job unless it exists (BullMQ ignores a duplicate id); a job that failed for good goes again. */
  private async submit(spec: JobSpec, id: string): Promise<'reused' | 'queued'> {
    const { queue } = await this.open(queueOf(spec));
    const job = await queue.add(spec.kind, spec, {
      jobId: id, attempts: JOB_ATTEMPTS, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false,
    });
    const state = await job.getState();
    if (state === 'failed') await job.retry('failed');
    return state === 'completed' ? 'reused' : 'queued';
  }

  /** Runs every spec on the queue and returns their results in the specs' order. */
  async run<S extends JobSpec>(specs: readonly S[], o: RunJobsOptions<S>): Promise<JobEnvelope<ResultOf<S>>[]> {
    return (await this.runUntil(specs, { ...o, stop: () => false })) as JobEnvelope<ResultOf<S>>[];
  }

  /** As run(), until `o.stop()`: the results in the specs' order, undefined for the jobs it withdrew unstarted. */
  async runUntil<S extends JobSpec>(specs: readonly S[], o: RunUntilOptions<S>): Promise<(JobEnvelope<ResultOf<S>> | undefined)[]> {
    const jobs: Submitted<S>[] = specs.map((spec, index) => {
      const r = JobSpecSchema.safeParse(spec);
      if (!r.success) fail(`${o.label}: job ${index + 1} is not a valid ${spec.kind} job (${firstIssue(r.error)})`);
      return { spec, id: jobId(spec), index };
    });
    const reused = new Set<string>();
    for (const j of jobs) if ((await this.submit(j.spec, j.id)) === 'reused') reused.add(j.id);
    const results: (JobEnvelope<ResultOf<S>> | undefined)[] = jobs.map(() => undefined);
    const pending = new Map(jobs.map((j) => [j.id, j] as const));
    const bar = progress(o.label, jobs.length, o.quiet);
    const started = Date.now();
    const perWorker = new Map<string, number>();
    // Jobs per minute of each worker since this run started; results found finished at submission are counted apart.
    const rates = () => [
      ...[...perWorker].map(([w, n]) => `${w} ${n} (${(n / Math.max((Date.now() - started) / 60_000, 1e-3)).toFixed(1)}/min)`),
      ...(reused.size > 0 ? [`${reused.size} reused`] : []),
    ].join(', ');
    try {
      while (pending.size > 0) {
        this.dirty = false;
        for (const j of [...pending.values()]) {
          const { queue } = await this.open(queueOf(j.spec));
          const job: Job | undefined = await queue.getJob(j.id);
          if (o.stop() && (!job || ['waiting', 'delayed', 'prioritized', 'waiting-children'].includes(await job.getState()))) {
            // Not started: withdrawn (a job a worker takes meanwhile cannot be removed, and is waited for).
            if (!job || (await job.remove().then(() => true, () => false))) { pending.delete(j.id); continue; }
          }
          if (!job) {
            // Redis lost it (restarted without persistence, or flushed): the same spec again.
            await this.submit(j.spec, j.id);
            continue;
          }
          const state = await job.getState();
          if (state === 'completed') {
            // As for 'failed' below: a job read while it ran has no returnvalue in that copy.
            const env = (job.returnvalue ?? (await queue.getJob(j.id))?.returnvalue) as JobEnvelope<ResultOf<S>> | null | undefined;
            if (env === null || env === undefined) {
              // Completed without its result: a restarted Redis kept the state but lost the last
              // writes (seen with bench:queue --faults). Run it again under the same id.
              await job.remove();
              await this.submit(j.spec, j.id);
              continue;
            }
            pending.delete(j.id);
            results[j.index] = env;
            if (!reused.has(j.id)) perWorker.set(env.worker, (perWorker.get(env.worker) ?? 0) + 1);
            await o.onResult?.(j, env);
            bar.increment(1, rates());
          } else if (state === 'failed') {
            // The job was read before getState: under load it can fail in between, and that copy has
            // no failedReason yet ("failed after 0 attempt(s): no reason"). Read it again.
            const failed = (await queue.getJob(j.id)) ?? job;
            fail(`${o.label}: job ${j.id.slice(0, 20)}… (${j.spec.kind}) failed after ${failed.attemptsMade} attempt(s): ${(failed.failedReason ?? 'no reason').split('\n')[0]}`);
          }
        }
        if (pending.size > 0 && !this.dirty) await new Promise<void>((resolve) => { const t = setTimeout(resolve, POLL_MS); this.wake = () => { clearTimeout(t); resolve(); }; });
      }
    } finally {
      this.wake = undefined;
      bar.stop();
    }
    return results;
  }

  async close(): Promise<void> {
    for (const { queue, events } of this.queues.values()) await Promise.all([queue.close(), events.close()]);
    this.queues.clear();
  }
}

/** Opens a coordinator for the run, closing it whatever happens. */
export async function withCoordinator<T>(redis: RedisTarget, work: (c: Coordinator) => Promise<T>): Promise<T> {
  const c = new Coordinator(redis);
  try {
    return await work(c);
  } finally {
    await c.close();
  }
}
