/**
 * A data-parallel training worker: its own TF.js backend (the coordinator's choice) and replica,
 * driven by the coordinator's commands (protocol.ts). Every worker runs the same steps on its
 * shard of each batch and meets the others in the all-reduce; rank 0 reports each step.
 */
import { parentPort } from 'node:worker_threads';
import { LatnasError } from '../../errors.js';
import { initBackend, type BackendChoice } from '../backend.js';
import { countCorrect, epochSteps, trainStream } from '../epoch.js';
import { Replica } from '../replica.js';
import { AbortedError, AllReduce } from './allreduce.js';
import type { Command, InitMessage, Reply, WorkerTiming } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('src/train/parallel/worker.ts runs as a worker thread');

let init: InitMessage | undefined;
let replica: Replica | undefined;
let reducer: AllReduce | undefined;

const reply = (m: Reply) => port.postMessage(m);

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
        if (rank === 0) reply({ type: 'step', report });
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

port.on('message', (m: InitMessage | Command) => {
  void (async () => {
    try {
      if (m.type === 'init') {
        init = m;
        await initBackend(m.backend as BackendChoice);
        replica = new Replica(m.spec);
        if (replica.reduceLength > m.buffers.length) throw new Error(`replica exchanges ${replica.reduceLength} floats, the buffer holds ${m.buffers.length}`);
        reducer = new AllReduce(m.buffers, m.rank);
        reply({ type: 'ready' });
        return;
      }
      reply({ type: 'done', value: await handle(m) });
    } catch (e) {
      const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      reply({ type: 'error', message, user: e instanceof LatnasError, aborted: e instanceof AbortedError });
    }
  })();
});
