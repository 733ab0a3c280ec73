/**
 * evolution (SPOS / OFA / MnasNet): the supernet trains along uniformly sampled paths, then aging
 * evolution (../evolution.ts) scores archs by inherited-weight validation accuracy and LUT
 * latency, checkpointing evolution.json after every cycle. With --supernet it starts from another
 * run's trained supernet (OFA: train once, search many targets).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../../errors.js';
import { writeRunFile } from '../../runfolder/files.js';
import { EVOLUTION_FILE, SEARCH_RUN, type Visited } from '../../runfolder/search.js';
import { describeChange } from '../../util/changes.js';
import { progress } from '../../util/progress.js';
import { readJsonFile } from '../../util/validate.js';
import { evolutionSteps, initialState, parseEvolutionState, pathKey, type EvolutionSettings, type EvolutionState } from '../evolution.js';
import { NO_EPOCH_FIELDS, STATELESS, type SearchStrategy } from '../strategy.js';
import { pathSampler } from '../sampling.js';

export type EvolutionStrategyOptions = EvolutionSettings;

/** Real et al.'s aging evolution at the scale of our spaces: 50 + 200 archs scored. */
export const EVOLUTION_DEFAULTS: Readonly<EvolutionStrategyOptions> = {
  population: 50, cycles: 200, sampleSize: 10, mutationProb: 0.1, crossoverProb: 0.5, objective: 'hard',
};

export const evolution: SearchStrategy<EvolutionStrategyOptions> = {
  name: 'evolution',
  summary: 'evolution (SPOS/OFA/MnasNet)',
  defaults: EVOLUTION_DEFAULTS,
  weightShare: 1,
  files: [EVOLUTION_FILE],
  lrOptions: [],
  weightsLabel: '',
  curves: [{ field: 'loss', title: 'supernet loss (CE)' }, { field: 'trainAcc', title: 'train accuracy' }],
  identity: (options, supernetFrom) => ({ evolution: options, supernetFrom: supernetFrom ?? null }),
  // A budget of n archs: a population of 2n (at least 10), 5n children, tournaments of n/2.
  forBudget: (samples) => ({ population: Math.max(10, samples * 2), cycles: samples * 5, sampleSize: Math.max(2, Math.floor(samples / 2)) }),

  start(ctx, ev) {
    const { net, latency, targetMs } = ctx;
    const evolutionPath = join(ctx.out, EVOLUTION_FILE);
    const paths = pathSampler(net, ctx.sampling, ctx.latency);
    return {
      ...STATELESS,
      beginEpoch: () => paths.beginEpoch(),
      weightChoice: (rng) => paths.choice(rng),
      endEpoch: async () => ({ fields: NO_EPOCH_FIELDS, line: '' }),

      async choose(scoring) {
        let state: EvolutionState = initialState(ctx.seed * 3571 + 11);
        const sizes = net.layers.map((l) => l.candidates.length);
        if (ctx.resume && existsSync(evolutionPath)) {
          const data = readJsonFile(evolutionPath, SEARCH_RUN.evolution.what);
          const source = `${SEARCH_RUN.evolution.what} file '${evolutionPath}'`;
          // Older files carry no identity; newer ones must match the settings, as search-state.bin does.
          const saved = (data as { identity?: unknown } | null)?.identity;
          const change = saved && typeof saved === 'object' ? describeChange(saved as Record<string, unknown>, ctx.identity) : '';
          if (change) fail(`cannot resume '${ctx.out}': the search settings changed (${change}); rerun with the original settings or choose another --out`);
          state = parseEvolutionState(data, source, { sizes, population: ev.population, cycles: ev.cycles }, SEARCH_RUN.evolution.expected);
          ctx.say(`search: evolution resumed after cycle ${state.cycle} of ${ev.cycles}`);
        }
        const bar = progress('evolution (archs scored)', ev.population + ev.cycles, ctx.quiet);
        let shown = Math.min(state.population.length, ev.population) + state.cycle;
        bar.increment(shown);
        const steps = evolutionSteps({
          sizes, population: ev.population, cycles: ev.cycles, sampleSize: ev.sampleSize,
          mutationProb: ev.mutationProb, crossoverProb: ev.crossoverProb, objective: ev.objective, targetMs,
          latency: (p) => latency.pathMs(p),
          // With N worker threads, generations of N children scored together; 1: one child per cycle, in this thread.
          generation: scoring.parallel,
          onCycle: (s) => {
            writeRunFile(ctx.out, SEARCH_RUN.evolution, { ...s, identity: ctx.identity });
            const best = s.history.filter((x) => x.latencyMs <= targetMs).reduce((a, b) => (a && a.score >= b.score ? a : b), undefined as typeof s.history[number] | undefined);
            const done = Math.min(s.population.length, ev.population) + s.cycle;
            bar.increment(done - shown, best ? `best ${(100 * best.acc).toFixed(2)}% at ${best.latencyMs.toFixed(4)} ms` : '');
            shown = done;
          },
        }, state);
        let next = steps.next();
        // The scoring yields to the event loop between archs: Ctrl-C keeps working during the evolution.
        while (!next.done) next = steps.next(await scoring.accuracies(next.value));
        const result = next.value;
        bar.stop();
        const visited: Visited[] = result.state.history.map((s) => ({
          blocks: ctx.blocksOf(s.path), path: s.path, latencyMs: s.latencyMs, acc: s.acc, source: s.cycle < 0 ? 'initial population' : `cycle ${s.cycle + 1}`,
        }));
        return { visited, chosen: visited.find((v) => pathKey(v.path) === pathKey(result.best.path))! };
      },

      dispose: () => {},
    };
  },
};
