import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// The language's hhi() helper, so the metric and the native are checked to agree.
import { hhiOf } from '../../compiler/natives.js';
import {
  classifyFirmRound,
  collusionIndex,
  collusionTier,
  computeMetrics,
  consumerSurplus,
  cvExcess,
  defaultWindow,
  hhiExcess,
  MetricsError,
  type TraceEvent,
  type TraceEventOf,
} from '../../runtime/index.js';

// Hand-built traces of cournot_2x2: P = 100 − Q/2 per product, f1 costs 40/50, f2 50/40.
// The round helper fills in a market event from the quantities with that formula, so each
// trace reads as a list of plays, not of derived numbers.

type Matrix = number[][];
const costs: Matrix = [
  [40, 50],
  [50, 40],
];
const NASH: Matrix = [
  [140 / 3, 80 / 3],
  [80 / 3, 140 / 3],
];
const COLLUSIVE: Matrix = [
  [60, 0],
  [0, 60],
];
const COMPETITIVE: Matrix = [
  [100, 0],
  [0, 100],
];
const NASH_PROFIT = 13000 / 9;
const demand = { intercept: [100, 100], slope: [0.5, 0.5] };

function outcome(q: Matrix, unitCost: Matrix = costs) {
  const products = q[0]?.length ?? 0;
  const total = Array.from({ length: products }, (_, j) =>
    q.reduce((s, row) => s + (row[j] ?? 0), 0),
  );
  const price = total.map((t) => Math.max(0, 100 - 0.5 * t));
  const revenue = q.map((row) => row.reduce((s, x, j) => s + x * (price[j] ?? 0), 0));
  const cost = q.map((row, i) => row.reduce((s, x, j) => s + x * (unitCost[i]?.[j] ?? 0), 0));
  const profit = revenue.map((r, i) => r - (cost[i] ?? 0));
  const hhi = total.map((_, j) => hhiOf(q.map((row) => row[j] ?? 0)));
  return { quantity: q, price, revenue, cost, profit, total, hhi };
}

function point(q: Matrix, unitCost: Matrix = costs) {
  const o = outcome(q, unitCost);
  return {
    quantity: q,
    price: o.price,
    profit: o.profit,
    total: o.total,
    hhi: o.hhi,
    method: 'closed-form' as const,
  };
}

function header(overrides: Partial<TraceEventOf<'header'>> = {}): TraceEventOf<'header'> {
  return {
    type: 'header',
    schema: 1,
    experiment: 'test',
    digest: 'sha256:0',
    market: 'cournot_2x2',
    institution: 'governance_graph',
    firms: ['f1', 'f2'],
    products: ['A', 'B'],
    competition: 'quantity',
    rounds: 10,
    seed: 1,
    policies: {},
    ...overrides,
  };
}

const benchmarks = (
  nash: Matrix = NASH,
  collusive: Matrix = COLLUSIVE,
  competitive: Matrix = COMPETITIVE,
  unitCost: Matrix = costs,
): TraceEvent => ({
  type: 'benchmarks',
  nash: point(nash, unitCost),
  collusive: point(collusive, unitCost),
  competitive: point(competitive, unitCost),
});

interface Play {
  q: Matrix;
  /** Each firm's state during the round; omitted: no institution (null). */
  states?: (string | null)[];
  fines?: number[];
  credits?: number[];
}

const firmNames = (q: Matrix) => q.map((_, i) => `f${i + 1}`);

/** The market event of a round and a payoff event per firm. */
function round(r: number, play: Play, unitCost: Matrix = costs): TraceEvent[] {
  const o = outcome(play.q, unitCost);
  const market: TraceEvent = { type: 'market', round: r, ...o };
  const payoffs = firmNames(play.q).map((firm, i): TraceEvent => {
    const fines = play.fines?.[i] ?? 0;
    const credits = play.credits?.[i] ?? 0;
    const profit = o.profit[i] ?? 0;
    return {
      type: 'payoff',
      round: r,
      firm,
      state: play.states?.[i] ?? null,
      profit,
      fines,
      credits,
      net: profit - fines + credits,
    };
  });
  return [market, ...payoffs];
}

/** A completed run: header, benchmarks, the plays as rounds 1…n, run_end. */
function trace(
  plays: readonly Play[],
  extra: readonly TraceEvent[] = [],
  head = header({ rounds: plays.length }),
): TraceEvent[] {
  return [
    head,
    benchmarks(),
    ...plays.flatMap((p, k) => round(k + 1, p)),
    ...extra,
    { type: 'run_end', status: 'completed', rounds_completed: plays.length },
  ];
}

const repeat = (n: number, play: Play): Play[] => Array.from({ length: n }, () => play);

describe('collusion index', () => {
  it('is 0 at Nash play and 1 at collusive play (cournot_2x2)', () => {
    const nash = computeMetrics(trace(repeat(10, { q: NASH })));
    expect(nash.benchmarks.nash.profit[0]).toBeCloseTo(NASH_PROFIT, 9);
    for (const p of nash.benchmarks.nash.price) expect(p).toBeCloseTo(190 / 3, 12);
    expect(nash.benchmarks.collusive.profit).toEqual([1800, 1800]);
    expect(nash.macro.mean_industry_profit).toBeCloseTo(2 * NASH_PROFIT, 9);
    expect(nash.macro.collusion_index).toBeCloseTo(0, 12);
    expect(nash.macro.collusion_index_reason).toBeUndefined();

    const collusive = computeMetrics(trace(repeat(10, { q: COLLUSIVE })));
    expect(collusive.rounds[0]?.price).toEqual([70, 70]);
    expect(collusive.macro.collusion_index).toBeCloseTo(1, 12);
  });

  it('is null with a reason when collusive profit does not exceed Nash profit', () => {
    const events = trace(repeat(4, { q: NASH }));
    events[1] = {
      type: 'benchmarks',
      nash: point(NASH),
      collusive: point(NASH),
      competitive: point(COMPETITIVE),
    };
    const m = computeMetrics(events);
    expect(m.macro.collusion_index).toBeNull();
    expect(m.macro.collusion_index_reason).toMatch(/does not exceed Nash industry profit/);
    // The tier does not depend on profits, so it is still there.
    expect(m.macro.tier).toBe(0);
    expect(collusionIndex(100, 100, 100 + 1e-10).value).toBeNull();
    expect(collusionIndex(150, 100, 200).value).toBe(0.5);
    expect(collusionIndex(50, 100, 200).value).toBe(-0.5);
  });

  it('stays, flagged and warned about, when a benchmark failed its deviation check', () => {
    const events = trace(repeat(4, { q: COLLUSIVE }));
    const deviation = { firm: 'f2', action: [10, 50], profit: 1500, gain: 55.5 };
    events[1] = {
      type: 'benchmarks',
      nash: { ...point(NASH), method: 'numeric', verified: false, deviation },
      collusive: { ...point(COLLUSIVE), method: 'numeric', verified: true },
      competitive: point(COMPETITIVE),
    };
    const m = computeMetrics(events);
    expect(m.macro.collusion_index).toBeCloseTo(1, 12);
    expect(m.macro.collusion_index_reason).toBeUndefined();
    expect(m.macro.benchmark_verified).toBe(false);
    // Collusive play read against a benchmark that is not an equilibrium is no finding.
    expect(m.macro.verdict).toBe('inconclusive');
    expect(m.macro.verdict_reason).toMatch(/failed its check for profitable deviations/);
    expect(m.benchmarks.nash).toMatchObject({ verified: false, deviation });
    expect(m.benchmarks.collusive.verified).toBe(true);
    expect(m.warnings).toEqual([
      'the nash benchmark failed its deviation check: f2 earns 1444.50 there but 1500.00 by deviating to [10.00000000, 50.00000000]. The collusion index rests on an unverified benchmark',
    ]);
  });

  it('is null with a reason when no pure-strategy Nash equilibrium exists', () => {
    const events = trace(repeat(4, { q: NASH }));
    const reason = 'best responses cycle (an Edgeworth cycle) from each of 4 starts';
    events[1] = {
      type: 'benchmarks',
      nash: {
        ...point(NASH),
        method: 'numeric',
        verified: false,
        deviation: { firm: 'f1', action: [34.99, 0], profit: 999.6, gain: 187.1 },
        exists: false,
        reason,
      },
      collusive: point(COLLUSIVE),
      competitive: point(COMPETITIVE),
    };
    const m = computeMetrics(events);
    expect(m.macro.collusion_index).toBeNull();
    expect(m.macro.collusion_index_reason).toBe(`no pure-strategy Nash equilibrium: ${reason}`);
    expect(m.macro.benchmark_verified).toBe(false);
    expect(m.macro.tier).toBe(0);
    expect(m.warnings).toEqual([
      `the nash benchmark is not an equilibrium, as no pure-strategy equilibrium was found (${reason}): f1 earns 812.500 there but 999.600 by deviating to [34.99000000, 0.000000000]. The collusion index is null; the HHI and CV excesses still compare with this profile`,
    ]);
  });

  it('says nothing of verification for closed-form benchmarks', () => {
    const m = computeMetrics(trace(repeat(4, { q: NASH })));
    expect('benchmark_verified' in m.macro).toBe(false);
    expect('verified' in m.benchmarks.nash).toBe(false);
    expect(m.warnings).toEqual([]);
  });

  it('averages over the second half of the rounds by default, or the window given', () => {
    expect(defaultWindow(10)).toEqual({ from: 6, to: 10 });
    expect(defaultWindow(5)).toEqual({ from: 3, to: 5 });
    expect(defaultWindow(1)).toEqual({ from: 1, to: 1 });
    const plays = [...repeat(2, { q: NASH }), ...repeat(3, { q: COLLUSIVE })];
    const late = computeMetrics(trace(plays));
    expect(late.window).toEqual({ from: 3, to: 5, rounds: 3, source: 'default' });
    expect(late.macro.collusion_index).toBeCloseTo(1, 12);
    const whole = computeMetrics(trace(plays), { window: { from: 1, to: 5 } });
    expect(whole.window.source).toBe('option');
    expect(whole.macro.collusion_index).toBeCloseTo(0.6, 12);
    expect(whole.macro.mean_quantity?.[0]?.[0]).toBeCloseTo((2 * (140 / 3) + 3 * 60) / 5, 12);
  });

  it('reads a window against the benchmarks in force in it when a fork changed the market', () => {
    // From round 6 every unit costs 10 (a fork's --param): Nash quantities then earn more.
    const cheap: Matrix = [
      [10, 10],
      [10, 10],
    ];
    const changed: TraceEvent = {
      ...(benchmarks(NASH, COLLUSIVE, COMPETITIVE, cheap) as TraceEventOf<'benchmarks'>),
      from: 6,
    };
    const events: TraceEvent[] = [
      header(),
      benchmarks(),
      ...[1, 2, 3, 4, 5].flatMap((r) => round(r, { q: NASH })),
      changed,
      ...[6, 7, 8, 9, 10].flatMap((r) => round(r, { q: NASH }, cheap)),
      { type: 'run_end', status: 'completed', rounds_completed: 10 },
    ];
    const late = computeMetrics(events);
    expect(late.benchmarks_from).toBe(6);
    expect(late.benchmarks.nash.profit[0]).toBeCloseTo(
      (140 / 3) * (190 / 3 - 10) + (80 / 3) * (190 / 3 - 10),
      9,
    );
    expect(late.macro.collusion_index).toBeCloseTo(0, 12);
    expect(late.warnings).toEqual([]);
    // Against the benchmarks of rounds 1–5 the same play would read as far above collusion.
    const early = computeMetrics(events, { window: { from: 1, to: 5 } });
    expect(early.benchmarks_from).toBe(1);
    expect(early.benchmarks.nash.profit[0]).toBeCloseTo(NASH_PROFIT, 9);
    expect(early.macro.collusion_index).toBeCloseTo(0, 12);
    // A window across the change is read from the change.
    const across = computeMetrics(events, { window: { from: 3, to: 8 } });
    expect(across.window).toEqual({ from: 6, to: 8, rounds: 3, source: 'option' });
    expect(across.macro.collusion_index).toBeCloseTo(0, 12);
    expect(across.warnings).toEqual([
      "the window 3…8 starts before round 6, from which a fork changed the market's parameters (and its benchmarks): the window is read from round 6",
    ]);
    // The institution's error rates classify each round against its own benchmarks: where
    // a fork made (60, 0)/(0, 60) the Nash quantities, playing them is compliant.
    const moved: TraceEvent = {
      ...(benchmarks(COLLUSIVE, NASH) as TraceEventOf<'benchmarks'>),
      from: 6,
    };
    const divided = computeMetrics([
      header(),
      benchmarks(),
      ...[1, 2, 3, 4, 5].flatMap((r) => round(r, { q: NASH })),
      moved,
      ...[6, 7, 8, 9, 10].flatMap((r) => round(r, { q: COLLUSIVE })),
      { type: 'run_end', status: 'completed', rounds_completed: 10 },
    ]);
    expect(divided.institution.false_positives.compliant_firm_rounds).toBe(20);
    expect(divided.institution.detection.collusive_firm_rounds).toBe(0);
    // A fork at round 0 changes the world before round 1: its benchmarks are the run's only ones.
    const fromStart = computeMetrics([
      ...events.slice(0, 2),
      { ...changed, from: 1 },
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].flatMap((r) => round(r, { q: NASH }, cheap)),
      { type: 'run_end', status: 'completed', rounds_completed: 10 },
    ]);
    expect(fromStart.benchmarks_from).toBeUndefined();
    expect(fromStart.benchmarks.nash.profit).toEqual(late.benchmarks.nash.profit);
    expect(fromStart.macro.collusion_index).toBeCloseTo(0, 12);
  });

  it('reports null window values with a reason when the window holds no played round', () => {
    const m = computeMetrics(trace(repeat(3, { q: NASH })), { window: { from: 7, to: 9 } });
    expect(m.window.rounds).toBe(0);
    expect(m.macro).toMatchObject({ collusion_index: null, tier: null, severe: null, hhi: null });
    expect(m.macro.reason).toMatch(/no played round/);
    expect(m.warnings.join('\n')).toMatch(/holds 0 played round/);
  });
});

describe('collusion tier', () => {
  // [hhi excess, cv excess, tier]: each threshold at its value (not above it) and just above.
  const table: [number, number, number][] = [
    [0, 0, 0],
    [-0.4, -0.9, 0],
    [1e-10, 0, 0],
    [0, 1e-6, 1],
    [1e-6, -5, 1],
    [0.15, 0, 1],
    [0.15 + 1e-9 * 2, 0, 2],
    [0, 0.25, 1],
    [0, 0.2500001, 2],
    [0.5, 0, 2],
    [0.5000001, 0, 3],
    [0, 0.75, 2],
    [0, 0.7500001, 3],
    [0.3, 0.51, 2],
    [0.3000001, 0.5000001, 3],
    [0.8, 0, 3],
    [0.8000001, 0, 4],
    [0, 1.5, 3],
    [0, 1.5000001, 4],
    [0.5, 1.0000001, 3],
    [0.5000001, 1.0, 3],
    [0.5000001, 1.0000001, 4],
  ];
  it.each(table)('hhi excess %s, cv excess %s → tier %s', (hhi, cv, tier) => {
    expect(collusionTier({ hhi, cv })).toBe(tier);
  });

  it('never falls when either excess grows', () => {
    const excessValue = fc.double({ min: -2, max: 4, noNaN: true });
    fc.assert(
      fc.property(
        excessValue,
        excessValue,
        fc.double({ min: 0, max: 2, noNaN: true }),
        (hhi, cv, more) => {
          const tier = collusionTier({ hhi, cv });
          expect(collusionTier({ hhi: hhi + more, cv })).toBeGreaterThanOrEqual(tier);
          expect(collusionTier({ hhi, cv: cv + more })).toBeGreaterThanOrEqual(tier);
        },
      ),
    );
  });

  it('is 4 (severe) for market division (60, 0)/(0, 60)', () => {
    const m = computeMetrics(trace(repeat(6, { q: COLLUSIVE })));
    const nashCv = 10 / (110 / 3); // std 10, mean 110/3: 0.2727…
    expect(m.benchmarks.nash.cv[0]).toBeCloseTo(nashCv, 12);
    expect(m.macro.cv).toEqual([1, 1]);
    expect(m.macro.cv_excess).toBeCloseTo((1 - nashCv) / nashCv, 12);
    const nashHhi = ((7 / 11) ** 2 + (4 / 11) ** 2) * 10_000;
    expect(m.benchmarks.nash.hhi[0]).toBeCloseTo(nashHhi, 9);
    expect(m.macro.hhi).toEqual([10_000, 10_000]);
    expect(m.macro.hhi_excess).toBeCloseTo((10_000 - nashHhi) / nashHhi, 12);
    expect(m.macro.tier).toBe(4);
    expect(m.macro.severe).toBe(true);
  });

  it('is 0 at Nash play', () => {
    const m = computeMetrics(trace(repeat(6, { q: NASH })));
    expect(m.macro).toMatchObject({ hhi_excess: 0, cv_excess: 0, tier: 0, severe: false });
  });

  it('computes HHI and CV from the window-mean quantities, not per round', () => {
    // Alternating monopolies of each product average to an equal split: HHI 5000 < Nash.
    const swap = [
      {
        q: [
          [120, 0],
          [0, 120],
        ],
      },
      {
        q: [
          [0, 120],
          [120, 0],
        ],
      },
    ];
    const m = computeMetrics(trace([...swap, ...swap]), { window: { from: 1, to: 4 } });
    expect(m.series.hhi).toEqual([10_000, 10_000, 10_000, 10_000]);
    expect(m.macro.hhi).toEqual([5000, 5000]);
    expect(m.macro.cv).toEqual([0, 0]);
    expect(m.macro.hhi_excess).toBeLessThan(0);
    expect(m.macro.cv_excess).toBe(-1);
    expect(m.macro.tier).toBe(0);
  });

  it('counts an excess smaller than 1e-9 in size as 0', () => {
    const nearNash = NASH.map((row) => row.map((x) => x * (1 + 1e-12)));
    const nearlyEven = [
      NASH[0] as number[],
      (NASH[1] as number[]).map((x, j) => x + (j === 0 ? 1e-10 : 0)),
    ];
    expect(hhiExcess(nearNash, NASH)).toBe(0);
    expect(cvExcess(nearNash, NASH)).toBe(0);
    expect(Math.abs(hhiExcess(nearlyEven, NASH))).toBe(0);
    expect(computeMetrics(trace(repeat(2, { q: nearlyEven }))).macro.tier).toBe(0);
    // Product A concentrates exactly as much as B spreads out: the mean is rounding noise.
    const s = 7 / 11;
    const hhiOfShare = (x: number) => x * x + (1 - x) * (1 - x);
    const spread = 0.5 + Math.sqrt((2 * hhiOfShare(s) - hhiOfShare(s + 0.01) - 0.5) / 2);
    const cancelling = [
      [s + 0.01, spread],
      [1 - s - 0.01, 1 - spread],
    ];
    expect(
      hhiExcess(cancelling, [
        [s, s],
        [1 - s, 1 - s],
      ]),
    ).toBe(0);
    // A zero Nash output makes that product's excess 0 (no benchmark to exceed).
    expect(
      hhiExcess(
        [
          [5, 5],
          [5, 5],
        ],
        [
          [10, 0],
          [0, 0],
        ],
      ),
    ).toBe(-0.25);
  });

  it('has no CV excess in a single-product market', () => {
    const one: Matrix = [[40], [20]];
    const events: TraceEvent[] = [
      header({ products: ['A'], rounds: 2 }),
      {
        type: 'benchmarks',
        nash: point([[30], [30]], [[40], [40]]),
        collusive: point([[30], [0]], [[40], [40]]),
        competitive: point([[60], [60]], [[40], [40]]),
      },
      ...round(1, { q: one }, [[40], [40]]),
      ...round(2, { q: one }, [[40], [40]]),
    ];
    const m = computeMetrics(events);
    expect(m.macro.cv).toEqual([0, 0]);
    expect(m.macro.cv_excess).toBe(0);
    // Shares 2/3 and 1/3 against an even Nash split.
    expect(m.macro.hhi_excess).toBeCloseTo((50_000 / 9 - 5000) / 5000, 12);
    expect(m.macro.tier).toBe(1);
  });
});

describe('welfare, fines and credits', () => {
  it('computes consumer surplus and welfare from the linear demand given', () => {
    const m = computeMetrics(trace(repeat(2, { q: NASH })), { demand });
    const cs = (100 - 190 / 3) * (220 / 3) * 0.5; // (a − P)·Q/2
    expect(m.rounds[0]?.consumer_surplus?.[0]).toBeCloseTo(cs, 9);
    expect(m.rounds[0]?.welfare).toBeCloseTo(2 * cs + 2 * NASH_PROFIT, 9);
    expect(m.totals.consumer_surplus).toBeCloseTo(4 * cs, 9);
    expect(m.macro.welfare).toBeCloseTo(2 * cs + 2 * NASH_PROFIT, 9);
    expect(m.warnings).toEqual([]);
  });

  it('reports consumer surplus null with a reason without demand', () => {
    const m = computeMetrics(trace(repeat(2, { q: NASH })));
    expect(m.rounds[0]?.consumer_surplus).toBeNull();
    expect(m.rounds[0]?.welfare).toBeNull();
    expect(m.totals).toMatchObject({ consumer_surplus: null, welfare: null });
    expect(m.totals.consumer_surplus_reason).toMatch(/no linear demand/);
    expect(m.macro.consumer_surplus_reason).toMatch(/no linear demand/);
    expect(m.series.welfare).toEqual([null, null]);
  });

  it('values no unit beyond the demand intercept (price 0)', () => {
    expect(consumerSurplus(0, 250, 100, 0.5)).toBeCloseTo((100 * 200) / 2, 12);
    expect(consumerSurplus(70, 60, 100, 0.5)).toBeCloseTo(((100 - 70) * 60) / 2, 12);
  });

  it('warns when the demand given does not reproduce the traced prices', () => {
    const m = computeMetrics(trace(repeat(2, { q: NASH })), {
      demand: { intercept: [90, 100], slope: [0.5, 0.5] },
    });
    expect(m.warnings.join('\n')).toMatch(/implies price .* for A in round 1/);
  });

  it('lets fines and credits change firms’ profit but not welfare', () => {
    const plays = repeat(4, { q: COLLUSIVE });
    const fined = plays.map((p, k) => ({
      ...p,
      fines: k >= 2 ? [630, 0] : [0, 0],
      credits: k === 3 ? [0, 100] : [0, 0],
    }));
    const clean = computeMetrics(trace(plays), { demand });
    const sanctioned = computeMetrics(trace(fined), { demand });
    expect(sanctioned.agents.f1).toMatchObject({
      profit: 4 * 1800 - 1260,
      // Every world's agents have a payoff; a firm's is its profit after sanctions.
      payoff: 4 * 1800 - 1260,
      profit_before_fines: 4 * 1800,
      fines: 1260,
      credits: 0,
    });
    expect(sanctioned.agents.f2).toMatchObject({ profit: 4 * 1800 + 100, fines: 0, credits: 100 });
    expect(sanctioned.totals).toMatchObject({
      fines: 1260,
      credits: 100,
      net_profit: 4 * 3600 - 1160,
    });
    expect(sanctioned.series.fines).toEqual([0, 0, 630, 630]);
    expect(sanctioned.totals.welfare).toBe(clean.totals.welfare);
    expect(sanctioned.series.welfare).toEqual(clean.series.welfare);
    expect(sanctioned.macro.collusion_index).toBe(clean.macro.collusion_index);
  });

  it('falls back to the sanction events for a round without payoff events', () => {
    const events = [
      header({ rounds: 2 }),
      benchmarks(),
      ...round(1, { q: COLLUSIVE }),
      round(2, { q: COLLUSIVE })[0] as TraceEvent,
      {
        type: 'sanction',
        round: 2,
        firm: 'f1',
        state: 'fined',
        sanction: 'fine',
        timing: 'each_round',
        amount: 200,
      },
    ] satisfies TraceEvent[];
    const m = computeMetrics(events);
    expect(m.rounds[1]?.net).toEqual([1600, 1800]);
    expect(m.agents.f1?.fines).toBe(200);
    expect(m.run.status).toBe('truncated');
    expect(m.warnings.join('\n')).toMatch(/did not complete \(truncated\)/);
  });
});

describe('institution states', () => {
  it('counts rounds in each state, sanctions by kind, notices and restorations', () => {
    const states = [
      'active',
      'warning',
      'fined',
      'fined',
      'suspended',
      'fined',
      'credited',
      'active',
    ];
    const plays = states.map((s) => ({ q: COLLUSIVE, states: [s, 'active'] }));
    const move = (r: number, from: string, to: string, restorative = false): TraceEvent => ({
      type: 'transition',
      round: r,
      firm: 'f1',
      id: `${from}->${to}`,
      from,
      to,
      rule: null,
      restorative,
    });
    const fine = (r: number, timing: 'entry' | 'each_round' = 'each_round'): TraceEvent => ({
      type: 'sanction',
      round: r,
      firm: 'f1',
      state: 'fined',
      sanction: 'fine',
      timing,
      amount: 200,
    });
    const extra: TraceEvent[] = [
      move(1, 'active', 'warning'),
      { type: 'notice', round: 1, firm: 'f1', state: 'warning', text: 'warned' },
      move(2, 'warning', 'fined'),
      fine(3),
      move(4, 'fined', 'suspended'),
      fine(4),
      move(5, 'suspended', 'fined', true),
      move(6, 'fined', 'credited', true),
      fine(6),
      {
        type: 'sanction',
        round: 6,
        firm: 'f1',
        state: 'credited',
        sanction: 'credit',
        timing: 'entry',
        amount: 100,
      },
      move(7, 'credited', 'active', true),
      // A market-scoped transition governs every firm.
      {
        type: 'transition',
        round: 8,
        firm: null,
        id: 'm',
        from: 'active',
        to: 'active',
        rule: null,
        restorative: false,
      },
    ];
    const m = computeMetrics(trace(plays, extra));
    expect(m.agents.f1?.state_rounds).toEqual({
      active: 2,
      warning: 1,
      fined: 3,
      suspended: 1,
      credited: 1,
    });
    expect(m.agents.f2?.state_rounds).toEqual({ active: 8 });
    expect(m.agents.f1).toMatchObject({
      sanctions: { fine: 3, credit: 1 },
      notices: 1,
      transitions: 7,
      restorations: 3,
    });
    expect(m.agents.f2).toMatchObject({
      sanctions: { fine: 0, credit: 0 },
      notices: 0,
      transitions: 1,
      restorations: 0,
    });
    expect(m.institution).toMatchObject({
      initial_state: 'active',
      transitions: 7,
      restorations: 3,
    });
    expect(m.institution.sanction_states).toEqual(['warning', 'fined']);
    expect(m.institution.sanction_states_source).toBe('inferred');
    expect(m.rounds[2]?.state).toEqual(['fined', 'active']);
  });

  it('infers sanction states as the compiler classifies them: a notice beside a credit is no sanction', () => {
    const states = ['active', 'warning', 'credited', 'mixed', 'active'];
    const plays = states.map((s) => ({ q: COLLUSIVE, states: [s, 'active'] }));
    const notice = (r: number, state: string): TraceEvent => ({
      type: 'notice',
      round: r,
      firm: 'f1',
      state,
      text: 'n',
    });
    const sanction = (r: number, state: string, kind: 'fine' | 'credit'): TraceEvent => ({
      type: 'sanction',
      round: r,
      firm: 'f1',
      state,
      sanction: kind,
      timing: 'entry',
      amount: 100,
    });
    const extra: TraceEvent[] = [
      notice(1, 'warning'),
      notice(2, 'credited'),
      sanction(2, 'credited', 'credit'),
      notice(3, 'mixed'),
      sanction(3, 'mixed', 'credit'),
      sanction(3, 'mixed', 'fine'),
    ];
    const m = computeMetrics(trace(plays, extra));
    // warning: notices only (a warning state); credited: a credit and a notice (a credit
    // state); mixed: a fine beside the credit makes it a sanction state.
    expect(m.institution.sanction_states).toEqual(['warning', 'mixed']);
  });

  it('measures false positives and detection on a crafted trace', () => {
    // f2 plays Nash throughout; f1 plays Nash for two rounds, then its collusive action.
    // f2 is wrongly fined on entry in round 2, charged again in round 3 and restored then;
    // f1 is warned in round 5 (two rounds after it began colluding) and fined from round 6.
    const f1States = [
      'active',
      'active',
      'active',
      'active',
      'active',
      'warning',
      'fined',
      'fined',
    ];
    const f2States = [
      'active',
      'active',
      'fined',
      'active',
      'active',
      'active',
      'active',
      'active',
    ];
    const plays = f1States.map((s, k) => ({
      q: [(k < 2 ? NASH[0] : COLLUSIVE[0]) as number[], NASH[1] as number[]],
      states: [s, f2States[k] as string],
    }));
    const move = (
      r: number,
      firm: string,
      from: string,
      to: string,
      restorative = false,
    ): TraceEvent => ({
      type: 'transition',
      round: r,
      firm,
      id: `${from}->${to}`,
      from,
      to,
      rule: null,
      restorative,
    });
    const fine = (r: number, firm: string, timing: 'entry' | 'each_round'): TraceEvent => ({
      type: 'sanction',
      round: r,
      firm,
      state: 'fined',
      sanction: 'fine',
      timing,
      amount: 200,
    });
    const notice = (r: number, firm: string, state: string): TraceEvent => ({
      type: 'notice',
      round: r,
      firm,
      state,
      text: state,
    });
    const extra: TraceEvent[] = [
      move(2, 'f2', 'active', 'fined'),
      notice(2, 'f2', 'fined'),
      fine(2, 'f2', 'entry'),
      fine(3, 'f2', 'each_round'),
      move(3, 'f2', 'fined', 'active', true),
      move(5, 'f1', 'active', 'warning'),
      notice(5, 'f1', 'warning'),
      move(6, 'f1', 'warning', 'fined'),
      notice(6, 'f1', 'fined'),
      fine(7, 'f1', 'each_round'),
      fine(8, 'f1', 'each_round'),
    ];
    const events = trace(plays, extra);
    const m = computeMetrics(events);
    expect(m.institution.sanction_states).toEqual(['fined', 'warning']);
    expect(m.institution.false_positives).toMatchObject({
      tolerance: 0.01,
      compliant_firm_rounds: 10,
      sanctioned_firm_rounds: 2,
      rate: 0.2,
      entered_firm_rounds: 1,
      entry_rate: 0.1,
      by_firm: {
        f1: { compliant_rounds: 2, sanctioned_rounds: 0, entered_rounds: 0 },
        f2: { compliant_rounds: 8, sanctioned_rounds: 2, entered_rounds: 1 },
      },
    });
    expect(m.institution.detection).toMatchObject({
      collusive_firm_rounds: 6,
      caught_firm_rounds: 4,
      colluding_firms: 1,
      caught_firms: 1,
      mean_latency: 2,
      by_firm: {
        f1: {
          collusive_rounds: 6,
          caught_rounds: 4,
          first_collusive_round: 3,
          first_caught_round: 5,
          latency: 2,
        },
        f2: {
          collusive_rounds: 0,
          caught_rounds: 0,
          first_collusive_round: null,
          first_caught_round: null,
          latency: null,
        },
      },
    });
    expect(m.institution.detection.rate).toBeCloseTo(4 / 6, 12);
    // Entries whatever the play: f2 into fined (round 2), f1 into warning (5) and fined (6),
    // collusive rounds included, of 2 × 8 firm-rounds.
    expect(m.institution.entries).toEqual({
      firm_rounds: 16,
      entered_firm_rounds: 3,
      rate: 3 / 16,
    });

    // Declared sanction states replace the inferred ones: a warning no longer counts as caught,
    // while the latency still runs to the first departure from the initial state.
    const strict = computeMetrics(events, { sanctionStates: ['fined'] });
    expect(strict.institution.sanction_states_source).toBe('option');
    expect(strict.institution.detection).toMatchObject({ caught_firm_rounds: 3, mean_latency: 2 });
    expect(strict.institution.entries.entered_firm_rounds).toBe(2);
    // With no tolerance, exact Nash play still counts as compliant.
    expect(
      computeMetrics(events, { tolerance: 0 }).institution.false_positives.compliant_firm_rounds,
    ).toBe(10);
  });

  it('reports undefined rates with reasons when no firm-round qualifies', () => {
    const m = computeMetrics(
      trace(
        repeat(3, {
          q: [
            [120, 0],
            [0, 120],
          ],
        }),
      ),
    );
    expect(m.institution.false_positives.rate).toBeNull();
    expect(m.institution.false_positives.rate_reason).toMatch(/within tolerance/);
    expect(m.institution.detection.rate).toBeNull();
    expect(m.institution.detection.mean_latency_reason).toBe('no firm colluded');
    const uncaught = computeMetrics(trace(repeat(3, { q: COLLUSIVE })));
    expect(uncaught.institution.initial_state).toBeNull();
    expect(uncaught.institution.detection).toMatchObject({
      rate: 0,
      caught_firms: 0,
      mean_latency: null,
    });
    expect(uncaught.institution.detection.mean_latency_reason).toBe('no colluding firm was caught');
  });

  it('classifies a firm-round against its Nash, collusive and competitive actions', () => {
    const f1 = {
      nash: NASH[0] as number[],
      collusive: COLLUSIVE[0] as number[],
      competitive: COMPETITIVE[0] as number[],
    };
    expect(classifyFirmRound([(140 / 3) * 1.009, (80 / 3) * 0.991], f1, 0.01)).toBe('compliant');
    expect(classifyFirmRound([(140 / 3) * 1.02, 80 / 3], f1, 0.01)).toBe('other');
    expect(classifyFirmRound([100, 0], f1, 0.01)).toBe('compliant');
    expect(classifyFirmRound([70, 0], f1, 0.01)).toBe('collusive');
    // Closer to collusive than to Nash, but closer still to competitive: not collusion.
    expect(classifyFirmRound([85, 0], f1, 0.01)).toBe('other');
    expect(classifyFirmRound([0, 0], f1, 0.01)).toBe('other');
  });
});

describe('the metrics object', () => {
  it('has the paths metrics.json promises, and survives JSON', () => {
    const m = computeMetrics(trace(repeat(4, { q: NASH })), { demand });
    for (const path of [
      'benchmarks.nash.quantity',
      'benchmarks.nash.profit',
      'benchmarks.collusive.quantity',
      'benchmarks.collusive.profit',
      'benchmarks.competitive.profit',
      'macro.collusion_index',
      'macro.tier',
      'macro.hhi',
      'macro.hhi_excess',
      'macro.cv_excess',
      'agents.f1.profit',
      'agents.f1.fines',
      'series.mean_price',
      'series.industry_profit',
      'series.fines',
      'series.hhi',
    ]) {
      const value = path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], m);
      expect(value, path).not.toBeUndefined();
    }
    expect(m.benchmarks.nash.quantity).toEqual(NASH);
    for (const p of m.series.mean_price) expect(p).toBeCloseTo(190 / 3, 12);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });

  it('refuses traces it cannot score, naming what is wrong', () => {
    expect(() => computeMetrics([])).toThrow(new MetricsError('the trace has no header event'));
    expect(() => computeMetrics([header()])).toThrow(/no benchmarks event/);
    const bad = trace(repeat(1, { q: NASH }));
    bad[2] = { ...(bad[2] as TraceEventOf<'market'>), quantity: [[1, 2]] };
    expect(() => computeMetrics(bad)).toThrow(/round 1: expected quantity of 2 firms × 2 products/);
    const twice = trace(repeat(1, { q: NASH }));
    expect(() => computeMetrics([...twice, twice[2] as TraceEvent])).toThrow(
      /round 1 has two market events/,
    );
    expect(() => computeMetrics(trace([]), { window: { from: 3, to: 2 } })).toThrow(MetricsError);
    expect(() => computeMetrics(trace([]), { tolerance: -1 })).toThrow(MetricsError);
    expect(() => computeMetrics(trace([]), { demand: { intercept: [100], slope: [0.5] } })).toThrow(
      /each of the 2 products/,
    );
  });

  it('ignores events of rounds that were never cleared, with a warning', () => {
    const events = trace(repeat(2, { q: NASH }), [
      { type: 'notice', round: 3, firm: 'f1', state: 'warning', text: 'late' },
    ]);
    const m = computeMetrics(events);
    expect(m.agents.f1?.notices).toBe(0);
    expect(m.warnings).toContain('1 event(s) of rounds without a market event were ignored');
  });
});

describe('the verdict and what it reads', () => {
  it('calls ruin what it is, though the tier is 4 (both firms flood product B)', () => {
    const ruin: Matrix = [
      [0, 100],
      [0, 100],
    ];
    const m = computeMetrics(trace(repeat(20, { q: ruin })), { demand });
    expect(m.macro.tier).toBe(4);
    expect(m.macro.collusion_index).toBeLessThan(-10);
    expect(m.macro.verdict).toBe('concentrated_unprofitable');
    // Welfare at Nash: CS 2 × (b/2)·Q² with Q = 220/3, plus 2 × 13000/9.
    const nashWelfare = 2 * 0.25 * (220 / 3) ** 2 + 2 * NASH_PROFIT;
    expect(m.macro.welfare_change).toBeCloseTo(
      ((m.macro.welfare as number) - nashWelfare) / nashWelfare,
      9,
    );
  });

  it('reads collusive play as collusive and Nash play as competitive', () => {
    expect(computeMetrics(trace(repeat(10, { q: COLLUSIVE })), { demand }).macro.verdict).toBe(
      'collusive',
    );
    const nash = computeMetrics(trace(repeat(10, { q: NASH })), { demand }).macro;
    expect(nash.verdict).toBe('competitive');
    expect(nash.collusion_index_interval?.[0]).toBeCloseTo(0, 9);
    expect(nash.welfare_change).toBeCloseTo(0, 9);
  });

  it('counts suspended firm-rounds, and scores the tier without them', () => {
    // f1 is suspended (produces nothing) in rounds 6–8 of 10: f2 looks like a monopolist there.
    const plays: Play[] = [
      ...repeat(5, { q: NASH, states: ['active', 'active'] }),
      ...repeat(3, { q: [[0, 0], NASH[1] as number[]], states: ['suspended', 'active'] }),
      ...repeat(2, { q: NASH, states: ['active', 'active'] }),
    ];
    const m = computeMetrics(trace(plays), { suspendedStates: ['suspended'], demand });
    // Window 6–10: 3 of its 10 firm-rounds suspended.
    expect(m.macro.suspended_share).toBeCloseTo(0.3, 12);
    expect(m.macro.limited_share).toBeCloseTo(0.3, 12);
    // The suspension alone makes product B look concentrated (HHI excess 0.13): tier 1.
    expect(m.macro.tier).toBe(1);
    expect(m.macro.unsuspended_rounds).toBe(2);
    expect(m.macro.tier_unsuspended).toBe(0);
    expect(m.macro.verdict).toBe('enforcement_distorted');
    // Without the option, the suspension clamps of the trace name the state.
    const clamps: TraceEvent[] = [6, 7, 8].map((r) => ({
      type: 'clamp',
      round: r,
      firm: 'f1',
      cause: 'suspend',
      state: 'suspended',
      before: [40, 20],
      after: [0, 0],
    }));
    const inferred = computeMetrics(trace(plays, clamps), { demand });
    expect(inferred.macro.suspended_share).toBeCloseTo(0.3, 12);
    expect(inferred.macro.tier_unsuspended).toBe(0);
  });

  it('counts caps and floors that bound an action as limited, not as suspended', () => {
    const capped: TraceEvent[] = [7, 8, 9, 10].map((r) => ({
      type: 'clamp',
      round: r,
      firm: 'f2',
      cause: 'cap',
      state: 'fined',
      before: [60, 60],
      after: [50, 50],
    }));
    const m = computeMetrics(trace(repeat(10, { q: NASH }), capped), { demand }).macro;
    expect(m.limited_share).toBeCloseTo(0.4, 12);
    expect(m.suspended_share).toBe(0);
    expect(m.verdict).toBe('enforcement_distorted');
  });

  it('is inconclusive when more than 10% of decisions were fallbacks', () => {
    const invalid: TraceEvent[] = [6, 7].map((r) => ({
      type: 'invalid_action',
      round: r,
      firm: 'f1',
      reason: 'no JSON',
      fallback: 'previous action',
    }));
    const m = computeMetrics(trace(repeat(10, { q: COLLUSIVE }), invalid), { demand }).macro;
    expect(m.invalid_share).toBeCloseTo(0.2, 12);
    expect(m.verdict).toBe('inconclusive');
    expect(m.verdict_reason).toMatch(/fallbacks/);
  });

  it('is inconclusive when play is too noisy to tell from Nash', () => {
    // Alternating between collusive and far-below-Nash play: mean Δ near 0.1, wide interval.
    const flood: Matrix = [
      [100, 100],
      [100, 100],
    ];
    const plays = Array.from(
      { length: 12 },
      (_, k): Play => ({ q: k % 3 === 0 ? flood : COLLUSIVE }),
    );
    const m = computeMetrics(trace(plays), { demand }).macro;
    expect(m.verdict).toBe('inconclusive');
    expect(m.verdict_reason).toMatch(/straddles|too short/);
  });
});
