/**
 * A data-parallel training worker: its own TF.js backend (the coordinator's choice) and replica,
 * driven by the coordinator's commands (protocol.ts). Every worker runs the same steps on its
 * shard of each batch and meets the others in the all-reduce; rank 0 reports each step.
 */
import { initBackend, type BackendChoice } from '../backend.js';
import { countCorrect, epochSteps, trainStream } from '../epoch.js';
import { Replica } from '../replica.js';
import { AllReduce } from './allreduce.js';
import type { Command, InitMessage, WorkerTiming } from './protocol.js';
import { reportStep, serveCommands } from './threads.js';

let init: InitMessage | undefined;
let replica: Replica | undefined;
let reducer: AllReduce | undefined;

async function handle(cmd: Command): Promise<unknown> {
  const { rank, workers, dataset, norm, trainIdx } = init!;
  const r = replica!, red = reducer!;
  switch (cmd.type) {
    case 'restore':
      return r.restore(new Map(cmd.tensors.map((t) => [t.name, t])), cmd.path);
    case 'epoch': {
      const before = { step: r.stepMs, copy: r.copyMs, wait: red.time.waitMs, sum: red.time.sumMs };
      let steps = 0;
      const stream = trainStream(dataset, norm, trainIdx, cmd.plan);
      for (const report of epochSteps(r, stream, cmd.plan, { reducer: red, rank, workers })) {
        steps++;
        if (rank === 0) reportStep(report);
      }
      // Running statistics followed each worker's shards; every replica leaves the epoch with their mean.
      r.averageRunningStatistics(red, workers);
      const timing: WorkerTiming = {
        steps, stepMs: r.stepMs - before.step, copyMs: r.copyMs - before.copy, waitMs: red.time.waitMs - before.wait, sumMs: red.time.sumMs - before.sum,
      };
      return timing;
    }
    case 'accuracy':
      return countCorrect(r, dataset, norm, cmd.split, cmd.indices, rank, workers, cmd.batch);
    case 'state':
      return r.state();
    case 'weights':
      return r.weights();
  }
}

serveCommands<InitMessage, Command>(async (m) => {
  init = m;
  await initBackend(m.backend as BackendChoice);
  replica = new Replica(m.spec);
  reducer = new AllReduce(m.buffers, m.rank);
  if (replica.reduceLength > m.buffers.length) throw new Error(`replica exchanges ${replica.reduceLength} floats, the buffer holds ${m.buffers.length}`);
}, handle);
