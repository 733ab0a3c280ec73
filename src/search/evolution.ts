/**
 * Regularised (aging) evolution (Real et al. 2019) over paths of a supernet, as SPOS and OFA run
 * it: tournament selection from the population, mutation and crossover, the oldest member dies.
 * With the hard constraint a child over the budget is rejected and redrawn (OFA); the MnasNet
 * objective scores ACC · (LAT / T)^w instead. Pure of tensors: the caller supplies accuracy and
 * latency, so the loop is testable and its state is plain JSON for checkpoints.
 */
import { fail } from '../errors.js';
import { EvolutionFileSchema, type EvolutionFile, type Scored } from '../runfolder/search.js';
import { Rng } from '../util/rng.js';
import { firstIssue } from '../util/validate.js';
import { reward, type EvolutionObjective } from './objective.js';

/** An arch scored: its path, LUT latency, accuracy, score, and the cycle it was born in (-1: the initial population). */
export type { Scored } from '../runfolder/search.js';

/** The population, the history, the cycles done and the generator's state: what evolution.json holds (src/runfolder/search.ts). */
export type EvolutionState = Omit<EvolutionFile, 'identity'>;

/** The evolution's knobs, as `latnas search` takes them (the strategy's options, strategies/evolution.ts). */
export interface EvolutionSettings {
  population: number;
  /** Children evaluated. */
  cycles: number;
  /** Tournament size. */
  sampleSize: number;
  /** Per-layer probability of redrawing a layer's candidate. */
  mutationProb: number;
  /** Probability that a child comes from crossing the two best of the tournament. */
  crossoverProb: number;
  /** hard: LAT ≤ T (OFA); mnas: ACC · (LAT / T)^-0.07. */
  objective: EvolutionObjective;
}

export interface EvolutionOptions extends EvolutionSettings {
  /** Candidates per layer. */
  sizes: readonly number[];
  targetMs: number;
  latency: (path: readonly number[]) => number;
  accuracy: (path: readonly number[]) => number;
  /**
   * Children bred from one population before any of them is scored, so they can be scored
   * together (one per worker thread); they then join in order, each pushing out the oldest.
   * 1 (the default) is Real et al.'s serial aging evolution. The initial population is the same
   * for any value (its draws use no score), the children are not.
   */
  generation?: number;
  /** Called after the initial population and after every generation (checkpoints, progress). */
  onCycle?: (state: EvolutionState) => void;
  /** Redraws of a child over the budget before it is repaired instead; default 100. */
  maxTries?: number;
}

/** What the evolution asks to be scored when it pauses: distinct archs never scored before; it resumes with their accuracies. */
export type ScoreRequest = number[][];

export const pathKey = (p: readonly number[]): string => p.join(',');

export function initialState(seed: number): EvolutionState {
  return { population: [], history: [], cycle: 0, rng: new Rng(seed).snapshot() };
}

export function runEvolution(o: EvolutionOptions, state: EvolutionState): { state: EvolutionState; best: Scored } {
  const steps = evolutionSteps(o, state);
  let next = steps.next();
  while (!next.done) next = steps.next(next.value.map(o.accuracy));
  return next.value;
}

/**
 * The evolution as a generator that pauses whenever archs need scoring: it yields them, and the
 * caller resumes it with their accuracies (`next(accuracies)`), so an async caller can score them
 * in parallel and let the event loop run meanwhile (signals, progress) while the loop stays sync.
 */
export function* evolutionSteps(o: Omit<EvolutionOptions, 'accuracy'>, state: EvolutionState): Generator<ScoreRequest, { state: EvolutionState; best: Scored }, number[]> {
  if (o.sampleSize < 1 || o.sampleSize > o.population) fail(`evolution: sample size ${o.sampleSize} must be between 1 and the population ${o.population}`);
  const generation = o.generation ?? 1;
  if (!Number.isInteger(generation) || generation < 1) throw new Error(`evolution: generation ${generation} must be a positive integer`);
  const hard = o.objective === 'hard';
  const rng = new Rng(state.rng);
  const known = new Map(state.history.map((s) => [pathKey(s.path), s]));
  const fits = (p: readonly number[]) => !hard || o.latency(p) <= o.targetMs;
  /** Accuracies of the archs just scored, until `score` files them. */
  const fresh = new Map<string, number>();

  /** Has the archs of `paths` not scored yet scored (each once). */
  function* scoreNew(paths: readonly number[][]): Generator<ScoreRequest, void, number[]> {
    const wanted = [...new Map(paths.filter((p) => !known.has(pathKey(p))).map((p) => [pathKey(p), p])).values()];
    if (wanted.length === 0) return;
    const acc = yield wanted;
    wanted.forEach((p, i) => fresh.set(pathKey(p), acc[i]!));
  }
  const score = (path: number[], cycle: number): Scored => {
    const seen = known.get(pathKey(path));
    if (seen) return { ...seen, cycle };
    const latencyMs = o.latency(path);
    const acc = fresh.get(pathKey(path))!;
    fresh.delete(pathKey(path));
    const s: Scored = { path, latencyMs, acc, score: reward(o.objective, acc, latencyMs, o.targetMs), cycle };
    known.set(pathKey(path), s);
    state.history.push(s);
    return s;
  };
  /** Swaps random layers to cheaper candidates until the path fits: always ends, at worst at the fastest path. */
  const repair = (path: number[]): number[] => {
    while (!fits(path)) {
      const now = o.latency(path);
      const moves: [number, number][] = [];
      o.sizes.forEach((n, l) => {
        for (let i = 0; i < n; i++) { const p = path.slice(); p[l] = i; if (o.latency(p) < now) moves.push([l, i]); }
      });
      if (moves.length === 0) fail(`evolution: no architecture meets the target ${o.targetMs} ms`);
      const [l, i] = rng.pick(moves);
      path[l] = i;
    }
    return path;
  };
  const draw = (make: () => number[]): number[] => {
    for (let t = 0; t < (o.maxTries ?? 100); t++) {
      const p = make();
      if (fits(p)) return p;
    }
    return repair(make());
  };

  /** A child of a tournament among the current population. */
  const breed = (): number[] => {
    const tournament = rng.shuffle([...state.population.keys()]).slice(0, o.sampleSize).map((i) => state.population[i]!);
    // NaN scores sort last: a comparator returning NaN would leave the order undefined.
    tournament.sort((a, b) => scoreKey(b) - scoreKey(a) || 0);
    const [first, second] = [tournament[0]!, tournament[1] ?? tournament[0]!];
    return draw(() => {
      const p = rng.next() < o.crossoverProb ? first.path.map((v, l) => (rng.next() < 0.5 ? v : second.path[l]!)) : first.path.slice();
      for (let l = 0; l < p.length; l++) if (rng.next() < o.mutationProb) p[l] = rng.int(o.sizes[l]!);
      // A child equal to its parent teaches nothing: force one change.
      if (pathKey(p) === pathKey(first.path)) {
        const l = rng.int(p.length);
        if (o.sizes[l]! > 1) p[l] = (p[l]! + 1 + rng.int(o.sizes[l]! - 1)) % o.sizes[l]!;
      }
      return p;
    });
  };

  while (state.population.length < o.population) {
    const members = Array.from({ length: Math.min(generation, o.population - state.population.length) }, () => draw(() => o.sizes.map((n) => rng.int(n))));
    yield* scoreNew(members);
    for (const m of members) state.population.push(score(m, -1));
    state.rng = rng.snapshot();
    if (state.population.length === o.population) o.onCycle?.(state);
  }
  while (state.cycle < o.cycles) {
    const children = Array.from({ length: Math.min(generation, o.cycles - state.cycle) }, breed);
    yield* scoreNew(children);
    for (const child of children) {
      state.population.push(score(child, state.cycle));
      state.population.shift();
      state.cycle++;
    }
    // Saved only between generations: the generator's state then matches the cycles done.
    state.rng = rng.snapshot();
    o.onCycle?.(state);
  }
  return { state, best: bestOf(state.history, o.objective === 'hard' || state.history.some((s) => s.latencyMs <= o.targetMs) ? o.targetMs : Infinity) };
}

/** Highest score among those within the budget (`limitMs`). */
export function bestOf(history: readonly Scored[], limitMs: number): Scored {
  const ok = history.filter((s) => s.latencyMs <= limitMs);
  if (ok.length === 0) fail('evolution evaluated no architecture within the target');
  return ok.reduce((a, b) => (scoreKey(b) > scoreKey(a) ? b : a));
}

/** A score to compare: a non-finite one (NaN accuracy or latency) ranks below every real score. */
function scoreKey(s: Scored): number {
  return Number.isFinite(s.score) ? s.score : -Infinity;
}

/**
 * Checks state read back from an evolution checkpoint against the schema and against the run it
 * resumes: cycles and population within the run's, every path one valid candidate per layer.
 * Fails with one line naming `source`, the field and `fix`.
 */
export function parseEvolutionState(data: unknown, source: string, o: Pick<EvolutionOptions, 'sizes' | 'population' | 'cycles'>, fix: string): EvolutionState {
  const r = EvolutionFileSchema.safeParse(data);
  if (!r.success) fail(`${source}: ${firstIssue(r.error)}; ${fix}`);
  const s = r.data;
  const bad = (field: string, why: string): never => fail(`${source}: field '${field}' ${why}; ${fix}`);
  if (s.cycle > o.cycles) bad('cycle', `is ${s.cycle}, but this search runs ${o.cycles} cycles`);
  if (s.population.length > o.population) bad('population', `has ${s.population.length} members, more than the population size ${o.population}`);
  if (s.cycle > 0 && s.population.length !== o.population) bad('population', `has ${s.population.length} members after ${s.cycle} cycles; a started evolution keeps all ${o.population}`);
  if (s.history.length < new Set(s.population.map((m) => pathKey(m.path))).size) bad('history', `has ${s.history.length} archs, fewer than the population it scored`);
  for (const [field, list] of [['population', s.population], ['history', s.history]] as const) {
    list.forEach((m, i) => {
      if (m.path.length !== o.sizes.length) bad(`${field}.${i}.path`, `has ${m.path.length} layers, but the space has ${o.sizes.length}`);
      const l = m.path.findIndex((c, layer) => c >= o.sizes[layer]!);
      if (l >= 0) bad(`${field}.${i}.path.${l}`, `is candidate ${m.path[l]}, but layer ${l} has ${o.sizes[l]} candidates`);
      if (m.cycle >= s.cycle) bad(`${field}.${i}.cycle`, `is ${m.cycle}, but only ${s.cycle} cycles are done`);
    });
  }
  return { population: s.population, history: s.history, cycle: s.cycle, rng: s.rng };
}
