import type { IrFactor, IrSweep } from './ir.js';

/**
 * The most runs a sweep may have (cells × replicates). `mase check` and `mase sweep` both
 * refuse a larger one before planning any run: a plan holds every run in memory.
 */
export const MAX_SWEEP_RUNS = 1_000_000;

/** Cells × replicates: a grid's product of level counts, or a sampled design's N. */
export function sweepRunCount(sweep: {
  readonly factors: readonly Pick<IrFactor, 'levels'>[];
  readonly design: IrSweep['design'];
  readonly replicates: number;
}): number {
  const cells =
    sweep.design.kind === 'grid'
      ? sweep.factors.reduce((n, f) => n * (f.levels?.length ?? 1), 1)
      : sweep.design.points;
  return cells * sweep.replicates;
}

/** A run count as people write it: 1,000,000 (or 1.0e+16 when digits would mislead). */
function writtenCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toExponential(1);
  return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

/** The message for a sweep with too many runs, or undefined. */
export function sweepSizeProblem(sweep: Parameters<typeof sweepRunCount>[0]): string | undefined {
  const runs = sweepRunCount(sweep);
  return runs > MAX_SWEEP_RUNS
    ? `the sweep has ${writtenCount(runs)} runs (cells × replicates); a sweep has at most ${writtenCount(MAX_SWEEP_RUNS)}`
    : undefined;
}
