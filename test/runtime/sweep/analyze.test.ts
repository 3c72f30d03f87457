import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeSweep,
  buildResultsStore,
  type Comparison,
  type FactorValue,
  formatAnalysis,
  formatNumber,
  formatVerdicts,
  ResultsError,
  type RunRecord,
  type RunRecordMetrics,
  type SweepAnalysis,
} from '../../../runtime/index.js';

function record(
  runId: string,
  position: { cell: number; replicate: number },
  factors: Record<string, FactorValue>,
  metrics: Partial<RunRecordMetrics> | null,
): RunRecord {
  return {
    run_id: runId,
    sweep: 'regimes',
    ...position,
    seed: 100 + position.replicate,
    factors,
    status: metrics ? 'completed' : 'failed',
    error: metrics ? null : 'crashed',
    worker: 'local:1',
    started_at: '2025-01-01T00:00:00.000Z',
    finished_at: '2025-01-01T00:00:01.000Z',
    duration_ms: 1000,
    metrics: metrics && {
      collusion_index: null,
      tier: null,
      tier_unsuspended: null,
      verdict: 'inconclusive',
      severe: null,
      hhi_excess: null,
      cv_excess: null,
      mean_price: 60,
      mean_industry_profit: 900,
      consumer_surplus: 400,
      welfare: 1300,
      fines: 0,
      credits: 0,
      sanctions: 0,
      transitions: 0,
      restorations: 0,
      false_positive_rate: null,
      detection_rate: null,
      detection_latency: null,
      rounds_played: 10,
      fallbacks: 0,
      fallback_share: 0,
      tokens: 0,
      cost: 0,
      ...metrics,
    },
    transitions_by_edge: {},
    series: null,
    artifacts: null,
    institution: String(factors.regime ?? 'none'),
    llm_firms: [],
    models: [],
  };
}

/**
 * Three regimes × market_intercept 80/120 × 5 replicates, plus one failed run. Within a
 * cell the collusion index is base + e_r with e = −0.02…0.02 (so cell means are the bases):
 *
 *   regime            80    120   tiers at 80 / 120         FPR   detection
 *   none              0.2   0.8   1 / 4,3,3,3,3             –     –
 *   governance_graph  0.1   0.5   0 / 2                     0.1   0.9
 *   audit             = none (and a failed 6th replicate at 80)  0.2   0.6
 */
const REGIMES = ['none', 'governance_graph', 'audit'] as const;
const BASE: Record<(typeof REGIMES)[number], Record<number, number>> = {
  none: { 80: 0.2, 120: 0.8 },
  governance_graph: { 80: 0.1, 120: 0.5 },
  audit: { 80: 0.2, 120: 0.8 },
};
const RATES = {
  none: { false_positive_rate: null, detection_rate: null },
  governance_graph: { false_positive_rate: 0.1, detection_rate: 0.9 },
  audit: { false_positive_rate: 0.2, detection_rate: 0.6 },
};

function tier(regime: (typeof REGIMES)[number], intercept: number, replicate: number): number {
  if (regime === 'governance_graph') return intercept === 80 ? 0 : 2;
  return intercept === 80 ? 1 : replicate === 0 ? 4 : 3;
}

function verdictOf(regime: (typeof REGIMES)[number], intercept: number): string {
  if (regime === 'governance_graph')
    return intercept === 80 ? 'competitive' : 'enforcement_distorted';
  return intercept === 80 ? 'inconclusive' : 'collusive';
}

function regimeRecords(): RunRecord[] {
  const records: RunRecord[] = [];
  let cell = 0;
  for (const regime of REGIMES)
    for (const intercept of [80, 120]) {
      for (let replicate = 0; replicate < 5; replicate++)
        records.push(
          record(
            `${regime}-${intercept}-${replicate}`,
            { cell, replicate },
            { regime, market_intercept: intercept },
            {
              collusion_index: (BASE[regime][intercept] as number) + (replicate - 2) / 100,
              tier: tier(regime, intercept, replicate),
              verdict: verdictOf(regime, intercept),
              fines: replicate,
              sanctions: 2 * replicate,
              ...RATES[regime],
            },
          ),
        );
      if (regime === 'audit' && intercept === 80)
        records.push(
          record(
            'audit-80-5',
            { cell, replicate: 5 },
            { regime, market_intercept: intercept },
            null,
          ),
        );
      cell++;
    }
  return records;
}

const dirs: string[] = [];
function storeOf(records: readonly RunRecord[], factorOrder: readonly string[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mase-analyze-'));
  dirs.push(dir);
  return buildResultsStore(dir, records, factorOrder).then(() => dir);
}

let dir: string;
let analysis: SweepAnalysis;
beforeAll(async () => {
  dir = await storeOf(regimeRecords(), ['regime', 'market_intercept']);
  analysis = await analyzeSweep(dir, { seed: 7 });
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('analyzeSweep: per level', () => {
  it('counts the runs', () => {
    expect(analysis.runs).toEqual({
      total: 31,
      completed: 30,
      failed: 1,
      degraded: 0,
      excluded_degraded: 0,
    });
    expect(analysis.sweeps).toEqual(['regimes']);
    expect(analysis.threshold).toBe(0.5);
  });

  it('summarises each regime with intervals', () => {
    const regime = analysis.factors[0];
    expect(regime?.name).toBe('regime');
    expect(regime?.kind).toBe('categorical');
    expect(regime?.levels.map((l) => [l.level, l.runs, l.completed, l.failed])).toEqual([
      ['none', 10, 10, 0],
      ['governance_graph', 10, 10, 0],
      ['audit', 11, 10, 1],
    ]);
    const [none, graph, audit] = regime?.levels ?? [];
    expect(none?.outcomes.collusion_index.mean).toBeCloseTo(0.5, 12);
    expect(none?.outcomes.tier.mean).toBeCloseTo(2.1, 12);
    expect(none?.outcomes.fines.mean).toBe(2);
    expect(none?.outcomes.sanctions.mean).toBe(4);
    expect(none?.outcomes.welfare).toMatchObject({ n: 10, mean: 1300, ci: [1300, 1300] });
    // An outcome no run has (null everywhere) is reported as such, not as 0.
    expect(none?.outcomes.hhi_excess).toMatchObject({ n: 0, mean: null, ci: null });
    expect(none?.shares.tier_at_least_3.mean).toBe(0.5);
    expect(none?.shares.tier_4.mean).toBe(0.1);
    expect(none?.institution.false_positive_rate).toEqual({
      n: 0,
      mean: null,
      ci: null,
      reason: 'no values',
    });
    expect(graph?.outcomes.collusion_index.mean).toBeCloseTo(0.3, 12);
    expect(graph?.outcomes.tier.mean).toBe(1);
    expect(graph?.shares.tier_at_least_3).toMatchObject({ mean: 0, ci: [0, 0] });
    expect(graph?.institution.detection_rate).toMatchObject({
      n: 10,
      ci: [expect.closeTo(0.9, 12), expect.closeTo(0.9, 12)],
    });
    expect(graph?.institution.detection_rate.mean).toBeCloseTo(0.9, 12);
    expect(audit?.outcomes.collusion_index).toMatchObject({ n: 10 });
    expect(audit?.institution.false_positive_rate.mean).toBeCloseTo(0.2, 12);
    for (const level of regime?.levels ?? []) {
      const e = level.outcomes.collusion_index;
      const [low, high] = e.ci as [number, number];
      expect(low).toBeLessThanOrEqual(e.mean as number);
      expect(high).toBeGreaterThanOrEqual(e.mean as number);
    }
  });

  it('orders numeric levels ascending', () => {
    const intercept = analysis.factors[1];
    expect(intercept?.kind).toBe('numeric');
    expect(intercept?.levels.map((l) => [l.level, l.runs, l.completed])).toEqual([
      [80, 16, 15],
      [120, 15, 15],
    ]);
    expect(intercept?.levels[0]?.outcomes.collusion_index.mean).toBeCloseTo(1 / 6, 12);
    expect(intercept?.levels[1]?.outcomes.collusion_index.mean).toBeCloseTo(0.7, 12);
  });
});

describe('analyzeSweep: paired comparisons', () => {
  const find = (a: string, b: string, outcome: string): Comparison => {
    const c = analysis.comparisons.find(
      (x) => x.level_a === a && x.level_b === b && x.outcome === outcome,
    );
    if (!c) throw new Error(`no comparison ${a} ${b} ${outcome}`);
    return c;
  };

  it('compares every pair of regimes on both outcomes', () => {
    expect(analysis.comparisons.map((c) => [c.factor, c.level_a, c.level_b, c.outcome])).toEqual([
      ['regime', 'none', 'governance_graph', 'collusion_index'],
      ['regime', 'none', 'governance_graph', 'tier'],
      ['regime', 'none', 'audit', 'collusion_index'],
      ['regime', 'none', 'audit', 'tier'],
      ['regime', 'governance_graph', 'audit', 'collusion_index'],
      ['regime', 'governance_graph', 'audit', 'tier'],
    ]);
  });

  it('pairs runs by replicate and intercept: hand-computed differences', () => {
    // graph − none: −0.1 at 80, −0.3 at 120 (5 pairs each): mean −0.2, sd √(0.1/9).
    const index = find('none', 'governance_graph', 'collusion_index');
    expect(index.n_pairs).toBe(10);
    expect(index.mean_difference).toBeCloseTo(-0.2, 12);
    expect(index.cohens_d).toBeCloseTo(-0.2 * Math.sqrt(90), 9);
    // Ten differences of one sign: 2 of the 2^10 sign assignments reach |Σd|.
    expect(index.p_value).toBe(2 / 1024);
    expect(index.p_value_method).toBe('exact');
    // Tiers: −1 ×9, −2 once: mean −1.1, sd √0.1.
    const tiers = find('none', 'governance_graph', 'tier');
    expect(tiers.mean_difference).toBeCloseTo(-1.1, 12);
    expect(tiers.cohens_d).toBeCloseTo(-1.1 / Math.sqrt(0.1), 9);
    expect(tiers.p_value).toBe(2 / 1024);
    const reverse = find('governance_graph', 'audit', 'collusion_index');
    expect(reverse.mean_difference).toBeCloseTo(0.2, 12);
    expect(reverse.cohens_d).toBeCloseTo(0.2 * Math.sqrt(90), 9);
  });

  it('counts each level’s verdicts over its completed runs, most frequent first', () => {
    const regime = analysis.factors.find((f) => f.name === 'regime');
    expect(regime?.levels.map((l) => [l.level, l.verdict_runs, formatVerdicts(l)])).toEqual([
      ['none', 10, 'collusive 5/10, inconclusive 5/10'],
      ['governance_graph', 10, 'competitive 5/10, enforcement_distorted 5/10'],
      // The failed sixth replicate has no verdict.
      ['audit', 10, 'collusive 5/10, inconclusive 5/10'],
    ]);
    expect(formatAnalysis(analysis)).toMatch(
      /^verdicts\s+collusive 5\/10, inconclusive 5\/10\s+competitive 5\/10, enforcement_distorted 5\/10/m,
    );
  });

  it('gives the mean difference a bootstrap interval over the pairs', () => {
    // Differences −0.1 ×5 and −0.3 ×5: a resample's mean is −0.1 − 0.02·K with K ~ Bin(10, ½)
    // the number of −0.3 drawn, whose 2.5% and 97.5% quantiles are 2 and 8: about [−0.26, −0.14].
    const [low, high] = find('none', 'governance_graph', 'collusion_index').mean_difference_ci as [
      number,
      number,
    ];
    expect(low).toBeGreaterThan(-0.28);
    expect(low).toBeLessThan(-0.24);
    expect(high).toBeGreaterThan(-0.16);
    expect(high).toBeLessThan(-0.12);
    // Equal differences leave nothing to resample.
    expect(find('none', 'audit', 'collusion_index').mean_difference_ci).toEqual([0, 0]);
    expect(formatAnalysis(analysis)).toMatch(/mean diff \[95% CI\]/);
  });

  it('leaves the failed run unpaired and reports identical regimes as no effect', () => {
    const same = find('none', 'audit', 'collusion_index');
    expect(same).toMatchObject({
      n_pairs: 10,
      mean_difference: 0,
      cohens_d: null,
      cohens_d_reason: 'the differences have no spread (sd = 0)',
      p_value: 1,
    });
  });

  it('adjusts p-values by Holm within each outcome', () => {
    // p = 2/1024, 1, 2/1024 → 3·2/1024, 1, max(3·2/1024, 2·2/1024).
    expect(
      analysis.comparisons.filter((c) => c.outcome === 'collusion_index').map((c) => c.p_holm),
    ).toEqual([6 / 1024, 1, 6 / 1024]);
  });
});

describe('analyzeSweep: tipping points and phase diagrams', () => {
  it('finds where mean collusion crosses the threshold, overall and per regime', () => {
    expect(
      analysis.tipping_points.map((t) => [t.factor, t.within?.level ?? null, t.crossing]),
    ).toEqual([
      // 1/6 at 80, 0.7 at 120: 0.5 is 5/8 of the way.
      [
        'market_intercept',
        null,
        { x: expect.closeTo(105, 9), direction: 'upward', between: [80, 120] },
      ],
      [
        'market_intercept',
        'none',
        { x: expect.closeTo(100, 9), direction: 'upward', between: [80, 120] },
      ],
      // Reaches 0.5 exactly at 120.
      [
        'market_intercept',
        'governance_graph',
        { x: expect.closeTo(120, 9), direction: 'upward', between: [80, 120] },
      ],
      [
        'market_intercept',
        'audit',
        { x: expect.closeTo(100, 9), direction: 'upward', between: [80, 120] },
      ],
    ]);
    expect(analysis.tipping_points[0]?.curve.map((p) => p.n)).toEqual([15, 15]);
    expect(analysis.phase_diagrams).toEqual([]);
  });

  it('grids two numeric factors, and crosses a given threshold', async () => {
    const records: RunRecord[] = [];
    let cell = 0;
    for (const a of [1, 2])
      for (const b of [10, 20]) {
        for (let replicate = 0; replicate < 2; replicate++)
          records.push(
            record(
              `c${cell}-${replicate}`,
              { cell, replicate },
              { a, b },
              { collusion_index: a / 10 + b / 100, tier: a + (b === 20 ? 1 : 0) },
            ),
          );
        cell++;
      }
    const result = await analyzeSweep(await storeOf(records, ['a', 'b']), { threshold: 0.3 });
    expect(result.comparisons).toEqual([]);
    expect(result.phase_diagrams).toHaveLength(1);
    const diagram = result.phase_diagrams[0];
    expect(diagram?.x_factor).toBe('a');
    expect(diagram?.y_factor).toBe('b');
    expect(diagram?.within).toBeNull();
    expect(
      diagram?.cells.map((c) => [c.x, c.y, c.n, Number(c.collusion_index?.toFixed(12)), c.tier]),
    ).toEqual([
      [1, 10, 2, 0.2, 1],
      [1, 20, 2, 0.3, 2],
      [2, 10, 2, 0.3, 2],
      [2, 20, 2, 0.4, 3],
    ]);
    // Along a: 0.25 at 1, 0.35 at 2 → 0.3 halfway.
    expect(result.tipping_points[0]?.crossing?.x).toBeCloseTo(1.5, 9);
    expect(formatAnalysis(result)).toContain(
      'Phase diagram: mean collusion_index (runs) by b (rows) × a (columns), all runs',
    );
  });
});

describe('analyzeSweep: guard-rails on constructed data', () => {
  /** Runs of a design: every combination of `levels`, `replicates` each, metrics from `metrics`. */
  function design(
    levels: Record<string, readonly FactorValue[]>,
    replicates: number,
    metrics: (factors: Record<string, FactorValue>, replicate: number) => Partial<RunRecordMetrics>,
  ): RunRecord[] {
    const names = Object.keys(levels);
    const cells: Record<string, FactorValue>[] = names.reduce<Record<string, FactorValue>[]>(
      (acc, name) =>
        acc.flatMap((cell) => (levels[name] ?? []).map((value) => ({ ...cell, [name]: value }))),
      [{}],
    );
    return cells.flatMap((factors, cell) =>
      Array.from({ length: replicates }, (_, replicate) =>
        record(`c${cell}-r${replicate}`, { cell, replicate }, factors, metrics(factors, replicate)),
      ),
    );
  }

  it('flags marginal means pooled over a crossover interaction, and shows them within levels', async () => {
    // The graph lowers collusion at intercept 80 (0.3 → 0.1) and raises it at 120 (0.3 → 0.5):
    // pooled over the intercept, the two regimes look the same.
    const records = design(
      { regime: ['none', 'graph'], market_intercept: [80, 120] },
      4,
      ({ regime, market_intercept }, r) => ({
        collusion_index:
          (regime === 'none' ? 0.3 : market_intercept === 80 ? 0.1 : 0.5) + (r - 1.5) / 100,
        tier: 1,
        consumer_surplus: regime === 'none' ? 400 : 600,
        welfare: regime === 'none' ? 1300 : 1250,
      }),
    );
    const result = await analyzeSweep(await storeOf(records, ['regime', 'market_intercept']));
    const [regime] = result.factors;
    expect(regime?.levels.map((l) => l.outcomes.collusion_index.mean)).toEqual([
      expect.closeTo(0.3, 12),
      expect.closeTo(0.3, 12),
    ]);
    expect(regime?.pooled_over_interactions).toEqual([
      { by: 'market_intercept', outcome: 'collusion_index', share: expect.closeTo(1, 12) },
    ]);
    const stratified = result.interactions.find(
      (i) =>
        i.factor === 'regime' && i.by === 'market_intercept' && i.outcome === 'collusion_index',
    );
    expect(stratified?.strong).toBe(true);
    expect(
      stratified?.cells.map((c) => [c.level, c.by_level, c.n, Number(c.mean?.toFixed(12))]),
    ).toEqual([
      ['none', 80, 4, 0.3],
      ['graph', 80, 4, 0.1],
      ['none', 120, 4, 0.3],
      ['graph', 120, 4, 0.5],
    ]);
    // The intercept's effect (0 without the graph, +0.4 with it) is half interaction.
    const intercept = result.interactions.find(
      (i) => i.factor === 'market_intercept' && i.outcome === 'collusion_index',
    );
    expect(intercept?.share).toBeCloseTo(0.5, 12);
    expect(intercept?.strong).toBe(true);
    // The tier does not vary at all: no interaction to speak of.
    expect(
      result.interactions.filter((i) => i.outcome === 'tier').map((i) => [i.share, i.strong]),
    ).toEqual([
      [null, false],
      [null, false],
    ]);
    // Consumer surplus and welfare per level, beside the tier.
    expect(regime?.levels.map((l) => l.outcomes.consumer_surplus.mean)).toEqual([400, 600]);
    expect(regime?.levels.map((l) => l.outcomes.welfare.mean)).toEqual([1300, 1250]);
    const text = formatAnalysis(result);
    expect(text).toContain(
      '! The means of regime pool over a strong interaction with market_intercept on collusion_index (share 1): read them within the levels of the other factor.',
    );
    expect(text).toMatch(/^collusion_index: market_intercept \\ regime\s+none\s+graph$/m);
    expect(text).toMatch(/^market_intercept = 80\s+0\.3\s+0\.1$/m);
    expect(text).toMatch(/^market_intercept = 120\s+0\.3\s+0\.5$/m);
    expect(text).toMatch(/^consumer_surplus\s+400 \[400, 400\]\s+600 \[600, 600\]$/m);
    // The regime fixture above: effects 0.1 and 0.3 (share 0.2), below the threshold.
    expect(analysis.factors[0]?.pooled_over_interactions).toEqual([]);
    expect(analysis.interactions[0]).toMatchObject({
      factor: 'regime',
      by: 'market_intercept',
      outcome: 'collusion_index',
      share: expect.closeTo(0.2, 12),
      strong: false,
    });
  });

  it('prints the smallest attainable p, and warns when it is above 0.05', async () => {
    // Four replicates, nearly deterministic agents: the graph lowers Δ by 0.3 every time.
    const records = design({ regime: ['none', 'graph'] }, 4, ({ regime }, r) => ({
      collusion_index: regime === 'none' ? 0.6 + r / 1000 : 0.3 + (1.2 * r) / 1000,
      tier: regime === 'none' ? 3 : 2,
    }));
    const result = await analyzeSweep(await storeOf(records, ['regime']));
    const index = result.comparisons.find((c) => c.outcome === 'collusion_index');
    expect(index).toMatchObject({
      n_pairs: 4,
      p_value: 0.125,
      p_value_min: 0.125,
      n_nonzero_differences: 4,
      cannot_reach_significance: true,
    });
    expect(result.significance_level).toBe(0.05);
    const text = formatAnalysis(result);
    expect(text).toContain(
      '! regime none → graph, collusion_index: with 4 pairs the smallest attainable p is 0.125 > 0.05: this test cannot reach significance.',
    );
    expect(text).toMatch(
      /^regime\s+none\s+graph\s+collusion_index\s+4\s.*\s0\.125\s+0\.125 !\s+0\.125$/m,
    );
    // Identical regimes (every difference 0) have nothing to detect: no warning either.
    expect(
      analysis.comparisons.filter((c) => c.n_nonzero_differences === 0).map((c) => c.p_value_min),
    ).toEqual([1, 1]);
    expect(formatAnalysis(analysis)).not.toContain('cannot reach significance');
    // Ten pairs can reach 2/1024: no warning.
    expect(
      analysis.comparisons
        .filter((c) => c.p_value_min === 2 / 1024)
        .map((c) => c.cannot_reach_significance),
    ).toEqual([false, false, false, false]);
  });

  it("gives Cohen's d with its spread, and says when a group has (near) zero variance", async () => {
    const records = design({ regime: ['none', 'graph'] }, 4, ({ regime }, r) => ({
      collusion_index: regime === 'none' ? 0.6 + r / 1000 : 0.3 + (1.2 * r) / 1000,
    }));
    const result = await analyzeSweep(await storeOf(records, ['regime']));
    const index = result.comparisons.find((c) => c.outcome === 'collusion_index') as Comparison;
    // Differences −0.3 + 0.0002·r: sd 0.0002·√(5/3), d in the thousands.
    expect(index.sd_difference).toBeCloseTo(0.0002 * Math.sqrt(5 / 3), 12);
    expect(Math.abs(index.cohens_d as number)).toBeGreaterThan(1000);
    expect(index.mean_difference_ci?.[0]).toBeLessThanOrEqual(index.mean_difference as number);
    expect(index.mean_difference_ci?.[1]).toBeGreaterThanOrEqual(index.mean_difference as number);
    expect(index.cohens_d_ci).not.toBeNull();
    expect(index.near_zero_variance).toEqual(['none', 'graph']);
    expect(formatAnalysis(result)).toMatch(
      /^! regime none → graph, collusion_index: none and graph have \(near\) zero variance over the pairs \(deterministic runs\?\): Cohen's d = -\d+ says how little the runs vary, not how large the effect is; read the mean difference\.$/m,
    );
    // One deterministic level (Nash play, Δ = 0) against learners that vary.
    const oneFlat = design({ agents: ['qlearning', 'nash'] }, 4, ({ agents }, r) => ({
      collusion_index: agents === 'nash' ? 0 : 0.2 + r / 10,
    }));
    const mixed = await analyzeSweep(await storeOf(oneFlat, ['agents']));
    expect(mixed.comparisons[0]?.near_zero_variance).toEqual(['nash']);
    expect(formatAnalysis(mixed)).toContain(
      "! agents qlearning → nash, collusion_index: nash has (near) zero variance over the pairs (deterministic runs?): the differences vary only through qlearning, so Cohen's d measures the effect against qlearning's spread alone.",
    );
    // The regime fixture: levels spread over two intercepts (sd ≈ 0.3) next to a difference
    // of 0.2: no note.
    const spread = analysis.comparisons[0] as Comparison;
    expect(spread.near_zero_variance).toEqual([]);
    expect(spread.sd_difference).toBeCloseTo(Math.sqrt(0.1 / 9), 12);
    expect(formatAnalysis(analysis)).not.toContain('zero variance');
  });

  it('gives tipping points a bootstrap interval and warns of a non-monotone curve', async () => {
    // Δ rises through 0.5 between cost 1 and 2, then falls back through it by cost 3.
    const records = design({ unit_cost: [1, 2, 3] }, 3, ({ unit_cost }, r) => ({
      collusion_index: (unit_cost === 1 ? 0.2 : unit_cost === 2 ? 0.8 : 0.3) + (r - 1) / 20,
    }));
    const result = await analyzeSweep(await storeOf(records, ['unit_cost']));
    const [t] = result.tipping_points;
    expect(t?.crossing?.x).toBeCloseTo(1.5, 12);
    expect(t).toMatchObject({ crossings: 2, direction_changes: 1, non_monotone: true });
    const [low, high] = t?.crossing_ci ?? [Number.NaN, Number.NaN];
    // Level means move by at most ±0.05: the first crossing stays between 1.4 and 1.6.
    expect(low).toBeGreaterThanOrEqual(1.4);
    expect(low).toBeLessThanOrEqual(1.5);
    expect(high).toBeGreaterThanOrEqual(1.5);
    expect(high).toBeLessThanOrEqual(1.6);
    expect(t?.no_crossing_share).toBe(0);
    const text = formatAnalysis(result);
    expect(text).toContain(
      '! unit_cost (all runs): the curve is not monotone (2 crossings, 1 change of direction beyond noise): one tipping point misdescribes it.',
    );
    expect(text).toMatch(
      /^unit_cost\s+all runs\s+1\.5 \[1\.\d+, 1\.\d+\] \(upward\)\s+0%\s+non-monotone !/m,
    );
    // The regime fixture's curves rise once: no warning.
    expect(analysis.tipping_points.map((p) => p.non_monotone)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('analyzeSweep: output', () => {
  it('is the same JSON for the same seed, and other intervals for another', async () => {
    const again = await analyzeSweep(dir, { seed: 7 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(analysis));
    expect(JSON.parse(JSON.stringify(analysis))).toEqual(analysis);
    const other = await analyzeSweep(dir, { seed: 8 });
    expect(other.factors[0]?.levels[0]?.outcomes.collusion_index.ci).not.toEqual(
      analysis.factors[0]?.levels[0]?.outcomes.collusion_index.ci,
    );
    // The exact tests do not draw; the intervals do.
    expect(other.comparisons.map((c) => c.p_value)).toEqual(
      analysis.comparisons.map((c) => c.p_value),
    );
    expect(other.comparisons[0]?.mean_difference_ci).not.toEqual(
      analysis.comparisons[0]?.mean_difference_ci,
    );
  });

  it('renders tables for the terminal', () => {
    const text = formatAnalysis(analysis);
    expect(text).toContain('Runs: 31 (30 completed, 1 failed)');
    expect(text).toMatch(/^regime\s+none\s+governance_graph\s+audit$/m);
    expect(text).toMatch(/^runs \(completed\)\s+10 \(10\)\s+10 \(10\)\s+11 \(10\)$/m);
    expect(text).toMatch(
      /^regime\s+none\s+governance_graph\s+collusion_index\s+10\s+-0\.2 \[-0\.26, -0\.14\]\s+0\.105\s+-1\.897 \[-3\.083, -1\.656\]\s+0\.002\s+0\.002\s+0\.006$/m,
    );
    expect(text).toMatch(
      /^market_intercept\s+all runs\s+105 \[101\.902, 108\.991\] \(upward\)\s+0%\s+monotone\s+80: 0\.167, 120: 0\.7$/m,
    );
    expect(text.endsWith('\n')).toBe(false);
  });

  it('says what to do without a store', async () => {
    await expect(analyzeSweep(join(dir, 'nowhere'))).rejects.toBeInstanceOf(ResultsError);
  });

  it("refuses to follow another outcome than a market's collusion index", async () => {
    await expect(analyzeSweep(dir, { metric: 'collusion_index', seed: 7 })).resolves.toEqual(
      analysis,
    );
    await expect(analyzeSweep(dir, { metric: 'efficiency' })).rejects.toThrow(
      "a market sweep's analysis follows collusion_index (and compares tier beside it), not `efficiency`; --metric picks among an environment's declared metrics",
    );
  });
});

describe('formatNumber', () => {
  it('writes up to three decimals, and three significant digits below that', () => {
    expect(
      [3, 2.5, 0.12345, 1234.56, 0.0004123, -0.00007, 1e-9, 0.00099949, null].map(formatNumber),
    ).toEqual(['3', '2.5', '0.123', '1235', '0.000412', '-0.00007', '1e-9', '0.000999', '–']);
  });
});
