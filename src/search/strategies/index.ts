/**
 * The search strategies by name (`--strategy`), in the order --help lists them. A strategy is one
 * file here implementing SearchStrategy (../strategy.ts); registering it is its line below.
 */
import type { SearchStrategy } from '../strategy.js';
import { dnas } from './dnas.js';
import { evolution } from './evolution.js';
import { random } from './random.js';

export const STRATEGY_REGISTRY = {
  dnas,
  evolution,
  random,
} as const;

export type StrategyName = keyof typeof STRATEGY_REGISTRY;
/** Each strategy's options, by name. */
export type StrategyOptions = { [K in StrategyName]: (typeof STRATEGY_REGISTRY)[K] extends SearchStrategy<infer O> ? O : never };

/** A registered strategy, its options those of any. */
export type RegisteredStrategy = SearchStrategy<StrategyOptions[StrategyName]>;

export const STRATEGY_NAMES = Object.keys(STRATEGY_REGISTRY) as StrategyName[];

export function strategyOf(name: StrategyName): RegisteredStrategy {
  return STRATEGY_REGISTRY[name] as RegisteredStrategy;
}

/** Every strategy's options for `latnas run`'s budget of `samples` archs: its defaults, with what the budget sets. */
export function budgetOptions(samples: number): StrategyOptions {
  const entries = STRATEGY_NAMES.map((n) => {
    const s = strategyOf(n);
    return [n, { ...s.defaults, ...s.forBudget(samples) }];
  });
  return Object.fromEntries(entries) as StrategyOptions;
}
