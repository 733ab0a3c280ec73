/**
 * A search over worker threads (`latnas search --workers N`): N workers, each with its own TF.js
 * backend, supernet replica and weights' momentum (worker.ts).
 *
 * - Weight steps are synchronous data-parallel SGD: the coordinator's strategy draws the epoch's
 *   choices up front (they depend only on state fixed during the weight steps: the epoch's rng,
 *   and dnas's θ and τ), every worker runs step s's choice on its shard of batch s, the gradients
 *   are summed through shared memory in a fixed order (src/train/parallel/allreduce.ts), and every
 *   replica applies the same update. The coordinator keeps its own supernet: it sends it to the
 *   workers before an epoch (dnas's θ steps move its BatchNorm statistics) and takes rank 0's
 *   state back after it, so θ steps, search-state.bin and --resume stay the in-process code.
 * - Scoring sends one arch to each free worker; an arch's score depends only on the supernet's
 *   weights and the fixed scoring split (BatchNorm recalibrated from zero for each), so it does
 *   not depend on which worker scores it or in what order.
 *
 * A worker that fails or dies ends the search with one line naming it; the others are woken from
 * the all-reduce and terminated. search-state.bin is written only between epochs, so it stays valid.
 */
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { LatnasError } from '../../errors.js';
import type { Choice, Supernet } from '../../supernet/supernet.js';
import type { SgdMomentum } from '../../train/optim.js';
import { abortAllReduce, allocateAllReduce, type AllReduceBuffers } from '../../train/parallel/allreduce.js';
import { shareDataset } from '../../train/parallel/shared-dataset.js';
import type { Scoring } from '../strategy.js';
import type { PlainChoice, SearchCommand, SearchInit, SearchReply, WeightEpoch, WeightStepReport } from './protocol.js';
import { loadNetState, netState, type NetState } from './state.js';

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** What every worker gets at the start: SearchInit without the per-worker and shared-memory fields. */
export type PoolSetup = Omit<SearchInit, 'type' | 'rank' | 'workers' | 'backend' | 'buffers'>;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onStep?: (s: WeightStepReport) => void;
}

export class SupernetPool {
  private readonly pending = new Map<number, Pending>();
  private failure: LatnasError | undefined;
  private closing = false;

  private constructor(private readonly threads: Worker[], private readonly buffers: AllReduceBuffers) {}

  get workers(): number {
    return this.threads.length;
  }

  /** Starts `workers` threads on `backend` (a name initBackend accepts), each building its replica of `net`'s space. */
  static async start(setup: PoolSetup, net: Supernet, workers: number, backend: string): Promise<SupernetPool> {
    // The exchange carries every trainable variable (a mixed step trains them all) and 3 results, or the running statistics.
    const floats = (vars: { size: number }[]) => vars.reduce((s, v) => s + v.size, 0);
    const buffers = allocateAllReduce(workers, Math.max(floats(net.trainableVariables()) + 3, floats(net.runningStatistics())));
    const dataset = shareDataset(setup.dataset);
    const threads = Array.from({ length: workers }, () => new Worker(WORKER_URL));
    const pool = new SupernetPool(threads, buffers);
    threads.forEach((t, rank) => pool.watch(t, rank));
    try {
      await pool.all((rank): SearchInit => ({ ...setup, type: 'init', rank, workers, backend, dataset, buffers }));
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private watch(t: Worker, rank: number): void {
    t.on('message', (m: SearchReply) => {
      const p = this.pending.get(rank);
      if (!p) return;
      if (m.type === 'step') return p.onStep?.(m.report);
      this.pending.delete(rank);
      if (m.type === 'error') {
        // A worker woken by the abort only echoes another's failure.
        if (!m.aborted) this.fault(rank, m.user ? `: ${m.message}` : ` failed: ${m.message}`, !m.user);
        p.reject(this.failure ?? new LatnasError(`search worker ${rank + 1} of ${this.workers} stopped: ${m.message}`));
      } else {
        p.resolve(m.type === 'done' ? m.value : undefined);
      }
    });
    t.on('error', (e) => this.fault(rank, ` failed: ${e.message.split('\n')[0]}`, true));
    t.on('exit', (code) => {
      if (!this.closing) this.fault(rank, ` exited unexpectedly (exit code ${code})`, true);
    });
  }

  /** The search's first failure: one line for the user; every waiting command fails with it. A crash says what is kept and how to go on. */
  private fault(rank: number, what: string, crash: boolean): void {
    if (!this.failure) {
      const next = crash ? '; search-state.bin keeps the last finished epoch: rerun with --resume (with --workers 1 if it recurs)' : '';
      this.failure = new LatnasError(`search worker ${rank + 1} of ${this.workers}${what}${next}`);
      abortAllReduce(this.buffers);
    }
    for (const [r, p] of this.pending) {
      this.pending.delete(r);
      p.reject(this.failure);
    }
  }

  private send(rank: number, message: SearchCommand | SearchInit, onStep?: (s: WeightStepReport) => void): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(rank, { resolve, reject, onStep });
      this.threads[rank]!.postMessage(message);
    });
  }

  /** Sends every worker its message and waits for all; rejects with the first failure. */
  private async all(message: (rank: number) => SearchCommand | SearchInit, onStep?: (s: WeightStepReport) => void): Promise<unknown[]> {
    const settled = await Promise.allSettled(this.threads.map((_, rank) => this.send(rank, message(rank), rank === 0 ? onStep : undefined)));
    if (this.failure) throw this.failure;
    const rejected = settled.find((s) => s.status === 'rejected');
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
  }

  /** Gives every replica the coordinator's supernet and momentum. */
  async load(net: Supernet, wOpt: SgdMomentum): Promise<void> {
    const state = netState(net, wOpt);
    await this.all(() => ({ type: 'load', state }));
  }

  /** Runs an epoch's weight steps, calling `onStep` with each step's whole-batch result; stops after a non-finite loss. */
  async weightEpoch(plan: WeightEpoch, onStep: (s: WeightStepReport) => void): Promise<void> {
    await this.all(() => ({ type: 'epoch', plan }), onStep);
  }

  /** Every replica leaves an epoch with the same state: rank 0's becomes the coordinator's. */
  async takeState(net: Supernet, wOpt: SgdMomentum): Promise<void> {
    loadNetState(net, wOpt, (await this.send(0, { type: 'state' })) as NetState);
  }

  /** Scoring on the workers, one arch per free worker; `load` the supernet to score first. */
  scoring(): Scoring {
    return {
      parallel: this.workers,
      accuracies: async (paths, onScored) => {
        const acc = new Array<number>(paths.length);
        let next = 0, done = 0;
        const serve = async (rank: number) => {
          while (next < paths.length) {
            const i = next++;
            acc[i] = (await this.send(rank, { type: 'score', path: [...paths[i]!] })) as number;
            onScored?.(++done, acc[i]!);
          }
        };
        const settled = await Promise.allSettled(this.threads.map((_, rank) => serve(rank)));
        if (this.failure) throw this.failure;
        const rejected = settled.find((s) => s.status === 'rejected');
        if (rejected) throw (rejected as PromiseRejectedResult).reason;
        return acc;
      },
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

/**
 * A weight step's choice as data a worker can take: a path, or the mixed weights' values (their
 * tensors disposed). A weight step trains the weights only, so what the mixed weights carry
 * besides their values (θ's gradient) is not needed; gates (θ steps only) are never sent.
 */
export function plainChoice(c: Choice): PlainChoice {
  if ('mixed' in c) {
    const mixed = c.mixed.map((m) => m.dataSync() as Float32Array);
    tf.dispose([...c.mixed]);
    return { mixed };
  }
  if (c.gates) throw new Error('a weight step\'s choice carries gates; only θ steps use them');
  return { path: [...c.path] };
}
