import {
  type Benchmarks,
  computeBenchmarks,
  type MarketInstance,
  type Outcome,
  randomStream,
} from '../../runtime/index.js';

/**
 * A conformance kit for markets, in the spirit of PettingZoo's `api_test`: it takes a
 * bound market (`instantiateMarket`) and checks the contract every round of a run relies
 * on, returning the problems it finds (an empty list: the market conforms). It never
 * throws on a bad market; an exception from the market is itself a problem.
 *
 * - shape: firm and product names match `dims`; costs, bounds and capacities have one
 *   finite (or, for bounds and capacities, infinite) entry where the interface says so.
 * - benchmarks: each benchmark's outcome is `clear(action)`; its action lies within the
 *   bounds and, under quantity competition, the capacity; industry profit is ordered
 *   collusive ≥ Nash ≥ competitive (the second only by default: binding capacities can
 *   make price-taking firms more profitable than Cournot firms, which cross-haul); no
 *   sampled valid profile beats the collusive industry profit, and no firm gains by a
 *   sampled unilateral deviation from the Nash profile; no benchmark failed the deviation
 *   check `computeBenchmarks` runs on numeric benchmarks (`verified: false`).
 * - purity: `clear` gives the same outcome twice, leaves its input alone and returns
 *   fresh arrays (no aliasing of the input or of an earlier outcome).
 * - accounting, for benchmark, corner and random valid actions: every number finite;
 *   revenue = Σ price · quantity, cost = Σ unit cost · quantity, profit = revenue − cost,
 *   total = Σ quantity over firms, quantities and prices non-negative, HHI in [0, 10000]
 *   and equal to Σ (100 · share)², shares in [0, 1] summing to 1 per product with a
 *   positive total (0 otherwise).
 */

export interface ConformanceProblem {
  /** Which check failed: `shape`, `benchmarks`, `purity`, `finite`, `accounting`, `shares`, `hhi`, `clear`. */
  readonly check: string;
  readonly message: string;
}

export interface ConformanceOptions {
  /** Random valid actions to clear (default 50). */
  readonly samples?: number;
  /** Seed of the random actions (default 1). */
  readonly seed?: number;
  /** Relative tolerance of the accounting identities (default 1e-9). */
  readonly tolerance?: number;
  /** Relative slack of the profit ordering of the benchmarks (default 1e-6). */
  readonly orderingTolerance?: number;
  /**
   * Whether Nash industry profit must be at least the competitive one (default true).
   * Not a theorem once capacities bind: turn it off for such markets, with the reason.
   */
  readonly nashAboveCompetitive?: boolean;
  /** Benchmarks to check, when already computed; else `computeBenchmarks(market)`. */
  readonly benchmarks?: Benchmarks;
}

const OUTCOME_FIELDS = [
  'quantity',
  'price',
  'revenue',
  'cost',
  'profit',
  'total',
  'hhi',
  'share',
] as const satisfies readonly (keyof Outcome)[];

const BENCHMARKS = ['nash', 'collusive', 'competitive'] as const;

const at = (a: ArrayLike<number>, k: number) => a[k] ?? Number.NaN;
const sum = (a: ArrayLike<number>) => {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += at(a, k);
  return s;
};
const show = (a: ArrayLike<number>) =>
  `[${Array.from(a, (x) => (Number.isInteger(x) ? String(x) : x.toPrecision(6))).join(', ')}]`;

/** |a − b| within `tolerance` relative to the larger magnitude (and to `scale`). */
function near(a: number, b: number, tolerance: number, scale = 1): boolean {
  if (Object.is(a, b)) return true;
  return Math.abs(a - b) <= tolerance * Math.max(scale, Math.abs(a), Math.abs(b));
}

function sameArray(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (!Object.is(a[k], b[k])) return false;
  return true;
}

/** A capped action: each firm's output across products scaled into its total capacity. */
function withinCapacity(market: MarketInstance, action: Float64Array): Float64Array {
  const { firms: F, products: P } = market.dims;
  const x = Float64Array.from(action);
  if (market.competition !== 'quantity') return x;
  const capacity = market.capacity;
  for (let i = 0; i < F; i++) {
    if (capacity.kind === 'per_product') {
      for (let p = 0; p < P; p++)
        x[i * P + p] = Math.min(at(x, i * P + p), at(capacity.perEntry, i * P + p));
    } else if (capacity.kind === 'total') {
      const cap = at(capacity.perFirm, i);
      let s = 0;
      for (let p = 0; p < P; p++) s += at(x, i * P + p);
      if (s > cap && s > 0) for (let p = 0; p < P; p++) x[i * P + p] = (at(x, i * P + p) * cap) / s;
    }
  }
  // Scaling keeps each entry above a non-negative lower bound only when the bounds allow it.
  for (let k = 0; k < x.length; k++) x[k] = Math.max(at(x, k), at(market.low, k));
  return x;
}

/**
 * Checks `market` against the market contract; returns the problems found, empty when it
 * conforms. See the module comment for what is checked.
 */
export function checkMarketConformance(
  market: MarketInstance,
  options: ConformanceOptions = {},
): ConformanceProblem[] {
  const problems: ConformanceProblem[] = [];
  const problem = (check: string, message: string) => {
    if (problems.length < 200) problems.push({ check, message: `${market.name}: ${message}` });
  };
  const tolerance = options.tolerance ?? 1e-9;
  const orderingTolerance = options.orderingTolerance ?? 1e-6;
  const { firms: F, products: P } = market.dims;
  const N = F * P;
  const quantityCompetition = market.competition === 'quantity';

  // --- shape -------------------------------------------------------------------------
  if (market.firms.length !== F)
    problem('shape', `${market.firms.length} firm names for dims.firms = ${F}`);
  if (market.products.length !== P)
    problem('shape', `${market.products.length} product names for dims.products = ${P}`);
  if (F < 1 || P < 1) problem('shape', `dims ${F} × ${P}: a market needs a firm and a product`);
  for (const [name, array] of [
    ['unitCost', market.unitCost],
    ['low', market.low],
    ['high', market.high],
  ] as const) {
    if (array.length !== N) problem('shape', `${name} has ${array.length} entries, not ${N}`);
  }
  for (let k = 0; k < N; k++) {
    if (!Number.isFinite(at(market.unitCost, k)))
      problem('shape', `unitCost[${k}] = ${at(market.unitCost, k)} is not finite`);
    if (!Number.isFinite(at(market.low, k)))
      problem('shape', `low[${k}] = ${at(market.low, k)} is not finite`);
    if (!(at(market.low, k) <= at(market.high, k)))
      problem(
        'shape',
        `low[${k}] = ${at(market.low, k)} exceeds high[${k}] = ${at(market.high, k)}`,
      );
  }
  const capacity = market.capacity;
  if (capacity.kind === 'total' && capacity.perFirm.length !== F)
    problem('shape', `total capacity has ${capacity.perFirm.length} entries, not ${F}`);
  if (capacity.kind === 'per_product' && capacity.perEntry.length !== N)
    problem('shape', `per-product capacity has ${capacity.perEntry.length} entries, not ${N}`);
  const capacities =
    capacity.kind === 'total'
      ? capacity.perFirm
      : capacity.kind === 'per_product'
        ? capacity.perEntry
        : new Float64Array(0);
  for (let k = 0; k < capacities.length; k++) {
    if (Number.isNaN(at(capacities, k)) || at(capacities, k) < 0)
      problem('shape', `capacity[${k}] = ${at(capacities, k)} is not a non-negative number`);
  }
  if (problems.length > 0) return problems;

  // --- clearing, with every outcome checked ---------------------------------------------
  const checkOutcome = (action: Float64Array, outcome: Outcome, label: string) => {
    const priceLength = quantityCompetition ? P : N;
    const lengths: Record<(typeof OUTCOME_FIELDS)[number], number> = {
      quantity: N,
      price: priceLength,
      revenue: F,
      cost: F,
      profit: F,
      total: P,
      hhi: P,
      share: N,
    };
    let shaped = true;
    for (const field of OUTCOME_FIELDS) {
      const array = outcome[field] as ArrayLike<number> | undefined;
      if (!array || array.length !== lengths[field]) {
        problem(
          'shape',
          `${label}: outcome.${field} has ${array?.length ?? 'no'} entries, not ${lengths[field]}`,
        );
        shaped = false;
        continue;
      }
      for (let k = 0; k < array.length; k++) {
        if (!Number.isFinite(at(array, k))) {
          problem(
            'finite',
            `${label}: outcome.${field}[${k}] = ${at(array, k)} at action ${show(action)}`,
          );
          shaped = false;
          break;
        }
      }
    }
    if (!shaped) return;
    const { quantity, price, revenue, cost, profit, total, hhi, share } = outcome;
    if (!quantityCompetition && !sameArray(price, action))
      problem('accounting', `${label}: prices ${show(price)} are not the actions ${show(action)}`);
    if (quantityCompetition && !sameArray(quantity, action))
      problem(
        'accounting',
        `${label}: quantities ${show(quantity)} are not the actions ${show(action)}`,
      );
    for (let k = 0; k < N; k++) {
      if (at(quantity, k) < 0)
        problem('accounting', `${label}: quantity[${k}] = ${at(quantity, k)} < 0`);
    }
    for (let k = 0; k < price.length; k++) {
      if (at(price, k) < 0) problem('accounting', `${label}: price[${k}] = ${at(price, k)} < 0`);
    }
    for (let i = 0; i < F; i++) {
      const firm = market.firms[i] ?? `#${i}`;
      let expectedRevenue = 0;
      let expectedCost = 0;
      let scale = 0;
      for (let p = 0; p < P; p++) {
        const k = i * P + p;
        const unitPrice = quantityCompetition ? at(price, p) : at(price, k);
        expectedRevenue += unitPrice * at(quantity, k);
        expectedCost += at(market.unitCost, k) * at(quantity, k);
        scale +=
          Math.abs(unitPrice * at(quantity, k)) +
          Math.abs(at(market.unitCost, k) * at(quantity, k));
      }
      if (!near(at(revenue, i), expectedRevenue, tolerance, scale))
        problem(
          'accounting',
          `${label}: revenue of ${firm} is ${at(revenue, i)}, but Σ price · quantity = ${expectedRevenue}`,
        );
      if (!near(at(cost, i), expectedCost, tolerance, scale))
        problem(
          'accounting',
          `${label}: cost of ${firm} is ${at(cost, i)}, but Σ unit cost · quantity = ${expectedCost}`,
        );
      const margin = at(revenue, i) - at(cost, i);
      if (!near(at(profit, i), margin, tolerance, Math.abs(at(revenue, i)) + Math.abs(at(cost, i))))
        problem(
          'accounting',
          `${label}: profit of ${firm} is ${at(profit, i)}, but revenue − cost = ${margin}`,
        );
    }
    for (let p = 0; p < P; p++) {
      const product = market.products[p] ?? `#${p}`;
      let expected = 0;
      for (let i = 0; i < F; i++) expected += at(quantity, i * P + p);
      if (!near(at(total, p), expected, tolerance))
        problem(
          'accounting',
          `${label}: total of ${product} is ${at(total, p)}, but Σ quantity = ${expected}`,
        );
      let shares = 0;
      let squares = 0;
      for (let i = 0; i < F; i++) {
        const s = at(share, i * P + p);
        if (!(s >= -tolerance && s <= 1 + tolerance))
          problem(
            'shares',
            `${label}: share of ${market.firms[i]} in ${product} is ${s}, outside [0, 1]`,
          );
        shares += s;
        squares += (100 * s) ** 2;
      }
      if (at(total, p) > 0 && !near(shares, 1, tolerance))
        problem(
          'shares',
          `${label}: shares of ${product} sum to ${shares}, not 1, with total ${at(total, p)}`,
        );
      if (!(at(total, p) > 0) && shares !== 0)
        problem('shares', `${label}: shares of ${product} sum to ${shares} with nothing sold`);
      const h = at(hhi, p);
      // Rounding may put a monopoly a few ulps above 10,000.
      if (!(h >= 0 && h <= 10000 * (1 + tolerance)))
        problem('hhi', `${label}: HHI of ${product} is ${h}, outside [0, 10000]`);
      else if (at(total, p) > 0 && !near(h, squares, tolerance, 1))
        problem('hhi', `${label}: HHI of ${product} is ${h}, but Σ (100 · share)² = ${squares}`);
    }
  };

  /** Clears `action` twice: the outcomes must agree, and neither call may touch its input. */
  const clearChecked = (action: Float64Array, label: string): Outcome | undefined => {
    const input = Float64Array.from(action);
    let first: Outcome;
    let second: Outcome;
    try {
      first = market.clear(input);
      if (!sameArray(input, action)) {
        problem('purity', `${label}: clear changed its input ${show(action)} to ${show(input)}`);
        input.set(action);
      }
      second = market.clear(input);
    } catch (error) {
      problem(
        'clear',
        `${label}: clear threw ${error instanceof Error ? error.message : String(error)}`,
      );
      return undefined;
    }
    for (const field of OUTCOME_FIELDS) {
      const a = first[field] as ArrayLike<number> | undefined;
      const b = second[field] as ArrayLike<number> | undefined;
      if (!a || !b) continue;
      if (!sameArray(a, b))
        problem(
          'purity',
          `${label}: outcome.${field} differs between two calls: ${show(a)} then ${show(b)}`,
        );
      if (a === b || (ArrayBuffer.isView(a) && ArrayBuffer.isView(b) && a.buffer === b.buffer))
        problem('purity', `${label}: outcome.${field} is the same array in two calls`);
      if (ArrayBuffer.isView(a) && a.buffer === input.buffer)
        problem('purity', `${label}: outcome.${field} aliases the input array`);
    }
    checkOutcome(action, first, label);
    return first;
  };

  // --- benchmarks ---------------------------------------------------------------------
  let benchmarks = options.benchmarks;
  if (!benchmarks) {
    try {
      benchmarks = computeBenchmarks(market);
    } catch (error) {
      problem(
        'benchmarks',
        `computeBenchmarks threw ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  const scaleHint: number[] = [1];
  if (benchmarks) {
    const industry: Record<string, number> = {};
    for (const name of BENCHMARKS) {
      const b = benchmarks[name];
      const label = `${name} benchmark`;
      if (b.action.length !== N) {
        problem('benchmarks', `${label}: action has ${b.action.length} entries, not ${N}`);
        continue;
      }
      if (b.verified === false) {
        const d = b.deviation;
        problem(
          'benchmarks',
          `${label}: failed its deviation check${b.exists === false ? ` (no pure equilibrium: ${b.reason})` : ''}${d ? `: ${market.firms[d.firm]} gains ${d.gain.toPrecision(6)} by deviating to ${show(d.action)}` : ''}`,
        );
      }
      for (let k = 0; k < N; k++) {
        const v = at(b.action, k);
        scaleHint.push(Math.abs(v));
        const slack = tolerance * Math.max(1, Math.abs(v));
        if (!(v >= at(market.low, k) - slack && v <= at(market.high, k) + slack))
          problem(
            'benchmarks',
            `${label}: action[${k}] = ${v} outside [${at(market.low, k)}, ${at(market.high, k)}]`,
          );
      }
      if (quantityCompetition && capacity.kind === 'per_product') {
        for (let k = 0; k < N; k++) {
          const cap = at(capacity.perEntry, k);
          if (at(b.action, k) > cap + tolerance * Math.max(1, cap))
            problem(
              'benchmarks',
              `${label}: action[${k}] = ${at(b.action, k)} exceeds capacity ${cap}`,
            );
        }
      }
      if (quantityCompetition && capacity.kind === 'total') {
        for (let i = 0; i < F; i++) {
          const cap = at(capacity.perFirm, i);
          const output = sum(b.action.subarray(i * P, (i + 1) * P));
          if (output > cap + tolerance * Math.max(1, cap))
            problem(
              'benchmarks',
              `${label}: ${market.firms[i]} produces ${output}, over its capacity ${cap}`,
            );
        }
      }
      const outcome = clearChecked(b.action, label);
      if (outcome) {
        for (const field of OUTCOME_FIELDS) {
          const stated = b.outcome[field] as ArrayLike<number>;
          const cleared = outcome[field] as ArrayLike<number>;
          const agree =
            stated.length === cleared.length &&
            Array.from(stated).every((v, k) => near(v, at(cleared, k), tolerance));
          if (!agree)
            problem(
              'benchmarks',
              `${label}: outcome.${field} ${show(stated)} is not clear(action).${field} ${show(cleared)}`,
            );
        }
      }
      industry[name] = sum(b.outcome.profit);
    }
    const ordered = (higher: string, lower: string) => {
      const h = industry[higher];
      const l = industry[lower];
      if (h === undefined || l === undefined) return;
      if (!(h >= l - orderingTolerance * Math.max(1e-9, Math.abs(h), Math.abs(l))))
        problem('benchmarks', `industry profit: ${higher} ${h} < ${lower} ${l}`);
    };
    ordered('collusive', 'nash');
    if (options.nashAboveCompetitive ?? true) ordered('nash', 'competitive');
  }

  // --- corners and random valid actions -----------------------------------------------
  // Unbounded actions are drawn up to a few times the largest benchmark action.
  const reach = 4 * Math.max(...scaleHint);
  const upper = (k: number) => {
    const high = at(market.high, k);
    return Number.isFinite(high) ? high : Math.max(at(market.low, k), 0) + reach;
  };
  const lows = Float64Array.from(market.low);
  clearChecked(lows, 'all actions at their lower bounds');
  clearChecked(
    withinCapacity(
      market,
      Float64Array.from({ length: N }, (_, k) => upper(k)),
    ),
    'all actions at their upper bounds (capped)',
  );
  const random = randomStream(options.seed ?? 1, `conformance:${market.name}`);
  const samples = options.samples ?? 50;
  for (let n = 0; n < samples; n++) {
    const action = Float64Array.from({ length: N }, (_, k) => {
      const lo = at(market.low, k);
      return lo + random.next() * (upper(k) - lo);
    });
    // Every fifth sample puts a firm at zero output (or its lowest price) in one product.
    if (n % 5 === 4) action[n % N] = at(market.low, n % N);
    const label = `random action #${n + 1}`;
    const profile = withinCapacity(market, action);
    const outcome = clearChecked(profile, label);
    if (!outcome || !benchmarks) continue;
    // The collusive benchmark maximises industry profit over every valid profile.
    const best = sum(benchmarks.collusive.outcome.profit);
    const industry = sum(outcome.profit);
    if (industry > best + orderingTolerance * Math.max(1, Math.abs(best)))
      problem(
        'benchmarks',
        `${label} ${show(profile)} makes industry profit ${industry}, above the collusive ${best}`,
      );
    // At the Nash profile, no firm gains by switching to its part of this profile.
    const i = n % F;
    const nash = benchmarks.nash;
    if (nash.action.length !== N) continue;
    const deviation = Float64Array.from(nash.action);
    deviation.set(profile.subarray(i * P, (i + 1) * P), i * P);
    let gained: number;
    try {
      gained = at(market.clear(withinCapacity(market, deviation)).profit, i);
    } catch {
      continue; // clear throwing on valid actions is reported above
    }
    const atNash = at(nash.outcome.profit, i);
    if (gained > atNash + orderingTolerance * Math.max(1, Math.abs(atNash)))
      problem(
        'benchmarks',
        `nash benchmark: ${market.firms[i]} gains by deviating to ${show(deviation.subarray(i * P, (i + 1) * P))}: ${gained} > ${atNash}`,
      );
  }
  return problems;
}
