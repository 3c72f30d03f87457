import type { Benchmarks } from '../market/benchmarks.js';
import type { MarketInstance } from '../market/instance.js';

/** The three benchmark profiles an agent can aim at. */
export type BenchmarkName = 'nash' | 'collusive' | 'competitive';

/** A copy of `firm`'s row of a firm × product profile. */
export function ownRow(profile: Float64Array, firm: number, products: number): Float64Array {
  return profile.slice(firm * products, (firm + 1) * products);
}

/** A copy of `firm`'s action in a benchmark profile. */
export function benchmarkAction(
  benchmarks: Benchmarks,
  which: BenchmarkName,
  firm: number,
  products: number,
): Float64Array {
  return ownRow(benchmarks[which].action, firm, products);
}

/**
 * The largest action `firm` may take for product `j` on its own: the bound, and in a
 * quantity market the capacity (a per-entry cap, or the firm's whole total capacity).
 */
export function entryUpper(market: MarketInstance, firm: number, j: number): number {
  const k = firm * market.dims.products + j;
  let upper = market.high[k] ?? Infinity;
  if (market.competition === 'quantity') {
    const capacity = market.capacity;
    if (capacity.kind === 'per_product') upper = Math.min(upper, capacity.perEntry[k] ?? Infinity);
    else if (capacity.kind === 'total') upper = Math.min(upper, capacity.perFirm[firm] ?? Infinity);
  }
  return upper;
}

/** The firm's total capacity across products, or Infinity (also in price markets, where it caps no price). */
export function totalCapacity(market: MarketInstance, firm: number): number {
  if (market.competition !== 'quantity' || market.capacity.kind !== 'total') return Infinity;
  return market.capacity.perFirm[firm] ?? Infinity;
}

/**
 * Makes `action` (one firm's row) valid in place and returns it: NaN becomes the lower
 * bound, each entry is clipped to its bounds and per-entry capacity, and an action over a
 * total capacity is shrunk towards the lower bounds until it fits — proportionally, so
 * the firm keeps its product mix. Capacity limits quantities, so it is applied in
 * quantity markets only.
 */
export function makeFeasible(
  market: MarketInstance,
  firm: number,
  action: Float64Array,
): Float64Array {
  const P = market.dims.products;
  for (let j = 0; j < P; j++) {
    const low = market.low[firm * P + j] ?? 0;
    const value = action[j] ?? low;
    action[j] = Number.isNaN(value)
      ? low
      : Math.min(Math.max(value, low), entryUpper(market, firm, j));
  }
  const capacity = totalCapacity(market, firm);
  if (Number.isFinite(capacity)) {
    let total = 0;
    let floor = 0;
    for (let j = 0; j < P; j++) {
      total += action[j] ?? 0;
      floor += market.low[firm * P + j] ?? 0;
    }
    if (total > capacity && total > floor) {
      // If even the lower bounds exceed the capacity the market is contradictory; the
      // lower bounds win, as they are what the market's clearing expects.
      const scale = Math.max(0, capacity - floor) / (total - floor);
      for (let j = 0; j < P; j++) {
        const low = market.low[firm * P + j] ?? 0;
        action[j] = low + ((action[j] ?? low) - low) * scale;
      }
    }
  }
  return action;
}

/**
 * A finite stand-in for an unbounded upper limit (a Cournot firm with no capacity): twice
 * the firm's largest benchmark action for the product, so the range holds every
 * benchmark with room to spare. Never below the lower bound plus one, so the range is
 * never empty.
 */
export function finiteUpper(
  market: MarketInstance,
  benchmarks: Benchmarks,
  firm: number,
  j: number,
): number {
  const upper = entryUpper(market, firm, j);
  if (Number.isFinite(upper)) return upper;
  const k = firm * market.dims.products + j;
  const low = market.low[k] ?? 0;
  let largest = low;
  for (const which of ['nash', 'collusive', 'competitive'] as const) {
    const value = benchmarks[which].action[k] ?? Number.NaN;
    if (Number.isFinite(value)) largest = Math.max(largest, value);
  }
  return Math.max(2 * largest, low + 1);
}
