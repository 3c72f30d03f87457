import type { MarketKind } from './ir.js';
import { typeOf, type ValueType } from './types.js';

/**
 * What a market makes observable after each round, by name, for institutions (which see
 * everything) and for firms (which see what the market's `observe` item lists).
 * Prices are per product when firms compete in quantities, per firm and product when
 * they set prices.
 */
export function observablesFor(competition: MarketKind): ReadonlyMap<string, ValueType> {
  return new Map<string, ValueType>([
    ['quantity', typeOf('number', 'firm', 'product')],
    [
      'price',
      competition === 'quantity'
        ? typeOf('number', 'product')
        : typeOf('number', 'firm', 'product'),
    ],
    ['profit', typeOf('number', 'firm')],
    ['revenue', typeOf('number', 'firm')],
    ['unit_cost', typeOf('number', 'firm', 'product')],
    ['share', typeOf('number', 'firm', 'product')],
    ['total', typeOf('number', 'product')],
    ['hhi', typeOf('number', 'product')],
    ['round', typeOf('number')],
    ['n_firms', typeOf('number')],
    ['n_products', typeOf('number')],
    ['messages', typeOf('number', 'firm')],
  ]);
}

/** One-line meanings, for the language reference and the manifest. */
export const observableMeanings: Readonly<Record<string, string>> = {
  quantity: 'units each firm sold of each product this round',
  price: 'the market price of each product (per firm when firms set prices)',
  profit: "each firm's profit this round, before fines and credits",
  revenue: "each firm's revenue this round",
  unit_cost: 'unit cost of each firm for each product',
  share: "each firm's share of each product's total quantity",
  total: 'total quantity of each product',
  hhi: 'Herfindahl–Hirschman index of each product (0–10,000)',
  round: 'the current round number (1-based)',
  n_firms: 'the number of firms',
  n_products: 'the number of products',
  messages:
    'messages each firm sent this round in the talk phase (0 unless the experiment lets the institution read talk)',
};

/** Values every benchmark (`nash`, `collusive`, `competitive`) provides. */
export function benchmarkValuesFor(competition: MarketKind): ReadonlyMap<string, ValueType> {
  const observed = observablesFor(competition);
  const pick = (name: string) => observed.get(name) as ValueType;
  return new Map<string, ValueType>([
    ['quantity', pick('quantity')],
    ['price', pick('price')],
    ['profit', pick('profit')],
    ['total', pick('total')],
    ['hhi', pick('hhi')],
  ]);
}
