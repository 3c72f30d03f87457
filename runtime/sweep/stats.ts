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
  /**
   * The smallest p this test can give with these pairs, whatever their values: 2/2^m with m
   * the non-zero differences (a zero flips to itself), and at least 1/(resamples + 1) by
   * Monte Carlo. Above the significance level the test cannot reject. Null without pairs.
   */
  readonly min_p: number | null;
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
  /** Sample sd of those values; null for a single value. */
  readonly sd: number | null;
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

/** The significance level the guard-rails compare against (two-sided). */
export const SIGNIFICANCE_LEVEL = 0.05;

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
  if (n === 0) return { n, p: null, method: null, min_p: null, reason: 'no pairs' };
  const d = Float64Array.from(differences);
  const exactFloor = 2 / 2 ** differences.filter((v) => v !== 0).length;
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
    return {
      n,
      p: count / assignments,
      method: 'exact',
      min_p: Math.min(1, exactFloor),
      reason: null,
    };
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
  return {
    n,
    p: (count + 1) / (resamples + 1),
    method: 'monte-carlo',
    min_p: Math.min(1, Math.max(exactFloor, 1 / (resamples + 1))),
    reason: null,
  };
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

export interface PairedIntervals {
  /** Percentile interval of the mean difference; null under 2 pairs. */
  readonly mean: readonly [number, number] | null;
  /** Percentile interval of Cohen's d over the resamples that have one; null without a d. */
  readonly d: readonly [number, number] | null;
}

/**
 * Percentile bootstrap intervals of the mean paired difference and of paired Cohen's d,
 * from one set of resamples of the pairs. A resample whose differences have no spread (the
 * rule of `cohensDPaired`, against the sample's largest |dᵢ|) has no d and is left out of
 * d's interval.
 */
export function bootstrapPaired(
  differences: readonly number[],
  options: BootstrapOptions,
): PairedIntervals {
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const n = differences.length;
  if (n < 2) return { mean: null, d: null };
  const values = Float64Array.from(differences);
  const scale = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const drawn = new Float64Array(n);
  const means = new Float64Array(resamples);
  const ds = new Float64Array(resamples);
  let defined = 0;
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = values[Math.floor(options.random.next() * n)] as number;
      drawn[i] = v;
      sum += v;
    }
    const m = sum / n;
    let squares = 0;
    for (let i = 0; i < n; i++) squares += ((drawn[i] as number) - m) ** 2;
    const sd = Math.sqrt(squares / (n - 1));
    means[r] = m;
    if (sd > scale * 1e-12) ds[defined++] = m / sd;
  }
  const tail = (1 - level) / 2;
  const interval = (sorted: Float64Array): [number, number] => [
    quantileSorted(sorted, tail),
    quantileSorted(sorted, 1 - tail),
  ];
  return {
    mean: interval(means.sort()),
    d:
      cohensDPaired(differences).d === null || defined === 0
        ? null
        : interval(ds.subarray(0, defined).sort()),
  };
}

/**
 * Whether a group's spread is (near) zero next to the effect it is compared on: its sd is 0,
 * or at most `NEAR_ZERO_SPREAD` of |mean difference|. Deterministic agents give such groups,
 * and a Cohen's d of 10 or more that measures how little the runs vary, not the effect.
 */
export function nearZeroSpread(sd: number | null, meanDifference: number | null): boolean {
  if (sd === null) return false;
  return sd === 0 || (meanDifference !== null && sd <= NEAR_ZERO_SPREAD * Math.abs(meanDifference));
}

/** A group's sd at most this share of |mean difference| counts as near zero. */
export const NEAR_ZERO_SPREAD = 0.1;

/** The values of y at each distinct x, by ascending x. */
function groupByX(points: readonly { x: number; y: number }[]): [number, number[]][] {
  const groups = new Map<number, number[]>();
  for (const { x, y } of points) {
    const ys = groups.get(x);
    if (ys) ys.push(y);
    else groups.set(x, [y]);
  }
  return [...groups].sort(([a], [b]) => a - b);
}

/** The mean (and sd) of y at each distinct x, by ascending x. */
export function meanCurve(points: readonly { x: number; y: number }[]): CurvePoint[] {
  return groupByX(points).map(([x, ys]) => ({
    x,
    mean: mean(ys) as number,
    n: ys.length,
    sd: sampleSd(ys),
  }));
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
  return firstCrossing(
    curve.map((p) => p.x),
    curve.map((p) => p.mean),
    threshold,
  );
}

/** Whether the segment from a to b crosses the threshold (see `tippingPoint`), and which way. */
function crossingDirection(
  a: number,
  b: number,
  threshold: number,
): TippingPoint['direction'] | null {
  if (a < threshold && b >= threshold) return 'upward';
  if (a > threshold && b <= threshold) return 'downward';
  return null;
}

function firstCrossing(
  xs: readonly number[],
  means: ArrayLike<number>,
  threshold: number,
): TippingPoint | null {
  for (let k = 0; k + 1 < xs.length; k++) {
    const [xa, xb] = [xs[k] as number, xs[k + 1] as number];
    const [a, b] = [means[k] as number, means[k + 1] as number];
    const direction = crossingDirection(a, b, threshold);
    if (direction === null) continue;
    const x = xa + ((threshold - a) * (xb - xa)) / (b - a);
    return { x, direction, between: [xa, xb] };
  }
  return null;
}

export interface TippingPointInterval {
  /** Percentile interval of the crossing over the resamples that cross; null if none does. */
  readonly ci: readonly [number, number] | null;
  /** Share of the resamples whose curve never crosses the threshold. */
  readonly no_crossing_share: number;
}

/**
 * Bootstrap of the tipping point: each resample draws, at every level, as many runs as the
 * level has, with replacement; recomputes the mean curve and its first crossing.
 */
export function tippingPointInterval(
  points: readonly { x: number; y: number }[],
  threshold: number,
  options: BootstrapOptions,
): TippingPointInterval {
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  const groups = groupByX(points);
  const xs = groups.map(([x]) => x);
  const means = new Float64Array(groups.length);
  const crossings: number[] = [];
  for (let r = 0; r < resamples; r++) {
    groups.forEach(([, ys], k) => {
      let sum = 0;
      for (let i = 0; i < ys.length; i++)
        sum += ys[Math.floor(options.random.next() * ys.length)] as number;
      means[k] = sum / ys.length;
    });
    const crossing = firstCrossing(xs, means, threshold);
    if (crossing) crossings.push(crossing.x);
  }
  const tail = (1 - level) / 2;
  const sorted = Float64Array.from(crossings).sort();
  return {
    ci:
      sorted.length === 0 ? null : [quantileSorted(sorted, tail), quantileSorted(sorted, 1 - tail)],
    no_crossing_share: (resamples - crossings.length) / resamples,
  };
}

export interface CurveShape {
  /** Segments of the mean curve that cross the threshold (either way). */
  readonly crossings: number;
  /** Times the curve turns from rising to falling or back, counting only steps beyond noise. */
  readonly direction_changes: number;
  /** More than one crossing, or a direction change: a single tipping point misdescribes it. */
  readonly non_monotone: boolean;
}

/**
 * Differences of means below which they are rounding, not effects: 10⁻⁹ of the largest
 * |mean|, and never below 10⁻⁹. The floor keeps Δ ≈ 10⁻¹⁴ at the Nash benchmark (a
 * deterministic market recomputed in another order) from looking like a turn or an effect.
 */
export function roundingTolerance(scale: number): number {
  return 1e-9 * Math.max(1, scale);
}

/** How many noise units a step between levels must exceed to count as a rise or a fall. */
export const CURVE_STEP_NOISE = 2;

/**
 * The shape of a mean curve. A step from level k to k+1 rises (falls) when the difference of
 * means exceeds `CURVE_STEP_NOISE` standard errors, √(s²ₖ/nₖ + s²ₖ₊₁/nₖ₊₁), and is not
 * rounding (`roundingTolerance`); a level with one run counts as having no noise.
 */
export function curveShape(curve: readonly CurvePoint[], threshold: number): CurveShape {
  const scale = curve.reduce((m, p) => Math.max(m, Math.abs(p.mean)), 0);
  let crossings = 0;
  let changes = 0;
  let last = 0;
  for (let k = 0; k + 1 < curve.length; k++) {
    const a = curve[k] as CurvePoint;
    const b = curve[k + 1] as CurvePoint;
    if (crossingDirection(a.mean, b.mean, threshold) !== null) crossings++;
    const se = Math.sqrt((a.sd ?? 0) ** 2 / a.n + (b.sd ?? 0) ** 2 / b.n);
    const step = b.mean - a.mean;
    if (Math.abs(step) <= Math.max(CURVE_STEP_NOISE * se, roundingTolerance(scale))) continue;
    const sign = Math.sign(step);
    if (last !== 0 && sign !== last) changes++;
    last = sign;
  }
  return {
    crossings,
    direction_changes: changes,
    non_monotone: crossings > 1 || changes > 0,
  };
}

export interface Interaction {
  /**
   * Share of the factor's effects within the other factor's levels that is interaction:
   * Σγ²ᵢⱼ / Σ(mᵢⱼ − m·ⱼ)² over the table of cell means (0: the same effect at every level of
   * the other factor; 1: no common effect at all). Null when the factor has no effect.
   */
  readonly share: number | null;
  /** Interaction mean square over the within-cell mean square; null when either is undefined. */
  readonly f: number | null;
  /**
   * Whether the interaction exceeds the within-cell noise: F ≥ `INTERACTION_F_SCREEN`, or any
   * interaction when the cells have no spread. Null with one run per cell (no noise estimate).
   */
  readonly beyond_noise: boolean | null;
  /** share ≥ `INTERACTION_SHARE_THRESHOLD` and not shown to be noise. */
  readonly strong: boolean;
  readonly reason: string | null;
}

/** An interaction share from which the marginal means are flagged as pooled over it. */
export const INTERACTION_SHARE_THRESHOLD = 0.25;
/** The F from which an interaction counts as beyond noise (a screen near the 5% point of F(1, ν ≥ 20)). */
export const INTERACTION_F_SCREEN = 4;

/**
 * Two-way interaction of a factor (rows i) with another (columns j), from the values of each
 * cell: the unweighted two-way decomposition of the cell means mᵢⱼ = μ + αᵢ + βⱼ + γᵢⱼ.
 * Definitions and thresholds: docs/metrics.md, "Interactions".
 */
export function interaction(cells: readonly (readonly (readonly number[])[])[]): Interaction {
  const rows = cells.length;
  const columns = cells[0]?.length ?? 0;
  const none = (reason: string): Interaction => ({
    share: null,
    f: null,
    beyond_noise: null,
    strong: false,
    reason,
  });
  if (rows < 2 || columns < 2) return none('fewer than 2 levels');
  if (cells.some((row) => row.length !== columns || row.some((c) => c.length === 0)))
    return none('a cell has no values');
  const m = cells.map((row) => row.map((c) => mean(c) as number));
  const rowMean = m.map((row) => mean(row) as number);
  const columnMean = Array.from(
    { length: columns },
    (_, j) => mean(m.map((row) => row[j] as number)) as number,
  );
  const grand = mean(rowMean) as number;
  let within = 0;
  let interactionSquares = 0;
  let scale = 0;
  m.forEach((row, i) => {
    row.forEach((v, j) => {
      within += (v - (columnMean[j] as number)) ** 2;
      interactionSquares += (v - (rowMean[i] as number) - (columnMean[j] as number) + grand) ** 2;
      scale = Math.max(scale, Math.abs(v));
    });
  });
  const tolerance = roundingTolerance(scale);
  const rounding = tolerance ** 2 * rows * columns;
  if (within <= rounding) return none('no effect within any level of the other factor');
  const share = interactionSquares <= rounding ? 0 : interactionSquares / within;

  let residual = 0;
  let runs = 0;
  let inverseCounts = 0;
  cells.forEach((row, i) => {
    row.forEach((c, j) => {
      for (const v of c) residual += (v - ((m[i] as number[])[j] as number)) ** 2;
      runs += c.length;
      inverseCounts += 1 / c.length;
    });
  });
  const residualDf = runs - rows * columns;
  let f: number | null = null;
  let beyondNoise: boolean | null = null;
  if (residualDf > 0) {
    const residualMeanSquare = residual / residualDf;
    // A cell mean of n runs has variance σ²/n: scale by the harmonic mean of the cell sizes.
    const harmonic = (rows * columns) / inverseCounts;
    const interactionMeanSquare = (interactionSquares * harmonic) / ((rows - 1) * (columns - 1));
    if (residualMeanSquare <= tolerance ** 2) beyondNoise = share > 0;
    else {
      f = interactionMeanSquare / residualMeanSquare;
      beyondNoise = f >= INTERACTION_F_SCREEN;
    }
  }
  return {
    share,
    f,
    beyond_noise: beyondNoise,
    strong: share >= INTERACTION_SHARE_THRESHOLD && beyondNoise !== false,
    reason: null,
  };
}
