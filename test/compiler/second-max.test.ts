import { describe, expect, it } from 'vitest';
import { natives, secondMax } from '../../compiler/index.js';

/**
 * `second_max` (the price of a second-price auction) against values worked out by hand:
 * repeats count, so two equal top bids make the second-highest equal to the top.
 */
describe('second_max', () => {
  it('is the second-largest value, whatever the order', () => {
    expect(secondMax([3, 9, 5])).toBe(5);
    expect(secondMax([9, 3, 5])).toBe(5);
    expect(secondMax([1, 2])).toBe(1);
    expect(secondMax([-4, -1, -7, -2])).toBe(-2);
  });

  it('counts repeats: 5, 5, 3 gives 5', () => {
    expect(secondMax([5, 5, 3])).toBe(5);
    expect(secondMax([3, 5, 5])).toBe(5);
    expect(secondMax([0, 0, 0])).toBe(0);
  });

  it('is the value itself when there is one, NaN when there is none or one is NaN', () => {
    expect(secondMax([42])).toBe(42);
    expect(secondMax([])).toBeNaN();
    expect(secondMax([1, Number.NaN, 3])).toBeNaN();
  });

  it('is a native reduction the language can call over an axis', () => {
    const native = natives.get('second_max');
    expect(native?.kind).toBe('reduction');
    expect(native?.acceptsOver).toBe(true);
  });
});
