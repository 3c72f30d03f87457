import type { MarketInstance, Outcome } from '../market/instance.js';
import { benchmarkAction, makeFeasible } from './actions.js';
import type { Action, Agent, Observation, Random } from './agent.js';
import { type AgentContext, type PolicyArgument, PolicyArguments, PolicyError } from './policy.js';

/*
 * Tabular Q-learning in the style of the algorithmic-collusion literature (Calvano,
 * Calzolari, Denicolò & Pastorello 2020, "Artificial intelligence, algorithmic pricing,
 * and collusion"; Klein 2021, "Autonomous algorithmic collusion"): a discrete action grid
 * spanning the Nash and collusive actions, the state is every firm's last action (memory
 * one), ε-greedy exploration with ε_t = exp(−β t), and the update
 *   Q(s, a) ← (1 − α) Q(s, a) + α (r + δ max_a' Q(s', a')).
 * Everything runs on typed arrays allocated once, so a step allocates nothing.
 */

export interface QLearningOptions {
  /** Evenly spaced grid points before the Nash and collusive actions are inserted. */
  readonly m: number;
  /** How far the grid reaches past the Nash and collusive actions, as a fraction of the gap between them. */
  readonly xi: number;
  /** Learning rate. */
  readonly alpha: number;
  /** Exploration decay per round: ε_t = exp(−β t). */
  readonly beta: number;
  /** Discount factor of future rewards. */
  readonly delta: number;
  /** Rounds of history in the state: 1 (every firm's last action) or 0 (a stateless bandit). */
  readonly memory: 0 | 1;
}

/**
 * The defaults. m, ξ, α and δ are Calvano et al.'s baseline (m = 15, ξ = 0.1, α = 0.15,
 * δ = 0.95). Their β = 4e-6 explores for about a million rounds; our runs are 50 to
 * 10,000 rounds, so β = 5e-4: ε is 0.61 after 1,000 rounds, 0.08 after 5,000 and 0.007
 * after 10,000 — about 2,000 exploratory rounds in all. Short runs (hundreds of rounds)
 * stay mostly exploratory unless β is raised (β = 5e-3 halves ε every 140 rounds).
 */
export const QLEARNING_DEFAULTS: QLearningOptions = {
  m: 15,
  xi: 0.1,
  alpha: 0.15,
  beta: 5e-4,
  delta: 0.95,
  memory: 1,
};

/** The largest Q table (entries) a qlearning agent may allocate: 128 MiB of doubles. */
export const MAX_Q_ENTRIES = 2 ** 24;

/**
 * A firm's discrete actions: points along the path nash + s · (collusive − nash) for m
 * evenly spaced s in [−ξ, 1 + ξ] — for a single product, m points evenly spanning
 * [min(nash, collusive) − margin, max + margin] with margin = ξ |collusive − nash| —
 * plus the Nash (s = 0) and collusive (s = 1) actions themselves, each made valid (bounds,
 * capacity) and duplicates dropped. In a multi-product market the path scales the whole
 * benchmark profile at once, so the grid stays one-dimensional (m + 2 joint actions)
 * instead of growing as m^products. When Nash and collusion coincide (a monopoly) the grid
 * spans nash ± 50% (at least ± 0.5 per product).
 */
export interface ActionGrid {
  readonly size: number;
  readonly products: number;
  /** The grid's actions in path order; shared, never to be mutated. */
  readonly points: readonly Float64Array[];
  /** All points, size × products, for fast nearest-point search. */
  readonly flat: Float64Array;
  readonly nashIndex: number;
  readonly collusiveIndex: number;
}

export function actionGrid(
  market: MarketInstance,
  firm: number,
  nashAction: Float64Array,
  collusiveAction: Float64Array,
  m: number = QLEARNING_DEFAULTS.m,
  xi: number = QLEARNING_DEFAULTS.xi,
): ActionGrid {
  const P = market.dims.products;
  const nash = makeFeasible(market, firm, Float64Array.from(nashAction));
  const collusive = makeFeasible(market, firm, Float64Array.from(collusiveAction));
  const direction = new Float64Array(P);
  let degenerate = true;
  for (let j = 0; j < P; j++) {
    direction[j] = (collusive[j] ?? 0) - (nash[j] ?? 0);
    const scale = Math.max(1, Math.abs(nash[j] ?? 0), Math.abs(collusive[j] ?? 0));
    if (Math.abs(direction[j] ?? 0) > 1e-12 * scale) degenerate = false;
  }
  let from = -xi;
  let to = 1 + xi;
  if (degenerate) {
    for (let j = 0; j < P; j++) direction[j] = Math.max(0.5, 0.5 * Math.abs(nash[j] ?? 0));
    from = -1;
    to = 1;
  }
  const candidates: { level: number; point: Float64Array }[] = [];
  for (let i = 0; i < m; i++) {
    const level = m === 1 ? 0 : from + ((to - from) * i) / (m - 1);
    const point = new Float64Array(P);
    for (let j = 0; j < P; j++) point[j] = (nash[j] ?? 0) + level * (direction[j] ?? 0);
    candidates.push({ level, point: makeFeasible(market, firm, point) });
  }
  // The benchmarks go in first so a grid point that coincides with one yields to it.
  const kept: { level: number; point: Float64Array }[] = [{ level: 0, point: nash }];
  if (!degenerate) kept.push({ level: 1, point: collusive });
  const same = (a: Float64Array, b: Float64Array) => {
    for (let j = 0; j < P; j++) {
      const x = a[j] ?? 0;
      const y = b[j] ?? 0;
      if (Math.abs(x - y) > 1e-9 * Math.max(1, Math.abs(x), Math.abs(y))) return false;
    }
    return true;
  };
  for (const c of candidates) if (!kept.some((k) => same(k.point, c.point))) kept.push(c);
  kept.sort((a, b) => a.level - b.level);
  const points = kept.map((k) => k.point);
  const flat = new Float64Array(points.length * P);
  points.forEach((p, i) => {
    flat.set(p, i * P);
  });
  const nashIndex = points.indexOf(nash);
  const collusiveIndex = degenerate ? nashIndex : points.indexOf(collusive);
  return { size: points.length, products: P, points, flat, nashIndex, collusiveIndex };
}

/** Index of the grid point nearest (Euclidean) to `actions[offset … offset + products)`. */
function nearest(grid: ActionGrid, actions: Float64Array, offset: number): number {
  const { flat, size, products } = grid;
  let best = 0;
  let bestDistance = Infinity;
  for (let a = 0; a < size; a++) {
    let distance = 0;
    for (let j = 0; j < products; j++) {
      const d = (flat[a * products + j] ?? 0) - (actions[offset + j] ?? 0);
      distance += d * d;
    }
    if (distance < bestDistance) {
      bestDistance = distance;
      best = a;
    }
  }
  return best;
}

/** Rivals' profiles for the Q initialisation: all of them when there are at most this many, else a sample. */
const INIT_PROFILES = 4096;

/**
 * A Q-learning firm. The grids (its own and, to read the state, every rival's, built the
 * same way from the rival's benchmark actions) and the Q table are set up at the first
 * decision, when the benchmarks are known. Rivals' actions are mapped to the nearest
 * point of their grid, so the state is defined whatever the rivals are.
 *
 * Q starts at the discounted payoff of each action against rivals that pick uniformly
 * from their grids, π̄(a) / (1 − δ), the same for every state (Calvano et al.'s
 * initialisation): an untrained agent ranks its actions by their average profit. Exact
 * over all rival profiles when there are at most 4,096 of them, otherwise averaged over
 * 4,096 profiles drawn from the agent's random stream.
 *
 * The returned actions are the grid's own arrays (so a step allocates nothing): callers
 * copy them into the round's profile and must not mutate them.
 */
export class QLearningAgent implements Agent {
  readonly policy = 'qlearning';
  /** It reads the last round's actions (its state). */
  readonly lookBack = 1;
  private grids: ActionGrid[] = [];
  private own: ActionGrid | undefined;
  private q = new Float64Array(0);
  /** Mixed-radix place value of each firm's action index in the state number. */
  private radix = new Int32Array(0);
  private state = 0;
  private choice = -1;
  private t = 0;

  constructor(
    private readonly market: MarketInstance,
    private readonly firm: number,
    private readonly random: Random,
    readonly options: QLearningOptions = QLEARNING_DEFAULTS,
  ) {}

  /** This firm's action grid (after the first decision). */
  get grid(): ActionGrid | undefined {
    return this.own;
  }

  /** The Q table, states × actions (after the first decision); for inspection. */
  get table(): Float64Array {
    return this.q;
  }

  /** The exploration rate of the next decision. */
  get epsilon(): number {
    return Math.exp(-this.options.beta * this.t);
  }

  save(): unknown {
    const { grids, q, radix, state, choice, t } = this;
    return { grids, q, radix, state, choice, t };
  }

  restore(saved: unknown): void {
    const s = saved as {
      grids: ActionGrid[];
      q: Float64Array<ArrayBuffer>;
      radix: Int32Array<ArrayBuffer>;
      state: number;
      choice: number;
      t: number;
    };
    this.grids = s.grids;
    this.own = s.grids[this.firm];
    this.q = s.q;
    this.radix = s.radix;
    this.state = s.state;
    this.choice = s.choice;
    this.t = s.t;
  }

  decide(observation: Observation): Action {
    if (!this.own) this.initialise(observation);
    const own = this.own as ActionGrid;
    const last = observation.history.at(-1);
    if (last) this.state = this.stateOf(last.actions);
    const size = own.size;
    const epsilon = Math.exp(-this.options.beta * this.t);
    this.t++;
    let choice = 0;
    if (this.random.next() < epsilon)
      choice = Math.min(size - 1, Math.floor(this.random.next() * size));
    else {
      const row = this.state * size;
      let best = -Infinity;
      for (let a = 0; a < size; a++) {
        const value = this.q[row + a] ?? -Infinity;
        if (value > best) {
          best = value;
          choice = a;
        }
      }
    }
    this.choice = choice;
    return own.points[choice] as Float64Array;
  }

  learn(_observation: Observation, _action: Action, outcome: Outcome, reward: number): void {
    const own = this.own;
    if (!own || this.choice < 0) return;
    // What every firm played: quantities in a quantity market, prices (firm × product) in a price market.
    const played = this.market.competition === 'quantity' ? outcome.quantity : outcome.price;
    const next = this.stateOf(played);
    const size = own.size;
    let future = -Infinity;
    for (let a = 0, row = next * size; a < size; a++)
      future = Math.max(future, this.q[row + a] ?? 0);
    const { alpha, delta } = this.options;
    const k = this.state * size + this.choice;
    this.q[k] = (1 - alpha) * (this.q[k] ?? 0) + alpha * (reward + delta * future);
    this.state = next;
  }

  private stateOf(actions: Float64Array): number {
    if (this.options.memory === 0) return 0;
    const P = this.market.dims.products;
    let state = 0;
    for (let i = 0; i < this.grids.length; i++) {
      state += nearest(this.grids[i] as ActionGrid, actions, i * P) * (this.radix[i] ?? 0);
    }
    return state;
  }

  private initialise(observation: Observation): void {
    const { market, firm, options } = this;
    const { firms: F, products: P } = market.dims;
    const { benchmarks } = observation;
    this.grids = Array.from({ length: F }, (_, i) =>
      actionGrid(
        market,
        i,
        benchmarkAction(benchmarks, 'nash', i, P),
        benchmarkAction(benchmarks, 'collusive', i, P),
        options.m,
        options.xi,
      ),
    );
    const own = this.grids[firm] as ActionGrid;
    this.radix = new Int32Array(F);
    let states = 1;
    if (options.memory === 1) {
      for (let i = F - 1; i >= 0; i--) {
        this.radix[i] = states;
        states *= (this.grids[i] as ActionGrid).size;
      }
    }
    if (states * own.size > MAX_Q_ENTRIES) {
      throw new PolicyError(
        `qlearning: ${states * own.size} Q values (limit ${MAX_Q_ENTRIES}); lower \`m\` or use \`memory: 0\``,
      );
    }
    const payoff = this.averagePayoffs(observation);
    this.q = new Float64Array(states * own.size);
    for (let s = 0; s < states; s++) {
      for (let a = 0; a < own.size; a++)
        this.q[s * own.size + a] = (payoff[a] ?? 0) / (1 - options.delta);
    }
    // Calvano et al. start from a random state; round 1 has no last actions to read.
    this.state = Math.min(states - 1, Math.floor(this.random.next() * states));
    this.own = own;
  }

  /** π̄(a): this firm's mean profit from each of its actions against uniformly random rivals. */
  private averagePayoffs(observation: Observation): Float64Array {
    const { market, firm, grids } = this;
    const { firms: F, products: P } = market.dims;
    const own = grids[firm] as ActionGrid;
    const rivals = grids.filter((_, i) => i !== firm);
    let combinations = 1;
    for (const g of rivals) combinations *= g.size;
    const exact = combinations <= INIT_PROFILES;
    const count = exact ? combinations : INIT_PROFILES;
    const profile = Float64Array.from(observation.benchmarks.nash.action);
    const payoff = new Float64Array(own.size);
    for (let n = 0; n < count; n++) {
      let rest = n;
      for (let i = 0; i < F; i++) {
        if (i === firm) continue;
        const g = grids[i] as ActionGrid;
        let index: number;
        if (exact) {
          index = rest % g.size;
          rest = Math.floor(rest / g.size);
        } else index = Math.min(g.size - 1, Math.floor(this.random.next() * g.size));
        profile.set(g.points[index] as Float64Array, i * P);
      }
      for (let a = 0; a < own.size; a++) {
        profile.set(own.points[a] as Float64Array, firm * P);
        payoff[a] = (payoff[a] ?? 0) + (market.clear(profile).profit[firm] ?? 0) / count;
      }
    }
    return payoff;
  }
}

/** Reads `qlearning(m, xi, alpha, beta, delta, memory)` arguments, all optional and named or positional. */
export function qlearningOptions(args: readonly PolicyArgument[], firms: number): QLearningOptions {
  const parsed = PolicyArguments.read('qlearning', args, [
    'alpha',
    'beta',
    'delta',
    'm',
    'xi',
    'memory',
  ]);
  const d = QLEARNING_DEFAULTS;
  const options: QLearningOptions = {
    alpha: parsed.number('alpha', d.alpha, { above: 0, atMost: 1 }),
    beta: parsed.number('beta', d.beta, { atLeast: 0 }),
    delta: parsed.number('delta', d.delta, { atLeast: 0, below: 1 }),
    m: parsed.number('m', d.m, { atLeast: 2, atMost: 1000, integer: true }),
    xi: parsed.number('xi', d.xi, { atLeast: 0 }),
    memory: parsed.number('memory', d.memory, { atLeast: 0, atMost: 1, integer: true }) as 0 | 1,
  };
  // Check the table size before the run starts: the grid has at most m + 2 points per firm.
  const states = options.memory === 1 ? (options.m + 2) ** firms : 1;
  if (states * (options.m + 2) > MAX_Q_ENTRIES) {
    throw new PolicyError(
      `qlearning: with ${firms} firms and m = ${options.m} the Q table could hold ${states * (options.m + 2)} values (limit ${MAX_Q_ENTRIES}); lower \`m\` or use \`memory: 0\``,
    );
  }
  return options;
}

/** `qlearning(alpha, beta, delta, m, xi, memory)`: see `QLearningAgent` and `QLEARNING_DEFAULTS`. */
export function qlearning(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const options = qlearningOptions(args, context.market.dims.firms);
  return new QLearningAgent(context.market, context.firm, context.random, options);
}
