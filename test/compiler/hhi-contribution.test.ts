import { describe, expect, it } from 'vitest';
import { compileSources, natives, type Tensor } from '../../compiler/index.js';
import { hhiContributions, hhiOf } from '../../compiler/natives.js';
import { stdlibSources } from '../../runtime/index.js';

/**
 * `hhi_contribution(q)`: a firm's part of a product's Herfindahl–Hirschman index,
 * (100 × q / Σ q)², so that the parts sum to `hhi(q)`. Expected values worked out by hand.
 */
describe('hhi_contribution', () => {
  it("is each firm's share squared on the 0–10,000 scale", () => {
    // 30, 10 of 40: shares 75% and 25% → 5625 and 625 (HHI 6250).
    expect(Array.from(hhiContributions([30, 10]))).toEqual([5625, 625]);
    // 50, 30, 20 of 100 → 2500, 900, 400 (HHI 3800).
    expect(Array.from(hhiContributions([50, 30, 20]))).toEqual([2500, 900, 400]);
    // A monopoly takes all 10,000; a firm producing nothing contributes 0.
    expect(Array.from(hhiContributions([0, 8, 0]))).toEqual([0, 10_000, 0]);
  });

  it('is 0 for every firm when nothing is produced', () => {
    expect(Array.from(hhiContributions([0, 0]))).toEqual([0, 0]);
  });

  it('sums to hhi exactly, in the order hhi adds', () => {
    for (const q of [
      [30, 10],
      [1, 2, 3],
      [7.3, 0.1, 12.9, 4],
    ]) {
      expect(hhiContributions(q).reduce((a, b) => a + b, 0)).toBe(hhiOf(q));
    }
  });

  const native = natives.get('hhi_contribution');
  it('keeps the firm × product shape, each product on its own', () => {
    // firm-major, 2 firms × 2 products: product A 30/10, product B 5/15.
    const q: Tensor = { axes: ['firm', 'product'], data: Float64Array.of(30, 5, 10, 15) };
    const out = native?.evaluate?.([q], undefined, {
      dims: { firms: 2, products: 2 },
      observableAt: () => undefined,
      words: [],
      talkAt: () => undefined,
    });
    expect(out?.axes).toEqual(['firm', 'product']);
    // A: 5625, 625; B: shares 25%, 75% → 625, 5625.
    expect(Array.from(out?.data ?? [])).toEqual([5625, 625, 625, 5625]);
  });

  const check = (monitor: string) =>
    compileSources(
      [
        {
          path: 'case.mase',
          text: `mase 1
institution attributed {
  scope per firm
  ${monitor}
  initial state watched {
    when big -> flagged
  }
  state flagged {
  }
}
`,
        },
      ],
      stdlibSources(),
    ).diagnostics.filter((d) => d.severity === 'error');

  it('type-checks: a firm × product number in, a firm × product number out', () => {
    expect(check('monitor big = sum(hhi_contribution(quantity)[self]) > 5000')).toEqual([]);
    const perFirm = check('monitor big = sum(hhi_contribution(profit)) > 5000');
    expect(perFirm.map((d) => d.code)).toEqual(['E_SHAPE']);
    expect(perFirm[0]?.message).toContain('hhi_contribution takes a firm × product number');
    // Per firm and product: the guard reading it is not one true/false value.
    const notScalar = check('monitor big = hhi_contribution(quantity) > 5000');
    expect(notScalar.map((d) => d.code)).toEqual(['E_SHAPE']);
    expect(notScalar[0]?.message).toContain('is a firm × product true/false value');
  });
});
