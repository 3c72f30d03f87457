import type { Random } from '../agents/agent.js';

/**
 * The statistics of `mase analyze`: pure functions over plain numbers. Randomness comes
 * in as a `Random` (a `randomStream`), so every interval and p-value is replayable from
 * the analysis seed. Definitions: docs/metrics.md, "Sweep statistics".
 */

/** A mean with its bootstrap interval; `reason` says why the mean or the interval is null. */
export interface MeanEstimate {
  /** How many values the mean is over (nulls left out). */
  readonly n: number;
  readonly mean: number | null;
  /** [low, high] of the percentile bootstrap interval. */
  readonly ci: readonly [number, number] | null;
  readonly reason: string | null;
}

export interface BootstrapOptions {
  /** Bootstrap resamples (default 2000). */
  readonly resamples?: number;
  /** Coverage of the interval (default 0.95). */
  readonly level?: number;
  readonly random: Random;
}

export interface SignFlipOptions {
  /** Random sign assignments when n > 16 (default 10,000). */
  readonly resamples?: number;
  readonly random: Random;
}

export interface SignFlipResult {
  readonly n: number;
  /** Two-sided p-value; null without pairs. */
  readonly p: number | null;
  /** All 2^n sign assignments (n ≤ 16) or random ones. */
  readonly method: 'exact' | 'monte-carlo' | null;
  readonly reason: string | null;
}

export interface EffectSize {
  readonly d: number | null;
  readonly reason: string | null;
}

export interface CurvePoint {
  readonly x: number;
  /** Mean of the y values observed at x. */
  readonly mean: number;
  readonly n: number;
}

export interface TippingPoint {
  /** Where the piecewise-linear curve of means reaches the threshold. */
  readonly x: number;
  readonly direction: 'upward' | 'downward';
  /** The two levels the crossing lies between. */
  readonly between: readonly [number, number];
}

/** Largest n for which the sign-flip test enumerates every sign assignment. */
export const EXACT_SIGN_FLIP_MAX_N = 16;

export function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (n − 1 in the denominator); null for fewer than 2 values. */
export function sampleSd(values: readonly number[]): number | null {
  const m = mean(values);
  if (m === null || values.length < 2) return null;
  let squares = 0;
  for (const v of values) squares += (v - m) ** 2;
  return Math.sqrt(squares / (values.length - 1));
}

/** Quantile p of ascending `sorted` by linear interpolation between order statistics (R's type 7). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const low = sorted[lo] as number;
  const high = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return low + (h - lo) * (high - low);
}

/** Percentile bootstrap interval of the mean of `values`. */
export function bootstrapCI(values: readonly number[], options: BootstrapOptions): MeanEstimate {
  return bootstrapMeans([values], options)[0] as MeanEstimate;
}

/**
 * Percentile bootstrap intervals of the means of several columns over the same units (runs),
 * from one set of resamples: each resample draws n units with replacement and every column
 * averages its non-null values among them (a resample where a column has none is left out of
 * that column's percentiles). With one column and no nulls this is the plain percentile
 * bootstrap of the mean; sharing the draws makes ten outcomes cost little more than one.
 */
export function bootstrapMeans(
  columns: readonly (readonly (number | null)[])[],
  options: BootstrapOptions,
): MeanEstimate[] {
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new RangeError(`bootstrap resamples must be a positive integer, got ${resamples}`);
  if (!(level > 0 && level < 1))
    throw new RangeError(`bootstrap level must be between 0 and 1, got ${level}`);
  const n = columns[0]?.length ?? 0;
  if (columns.some((c) => c.length !== n))
    throw new RangeError('bootstrap columns must have one value per unit');

  const present = columns.map((column) => column.filter((v): v is number => v !== null));
  const estimates: (MeanEstimate | null)[] = present.map((p) =>
    p.length < 2
      ? {
          n: p.length,
          mean: mean(p),
          ci: null,
          reason: p.length === 0 ? 'no values' : 'fewer than 2 values: no interval',
        }
      : null,
  );
  const active = estimates.flatMap((e, j) => (e === null ? [j] : []));
  if (active.length === 0) return estimates as MeanEstimate[];

  // Column by column, a null as value 0 with weight 0: each mean is then a dot product with
  // the resample's draw counts (two where a column has nulls), sequential and branch-free.
  const k = active.length;
  const values = new Float64Array(n * k);
  const weights = active.map((j) => (present[j]?.length === n ? null : new Float64Array(n)));
  active.forEach((j, a) => {
    (columns[j] as (number | null)[]).forEach((v, i) => {
      values[a * n + i] = v ?? 0;
      const w = weights[a];
      if (w) w[i] = v === null ? 0 : 1;
    });
  });
  const drawn = new Float64Array(n);
  const sums = new Float64Array(k);
  const counts = new Float64Array(k);
  const means = active.map(() => new Float64Array(resamples));
  const defined = new Int32Array(k);
  for (let r = 0; r < resamples; r++) {
    drawUnits(drawn, options.random);
    weightedSums(values, weights, drawn, sums, counts);
    for (let a = 0; a < k; a++)
      if ((counts[a] as number) > 0)
        (means[a] as Float64Array)[(defined[a] as number)++] =
          (sums[a] as number) / (counts[a] as number);
  }
  const tail = (1 - level) / 2;
  active.forEach((j, a) => {
    const sorted = (means[a] as Float64Array).subarray(0, defined[a]).sort();
    const p = present[j] as number[];
    estimates[j] = {
      n: p.length,
      mean: mean(p),
      ci: [quantileSorted(sorted, tail), quantileSorted(sorted, 1 - tail)],
      reason: null,
    };
  });
  return estimates as MeanEstimate[];
}

/** One bootstrap resample: how many times each of the n units is drawn. */
function drawUnits(drawn: Float64Array, random: Random): void {
  const n = drawn.length;
  drawn.fill(0);
  for (let i = 0; i < n; i++) {
    const unit = Math.floor(random.next() * n);
    drawn[unit] = (drawn[unit] as number) + 1;
  }
}

/** Per column: Σ times·value and Σ times·weight over the units (a weight 1 without nulls). */
function weightedSums(
  values: Float64Array,
  weights: readonly (Float64Array | null)[],
  drawn: Float64Array,
  sums: Float64Array,
  counts: Float64Array,
): void {
  const n = drawn.length;
  for (let a = 0; a < sums.length; a++) {
    let sum = 0;
    for (let i = 0, at = a * n; i < n; i++, at++)
      sum += (drawn[i] as number) * (values[at] as number);
    sums[a] = sum;
    const w = weights[a];
    if (!w) {
      counts[a] = n;
      continue;
    }
    let count = 0;
    for (let i = 0; i < n; i++) count += (drawn[i] as number) * (w[i] as number);
    counts[a] = count;
  }
}

/**
 * Two-sided paired sign-flip permutation test of mean difference 0: under the null each
 * difference is as likely negative as positive, so the p-value is the share of sign
 * assignments whose |Σ sᵢdᵢ| is at least the observed |Σ dᵢ|. Exact for n ≤ 16; otherwise
 * `resamples` random assignments with p = (count + 1)/(resamples + 1).
 */
export function pairedSignFlip(
  differences: readonly number[],
  options: SignFlipOptions,
): SignFlipResult {
  const n = differences.length;
  if (n === 0) return { n, p: null, method: null, reason: 'no pairs' };
  const d = Float64Array.from(differences);
  let observed = 0;
  let scale = 0;
  for (const v of d) {
    observed += v;
    scale += Math.abs(v);
  }
  // Sums of the same numbers in another order can differ in the last bits: count those as ties.
  const bound = Math.abs(observed) - scale * 1e-12;

  if (n <= EXACT_SIGN_FLIP_MAX_N) {
    const assignments = 2 ** n;
    let count = 0;
    for (let mask = 0; mask < assignments; mask++) {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += mask & (1 << i) ? -(d[i] as number) : (d[i] as number);
      if (Math.abs(sum) >= bound) count++;
    }
    return { n, p: count / assignments, method: 'exact', reason: null };
  }

  const resamples = options.resamples ?? 10_000;
  if (!Number.isInteger(resamples) || resamples < 1)
    throw new RangeError(`sign-flip resamples must be a positive integer, got ${resamples}`);
  let count = 0;
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    let bits = 0;
    for (let i = 0; i < n; i++) {
      // One draw gives 32 fair signs: the top 32 bits of a uniform double.
      if ((i & 31) === 0) bits = Math.floor(options.random.next() * 4294967296);
      // Branch-free: a random sign is a branch the CPU mispredicts half the time.
      sum += (d[i] as number) * (1 - 2 * ((bits >>> (i & 31)) & 1));
    }
    if (Math.abs(sum) >= bound) count++;
  }
  return { n, p: (count + 1) / (resamples + 1), method: 'monte-carlo', reason: null };
}

/** Cohen's d for paired samples: mean(d)/sd(d), the sample sd of the differences. */
export function cohensDPaired(differences: readonly number[]): EffectSize {
  if (differences.length < 2) return { d: null, reason: 'fewer than 2 pairs' };
  const sd = sampleSd(differences) as number;
  // Differences equal but for rounding (b − a computed per pair) have no real spread either.
  const scale = differences.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  if (sd <= scale * 1e-12) return { d: null, reason: 'the differences have no spread (sd = 0)' };
  return { d: (mean(differences) as number) / sd, reason: null };
}

/**
 * Holm's step-down adjustment: with p₍₁₎ ≤ … ≤ p₍ₘ₎, the adjusted p₍ₖ₎ is
 * max over j ≤ k of min(1, (m − j + 1)·p₍ⱼ₎). Returned in the input's order.
 */
export function holm(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues
    .map((_, i) => i)
    .sort((a, b) => (pValues[a] as number) - (pValues[b] as number) || a - b);
  const adjusted = new Array<number>(m);
  let running = 0;
  order.forEach((index, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * (pValues[index] as number)));
    adjusted[index] = running;
  });
  return adjusted;
}

/** The mean of y at each distinct x, by ascending x. */
export function meanCurve(points: readonly { x: number; y: number }[]): CurvePoint[] {
  const sums = new Map<number, { sum: number; n: number }>();
  for (const { x, y } of points) {
    const entry = sums.get(x);
    if (entry) {
      entry.sum += y;
      entry.n++;
    } else sums.set(x, { sum: y, n: 1 });
  }
  return [...sums].sort(([a], [b]) => a - b).map(([x, { sum, n }]) => ({ x, mean: sum / n, n }));
}

/**
 * Where the piecewise-linear curve through the mean y at each x first reaches `threshold`:
 * the first segment going from strictly below to at-or-above it (upward) or from strictly
 * above to at-or-below it (downward), interpolated linearly. Null if it never does.
 */
export function tippingPoint(
  levels: readonly { x: number; y: number }[],
  threshold: number,
): TippingPoint | null {
  const curve = meanCurve(levels);
  for (let k = 0; k + 1 < curve.length; k++) {
    const a = curve[k] as CurvePoint;
    const b = curve[k + 1] as CurvePoint;
    const upward = a.mean < threshold && b.mean >= threshold;
    const downward = a.mean > threshold && b.mean <= threshold;
    if (!upward && !downward) continue;
    const x = a.x + ((threshold - a.mean) * (b.x - a.x)) / (b.mean - a.mean);
    return { x, direction: upward ? 'upward' : 'downward', between: [a.x, b.x] };
  }
  return null;
}
