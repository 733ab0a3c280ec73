/**
 * The worker-thread machinery the trainer's and the search's pools share: starting N workers on
 * one module, one outstanding command per worker, rank 0's step reports relayed, and failure
 * handling. A worker that fails or dies ends the run with one line naming it; the others are
 * woken from the all-reduce (its abort flag) and every waiting command fails with that line.
 * The worker's side is `serveCommands`: its message loop, replying to each command once.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { LatnasError } from '../../errors.js';
import { AbortedError, abortAllReduce, type AllReduceBuffers } from './allreduce.js';

export type ThreadReply<S> =
  | { type: 'ready' }
  | { type: 'step'; report: S }
  | { type: 'done'; value?: unknown }
  /** `user`: a LatnasError (one line for the user), else a bug; `aborted`: it stopped because a peer failed. */
  | { type: 'error'; message: string; user: boolean; aborted: boolean };

interface Pending<S> {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onStep?: (s: S) => void;
}

export interface ThreadsSetup {
  /** The worker module. */
  url: URL;
  workers: number;
  buffers: AllReduceBuffers;
  /** How a worker is named in messages: 'training worker', 'search worker'. */
  role: string;
  /** Appended to a crash's line (not to a worker's own LatnasError): what is kept and how to go on. */
  afterCrash: string;
}

export class WorkerThreads<S> {
  private readonly threads: Worker[];
  private readonly pending = new Map<number, Pending<S>>();
  private failure: LatnasError | undefined;
  private closing = false;

  private constructor(private readonly setup: ThreadsSetup) {
    this.threads = Array.from({ length: setup.workers }, () => new Worker(setup.url));
    this.threads.forEach((t, rank) => this.watch(t, rank));
  }

  /** Starts the workers and sends each its init message; resolves when every one is ready (or closes them all and fails). */
  static async start<S>(setup: ThreadsSetup, init: (rank: number) => unknown): Promise<WorkerThreads<S>> {
    const threads = new WorkerThreads<S>(setup);
    try {
      await threads.all(init);
    } catch (e) {
      await threads.close();
      throw e;
    }
    return threads;
  }

  get workers(): number {
    return this.threads.length;
  }

  private watch(t: Worker, rank: number): void {
    t.on('message', (m: ThreadReply<S>) => {
      const p = this.pending.get(rank);
      if (!p) return;
      if (m.type === 'step') return p.onStep?.(m.report);
      this.pending.delete(rank);
      if (m.type === 'error') {
        // A worker woken by the abort only echoes another's failure.
        if (!m.aborted) this.fault(rank, m.user ? `: ${m.message}` : ` failed: ${m.message}`, !m.user);
        p.reject(this.failure ?? new LatnasError(`${this.setup.role} ${rank + 1} of ${this.workers} stopped: ${m.message}`));
      } else {
        p.resolve(m.type === 'done' ? m.value : undefined);
      }
    });
    t.on('error', (e) => this.fault(rank, ` failed: ${e.message.split('\n')[0]}`, true));
    t.on('exit', (code) => {
      if (!this.closing) this.fault(rank, ` exited unexpectedly (exit code ${code})`, true);
    });
  }

  /** The run's first failure: one line for the user; every waiting command fails with it. */
  private fault(rank: number, what: string, crash: boolean): void {
    if (!this.failure) {
      this.failure = new LatnasError(`${this.setup.role} ${rank + 1} of ${this.workers}${what}${crash ? this.setup.afterCrash : ''}`);
      abortAllReduce(this.setup.buffers);
    }
    for (const [r, p] of this.pending) {
      this.pending.delete(r);
      p.reject(this.failure);
    }
  }

  /** Sends worker `rank` a command; resolves with its reply's value. */
  send(rank: number, message: unknown, onStep?: (s: S) => void): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(rank, { resolve, reject, onStep });
      this.threads[rank]!.postMessage(message);
    });
  }

  /** Waits for every promise; rejects with the run's first failure, else the first rejection. */
  async settle<T>(promises: Promise<T>[]): Promise<T[]> {
    const settled = await Promise.allSettled(promises);
    if (this.failure) throw this.failure;
    const rejected = settled.find((s) => s.status === 'rejected');
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  }

  /** Sends every worker its message and waits for all; rank 0's step reports go to `onStep`. */
  all(message: (rank: number) => unknown, onStep?: (s: S) => void): Promise<unknown[]> {
    return this.settle(this.threads.map((_, rank) => this.send(rank, message(rank), rank === 0 ? onStep : undefined)));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

/**
 * A worker's message loop: the first message is its init (`init` builds its state), each later
 * one a command answered once with `done` and `handle`'s value, or `error` with one line.
 */
export function serveCommands<I, C>(init: (m: I) => Promise<void>, handle: (c: C) => Promise<unknown>): void {
  const port = parentPort;
  if (!port) throw new Error('a parallel worker module runs as a worker thread');
  let started = false;
  port.on('message', (m: I | C) => {
    void (async () => {
      try {
        if (!started) {
          started = true;
          await init(m as I);
          port.postMessage({ type: 'ready' } satisfies ThreadReply<never>);
          return;
        }
        port.postMessage({ type: 'done', value: await handle(m as C) } satisfies ThreadReply<never>);
      } catch (e) {
        const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
        port.postMessage({ type: 'error', message, user: e instanceof LatnasError, aborted: e instanceof AbortedError } satisfies ThreadReply<never>);
      }
    })();
  });
}

/** Posts a step report to the coordinator (rank 0 does, for the progress line). */
export function reportStep<S>(report: S): void {
  parentPort?.postMessage({ type: 'step', report } satisfies ThreadReply<S>);
}
