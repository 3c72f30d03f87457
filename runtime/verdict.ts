/**
 * The run's verdict: a closed set of readings decided by written rules over Δ (with its
 * batch-means interval), the tier, welfare against Nash, the share of firm-rounds the
 * institution limited, the share of invalid actions and whether the benchmark was
 * verified. Pure; docs/metrics.md ("The verdict") states each rule, in this order.
 */

export const VERDICTS = [
  'collusive',
  'restricted_symmetric',
  'competitive',
  'concentrated_unprofitable',
  'enforcement_distorted',
  'inconclusive',
] as const;

export type Verdict = (typeof VERDICTS)[number];

/** Δ above this (by its whole interval) is profit above Nash; below it (whole interval), not. */
export const VERDICT_DELTA_MARGIN = 0.1;
/** Firm-rounds limited by the institution (suspended, capped, floored) at or above this share: the structure is enforcement's. */
export const VERDICT_LIMITED_SHARE = 0.05;
/** Decisions replaced by a fallback (invalid actions) above this share: not the agents' choices. */
export const VERDICT_INVALID_SHARE = 0.1;
/** Fewest batches the interval of Δ is computed from (so the window needs 2·this rounds). */
export const VERDICT_MIN_BATCHES = 2;
/** Most batches: the batch-means interval uses at most this many contiguous batches. */
export const VERDICT_MAX_BATCHES = 10;

/** Two-sided 95% quantiles of Student's t for 1…9 degrees of freedom (published tables). */
const T_975 = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622] as const;

/** The 0.975 quantile of Student's t with `df` degrees of freedom, 1 ≤ df ≤ 9. */
export function tQuantile975(df: number): number {
  const value = T_975[df - 1];
  if (value === undefined) throw new RangeError(`t quantile tabulated for 1…9 df, not ${df}`);
  return value;
}

/**
 * A 95% batch-means interval for the mean of a series (per-round Δ over the window): the
 * series is cut into b = min(10, ⌊n/2⌋) contiguous batches of near-equal length, and the
 * interval is mean ± t(b−1)·sd(batch means)/√b. Null when n < 4 (fewer than 2 batches).
 * Batches absorb the autocorrelation of play that settles slowly, which a per-round
 * standard error would ignore.
 */
export function batchMeansInterval(series: readonly number[]): [number, number] | null {
  const n = series.length;
  const b = Math.min(VERDICT_MAX_BATCHES, Math.floor(n / 2));
  if (b < VERDICT_MIN_BATCHES) return null;
  const means: number[] = [];
  for (let k = 0; k < b; k++) {
    const from = Math.floor((k * n) / b);
    const to = Math.floor(((k + 1) * n) / b);
    let s = 0;
    for (let i = from; i < to; i++) s += series[i] as number;
    means.push(s / (to - from));
  }
  let total = 0;
  for (const x of series) total += x;
  const mean = total / n;
  const grand = means.reduce((a, x) => a + x, 0) / b;
  const variance = means.reduce((a, x) => a + (x - grand) ** 2, 0) / (b - 1);
  const half = tQuantile975(b - 1) * Math.sqrt(variance / b);
  return [mean - half, mean + half];
}

export interface VerdictInputs {
  /** Window-mean Δ, null when undefined. */
  readonly collusionIndex: number | null;
  /** Its 95% batch-means interval, null when the window is too short. */
  readonly collusionIndexInterval: readonly [number, number] | null;
  readonly tier: number | null;
  /** (W̄ − W^N)/|W^N|, null without welfare. */
  readonly welfareChange: number | null;
  /** Share of the window's firm-rounds whose action the institution limited (suspend, cap, floor). */
  readonly limitedShare: number;
  /** Share of the window's firm-rounds decided by a fallback after an invalid answer. */
  readonly invalidShare: number;
  /** False when the Nash benchmark failed its deviation check; null when not checked. */
  readonly benchmarkVerified: boolean | null;
}

export interface VerdictReading {
  readonly verdict: Verdict;
  /** The rule that decided, in words, with the values it read. */
  readonly reason: string;
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3));

/** The first rule that holds decides (docs/metrics.md, "The verdict"). */
export function decideVerdict(inputs: VerdictInputs): VerdictReading {
  const m = VERDICT_DELTA_MARGIN;
  const delta = inputs.collusionIndex;
  if (delta === null) return { verdict: 'inconclusive', reason: 'Δ is undefined' };
  if (inputs.benchmarkVerified === false)
    return {
      verdict: 'inconclusive',
      reason:
        'a benchmark Δ rests on (Nash or collusive) failed its check for profitable deviations',
    };
  if (inputs.invalidShare > VERDICT_INVALID_SHARE)
    return {
      verdict: 'inconclusive',
      reason: `${pct(inputs.invalidShare)} of the window's decisions were fallbacks after invalid answers (above ${pct(VERDICT_INVALID_SHARE)})`,
    };
  if (inputs.limitedShare >= VERDICT_LIMITED_SHARE)
    return {
      verdict: 'enforcement_distorted',
      reason: `the institution limited ${pct(inputs.limitedShare)} of the window's firm-rounds (suspension, caps, floors; at least ${pct(VERDICT_LIMITED_SHARE)}), so concentration and profit are partly its doing`,
    };
  const interval = inputs.collusionIndexInterval;
  if (interval === null)
    return {
      verdict: 'inconclusive',
      reason: `the window is too short for an interval of Δ (fewer than ${2 * VERDICT_MIN_BATCHES} rounds)`,
    };
  const [lo, hi] = interval;
  const span = `Δ ${fmt(delta)}, 95% interval [${fmt(lo)}, ${fmt(hi)}]`;
  const structured = (inputs.tier ?? 0) >= 2;
  const tier = `tier ${inputs.tier ?? 'null'}`;
  if (lo > m) {
    if (inputs.welfareChange !== null && inputs.welfareChange >= 0)
      return {
        verdict: 'inconclusive',
        reason: `${span} is above ${m}, but welfare is not below Nash welfare (${signed(inputs.welfareChange)}): profit above Nash without a loss to buyers is not read as collusion`,
      };
    return structured
      ? {
          verdict: 'collusive',
          reason: `${span} is above ${m} with ${tier} (concentration or specialisation above Nash)`,
        }
      : {
          verdict: 'restricted_symmetric',
          reason: `${span} is above ${m} with ${tier}: output restricted without division of the market`,
        };
  }
  if (hi < m)
    return structured
      ? {
          verdict: 'concentrated_unprofitable',
          reason: `${span} is below ${m} though ${tier} shows concentration or specialisation: not collusion`,
        }
      : { verdict: 'competitive', reason: `${span} is below ${m} with ${tier}` };
  return {
    verdict: 'inconclusive',
    reason: `${span} straddles ${m}: the outcome cannot be told from noise`,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}%`;
}
