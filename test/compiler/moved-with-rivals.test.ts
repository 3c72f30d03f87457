import { describe, expect, it } from 'vitest';
import { compileSources, natives, type Tensor } from '../../compiler/index.js';
import { movedWithRivals, outputChanges } from '../../compiler/natives.js';
import { stdlibSources } from '../../runtime/index.js';

/**
 * `moved_with_rivals(threshold)`: the per-firm form of `moved_together`. A firm is
 * implicated when it moved by more than the threshold and at least one rival moved with
 * it, none against it. Expected values worked out by hand.
 */
describe('moved_with_rivals', () => {
  it('implicates the firms that moved together and not the one that held still', () => {
    // +20%, +15%, 0%: the two movers, not the third.
    expect(Array.from(movedWithRivals([0.2, 0.15, 0], 0.1))).toEqual([1, 1, 0]);
    // All down: every firm.
    expect(Array.from(movedWithRivals([-0.3, -0.2, -0.5], 0.1))).toEqual([1, 1, 1]);
  });

  it('implicates no one where a rival moved the other way', () => {
    // +20%, +15%, −30%: each mover has a rival against it.
    expect(Array.from(movedWithRivals([0.2, 0.15, -0.3], 0.1))).toEqual([0, 0, 0]);
  });

  it('needs a move of more than the threshold, and a rival: a lone mover is not implicated', () => {
    expect(Array.from(movedWithRivals([0.1, 0.1], 0.1))).toEqual([0, 0]);
    expect(Array.from(movedWithRivals([0.5, 0.05], 0.1))).toEqual([0, 0]);
    expect(Array.from(movedWithRivals([0.5], 0.1))).toEqual([0]);
  });

  it('reads the change in total output, as moved_together does', () => {
    // firm-major, 2 firms × 2 products. Totals 20, 20 → 23, 17: +15%, −15%.
    const before: Tensor = { axes: ['firm', 'product'], data: Float64Array.of(10, 10, 20, 0) };
    const now: Tensor = { axes: ['firm', 'product'], data: Float64Array.of(12, 11, 10, 7) };
    expect(Array.from(outputChanges(now, before, { firms: 2, products: 2 }))).toEqual([
      0.15, -0.15,
    ]);
    // From nothing to something counts as +1 (100%).
    const zero: Tensor = { axes: ['firm', 'product'], data: Float64Array.of(0, 0, 0, 0) };
    expect(Array.from(outputChanges(now, zero, { firms: 2, products: 2 }))).toEqual([1, 1]);
  });

  const native = natives.get('moved_with_rivals');
  const evaluate = (rounds: Tensor[], threshold: number, firms: number) =>
    native?.evaluate?.([{ axes: [], data: Float64Array.of(threshold) }], undefined, {
      dims: { firms, products: 1 },
      observableAt: (name, ago) =>
        name === 'quantity' ? rounds[rounds.length - 1 - ago] : undefined,
      words: [],
      talkAt: () => undefined,
    });
  const column = (...q: number[]): Tensor => ({
    axes: ['firm', 'product'],
    data: Float64Array.from(q),
  });

  it('is a per-firm bool, false for every firm in round 1', () => {
    const first = evaluate([column(10, 10, 10)], 0.1, 3);
    expect(first?.axes).toEqual(['firm']);
    expect(Array.from(first?.data ?? [])).toEqual([0, 0, 0]);
    // 10, 10, 10 → 12, 13, 10: +20%, +30%, 0%.
    const second = evaluate([column(10, 10, 10), column(12, 13, 10)], 0.1, 3);
    expect(Array.from(second?.data ?? [])).toEqual([1, 1, 0]);
  });

  it('is evidence that looks one round back', () => {
    expect(native?.kind).toBe('evidence');
    expect(native?.lookback).toBe(1);
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
    when synced -> flagged
  }
  state flagged {
  }
}
`,
        },
      ],
      stdlibSources(),
    ).diagnostics.filter((d) => d.severity === 'error');

  it('type-checks: one number in, one true/false value per firm out', () => {
    expect(check('monitor synced = moved_with_rivals(threshold: 0.1)[self]')).toEqual([]);
    expect(check('monitor synced = count_last(moved_with_rivals(0.1)[self], 3) >= 2')).toEqual([]);
    const perFirm = check('monitor synced = moved_with_rivals(profit)[self]');
    expect(perFirm.map((d) => d.code)).toEqual(['E_TYPE']);
    expect(perFirm[0]?.message).toContain('moved_with_rivals takes one number');
  });
});

describe('moved_with_rivals and moved_together', () => {
  it('is true for every firm exactly when moved_together is true', () => {
    const together = natives.get('moved_together');
    const personal = natives.get('moved_with_rivals');
    const cases = [
      [10, 10, 10, 12, 13, 11.5],
      [10, 10, 10, 12, 13, 10],
      [10, 10, 10, 8, 7, 6],
      [10, 10, 10, 12, 13, 8],
      [0, 10, 10, 5, 12, 12],
    ];
    for (const q of cases) {
      const rounds: Tensor[] = [
        { axes: ['firm', 'product'], data: Float64Array.from(q.slice(0, 3)) },
        { axes: ['firm', 'product'], data: Float64Array.from(q.slice(3)) },
      ];
      const info = {
        dims: { firms: 3, products: 1 },
        observableAt: (_: string, ago: number) => rounds[1 - ago],
        words: [],
        talkAt: () => undefined,
      };
      const threshold: Tensor = { axes: [], data: Float64Array.of(0.1) };
      const all = Array.from(personal?.evaluate?.([threshold], undefined, info).data ?? []);
      const market = together?.evaluate?.([threshold], undefined, info).data[0];
      expect(all.every((x) => x === 1) ? 1 : 0, q.join(',')).toBe(market);
    }
  });
});
