/**
 * A parallel search's worker thread: its own TF.js backend (the coordinator's choice), a supernet
 * replica and the weights' SgdMomentum, driven by the coordinator's commands (protocol.ts). In
 * an epoch of weight steps every worker runs the same choice on its shard of each batch and
 * meets the others in the all-reduce, so every replica applies the same update; between epochs
 * the coordinator takes rank 0's state. In scoring each worker scores the archs it is sent, with
 * the same scoring code and splits as the in-process search.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchStream } from '../../datasets/batches.js';
import { Supernet, type Choice, type StepResult } from '../../supernet/supernet.js';
import { initBackend, type BackendChoice } from '../../train/backend.js';
import { shardOf } from '../../train/epoch.js';
import { cosineLr, SgdMomentum } from '../../train/optim.js';
import { AllReduce } from '../../train/parallel/allreduce.js';
import { exchangeGradients } from '../../train/parallel/exchange.js';
import { reportStep, serveCommands } from '../../train/parallel/threads.js';
import { averageOverWorkers } from '../../train/replica.js';
import { inheritedScoring } from '../scoring.js';
import type { SearchCommand, SearchInit, WeightEpoch, WeightStepReport } from './protocol.js';
import { loadNetState, netState } from './state.js';

interface Held {
  init: SearchInit;
  net: Supernet;
  wOpt: SgdMomentum;
  reducer: AllReduce;
  scoring: ReturnType<typeof inheritedScoring>;
}

let held: Held | undefined;

/**
 * Sums this shard's gradients (weighted by its share of the batch) and results over the workers,
 * in `vars` order: the gradient of the whole batch's mean loss, the same on every worker.
 */
function reduceStep(reducer: AllReduce, vars: readonly tf.Variable[], share: number) {
  return (grads: tf.NamedTensorMap, shard: StepResult): { grads: tf.NamedTensorMap; result: StepResult } => {
    // Which variables get a gradient depends on the path only, so every worker skips the same ones.
    const present = vars.filter((v) => grads[v.name]);
    const x = exchangeGradients(reducer, present, grads, share, [shard.loss * share, shard.ce * share, shard.hits]);
    return { grads: x.grads, result: { loss: x.results[0]!, ce: x.results[1]!, hits: x.results[2]! } };
  };
}

/** The epoch's weight steps, as search.ts runs them in-process, on this worker's shard of each batch. */
function weightEpoch(h: Held, p: WeightEpoch): void {
  const { init, net, wOpt, reducer } = h;
  const { rank, workers, dataset, norm, wIdx } = init;
  const { h: height, w: width, c } = init.space.input;
  const sample = height * width * c;
  // The stream search.ts makes for this epoch: every worker sees the batches the coordinator would.
  const stream = new BatchStream(dataset, { batchSize: p.batch, norm, seed: init.seed * 1009 + p.epoch, indices: wIdx, dropLast: true, augment: dataset.augment });
  let step = 0;
  for (const b of stream.epoch()) {
    if (step >= p.steps) break;
    const lr = cosineLr(p.lr, p.epoch * p.steps + step, p.totalSteps);
    wOpt.learningRate = lr;
    const plain = p.choices[step]!;
    const choice: Choice = 'mixed' in plain ? { mixed: plain.mixed.map((m) => tf.tensor1d(m)) } : plain;
    // A path (or a sandwich's paths) trains its own weights; mixed weights run (and train) every candidate.
    const vars = net.choiceVariables(choice);
    const { lo, hi } = shardOf(b.size, rank, workers);
    const x = tf.tensor4d(b.x.subarray(lo * sample, hi * sample), [hi - lo, height, width, c]);
    const r = net.step(x, b.y.subarray(lo, hi), () => choice, {
      optimizer: wOpt, vars, weightDecay: p.weightDecay, reduce: reduceStep(reducer, vars, (hi - lo) / b.size),
    });
    if ('mixed' in choice) tf.dispose([...choice.mixed]);
    x.dispose();
    step++;
    if (rank === 0) reportStep<WeightStepReport>({ ...r, size: b.size, lr });
    // Every worker saw the same summed loss: all stop here, and the coordinator fails the search.
    if (!Number.isFinite(r.loss)) return;
  }
  // Running statistics followed each worker's shards (as PyTorch DDP): every replica leaves the epoch with their mean.
  averageOverWorkers(net.runningStatistics(), reducer, workers);
}

async function handle(cmd: SearchCommand): Promise<unknown> {
  const h = held!;
  switch (cmd.type) {
    case 'load':
      return loadNetState(h.net, h.wOpt, cmd.state);
    case 'epoch':
      return weightEpoch(h, cmd.plan);
    case 'state':
      return netState(h.net, h.wOpt);
    case 'score':
      return h.scoring.accuracy(cmd.path);
  }
}

serveCommands<SearchInit, SearchCommand>(async (m) => {
  await initBackend(m.backend as BackendChoice);
  const net = new Supernet(m.space, m.seed);
  held = {
    init: m, net, wOpt: new SgdMomentum(0, m.momentum, true), reducer: new AllReduce(m.buffers, m.rank),
    scoring: inheritedScoring(net, m.dataset, { trainIdx: m.trainIdx, val: m.val }, m.norm, m.scoring),
  };
}, handle);
