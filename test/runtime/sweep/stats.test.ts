import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MeanEstimate, randomStream } from '../../../runtime/index.js';
// The statistics primitives inside analyzeSweep, tested one by one.
import {
  bootstrapCI,
  bootstrapMeans,
  bootstrapPaired,
  cohensDPaired,
  curveShape,
  holm,
  interaction,
  mean,
  meanCurve,
  nearZeroSpread,
  pairedSignFlip,
  quantileSorted,
  sampleSd,
  tippingPoint,
  tippingPointInterval,
} from '../../../runtime/sweep/stats.js';

/** Every one of the 2^n sign assignments, counted by brute force: the test's own oracle. */
function bruteForceSignFlip(d: readonly number[]): number {
  const observed = Math.abs(d.reduce((s, v) => s + v, 0));
  let count = 0;
  for (let mask = 0; mask < 2 ** d.length; mask++) {
    const sum = d.reduce((s, v, i) => s + (mask & (1 << i) ? -v : v), 0);
    if (Math.abs(sum) >= observed - 1e-9) count++;
  }
  return count / 2 ** d.length;
}

describe('mean, sd and quantiles', () => {
  it('computes them by hand', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(mean([])).toBeNull();
    expect(sampleSd([1, 2, 3])).toBe(1);
    expect(sampleSd([5])).toBeNull();
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4], 0)).toBe(1);
    expect(quantileSorted([1, 2, 3, 4], 1)).toBe(4);
    expect(quantileSorted([10, 20, 30, 40, 50], 0.25)).toBe(20);
  });
});

describe('bootstrapCI', () => {
  const values = [0.1, 0.4, 0.35, 0.8, 0.2, 0.55, 0.6, 0.05];

  it('brackets the mean and is the same for the same seed', () => {
    const a = bootstrapCI(values, { random: randomStream(7, 'ci') });
    const b = bootstrapCI(values, { random: randomStream(7, 'ci') });
    const c = bootstrapCI(values, { random: randomStream(8, 'ci') });
    expect(a).toEqual(b);
    expect(a.mean).toBeCloseTo(0.38125, 12);
    expect(a.n).toBe(8);
    const [low, high] = a.ci as [number, number];
    expect(low).toBeLessThan(0.38125);
    expect(high).toBeGreaterThan(0.38125);
    expect(c.ci).not.toEqual(a.ci);
  });

  it('gives the extremes for two values: resample means are 0, 1/2, 1 w.p. 1/4, 1/2, 1/4', () => {
    const e = bootstrapCI([0, 1], { random: randomStream(1, 'two') });
    expect(e.ci).toEqual([0, 1]);
  });

  it('narrows as the level drops', () => {
    const wide = bootstrapCI(values, { level: 0.99, random: randomStream(3, 'x') });
    const narrow = bootstrapCI(values, { level: 0.5, random: randomStream(3, 'x') });
    const width = (e: typeof wide) => (e.ci as [number, number])[1] - (e.ci as [number, number])[0];
    expect(width(narrow)).toBeLessThan(width(wide));
  });

  it('has no interval under 2 values, and a point interval for constant values', () => {
    expect(bootstrapCI([3], { random: randomStream(1, 'x') })).toEqual({
      n: 1,
      mean: 3,
      ci: null,
      reason: 'fewer than 2 values: no interval',
    });
    expect(bootstrapCI([], { random: randomStream(1, 'x') })).toMatchObject({
      n: 0,
      mean: null,
      ci: null,
      reason: 'no values',
    });
    expect(bootstrapCI([2, 2, 2], { random: randomStream(1, 'x') }).ci).toEqual([2, 2]);
  });

  it('rejects nonsense options', () => {
    expect(() => bootstrapCI(values, { resamples: 0, random: randomStream(1, 'x') })).toThrow(
      RangeError,
    );
    expect(() => bootstrapCI(values, { level: 1, random: randomStream(1, 'x') })).toThrow(
      RangeError,
    );
  });

  it('bootstraps several columns over the same units, leaving nulls out', () => {
    const [full, sparse, empty] = bootstrapMeans(
      [
        [1, 2, 3, 4],
        [null, 2, null, 4],
        [null, null, null, null],
      ],
      { resamples: 500, random: randomStream(1, 'cols') },
    );
    expect(full).toMatchObject({ n: 4, mean: 2.5 });
    expect(sparse).toMatchObject({ n: 2, mean: 3 });
    const [low, high] = (sparse as MeanEstimate).ci as [number, number];
    expect(low).toBeGreaterThanOrEqual(2);
    expect(high).toBeLessThanOrEqual(4);
    expect(empty).toMatchObject({ n: 0, mean: null, ci: null });
  });

  it('keeps the interval within the range of the values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 2, maxLength: 30 }),
        fc.integer(),
        (xs, seed) => {
          const e = bootstrapCI(xs, { resamples: 200, random: randomStream(seed, 'p') });
          const [low, high] = e.ci as [number, number];
          const eps = 1e-9;
          return low <= high + eps && low >= Math.min(...xs) - eps && high <= Math.max(...xs) + eps;
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('pairedSignFlip', () => {
  const random = () => randomStream(1, 'flip');

  it('enumerates small n exactly (hand-counted)', () => {
    // ±1±2±3: |sum| = 6, 0, 2, 4, 4, 2, 0, 6 → two of eight reach the observed 6.
    expect(pairedSignFlip([1, 2, 3], { random: random() })).toEqual({
      n: 3,
      p: 0.25,
      method: 'exact',
      min_p: 0.25,
      reason: null,
    });
    // Observed 1 − 2 + 3 + 4 = 6 = 10 − 2·Σ(flipped): |sum| ≥ 6 iff the flipped magnitudes
    // sum to ≤ 2 ({}, {1}, {2}) or ≥ 8 ({1,3,4}, {2,3,4}, {1,2,3,4}): 6 of 16.
    expect(pairedSignFlip([1, -2, 3, 4], { random: random() }).p).toBe(0.375);
    // All of one sign: only the observed signs and their mirror image reach it.
    expect(pairedSignFlip([-0.1, -0.3, -0.2, -0.1, -0.4], { random: random() }).p).toBe(2 / 32);
    expect(pairedSignFlip([0, 0, 0], { random: random() }).p).toBe(1);
  });

  it('has no p-value without pairs', () => {
    expect(pairedSignFlip([], { random: random() })).toEqual({
      n: 0,
      p: null,
      method: null,
      min_p: null,
      reason: 'no pairs',
    });
  });

  it('uses (count + 1)/(resamples + 1) above 16 pairs', () => {
    const ones = Array.from({ length: 20 }, () => 1);
    // Two of 2^20 assignments reach 20: 999 random ones almost surely miss both.
    expect(pairedSignFlip(ones, { resamples: 999, random: random() })).toMatchObject({
      p: 0.001,
      method: 'monte-carlo',
    });
    // Observed sum 0: every assignment reaches it.
    const balanced = Array.from({ length: 20 }, (_, i) => (i % 2 ? 1 : -1));
    expect(pairedSignFlip(balanced, { resamples: 999, random: random() }).p).toBe(1);
  });

  it('approximates the exact p-value above 16 pairs', () => {
    const d = [
      0.3, -0.1, 0.5, 0.2, -0.4, 0.6, 0.1, 0.25, -0.05, 0.15, 0.3, -0.2, 0.1, 0.05, -0.3, 0.2, 0.1,
    ];
    const exact = bruteForceSignFlip(d);
    const estimate = pairedSignFlip(d, { resamples: 20_000, random: random() });
    expect(estimate.method).toBe('monte-carlo');
    expect(Math.abs((estimate.p as number) - exact)).toBeLessThan(0.01);
  });

  it('matches brute force, and is the same for −d (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 10 }),
        (d) => {
          const p = pairedSignFlip(d, { random: random() }).p as number;
          const mirrored = pairedSignFlip(
            d.map((v) => -v),
            { random: random() },
          ).p;
          return p === bruteForceSignFlip(d) && p === mirrored && p > 0 && p <= 1;
        },
      ),
    );
  });
});

describe('cohensDPaired', () => {
  it('is mean over sample sd', () => {
    expect(cohensDPaired([1, 2, 3])).toEqual({ d: 2, reason: null });
    expect(cohensDPaired([-1, -1, -1, -1, -1, -2, -1, -1, -1, -1]).d).toBeCloseTo(
      -1.1 / Math.sqrt(0.1),
      12,
    );
  });

  it('is null without spread or with one pair', () => {
    expect(cohensDPaired([0.5, 0.5])).toEqual({
      d: null,
      reason: 'the differences have no spread (sd = 0)',
    });
    expect(cohensDPaired([1])).toEqual({ d: null, reason: 'fewer than 2 pairs' });
    // 0.3 − 0.6 and 0.4 − 0.7 differ in the last bit: still no spread.
    expect(0.3 - 0.6).not.toBe(0.4 - 0.7);
    expect(cohensDPaired([0.3 - 0.6, 0.4 - 0.7]).d).toBeNull();
  });
});

describe('holm', () => {
  it('adjusts a hand-worked example', () => {
    // Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running max.
    const adjusted = holm([0.01, 0.04, 0.03, 0.005]);
    const expected = [0.03, 0.06, 0.06, 0.02];
    adjusted.forEach((p, i) => {
      expect(p).toBeCloseTo(expected[i] as number, 12);
    });
  });

  it('caps at 1 and keeps ties in order', () => {
    expect(holm([0.5, 0.6])).toEqual([1, 1]);
    expect(holm([0.01, 0.01])).toEqual([0.02, 0.02]);
    expect(holm([])).toEqual([]);
    expect(holm([0.2])).toEqual([0.2]);
  });

  it('never lowers a p-value, never passes 1, and keeps the order of the raw p-values', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }), (ps) => {
        const adjusted = holm(ps);
        return ps.every(
          (p, i) =>
            (adjusted[i] as number) >= p &&
            (adjusted[i] as number) <= 1 &&
            ps.every((q, j) => !(p <= q) || (adjusted[i] as number) <= (adjusted[j] as number)),
        );
      }),
    );
  });
});

describe('tippingPoint', () => {
  it('interpolates the first upward crossing of the mean curve', () => {
    const points = [
      { x: 120, y: 0.6 },
      { x: 80, y: 0.1 },
      { x: 80, y: 0.2 },
      { x: 120, y: 0.8 },
      { x: 100, y: 0.3 },
    ];
    expect(meanCurve(points)).toEqual([
      { x: 80, mean: expect.closeTo(0.15, 12), n: 2, sd: expect.closeTo(Math.sqrt(0.005), 12) },
      { x: 100, mean: 0.3, n: 1, sd: null },
      { x: 120, mean: 0.7, n: 2, sd: expect.closeTo(Math.sqrt(0.02), 12) },
    ]);
    // 0.3 at 100, 0.7 at 120: 0.5 is halfway.
    const t = tippingPoint(points, 0.5);
    expect(t?.direction).toBe('upward');
    expect(t?.x).toBeCloseTo(110, 12);
    expect(t?.between).toEqual([100, 120]);
  });

  it('finds downward crossings, touching counts, and never-crossing curves are null', () => {
    expect(
      tippingPoint(
        [
          { x: 0, y: 1 },
          { x: 2, y: 0 },
        ],
        0.25,
      ),
    ).toEqual({ x: 1.5, direction: 'downward', between: [0, 2] });
    expect(
      tippingPoint(
        [
          { x: 1, y: 0.1 },
          { x: 2, y: 0.5 },
        ],
        0.5,
      ),
    ).toEqual({ x: 2, direction: 'upward', between: [1, 2] });
    expect(
      tippingPoint(
        [
          { x: 1, y: 0.1 },
          { x: 2, y: 0.2 },
        ],
        0.5,
      ),
    ).toBeNull();
    expect(tippingPoint([{ x: 1, y: 0.9 }], 0.5)).toBeNull();
  });
});

describe('pairedSignFlip: the smallest attainable p', () => {
  const random = () => randomStream(1, 'floor');

  it('is 2/2^n: 0.125 with 4 pairs, whatever their values', () => {
    // Four pairs all of one sign are as extreme as four pairs can be, and still p = 2/16.
    const strongest = pairedSignFlip([5, 6, 7, 8], { random: random() });
    expect(strongest).toMatchObject({ p: 0.125, min_p: 0.125 });
    expect(pairedSignFlip([1, -2, 3, 4], { random: random() }).min_p).toBe(0.125);
    expect(
      pairedSignFlip(
        Array.from({ length: 10 }, () => 1),
        { random: random() },
      ).min_p,
    ).toBe(2 / 1024);
  });

  it('counts only non-zero differences: a zero flips to itself', () => {
    const withZero = pairedSignFlip([0, 1, 2, 3], { random: random() });
    expect(withZero.min_p).toBe(0.25);
    expect(withZero.p).toBe(0.25);
    expect(pairedSignFlip([0, 0], { random: random() }).min_p).toBe(1);
  });

  it('is never below 1/(resamples + 1) by Monte Carlo', () => {
    const ones = Array.from({ length: 20 }, () => 1);
    expect(pairedSignFlip(ones, { resamples: 999, random: random() }).min_p).toBe(0.001);
  });

  it('bounds every p-value from below (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 8 }),
        (d) => {
          const test = pairedSignFlip(d, { random: random() });
          return (test.p as number) >= (test.min_p as number);
        },
      ),
    );
  });
});

describe('bootstrapPaired and nearZeroSpread', () => {
  it('brackets d and the mean difference, and has no d interval without spread', () => {
    const d = [0.1, 0.3, 0.2, 0.4, 0.25, 0.15];
    const intervals = bootstrapPaired(d, { resamples: 500, random: randomStream(1, 'd') });
    const point = cohensDPaired(d).d as number;
    expect(intervals.d?.[0]).toBeLessThan(point);
    expect(intervals.d?.[1]).toBeGreaterThan(point);
    expect(intervals.mean?.[0]).toBeLessThan(mean(d) as number);
    expect(intervals.mean?.[1]).toBeGreaterThan(mean(d) as number);
    expect(bootstrapPaired(d, { resamples: 500, random: randomStream(1, 'd') })).toEqual(intervals);
    expect(bootstrapPaired([0.25, 0.25, 0.25], { random: randomStream(1, 'd') })).toEqual({
      mean: [0.25, 0.25],
      d: null,
    });
    expect(bootstrapPaired([0.2], { random: randomStream(1, 'd') })).toEqual({
      mean: null,
      d: null,
    });
  });

  it('gives the mean difference the plain percentile bootstrap: two pairs, hand-computed', () => {
    // Resample means 0, 1/2, 1 w.p. 1/4, 1/2, 1/4: the 2.5% and 97.5% quantiles are 0 and 1.
    expect(bootstrapPaired([0, 1], { random: randomStream(1, 'two') }).mean).toEqual([0, 1]);
  });

  it('calls a spread near zero at 0 or at most a tenth of the mean difference', () => {
    expect(nearZeroSpread(0, 0)).toBe(true);
    expect(nearZeroSpread(0.01, 0.3)).toBe(true);
    expect(nearZeroSpread(0.03, 0.3)).toBe(true);
    expect(nearZeroSpread(0.031, 0.3)).toBe(false);
    expect(nearZeroSpread(0.01, -0.3)).toBe(true);
    expect(nearZeroSpread(null, 0.3)).toBe(false);
  });
});

describe('interaction', () => {
  // R's ToothGrowth (Crampton 1947): tooth length by supplement (VC, OJ) × dose (0.5, 1, 2),
  // ten guinea pigs per cell.
  const VC = [
    [4.2, 11.5, 7.3, 5.8, 6.4, 10, 11.2, 11.2, 5.2, 7],
    [16.5, 16.5, 15.2, 17.3, 22.5, 17.3, 13.6, 14.5, 18.8, 15.5],
    [23.6, 18.5, 33.9, 25.5, 26.4, 32.5, 26.7, 21.5, 23.3, 29.5],
  ];
  const OJ = [
    [15.2, 21.5, 17.6, 9.7, 14.5, 10, 8.2, 9.4, 16.5, 9.7],
    [19.7, 23.3, 23.6, 26.4, 20, 25.2, 25.8, 21.2, 14.5, 27.3],
    [25.5, 26.4, 22.4, 24.5, 24.8, 30.9, 26.4, 27.3, 29.4, 23],
  ];

  it("matches R's two-way ANOVA of ToothGrowth (published table)", () => {
    // summary(aov(len ~ supp * factor(dose))): supp SS 205.4, dose SS 2426.4,
    // supp:dose SS 108.3 on 2 df, F 4.107; residual MS 13.2 on 54 df.
    const supp = interaction([VC, OJ]);
    expect(supp.f).toBeCloseTo(4.107, 3);
    expect(supp.share).toBeCloseTo(108.3 / (205.4 + 108.3), 3);
    expect(supp).toMatchObject({ beyond_noise: true, strong: true });
    // The same interaction is a small share of dose's large effect.
    const dose = interaction([0, 1, 2].map((d) => [VC[d] as number[], OJ[d] as number[]]));
    expect(dose.f).toBeCloseTo(4.107, 3);
    expect(dose.share).toBeCloseTo(108.3 / (2426.4 + 108.3), 3);
    expect(dose.strong).toBe(false);
  });

  it('is 0 for parallel effects and 1 for a crossover', () => {
    // Rows: the factor's levels; columns: the other factor's. Effect +0.3 at both columns.
    expect(
      interaction([
        [
          [0.1, 0.11],
          [0.5, 0.51],
        ],
        [
          [0.4, 0.41],
          [0.8, 0.81],
        ],
      ]),
    ).toMatchObject({ share: 0, strong: false, reason: null });
    // Effect +0.4 at one column and −0.4 at the other: pooled, no effect at all.
    const crossover = interaction([
      [
        [0.1, 0.12],
        [0.5, 0.52],
      ],
      [
        [0.5, 0.52],
        [0.1, 0.12],
      ],
    ]);
    expect(crossover.share).toBeCloseTo(1, 12);
    expect(crossover).toMatchObject({ beyond_noise: true, strong: true });
    expect(crossover.f).toBeCloseTo((0.16 * 2) / 0.0002, 6);
  });

  it('flags an effect present at only one level (share 1/2), not one a third smaller', () => {
    const onlyOne = interaction([
      [
        [0, 0.01],
        [0, 0.01],
      ],
      [
        [0, 0.01],
        [1, 1.01],
      ],
    ]);
    expect(onlyOne.share).toBeCloseTo(0.5, 12);
    expect(onlyOne.strong).toBe(true);
    // Simple effects 1 and 2/3: share (1/3)²/2 / (1 + 4/9) = 1/26.
    const smaller = interaction([
      [
        [0, 0.01],
        [0, 0.01],
      ],
      [
        [1, 1.01],
        [2 / 3, 2 / 3 + 0.01],
      ],
    ]);
    expect(smaller.share).toBeCloseTo(1 / 26, 12);
    expect(smaller.strong).toBe(false);
  });

  it('does not flag an interaction within the noise', () => {
    // Cell means differ by ±0.01 around no effect; runs within a cell by ±0.5.
    const noise = interaction([
      [
        [-0.49, 0.51],
        [0.5, -0.5],
      ],
      [
        [0.5, -0.5],
        [-0.49, 0.51],
      ],
    ]);
    expect(noise.share).toBeCloseTo(1, 12);
    expect(noise.f).toBeLessThan(4);
    expect(noise).toMatchObject({ beyond_noise: false, strong: false });
  });

  it('counts any interaction beyond noise when cells do not vary, and cannot tell with one run', () => {
    const deterministic = interaction([
      [
        [0.2, 0.2],
        [0.2, 0.2],
      ],
      [
        [0.2, 0.2],
        [0.9, 0.9],
      ],
    ]);
    expect(deterministic).toMatchObject({ f: null, beyond_noise: true, strong: true });
    const single = interaction([
      [[0.2], [0.2]],
      [[0.2], [0.9]],
    ]);
    expect(single).toMatchObject({ f: null, beyond_noise: null, strong: true });
  });

  it('says why it has no share', () => {
    expect(interaction([[[1], [2]]]).reason).toBe('fewer than 2 levels');
    expect(
      interaction([
        [[1], []],
        [[1], [2]],
      ]).reason,
    ).toBe('a cell has no values');
    // Δ at the Nash benchmark, recomputed in another order: rounding, not an effect.
    expect(
      interaction([
        [
          [0, 0],
          [1e-14, 1e-14],
        ],
        [
          [-1e-14, -1e-14],
          [5e-15, 5e-15],
        ],
      ]).reason,
    ).toBe('no effect within any level of the other factor');
    expect(
      interaction([
        [[1], [2]],
        [[1], [2]],
      ]),
    ).toMatchObject({
      share: null,
      strong: false,
      reason: 'no effect within any level of the other factor',
    });
  });
});

describe('tippingPointInterval and curveShape', () => {
  const points = (levels: Record<number, number[]>) =>
    Object.entries(levels).flatMap(([x, ys]) => ys.map((y) => ({ x: Number(x), y })));

  it('is a point without noise, and never crosses a curve that never does', () => {
    const flat = points({ 0: [0.1, 0.1], 1: [0.9, 0.9] });
    expect(
      tippingPointInterval(flat, 0.5, { resamples: 200, random: randomStream(1, 't') }),
    ).toEqual({ ci: [0.5, 0.5], no_crossing_share: 0 });
    const low = points({ 0: [0.1, 0.2], 1: [0.3, 0.4] });
    expect(
      tippingPointInterval(low, 0.5, { resamples: 200, random: randomStream(1, 't') }),
    ).toEqual({ ci: null, no_crossing_share: 1 });
  });

  it('resamples runs within levels: hand-computed crossing shares', () => {
    // At x = 1 the resampled mean is 0, 0.5 or 1 w.p. 1/4, 1/2, 1/4; at x = 0 it is 0.
    // It reaches 0.5 in 3/4 of resamples, at x = 1 (mean 0.5) or x = 0.5 (mean 1).
    const result = tippingPointInterval(points({ 0: [0, 0], 1: [0, 1] }), 0.5, {
      resamples: 4000,
      random: randomStream(1, 't'),
    });
    expect(result.no_crossing_share).toBeGreaterThan(0.22);
    expect(result.no_crossing_share).toBeLessThan(0.28);
    expect(result.ci).toEqual([0.5, 1]);
  });

  it('warns of curves that cross twice or turn beyond noise, not of noise', () => {
    // Up then down through 0.5: two crossings, one turn.
    const hump = meanCurve(points({ 1: [0.2, 0.21], 2: [0.8, 0.81], 3: [0.2, 0.21] }));
    expect(curveShape(hump, 0.5)).toEqual({
      crossings: 2,
      direction_changes: 1,
      non_monotone: true,
    });
    // Turns below the threshold, without crossing it twice: still non-monotone.
    const dip = meanCurve(points({ 1: [0.2, 0.2], 2: [0.6, 0.6], 3: [0.55, 0.55] }));
    expect(curveShape(dip, 0.5)).toEqual({
      crossings: 1,
      direction_changes: 1,
      non_monotone: true,
    });
    // Rounding around the Nash benchmark is flat, not a turn.
    const nash = meanCurve(
      points({ 90: [0, 0], 100: [-1.02e-14, -1.02e-14], 110: [5.3e-15, 5.3e-15] }),
    );
    expect(curveShape(nash, 0.5)).toEqual({
      crossings: 0,
      direction_changes: 0,
      non_monotone: false,
    });
    // A dip of 0.05 between levels whose runs spread by ±0.3: within 2 standard errors.
    const noisy = meanCurve(
      points({ 1: [-0.1, 0.5], 2: [0.3, 0.9], 3: [0.25, 0.85], 4: [0.7, 1.3] }),
    );
    expect(curveShape(noisy, 0.5)).toEqual({
      crossings: 1,
      direction_changes: 0,
      non_monotone: false,
    });
  });
});
