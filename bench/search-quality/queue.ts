/**
 * bench:search-quality --redis URL: the study's train pieces fanned out on the job queue
 * (src/queue/), all submitted at once, one progress bar over them. Each finished training's
 * files are written atomically into the piece's run folder under --work, and its record is
 * appended as the local trainer appends it; a rerun resubmits the unrecorded pieces, and those
 * finished meanwhile come straight back from Redis (job ids are the specs' hashes).
 *
 * The dataset spec goes to the workers as given: a built-in name, or idx:/cifar10: with a folder
 * relative to the workers' --workdir (and to this process's working folder, for the searches).
 */
import type { RedisTarget } from '../../src/queue/connection.js';
import { withCoordinator } from '../../src/queue/coordinator.js';
import { trainSpec, writeTrainRun } from '../../src/queue/specs.js';
import type { StudyTrainer } from './study.js';

export function queueTrainer(redis: RedisTarget): StudyTrainer {
  return async (pieces, c, done) => {
    if (pieces.length === 0 || !c.go()) return;
    const specs = pieces.map((p) => trainSpec({
      space: c.space, blocks: p.blocks, dataset: c.dataset.spec, seed: p.seed, backend: c.backend, workers: c.workers,
      epochs: c.recipe.epochs, batch: c.recipe.batch, lr: c.recipe.lr, maxSteps: c.recipe.maxSteps,
    }));
    c.say(`train: ${specs.length} trainings on the queue at ${redis.shown}`);
    // --max-hours: once it passes, the trainings not yet started are withdrawn, the running ones recorded.
    await withCoordinator(redis, (co) => co.runUntil(specs, {
      label: 'train', stop: () => !c.go(),
      onResult: (s, env) => {
        const p = pieces[s.index]!;
        writeTrainRun(p.out, env.result);
        done(p, { testAcc: env.result.testAcc, resumedFrom: env.result.resumedFrom, workers: env.result.workers, backend: env.result.backend, seconds: env.seconds });
      },
    }));
  };
}
