import {
  bestDeviation,
  bestResponseDynamics,
  checkEquilibrium,
  type Deviation,
  type DynamicsMemory,
  searchStarts,
} from './deviations.js';
import type { MarketInstance, Outcome } from './instance.js';
import {
  allTogether,
  along,
  ascend,
  clamp,
  type Feasible,
  feasibleSet,
  firmDirections,
  get,
  jointDirections,
  lineRange,
  MAX_SWEEPS,
  maxAbs,
  maxWeight,
  repair,
  rootOnLine,
  startingPoint,
  sum,
  TOLERANCE,
  VALUE_NOISE,
  withinTotals,
  worse,
} from './search.js';

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
  /**
   * Numeric benchmarks only, set by `computeBenchmarks` (deviations.ts): whether no firm
   * gains by a unilateral deviation (its own profit for Nash, industry profit for the
   * joint optimum). Absent for closed forms, which are exact, and for the competitive
   * outcome, where firms take prices as given.
   */
  readonly verified?: boolean;
  /** When not verified: the most profitable deviation found. */
  readonly deviation?: Deviation;
  /** Nash only: `false` when no pure-strategy equilibrium was found, with `reason`. */
  readonly exists?: false;
  readonly reason?: string;
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

const MAX_ROUNDS = 2000;
const MIN_DAMPING = 1 / 1024;

/**
 * Nash, collusive and competitive benchmarks of the market as configured, each with its
 * action profile, `clear`'s outcome for it and the method used. Deterministic.
 */
export function computeBenchmarks(market: MarketInstance): Benchmarks {
  if (market.competition === 'price') {
    const nash = checkedNash(market, numericNash(market));
    return {
      nash,
      collusive: checkedCollusive(market, numericCollusive(market, { start: nash.action })),
      competitive: pricesAtCost(market),
    };
  }
  const demand = linearDemand(market);
  const nash =
    (demand && closedFormNash(market, demand)) ?? checkedNash(market, numericNash(market));
  const collusive =
    (demand && meritOrder(market, demand, 'collusive')) ??
    checkedCollusive(market, numericCollusive(market, { start: nash.action }));
  const competitive =
    (demand && meritOrder(market, demand, 'competitive')) ??
    numericCompetitive(market, { start: collusive.action });
  return { nash, collusive, competitive };
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
// Checks of the numeric results

/**
 * A numeric Nash candidate, checked for profitable unilateral deviations. One that passes,
 * with no weakly dominated action, is kept. Otherwise best-response dynamics run from
 * `searchStarts` (the method's own start, the candidate, the lower and the upper ends of
 * the actions); where they stop on their grid but the fine check still finds a deviation,
 * `numericNash` restarts there. Among the equilibria so found (and the candidate, if it passed), the
 * first with no weakly dominated action is chosen, else the first. With none, the
 * candidate stays, marked unverified with its best deviation; and if every start's
 * dynamics cycled, no pure-strategy equilibrium exists as far as the search can tell.
 */
export function checkedNash(market: MarketInstance, candidate: NumericResult): BenchmarkResult {
  const { deviation, dominated } = checkEquilibrium(market, candidate.action);
  if (!deviation && !dominated) return { ...candidate, verified: true };
  const equilibria: { action: Float64Array; iterations: number }[] = [];
  if (!deviation) equilibria.push({ action: candidate.action, iterations: candidate.iterations });
  let cycles = 0;
  const starts = searchStarts(market, candidate.action);
  const memory: DynamicsMemory = new Map();
  for (const start of starts) {
    const end = bestResponseDynamics(market, start, memory);
    if (end.kind === 'cycle') cycles++;
    let found: { action: Float64Array; iterations: number } | undefined;
    if (end.kind === 'equilibrium') {
      found = { action: end.action, iterations: candidate.iterations + end.sweeps };
    } else if (end.kind === 'unverified') {
      // Stopped between grid points of a smooth optimum: the method, started there, finishes.
      const refined = numericNash(market, { start: end.action });
      if (!checkEquilibrium(market, refined.action).deviation)
        found = { action: refined.action, iterations: end.sweeps + refined.iterations };
    }
    if (!found || equilibria.some((e) => e.action.every((v, k) => v === found.action[k]))) continue;
    equilibria.push(found);
  }
  const chosen =
    equilibria.find((e) => !checkEquilibrium(market, e.action).dominated) ?? equilibria[0];
  if (chosen) {
    const found = numericResult(market, chosen.action, true, chosen.iterations);
    return { ...found, verified: true };
  }
  const unverified = { ...candidate, verified: false, ...(deviation ? { deviation } : {}) };
  if (cycles < starts.length) return unverified;
  return {
    ...unverified,
    exists: false,
    reason: `best responses cycle (an Edgeworth cycle) from each of ${starts.length} starts, and every profile visited has a profitable deviation`,
  };
}

/**
 * A numeric joint optimum, checked for a firm whose unilateral change raises industry
 * profit. When one is found, the ascent restarts from that deviation once and its result
 * replaces the candidate if it passes the check.
 */
export function checkedCollusive(
  market: MarketInstance,
  candidate: NumericResult,
): BenchmarkResult {
  const deviation = bestDeviation(market, candidate.action, 'industry');
  if (!deviation) return { ...candidate, verified: true };
  const start = Float64Array.from(candidate.action);
  const P = market.dims.products;
  start.set(deviation.action, deviation.firm * P);
  const again = numericCollusive(market, { start });
  if (!bestDeviation(market, again.action, 'industry')) return { ...again, verified: true };
  return { ...candidate, verified: false, deviation };
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
