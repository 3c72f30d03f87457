import type { MarketInstance } from './instance.js';
import {
  ascend,
  clamp,
  type Feasible,
  feasibleSet,
  firmDirections,
  get,
  maxAbs,
  repair,
  startingPoint,
  sum,
  withinTotals,
} from './search.js';

/**
 * The check of a numerically computed equilibrium: does any firm gain by changing its
 * own actions alone? Numeric methods assume what they cannot see (a smooth, unimodal
 * profit along each line), and a profit with a jump — the capacity-constrained price
 * war of Bertrand–Edgeworth, where undercutting a rival by a cent doubles a firm's
 * sales — defeats them silently. The check assumes nothing: it scans each firm's whole
 * action range on a fine grid, probes tiny moves around the candidate (undercuts), and
 * polishes the best point found by a local search. Pure and deterministic; rules and
 * constants are documented in docs/metrics.md ("The benchmarks").
 */

/** A deviation counts when it gains more than this, relative to the firm's stake (below). */
export const GAIN_TOLERANCE = 1e-6;
/** Intervals of the fine grid over each of a firm's actions. */
export const GRID_INTERVALS = 1000;
/** Points of the joint grid over a multi-product firm's actions (fewer per axis as products grow). */
const JOINT_GRID_POINTS = 4096;
/** Moves around the candidate, as fractions of the action's range: tiny undercuts and raises. */
const PROBES = [1e-2, 1e-3, 1e-4, 1e-6, 1e-8] as const;
/** Intervals of the coarse grid on which best-response dynamics look for an equilibrium. */
export const DYNAMICS_INTERVALS = 100;
/** Sweeps (every firm replies once) before the dynamics give up. */
const DYNAMICS_SWEEPS = 400;
/** Values of each rival's action against which a weak-dominance claim is tested. */
const DOMINANCE_TEST_POINTS = 21;

/** Whose payoff a deviation is judged by: the firm's own profit (Nash), or the industry's. */
export type Objective = 'own' | 'industry';

export interface Deviation {
  /** The deviating firm (index into `market.firms`). */
  readonly firm: number;
  /** Its actions at the deviation, one per product. */
  readonly action: Float64Array;
  /** The objective there: the firm's profit (`own`) or industry profit (`industry`). */
  readonly profit: number;
  /** The objective's gain over the candidate. */
  readonly gain: number;
}

/**
 * The most profitable unilateral deviation from `profile` that gains more than the
 * tolerance, over all firms (the first firm wins ties), or undefined when there is none.
 */
export function bestDeviation(
  market: MarketInstance,
  profile: Float64Array,
  objective: Objective,
): Deviation | undefined {
  return checkProfile(market, profile, objective, false).deviation;
}

/** A pure-strategy equilibrium's check: its best deviation, else a weakly dominated action. */
export interface EquilibriumCheck {
  readonly deviation?: Deviation;
  /** A firm whose action is weakly dominated, and an action that dominates it. */
  readonly dominated?: { readonly firm: number; readonly by: Float64Array };
}

/**
 * `bestDeviation` for the firms' own profits and, when there is none, `weaklyDominated`
 * on the actions the scan found to be as good as the candidate's.
 */
export function checkEquilibrium(market: MarketInstance, profile: Float64Array): EquilibriumCheck {
  return checkProfile(market, profile, 'own', true);
}

function checkProfile(
  market: MarketInstance,
  profile: Float64Array,
  objective: Objective,
  dominance: boolean,
): EquilibriumCheck {
  const fs = feasibleSet(market);
  const scans = Array.from({ length: fs.firms }, (_, i) =>
    scanFirm(market, fs, profile, i, objective),
  );
  let deviation: Deviation | undefined;
  for (const scan of scans) {
    if (scan.deviation && (!deviation || scan.deviation.gain > deviation.gain))
      deviation = scan.deviation;
  }
  if (deviation || !dominance) return deviation ? { deviation } : {};
  for (let i = 0; i < fs.firms; i++) {
    const by = dominating(market, fs, profile, i, scans[i]?.ties ?? []);
    if (by) return { dominated: { firm: i, by } };
  }
  return {};
}

interface FirmScan {
  readonly deviation?: Deviation;
  /** Grid actions of the firm other than its own that do as well, within the tolerance. */
  readonly ties: Float64Array[];
}

/**
 * Firm i's best deviation gaining more than the tolerance, if any: the best of a fine grid
 * over each of its actions (the others at the candidate), a joint grid when it sells
 * several products, and probes a hair either side of the candidate, polished by coordinate
 * ascent confined to one grid step around it.
 */
function scanFirm(
  market: MarketInstance,
  fs: Feasible,
  profile: Float64Array,
  i: number,
  objective: Objective,
): FirmScan {
  const P = fs.products;
  const value = objectiveOf(market, objective, i);
  const base = value(profile);
  const tolerance = gainTolerance(market, profile, objective, base);
  const ranges = searchRanges(fs, profile, i, value);
  const trial = Float64Array.from(profile);
  const ties: Float64Array[] = [];
  let bestValue = base;
  let bestPoint: Float64Array | undefined;
  const consider = (z: Float64Array, grid: boolean) => {
    if (!withinTotals(fs, z)) return;
    const v = value(z);
    if (v > bestValue) {
      bestValue = v;
      bestPoint = Float64Array.from(z);
    }
    if (grid && Math.abs(v - base) <= tolerance && !sameRow(z, profile, i, P))
      ties.push(z.slice(i * P, (i + 1) * P));
  };
  for (let p = 0; p < P; p++) {
    const k = i * P + p;
    const [lo, hi] = ranges[p] ?? [0, 0];
    trial.set(profile);
    for (let n = 0; n <= GRID_INTERVALS; n++) {
      trial[k] = gridPoint(lo, hi, n, GRID_INTERVALS);
      consider(trial, true);
    }
    trial.set(profile);
    const here = get(profile, k);
    for (const fraction of PROBES) {
      for (const sign of [-1, 1]) {
        trial[k] = clamp(here + sign * fraction * (hi - lo), lo, hi);
        consider(trial, false);
      }
    }
  }
  if (P > 1) {
    const perAxis = Math.max(2, Math.floor(JOINT_GRID_POINTS ** (1 / P)));
    forEachGridPoint(ranges, perAxis - 1, (row) => {
      trial.set(profile);
      for (let p = 0; p < P; p++) trial[i * P + p] = get(row, p);
      consider(trial, false);
    });
  }
  if (!bestPoint) return { ties };
  const polished = polish(fs, bestPoint, i, ranges, value);
  if (value(polished) > bestValue) {
    bestValue = value(polished);
    bestPoint = polished;
  }
  const gain = bestValue - base;
  if (!(gain > tolerance)) return { ties };
  const action = bestPoint.slice(i * P, (i + 1) * P);
  return { deviation: { firm: i, action, profit: bestValue, gain }, ties };
}

function sameRow(a: Float64Array, b: Float64Array, i: number, P: number): boolean {
  for (let p = 0; p < P; p++) if (a[i * P + p] !== b[i * P + p]) return false;
  return true;
}

/**
 * Coordinate ascent of the objective over firm i's actions, within one fine-grid step of
 * `start` (a jump in profit just past the best grid point, as at a rival's price, stays
 * outside the box and cannot mislead the line searches).
 */
function polish(
  fs: Feasible,
  start: Float64Array,
  i: number,
  ranges: readonly (readonly [number, number])[],
  value: (z: Float64Array) => number,
): Float64Array {
  const P = fs.products;
  const lo = Float64Array.from(fs.lo);
  const hi = Float64Array.from(fs.hi);
  for (let p = 0; p < P; p++) {
    const k = i * P + p;
    const [low, high] = ranges[p] ?? [0, 0];
    const step = (high - low) / GRID_INTERVALS;
    lo[k] = Math.max(low, get(start, k) - step);
    hi[k] = Math.min(high, get(start, k) + step);
  }
  const local: Feasible = { ...fs, lo, hi };
  const x = Float64Array.from(start);
  ascend(local, x, firmDirections(local, i), value, 'joint');
  repair(fs, x);
  return withinTotals(fs, x) ? x : start;
}

/**
 * Each of firm i's actions' search range: its bounds, with an infinite end replaced by
 * doubling from the size of the profile until the objective stops rising.
 */
function searchRanges(
  fs: Feasible,
  profile: Float64Array,
  i: number,
  value: (z: Float64Array) => number,
): [number, number][] {
  const P = fs.products;
  const scale = 2 * Math.max(1, maxAbs(profile));
  const trial = Float64Array.from(profile);
  const at = (k: number, v: number) => {
    trial.set(profile);
    trial[k] = v;
    return value(trial);
  };
  return Array.from({ length: P }, (_, p) => {
    const k = i * P + p;
    let lo = get(fs.lo, k);
    let hi = get(fs.hi, k);
    if (hi === Infinity) {
      hi = Math.max(lo, 0) + scale;
      for (let n = 0; n < 60 && at(k, 2 * hi) > at(k, hi); n++) hi *= 2;
      hi *= 2;
    }
    if (lo === -Infinity) {
      lo = Math.min(hi, 0) - scale;
      for (let n = 0; n < 60 && at(k, 2 * lo) > at(k, lo); n++) lo *= 2;
      lo *= 2;
    }
    return [lo, hi];
  });
}

/**
 * The gain below which a deviation is numerical noise: GAIN_TOLERANCE times the larger of
 * the candidate's objective and the firms' mean revenue (for the industry: total revenue),
 * so that a firm earning nothing at the candidate is judged on the market's scale.
 */
function gainTolerance(
  market: MarketInstance,
  profile: Float64Array,
  objective: Objective,
  base: number,
): number {
  const revenue = sum(market.clear(profile).revenue);
  const scale = objective === 'own' ? revenue / market.dims.firms : revenue;
  return GAIN_TOLERANCE * Math.max(Math.abs(base), Math.abs(scale));
}

function objectiveOf(market: MarketInstance, objective: Objective, i: number) {
  return objective === 'own'
    ? (z: Float64Array) => get(market.clear(z).profit, i, Number.NaN)
    : (z: Float64Array) => sum(market.clear(z).profit);
}

/** The n-th of `intervals + 1` evenly spaced points from lo to hi (both ends exact). */
function gridPoint(lo: number, hi: number, n: number, intervals: number): number {
  return n === intervals ? hi : lo + ((hi - lo) * n) / intervals;
}

/** Calls `visit` with every point of the product grid over `ranges`, first axis slowest. */
function forEachGridPoint(
  ranges: readonly (readonly [number, number])[],
  intervals: number,
  visit: (row: Float64Array) => void,
): void {
  const row = new Float64Array(ranges.length);
  const fill = (p: number) => {
    if (p === ranges.length) {
      visit(row);
      return;
    }
    const [lo, hi] = ranges[p] ?? [0, 0];
    for (let n = 0; n <= intervals; n++) {
      row[p] = gridPoint(lo, hi, n, intervals);
      fill(p + 1);
    }
  };
  fill(0);
}

// ---------------------------------------------------------------------------
// Searching for an equilibrium, and choosing among several

/** How best-response dynamics from one start ended. */
export type DynamicsEnd =
  | { readonly kind: 'equilibrium'; readonly action: Float64Array; readonly sweeps: number }
  /** They stopped on the coarse grid at `action`, but the fine check finds a deviation. */
  | { readonly kind: 'unverified'; readonly action: Float64Array; readonly sweeps: number }
  /** A state came back: best responses cycle. */
  | { readonly kind: 'cycle'; readonly sweeps: number }
  | { readonly kind: 'budget'; readonly sweeps: number };

/**
 * What dynamics from earlier starts found, by state (the profile and the firm to move
 * next): the dynamics are deterministic, so a later start that reaches such a state ends
 * as that one did.
 */
export type DynamicsMemory = Map<string, DynamicsEnd | 'pending'>;

/**
 * Best-response dynamics on the coarse grid (DYNAMICS_INTERVALS per action): firms in turn
 * move to their best grid action (the first, in grid order, among equals) whenever it
 * gains more than the tolerance. The grid is finite, so the dynamics either stop — the
 * profile is then checked off the grid by `bestDeviation` — or come back to a state: best
 * responses cycle, as in an Edgeworth cycle, and every profile on the way had a
 * profitable deviation (that is why a firm left it).
 */
export function bestResponseDynamics(
  market: MarketInstance,
  start: Float64Array,
  memory: DynamicsMemory = new Map(),
): DynamicsEnd {
  const fs = feasibleSet(market);
  const { firms: F, products: P } = fs;
  const x = Float64Array.from(start);
  repair(fs, x);
  const path: string[] = [];
  const finish = (end: DynamicsEnd) => {
    for (const id of path) memory.set(id, end);
    return end;
  };
  const trial = new Float64Array(x.length);
  let still = 0;
  for (let step = 0; step < DYNAMICS_SWEEPS * F; step++) {
    const i = step % F;
    const sweeps = Math.floor(step / F) + 1;
    const id = `${i}:${key(x)}`;
    const known = memory.get(id);
    if (known === 'pending') return finish({ kind: 'cycle', sweeps });
    if (known) return finish(known);
    memory.set(id, 'pending');
    path.push(id);
    const value = objectiveOf(market, 'own', i);
    const base = value(x);
    const tolerance = gainTolerance(market, x, 'own', base);
    const ranges = searchRanges(fs, x, i, value);
    const perAxis = P === 1 ? DYNAMICS_INTERVALS : Math.floor(JOINT_GRID_POINTS ** (1 / P)) - 1;
    let bestValue = base;
    let bestRow: Float64Array | undefined;
    forEachGridPoint(ranges, Math.max(1, perAxis), (row) => {
      trial.set(x);
      for (let p = 0; p < P; p++) trial[i * P + p] = get(row, p);
      if (!withinTotals(fs, trial)) return;
      const v = value(trial);
      if (v > bestValue) {
        bestValue = v;
        bestRow = Float64Array.from(row);
      }
    });
    if (bestRow && bestValue - base > tolerance) {
      for (let p = 0; p < P; p++) x[i * P + p] = get(bestRow, p);
      still = 0;
    } else if (++still === F) {
      return finish(
        bestDeviation(market, x, 'own')
          ? { kind: 'unverified', action: Float64Array.from(x), sweeps }
          : { kind: 'equilibrium', action: Float64Array.from(x), sweeps },
      );
    }
  }
  return finish({ kind: 'budget', sweeps: DYNAMICS_SWEEPS });
}

/**
 * An action of firm i that weakly dominates its action in `profile`, among `ties` (the
 * actions as good at the profile, within the tolerance: only those can dominate a best
 * response, so in a strict equilibrium there is nothing to test): one that earns at least
 * as much against every tested rival profile and more against one. Rival profiles tested:
 * the profile itself and, for each rival action in turn, DOMINANCE_TEST_POINTS values
 * across its range (the other actions as in the profile).
 */
function dominating(
  market: MarketInstance,
  fs: Feasible,
  profile: Float64Array,
  i: number,
  ties: readonly Float64Array[],
): Float64Array | undefined {
  if (ties.length === 0) return undefined;
  const { firms: F, products: P } = fs;
  const value = objectiveOf(market, 'own', i);
  const tolerance = gainTolerance(market, profile, 'own', value(profile));
  const tests: { k: number; v: number }[] = [];
  for (let j = 0; j < F; j++) {
    if (j === i) continue;
    const ranges = searchRanges(fs, profile, j, objectiveOf(market, 'own', j));
    for (let p = 0; p < P; p++) {
      const [lo, hi] = ranges[p] ?? [0, 0];
      for (let n = 0; n < DOMINANCE_TEST_POINTS; n++)
        tests.push({ k: j * P + p, v: gridPoint(lo, hi, n, DOMINANCE_TEST_POINTS - 1) });
    }
  }
  const trial = new Float64Array(profile.length);
  const payoff = (own: ArrayLike<number>, test: { k: number; v: number }) => {
    trial.set(profile);
    trial[test.k] = test.v;
    for (let p = 0; p < P; p++) trial[i * P + p] = get(own, p);
    return withinTotals(fs, trial) ? value(trial) : Number.NaN;
  };
  const ownAction = profile.slice(i * P, (i + 1) * P);
  const reference = tests.map((t) => payoff(ownAction, t));
  for (const alternative of ties) {
    let strictly = false;
    let never = true;
    for (let t = 0; t < tests.length && never; t++) {
      const mine = get(reference, t);
      const theirs = payoff(alternative, tests[t] ?? { k: 0, v: 0 });
      if (Number.isNaN(mine) || Number.isNaN(theirs)) continue;
      if (theirs < mine - tolerance) never = false;
      else if (theirs > mine + tolerance) strictly = true;
    }
    if (never && strictly) return alternative;
  }
  return undefined;
}

function key(x: Float64Array): string {
  return Array.from(x).join(',');
}

/** Where a search for an equilibrium starts, in this order, without repeats. */
export function searchStarts(market: MarketInstance, candidate: Float64Array): Float64Array[] {
  const fs = feasibleSet(market);
  const finite = (v: number, fallback: number) => (Number.isFinite(v) ? v : fallback);
  const scale = 2 * Math.max(1, maxAbs(candidate));
  const starts = [
    startingPoint(market, fs),
    Float64Array.from(candidate),
    Float64Array.from(fs.lo, (v) => finite(v, -scale)),
    Float64Array.from(fs.hi, (v) => finite(v, scale)),
  ];
  const seen = new Set<string>();
  return starts.filter((s) => {
    repair(fs, s);
    const id = key(s);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
