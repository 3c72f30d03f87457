import { describe, expect, it } from 'vitest';
import type { MarketInstance } from '../../../runtime/market/instance.js';
import { enforce } from '../../../runtime/run/enforce.js';

/** Two firms × two products: bounds [0, 50] for firm 0, [0, 40] for firm 1. */
function market(
  capacity: MarketInstance['capacity'] = { kind: 'none' },
  competition: MarketInstance['competition'] = 'quantity',
): MarketInstance {
  return {
    dims: { firms: 2, products: 2 },
    low: Float64Array.from([0, 0, 0, 0]),
    high: Float64Array.from([50, 50, 40, 40]),
    capacity,
    competition,
  } as unknown as MarketInstance;
}

const plain = (clamps: ReturnType<typeof enforce>['clamps']) =>
  clamps.map((c) => ({ cause: c.cause, before: [...c.before], after: [...c.after] }));

describe('enforce', () => {
  it('leaves a lawful action as it is, in a copy, with no clamp', () => {
    const action = Float64Array.from([10, 20]);
    const result = enforce(market(), 0, action, { state: 'ok', suspend: false });
    expect([...result.action]).toEqual([10, 20]);
    expect(result.action).not.toBe(action);
    expect(result.clamps).toEqual([]);
  });

  it("clamps to the firm's own bounds", () => {
    const result = enforce(market(), 1, Float64Array.from([45, -3]), undefined);
    expect([...result.action]).toEqual([40, 0]);
    expect(plain(result.clamps)).toEqual([{ cause: 'bounds', before: [45, -3], after: [40, 0] }]);
  });

  it('scales a firm over its total capacity down in proportion', () => {
    const capped = market({ kind: 'total', perFirm: Float64Array.from([30, 100]) });
    const result = enforce(capped, 0, Float64Array.from([20, 40]), undefined);
    expect([...result.action]).toEqual([10, 20]);
    expect(plain(result.clamps)).toEqual([
      { cause: 'capacity', before: [20, 40], after: [10, 20] },
    ]);
  });

  it("applies an institution's cap and floor entry by entry; NaN entries limit nothing", () => {
    const limits = {
      state: 'warned',
      suspend: false,
      cap: Float64Array.from([15, Number.NaN]),
      floor: Float64Array.from([Number.NaN, 30]),
    };
    const result = enforce(market(), 0, Float64Array.from([60, 20]), limits);
    expect([...result.action]).toEqual([15, 30]);
    // In order, each step starting from the last one's result.
    expect(plain(result.clamps)).toEqual([
      { cause: 'bounds', before: [60, 20], after: [50, 20] },
      { cause: 'cap', before: [50, 20], after: [15, 20] },
      { cause: 'floor', before: [15, 20], after: [15, 30] },
    ]);
  });

  it('suspends: no production, or the upper bound of a price-setting firm', () => {
    const limits = { state: 'suspended', suspend: true };
    const stopped = enforce(market(), 0, Float64Array.from([5, 0]), limits);
    expect([...stopped.action]).toEqual([0, 0]);
    expect(plain(stopped.clamps)).toEqual([{ cause: 'suspend', before: [5, 0], after: [0, 0] }]);
    const priced = enforce(market(undefined, 'price'), 1, Float64Array.from([12, 40]), limits);
    expect([...priced.action]).toEqual([40, 40]);
    expect(plain(priced.clamps)).toEqual([{ cause: 'suspend', before: [12, 40], after: [40, 40] }]);
  });
});
