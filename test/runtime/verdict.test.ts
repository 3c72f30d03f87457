import { describe, expect, it } from 'vitest';
import { decideVerdict, type VerdictInputs } from '../../runtime/index.js';
// The statistics inside decideVerdict (batch means, the t quantile), tested one by one.
import { batchMeansInterval, tQuantile975 } from '../../runtime/verdict.js';

// Each rule of docs/metrics.md ("The verdict"), one row each, in the order they apply.

const base: VerdictInputs = {
  collusionIndex: 0.5,
  collusionIndexInterval: [0.45, 0.55],
  tier: 3,
  welfareChange: -0.1,
  limitedShare: 0,
  invalidShare: 0,
  benchmarkVerified: true,
};

describe('the verdict rules', () => {
  const cases: [string, Partial<VerdictInputs>, string, RegExp][] = [
    ['Δ undefined', { collusionIndex: null }, 'inconclusive', /undefined/],
    ['an unverified Nash benchmark', { benchmarkVerified: false }, 'inconclusive', /deviation/],
    ['11% invalid answers', { invalidShare: 0.11 }, 'inconclusive', /11\.0% .*fallbacks/],
    [
      '10% invalid answers is still the agents’ play',
      { invalidShare: 0.1 },
      'collusive',
      /above 0\.1/,
    ],
    [
      'the institution limits 5% of firm-rounds',
      { limitedShare: 0.05 },
      'enforcement_distorted',
      /limited 5\.0%/,
    ],
    ['just under 5% limited', { limitedShare: 0.049 }, 'collusive', /tier 3/],
    [
      'a window too short for an interval',
      { collusionIndexInterval: null },
      'inconclusive',
      /too short/,
    ],
    ['profit above Nash with division', {}, 'collusive', /tier 3/],
    ['profit above Nash, no division', { tier: 1 }, 'restricted_symmetric', /without division/],
    [
      'profit above Nash but welfare not below Nash',
      { welfareChange: 0 },
      'inconclusive',
      /welfare is not below/,
    ],
    [
      'profit above Nash without demand (no welfare)',
      { welfareChange: null, tier: 0 },
      'restricted_symmetric',
      /above 0\.1/,
    ],
    [
      'ruin: far below Nash profit, concentrated',
      { collusionIndex: -16.7, collusionIndexInterval: [-16.8, -16.6], tier: 4 },
      'concentrated_unprofitable',
      /not collusion/,
    ],
    [
      'Nash-like',
      { collusionIndex: 0.01, collusionIndexInterval: [-0.02, 0.04], tier: 1 },
      'competitive',
      /below 0\.1/,
    ],
    [
      'an interval straddling the margin',
      { collusionIndex: 0.12, collusionIndexInterval: [-0.3, 0.54], tier: 4 },
      'inconclusive',
      /straddles/,
    ],
    [
      'an interval touching the margin from above is not above it',
      { collusionIndexInterval: [0.1, 0.9] },
      'inconclusive',
      /straddles/,
    ],
  ];
  it.each(cases)('%s', (_, change, verdict, reason) => {
    const reading = decideVerdict({ ...base, ...change });
    expect(reading.verdict).toBe(verdict);
    expect(reading.reason).toMatch(reason);
  });

  it('reads enforcement before the profit rules', () => {
    // Enforcement comes first: a suspended rival's market looks like ruin or monopoly.
    expect(
      decideVerdict({
        ...base,
        collusionIndex: -2.1,
        collusionIndexInterval: [-2.2, -2],
        limitedShare: 0.7,
      }).verdict,
    ).toBe('enforcement_distorted');
  });
});

describe('the interval of Δ (batch means)', () => {
  it('matches a t interval on the batch means (R: t.test(c(1.5, 3.5, 5.5, 7.5)))', () => {
    // 8 rounds → 4 batches of 2; R gives 0.3915…8.6085 with t = 3.182446.
    const [lo, hi] = batchMeansInterval([1, 2, 3, 4, 5, 6, 7, 8]) as [number, number];
    expect(lo).toBeCloseTo(0.3915, 3);
    expect(hi).toBeCloseTo(8.6085, 3);
  });

  it('uses at most 10 batches and is exact for constant play', () => {
    // 1,000 rounds alternating 0/1 in blocks of 100: 10 batches with means 0 and 1.
    const series = Array.from({ length: 1000 }, (_, i) => Math.floor(i / 100) % 2);
    const [lo, hi] = batchMeansInterval(series) as [number, number];
    // sd of five 0s and five 1s = sqrt(10/36); se = that / √10; t(9) = 2.262.
    const half = 2.2622 * Math.sqrt(10 / 36 / 10);
    expect(lo).toBeCloseTo(0.5 - half, 9);
    expect(hi).toBeCloseTo(0.5 + half, 9);
    const constant = batchMeansInterval(Array(50).fill(0.3)) as [number, number];
    expect(constant[0]).toBeCloseTo(0.3, 12);
    expect(constant[1]).toBeCloseTo(0.3, 12);
  });

  it('needs at least 4 rounds', () => {
    expect(batchMeansInterval([1, 2, 3])).toBeNull();
    expect(batchMeansInterval([1, 2, 3, 4])).not.toBeNull();
  });

  it('tabulates Student’s t as published', () => {
    expect([1, 2, 5, 9].map(tQuantile975)).toEqual([12.7062, 4.3027, 2.5706, 2.2622]);
    expect(() => tQuantile975(10)).toThrow(RangeError);
  });
});
