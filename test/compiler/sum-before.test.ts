import { describe, expect, it } from 'vitest';
import { compileSources, natives, sumBefore, type Tensor } from '../../compiler/index.js';
import { stdlibSources } from '../../runtime/index.js';

/**
 * `sum_before(x, key, over: AXIS)` (random-order rationing in stdlib/commons.mase): each
 * element gets the sum of x over the elements served before it, in ascending order of key,
 * ties by index, NaN keys last. Expected values worked out by hand.
 */
describe('sum_before', () => {
  it('sums what comes before in ascending key order', () => {
    // Keys 0.7, 0.2, 0.5: served 2nd-index 1 first, then index 2, then index 0.
    expect(Array.from(sumBefore([50, 40, 20], [0.7, 0.2, 0.5]))).toEqual([60, 0, 40]);
    expect(Array.from(sumBefore([1, 2, 3, 4], [1, 2, 3, 4]))).toEqual([0, 1, 3, 6]);
    expect(Array.from(sumBefore([1, 2, 3, 4], [4, 3, 2, 1]))).toEqual([9, 7, 4, 0]);
    expect(Array.from(sumBefore([], []))).toEqual([]);
    expect(Array.from(sumBefore([7], [0.3]))).toEqual([0]);
  });

  it('breaks ties by index, also between infinities, and puts NaN keys last in index order', () => {
    expect(Array.from(sumBefore([1, 2, 4], [5, 5, 5]))).toEqual([0, 1, 3]);
    expect(Array.from(sumBefore([1, 2, 4], [Infinity, Infinity, 0]))).toEqual([4, 5, 0]);
    expect(Array.from(sumBefore([1, 2, 4, 8], [Number.NaN, 3, Number.NaN, -Infinity]))).toEqual([
      10, 8, 11, 0,
    ]);
  });

  const native = natives.get('sum_before');
  const dims = { firms: 3, products: 2 };
  const evaluate = (x: Tensor, key: Tensor, over: 'firm' | 'product') =>
    Array.from(
      native?.evaluate?.([x, key], [over], {
        dims,
        observableAt: () => undefined,
        words: [],
        talkAt: () => undefined,
      }).data ?? [],
    );

  it('orders each line along the axis on its own, with a key broadcast over the other axis', () => {
    // firm × product, firm-major: rows are firms [1, 10], [2, 20], [4, 40].
    const x: Tensor = { axes: ['firm', 'product'], data: Float64Array.of(1, 10, 2, 20, 4, 40) };
    // One key per firm (0.9, 0.1, 0.5): firm2, then firm3, then firm1, in each product.
    const perFirm: Tensor = { axes: ['firm'], data: Float64Array.of(0.9, 0.1, 0.5) };
    expect(evaluate(x, perFirm, 'firm')).toEqual([6, 60, 0, 0, 2, 20]);
    // A key per element, along products: in firm1 product 2 (key 0) goes first.
    const perElement: Tensor = {
      axes: ['firm', 'product'],
      data: Float64Array.of(1, 0, 0, 1, 3, 3),
    };
    expect(evaluate(x, perElement, 'product')).toEqual([10, 0, 0, 2, 0, 4]);
  });

  const check = (body: string) =>
    compileSources(
      [
        {
          path: 'case.mase',
          text: `mase 1
environment queue "Served in turn" {
  agents player = 3
  action ask in [0, 10]
  draw turn = uniform(0, 1)
  ${body}
  payoff = 0
}
`,
        },
      ],
      stdlibSources(),
    ).diagnostics.filter((d) => d.severity === 'error');

  it('type-checks: numbers, an axis to order along, a key with no axis the value lacks', () => {
    expect(check('let before = sum_before(ask, turn, over: player)')).toEqual([]);
    const noOver = check('let before = sum_before(ask, turn)');
    expect(noOver.map((d) => d.code)).toEqual(['E_TYPE']);
    expect(noOver[0]?.message).toContain('needs `over:`');
    const scalar = check('let before = sum_before(sum(ask, over: player), turn, over: player)');
    expect(scalar.map((d) => d.code)).toEqual(['E_SHAPE']);
    const bool = check('let before = sum_before(ask > 1, turn, over: player)');
    expect(bool.map((d) => d.code)).toEqual(['E_TYPE']);
    const missing = check('let before = sum_before(ask, over: player)');
    expect(missing.map((d) => d.code)).toEqual(['E_ARITY']);
  });
});
