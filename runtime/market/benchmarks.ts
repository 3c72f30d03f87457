import type { MarketInstance, Outcome } from './instance.js';

/**
 * Static benchmarks of a market: the one-shot Nash equilibrium, the joint-profit
 * (collusive) optimum and the competitive (price-taking) outcome, for the configured
 * parameters. Runs compare what the firms do against these, so they are computed once,
 * before round 1.
 *
 * Closed forms are used where they are exact: quantity competition whose inverse demand
 * is linear in each product's own total, with no capacity across products binding.
 * Everything else — non-linear demand, a binding total capacity (the action set is then
 * not a box), Nash and joint optimum under price competition — goes to numeric methods
 * that only call `clear`, and the result says which was used. Prices at cost (the
 * competitive outcome under price competition) are closed-form. Capacities bind
 * quantities only: a price-competition market's `clear` does not ration.
 */

export interface BenchmarkResult {
  /** Firm × product: quantities, or prices when firms compete in prices. */
  readonly action: Float64Array;
  /** `market.clear(action)`. */
  readonly outcome: Outcome;
  readonly method: 'closed-form' | 'numeric';
}

export interface Benchmarks {
  readonly nash: BenchmarkResult;
  readonly collusive: BenchmarkResult;
  readonly competitive: BenchmarkResult;
}

/** A numeric benchmark, with whether its iteration met the tolerance. */
export interface NumericResult extends BenchmarkResult {
  readonly method: 'numeric';
  readonly converged: boolean;
  /** Best-response rounds (Nash) or sweeps (collusive, competitive) used. */
  readonly iterations: number;
}

/** Inverse demand `price_p = max(0, intercept_p - slope_p * total_p)` per product. */
export interface LinearDemand {
  readonly intercept: Float64Array;
  readonly slope: Float64Array;
}

/** Iterations stop when no action moves by more than this, relative to 1 + the largest action. */
const TOLERANCE = 1e-9;
const MAX_ROUNDS = 2000;
const MAX_SWEEPS = 1000;
const MIN_DAMPING = 1 / 1024;
/** Relative size below which two profits count as equal: `clear` rounds at about 1e-16. */
const VALUE_NOISE = 1e-12;
const CURVATURE_NOISE = 1e-14;
/** Relative rounding error of one profit from `clear`. */
const ROUNDING = 1e-15;
/** Golden-section search stops at this fraction of the interval; a Newton step finishes. */
const GOLDEN_FRACTION = 1e-6;
/** Newton steps use points this far apart, relative to the size of the actions. */
const NEWTON_FRACTION = 1e-6;
const INV_PHI = (Math.sqrt(5) - 1) / 2;

/**
 * Nash, collusive and competitive benchmarks of the market as configured, each with its
 * action profile, `clear`'s outcome for it and the method used. Deterministic.
 */
export function computeBenchmarks(market: MarketInstance): Benchmarks {
  if (market.competition === 'price') {
    const nash = numericNash(market);
    return {
      nash,
      collusive: numericCollusive(market, { start: nash.action }),
      competitive: pricesAtCost(market),
    };
  }
  const demand = linearDemand(market);
  const nash = (demand && closedFormNash(market, demand)) ?? numericNash(market);
  const collusive =
    (demand && meritOrder(market, demand, 'collusive')) ??
    numericCollusive(market, { start: nash.action });
  const competitive =
    (demand && meritOrder(market, demand, 'competitive')) ??
    numericCompetitive(market, { start: collusive.action });
  return { nash, collusive, competitive };
}

// ---------------------------------------------------------------------------
// Feasible set

/**
 * Each entry lies in [lo, hi] (action bounds, tightened by a per-entry capacity, and by a
 * firm's total capacity, which no single entry can exceed). `total` is set only when a
 * per-firm capacity couples several products. Capacities do not constrain prices: a
 * price-competition market's `clear` does not ration.
 */
interface Feasible {
  readonly firms: number;
  readonly products: number;
  readonly lo: Float64Array;
  readonly hi: Float64Array;
  readonly total?: Float64Array;
}

function feasibleSet(market: MarketInstance): Feasible {
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

function withinTotals(fs: Feasible, x: Float64Array): boolean {
  if (!fs.total) return true;
  for (let i = 0; i < fs.firms; i++) {
    const cap = get(fs.total, i, Infinity);
    if (firmSum(fs, x, i) > cap + 1e-12 * (1 + Math.abs(cap))) return false;
  }
  return true;
}

function firmSum(fs: Feasible, x: Float64Array, i: number): number {
  let s = 0;
  for (let p = 0; p < fs.products; p++) s += get(x, i * fs.products + p);
  return s;
}

// ---------------------------------------------------------------------------
// Closed forms (linear demand)

/**
 * Recognises inverse demand that is linear per product in that product's own total,
 * `price_p = max(0, a_p - b_p Q_p)`, with b_p > 0: reads a_p and b_p off `clear`, then
 * checks the formula at profiles that split the totals unevenly over firms and vary
 * the other products' totals. Undefined for anything else, or for price competition.
 */
export function linearDemand(market: MarketInstance): LinearDemand | undefined {
  if (market.competition !== 'quantity') return undefined;
  const { firms: F, products: P } = market.dims;
  const x = new Float64Array(F * P);
  const priceAt = (profile: Float64Array) => market.clear(profile).price;
  const intercept = Float64Array.from(priceAt(x));
  if (intercept.length !== P) return undefined;
  const slope = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    const a = get(intercept, p);
    if (!Number.isFinite(a)) return undefined;
    // Nothing sells at a positive price: any slope describes it, and the checks below
    // confirm that the price stays at zero.
    if (a <= 0) {
      slope[p] = 1;
      continue;
    }
    // A first slope from a probe with a positive price, then a precise one from half
    // the choke quantity, where the price differs from a by a lot more than rounding.
    let t = 1;
    let b = Number.NaN;
    for (let n = 0; n < 200 && Number.isNaN(b); n++) {
      x.fill(0);
      x[p] = t;
      const price = get(priceAt(x), p);
      if (price <= 0) t /= 2;
      else if (price >= a) t *= 2;
      else b = (a - price) / t;
    }
    if (!(b > 0 && Number.isFinite(b))) return undefined;
    x.fill(0);
    x[p] = a / b / 2;
    b = (a - get(priceAt(x), p)) / get(x, p);
    if (!(b > 0 && Number.isFinite(b))) return undefined;
    slope[p] = b;
  }
  const fractions = [0.25, 0.6, 0.9, 1.3, 2];
  for (let profile = 0; profile < 4; profile++) {
    const totals = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      const choke = get(intercept, p) > 0 ? get(intercept, p) / get(slope, p) : 1;
      const target = choke * get(fractions, (profile + p) % fractions.length);
      let weights = 0;
      for (let i = 0; i < F; i++) weights += 1 + ((3 * i + 5 * profile + 7 * p) % 4);
      for (let i = 0; i < F; i++) {
        const q = (target * (1 + ((3 * i + 5 * profile + 7 * p) % 4))) / weights;
        x[i * P + p] = q;
        totals[p] = get(totals, p) + q;
      }
    }
    const price = priceAt(x);
    for (let p = 0; p < P; p++) {
      const a = get(intercept, p);
      const expected = Math.max(0, a - get(slope, p) * get(totals, p));
      if (!(Math.abs(get(price, p) - expected) <= 1e-9 * Math.max(1, Math.abs(a))))
        return undefined;
    }
  }
  return { intercept, slope };
}

/**
 * Cournot–Nash with linear demand, product by product. With the total Q given, firm i's
 * first-order condition (with its bounds) is `q_i = clamp((a - c_i)/b - Q, lo_i, hi_i)`,
 * and Q must equal the sum: firms whose interior quantity would fall below the lower
 * bound produce it, firms at capacity are fixed there, and the rest solve the interior
 * system. The sum minus Q strictly decreases in Q, so scanning its breakpoints finds
 * the one active set that is consistent — no repetition that could cycle. Undefined when
 * a firm's total capacity across products would be exceeded: the products then interact.
 */
function closedFormNash(market: MarketInstance, demand: LinearDemand): BenchmarkResult | undefined {
  const fs = feasibleSet(market);
  const { firms: F, products: P } = fs;
  const action = new Float64Array(F * P);
  for (let p = 0; p < P; p++) {
    const a = get(demand.intercept, p);
    const b = get(demand.slope, p);
    const reach = new Float64Array(F);
    const lo = new Float64Array(F);
    const hi = new Float64Array(F);
    for (let i = 0; i < F; i++) {
      reach[i] = (a - get(market.unitCost, i * P + p)) / b;
      lo[i] = get(fs.lo, i * P + p);
      hi[i] = get(fs.hi, i * P + p);
    }
    const excess = (total: number) => {
      let s = -total;
      for (let i = 0; i < F; i++) s += clamp(get(reach, i) - total, get(lo, i), get(hi, i));
      return s;
    };
    const breaks: number[] = [];
    for (let i = 0; i < F; i++) {
      for (const bound of [get(lo, i), get(hi, i)]) {
        const at = get(reach, i) - bound;
        if (Number.isFinite(at)) breaks.push(at);
      }
    }
    breaks.sort((u, v) => u - v);
    // The segment holding the root: below the first breakpoint where the excess is ≤ 0.
    let index = breaks.findIndex((at) => excess(at) <= 0);
    if (index < 0) index = breaks.length;
    const left = index > 0 ? get(breaks, index - 1) : undefined;
    const right = index < breaks.length ? get(breaks, index) : undefined;
    const probe =
      left === undefined
        ? right === undefined
          ? 0
          : right - 1
        : right === undefined
          ? left + 1
          : (left + right) / 2;
    let fixed = 0;
    let free = 0;
    let freeReach = 0;
    for (let i = 0; i < F; i++) {
      const want = get(reach, i) - probe;
      if (want <= get(lo, i)) fixed += get(lo, i);
      else if (want >= get(hi, i)) fixed += get(hi, i);
      else {
        free += 1;
        freeReach += get(reach, i);
      }
    }
    let total = (fixed + freeReach) / (1 + free);
    // A root exactly at a breakpoint; the formula agrees there, rounding aside.
    if (left !== undefined && total < left) total = left;
    if (right !== undefined && total > right) total = right;
    for (let i = 0; i < F; i++) {
      action[i * P + p] = clamp(get(reach, i) - total, get(lo, i), get(hi, i));
    }
  }
  if (!withinTotals(fs, action)) return undefined;
  return result(market, action, 'closed-form');
}

/**
 * Joint-profit optimum (`collusive`) or price-taking outcome (`competitive`) with linear
 * demand, product by product, by merit order: above their lower bounds the cheapest
 * firms supply first, each up to its capacity, until marginal revenue (collusive,
 * industry output (a - c)/2b) or the price (competitive, (a - c)/b) falls to the cost of
 * the next firm. Firms with equal costs split their group's output equally, up to their
 * capacities. Undefined when a firm's total capacity across products would be exceeded.
 */
function meritOrder(
  market: MarketInstance,
  demand: LinearDemand,
  kind: 'collusive' | 'competitive',
): BenchmarkResult | undefined {
  const fs = feasibleSet(market);
  const { firms: F, products: P } = fs;
  const action = Float64Array.from(fs.lo);
  const divisor = kind === 'collusive' ? 2 : 1;
  for (let p = 0; p < P; p++) {
    const a = get(demand.intercept, p);
    const b = get(demand.slope, p);
    const cost = (i: number) => get(market.unitCost, i * P + p);
    const order = Array.from({ length: F }, (_, i) => i).sort((u, v) => cost(u) - cost(v) || u - v);
    let total = 0;
    for (let i = 0; i < F; i++) total += get(action, i * P + p);
    for (let start = 0; start < F; ) {
      let end = start + 1;
      while (end < F && cost(order[end] ?? 0) === cost(order[start] ?? 0)) end++;
      const group = order.slice(start, end);
      start = end;
      const want = (a - cost(group[0] ?? 0)) / (divisor * b) - total;
      if (!(want > 0)) break;
      // Equal shares, water-filled: the smallest rooms fill first, the rest share what's left.
      const rooms = group
        .map((i) => ({ i, room: get(fs.hi, i * P + p) - get(fs.lo, i * P + p) }))
        .sort((u, v) => u.room - v.room || u.i - v.i);
      let left = want;
      for (let n = 0; n < rooms.length; n++) {
        const { i, room } = rooms[n] ?? { i: 0, room: 0 };
        const give = Math.min(room, left / (rooms.length - n));
        action[i * P + p] = get(action, i * P + p) + give;
        left -= give;
      }
      total += want - left;
      if (left > 0) continue;
      break;
    }
  }
  if (!withinTotals(fs, action)) return undefined;
  return result(market, action, 'closed-form');
}

function pricesAtCost(market: MarketInstance): BenchmarkResult {
  const fs = feasibleSet(market);
  const action = Float64Array.from(market.unitCost, (c, k) =>
    clamp(c, get(fs.lo, k), get(fs.hi, k)),
  );
  return result(market, action, 'closed-form');
}

// ---------------------------------------------------------------------------
// Numeric methods

export interface NumericOptions {
  /** Starting profile (firm × product); clamped into the feasible set. */
  readonly start?: Float64Array;
}

/**
 * Nash equilibrium by damped simultaneous best responses. Each firm's best response
 * maximises its own profit over its own actions, within its bounds and its capacity
 * (coordinate ascent per product, plus transfers between its products when a total
 * capacity couples them). Undamped best responses diverge for linear Cournot with three
 * or more firms, so the step is halved whenever successive moves reverse direction
 * without shrinking.
 */
export function numericNash(market: MarketInstance, options: NumericOptions = {}): NumericResult {
  const fs = feasibleSet(market);
  const n = fs.firms * fs.products;
  const x = startingPoint(market, fs, options.start);
  const blocks = Array.from({ length: fs.firms }, (_, i) => firmDirections(fs, i));
  const reply = new Float64Array(n);
  const trial = new Float64Array(n);
  const step = new Float64Array(n);
  let previousStep: Float64Array | undefined;
  let damping = 1;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    for (let i = 0; i < fs.firms; i++) {
      trial.set(x);
      ascend(fs, trial, blocks[i] ?? [], (z) => get(market.clear(z).profit, i), 'reply');
      for (let p = 0; p < fs.products; p++)
        reply[i * fs.products + p] = get(trial, i * fs.products + p);
    }
    let largest = 0;
    for (let k = 0; k < n; k++) {
      step[k] = get(reply, k) - get(x, k);
      largest = Math.max(largest, Math.abs(get(step, k)));
    }
    if (largest <= TOLERANCE * (1 + maxAbs(x))) {
      return numericResult(market, x, true, round);
    }
    if (previousStep && oscillates(step, previousStep))
      damping = Math.max(MIN_DAMPING, damping / 2);
    previousStep = Float64Array.from(step);
    for (let k = 0; k < n; k++) x[k] = get(x, k) + damping * get(step, k);
    repair(fs, x);
  }
  return numericResult(market, x, false, MAX_ROUNDS);
}

/**
 * Joint-profit optimum by coordinate ascent on total profit: each action, transfers of
 * output between firms of a product (and between a firm's products, and exchanges
 * between firms, under total capacities), and a common shift of every action (which
 * moves logit prices together), each a 1-D search, swept until nothing moves. Among
 * identical firms the optimum is not unique; they are given equal shares.
 */
export function numericCollusive(
  market: MarketInstance,
  options: NumericOptions = {},
): NumericResult {
  const fs = feasibleSet(market);
  const x = startingPoint(market, fs, options.start);
  const directions = [...jointDirections(fs), allTogether(fs)];
  const industry = (z: Float64Array) => sum(market.clear(z).profit);
  const sweeps = ascend(fs, x, directions, industry, 'joint');
  const shared = shareAmongEquals(market, fs, x);
  if (shared && !worse(industry(shared), industry(x))) x.set(shared);
  return numericResult(market, x, sweeps <= MAX_SWEEPS, Math.min(sweeps, MAX_SWEEPS));
}

/**
 * Competitive outcome for quantity competition, numerically: every firm takes prices as
 * given, so along each move (an output, a transfer between firms or products) the price
 * minus the unit cost of what is added must balance that of what is taken away. Each
 * move finds that root on the exact prices from `clear` (no derivatives of profit
 * needed); sweeps repeat until nothing moves. With a downward-sloping demand this is
 * coordinate ascent on total surplus, which is never evaluated. For price competition
 * the competitive outcome is prices at cost.
 */
export function numericCompetitive(
  market: MarketInstance,
  options: NumericOptions = {},
): NumericResult | BenchmarkResult {
  if (market.competition === 'price') return pricesAtCost(market);
  const fs = feasibleSet(market);
  const { products: P } = fs;
  const x = startingPoint(market, fs, options.start);
  const directions = jointDirections(fs);
  const trial = new Float64Array(x.length);
  let sweeps = 1;
  for (; sweeps <= MAX_SWEEPS; sweeps++) {
    let moved = 0;
    for (const d of directions) {
      const [tmin, tmax] = lineRange(fs, x, d);
      if (!(tmax > tmin)) continue;
      const margin = (t: number) => {
        along(fs, x, d, t, trial);
        const price = market.clear(trial).price;
        let g = 0;
        for (const { k, w } of d) g += w * (get(price, k % P) - get(market.unitCost, k));
        return g;
      };
      const t = rootOnLine(margin, tmin, tmax, 1 + maxAbs(x));
      if (t !== 0) {
        along(fs, x, d, t, x);
        repair(fs, x);
        moved = Math.max(moved, Math.abs(t) * maxWeight(d));
      }
    }
    if (moved <= TOLERANCE * (1 + maxAbs(x))) break;
  }
  const shared = shareAmongEquals(market, fs, x);
  if (shared) {
    const before = market.clear(x).price;
    const after = market.clear(shared).price;
    let unchanged = true;
    for (let p = 0; p < P; p++) {
      const scale = 1 + Math.abs(get(before, p));
      if (!(Math.abs(get(after, p) - get(before, p)) <= VALUE_NOISE * scale)) unchanged = false;
    }
    // The same prices: every firm faces the margins it did, so the split is as competitive.
    if (unchanged) x.set(shared);
  }
  return numericResult(market, x, sweeps <= MAX_SWEEPS, Math.min(sweeps, MAX_SWEEPS));
}

/**
 * The profile with the actions of identical firms (same costs, bounds and capacity)
 * replaced by their average, or undefined if no two firms are identical. When the
 * objective only depends on totals, the optimum is not unique among such firms and the
 * ascent leaves an arbitrary split; the caller keeps the equal one only if it is as
 * good. The average of feasible actions under identical constraints is feasible.
 */
function shareAmongEquals(
  market: MarketInstance,
  fs: Feasible,
  x: Float64Array,
): Float64Array | undefined {
  const { firms: F, products: P } = fs;
  const groups = new Map<string, number[]>();
  for (let i = 0; i < F; i++) {
    const row = (a: ArrayLike<number>) => Array.from({ length: P }, (_, p) => get(a, i * P + p));
    const key = JSON.stringify([
      row(market.unitCost),
      row(fs.lo),
      row(fs.hi),
      fs.total ? get(fs.total, i) : 0,
    ]);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  if (groups.size === F) return undefined;
  const shared = Float64Array.from(x);
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    for (let p = 0; p < P; p++) {
      let total = 0;
      for (const i of members) total += get(x, i * P + p);
      for (const i of members) shared[i * P + p] = total / members.length;
    }
  }
  return shared;
}

/** A move along a line: entry k changes by w·t. */
type Direction = readonly { readonly k: number; readonly w: number }[];

function firmDirections(fs: Feasible, i: number): Direction[] {
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
function jointDirections(fs: Feasible): Direction[] {
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

function allTogether(fs: Feasible): Direction {
  return Array.from({ length: fs.firms * fs.products }, (_, k) => ({ k, w: 1 }));
}

function startingPoint(market: MarketInstance, fs: Feasible, start?: Float64Array): Float64Array {
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
type SearchMode = 'reply' | 'joint';

/**
 * Coordinate ascent of `objective` along each direction in turn, in place, until a sweep
 * moves nothing (beyond the tolerance). Returns the number of sweeps used, MAX_SWEEPS + 1
 * if it did not settle.
 */
function ascend(
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
function lineRange(fs: Feasible, x: Float64Array, d: Direction): [number, number] {
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
function along(fs: Feasible, x: Float64Array, d: Direction, t: number, out: Float64Array) {
  if (out !== x) out.set(x);
  for (const { k, w } of d) out[k] = clamp(get(x, k) + t * w, get(fs.lo, k), get(fs.hi, k));
  return out;
}

/** Pulls a firm's products back under its total capacity after rounding. */
function repair(fs: Feasible, x: Float64Array): void {
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
function maximizeOnLine(
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

function worse(u: number, v: number): boolean {
  return u < v - VALUE_NOISE * (1 + Math.abs(v));
}

function same(u: number, v: number): boolean {
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
function rootOnLine(g: (t: number) => number, tmin: number, tmax: number, scale: number): number {
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

/**
 * Damping is needed when a move reverses the previous one and is at least 0.8 times as
 * long: the iteration then oscillates (or diverges) along a direction with a response
 * of −0.8 or worse. Halving the step there also slows directions with positive
 * response, so it is not done for milder oscillation, which converges well undamped.
 */
function oscillates(step: Float64Array, previous: Float64Array): boolean {
  let dot = 0;
  let a = 0;
  let b = 0;
  for (let k = 0; k < step.length; k++) {
    dot += get(step, k) * get(previous, k);
    a += get(step, k) ** 2;
    b += get(previous, k) ** 2;
  }
  return dot < -0.5 * Math.sqrt(a * b) && a > 0.64 * b;
}

// ---------------------------------------------------------------------------
// Helpers

function result(
  market: MarketInstance,
  action: Float64Array,
  method: BenchmarkResult['method'],
): BenchmarkResult {
  const copy = Float64Array.from(action);
  return { action: copy, outcome: market.clear(copy), method };
}

function numericResult(
  market: MarketInstance,
  action: Float64Array,
  converged: boolean,
  iterations: number,
): NumericResult {
  const copy = Float64Array.from(action);
  return { action: copy, outcome: market.clear(copy), method: 'numeric', converged, iterations };
}

function get(a: ArrayLike<number>, k: number, fallback = 0): number {
  return a[k] ?? fallback;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += get(a, k);
  return s;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(get(a, k)));
  return m;
}

function maxWeight(d: Direction): number {
  let m = 0;
  for (const { w } of d) m = Math.max(m, Math.abs(w));
  return m;
}
