import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gini } from '../../compiler/index.js';

/**
 * `gini` is written for MASE (no pinned JavaScript library was chosen), so it is checked
 * against published closed forms and against the definition computed another way.
 * Published values (e.g. Wikipedia, "Gini coefficient": the mean absolute difference
 * over all ordered pairs divided by twice the mean; one member holding everything gives
 * 1 − 1/n; the values 1, 2, …, n give (n − 1)/(3n)).
 */
describe('gini', () => {
  it('is 0 when everyone has the same, and when no one has anything', () => {
    expect(gini([5, 5, 5, 5])).toBe(0);
    expect(gini([0, 0, 0])).toBe(0);
    expect(gini([])).toBe(0);
  });

  it('is 1 − 1/n when one member holds everything', () => {
    for (const n of [2, 3, 4, 10, 100]) {
      const xs = Array.from({ length: n }, (_, i) => (i === n - 1 ? 7 : 0));
      expect(gini(xs)).toBeCloseTo(1 - 1 / n, 12);
    }
  });

  it('is (n − 1)/(3n) for the values 1, 2, …, n (4/15 for n = 5)', () => {
    expect(gini([1, 2, 3, 4, 5])).toBeCloseTo(4 / 15, 12);
    for (const n of [2, 7, 50, 1000]) {
      const xs = Array.from({ length: n }, (_, i) => n - i); // order does not matter
      expect(gini(xs)).toBeCloseTo((n - 1) / (3 * n), 12);
    }
  });

  it('equals the mean absolute difference over ordered pairs over twice the mean', () => {
    const definition = (xs: readonly number[]) => {
      const n = xs.length;
      const mean = xs.reduce((a, b) => a + b, 0) / n;
      let sum = 0;
      for (const a of xs) for (const b of xs) sum += Math.abs(a - b);
      return mean === 0 ? 0 : sum / (2 * n * n * mean);
    };
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 40 }),
        (xs) => {
          expect(gini(xs)).toBeCloseTo(definition(xs), 9);
        },
      ),
    );
  });
});
