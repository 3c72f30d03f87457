import { randomStream } from '../random.js';
import { VERDICTS } from '../verdict.js';
import type { FactorValue } from './record.js';
import {
  bootstrapMeans,
  bootstrapPaired,
  type CurvePoint,
  cohensDPaired,
  curveShape,
  holm,
  INTERACTION_F_SCREEN,
  INTERACTION_SHARE_THRESHOLD,
  interaction,
  type MeanEstimate,
  mean,
  meanCurve,
  nearZeroSpread,
  pairedSignFlip,
  SIGNIFICANCE_LEVEL,
  sampleSd,
  type TippingPoint,
  tippingPoint,
  tippingPointInterval,
} from './stats.js';
import {
  type FactorKind,
  openResults,
  quoteIdentifier,
  ResultsError,
  type ResultsReader,
} from './store.js';

/**
 * `mase analyze`: the statistics of a sweep, read from its results store. Per factor level,
 * means with bootstrap intervals, and the same means within each level of every other
 * factor with a flag where they interact strongly; between the levels of each categorical
 * factor, paired comparisons (sign-flip tests with their smallest attainable p, Cohen's d
 * with its spread, Holm); along numeric factors, tipping points with bootstrap intervals and
 * a shape check, and phase diagrams. The result is plain JSON, the same for the same store
 * and seed. A market sweep's outcomes are the collusion index and its kin; an environment
 * sweep's are the environment's declared metrics, one of which (`metric`) the comparisons,
 * tipping points and phase diagrams follow.
 * Definitions: docs/metrics.md, "Sweep statistics".
 */

/** The outcomes summarised per factor level. */
export const LEVEL_OUTCOMES = [
  'collusion_index',
  'tier',
  'hhi_excess',
  'mean_price',
  'welfare',
  'consumer_surplus',
  'fines',
  'sanctions',
] as const;
/** The outcomes compared between paired levels. */
export const COMPARISON_OUTCOMES = ['collusion_index', 'tier'] as const;

export type LevelOutcome = (typeof LEVEL_OUTCOMES)[number];
export type ComparisonOutcome = (typeof COMPARISON_OUTCOMES)[number];

export interface AnalyzeOptions {
  /**
   * The value of the followed outcome whose crossing is a tipping point: the collusion
   * index (default 0.5) or an environment's metric (no default: without it, no tipping points).
   */
  readonly threshold?: number;
  /** An environment sweep's declared metric to compare and follow (default: the first declared). */
  readonly metric?: string;
  /** Seed of every bootstrap and sign-flip draw (default 1). */
  readonly seed?: number;
  /** Bootstrap resamples per level (default 1000, enough for percentile intervals). */
  readonly resamples?: number;
  /** Random sign assignments per comparison with more than 16 pairs (default 10,000). */
  readonly permutations?: number;
  /**
   * Count `degraded` runs (too many fallback decisions, docs/llm.md) as completed; by
   * default they are left out like failed runs, and counted apart.
   */
  readonly includeDegraded?: boolean;
}

/** A level of an environment sweep: its declared metrics, then payoff, fines and sanctions. */
export interface EnvironmentLevelSummary {
  readonly level: FactorValue;
  readonly runs: number;
  readonly completed: number;
  readonly failed: number;
  readonly outcomes: Readonly<Record<string, MeanEstimate>>;
}

/** A level of a market sweep: its outcomes, and what only markets have (tiers, verdicts, detection). */
export interface LevelSummary extends EnvironmentLevelSummary {
  readonly outcomes: Readonly<Record<LevelOutcome, MeanEstimate>>;
  /** Shares of completed runs (with a tier) at tier ≥ 3 and at tier 4. */
  readonly shares: { readonly tier_at_least_3: MeanEstimate; readonly tier_4: MeanEstimate };
  /**
   * How many completed runs got each verdict (docs/metrics.md, "The verdict"), most frequent
   * first, out of `verdict_runs` completed runs with a verdict.
   */
  readonly verdicts: readonly { readonly verdict: string; readonly runs: number }[];
  readonly verdict_runs: number;
  /** The institution's error rates, over the runs where they are defined. */
  readonly institution: {
    readonly false_positive_rate: MeanEstimate;
    readonly detection_rate: MeanEstimate;
  };
}

export interface FactorSummary<L extends EnvironmentLevelSummary = LevelSummary> {
  readonly name: string;
  readonly kind: FactorKind;
  /** Numeric levels ascending; categorical levels in the design's order. */
  readonly levels: readonly L[];
  /**
   * The strong interactions this factor's level means are pooled over: read its means
   * within the other factor's levels (`interactions`) instead.
   */
  readonly pooled_over_interactions: readonly {
    readonly by: string;
    readonly outcome: string;
    readonly share: number;
  }[];
}

/** A factor's means within each level of another factor, and how strongly the two interact. */
export interface InteractionSummary {
  /** The factor whose level means are stratified. */
  readonly factor: string;
  /** The factor they are stratified by. */
  readonly by: string;
  readonly outcome: string;
  /** The mean of the outcome at each level of `factor` within each level of `by`. */
  readonly cells: readonly {
    readonly level: FactorValue;
    readonly by_level: FactorValue;
    readonly n: number;
    readonly mean: number | null;
  }[];
  /** Interaction share (stats.ts `interaction`): 0 = the same effect at every level of `by`. */
  readonly share: number | null;
  readonly f: number | null;
  readonly beyond_noise: boolean | null;
  /** The marginal means of `factor` pool over a strong interaction with `by`. */
  readonly strong: boolean;
  readonly reason: string | null;
}

export interface Comparison {
  readonly factor: string;
  readonly level_a: FactorValue;
  readonly level_b: FactorValue;
  readonly outcome: string;
  /** Matched pairs: same replicate and the same values of every other factor. */
  readonly n_pairs: number;
  /** Mean of (b − a) over the pairs. */
  readonly mean_difference: number | null;
  /** Percentile bootstrap interval of the mean difference (resampling pairs). */
  readonly mean_difference_ci: readonly [number, number] | null;
  /** Sample sd of the differences: Cohen's d is mean_difference / sd_difference. */
  readonly sd_difference: number | null;
  readonly cohens_d: number | null;
  /** Percentile bootstrap interval of d (resamples without spread left out). */
  readonly cohens_d_ci: readonly [number, number] | null;
  readonly cohens_d_reason: string | null;
  /**
   * Levels (a, b or both) whose values over the pairs have (near) zero spread (stats.ts
   * `nearZeroSpread`): d then says how little the runs vary, not how large the effect is.
   */
  readonly near_zero_variance: readonly FactorValue[];
  readonly p_value: number | null;
  readonly p_value_method: 'exact' | 'monte-carlo' | null;
  /** The smallest p the test can give with these pairs (2/2^m for m non-zero differences). */
  readonly p_value_min: number | null;
  /** Pairs whose difference is not 0 (a zero difference flips to itself and adds nothing). */
  readonly n_nonzero_differences: number;
  /** p_value_min is above the significance level: no data of this size could be significant. */
  readonly cannot_reach_significance: boolean;
  readonly p_value_reason: string | null;
  /** Holm-adjusted over every comparison of this outcome. */
  readonly p_holm: number | null;
}

/** A subset of the runs: those at one level of a categorical factor. */
export interface Within {
  readonly factor: string;
  readonly level: FactorValue;
}

export interface TippingPointSummary {
  readonly factor: string;
  /** Null: all runs. */
  readonly within: Within | null;
  readonly threshold: number;
  /** Mean of the followed outcome (the collusion index, or an environment's metric) at each level. */
  readonly curve: readonly CurvePoint[];
  readonly crossing: TippingPoint | null;
  /** Bootstrap interval of the crossing (runs resampled within levels), over resamples that cross. */
  readonly crossing_ci: readonly [number, number] | null;
  /** Share of the bootstrap resamples with no crossing. */
  readonly no_crossing_share: number;
  /** Segments of the mean curve that cross the threshold. */
  readonly crossings: number;
  /** Turns of the mean curve, counting steps beyond noise only. */
  readonly direction_changes: number;
  /** Crosses more than once or turns: one tipping point misdescribes the curve. */
  readonly non_monotone: boolean;
}

/** A cell's means: a market's `collusion_index` and `tier`, or an environment's followed metric. */
export interface PhaseCell {
  readonly x: number;
  readonly y: number;
  /** Completed runs in the cell. */
  readonly n: number;
  readonly [outcome: string]: number | null;
}

export interface PhaseDiagram {
  readonly x_factor: string;
  readonly y_factor: string;
  readonly within: Within | null;
  readonly cells: readonly PhaseCell[];
}

/** A market sweep's analysis (`EnvironmentSweepAnalysis`: an environment sweep's). */
export interface SweepAnalysis<L extends EnvironmentLevelSummary = LevelSummary> {
  readonly sweeps: readonly string[];
  readonly seed: number;
  /** Null: an environment sweep analysed without a threshold (no tipping points). */
  readonly threshold: number | null;
  /** The significance level the comparisons' guard-rails use. */
  readonly significance_level: number;
  readonly resamples: number;
  readonly permutations: number;
  /**
   * `completed`: the runs the statistics use (degraded ones too with `includeDegraded`);
   * `degraded`: runs that ended degraded; `excluded_degraded`: those of them left out.
   */
  readonly runs: {
    readonly total: number;
    readonly completed: number;
    readonly failed: number;
    readonly degraded: number;
    readonly excluded_degraded: number;
  };
  readonly include_degraded: boolean;
  readonly factors: readonly FactorSummary<L>[];
  readonly interactions: readonly InteractionSummary[];
  readonly comparisons: readonly Comparison[];
  readonly tipping_points: readonly TippingPointSummary[];
  readonly phase_diagrams: readonly PhaseDiagram[];
}

/** An environment sweep's analysis: its declared metrics (the store's `metrics` table) and the one followed. */
export interface EnvironmentSweepAnalysis extends SweepAnalysis<EnvironmentLevelSummary> {
  readonly environment: { readonly metrics: readonly string[]; readonly metric: string };
}

export type AnySweepAnalysis = SweepAnalysis | EnvironmentSweepAnalysis;

export const isEnvironmentAnalysis = (a: AnySweepAnalysis): a is EnvironmentSweepAnalysis =>
  'environment' in a;

/**
 * What an analysis summarises and compares: a market's fixed outcomes, or an environment's
 * declared metrics with the one chosen (`metric`) compared, stratified and followed.
 */
interface Outcomes {
  /** Outcomes summarised per level, in table order. */
  readonly level: readonly string[];
  /** Outcomes compared between paired levels and stratified in interactions. */
  readonly compared: readonly string[];
  /** The outcome tipping points follow; the outcomes phase diagrams show. */
  readonly followed: string;
  readonly phase: readonly string[];
  /** Null for markets. */
  readonly environment: { readonly metrics: readonly string[]; readonly metric: string } | null;
}

const MARKET_OUTCOMES: Outcomes = {
  level: LEVEL_OUTCOMES,
  compared: COMPARISON_OUTCOMES,
  followed: 'collusion_index',
  phase: ['collusion_index', 'tier'],
  environment: null,
};

/** Totals summarised per level after an environment's declared metrics. */
const ENVIRONMENT_TOTALS = ['payoff', 'fines', 'sanctions'] as const;

/** The outcomes of the store's sweep: an environment's when it has a `metrics` table. */
async function outcomesOf(reader: ResultsReader, metric: string | undefined): Promise<Outcomes> {
  const environment =
    (await reader.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'metrics'"))
      .length > 0;
  if (!environment) {
    if (metric !== undefined && metric !== 'collusion_index')
      throw new ResultsError(
        `a market sweep's analysis follows collusion_index (and compares tier beside it), not \`${metric}\`; --metric picks among an environment's declared metrics`,
      );
    return MARKET_OUTCOMES;
  }
  const metrics = (await reader.query('SELECT name FROM metrics ORDER BY position')).map((row) =>
    String(row.name),
  );
  const chosen = metric ?? metrics[0];
  if (chosen === undefined)
    throw new ResultsError(
      "the sweep's environments declare no metric: there is nothing to analyse",
    );
  if (!metrics.includes(chosen))
    throw new ResultsError(
      `the sweep's environments declare no metric \`${chosen}\`; metrics: ${metrics.join(', ')}`,
    );
  return {
    level: [...metrics, ...ENVIRONMENT_TOTALS],
    compared: [chosen],
    followed: chosen,
    phase: [chosen],
    environment: { metrics, metric: chosen },
  };
}

interface Factor {
  readonly name: string;
  readonly kind: FactorKind;
}

type Settings = Required<Omit<AnalyzeOptions, 'threshold' | 'metric'>> & {
  readonly threshold: number | null;
};

/** One run as the analysis needs it. */
interface Run {
  readonly cell: number;
  readonly replicate: number;
  readonly completed: boolean;
  readonly factors: readonly (FactorValue | null)[];
  readonly values: Readonly<Record<string, number | null>>;
  /** The run's verdict (null: failed, or a store written before verdicts). */
  readonly verdict: string | null;
}

const INSTITUTION_RATES = ['false_positive_rate', 'detection_rate'] as const;

/** The columns bootstrapped per level, in one shared set of resamples. */
const LEVEL_COLUMNS = [
  ...LEVEL_OUTCOMES,
  'tier_at_least_3',
  'tier_4',
  ...INSTITUTION_RATES,
] as const;

function levelKey(value: FactorValue): string {
  return JSON.stringify(value);
}

function numberOrNull(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return null;
}

async function readRuns(
  reader: ResultsReader,
  factors: readonly Factor[],
  includeDegraded: boolean,
  outcomes: Outcomes,
): Promise<(Run & { readonly status: string })[]> {
  const market = outcomes.environment === null;
  const numbers = market ? [...LEVEL_OUTCOMES, ...INSTITUTION_RATES] : outcomes.level;
  // A store written before verdicts has no verdict column: its runs count as without one.
  const hasVerdict =
    market &&
    (
      await reader.query(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'runs' AND column_name = 'verdict'",
      )
    ).length > 0;
  const columns = [
    ...factors.map((f, i) => `${quoteIdentifier(f.name)} AS factor_${i}`),
    'cell',
    'replicate',
    'status',
    ...[...new Set(numbers)].map(quoteIdentifier),
    ...(hasVerdict ? ['verdict'] : []),
  ];
  const rows = await reader.query(
    `SELECT ${columns.join(', ')} FROM runs ORDER BY cell, replicate, run_id`,
  );
  return rows.map((row) => {
    const values: Record<string, number | null> = {};
    for (const name of numbers) values[name] = numberOrNull(row[name]);
    if (market) {
      const tier = values.tier ?? null;
      values.tier_at_least_3 = tier === null ? null : tier >= 3 ? 1 : 0;
      values.tier_4 = tier === null ? null : tier === 4 ? 1 : 0;
    }
    return {
      cell: Number(row.cell),
      replicate: Number(row.replicate),
      completed: row.status === 'completed' || (includeDegraded && row.status === 'degraded'),
      status: String(row.status),
      factors: factors.map((_, i) => (row[`factor_${i}`] ?? null) as FactorValue | null),
      values,
      verdict: typeof row.verdict === 'string' ? row.verdict : null,
    };
  });
}

/** Completed runs per verdict, most frequent first (ties in the verdicts' documented order). */
function verdictCounts(completed: readonly Run[]): Pick<LevelSummary, 'verdicts' | 'verdict_runs'> {
  const counts = new Map<string, number>();
  for (const r of completed)
    if (r.verdict !== null) counts.set(r.verdict, (counts.get(r.verdict) ?? 0) + 1);
  const order = (v: string) => {
    const i = (VERDICTS as readonly string[]).indexOf(v);
    return i < 0 ? VERDICTS.length : i;
  };
  const verdicts = [...counts]
    .map(([verdict, runs]) => ({ verdict, runs }))
    .sort((a, b) => b.runs - a.runs || order(a.verdict) - order(b.verdict));
  return { verdicts, verdict_runs: verdicts.reduce((n, v) => n + v.runs, 0) };
}

/** `collusive 5/6, inconclusive 1/6`, or `–` without verdicts. */
export function formatVerdicts(level: Pick<LevelSummary, 'verdicts' | 'verdict_runs'>): string {
  if (level.verdict_runs === 0) return '–';
  return level.verdicts.map((v) => `${v.verdict} ${v.runs}/${level.verdict_runs}`).join(', ');
}

/** A factor's levels: numeric ascending, categorical by the first cell they appear in. */
function levelsOf(runs: readonly Run[], index: number, kind: FactorKind): FactorValue[] {
  const first = new Map<string, { value: FactorValue; cell: number }>();
  for (const run of runs) {
    const value = run.factors[index];
    if (value === null || value === undefined) continue;
    const key = levelKey(value);
    const seen = first.get(key);
    if (!seen || run.cell < seen.cell) first.set(key, { value, cell: run.cell });
  }
  const levels = [...first.values()];
  if (kind === 'numeric') levels.sort((a, b) => (a.value as number) - (b.value as number));
  else levels.sort((a, b) => a.cell - b.cell);
  return levels.map((l) => l.value);
}

function summariseLevel(
  factor: Factor,
  level: FactorValue,
  runs: readonly Run[],
  options: Settings,
  outcomes: Outcomes,
): EnvironmentLevelSummary | LevelSummary {
  const completed = runs.filter((r) => r.completed);
  if (outcomes.environment !== null) {
    const estimates = bootstrapMeans(
      outcomes.level.map((column) => completed.map((r) => r.values[column] ?? null)),
      {
        resamples: options.resamples,
        random: randomStream(options.seed, `bootstrap ${factor.name}=${levelKey(level)}`),
      },
    );
    return {
      level,
      runs: runs.length,
      completed: completed.length,
      failed: runs.length - completed.length,
      outcomes: Object.fromEntries(outcomes.level.map((o, i) => [o, estimates[i] as MeanEstimate])),
    };
  }
  const estimates = bootstrapMeans(
    LEVEL_COLUMNS.map((column) => completed.map((r) => r.values[column] ?? null)),
    {
      resamples: options.resamples,
      random: randomStream(options.seed, `bootstrap ${factor.name}=${levelKey(level)}`),
    },
  );
  const estimate = (column: (typeof LEVEL_COLUMNS)[number]) =>
    estimates[LEVEL_COLUMNS.indexOf(column)] as MeanEstimate;
  return {
    level,
    runs: runs.length,
    completed: completed.length,
    failed: runs.length - completed.length,
    outcomes: Object.fromEntries(LEVEL_OUTCOMES.map((o) => [o, estimate(o)])) as Record<
      LevelOutcome,
      MeanEstimate
    >,
    shares: { tier_at_least_3: estimate('tier_at_least_3'), tier_4: estimate('tier_4') },
    ...verdictCounts(completed),
    institution: {
      false_positive_rate: estimate('false_positive_rate'),
      detection_rate: estimate('detection_rate'),
    },
  };
}

/**
 * Paired comparisons between every two levels of every categorical factor (the regime or
 * institution factor is one; boolean factors are others). Runs pair up when they share the
 * replicate and every other factor's value: the same seed in the same conditions but this
 * factor. A pair needs both runs completed with the outcome defined.
 */
function compareLevels(
  factors: readonly Factor[],
  levels: readonly FactorValue[][],
  runs: readonly Run[],
  options: Settings,
  compared: readonly string[],
): Comparison[] {
  const raw: Omit<Comparison, 'p_holm'>[] = [];
  factors.forEach((factor, f) => {
    const factorLevels = levels[f] as FactorValue[];
    if (factor.kind !== 'categorical' || factorLevels.length < 2) return;
    // level → pair key → the run's outcomes (a duplicate key keeps the first run).
    const byLevel = new Map<string, Map<string, Run>>();
    for (const run of runs) {
      const value = run.factors[f];
      if (!run.completed || value === null || value === undefined) continue;
      const key = JSON.stringify([run.replicate, ...run.factors.filter((_, i) => i !== f)]);
      const level = levelKey(value);
      const pairs = byLevel.get(level) ?? new Map<string, Run>();
      byLevel.set(level, pairs);
      if (!pairs.has(key)) pairs.set(key, run);
    }
    factorLevels.forEach((a, i) => {
      for (const b of factorLevels.slice(i + 1)) {
        const runsA = byLevel.get(levelKey(a)) ?? new Map<string, Run>();
        const runsB = byLevel.get(levelKey(b)) ?? new Map<string, Run>();
        for (const outcome of compared) {
          const valuesA: number[] = [];
          const valuesB: number[] = [];
          for (const [key, runA] of runsA) {
            const va = runA.values[outcome];
            const vb = runsB.get(key)?.values[outcome];
            if (va !== null && va !== undefined && vb !== null && vb !== undefined) {
              valuesA.push(va);
              valuesB.push(vb);
            }
          }
          const differences = valuesB.map((vb, i) => vb - (valuesA[i] as number));
          const label = `${factor.name} ${levelKey(a)} ${levelKey(b)} ${outcome}`;
          const test = pairedSignFlip(differences, {
            resamples: options.permutations,
            random: randomStream(options.seed, `sign-flip ${label}`),
          });
          const effect = cohensDPaired(differences);
          const meanDifference = mean(differences);
          const intervals = bootstrapPaired(differences, {
            resamples: options.resamples,
            random: randomStream(options.seed, `differences ${label}`),
          });
          raw.push({
            factor: factor.name,
            level_a: a,
            level_b: b,
            outcome,
            n_pairs: differences.length,
            mean_difference: meanDifference,
            mean_difference_ci: intervals.mean,
            sd_difference: sampleSd(differences),
            cohens_d: effect.d,
            cohens_d_ci: intervals.d,
            cohens_d_reason: effect.reason,
            near_zero_variance: [
              ...(nearZeroSpread(sampleSd(valuesA), meanDifference) ? [a] : []),
              ...(nearZeroSpread(sampleSd(valuesB), meanDifference) ? [b] : []),
            ],
            p_value: test.p,
            p_value_method: test.method,
            p_value_min: test.min_p,
            n_nonzero_differences: differences.filter((d) => d !== 0).length,
            cannot_reach_significance: test.min_p !== null && test.min_p > SIGNIFICANCE_LEVEL,
            p_value_reason: test.reason,
          });
        }
      }
    });
  });
  const adjusted = new Map<Omit<Comparison, 'p_holm'>, number>();
  for (const outcome of compared) {
    const tested = raw.filter((c) => c.outcome === outcome && c.p_value !== null);
    const holmP = holm(tested.map((c) => c.p_value as number));
    tested.forEach((c, i) => {
      adjusted.set(c, holmP[i] as number);
    });
  }
  return raw.map((c) => ({ ...c, p_holm: adjusted.get(c) ?? null }));
}

/**
 * For every ordered pair of factors with two or more levels each and every comparison
 * outcome: the first factor's means within each level of the second, and their interaction
 * (completed runs with the outcome; other factors pooled).
 */
function interactions(
  factors: readonly Factor[],
  levels: readonly FactorValue[][],
  runs: readonly Run[],
  compared: readonly string[],
): InteractionSummary[] {
  const result: InteractionSummary[] = [];
  factors.forEach((factor, f) => {
    const rowLevels = levels[f] as FactorValue[];
    factors.forEach((by, g) => {
      const columnLevels = levels[g] as FactorValue[];
      if (f === g || rowLevels.length < 2 || columnLevels.length < 2) return;
      const rowIndex = new Map(rowLevels.map((l, i) => [levelKey(l), i]));
      const columnIndex = new Map(columnLevels.map((l, j) => [levelKey(l), j]));
      for (const outcome of compared) {
        const cells = rowLevels.map(() => columnLevels.map((): number[] => []));
        for (const run of runs) {
          const value = run.values[outcome];
          const x = run.factors[f];
          const y = run.factors[g];
          if (!run.completed || value === null || value === undefined) continue;
          if (x === null || x === undefined || y === null || y === undefined) continue;
          cells[rowIndex.get(levelKey(x)) as number]?.[
            columnIndex.get(levelKey(y)) as number
          ]?.push(value);
        }
        result.push({
          factor: factor.name,
          by: by.name,
          outcome,
          cells: columnLevels.flatMap((byLevel, j) =>
            rowLevels.map((level, i) => {
              const values = (cells[i] as number[][])[j] as number[];
              return { level, by_level: byLevel, n: values.length, mean: mean(values) };
            }),
          ),
          ...interaction(cells),
        });
      }
    });
  });
  return result;
}

/** Subsets to repeat a numeric analysis in: all runs, then each level of each categorical factor. */
function subsets(
  factors: readonly Factor[],
  levels: readonly FactorValue[][],
  runs: readonly Run[],
): { within: Within | null; runs: readonly Run[] }[] {
  const result: { within: Within | null; runs: readonly Run[] }[] = [{ within: null, runs }];
  factors.forEach((factor, f) => {
    if (factor.kind !== 'categorical') return;
    for (const level of levels[f] as FactorValue[]) {
      const key = levelKey(level);
      result.push({
        within: { factor: factor.name, level },
        runs: runs.filter(
          (r) => r.factors[f] !== null && levelKey(r.factors[f] as FactorValue) === key,
        ),
      });
    }
  });
  return result;
}

type Subset = ReturnType<typeof subsets>[number];

function tippingPoints(
  factors: readonly Factor[],
  levels: readonly FactorValue[][],
  parts: readonly Subset[],
  options: Settings,
  followed: string,
): TippingPointSummary[] {
  const threshold = options.threshold;
  const result: TippingPointSummary[] = [];
  if (threshold === null) return result;
  factors.forEach((factor, f) => {
    if (factor.kind !== 'numeric' || (levels[f] as FactorValue[]).length < 2) return;
    for (const part of parts) {
      const points = part.runs.flatMap((r) => {
        const x = r.factors[f];
        const y = r.values[followed];
        return r.completed && typeof x === 'number' && y !== null && y !== undefined
          ? [{ x, y }]
          : [];
      });
      const curve = meanCurve(points);
      const interval = tippingPointInterval(points, threshold, {
        resamples: options.resamples,
        random: randomStream(
          options.seed,
          `tipping ${factor.name} ${part.within ? `${part.within.factor}=${levelKey(part.within.level)}` : 'all'}`,
        ),
      });
      result.push({
        factor: factor.name,
        within: part.within,
        threshold,
        curve,
        crossing: tippingPoint(points, threshold),
        crossing_ci: interval.ci,
        no_crossing_share: interval.no_crossing_share,
        ...curveShape(curve, threshold),
      });
    }
  });
  return result;
}

/** A phase-diagram cell while summing: [sum, count] of each outcome over its defined values. */
interface CellSums {
  readonly x: number;
  readonly y: number;
  n: number;
  readonly sums: [number, number][];
}

function add(sum: [number, number], value: number | null | undefined): void {
  if (value === null || value === undefined) return;
  sum[0] += value;
  sum[1]++;
}

function phaseDiagrams(
  factors: readonly Factor[],
  parts: readonly Subset[],
  shown: readonly string[],
): PhaseDiagram[] {
  const numeric = factors.flatMap((f, i) => (f.kind === 'numeric' ? [i] : []));
  const result: PhaseDiagram[] = [];
  numeric.forEach((xi, k) => {
    for (const yi of numeric.slice(k + 1)) {
      for (const part of parts) {
        const cells = new Map<string, CellSums>();
        for (const run of part.runs) {
          const x = run.factors[xi];
          const y = run.factors[yi];
          if (!run.completed || typeof x !== 'number' || typeof y !== 'number') continue;
          const key = `${x} ${y}`;
          const cell = cells.get(key) ?? { x, y, n: 0, sums: shown.map(() => [0, 0]) };
          cells.set(key, cell);
          cell.n++;
          shown.forEach((outcome, i) => {
            add(cell.sums[i] as [number, number], run.values[outcome]);
          });
        }
        result.push({
          x_factor: (factors[xi] as Factor).name,
          y_factor: (factors[yi] as Factor).name,
          within: part.within,
          cells: [...cells.values()]
            .sort((a, b) => a.x - b.x || a.y - b.y)
            .map(
              (cell): PhaseCell => ({
                x: cell.x,
                y: cell.y,
                n: cell.n,
                ...Object.fromEntries(
                  shown.map((outcome, i) => {
                    const [sum, count] = cell.sums[i] as [number, number];
                    return [outcome, count > 0 ? sum / count : null];
                  }),
                ),
              }),
            ),
        });
      }
    }
  });
  return result;
}

/** Analyse the market sweep whose results store is `DIR/results.duckdb`. */
export async function analyzeSweep(
  dir: string,
  options: AnalyzeOptions = {},
): Promise<SweepAnalysis> {
  const analysis = await analyzeAnySweep(dir, options);
  if (isEnvironmentAnalysis(analysis))
    throw new ResultsError(`${dir} holds an environment sweep: analyse it with analyzeAnySweep`);
  return analysis;
}

/** Analyse the sweep (of a market or an environment) whose results store is `DIR/results.duckdb`. */
export async function analyzeAnySweep(
  dir: string,
  options: AnalyzeOptions = {},
): Promise<AnySweepAnalysis> {
  const reader = await openResults(dir);
  let outcomes: Outcomes;
  try {
    outcomes = await outcomesOf(reader, options.metric);
  } catch (error) {
    reader.close();
    throw error;
  }
  const settings: Settings = {
    threshold: options.threshold ?? (outcomes.environment === null ? 0.5 : null),
    seed: options.seed ?? 1,
    resamples: options.resamples ?? 1000,
    permutations: options.permutations ?? 10_000,
    includeDegraded: options.includeDegraded ?? false,
  };
  let factors: Factor[];
  let runs: (Run & { readonly status: string })[];
  let sweeps: string[];
  try {
    factors = (await reader.query('SELECT name, kind FROM factors ORDER BY position')).map(
      (row) => ({ name: String(row.name), kind: row.kind as FactorKind }),
    );
    runs = await readRuns(reader, factors, settings.includeDegraded, outcomes);
    sweeps = (await reader.query('SELECT DISTINCT sweep FROM runs ORDER BY sweep')).map((row) =>
      String(row.sweep),
    );
  } finally {
    reader.close();
  }
  const levels = factors.map((factor, f) => levelsOf(runs, f, factor.kind));
  const completed = runs.filter((r) => r.completed).length;
  const degraded = runs.filter((r) => r.status === 'degraded').length;
  const excludedDegraded = settings.includeDegraded ? 0 : degraded;
  // All runs, then each level of each categorical factor: the subsets tipping points and
  // phase diagrams are repeated in.
  const parts = subsets(factors, levels, runs);
  const stratified = interactions(factors, levels, runs, outcomes.compared);
  const analysis = {
    sweeps,
    seed: settings.seed,
    threshold: settings.threshold,
    significance_level: SIGNIFICANCE_LEVEL,
    resamples: settings.resamples,
    permutations: settings.permutations,
    runs: {
      total: runs.length,
      completed,
      failed: runs.length - completed - excludedDegraded,
      degraded,
      excluded_degraded: excludedDegraded,
    },
    include_degraded: settings.includeDegraded,
    factors: factors.map((factor, f) => ({
      name: factor.name,
      kind: factor.kind,
      levels: (levels[f] as FactorValue[]).map((level) => {
        const key = levelKey(level);
        const atLevel = runs.filter(
          (r) => r.factors[f] !== null && levelKey(r.factors[f] as FactorValue) === key,
        );
        return summariseLevel(factor, level, atLevel, settings, outcomes);
      }),
      pooled_over_interactions: stratified.flatMap((i) =>
        i.factor === factor.name && i.strong
          ? [{ by: i.by, outcome: i.outcome, share: i.share as number }]
          : [],
      ),
    })),
    interactions: stratified,
    comparisons: compareLevels(factors, levels, runs, settings, outcomes.compared),
    tipping_points: tippingPoints(factors, levels, parts, settings, outcomes.followed),
    phase_diagrams: phaseDiagrams(factors, parts, outcomes.phase),
  };
  // The levels were summarised as the outcomes say: a market's, or an environment's.
  return outcomes.environment
    ? ({ ...analysis, environment: outcomes.environment } as EnvironmentSweepAnalysis)
    : (analysis as SweepAnalysis);
}

// ---------------------------------------------------------------------------------------
// Text rendering

/**
 * A number for a table: up to 3 decimals, no trailing zeros, `–` for null; a value too
 * small for 3 decimals keeps 3 significant digits (a rate of 0.0004 is not 0).
 */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  if (Number.isInteger(value)) return String(value);
  if (Math.abs(value) < 0.001) return String(Number(value.toPrecision(3)));
  const fixed = Math.abs(value) >= 1000 ? value.toFixed(0) : value.toFixed(3);
  return fixed.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function formatP(p: number | null): string {
  if (p === null) return '–';
  return p < 0.001 ? '<0.001' : p.toFixed(3);
}

/** `[low, high]`, or `–` without an interval. */
export function formatInterval(ci: readonly [number, number] | null): string {
  return ci ? `[${formatNumber(ci[0])}, ${formatNumber(ci[1])}]` : '–';
}

function formatEstimate(e: MeanEstimate): string {
  if (e.mean === null) return '–';
  const ci = e.ci ? ` [${formatNumber(e.ci[0])}, ${formatNumber(e.ci[1])}]` : '';
  return `${formatNumber(e.mean)}${ci}`;
}

function formatLevel(value: FactorValue): string {
  return typeof value === 'number' ? formatNumber(value) : String(value);
}

/** Columns padded to their widest cell; the first column left-aligned, the rest right. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function withinLabel(within: Within | null): string {
  return within === null ? 'all runs' : `${within.factor} = ${formatLevel(within.level)}`;
}

/** ` [low, high]` after a value, or nothing without an interval. */
function intervalSuffix(ci: readonly [number, number] | null): string {
  return ci ? ` ${formatInterval(ci)}` : '';
}

/** Why a comparison needs care, one line each (empty when it needs none). */
export function comparisonWarnings(c: Comparison, significanceLevel: number): string[] {
  const name = `${c.factor} ${formatLevel(c.level_a)} → ${formatLevel(c.level_b)}, ${c.outcome}`;
  const warnings: string[] = [];
  // Every difference 0: nothing to detect, and the mean difference says so.
  if (c.cannot_reach_significance && c.n_nonzero_differences > 0) {
    const pairs =
      c.n_nonzero_differences === c.n_pairs
        ? `${c.n_pairs} pairs`
        : `${c.n_pairs} pairs (${c.n_nonzero_differences} with a non-zero difference)`;
    warnings.push(
      `${name}: with ${pairs} the smallest attainable p is ${formatNumber(c.p_value_min)} > ${formatNumber(significanceLevel)}: this test cannot reach significance.`,
    );
  }
  // Without a d (no spread at all) its reason is shown instead.
  if (c.cohens_d !== null && c.near_zero_variance.length === 2)
    warnings.push(
      `${name}: ${formatLevel(c.level_a)} and ${formatLevel(c.level_b)} have (near) zero variance over the pairs (deterministic runs?): Cohen's d = ${formatNumber(c.cohens_d)} says how little the runs vary, not how large the effect is; read the mean difference.`,
    );
  else if (c.cohens_d !== null && c.near_zero_variance.length === 1) {
    const flat = c.near_zero_variance[0] as FactorValue;
    const other = levelKey(flat) === levelKey(c.level_a) ? c.level_b : c.level_a;
    warnings.push(
      `${name}: ${formatLevel(flat)} has (near) zero variance over the pairs (deterministic runs?): the differences vary only through ${formatLevel(other)}, so Cohen's d measures the effect against ${formatLevel(other)}'s spread alone.`,
    );
  }
  return warnings;
}

/** Why a tipping point needs care, one line each (empty when it needs none). */
export function tippingPointWarnings(t: TippingPointSummary, significanceLevel: number): string[] {
  const name = `${t.factor} (${withinLabel(t.within)})`;
  const warnings: string[] = [];
  if (t.non_monotone)
    warnings.push(
      `${name}: the curve is not monotone (${t.crossings} crossing${t.crossings === 1 ? '' : 's'}, ${t.direction_changes} change${t.direction_changes === 1 ? '' : 's'} of direction beyond noise): one tipping point misdescribes it.`,
    );
  if (t.crossing && t.no_crossing_share >= significanceLevel)
    warnings.push(
      `${name}: ${formatNumber(t.no_crossing_share * 100)}% of bootstrap resamples do not cross ${formatNumber(t.threshold)}: the crossing itself is uncertain.`,
    );
  return warnings;
}

/** The warning that a factor's level means pool over strong interactions (null when they do not). */
export function pooledWarning(factor: FactorSummary<EnvironmentLevelSummary>): string | null {
  if (factor.pooled_over_interactions.length === 0) return null;
  const list = factor.pooled_over_interactions
    .map((p) => `${p.by} on ${p.outcome} (share ${formatNumber(p.share)})`)
    .join(', ');
  return `The means of ${factor.name} pool over a strong interaction with ${list}: read them within the levels of the other factor.`;
}

/** One interaction as a table: rows are the levels of `by`, columns the levels of `factor`. */
export function interactionRows(i: InteractionSummary): string[][] {
  const levels = [...new Map(i.cells.map((c) => [levelKey(c.level), c.level])).values()];
  const byLevels = [...new Map(i.cells.map((c) => [levelKey(c.by_level), c.by_level])).values()];
  return [
    [`${i.outcome}: ${i.by} \\ ${i.factor}`, ...levels.map(formatLevel)],
    ...byLevels.map((byLevel) => [
      `${i.by} = ${formatLevel(byLevel)}`,
      ...levels.map((level) =>
        formatNumber(
          i.cells.find(
            (c) =>
              levelKey(c.level) === levelKey(level) && levelKey(c.by_level) === levelKey(byLevel),
          )?.mean,
        ),
      ),
    ]),
  ];
}

/** How many degraded runs there were and whether the statistics use them. */
export function degradedNote(a: Pick<SweepAnalysis, 'runs'>): string {
  const { degraded, excluded_degraded: excluded } = a.runs;
  if (degraded === 0) return '';
  return excluded > 0
    ? `, ${excluded} degraded left out (--include-degraded counts them)`
    : `, ${degraded} degraded counted as completed`;
}

/** A readable rendering of an analysis for the terminal (no final newline). */
/** A factor's level table: runs, then each outcome's mean and interval per level. */
function levelTable<L extends EnvironmentLevelSummary>(
  factor: FactorSummary<L>,
  rows: readonly (readonly [string, (l: L) => string])[],
): string {
  return table([
    [factor.name, ...factor.levels.map((l) => formatLevel(l.level))],
    ['runs (completed)', ...factor.levels.map((l) => `${l.runs} (${l.completed})`)],
    ...rows.map(([label, cell]) => [label, ...factor.levels.map(cell)]),
  ]);
}

const estimateOf =
  (outcome: string) =>
  (l: EnvironmentLevelSummary): string => {
    const e = l.outcomes[outcome];
    return e ? formatEstimate(e) : '–';
  };

function marketLevelRows(): [string, (l: LevelSummary) => string][] {
  return [
    ...LEVEL_OUTCOMES.map((o): [string, (l: LevelSummary) => string] => [o, estimateOf(o)]),
    ['share tier ≥ 3', (l) => formatEstimate(l.shares.tier_at_least_3)],
    ['share tier = 4', (l) => formatEstimate(l.shares.tier_4)],
    ['verdicts', formatVerdicts],
    ['false_positive_rate', (l) => formatEstimate(l.institution.false_positive_rate)],
    ['detection_rate', (l) => formatEstimate(l.institution.detection_rate)],
  ];
}

/** The outcome tipping points and phase diagrams follow. */
const followedOutcome = (a: AnySweepAnalysis): string =>
  isEnvironmentAnalysis(a) ? a.environment.metric : 'collusion_index';

/** A readable rendering of an analysis for the terminal (no final newline). */
export function formatAnalysis(a: AnySweepAnalysis): string {
  const out: string[] = [];
  out.push(
    `Runs: ${a.runs.total} (${a.runs.completed} completed, ${a.runs.failed} failed${degradedNote(a)}); ` +
      `seed ${a.seed}, ${a.resamples} bootstrap resamples, 95% intervals`,
  );
  if (isEnvironmentAnalysis(a))
    out.push(
      `Environment metrics: ${a.environment.metrics.join(', ')}; compared and followed: ${a.environment.metric} (--metric picks another)${a.threshold === null ? '; tipping points need --threshold' : ''}`,
    );
  const followed = followedOutcome(a);
  for (const factor of a.factors as readonly FactorSummary<EnvironmentLevelSummary>[]) {
    out.push('', `Factor ${factor.name} (${factor.kind})`);
    out.push(
      isEnvironmentAnalysis(a)
        ? levelTable(
            factor,
            Object.keys(factor.levels[0]?.outcomes ?? {}).map((o) => [o, estimateOf(o)] as const),
          )
        : levelTable(factor as FactorSummary<LevelSummary>, marketLevelRows()),
    );
    const pooled = pooledWarning(factor);
    if (pooled !== null) {
      out.push(`! ${pooled}`);
      for (const i of a.interactions)
        if (i.factor === factor.name && i.strong) out.push(table(interactionRows(i)));
    }
  }
  if (a.interactions.length > 0) {
    out.push(
      '',
      `Interactions (share of a factor's effects that differs between the other's levels; strong: share ≥ ${INTERACTION_SHARE_THRESHOLD} and F ≥ ${INTERACTION_F_SCREEN} or no within-cell spread)`,
    );
    out.push(
      table([
        ['factor', 'by', 'outcome', 'share', 'F', 'strong'],
        ...a.interactions.map((i) => [
          i.factor,
          i.by,
          i.outcome,
          i.share === null ? (i.reason ?? '–') : formatNumber(i.share),
          i.f === null ? (i.beyond_noise === null ? '–' : 'no noise') : formatNumber(i.f),
          i.strong ? 'yes' : 'no',
        ]),
      ]),
    );
  }
  if (a.comparisons.length > 0) {
    out.push(
      '',
      'Paired comparisons (difference = b − a; pairs share replicate and other factors)',
    );
    out.push(
      table([
        [
          'factor',
          'a',
          'b',
          'outcome',
          'pairs',
          'mean diff [95% CI]',
          'sd diff',
          "Cohen's d [95% CI]",
          'p',
          'min p',
          'p (Holm)',
        ],
        ...a.comparisons.map((c) => [
          c.factor,
          formatLevel(c.level_a),
          formatLevel(c.level_b),
          c.outcome,
          String(c.n_pairs),
          `${formatNumber(c.mean_difference)}${intervalSuffix(c.mean_difference_ci)}`,
          formatNumber(c.sd_difference),
          `${formatNumber(c.cohens_d)}${intervalSuffix(c.cohens_d_ci)}${c.cohens_d !== null && c.near_zero_variance.length > 0 ? ' !' : ''}`,
          formatP(c.p_value),
          `${formatP(c.p_value_min)}${c.cannot_reach_significance && c.n_nonzero_differences > 0 ? ' !' : ''}`,
          formatP(c.p_holm),
        ]),
      ]),
    );
    for (const c of a.comparisons)
      for (const warning of comparisonWarnings(c, a.significance_level)) out.push(`! ${warning}`);
  }
  if (a.tipping_points.length > 0) {
    out.push('', `Tipping points (mean ${followed} crossing ${formatNumber(a.threshold)})`);
    out.push(
      table([
        ['factor', 'runs', 'crossing [95% CI]', 'no crossing', 'shape', 'curve (level: mean)'],
        ...a.tipping_points.map((t) => [
          t.factor,
          withinLabel(t.within),
          t.crossing
            ? `${formatNumber(t.crossing.x)}${intervalSuffix(t.crossing_ci)} (${t.crossing.direction})`
            : 'none',
          `${formatNumber(t.no_crossing_share * 100)}%`,
          t.non_monotone ? 'non-monotone !' : 'monotone',
          t.curve.map((p) => `${formatNumber(p.x)}: ${formatNumber(p.mean)}`).join(', '),
        ]),
      ]),
    );
    for (const t of a.tipping_points)
      for (const warning of tippingPointWarnings(t, a.significance_level)) out.push(`! ${warning}`);
  }
  for (const diagram of a.phase_diagrams) {
    out.push(
      '',
      `Phase diagram: mean ${followed} (runs) by ${diagram.y_factor} (rows) × ${diagram.x_factor} (columns), ${withinLabel(diagram.within)}`,
    );
    const xs = [...new Set(diagram.cells.map((c) => c.x))];
    const ys = [...new Set(diagram.cells.map((c) => c.y))].sort((p, q) => p - q);
    const at = new Map(diagram.cells.map((c) => [`${c.x} ${c.y}`, c]));
    out.push(
      table([
        [`${diagram.y_factor} \\ ${diagram.x_factor}`, ...xs.map((x) => formatNumber(x))],
        ...ys.map((y) => [
          formatNumber(y),
          ...xs.map((x) => {
            const cell = at.get(`${x} ${y}`);
            return cell ? `${formatNumber(cell[followed])} (${cell.n})` : '';
          }),
        ]),
      ]),
    );
  }
  return out.join('\n');
}
