import type { MarketInstance } from './instance.js';

/**
 * The feasible set of a market's action profiles and the searches over it that the
 * benchmark methods (benchmarks.ts) and their check for profitable deviations
 * (deviations.ts) share: coordinate ascent along directions, one-dimensional maximisation
 * and root finding. Pure; every search is deterministic.
 */

/** Iterations stop when no action moves by more than this, relative to 1 + the largest action. */
export const TOLERANCE = 1e-9;
export const MAX_SWEEPS = 1000;
/** Relative size below which two profits count as equal: `clear` rounds at about 1e-16. */
export const VALUE_NOISE = 1e-12;
const CURVATURE_NOISE = 1e-14;
/** Relative rounding error of one profit from `clear`. */
const ROUNDING = 1e-15;
/** Golden-section search stops at this fraction of the interval; a Newton step finishes. */
const GOLDEN_FRACTION = 1e-6;
/** Newton steps use points this far apart, relative to the size of the actions. */
const NEWTON_FRACTION = 1e-6;
const INV_PHI = (Math.sqrt(5) - 1) / 2;

// ---------------------------------------------------------------------------
// Feasible set

/**
 * Each entry lies in [lo, hi] (action bounds, tightened by a per-entry capacity, and by a
 * firm's total capacity, which no single entry can exceed). `total` is set only when a
 * per-firm capacity couples several products. Capacities do not constrain prices: a
 * price-competition market's `clear` does not ration.
 */
export interface Feasible {
  readonly firms: number;
  readonly products: number;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly total?: Float64Array;
}

export function feasibleSet(market: MarketInstance): Feasible {
  const { firms: F, products: P } = market.dims;
  const lo = Float64Array.from(market.low);
  const hi = Float64Array.from(market.high);
  const capacity = market.capacity;
  const quantity = market.competition === 'quantity';
  for (let i = 0; i < F; i++) {
    for (let p = 0; p < P; p++) {
      const k = i * P + p;
      let cap = Infinity;
      if (quantity && capacity.kind === 'per_product') cap = capacity.perEntry[k] ?? Infinity;
      if (quantity && capacity.kind === 'total') cap = capacity.perFirm[i] ?? Infinity;
      // NaN (an unset bound) is no bound.
      const high = get(hi, k, Infinity);
      hi[k] = Math.min(Number.isNaN(high) ? Infinity : high, Number.isNaN(cap) ? Infinity : cap);
      if (Number.isNaN(lo[k])) lo[k] = -Infinity;
      // An empty range leaves the lower bound, the only point the action may take.
      if (get(hi, k) < get(lo, k)) hi[k] = get(lo, k);
    }
  }
  if (quantity && capacity.kind === 'total' && P > 1) {
    const total = Float64Array.from(capacity.perFirm, (c) => (Number.isNaN(c) ? Infinity : c));
    return { firms: F, products: P, lo, hi, total };
  }
  return { firms: F, products: P, lo, hi };
}

export function withinTotals(fs: Feasible, x: Float64Array): boolean {
  if (!fs.total) return true;
  for (let i = 0; i < fs.firms; i++) {
    const cap = get(fs.total, i, Infinity);
    if (firmSum(fs, x, i) > cap + 1e-12 * (1 + Math.abs(cap))) return false;
  }
  return true;
}

export function firmSum(fs: Feasible, x: Float64Array, i: number): number {
  let s = 0;
  for (let p = 0; p < fs.products; p++) s += get(x, i * fs.products + p);
  return s;
}

// ---------------------------------------------------------------------------
// Searches

/** A move along a line: entry k changes by w·t. */
export type Direction = readonly { readonly k: number; readonly w: number }[];

export function firmDirections(fs: Feasible, i: number): Direction[] {
  const P = fs.products;
  const directions: Direction[] = [];
  for (let p = 0; p < P; p++) directions.push([{ k: i * P + p, w: 1 }]);
  if (fs.total) {
    for (let p = 0; p < P; p++) {
      for (let r = p + 1; r < P; r++) {
        directions.push([
          { k: i * P + p, w: 1 },
          { k: i * P + r, w: -1 },
        ]);
      }
    }
  }
  return directions;
}

/**
 * Every firm's own moves, transfers between firms within each product and, when total
 * capacities couple the products, exchanges: firm i moves output from product r to p
 * while firm j moves the same amount from p to r, leaving every total unchanged. Without
 * exchanges, reallocating production between two firms at capacity takes many small
 * zig-zag steps (each single move changes a price), and the ascent crawls.
 */
export function jointDirections(fs: Feasible): Direction[] {
  const { firms: F, products: P } = fs;
  const directions: Direction[] = [];
  for (let i = 0; i < F; i++) directions.push(...firmDirections(fs, i));
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < F; i++) {
      for (let j = i + 1; j < F; j++) {
        directions.push([
          { k: i * P + p, w: 1 },
          { k: j * P + p, w: -1 },
        ]);
      }
    }
  }
  if (fs.total) {
    for (let i = 0; i < F; i++) {
      for (let j = i + 1; j < F; j++) {
        for (let p = 0; p < P; p++) {
          for (let r = p + 1; r < P; r++) {
            directions.push([
              { k: i * P + p, w: 1 },
              { k: i * P + r, w: -1 },
              { k: j * P + p, w: -1 },
              { k: j * P + r, w: 1 },
            ]);
          }
        }
      }
    }
  }
  return directions;
}

export function allTogether(fs: Feasible): Direction {
  return Array.from({ length: fs.firms * fs.products }, (_, k) => ({ k, w: 1 }));
}

export function startingPoint(
  market: MarketInstance,
  fs: Feasible,
  start?: Float64Array,
): Float64Array {
  const n = fs.firms * fs.products;
  const x = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    // Quantities start at their lower bounds; prices at cost, where every firm can profit.
    const guess =
      start?.[k] ?? (market.competition === 'price' ? get(market.unitCost, k) : get(fs.lo, k));
    x[k] = clamp(Number.isFinite(guess) ? guess : 0, get(fs.lo, k), get(fs.hi, k));
  }
  repair(fs, x);
  return x;
}

/**
 * How a search treats a line along which the objective is flat within rounding. A best
 * `reply` goes to the lower end: a firm that gains nothing from output (its rivals have
 * already driven the price to zero) produces the least, as any positive cost would make
 * it — otherwise zero-cost firms could "settle" in a glut where every output earns
 * nothing. A `joint` search stays put, so output is not shuffled between equal firms.
 */
export type SearchMode = 'reply' | 'joint';

/**
 * Coordinate ascent of `objective` along each direction in turn, in place, until a sweep
 * moves nothing (beyond the tolerance). Returns the number of sweeps used, MAX_SWEEPS + 1
 * if it did not settle.
 */
export function ascend(
  fs: Feasible,
  x: Float64Array,
  directions: readonly Direction[],
  objective: (z: Float64Array) => number,
  mode: SearchMode,
): number {
  const trial = new Float64Array(x.length);
  for (let sweep = 1; sweep <= MAX_SWEEPS; sweep++) {
    let moved = 0;
    for (const d of directions) {
      const [tmin, tmax] = lineRange(fs, x, d);
      if (!(tmax > tmin)) continue;
      const f = (s: number) => objective(along(fs, x, d, s, trial));
      const { t, noise } = maximizeOnLine(f, tmin, tmax, mode, 1 + maxAbs(x));
      if (t !== 0) {
        along(fs, x, d, t, x);
        repair(fs, x);
        // A step within its own rounding error (along a line on which the objective is
        // nearly flat, like the price of a firm that sells almost nothing) is not
        // movement: such steps jitter forever.
        if (Math.abs(t) > 8 * noise) moved = Math.max(moved, Math.abs(t) * maxWeight(d));
      }
    }
    if (moved <= TOLERANCE * (1 + maxAbs(x))) return sweep;
  }
  return MAX_SWEEPS + 1;
}

/** The step sizes t that keep x + t·d feasible; always contains 0. */
export function lineRange(fs: Feasible, x: Float64Array, d: Direction): [number, number] {
  let tmin = -Infinity;
  let tmax = Infinity;
  for (const { k, w } of d) {
    const down = (get(fs.lo, k) - get(x, k)) / w;
    const up = (get(fs.hi, k) - get(x, k)) / w;
    tmin = Math.max(tmin, w > 0 ? down : up);
    tmax = Math.min(tmax, w > 0 ? up : down);
  }
  if (fs.total) {
    const P = fs.products;
    const rates = new Map<number, number>();
    for (const { k, w } of d) {
      const i = Math.floor(k / P);
      rates.set(i, (rates.get(i) ?? 0) + w);
    }
    for (const [i, rate] of rates) {
      if (rate === 0) continue;
      const slack = (get(fs.total, i, Infinity) - firmSum(fs, x, i)) / rate;
      if (rate > 0) tmax = Math.min(tmax, slack);
      else tmin = Math.max(tmin, slack);
    }
  }
  // Rounding can leave x a hair outside; never move further out for that reason.
  return [Math.min(tmin, 0), Math.max(tmax, 0)];
}

/** Writes x + t·d, clamped to the bounds, into out (which may be x); returns out. */
export function along(fs: Feasible, x: Float64Array, d: Direction, t: number, out: Float64Array) {
  if (out !== x) out.set(x);
  for (const { k, w } of d) out[k] = clamp(get(x, k) + t * w, get(fs.lo, k), get(fs.hi, k));
  return out;
}

/** Pulls a firm's products back under its total capacity after rounding. */
export function repair(fs: Feasible, x: Float64Array): void {
  for (let k = 0; k < x.length; k++) x[k] = clamp(get(x, k), get(fs.lo, k), get(fs.hi, k));
  if (!fs.total) return;
  const P = fs.products;
  for (let i = 0; i < fs.firms; i++) {
    let excess = firmSum(fs, x, i) - get(fs.total, i, Infinity);
    for (let p = 0; p < P && excess > 0; p++) {
      const k = i * P + p;
      const cut = Math.min(excess, get(x, k) - get(fs.lo, k));
      x[k] = get(x, k) - cut;
      excess -= cut;
    }
  }
}

/**
 * The maximiser of a unimodal f on [tmin, tmax] (which contains 0, the current point).
 * First a Newton step from the current point on a three-point parabola: exact when f is
 * quadratic (linear demand) and quadratically convergent near the optimum, which is
 * where every sweep after the first starts; it is kept if it does not lose value.
 * Otherwise golden section, then Newton steps from its result (golden section alone
 * stops at √ε relative precision), then the ends of the interval, where the optimum
 * often is (zero output, capacity) and golden section never lands exactly. A line that
 * is flat within rounding is treated as `mode` says. An infinite end is replaced by
 * doubling until f turns down.
 */
export function maximizeOnLine(
  f: (t: number) => number,
  tmin: number,
  tmax: number,
  mode: SearchMode,
  scale: number,
): { t: number; noise: number } {
  const fHere = f(0);
  // Rounding moves a Newton vertex by about ε·|f|/(|f''|·h), so h follows the size of the
  // actions, not only the interval (which is short when the optimum is at its end).
  const local = newtonStep(
    f,
    0,
    fHere,
    tmin,
    tmax,
    Math.min(NEWTON_FRACTION * scale, (tmax - tmin) / 4),
  );
  if (local && !worse(local.value, fHere)) return local;

  let left = tmin;
  let right = tmax;
  if (!Number.isFinite(right)) right = expand(f, Math.max(left, 0), 1);
  if (!Number.isFinite(left)) left = expand(f, Math.min(right, 0), -1);
  const width = right - left;
  if (!(width > 0)) return { t: 0, noise: 0 };
  let l = left;
  let r = right;
  let x1 = r - INV_PHI * (r - l);
  let x2 = l + INV_PHI * (r - l);
  let f1 = f(x1);
  let f2 = f(x2);
  for (let n = 0; n < 200 && r - l > GOLDEN_FRACTION * width; n++) {
    if (f1 < f2) {
      l = x1;
      x1 = x2;
      f1 = f2;
      x2 = l + INV_PHI * (r - l);
      f2 = f(x2);
    } else {
      r = x2;
      x2 = x1;
      f2 = f1;
      x1 = r - INV_PHI * (r - l);
      f1 = f(x1);
    }
  }
  let [best, fBest] = f1 < f2 ? [x2, f2] : [x1, f1];
  const fLeft = f(left);
  const fRight = f(right);
  if (same(fBest, fHere) && same(fLeft, fHere) && same(fRight, fHere)) {
    return { t: mode === 'reply' && Number.isFinite(tmin) ? tmin : 0, noise: 0 };
  }
  const h = Math.min(GOLDEN_FRACTION * Math.max(width, scale), width / 4);
  let polished = false;
  for (let n = 0; n < 2; n++) {
    const step = newtonStep(f, best, fBest, left, right, h);
    // Golden section leaves the optimum within √ε-sized ties, far less than this.
    if (!step || !(Math.abs(step.t - best) <= 1e-3 * width) || worse(step.value, fBest)) break;
    best = step.t;
    fBest = step.value;
    polished = true;
  }
  // Without curvature (a linear objective) the optimum is at an end; with it, an end
  // must be better by more than rounding, or ties would flip between sweeps.
  if (Number.isFinite(tmin) && (polished ? worse(fBest, fLeft) : fLeft >= fBest)) {
    best = left;
    fBest = fLeft;
  }
  if (Number.isFinite(tmax) && (polished ? worse(fBest, fRight) : fRight > fBest)) {
    best = right;
    fBest = fRight;
  }
  // Not unimodal after all: never leave the current point for a worse one.
  if (worse(fBest, fHere)) return { t: 0, noise: 0 };
  // A gain within rounding means the line is flat to within the tie region of golden
  // section, and the step says nothing: report it as all noise.
  return { t: best, noise: worse(fHere, fBest) ? 0 : Infinity };
}

export function worse(u: number, v: number): boolean {
  return u < v - VALUE_NOISE * (1 + Math.abs(v));
}

export function same(u: number, v: number): boolean {
  return !worse(u, v) && !worse(v, u);
}

/**
 * The vertex of the parabola through f at three points h apart around `at` (shifted
 * inside [lo, hi] near an end, so that a vertex beyond the end clamps to it exactly), if
 * f curves down by more than rounding; with `noise`, how far rounding in f can move it.
 */
function newtonStep(
  f: (t: number) => number,
  at: number,
  fAt: number,
  lo: number,
  hi: number,
  h: number,
): { t: number; value: number; noise: number } | undefined {
  if (!(h > 0)) return undefined;
  const centre = clamp(at, lo + h, hi - h);
  const fCentre = centre === at ? fAt : f(centre);
  const fMinus = f(centre - h);
  const fPlus = f(centre + h);
  const curvature = fPlus - 2 * fCentre + fMinus;
  if (!(curvature < -CURVATURE_NOISE * (1 + Math.abs(fCentre)))) return undefined;
  const t = clamp(centre + (h * (fMinus - fPlus)) / (2 * curvature), lo, hi);
  if (!Number.isFinite(t)) return undefined;
  const noise = (h * ROUNDING * (1 + Math.abs(fCentre))) / -curvature;
  return { t, value: f(t), noise };
}

/** A finite end for an unbounded search: doubles the step from `base` until f falls. */
function expand(f: (t: number) => number, base: number, sign: 1 | -1): number {
  let u = base + sign;
  let fu = f(u);
  for (let n = 0; n < 1100; n++) {
    const next = base + 2 * (u - base);
    if (!Number.isFinite(next)) return u;
    const fNext = f(next);
    if (!(fNext > fu)) return next;
    u = next;
    fu = fNext;
  }
  return u;
}

/**
 * The root of a non-increasing g on [tmin, tmax] — the least t with g(t) ≤ 0, since g
 * can be zero on a whole interval (zero-cost supply beyond the choke price) — or the end
 * g pushes towards. Regula falsi with the Illinois modification: exact at once when g
 * is linear, superlinear otherwise, always bracketed, to a bracket of rounding size. A
 * line along which g is zero (output moved between firms with equal costs) is left alone.
 */
export function rootOnLine(
  g: (t: number) => number,
  tmin: number,
  tmax: number,
  scale: number,
): number {
  const here = g(0);
  let low: number;
  let high: number;
  let gLow: number;
  let gHigh: number;
  if (here > 0) {
    low = 0;
    gLow = here;
    high = tmax;
    if (Number.isFinite(high)) gHigh = g(high);
    else {
      let u = scale;
      gHigh = g(u);
      while (gHigh > 0 && Number.isFinite(2 * u)) {
        u *= 2;
        gHigh = g(u);
      }
      high = u;
    }
    if (gHigh > 0) return high;
  } else {
    high = 0;
    gHigh = here;
    low = tmin;
    if (Number.isFinite(low)) gLow = g(low);
    else {
      let u = scale;
      gLow = g(-u);
      while (!(gLow > 0) && Number.isFinite(2 * u)) {
        u *= 2;
        gLow = g(-u);
      }
      low = -u;
    }
    if (!(gLow > 0)) return here === 0 ? 0 : low;
  }
  let side = 0;
  for (let n = 0; n < 300 && high - low > 1e-15 * scale; n++) {
    let t = (low * gHigh - high * gLow) / (gHigh - gLow);
    if (!(t > low && t < high)) t = low + (high - low) / 2;
    const gt = g(t);
    if (gt > 0) {
      low = t;
      gLow = gt;
      if (side > 0) gHigh /= 2;
      side = 1;
    } else {
      high = t;
      gHigh = gt;
      if (side < 0) gLow /= 2;
      side = -1;
    }
  }
  return high;
}

// ---------------------------------------------------------------------------
// Helpers

export function get(a: ArrayLike<number>, k: number, fallback = 0): number {
  return a[k] ?? fallback;
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

export function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += get(a, k);
  return s;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(get(a, k)));
  return m;
}

export function maxWeight(d: Direction): number {
  let m = 0;
  for (const { w } of d) m = Math.max(m, Math.abs(w));
  return m;
}
