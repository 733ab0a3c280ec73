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
import * as tf from '@tensorflow/tfjs-core';
import type { Choice, Supernet } from '../../supernet/supernet.js';
import type { SgdMomentum } from '../../train/optim.js';
import { allocateAllReduce } from '../../train/parallel/allreduce.js';
import { shareDataset } from '../../train/parallel/shared-dataset.js';
import { WorkerThreads } from '../../train/parallel/threads.js';
import type { Scoring } from '../strategy.js';
import type { PlainChoice, SearchCommand, SearchInit, WeightEpoch, WeightStepReport } from './protocol.js';
import { loadNetState, netState, type NetState } from './state.js';

/** What every worker gets at the start: SearchInit without the per-worker and shared-memory fields. */
export type PoolSetup = Omit<SearchInit, 'type' | 'rank' | 'workers' | 'backend' | 'buffers'>;

export class SupernetPool {
  private constructor(private readonly threads: WorkerThreads<WeightStepReport>) {}

  get workers(): number {
    return this.threads.workers;
  }

  /** Starts `workers` threads on `backend` (a name initBackend accepts), each building its replica of `net`'s space. */
  static async start(setup: PoolSetup, net: Supernet, workers: number, backend: string): Promise<SupernetPool> {
    // The exchange carries every trainable variable (a mixed step trains them all) and 3 results, or the running statistics.
    const floats = (vars: { size: number }[]) => vars.reduce((s, v) => s + v.size, 0);
    const buffers = allocateAllReduce(workers, Math.max(floats(net.trainableVariables()) + 3, floats(net.runningStatistics())));
    const dataset = shareDataset(setup.dataset);
    const threads = await WorkerThreads.start<WeightStepReport>({
      url: new URL('./worker.js', import.meta.url), workers, buffers, role: 'search worker',
      afterCrash: '; search-state.bin keeps the last finished epoch: rerun with --resume (with --workers 1 if it recurs)',
    }, (rank): SearchInit => ({ ...setup, type: 'init', rank, workers, backend, dataset, buffers }));
    return new SupernetPool(threads);
  }

  /** Gives every replica the coordinator's supernet and momentum. */
  async load(net: Supernet, wOpt: SgdMomentum): Promise<void> {
    const state = netState(net, wOpt);
    await this.threads.all((): SearchCommand => ({ type: 'load', state }));
  }

  /** Runs an epoch's weight steps, calling `onStep` with each step's whole-batch result; stops after a non-finite loss. */
  async weightEpoch(plan: WeightEpoch, onStep: (s: WeightStepReport) => void): Promise<void> {
    await this.threads.all((): SearchCommand => ({ type: 'epoch', plan }), onStep);
  }

  /** Every replica leaves an epoch with the same state: rank 0's becomes the coordinator's. */
  async takeState(net: Supernet, wOpt: SgdMomentum): Promise<void> {
    loadNetState(net, wOpt, (await this.threads.send(0, { type: 'state' } satisfies SearchCommand)) as NetState);
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
            acc[i] = (await this.threads.send(rank, { type: 'score', path: [...paths[i]!] } satisfies SearchCommand)) as number;
            onScored?.(++done, acc[i]!);
          }
        };
        await this.threads.settle(Array.from({ length: this.workers }, (_, rank) => serve(rank)));
        return acc;
      },
    };
  }

  close(): Promise<void> {
    return this.threads.close();
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
  if ('sandwich' in c) return { sandwich: c.sandwich.map((p) => [...p]) };
  if (c.gates) throw new Error('a weight step\'s choice carries gates; only θ steps use them');
  return { path: [...c.path] };
}
