import type { MarketKind } from './ir.js';
import { typeOf, type ValueType } from './types.js';

/**
 * What a market makes observable after each round, each named once here with its type and
 * meaning: the checker types institutions and `observe` items with it, the manifest and
 * the language reference explain it, and the runtime's `marketObservable`
 * (runtime/market/instance.ts) is a record over these names, so a name missing there does
 * not compile. Institutions see everything; firms see what the market's `observe` item
 * lists. Prices are per product when firms compete in quantities, per firm and product
 * when they set prices. `benchmark: true` marks the values every benchmark (`nash`,
 * `collusive`, `competitive`) provides as `BENCHMARK.NAME`.
 */
export const MARKET_OBSERVABLES = {
  quantity: {
    type: () => typeOf('number', 'firm', 'product'),
    meaning: 'units each firm sold of each product this round',
    benchmark: true,
  },
  price: {
    type: (competition: MarketKind) =>
      competition === 'quantity'
        ? typeOf('number', 'product')
        : typeOf('number', 'firm', 'product'),
    meaning: 'the market price of each product (per firm when firms set prices)',
    benchmark: true,
  },
  profit: {
    type: () => typeOf('number', 'firm'),
    meaning: "each firm's profit this round, before fines and credits",
    benchmark: true,
  },
  revenue: { type: () => typeOf('number', 'firm'), meaning: "each firm's revenue this round" },
  unit_cost: {
    type: () => typeOf('number', 'firm', 'product'),
    meaning: 'unit cost of each firm for each product',
  },
  share: {
    type: () => typeOf('number', 'firm', 'product'),
    meaning: "each firm's share of each product's total quantity",
  },
  total: {
    type: () => typeOf('number', 'product'),
    meaning: 'total quantity of each product',
    benchmark: true,
  },
  hhi: {
    type: () => typeOf('number', 'product'),
    meaning: 'Herfindahl–Hirschman index of each product (0–10,000)',
    benchmark: true,
  },
  round: { type: () => typeOf('number'), meaning: 'the current round number (1-based)' },
  n_firms: { type: () => typeOf('number'), meaning: 'the number of firms' },
  n_products: { type: () => typeOf('number'), meaning: 'the number of products' },
  messages: {
    type: () => typeOf('number', 'firm'),
    meaning:
      'messages each firm sent this round in the talk phase (0 unless the experiment lets the institution read talk)',
  },
} as const satisfies Record<
  string,
  { type: (competition: MarketKind) => ValueType; meaning: string; benchmark?: true }
>;

export type MarketObservableName = keyof typeof MARKET_OBSERVABLES;

const entries = Object.entries(MARKET_OBSERVABLES) as [
  MarketObservableName,
  (typeof MARKET_OBSERVABLES)[MarketObservableName],
][];

/** The market's observables by name and type, for a kind of competition. */
export function observablesFor(competition: MarketKind): ReadonlyMap<string, ValueType> {
  return new Map(entries.map(([name, o]) => [name, o.type(competition)]));
}

/** One-line meanings, for the language reference and the manifest. */
export const observableMeanings: Readonly<Record<MarketObservableName, string>> =
  Object.fromEntries(entries.map(([name, o]) => [name, o.meaning])) as Record<
    MarketObservableName,
    string
  >;

/** The names every benchmark provides (`nash.hhi`), in table order. */
export const BENCHMARK_VALUE_NAMES: readonly MarketObservableName[] = entries
  .filter(([, o]) => 'benchmark' in o && o.benchmark)
  .map(([name]) => name);

/** Values every benchmark (`nash`, `collusive`, `competitive`) provides, with their types. */
export function benchmarkValuesFor(competition: MarketKind): ReadonlyMap<string, ValueType> {
  const observed = observablesFor(competition);
  return new Map(BENCHMARK_VALUE_NAMES.map((name) => [name, observed.get(name) as ValueType]));
}
