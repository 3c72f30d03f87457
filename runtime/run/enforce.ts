import type { MarketInstance } from '../market/instance.js';
import type { ActionLimits } from './institution.js';

export type ClampCause = 'bounds' | 'capacity' | 'cap' | 'floor' | 'suspend';

export interface Clamp {
  readonly cause: ClampCause;
  readonly before: Float64Array;
  readonly after: Float64Array;
}

/**
 * Makes one firm's action lawful: the market's bounds and capacity, then the institution's
 * cap, floor and suspension. Pure; every change is returned as a clamp, in order.
 */
export function enforce(
  market: MarketInstance,
  firm: number,
  action: Float64Array,
  limits: ActionLimits | undefined,
): { action: Float64Array; clamps: Clamp[] } {
  const P = market.dims.products;
  const clamps: Clamp[] = [];
  let current: Float64Array = Float64Array.from(action);
  // A step that changes nothing allocates nothing (most steps of most rounds): this runs
  // for every firm every round, several steps a firm under an institution.
  const apply = (cause: ClampCause, f: (x: number, j: number) => number) => {
    let next: Float64Array | undefined;
    for (let j = 0; j < current.length; j++) {
      const x = current[j] as number;
      const y = f(x, j);
      // As a change, NaN counts as unequal to itself.
      if (y !== x) {
        next ??= Float64Array.from(current);
        next[j] = y;
      }
    }
    if (next) {
      clamps.push({ cause, before: current, after: next });
      current = next;
    }
  };
  const at = (a: Float64Array, j: number) => a[firm * P + j] ?? Number.NaN;

  apply('bounds', (x, j) => Math.min(at(market.high, j), Math.max(at(market.low, j), x)));
  if (market.capacity.kind === 'per_product') {
    const cap = market.capacity.perEntry;
    apply('capacity', (x, j) => Math.min(x, at(cap, j)));
  } else if (market.capacity.kind === 'total' && market.competition === 'quantity') {
    // Over capacity, every product is scaled down in proportion.
    const limit = market.capacity.perFirm[firm] ?? Number.POSITIVE_INFINITY;
    const sum = current.reduce((a, b) => a + b, 0);
    if (sum > limit) apply('capacity', (x) => (x * limit) / sum);
  }
  if (limits?.cap) {
    const cap = limits.cap;
    apply('cap', (x, j) => (Number.isNaN(cap[j] ?? Number.NaN) ? x : Math.min(x, cap[j] ?? x)));
  }
  if (limits?.floor) {
    const floor = limits.floor;
    apply('floor', (x, j) =>
      Number.isNaN(floor[j] ?? Number.NaN) ? x : Math.max(x, floor[j] ?? x),
    );
  }
  // Suspension is zero production; a price-setting firm is priced out at its upper bound.
  if (limits?.suspend)
    apply('suspend', (_x, j) => (market.competition === 'quantity' ? 0 : at(market.high, j)));
  return { action: current, clamps };
}
