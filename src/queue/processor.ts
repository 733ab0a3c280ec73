/**
 * The worker's job processor, run by BullMQ in a sandbox (a worker thread per concurrency slot):
 * a training blocks its thread for minutes, and in the worker's main thread it would starve
 * BullMQ's lock renewal, so healthy jobs would look stalled and run twice. The thread dies with
 * the worker process, so a SIGKILLed worker leaves nothing running; its job's lock expires and
 * another worker's stalled-job check puts it back in the queue.
 *
 * Errors that another attempt cannot fix (a malformed payload, a path outside the workdir, any
 * LatnasError: bad arch, batch too large, diverged loss) fail the job at once with one line
 * (BullMQ's UnrecoverableError, matched by name across the thread boundary); anything else is
 * retried up to the job's `attempts`.
 */
import { workerData } from 'node:worker_threads';
import { LatnasError } from '../errors.js';
import { jobId, parseJob, type JobEnvelope, type JobSpec } from './jobs.js';
import { runJob, type WorkerContext } from './run-job.js';

export interface ProcessorData extends WorkerContext { name: string }

interface SandboxedJob { id?: string; data: unknown }

function unrecoverable(message: string): Error {
  const e = new Error(message.split('\n')[0]);
  e.name = 'UnrecoverableError';
  return e;
}

export default async function processJob(job: SandboxedJob): Promise<JobEnvelope<unknown>> {
  const ctx = workerData as ProcessorData;
  const parsed = parseJob(job.data);
  if (!parsed.ok) throw unrecoverable(parsed.error);
  // The id names the job's folder and is what coordinators look results up by: a payload filed
  // under another spec's id would hand that spec a wrong result. Hashed as received (the
  // coordinator hashed the same JSON), not as parsed: a schema default would change the hash.
  const id = jobId(job.data as JobSpec);
  if (job.id !== id) throw unrecoverable(`malformed job: its id '${job.id}' is not the hash of its spec (${id}); submit it through latnas`);
  const started = Date.now();
  try {
    const result = await runJob(ctx, parsed.spec, id);
    return { worker: ctx.name, seconds: (Date.now() - started) / 1000, result };
  } catch (e) {
    if (e instanceof LatnasError) throw unrecoverable(e.message);
    throw e;
  }
}
