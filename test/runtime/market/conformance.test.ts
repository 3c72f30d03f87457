import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileSources, type IrMarket, type ParamValue } from '../../../compiler/index.js';
import {
  computeBenchmarks,
  instantiateMarket,
  type MarketInstance,
  type Outcome,
  stdlibSources,
} from '../../../runtime/index.js';
import {
  type ConformanceOptions,
  type ConformanceProblem,
  checkMarketConformance,
} from '../../support/market-conformance.js';

/**
 * Every stdlib market, and a few parameter variants, against the market conformance kit;
 * then broken markets, to show the kit fails when it should.
 */

const compiled = compileSources([], stdlibSources(), { includeLibrary: true });
const markets: readonly IrMarket[] = compiled.program.markets;

function market(name: string, overrides: Record<string, ParamValue> = {}): MarketInstance {
  const ir = markets.find((m) => m.name === name);
  if (!ir) throw new Error(`no stdlib market ${name}`);
  return instantiateMarket(ir, overrides);
}

const describeProblems = (problems: readonly ConformanceProblem[]) =>
  problems.map((p) => `[${p.check}] ${p.message}`).join('\n');

it('the stdlib compiles and declares the markets the kit runs over', () => {
  expect(compiled.ok).toBe(true);
  expect(markets.map((m) => m.name)).toEqual(
    expect.arrayContaining(['cournot', 'cournot_2x2', 'bertrand_logit']),
  );
});

describe('every stdlib market conforms, with its default parameters', () => {
  it.each(markets.map((m) => [m.name] as const))('%s', (name) => {
    const problems = checkMarketConformance(market(name));
    expect(problems, describeProblems(problems)).toEqual([]);
  });
});

describe('parameter variants conform', () => {
  const variants: [string, string, Record<string, ParamValue>, ConformanceOptions?][] = [
    [
      'cournot: 3 firms, unequal costs, unequal capacities (one binding)',
      'cournot',
      { firms: 3, costs: [10, 20, 30], capacity: [25, 40, 60] },
    ],
    [
      'cournot: 3 firms, unequal costs, one capacity for all',
      'cournot',
      { firms: 3, costs: [40, 45, 50], capacity: 15 },
    ],
    [
      'cournot_2x2: a smaller capacity (binding everywhere; see below for the ordering)',
      'cournot_2x2',
      { capacity: 40 },
      { nashAboveCompetitive: false },
    ],
    ['cournot_2x2: a capacity too small for either product alone', 'cournot_2x2', { capacity: 10 }],
    [
      'bertrand_logit: 3 firms, unequal quality and costs',
      'bertrand_logit',
      { firms: 3, quality: [2, 2.5, 1.5], costs: [1, 1.2, 0.8] },
    ],
  ];
  it.each(variants)('%s', (_what, name, overrides, options) => {
    const problems = checkMarketConformance(market(name, overrides), options);
    expect(problems, describeProblems(problems)).toEqual([]);
  });

  it('cournot_2x2 with capacity 40: competitive industry profit exceeds Nash, as it should', () => {
    // Worked by hand. Each firm sells at most 40 in all; P = 100 - Q/2 per product.
    // Nash: given the rival's (x, 40 - x), f1's marginal profits 60 - x/2 - qA (A) and
    // 30 + x/2 - qB (B) are equal with qA + qB = 40, so qA = 35 - x/2; symmetry gives
    // f1 (30, 10), f2 (10, 30), prices 80, profits 30·40 + 10·30 = 1500 each: 3000.
    // Competitive: at prices 80 each firm's margin is 40 at its cheap product and 30 at
    // the other, so it puts its capacity into the cheap one: f1 (40, 0), f2 (0, 40),
    // prices 80, 1600 each: 3200. Cournot firms cross-haul to hold their own price up;
    // price takers do not, and produce the same output more cheaply.
    const m = market('cournot_2x2', { capacity: 40 });
    const b = computeBenchmarks(m);
    const close = (a: ArrayLike<number>, e: number[]) =>
      expect(Array.from(a)).toEqual(e.map((v) => expect.closeTo(v, 5)));
    close(b.nash.action, [30, 10, 10, 30]);
    close(b.competitive.action, [40, 0, 0, 40]);
    close(b.nash.outcome.profit, [1500, 1500]);
    close(b.competitive.outcome.profit, [1600, 1600]);
    close(b.collusive.outcome.profit, [1600, 1600]);
    // With the ordering left on, the kit says exactly this, and nothing else.
    const problems = checkMarketConformance(m, { benchmarks: b });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/industry profit: nash 2999\.99\d* < competitive 3200/);
  });
});

/** A market whose `clear` is `clear` after `tamper` edits the outcome (or the input). */
function broken(
  base: MarketInstance,
  tamper: (outcome: Outcome, action: Float64Array) => Outcome,
): MarketInstance {
  return { ...base, clear: (action) => tamper(base.clear(action), action) };
}

const edit = (a: Float64Array, k: number, by: number) => {
  const copy = Float64Array.from(a);
  copy[k] = (copy[k] ?? 0) + by;
  return copy;
};

describe('the kit fails broken markets', () => {
  let calls = 0;
  const base = market('cournot_2x2');
  const cases: [string, string, MarketInstance][] = [
    ['a wrong profit', 'accounting', broken(base, (o) => ({ ...o, profit: edit(o.profit, 0, 1) }))],
    [
      'a total that is not the sum of quantities',
      'accounting',
      broken(base, (o) => ({ ...o, total: edit(o.total, 1, 0.5) })),
    ],
    [
      'an HHI above 10,000',
      'hhi',
      broken(base, (o) => ({ ...o, hhi: Float64Array.from(o.hhi, (h) => h * 2 + 1) })),
    ],
    [
      'shares that do not sum to 1',
      'shares',
      broken(base, (o) => ({ ...o, share: Float64Array.from(o.share, (s) => s / 2) })),
    ],
    [
      'a non-finite price',
      'finite',
      broken(base, (o) => ({ ...o, price: edit(o.price, 0, Number.NaN) })),
    ],
    [
      'a clear that changes from call to call',
      'purity',
      broken(base, (o) => {
        calls += 1;
        return { ...o, price: Float64Array.from(o.price, (p) => p + calls * 1e-3) };
      }),
    ],
    [
      'a clear that writes into its input',
      'purity',
      broken(base, (o, action) => {
        action[0] = (action[0] ?? 0) + 1;
        return o;
      }),
    ],
    [
      'a clear that throws',
      'clear',
      broken(base, (o, action) => {
        if ((action[0] ?? 0) > 50) throw new Error('out of stock');
        return o;
      }),
    ],
  ];
  it.each(cases)('%s → a %s problem', (_what, check, bad) => {
    // The benchmarks come from the intact market, so only the tampering can be to blame.
    const problems = checkMarketConformance(bad, { samples: 20 });
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.check)).toContain(check);
    for (const p of problems) expect(p.message).toMatch(/^cournot_2x2: /);
  });

  it('a wrong profit names the firm and the identity it breaks', () => {
    const bad = broken(base, (o) => ({ ...o, profit: edit(o.profit, 0, 1) }));
    const problems = checkMarketConformance(bad, { samples: 5 });
    expect(problems.some((p) => /profit of f1 is .*but revenue − cost = /.test(p.message))).toBe(
      true,
    );
    // f2's profit is intact.
    expect(problems.some((p) => p.message.includes('profit of f2'))).toBe(false);
  });

  it('benchmarks whose outcome is not clear(action) are caught', () => {
    const good = computeBenchmarks(base);
    const problems = checkMarketConformance(base, {
      samples: 0,
      benchmarks: {
        ...good,
        nash: {
          ...good.nash,
          outcome: { ...good.nash.outcome, profit: edit(good.nash.outcome.profit, 1, 5) },
        },
      },
    });
    expect(problems.map((p) => p.check)).toContain('benchmarks');
    expect(problems.some((p) => p.message.includes('nash benchmark: outcome.profit'))).toBe(true);
  });

  it('benchmarks in the wrong order, over capacity, not optimal or not an equilibrium are caught', () => {
    const good = computeBenchmarks(base);
    const swapped = checkMarketConformance(base, {
      samples: 0,
      benchmarks: { ...good, collusive: good.competitive, competitive: good.collusive },
    });
    expect(swapped.some((p) => /industry profit: collusive .* < nash/.test(p.message))).toBe(true);

    // Each firm at its full capacity in both products: over its total capacity of 100.
    const over = Float64Array.from({ length: 4 }, () => 100);
    const flooded = checkMarketConformance(base, {
      samples: 0,
      benchmarks: { ...good, nash: { ...good.nash, action: over, outcome: base.clear(over) } },
    });
    expect(
      flooded.some((p) => /nash benchmark: f1 produces 200, over its capacity 100/.test(p.message)),
    ).toBe(true);

    // The competitive profile is no Nash equilibrium: each firm gains by selling less.
    const notNash = checkMarketConformance(base, {
      benchmarks: { ...good, nash: good.competitive },
    });
    expect(
      notNash.some((p) => /nash benchmark: f[12] gains by deviating to /.test(p.message)),
    ).toBe(true);

    // A "collusive" profile that some valid profile beats.
    const notCollusive = checkMarketConformance(base, {
      benchmarks: { ...good, collusive: good.competitive },
    });
    expect(
      notCollusive.some((p) =>
        /makes industry profit .*, above the collusive 2000/.test(p.message),
      ),
    ).toBe(true);
  });

  it('Bertrand–Edgeworth (no pure equilibrium) does not conform, and the kit says why', () => {
    const text = readFileSync(
      new URL('../../support/markets/bertrand-edgeworth.mase', import.meta.url),
      'utf8',
    );
    const [ir] = compileSources([{ path: 'bertrand-edgeworth.mase', text }]).program.markets;
    if (!ir) throw new Error('the fixture declares no market');
    const problems = checkMarketConformance(instantiateMarket(ir), { samples: 0 });
    expect(
      problems.some((p) =>
        /^bertrand_edgeworth: nash benchmark: failed its deviation check \(no pure equilibrium: best responses cycle \(an Edgeworth cycle\).*\): f1 gains 187\.49\d* by deviating to \[35\.0000\]$/.test(
          p.message,
        ),
      ),
      describeProblems(problems),
    ).toBe(true);
  });

  it('a benchmark that failed its deviation check is caught', () => {
    const good = computeBenchmarks(base);
    const problems = checkMarketConformance(base, {
      samples: 0,
      benchmarks: {
        ...good,
        nash: {
          ...good.nash,
          verified: false,
          deviation: { firm: 1, action: Float64Array.from([5, 6]), profit: 2, gain: 1 },
        },
      },
    });
    expect(problems).toContainEqual({
      check: 'benchmarks',
      message:
        'cournot_2x2: nash benchmark: failed its deviation check: f2 gains 1.00000 by deviating to [5, 6]',
    });
  });

  it('a market whose shape disagrees with its dims is caught before anything is cleared', () => {
    const problems = checkMarketConformance({ ...base, firms: ['f1'] });
    expect(problems).toEqual([
      { check: 'shape', message: 'cournot_2x2: 1 firm names for dims.firms = 2' },
    ]);
  });
});
