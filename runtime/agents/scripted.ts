import type { MarketInstance } from '../market/instance.js';
import {
  type BenchmarkName,
  benchmarkAction,
  entryUpper,
  finiteUpper,
  makeFeasible,
  ownRow,
  totalCapacity,
} from './actions.js';
import { type Action, type Agent, HOLDS_NOTHING, type Observation } from './agent.js';
import { type AgentContext, type PolicyArgument, PolicyArguments } from './policy.js';

/*
 * Scripted policies: fixed rules that read the benchmarks and the public history. They
 * are the controls of an experiment (what a firm does when it does not learn or talk) and
 * the opponents an institution is tested against. Every action they return is a fresh
 * array within the firm's bounds and capacity.
 */

/** Plays one benchmark profile's own part, every round. */
function benchmarkPolicy(which: BenchmarkName) {
  return (args: readonly PolicyArgument[], context: AgentContext): Agent => {
    PolicyArguments.read(which, args, []);
    const { firm, market } = context;
    return {
      policy: which,
      lookBack: 0,
      ...HOLDS_NOTHING,
      decide: (observation) =>
        makeFeasible(
          market,
          firm,
          benchmarkAction(observation.benchmarks, which, firm, market.dims.products),
        ),
    };
  };
}

/** `nash`: the firm's part of the one-shot Nash equilibrium. */
export const nash = benchmarkPolicy('nash');
/** `collusive`: the firm's part of the joint-profit optimum. */
export const collusive = benchmarkPolicy('collusive');
/** `competitive`: the firm's part of the competitive (price = marginal cost) outcome. */
export const competitive = benchmarkPolicy('competitive');

/** `constant(q)`: the same action every round; `q` is one number for every product or a list per product. */
export function constant(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const { firm, market } = context;
  const q = PolicyArguments.read('constant', args, ['q']).perProduct(
    'q',
    market.dims.products,
    true,
  ) as Float64Array;
  const action = makeFeasible(market, firm, q);
  return { policy: 'constant', lookBack: 0, ...HOLDS_NOTHING, decide: () => action.slice() };
}

/**
 * `random`: uniform over the firm's valid actions — the box of its bounds cut by its total
 * capacity (rejection sampling; after 64 rejections the last draw is shrunk to fit). An
 * unbounded action (a Cournot firm without capacity) is drawn up to twice its largest
 * benchmark action.
 */
export function random(args: readonly PolicyArgument[], context: AgentContext): Agent {
  PolicyArguments.read('random', args, []);
  const { firm, market, random: rng } = context;
  const P = market.dims.products;
  const capacity = totalCapacity(market, firm);
  return {
    policy: 'random',
    lookBack: 0,
    ...HOLDS_NOTHING,
    decide(observation) {
      const action = new Float64Array(P);
      for (let attempt = 0; attempt < 64; attempt++) {
        let total = 0;
        for (let j = 0; j < P; j++) {
          const low = market.low[firm * P + j] ?? 0;
          const high = finiteUpper(market, observation.benchmarks, firm, j);
          action[j] = low + rng.next() * Math.max(0, high - low);
          total += action[j] ?? 0;
        }
        if (total <= capacity) break;
      }
      return makeFeasible(market, firm, action);
    },
  };
}

/**
 * `noisy_nash(noise)`: the firm's Nash action with independent multiplicative noise per
 * product, q_j = q^N_j · (1 + noise · u), u uniform on [−1, 1] (default noise 0.1), made
 * feasible. Competitive play that is not exactly Nash: the negatives an institution's
 * evidence thresholds are calibrated against (docs/metrics.md).
 */
export function noisyNash(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const noise = PolicyArguments.read('noisy_nash', args, ['noise']).number('noise', 0.1, {
    atLeast: 0,
    atMost: 1,
  });
  const { firm, market, random: rng } = context;
  const P = market.dims.products;
  return {
    policy: 'noisy_nash',
    lookBack: 0,
    ...HOLDS_NOTHING,
    decide(observation) {
      const action = benchmarkAction(observation.benchmarks, 'nash', firm, P);
      for (let j = 0; j < P; j++) action[j] = (action[j] ?? 0) * (1 + noise * (2 * rng.next() - 1));
      return makeFeasible(market, firm, action);
    },
  };
}

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/**
 * The maximiser of a unimodal `f` on [lo, hi]: golden-section search, then one parabolic
 * step through the result and two neighbours. Comparing profits alone cannot place a
 * smooth maximum closer than about √ε of its scale (1e-6 for a Cournot quantity); the
 * parabola's vertex is exact for a quadratic profit (linear demand) and is kept unless
 * it does worse by more than rounding. Both ends are compared too: golden section never evaluates them, and
 * corners are common (a capacity, a zero quantity).
 */
function goldenMax(f: (x: number) => number, lo: number, hi: number): number {
  if (!(hi > lo)) return lo;
  let a = lo;
  let b = hi;
  let c = b - GOLDEN * (b - a);
  let d = a + GOLDEN * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 90 && b - a > 1e-12 * Math.max(1, Math.abs(a), Math.abs(b)); i++) {
    if (fc >= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - GOLDEN * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + GOLDEN * (b - a);
      fd = f(d);
    }
  }
  let best = fc >= fd ? c : d;
  let bestValue = Math.max(fc, fd);
  // Three evenly spaced points around the result, shifted inside [lo, hi] near an end.
  const h = 1e-3 * (hi - lo);
  const middle = Math.min(Math.max(best, lo + h), hi - h);
  const left = f(middle - h);
  const centre = f(middle);
  const right = f(middle + h);
  const curvature = left - 2 * centre + right;
  if (curvature < 0) {
    const vertex = Math.min(Math.max(middle + (h * (left - right)) / (2 * curvature), lo), hi);
    const value = f(vertex);
    // Within rounding of the golden point counts as no worse: near the top, profits
    // differ by less than their rounding, and the vertex is the better estimate.
    if (value >= bestValue - 1e-12 * Math.max(1, Math.abs(bestValue))) {
      best = vertex;
      bestValue = value;
    }
  }
  for (const end of [lo, hi]) {
    const value = f(end);
    if (value > bestValue) {
      best = end;
      bestValue = value;
    }
  }
  return best;
}

/**
 * The firm's profit-maximising action against `profile`'s rivals (the firm's own row of
 * `profile` is ignored), found with `market.clear`, so it works for any market. Each
 * sweep searches every product in turn (golden section between its bounds and what the
 * total capacity leaves), then, when the total capacity binds, every pair of products
 * along the capacity face (moving output from one to the other), which escapes the
 * corners a per-product search gets stuck in when the capacity binds. For a concave
 * profit (linear Cournot) the result is the exact best response.
 */
export function bestResponse(
  market: MarketInstance,
  firm: number,
  profile: Float64Array,
  start: Float64Array,
  /** A finite guess of the action's scale per product, for unbounded actions. */
  scale: (j: number) => number = () => 1,
): Float64Array {
  const P = market.dims.products;
  const base = firm * P;
  const work = Float64Array.from(profile);
  const own = makeFeasible(market, firm, Float64Array.from(start));
  const profit = (): number => {
    work.set(own, base);
    const value = market.clear(work).profit[firm] ?? Number.NaN;
    return Number.isNaN(value) ? -Infinity : value;
  };
  const low = (j: number) => market.low[base + j] ?? 0;
  const capacity = totalCapacity(market, firm);
  const along = (j: number, x: number): number => {
    own[j] = x;
    return profit();
  };

  let current = profit();
  const sweeps = P === 1 ? 1 : 50;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    const before = current;
    for (let j = 0; j < P; j++) {
      let others = 0;
      for (let k = 0; k < P; k++) if (k !== j) others += own[k] ?? 0;
      const lo = low(j);
      let hi = Math.min(entryUpper(market, firm, j), capacity - others);
      if (!Number.isFinite(hi)) {
        // Unbounded: double the range while going further still pays (profit is unimodal).
        let reach = Math.max(scale(j), (own[j] ?? lo) - lo, 1);
        for (let i = 0; i < 60 && along(j, lo + 2 * reach) > along(j, lo + reach); i++) reach *= 2;
        hi = lo + 2 * reach;
      }
      const previous = own[j] ?? lo;
      const x = goldenMax((v) => along(j, v), lo, Math.max(lo, hi));
      const value = along(j, x);
      if (value >= current) current = value;
      else own[j] = previous;
    }
    let used = 0;
    for (let j = 0; j < P; j++) used += own[j] ?? 0;
    // Along the capacity face only when it binds: elsewhere the per-product searches are
    // exact, and a move along the face would only trade their precision for noise.
    if (capacity - used <= 1e-9 * Math.max(1, capacity)) {
      for (let j = 0; j < P; j++) {
        for (let k = j + 1; k < P; k++) {
          const sum = (own[j] ?? 0) + (own[k] ?? 0);
          const lo = Math.max(low(j), sum - entryUpper(market, firm, k));
          const hi = Math.min(entryUpper(market, firm, j), sum - low(k));
          if (!(hi > lo)) continue;
          const previous = own[j] ?? 0;
          const transfer = (v: number): number => {
            own[j] = v;
            own[k] = sum - v;
            return profit();
          };
          const x = goldenMax(transfer, lo, hi);
          const value = transfer(x);
          if (value >= current) current = value;
          else transfer(previous);
        }
      }
    }
    if (current - before <= 1e-12 * (1 + Math.abs(current))) break;
  }
  return makeFeasible(market, firm, own);
}

/**
 * `best_response`: maximises this round's profit against the actions the rivals played
 * last round (myopic best reply); Nash in round 1, when there is nothing to reply to.
 */
export function bestResponsePolicy(args: readonly PolicyArgument[], context: AgentContext): Agent {
  PolicyArguments.read('best_response', args, []);
  const { firm, market } = context;
  const P = market.dims.products;
  return {
    policy: 'best_response',
    lookBack: 1,
    ...HOLDS_NOTHING,
    decide(observation) {
      const start = benchmarkAction(observation.benchmarks, 'nash', firm, P);
      const last = observation.history.at(-1);
      if (!last) return makeFeasible(market, firm, start);
      return bestResponse(market, firm, last.actions, start, (j) =>
        finiteUpper(market, observation.benchmarks, firm, j),
      );
    },
  };
}

/**
 * Whether some firm's action in `actions` (firm × product) is further from its collusive
 * action than `tolerance` × the larger of its Nash and collusive actions (per product;
 * relative to the benchmark scale, so a zero collusive quantity still has a sensible band).
 */
export function deviatedFromCollusion(
  observation: Observation,
  actions: Float64Array,
  tolerance: number,
): boolean {
  const { nash: n, collusive: c } = observation.benchmarks;
  for (let k = 0; k < actions.length; k++) {
    const target = c.action[k] ?? 0;
    const band = tolerance * Math.max(Math.abs(target), Math.abs(n.action[k] ?? 0));
    if (Math.abs((actions[k] ?? 0) - target) > band + 1e-9) return true;
  }
  return false;
}

/**
 * `trigger(k, tolerance)`: colludes until a firm deviates from its collusive action (see
 * `deviatedFromCollusion`, default tolerance 1%), then plays Nash for `k` rounds (default
 * 5; `inf` is grim trigger), then colludes again. Two choices keep trigger agents that
 * read the same public history in step, punishing in the same rounds and returning
 * together:
 * - firms are judged only on rounds in which this firm colluded: during a punishment
 *   every trigger agent plays Nash, and the round after one would otherwise re-trigger it;
 * - the firm's own recorded action counts too: it deviates only when something outside
 *   it changed its action (an institution's cap or floor, a fallback), and its rivals,
 *   seeing that, start punishing; if it did not join them, each side's punishment would
 *   look like a fresh deviation to the other, for ever.
 */
export function trigger(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const parsed = PolicyArguments.read('trigger', args, ['k', 'tolerance']);
  const k = parsed.number('k', 5, { atLeast: 1, integer: true, infinite: true });
  const tolerance = parsed.number('tolerance', 0.01, { atLeast: 0 });
  const { firm, market } = context;
  const P = market.dims.products;
  let remaining = 0;
  let punishedLastRound = false;
  return {
    policy: 'trigger',
    lookBack: 1,
    save: () => ({ remaining, punishedLastRound }),
    restore(state) {
      ({ remaining, punishedLastRound } = state as {
        remaining: number;
        punishedLastRound: boolean;
      });
    },
    decide(observation) {
      const last = observation.history.at(-1);
      const punish =
        remaining > 0 ||
        (last !== undefined &&
          !punishedLastRound &&
          deviatedFromCollusion(observation, last.actions, tolerance));
      if (punish) {
        // A punishment that starts now counts this round as its first.
        remaining = (remaining > 0 ? remaining : k) - 1;
        punishedLastRound = true;
      } else punishedLastRound = false;
      const which = punish ? 'nash' : 'collusive';
      return makeFeasible(market, firm, benchmarkAction(observation.benchmarks, which, firm, P));
    },
  };
}

/** Every firm's nash + t · (collusive − nash): the profile at collusion level t. */
export function collusionProfile(
  nashProfile: Float64Array,
  collusiveProfile: Float64Array,
  t: number,
): Float64Array {
  const profile = new Float64Array(nashProfile.length);
  for (let k = 0; k < profile.length; k++) {
    const n = nashProfile[k] ?? 0;
    profile[k] = n + t * ((collusiveProfile[k] ?? n) - n);
  }
  return profile;
}

/**
 * The largest collusion level t in [0, 1] whose profile (`collusionProfile`) does not
 * trigger, by bisection over `steps` halvings (so within 2^-steps of the threshold, on the
 * safe side). Assumes evidence only grows with t; 1 when full collusion is safe, 0 when
 * even Nash triggers.
 */
export function safeCollusionLevel(
  nashProfile: Float64Array,
  collusiveProfile: Float64Array,
  wouldTrigger: (profile: Float64Array) => boolean,
  steps = 20,
): number {
  const triggers = (t: number) => wouldTrigger(collusionProfile(nashProfile, collusiveProfile, t));
  if (!triggers(1)) return 1;
  if (triggers(0)) return 0;
  let safe = 0;
  let unsafe = 1;
  for (let i = 0; i < steps; i++) {
    const mid = (safe + unsafe) / 2;
    if (triggers(mid)) unsafe = mid;
    else safe = mid;
  }
  return safe;
}

export interface EvaderAgent extends Agent {
  /** The collusion level t of the last decision (NaN before the first); for traces and tests. */
  readonly level: number;
}

/**
 * `evader(steps)`: colludes as far as the public institution's thresholds allow — its
 * part of the most collusive profile on the Nash–collusive segment that `wouldTrigger`
 * accepts (`safeCollusionLevel`, default 20 bisection steps). Without `wouldTrigger`
 * (no public institution) it colludes fully.
 */
export function evader(args: readonly PolicyArgument[], context: AgentContext): EvaderAgent {
  const steps = PolicyArguments.read('evader', args, ['steps']).number('steps', 20, {
    atLeast: 1,
    atMost: 52,
    integer: true,
  });
  const { firm, market } = context;
  const P = market.dims.products;
  let level = Number.NaN;
  return {
    policy: 'evader',
    lookBack: 0,
    // Its level is made again each round before it is read.
    save: () => ({ level }),
    restore(state) {
      ({ level } = state as { level: number });
    },
    get level() {
      return level;
    },
    decide(observation: Observation): Action {
      const { nash: n, collusive: c } = observation.benchmarks;
      level = observation.wouldTrigger
        ? safeCollusionLevel(n.action, c.action, observation.wouldTrigger, steps)
        : 1;
      const profile = collusionProfile(n.action, c.action, level);
      return makeFeasible(market, firm, ownRow(profile, firm, P));
    },
  };
}

/**
 * `cued(word: "collude", say: 0)`: plays its Nash action until a message it receives holds
 * `word` (letters compared without case), and its collusive action from that round on. In
 * round `say` (0: never) it sends `word` to every firm it may write to, in the first talk
 * round. A firm that reacts to one message, so that removing that message (a fork's
 * `--drop-message`) removes the reaction.
 */
export function cued(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const parsed = PolicyArguments.read('cued', args, ['word', 'say']);
  const word = parsed.string('word', 'collude');
  const say = parsed.number('say', 0, { atLeast: 0, integer: true });
  const { firm, market } = context;
  const P = market.dims.products;
  const cue = word.toLowerCase();
  let cued = false;
  return {
    policy: 'cued',
    lookBack: 0,
    save: () => ({ cued }),
    restore(state) {
      ({ cued } = state as { cued: boolean });
    },
    talk: (turn) =>
      turn.talkRound === 1 && turn.observation.round === say
        ? [{ to: turn.neighbours, text: word }]
        : [],
    decide(observation) {
      cued ||= (observation.messages ?? []).some((m) => m.text.toLowerCase().includes(cue));
      const which = cued ? 'collusive' : 'nash';
      return makeFeasible(market, firm, benchmarkAction(observation.benchmarks, which, firm, P));
    },
  };
}
