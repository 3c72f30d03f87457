import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSources, type ParamValue } from '../../../compiler/index.js';
import {
  type BenchmarkResult,
  bestDeviation,
  checkEquilibrium,
  computeBenchmarks,
  GAIN_TOLERANCE,
  instantiateMarket,
  type MarketInstance,
  stdlibSources,
} from '../../../runtime/index.js';
// The numeric solvers inside computeBenchmarks, checked against the closed forms.
import {
  linearDemand,
  numericCollusive,
  numericCompetitive,
  numericNash,
} from '../../../runtime/market/benchmarks.js';

/**
 * Expected values are worked out here from the textbook conditions (first-order
 * conditions, merit order, logit markups), never copied from the module's output.
 */

// Inverse demand P = A·exp(-Q/S): not linear, so every benchmark takes the numeric path.
const EXPONENTIAL = `mase 1
market exponential "Cournot with exponential inverse demand" {
  param firms = 3 "number of firms"
  param costs: per firm = 10 "unit cost of each firm"
  param level = 100 "price at zero output"
  param spread = 50 "output over which the price falls by a factor e"

  firms = firms
  cost = costs
  action quantity in [0, inf]
  price = level * exp(-sum(quantity, over: firm) / spread)
  observe price
}
`;

/** Markets of test/support/markets: Bertrand–Edgeworth and Bertrand on whole-number prices. */
const fixture = (name: string) => ({
  path: `test/support/markets/${name}`,
  text: readFileSync(new URL(`../../support/markets/${name}`, import.meta.url), 'utf8'),
});

const markets = [
  ...compileSources(stdlibSources()).program.markets,
  ...compileSources([{ path: 'test/exponential.mase', text: EXPONENTIAL }]).program.markets,
  ...compileSources([fixture('bertrand-edgeworth.mase'), fixture('bertrand-ticks.mase')]).program
    .markets,
];

function market(name: string, overrides: Record<string, ParamValue> = {}): MarketInstance {
  const ir = markets.find((m) => m.name === name);
  if (!ir) throw new Error(`no market ${name}`);
  return instantiateMarket(ir, overrides);
}

function close(actual: ArrayLike<number>, expected: readonly number[], digits = 9): void {
  expect(Array.from(actual)).toEqual(expected.map((e) => expect.closeTo(e, digits)));
}

const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
const industry = (r: BenchmarkResult) => sum(r.outcome.profit);

/** Firm i's profit when it alone deviates to `action` (one entry per product). */
function deviationProfit(m: MarketInstance, profile: Float64Array, i: number, action: number[]) {
  const x = Float64Array.from(profile);
  action.forEach((v, p) => {
    x[i * m.dims.products + p] = v;
  });
  return m.clear(x).profit[i] ?? Number.NaN;
}

/** Cournot–Nash of N firms with linear demand and interior quantities: q_i = (a − N c_i + Σ_{j≠i} c_j)/(b(N+1)). */
function interiorNash(a: number, b: number, costs: readonly number[]): number[] {
  const n = costs.length;
  const total = sum(costs);
  return costs.map((c) => (a - n * c + (total - c)) / (b * (n + 1)));
}

describe('linearDemand', () => {
  it('reads the intercept and slope of each product', () => {
    const single = linearDemand(market('cournot', { intercept: 120, slope: 2 }));
    close(single?.intercept ?? [], [120]);
    close(single?.slope ?? [], [2]);
    const twoByTwo = linearDemand(market('cournot_2x2'));
    close(twoByTwo?.intercept ?? [], [100, 100]);
    close(twoByTwo?.slope ?? [], [0.5, 0.5]);
  });

  it('refuses non-linear demand and price competition', () => {
    expect(linearDemand(market('exponential'))).toBeUndefined();
    expect(linearDemand(market('bertrand_logit'))).toBeUndefined();
  });
});

describe('linear Cournot closed forms', () => {
  it.each([
    { a: 100, b: 1, costs: [10, 20, 30] },
    { a: 150, b: 2, costs: [5, 15, 25, 30] },
    { a: 60, b: 0.5, costs: [12, 12] },
  ])('Nash with unequal costs: a=$a b=$b costs $costs', ({ a, b, costs }) => {
    const m = market('cournot', { firms: costs.length, intercept: a, slope: b, costs });
    const { nash } = computeBenchmarks(m);
    const q = interiorNash(a, b, costs);
    expect(nash.method).toBe('closed-form');
    close(nash.action, q);
    close(nash.outcome.price, [a - b * sum(q)]);
    close(nash.outcome.quantity, Array.from(m.clear(nash.action).quantity));
    close(nash.outcome.profit, Array.from(m.clear(nash.action).profit));
  });

  it('a firm whose interior quantity is negative produces nothing', () => {
    const m = market('cournot', { firms: 3, costs: [10, 10, 80] });
    // The three-firm formula gives firm 3 (100 − 240 + 20)/4 < 0; without it, a duopoly.
    expect(interiorNash(100, 1, [10, 10, 80])[2]).toBeLessThan(0);
    const duopoly = (100 - 10) / 3;
    const { nash } = computeBenchmarks(m);
    close(nash.action, [duopoly, duopoly, 0]);
    // At that price firm 3 would lose money on any output.
    expect(nash.outcome.price[0]).toBeLessThan(80);
  });

  it('a firm at capacity stays there and the others best-respond to it', () => {
    const m = market('cournot', { firms: 3, costs: 10, capacity: [10, Infinity, Infinity] });
    // Firms 2 and 3 share the residual demand 100 − 10 − Q' as a symmetric duopoly.
    const rest = (100 - 10 - 10) / 3;
    const { nash } = computeBenchmarks(m);
    expect(nash.method).toBe('closed-form');
    close(nash.action, [10, rest, rest]);
    // Firm 1 would like more than its capacity: its unconstrained best response.
    expect((100 - 10 - 2 * rest) / 2).toBeGreaterThan(10);
  });

  it('cournot_2x2: Nash per product, market division, competitive supply', () => {
    const m = market('cournot_2x2');
    const { nash, collusive, competitive } = computeBenchmarks(m);
    const a = 100;
    const b = 0.5;
    // Each product is a duopoly with costs 40 (the cheap firm) and 50.
    const cheap = (a - 2 * 40 + 50) / (3 * b);
    const dear = (a - 2 * 50 + 40) / (3 * b);
    expect(cheap).toBeCloseTo(46.67, 2);
    expect(dear).toBeCloseTo(26.67, 2);
    expect(nash.method).toBe('closed-form');
    close(nash.action, [cheap, dear, dear, cheap]);
    close(nash.outcome.price, [a - b * (cheap + dear), a - b * (cheap + dear)]);
    expect(nash.outcome.price[0]).toBeCloseTo(63.33, 2);

    // Each firm is a monopolist on its cheap product: Q = (a − c)/2b = 60, price 70.
    expect(collusive.method).toBe('closed-form');
    close(collusive.action, [60, 0, 0, 60]);
    close(collusive.outcome.price, [70, 70]);
    close(collusive.outcome.profit, [1800, 1800]);

    // Price-taking: the cheap firm would supply (a − 40)/b = 120 but its capacity is 100;
    // the price P(100) = 50 then equals the other firm's cost, which adds nothing.
    expect(competitive.method).toBe('closed-form');
    close(competitive.action, [100, 0, 0, 100]);
    close(competitive.outcome.price, [50, 50]);
    close(competitive.outcome.profit, [1000, 1000]);
  });

  it('joint optimum: the cheapest firms fill their capacity, the next fills to (a − c)/2b', () => {
    const one = computeBenchmarks(
      market('cournot', { firms: 3, costs: [10, 20, 30], capacity: [30, Infinity, Infinity] }),
    ).collusive;
    // Monopoly output for cost 10 is 45 > 30; firm 2 fills to (100 − 20)/2 = 40.
    close(one.action, [30, 40 - 30, 0]);
    close(one.outcome.price, [60]);
    // Marginal revenue at 40 is 20 < 30, so firm 3 stays out.
    expect(100 - 2 * 40).toBeLessThan(30);

    const two = computeBenchmarks(
      market('cournot', { firms: 3, costs: [10, 20, 30], capacity: [10, 10, Infinity] }),
    ).collusive;
    // Both cheaper firms at capacity (total 20 < 40); firm 3 fills to (100 − 30)/2 = 35.
    close(two.action, [10, 10, 35 - 20]);
  });

  it('firms with equal costs share the joint optimum and the competitive output equally', () => {
    const equal = computeBenchmarks(market('cournot', { firms: 3, costs: 10 }));
    close(equal.collusive.action, [15, 15, 15]); // (100 − 10)/2 = 45
    close(equal.competitive.action, [30, 30, 30]); // (100 − 10)/1 = 90
    const capped = computeBenchmarks(
      market('cournot', { firms: 3, costs: 10, capacity: [5, Infinity, Infinity] }),
    );
    close(capped.collusive.action, [5, 20, 20]);
    close(capped.competitive.action, [5, 42.5, 42.5]);
  });

  it('with a capacity binding only in the competitive outcome, it can out-earn Nash', () => {
    const m = market('cournot', { firms: 2, costs: [10, 40], capacity: [60, Infinity] });
    const { nash, collusive, competitive } = computeBenchmarks(m);
    // Nash is interior: (100 − 20 + 40)/3 = 40 and (100 − 80 + 10)/3 = 10, price 50.
    close(nash.action, interiorNash(100, 1, [10, 40]));
    expect(industry(nash)).toBeCloseTo(40 * 40 + 10 * 10, 9);
    // Price-taking: firm 1 supplies its capacity 60, where P = 40 meets firm 2's cost, so
    // firm 2 stays out and firm 1 earns a scarcity rent of 30 a unit: 1800 > 1700.
    close(competitive.action, [60, 0]);
    expect(industry(competitive)).toBeCloseTo(60 * 30, 9);
    expect(industry(competitive)).toBeGreaterThan(industry(nash));
    // Monopoly output (100 − 10)/2 = 45 for the cheap firm.
    close(collusive.action, [45, 0]);
    expect(industry(collusive)).toBeCloseTo(45 * 45, 9);
  });

  it('competitive: the cheapest supply until the price meets the next cost', () => {
    const m = market('cournot', {
      firms: 3,
      costs: [10, 20, 30],
      capacity: [20, Infinity, Infinity],
    });
    const { competitive } = computeBenchmarks(m);
    // P(20) = 80 > 20, so firm 2 supplies until P = 20: Q = 80. Firm 3 (cost 30) stays out.
    expect(competitive.method).toBe('closed-form');
    close(competitive.action, [20, 60, 0]);
    close(competitive.outcome.price, [20]);
  });
});

describe('numeric methods', () => {
  const cases: Record<string, ParamValue>[] = [
    { firms: 2, costs: [10, 20] },
    { firms: 3, costs: [10, 20, 30] },
    { firms: 3, costs: [10, 10, 80] },
    { firms: 5, costs: [10, 12, 20, 30, 35], capacity: [10, 100, 100, 5, 100] },
    { firms: 4, intercept: 150, slope: 2, costs: [5, 15, 25, 30], capacity: [30, 12, 9, 4] },
  ];

  it.each(cases)('agree with the closed forms on linear Cournot: %j', (overrides) => {
    const m = market('cournot', overrides);
    const closed = computeBenchmarks(m);
    const nash = numericNash(m);
    expect(nash.method).toBe('numeric');
    expect(nash.converged).toBe(true);
    close(nash.action, Array.from(closed.nash.action), 6);
    const collusive = numericCollusive(m);
    expect(collusive.converged).toBe(true);
    expect(industry(collusive)).toBeCloseTo(industry(closed.collusive), 6);
    close(collusive.outcome.total, Array.from(closed.collusive.outcome.total), 6);
    const competitive = numericCompetitive(m);
    close(competitive.outcome.price, Array.from(closed.competitive.outcome.price), 6);
    close(competitive.outcome.total, Array.from(closed.competitive.outcome.total), 6);
  });

  it('agree with the closed forms on cournot_2x2', () => {
    const m = market('cournot_2x2');
    const closed = computeBenchmarks(m);
    close(numericNash(m).action, Array.from(closed.nash.action), 6);
    close(numericCollusive(m).action, [60, 0, 0, 60], 6);
    close(numericCompetitive(m).action, [100, 0, 0, 100], 6);
  });

  it('handle a binding capacity across products', () => {
    const m = market('cournot_2x2', { capacity: 50 });
    const { nash, collusive, competitive } = computeBenchmarks(m);
    // Firm 1 against (15, 35) maximises qA(52.5 − qA/2) + qB(32.5 − qB/2) with qA + qB = 50:
    // equal marginals 52.5 − qA = 32.5 − qB give (35, 15), and by symmetry firm 2 plays
    // (15, 35); prices 100 − 50/2 = 75. Unconstrained it would want 52.5 + 32.5 > 50.
    expect(nash.method).toBe('numeric');
    close(nash.action, [35, 15, 15, 35], 6);
    close(nash.outcome.price, [75, 75], 6);
    // Joint optimum: each firm puts its whole capacity in its cheap product (marginal
    // revenue 100 − 50 = 50 there, so nothing is gained by moving a unit).
    close(collusive.action, [50, 0, 0, 50], 6);
    close(collusive.outcome.profit, [1750, 1750], 6);
    // Price-taking firms do the same: margins 35 vs 25 at prices 75.
    expect(competitive.method).toBe('numeric');
    close(competitive.action, [50, 0, 0, 50], 6);
    for (const r of [nash, collusive, competitive]) {
      const [f1a = 0, f1b = 0, f2a = 0, f2b = 0] = r.action;
      expect(f1a + f1b).toBeLessThanOrEqual(50 + 1e-9);
      expect(f2a + f2b).toBeLessThanOrEqual(50 + 1e-9);
    }
    // No deviation within firm 1's capacity pays.
    const profit = nash.outcome.profit[0] ?? 0;
    for (let qa = 0; qa <= 50; qa += 2.5) {
      for (let qb = 0; qa + qb <= 50; qb += 2.5) {
        expect(deviationProfit(m, nash.action, 0, [qa, qb])).toBeLessThanOrEqual(profit + 1e-7);
      }
    }
  });

  it('solve exponential demand P = 100·exp(−Q/50)', () => {
    const m = market('exponential', { firms: 3, costs: 10 });
    const { nash, collusive, competitive } = computeBenchmarks(m);
    const price = (q: number) => 100 * Math.exp(-q / 50);
    /** Root of a decreasing function on [lo, hi]. */
    const solve = (g: (q: number) => number, lo: number, hi: number) => {
      for (let n = 0; n < 200; n++) {
        const mid = (lo + hi) / 2;
        if (g(mid) > 0) lo = mid;
        else hi = mid;
      }
      return (lo + hi) / 2;
    };
    // Symmetric Nash: P(3q) + q·P'(3q) = c, i.e. P(3q)(1 − q/50) = 10.
    const q = solve((x) => price(3 * x) * (1 - x / 50) - 10, 0, 50);
    // Monopoly: P(Q)(1 − Q/50) = 10. Competitive: P(Q) = 10.
    const monopoly = solve((x) => price(x) * (1 - x / 50) - 10, 0, 50);
    const supply = 50 * Math.log(10);
    for (const r of [nash, collusive, competitive]) expect(r.method).toBe('numeric');
    close(nash.action, [q, q, q], 6);
    close(collusive.outcome.total, [monopoly], 6);
    close(collusive.action, [monopoly / 3, monopoly / 3, monopoly / 3], 6);
    close(competitive.outcome.total, [supply], 6);
    close(competitive.outcome.price, [10], 6);
  });
});

describe('Bertrand with logit demand', () => {
  const mu = 0.25;

  function check(m: MarketInstance, costs: readonly number[]) {
    const { nash, collusive, competitive } = computeBenchmarks(m);
    const size = Number(m.params.get('market_size'));
    // Nash markups p_i − c_i = μ/(1 − s_i), from ∂q_i/∂p_i = −q_i(1 − s_i)/μ.
    expect(nash.method).toBe('numeric');
    costs.forEach((c, i) => {
      const p = nash.action[i] ?? 0;
      const share = (nash.outcome.quantity[i] ?? 0) / size;
      expect(p).toBeGreaterThan(c);
      expect(p - c).toBeCloseTo(mu / (1 - share), 6);
    });
    // Joint optimum: one markup for all, μ/(1 − S) with S the inside share.
    const inside = sum(collusive.outcome.quantity) / size;
    costs.forEach((c, i) => {
      const p = collusive.action[i] ?? 0;
      expect(p).toBeGreaterThan(nash.action[i] ?? 0);
      expect(p - c).toBeCloseTo(mu / (1 - inside), 6);
    });
    expect(industry(collusive)).toBeGreaterThan(industry(nash));
    close(competitive.action, costs);
    expect(competitive.method).toBe('closed-form');
    // No unilateral price deviation pays: a coarse grid and a fine one around the price.
    costs.forEach((_, i) => {
      const profit = nash.outcome.profit[i] ?? 0;
      const p = nash.action[i] ?? 0;
      const grid = [
        ...Array.from({ length: 101 }, (_, n) => n / 10),
        ...Array.from({ length: 41 }, (_, n) => p + (n - 20) * 1e-3),
      ];
      for (const deviation of grid) {
        expect(deviationProfit(m, nash.action, i, [deviation])).toBeLessThanOrEqual(profit + 1e-12);
      }
    });
  }

  it('symmetric duopoly', () => {
    check(market('bertrand_logit'), [1, 1]);
  });

  it('asymmetric qualities and costs', () => {
    check(
      market('bertrand_logit', { firms: 3, quality: [2, 2.5, 1.5], costs: [1, 1.2, 0.8] }),
      [1, 1.2, 0.8],
    );
  });
});

describe('properties of random linear Cournot markets', () => {
  const marketArbitrary = fc.integer({ min: 2, max: 5 }).chain((firms) =>
    fc.record({
      firms: fc.constant(firms),
      a: fc.double({ min: 20, max: 200, noNaN: true }),
      b: fc.double({ min: 0.2, max: 5, noNaN: true }),
      // Repeated round costs make ties (equal-cost firms) common.
      costs: fc.array(
        fc.oneof(fc.constantFrom(10, 20), fc.double({ min: 0, max: 60, noNaN: true })),
        { minLength: firms, maxLength: firms },
      ),
      capacity: fc.array(
        fc.oneof(fc.constant(Infinity), fc.double({ min: 0.5, max: 60, noNaN: true })),
        { minLength: firms, maxLength: firms },
      ),
    }),
  );
  type Drawn = { firms: number; a: number; b: number; costs: number[]; capacity: number[] };
  const build = (d: Drawn) =>
    market('cournot', {
      firms: d.firms,
      intercept: d.a,
      slope: d.b,
      costs: d.costs,
      capacity: d.capacity,
    });

  it('Nash admits no profitable deviation; collusive ≥ Nash ≥ competitive; bounds hold', () => {
    fc.assert(
      fc.property(marketArbitrary, (d) => {
        const m = build(d);
        const { nash, collusive, competitive } = computeBenchmarks(m);
        const scale = (d.a * d.a) / d.b;
        const slack = 1e-9 * scale;
        const total = sum(nash.action);
        for (let i = 0; i < d.firms; i++) {
          const q = nash.action[i] ?? 0;
          const cap = d.capacity[i] ?? Infinity;
          const cost = d.costs[i] ?? 0;
          const profit = nash.outcome.profit[i] ?? 0;
          // Exact best response to the others' total.
          const others = total - q;
          const best = Math.min(cap, Math.max(0, (d.a - cost - d.b * others) / (2 * d.b)));
          expect(deviationProfit(m, nash.action, i, [best])).toBeLessThanOrEqual(profit + slack);
          const top = Math.min(cap, d.a / d.b);
          for (let n = 0; n <= 40; n++) {
            const deviation = (top * n) / 40;
            expect(deviationProfit(m, nash.action, i, [deviation])).toBeLessThanOrEqual(
              profit + slack,
            );
          }
        }
        // The joint optimum beats every feasible profile. Nash beats the competitive
        // outcome unless a capacity binds there (see the scarcity-rent example above);
        // otherwise only cost-c_min firms sell at price c_min, and earn nothing.
        expect(industry(collusive)).toBeGreaterThanOrEqual(industry(nash) - slack);
        expect(industry(collusive)).toBeGreaterThanOrEqual(industry(competitive) - slack);
        const scarce = competitive.action.some((q, i) => q >= (d.capacity[i] ?? Infinity));
        if (!scarce) expect(industry(nash)).toBeGreaterThanOrEqual(industry(competitive) - slack);
        for (const r of [nash, collusive, competitive]) {
          expect(r.method).toBe('closed-form');
          r.action.forEach((q, i) => {
            expect(q).toBeGreaterThanOrEqual(0);
            expect(q).toBeLessThanOrEqual(d.capacity[i] ?? Infinity);
          });
        }
      }),
      { numRuns: 150 },
    );
  });

  it('the numeric methods find the closed forms', () => {
    fc.assert(
      fc.property(marketArbitrary, (d) => {
        const m = build(d);
        const closed = computeBenchmarks(m);
        const choke = d.a / d.b;
        const nash = numericNash(m);
        expect(nash.converged).toBe(true);
        nash.action.forEach((q, i) => {
          expect(Math.abs(q - (closed.nash.action[i] ?? 0))).toBeLessThanOrEqual(1e-6 * choke);
        });
        const scale = (d.a * d.a) / d.b;
        expect(Math.abs(industry(numericCollusive(m)) - industry(closed.collusive))).toBeLessThan(
          1e-8 * scale,
        );
        const competitive = numericCompetitive(m);
        expect(
          Math.abs(
            (competitive.outcome.total[0] ?? 0) - (closed.competitive.outcome.total[0] ?? 0),
          ),
        ).toBeLessThan(1e-8 * choke);
      }),
      { numRuns: 12 },
    );
  });

  it('with a binding capacity across products, the numeric Nash admits no profitable deviation', () => {
    const arbitrary = fc.record({
      a: fc.double({ min: 50, max: 150, noNaN: true }),
      b: fc.double({ min: 0.3, max: 2, noNaN: true }),
      costs: fc.array(
        fc.array(fc.double({ min: 0, max: 40, noNaN: true }), { minLength: 2, maxLength: 2 }),
        {
          minLength: 2,
          maxLength: 2,
        },
      ),
      capacity: fc.array(fc.double({ min: 5, max: 120, noNaN: true }), {
        minLength: 2,
        maxLength: 2,
      }),
    });
    fc.assert(
      fc.property(arbitrary, ({ a, b, costs, capacity }) => {
        const m = market('cournot_2x2', { intercept: a, slope: b, costs, capacity });
        const { nash, collusive } = computeBenchmarks(m);
        const slack = (1e-9 * a * a) / b;
        for (let i = 0; i < 2; i++) {
          const own: [number, number] = [nash.action[2 * i] ?? 0, nash.action[2 * i + 1] ?? 0];
          const cap = capacity[i] ?? 0;
          expect(own[0] + own[1]).toBeLessThanOrEqual(cap * (1 + 1e-12));
          // Exact best response: marginal profit a − bQ₋ᵢ − c − 2bq − λ per product, with
          // λ ≥ 0 raised (by bisection) until the outputs fit the capacity.
          const margin = [0, 1].map(
            (p) => a - b * ((nash.outcome.total[p] ?? 0) - (own[p] ?? 0)) - (costs[i]?.[p] ?? 0),
          );
          const at = (lambda: number) => margin.map((v) => Math.max(0, (v - lambda) / (2 * b)));
          let low = 0;
          let high = a;
          if (sum(at(0)) > cap) {
            for (let n = 0; n < 200; n++) {
              const mid = (low + high) / 2;
              if (sum(at(mid)) > cap) low = mid;
              else high = mid;
            }
          } else high = 0;
          const profit = nash.outcome.profit[i] ?? 0;
          expect(deviationProfit(m, nash.action, i, at(high))).toBeLessThanOrEqual(profit + slack);
          for (let qa = 0; qa <= cap; qa += cap / 8) {
            for (let qb = 0; qa + qb <= cap * (1 + 1e-12); qb += cap / 8) {
              expect(deviationProfit(m, nash.action, i, [qa, qb])).toBeLessThanOrEqual(
                profit + slack,
              );
            }
          }
        }
        expect(industry(collusive)).toBeGreaterThanOrEqual(industry(nash) - slack);
      }),
      { numRuns: 10 },
    );
  });

  it('Bertrand logit: Nash above cost, collusion above Nash, no profitable price deviation', () => {
    const arbitrary = fc.integer({ min: 2, max: 3 }).chain((firms) =>
      fc.record({
        firms: fc.constant(firms),
        mu: fc.double({ min: 0.1, max: 1, noNaN: true }),
        quality: fc.array(fc.double({ min: 1, max: 3, noNaN: true }), {
          minLength: firms,
          maxLength: firms,
        }),
        costs: fc.array(fc.double({ min: 0, max: 2, noNaN: true }), {
          minLength: firms,
          maxLength: firms,
        }),
      }),
    );
    fc.assert(
      fc.property(arbitrary, ({ firms, mu, quality, costs }) => {
        const m = market('bertrand_logit', { firms, mu, quality, costs });
        const { nash, collusive } = computeBenchmarks(m);
        for (let i = 0; i < firms; i++) {
          const p = nash.action[i] ?? 0;
          expect(p).toBeGreaterThan(costs[i] ?? 0);
          expect(collusive.action[i] ?? 0).toBeGreaterThan(p);
          const profit = nash.outcome.profit[i] ?? 0;
          for (let n = 0; n <= 50; n++) {
            expect(deviationProfit(m, nash.action, i, [n / 5])).toBeLessThanOrEqual(profit + 1e-12);
          }
        }
        expect(industry(collusive)).toBeGreaterThanOrEqual(industry(nash));
      }),
      { numRuns: 10 },
    );
  });
});

describe('the deviation check of numeric benchmarks', () => {
  it('Bertrand–Edgeworth: the best-response fixed point at 35 is not an equilibrium, and none exists', () => {
    // Demand 100 − p, capacity 40 each, cost 10, efficient rationing. At equal prices 35
    // each firm sells 65/2 and earns 25 · 32.5 = 812.5; a hair below 35 it sells its
    // capacity 40 and earns almost 25 · 40 = 1,000.
    const m = market('bertrand_edgeworth');
    expect(deviationProfit(m, Float64Array.from([35, 35]), 0, [35])).toBeCloseTo(812.5, 9);
    expect(deviationProfit(m, Float64Array.from([35, 35]), 0, [34.99])).toBeCloseTo(999.6, 9);
    const { nash, collusive, competitive } = computeBenchmarks(m);
    expect(nash.method).toBe('numeric');
    close(nash.action, [35, 35], 3);
    expect(nash.verified).toBe(false);
    const deviation = nash.deviation;
    expect(deviation?.firm).toBe(0);
    // The undercut: below the rival's price, and worth nearly the 1,000 of selling 40 at 25.
    expect(deviation?.action[0]).toBeLessThan(nash.action[1] ?? 0);
    expect(deviation?.action[0]).toBeGreaterThan(34.99);
    expect(deviation?.profit).toBeGreaterThan(999.6);
    expect(deviation?.profit).toBeCloseTo(
      deviationProfit(m, nash.action, 0, Array.from(deviation?.action ?? [])),
      9,
    );
    expect(deviation?.gain).toBeCloseTo(1000 - 812.5, 2);
    // No pure equilibrium: at equal prices p ≥ 20 each firm sells (100 − p)/2 ≤ 40; a rival
    // at p > 25.625 is undercut (25.625 − 10 = 625/40), and below that raising the price
    // to 35 on the residual demand 100 − p − 40 earns 25 · 25 = 625 more than at p.
    expect(nash.exists).toBe(false);
    expect(nash.reason).toContain('Edgeworth cycle');
    // The joint optimum is smooth and passes; the competitive prices are closed-form.
    expect(collusive.verified).toBe(true);
    close(collusive.action, [55, 55], 6);
    expect(competitive.method).toBe('closed-form');
    expect(competitive.verified).toBeUndefined();
  });

  it('no symmetric price of Bertrand–Edgeworth withstands a unilateral deviation', () => {
    const m = market('bertrand_edgeworth');
    for (let p = 0; p <= 100; p += 10) {
      expect(bestDeviation(m, Float64Array.from([p, p]), 'own'), `at ${p}`).toBeDefined();
    }
  });

  it('whole-number Bertrand: of the equilibria (10, 10) and (11, 11), the undominated one', () => {
    const m = market('bertrand_ticks');
    // (10, 10): no deviation pays (11 sells nothing against a rival at 10), but pricing at
    // cost is weakly dominated — 11 earns 0 against 10 and 89 against a rival at 12 or more.
    const atCost = checkEquilibrium(m, Float64Array.from([10, 10]));
    expect(atCost.deviation).toBeUndefined();
    expect(atCost.dominated?.firm).toBe(0);
    const by = atCost.dominated?.by[0] ?? 0;
    expect(Number.isInteger(by) && by > 10).toBe(true);
    // (11, 11): each earns 89/2 · 1 = 44.5; undercutting to 10 earns 0, 12 sells nothing.
    expect(checkEquilibrium(m, Float64Array.from([11, 11]))).toEqual({});
    // (12, 12): undercutting to 11 earns 89 > 88/2 · 2.
    expect(checkEquilibrium(m, Float64Array.from([12, 12])).deviation?.gain).toBeCloseTo(1, 9);
    const { nash } = computeBenchmarks(m);
    expect(nash.verified).toBe(true);
    close(nash.action, [11, 11]);
    close(nash.outcome.profit, [44.5, 44.5]);
  });

  it('a tolerance keeps rounding noise from counting as a deviation, and no more', () => {
    const m = market('bertrand_logit');
    const { nash } = computeBenchmarks(m);
    expect(nash.verified).toBe(true);
    // Moving off the optimum by δ costs about π''δ²/2: at δ = 1e-5 far below the tolerance,
    // at δ = 0.05 far above it, so returning to the optimum is a deviation.
    const near = Float64Array.from(nash.action, (p, k) => (k === 0 ? p + 1e-5 : p));
    expect(bestDeviation(m, near, 'own')).toBeUndefined();
    const far = Float64Array.from(nash.action, (p, k) => (k === 0 ? p + 0.05 : p));
    const deviation = bestDeviation(m, far, 'own');
    expect(deviation?.firm).toBe(0);
    close(deviation?.action ?? [], [nash.action[0] ?? 0], 4);
    expect(deviation?.gain).toBeGreaterThan(GAIN_TOLERANCE * (deviation?.profit ?? 0));
  });

  it('a joint optimum that is not one is caught by the industry-profit check', () => {
    const m = market('bertrand_logit');
    const { collusive } = computeBenchmarks(m);
    expect(bestDeviation(m, collusive.action, 'industry')).toBeUndefined();
    // At the Nash prices industry profit rises when either firm raises its price.
    const { nash } = computeBenchmarks(m);
    const deviation = bestDeviation(m, nash.action, 'industry');
    expect(deviation?.action[0]).toBeGreaterThan(nash.action[deviation?.firm ?? 0] ?? 0);
  });

  it.each([
    ['cournot', {}],
    ['cournot', { firms: 3, costs: [10, 20, 30] }],
    ['cournot_2x2', {}],
    ['cournot_2x2', { capacity: 50 }],
    ['bertrand_logit', {}],
    ['bertrand_logit', { firms: 3, quality: [2, 2.5, 1.5], costs: [1, 1.2, 0.8] }],
    ['exponential', { firms: 3, costs: 10 }],
  ] as const)(
    '%s %j: every numeric benchmark verifies, closed forms are not re-checked',
    (name, overrides) => {
      const all = computeBenchmarks(market(name, overrides));
      for (const b of [all.nash, all.collusive, all.competitive]) {
        if (b.method === 'closed-form') expect(b.verified).toBeUndefined();
        expect(b.verified).not.toBe(false);
        expect(b.exists).toBeUndefined();
      }
      expect(all.nash.method === 'closed-form' || all.nash.verified === true).toBe(true);
    },
  );
});
