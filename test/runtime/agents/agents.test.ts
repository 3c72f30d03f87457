import { describe, expect, it } from 'vitest';
import { compileSources, type ParamValue } from '../../../compiler/index.js';
// Helpers inside the scripted policies (the collusive profile, the evader), tested on their own.
import { collusionProfile, evader, safeCollusionLevel } from '../../../runtime/agents/scripted.js';
import {
  type Agent,
  actionGrid,
  type Benchmarks,
  computeBenchmarks,
  createAgent,
  instantiateMarket,
  knownPolicies,
  LlmServices,
  type MarketInstance,
  type Observation,
  type PolicyArgument,
  PolicyError,
  QLEARNING_DEFAULTS,
  QLearningAgent,
  randomStream,
  stdlibSources,
} from '../../../runtime/index.js';

const compiled = compileSources(stdlibSources());

function marketNamed(name: string, overrides: Record<string, ParamValue> = {}): MarketInstance {
  const ir = compiled.program.markets.find((m) => m.name === name);
  if (!ir) throw new Error(`no stdlib market ${name}`);
  return instantiateMarket(ir, overrides);
}

/**
 * Benchmarks computed by hand, so these tests do not depend on the benchmark solver
 * (runtime/market/benchmarks.ts); one test below checks that the two agree.
 */
function benchmarksOf(
  market: MarketInstance,
  nash: number[],
  collusive: number[],
  competitive: number[],
): Benchmarks {
  const point = (values: number[]) => {
    const action = Float64Array.from(values);
    return { action, outcome: market.clear(action), method: 'closed-form' as const };
  };
  return { nash: point(nash), collusive: point(collusive), competitive: point(competitive) };
}

/*
 * cournot_2x2 (a = 100, b = 0.5, costs f1 [40, 50], f2 [50, 40], capacity 100 in total):
 * Nash per product q_i = (a − 2c_i + c_k) / 3b, i.e. 140/3 for the cheap firm and 80/3 for
 * the other; collusion: the cheap firm alone, (a − c) / 2b = 60; competitive: the cheap
 * firm at capacity, pricing at the rival's cost (P = 50).
 */
const twoByTwo = marketNamed('cournot_2x2');
const twoByTwoBenchmarks = benchmarksOf(
  twoByTwo,
  [140 / 3, 80 / 3, 80 / 3, 140 / 3],
  [60, 0, 0, 60],
  [100, 0, 0, 100],
);

/* cournot with 3 firms (a = 100, b = 1, c = 10): Nash 90/4, collusion 45/3, competitive 90/3. */
const threeFirms = marketNamed('cournot', { firms: 3 });
const threeFirmBenchmarks = benchmarksOf(
  threeFirms,
  [22.5, 22.5, 22.5],
  [15, 15, 15],
  [30, 30, 30],
);

/* cournot with 2 firms: Nash 30, collusion 22.5, competitive 45. */
const duopoly = marketNamed('cournot');
const duopolyBenchmarks = benchmarksOf(duopoly, [30, 30], [22.5, 22.5], [45, 45]);

/* bertrand_logit (price competition): benchmarks from the solver, which is numeric here. */
const bertrand = marketNamed('bertrand_logit');
const bertrandBenchmarks = computeBenchmarks(bertrand);

it.each([
  { market: twoByTwo, benchmarks: twoByTwoBenchmarks },
  { market: threeFirms, benchmarks: threeFirmBenchmarks },
  { market: duopoly, benchmarks: duopolyBenchmarks },
])(
  'the hand-computed benchmarks of $market.name agree with computeBenchmarks',
  ({ market, benchmarks }) => {
    const solved = computeBenchmarks(market);
    for (const which of ['nash', 'collusive', 'competitive'] as const) {
      expectClose([...solved[which].action], [...benchmarks[which].action]);
    }
  },
);

function observation(
  market: MarketInstance,
  benchmarks: Benchmarks,
  firm: number,
  history: readonly number[][] = [],
  extra: Partial<Observation> = {},
): Observation {
  return {
    round: history.length + 1,
    firm,
    market,
    benchmarks,
    history: history.map((a) => {
      const actions = Float64Array.from(a);
      return { actions, outcome: market.clear(actions) };
    }),
    ...extra,
  };
}

function agentFor(
  name: string,
  market: MarketInstance,
  firm: number,
  args: readonly PolicyArgument[] = [],
  seed = 1,
): Agent {
  return createAgent({ name, args }, { firm, market, random: randomStream(seed, `agent:${firm}`) });
}

async function decide(agent: Agent, obs: Observation): Promise<number[]> {
  const decision = await agent.decide(obs);
  return [...(decision instanceof Float64Array ? decision : decision.action)];
}

/** Within bounds and capacity, up to rounding. */
function expectValid(market: MarketInstance, firm: number, action: readonly number[]) {
  const P = market.dims.products;
  let total = 0;
  for (let j = 0; j < P; j++) {
    const value = action[j] ?? Number.NaN;
    expect(value).toBeGreaterThanOrEqual((market.low[firm * P + j] ?? 0) - 1e-9);
    expect(value).toBeLessThanOrEqual((market.high[firm * P + j] ?? 0) + 1e-9);
    total += value;
  }
  if (market.capacity.kind === 'total') {
    expect(total).toBeLessThanOrEqual((market.capacity.perFirm[firm] ?? 0) + 1e-9);
  }
}

function expectClose(actual: readonly number[], expected: readonly number[], digits = 9) {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, j) => {
    expect(v).toBeCloseTo(expected[j] ?? Number.NaN, digits);
  });
}

describe('benchmark and constant policies', () => {
  const cases: {
    policy: string;
    args?: PolicyArgument[];
    market: MarketInstance;
    benchmarks: Benchmarks;
    firm: number;
    expected: number[];
  }[] = [
    {
      policy: 'nash',
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 0,
      expected: [140 / 3, 80 / 3],
    },
    {
      policy: 'nash',
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 1,
      expected: [80 / 3, 140 / 3],
    },
    {
      policy: 'collusive',
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 1,
      expected: [0, 60],
    },
    {
      policy: 'competitive',
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 0,
      expected: [100, 0],
    },
    {
      policy: 'nash',
      market: threeFirms,
      benchmarks: threeFirmBenchmarks,
      firm: 2,
      expected: [22.5],
    },
    {
      policy: 'collusive',
      market: threeFirms,
      benchmarks: threeFirmBenchmarks,
      firm: 1,
      expected: [15],
    },
    {
      policy: 'competitive',
      market: threeFirms,
      benchmarks: threeFirmBenchmarks,
      firm: 0,
      expected: [30],
    },
    {
      policy: 'constant',
      args: [{ value: 10 }],
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 0,
      expected: [10, 10],
    },
    {
      policy: 'constant',
      args: [{ name: 'q', value: [30, 20] }],
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 1,
      expected: [30, 20],
    },
    // Over the total capacity of 100: shrunk proportionally, keeping the mix.
    {
      policy: 'constant',
      args: [{ value: [70, 50] }],
      market: twoByTwo,
      benchmarks: twoByTwoBenchmarks,
      firm: 0,
      expected: [(70 * 100) / 120, (50 * 100) / 120],
    },
    // Below the lower bound: clipped.
    {
      policy: 'constant',
      args: [{ value: -5 }],
      market: threeFirms,
      benchmarks: threeFirmBenchmarks,
      firm: 0,
      expected: [0],
    },
    {
      policy: 'constant',
      args: [{ value: [12] }],
      market: threeFirms,
      benchmarks: threeFirmBenchmarks,
      firm: 2,
      expected: [12],
    },
  ];
  it.each(cases)('$policy for firm $firm of $market.name', async (c) => {
    const agent = agentFor(c.policy, c.market, c.firm, c.args);
    expect(agent.policy).toBe(c.policy);
    // The same action whatever the history.
    for (const history of [[], [c.benchmarks.competitive.action].map((a) => [...a])]) {
      const action = await decide(agent, observation(c.market, c.benchmarks, c.firm, history));
      expectClose(action, c.expected);
      expectValid(c.market, c.firm, action);
    }
  });

  it('returns a fresh array each round', async () => {
    const agent = agentFor('constant', twoByTwo, 0, [{ value: 5 }]);
    const obs = observation(twoByTwo, twoByTwoBenchmarks, 0);
    const first = (await agent.decide(obs)) as Float64Array;
    first[0] = 99;
    expect(await decide(agent, obs)).toEqual([5, 5]);
  });
});

describe('random', () => {
  it.each([
    { market: twoByTwo, benchmarks: twoByTwoBenchmarks, firm: 1 },
    { market: threeFirms, benchmarks: threeFirmBenchmarks, firm: 2 },
    { market: bertrand, benchmarks: bertrandBenchmarks, firm: 0 },
  ])('stays within bounds and capacity on $market.name', async ({ market, benchmarks, firm }) => {
    const agent = agentFor('random', market, firm);
    const obs = observation(market, benchmarks, firm);
    let largest = 0;
    for (let i = 0; i < 500; i++) {
      const action = await decide(agent, obs);
      expectValid(market, firm, action);
      largest = Math.max(largest, ...action);
    }
    // Unbounded cournot quantities are drawn up to twice the largest benchmark action (30).
    if (market === threeFirms) {
      expect(largest).toBeLessThanOrEqual(60);
      expect(largest).toBeGreaterThan(50);
    }
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const run = async (seed: number) => {
      const agent = agentFor('random', twoByTwo, 0, [], seed);
      const obs = observation(twoByTwo, twoByTwoBenchmarks, 0);
      const actions: number[] = [];
      for (let i = 0; i < 20; i++) actions.push(...(await decide(agent, obs)));
      return actions;
    };
    expect(await run(7)).toEqual(await run(7));
    expect(await run(7)).not.toEqual(await run(8));
  });
});

describe('noisy_nash', () => {
  it('stays within noise of its Nash action, spread over the whole band', async () => {
    const agent = agentFor('noisy_nash', twoByTwo, 0, [{ name: 'noise', value: 0.2 }]);
    const obs = observation(twoByTwo, twoByTwoBenchmarks, 0);
    const nash = [140 / 3, 80 / 3];
    const relative: number[][] = [[], []];
    for (let i = 0; i < 500; i++) {
      const action = await decide(agent, obs);
      expectValid(twoByTwo, 0, action);
      action.forEach((q, j) => {
        relative[j]?.push(q / (nash[j] ?? 1) - 1);
      });
    }
    for (const r of relative) {
      expect(Math.max(...r.map(Math.abs))).toBeLessThanOrEqual(0.2 + 1e-12);
      // Uniform on [−0.2, 0.2]: 500 draws reach close to both ends and centre near 0.
      expect(Math.min(...r)).toBeLessThan(-0.18);
      expect(Math.max(...r)).toBeGreaterThan(0.18);
      expect(Math.abs(r.reduce((a, b) => a + b, 0) / r.length)).toBeLessThan(0.02);
    }
  });

  it('is Nash with noise 0 and deterministic for a seed', async () => {
    const quiet = agentFor('noisy_nash', twoByTwo, 1, [{ value: 0 }]);
    expectClose(await decide(quiet, observation(twoByTwo, twoByTwoBenchmarks, 1)), [
      80 / 3,
      140 / 3,
    ]);
    const run = async (seed: number) => {
      const agent = agentFor('noisy_nash', twoByTwo, 0, [], seed);
      const obs = observation(twoByTwo, twoByTwoBenchmarks, 0);
      const actions: number[] = [];
      for (let i = 0; i < 10; i++) actions.push(...(await decide(agent, obs)));
      return actions;
    };
    expect(await run(7)).toEqual(await run(7));
    expect(await run(7)).not.toEqual(await run(8));
  });
});

describe('best_response', () => {
  /* Linear Cournot: firm i's best reply to rivals' total Q₋ᵢ is max(0, (a − cᵢ − b Q₋ᵢ) / 2b). */
  const costs = [10, 20, 30];
  const hetero = marketNamed('cournot', { firms: 3, costs });
  // Nash with costs [10, 20, 30]: qᵢ = (a − 4cᵢ + Σc) / 4 = 40 − cᵢ.
  const heteroBenchmarks = benchmarksOf(hetero, [30, 20, 10], [45, 0, 0], [90, 0, 0]);
  const analytical = (firm: number, profile: number[]) => {
    const others = profile.reduce((s, q, i) => (i === firm ? s : s + q), 0);
    return Math.max(0, (100 - (costs[firm] ?? 0) - others) / 2);
  };
  const profiles = [
    [30, 20, 10],
    [0, 0, 0],
    [15, 15, 15],
    [45, 40, 2],
    [80, 50, 50], // rivals flood the market: the reply is 0
    [1, 2, 3],
  ];
  it.each(profiles.flatMap((profile) => [0, 1, 2].map((firm) => ({ firm, profile }))))(
    'firm $firm against $profile equals the analytical reply',
    async ({ firm, profile }) => {
      const agent = agentFor('best_response', hetero, firm);
      const action = await decide(agent, observation(hetero, heteroBenchmarks, firm, [profile]));
      expect(action[0]).toBeCloseTo(analytical(firm, profile), 9);
    },
  );

  it('plays Nash in round 1', async () => {
    const agent = agentFor('best_response', hetero, 1);
    expect(await decide(agent, observation(hetero, heteroBenchmarks, 1))).toEqual([20]);
  });

  /* cournot_2x2, firm f1: per product q = (a − c − b Q₋ᵢ) / 2b, and when the total
   * capacity binds the marginal profits of the two products are equal. */
  it.each([
    { rival: [80 / 3, 140 / 3], expected: [140 / 3, 80 / 3] }, // Nash is a fixed point
    { rival: [20, 10], expected: [50, 45] }, // capacity slack
    // Unconstrained [60, 50] exceeds the capacity: 60 − q_A = 50 − q_B, q_A + q_B = 100.
    { rival: [0, 0], expected: [55, 45] },
    { rival: [0, 60], expected: [60, 20] },
    { rival: [100, 100], expected: [10, 0] },
  ])('cournot_2x2 against $rival', async ({ rival, expected }) => {
    const agent = agentFor('best_response', twoByTwo, 0);
    const obs = observation(twoByTwo, twoByTwoBenchmarks, 0, [[0, 0, ...rival]]);
    const action = await decide(agent, obs);
    expectClose(action, expected, 9);
    expectValid(twoByTwo, 0, action);
  });

  it('replies to the Nash prices of bertrand_logit with the Nash price', async () => {
    const nash = [...bertrandBenchmarks.nash.action];
    for (const firm of [0, 1]) {
      const agent = agentFor('best_response', bertrand, firm);
      const action = await decide(agent, observation(bertrand, bertrandBenchmarks, firm, [nash]));
      expect(action[0]).toBeCloseTo(nash[firm] ?? Number.NaN, 6);
    }
  });
});

describe('trigger', () => {
  /** Plays the trigger agent (firm 0 of the duopoly) against a scripted rival. */
  async function play(args: PolicyArgument[], rival: readonly number[]): Promise<string[]> {
    const agent = agentFor('trigger', duopoly, 0, args);
    const history: number[][] = [];
    const modes: string[] = [];
    for (const r of rival) {
      const [q = Number.NaN] = await decide(
        agent,
        observation(duopoly, duopolyBenchmarks, 0, history),
      );
      modes.push(q === 22.5 ? 'C' : q === 30 ? 'N' : `?${q}`);
      history.push([q, r]);
    }
    return modes;
  }
  const C = 22.5;
  const N = 30;

  it.each([1, 2, 3, 7])('punishes a deviation for exactly k = %i rounds', async (k) => {
    // The rival deviates once in round 3, then plays Nash for good measure while punished.
    const rival = [C, C, 40, ...Array<number>(k).fill(N), C, C, C];
    const modes = await play([{ value: k }], rival);
    expect(modes.join('')).toBe(`CCC${'N'.repeat(k)}CCC`);
  });

  it('ignores deviations within the tolerance and reacts to larger ones', async () => {
    expect((await play([{ name: 'tolerance', value: 0.1 }], [C, C + 2, C, C])).join('')).toBe(
      'CCCC',
    );
    expect((await play([{ name: 'tolerance', value: 0.01 }], [C, C + 2, C, C])).join('')).toBe(
      'CCNN',
    );
  });

  it('is grim with k = inf', async () => {
    const modes = await play([{ name: 'k', value: Infinity }], [C, 40, C, C, C, C, C]);
    expect(modes.join('')).toBe('CCNNNNN');
  });

  it('two trigger agents punish together and return to collusion together', async () => {
    const agents = [0, 1].map((firm) => agentFor('trigger', duopoly, firm, [{ value: 2 }]));
    // Firm 1's action in round 2 was altered (say, by an institution's floor): both
    // agents see the deviation, punish in rounds 3–4 and collude again from round 5.
    const history: number[][] = [
      [C, C],
      [C, 40],
    ];
    const totals: number[] = [];
    for (let round = 3; round <= 8; round++) {
      const actions: number[] = [];
      for (const [firm, agent] of agents.entries()) {
        const obs = observation(duopoly, duopolyBenchmarks, firm, history);
        actions.push(...(await decide(agent, obs)));
      }
      history.push(actions);
      totals.push(actions.reduce((s, q) => s + q, 0));
    }
    expect(totals).toEqual([2 * N, 2 * N, 2 * C, 2 * C, 2 * C, 2 * C]);
  });
});

describe('evader', () => {
  /** Synthetic public rule: evidence when some product's HHI exceeds `threshold`. */
  const hhiAbove = (market: MarketInstance, threshold: number) => (profile: Float64Array) =>
    [...market.clear(profile).hhi].some((h) => h > threshold);

  /*
   * cournot_2x2 at level t: f1 sells A: 140/3 + 40t/3 and f2 sells A: 80/3 − 80t/3, so
   * f1's share s of A solves s · (220/3 − 40t/3) = 140/3 + 40t/3, i.e.
   * t = (220 s − 140) / (40 (1 + s)); HHI = 10⁴ (s² + (1 − s)²) = H at s = (1 + √(2h − 1)) / 2.
   */
  const thresholdLevel = (H: number) => {
    const s = (1 + Math.sqrt((2 * H) / 10_000 - 1)) / 2;
    return (220 * s - 140) / (40 * (1 + s));
  };

  it.each([5600, 6000, 7000, 9000])(
    'plays the largest safe level under an HHI threshold of %i',
    async (threshold) => {
      const wouldTrigger = hhiAbove(twoByTwo, threshold);
      const exact = thresholdLevel(threshold);
      for (const firm of [0, 1]) {
        const agent = evader([], { firm, market: twoByTwo, random: randomStream(1, 'evader') });
        const obs = observation(twoByTwo, twoByTwoBenchmarks, firm, [], { wouldTrigger });
        const action = await decide(agent, obs);
        const level = agent.level;
        expect(level).toBeLessThanOrEqual(exact);
        expect(level).toBeGreaterThan(exact - 2 ** -20);
        const profile = collusionProfile(
          twoByTwoBenchmarks.nash.action,
          twoByTwoBenchmarks.collusive.action,
          level,
        );
        expect(wouldTrigger(profile)).toBe(false);
        expectClose(action, [...profile.slice(firm * 2, firm * 2 + 2)]);
      }
    },
  );

  it('finds the threshold of a total-quantity rule in a 3-firm cournot', () => {
    // Total at level t: 67.5 − 22.5 t; evidence below 60 → t* = 1/3.
    const wouldTrigger = (profile: Float64Array) => profile.reduce((s, q) => s + q, 0) < 60;
    const level = safeCollusionLevel(
      threeFirmBenchmarks.nash.action,
      threeFirmBenchmarks.collusive.action,
      wouldTrigger,
    );
    expect(level).toBeLessThanOrEqual(1 / 3);
    expect(level).toBeGreaterThan(1 / 3 - 2 ** -20);
  });

  it('colludes fully without a public institution or when collusion is safe', async () => {
    const agent = agentFor('evader', twoByTwo, 0);
    expect(await decide(agent, observation(twoByTwo, twoByTwoBenchmarks, 0))).toEqual([60, 0]);
    const safe = observation(twoByTwo, twoByTwoBenchmarks, 0, [], { wouldTrigger: () => false });
    expect(await decide(agent, safe)).toEqual([60, 0]);
  });

  it('plays Nash when even Nash triggers', async () => {
    const agent = agentFor('evader', threeFirms, 1);
    const obs = observation(threeFirms, threeFirmBenchmarks, 1, [], { wouldTrigger: () => true });
    expect(await decide(agent, obs)).toEqual([22.5]);
  });
});

describe('qlearning', () => {
  it.each([
    { market: duopoly, benchmarks: duopolyBenchmarks },
    { market: threeFirms, benchmarks: threeFirmBenchmarks },
    { market: twoByTwo, benchmarks: twoByTwoBenchmarks },
    { market: bertrand, benchmarks: bertrandBenchmarks },
  ])('grid on $market.name contains the Nash and collusive actions', ({ market, benchmarks }) => {
    const P = market.dims.products;
    for (let firm = 0; firm < market.dims.firms; firm++) {
      const nash = benchmarks.nash.action.slice(firm * P, firm * P + P);
      const collusive = benchmarks.collusive.action.slice(firm * P, firm * P + P);
      const grid = actionGrid(market, firm, nash, collusive);
      expect([...(grid.points[grid.nashIndex] ?? [])]).toEqual([...nash]);
      expect([...(grid.points[grid.collusiveIndex] ?? [])]).toEqual([...collusive]);
      expect(grid.size).toBeLessThanOrEqual(QLEARNING_DEFAULTS.m + 2);
      expect(grid.size).toBeGreaterThanOrEqual(QLEARNING_DEFAULTS.m);
      for (const point of grid.points) expectValid(market, firm, [...point]);
    }
  });

  it('spans the Nash–collusive gap with a margin of ξ on each side', () => {
    const grid = actionGrid(duopoly, 0, Float64Array.of(30), Float64Array.of(22.5), 5, 0.1);
    // 5 points evenly over [22.5 − 0.75, 30 + 0.75], plus 22.5 and 30.
    const values = grid.points.map((p) => p[0] ?? Number.NaN).sort((a, b) => a - b);
    expectClose(values, [21.75, 22.5, 24, 26.25, 28.5, 30, 30.75]);
  });

  it('starts Q at the discounted payoff against uniformly random rivals', () => {
    const agent = new QLearningAgent(duopoly, 0, randomStream(1, 'q'), {
      ...QLEARNING_DEFAULTS,
      m: 3,
    });
    agent.decide(observation(duopoly, duopolyBenchmarks, 0));
    const grid = agent.grid;
    if (!grid) throw new Error('no grid after the first decision');
    const row = agent.table.slice(0, grid.size);
    grid.points.forEach((own, a) => {
      let mean = 0;
      for (const rival of grid.points) {
        mean +=
          (duopoly.clear(Float64Array.of(own[0] ?? 0, rival[0] ?? 0)).profit[0] ?? 0) / grid.size;
      }
      expect(row[a]).toBeCloseTo(mean / (1 - QLEARNING_DEFAULTS.delta), 9);
    });
    // The same in every state.
    expect([...agent.table.slice(grid.size * 4, grid.size * 5)]).toEqual([...row]);
  });

  it('updates Q(s, a) ← (1 − α) Q + α (r + δ max Q(s′))', () => {
    const options = { ...QLEARNING_DEFAULTS, m: 3, beta: 50 }; // ε ≈ 0 after round 1
    const agent = new QLearningAgent(duopoly, 0, randomStream(2, 'q'), options);
    const history = [
      { actions: Float64Array.of(30, 30), outcome: duopoly.clear(Float64Array.of(30, 30)) },
    ];
    const obs: Observation = { ...observation(duopoly, duopolyBenchmarks, 0), history };
    agent.decide(obs); // round 1 (ε = 1): initialises
    const action = agent.decide(obs) as Float64Array; // greedy, state = (Nash, Nash)
    const grid = agent.grid;
    if (!grid) throw new Error('no grid');
    const size = grid.size;
    const state = grid.nashIndex * size + grid.nashIndex;
    const choice = grid.points.indexOf(action);
    const before = Float64Array.from(agent.table);
    const played = Float64Array.of(action[0] ?? 0, 22.5);
    const outcome = duopoly.clear(played);
    agent.learn(obs, action, outcome, 123);
    const next = choice * size + grid.collusiveIndex;
    const future = Math.max(...before.slice(next * size, next * size + size));
    const k = state * size + choice;
    expect(agent.table[k]).toBeCloseTo(0.85 * (before[k] ?? 0) + 0.15 * (123 + 0.95 * future), 9);
    agent.table[k] = before[k] ?? 0;
    expect(agent.table).toEqual(before);
  });

  /** Two (or more) learners in self-play; returns every round's actions, flattened. */
  function selfPlay(
    market: MarketInstance,
    benchmarks: Benchmarks,
    rounds: number,
    seed: number,
    args: PolicyArgument[] = [],
  ) {
    const F = market.dims.firms;
    const P = market.dims.products;
    const agents = Array.from({ length: F }, (_, firm) =>
      agentFor('qlearning', market, firm, args, seed),
    );
    const history: { actions: Float64Array; outcome: ReturnType<MarketInstance['clear']> }[] = [];
    const observations = Array.from({ length: F }, (_, firm) => ({
      ...observation(market, benchmarks, firm),
      history,
    }));
    const trace = new Float64Array(rounds * F * P);
    for (let round = 0; round < rounds; round++) {
      const actions = new Float64Array(F * P);
      for (let firm = 0; firm < F; firm++) {
        actions.set(
          (agents[firm] as Agent).decide(observations[firm] as Observation) as Float64Array,
          firm * P,
        );
      }
      const outcome = market.clear(actions);
      for (let firm = 0; firm < F; firm++) {
        const agent = agents[firm] as Agent;
        agent.learn?.(
          observations[firm] as Observation,
          actions.subarray(firm * P, firm * P + P),
          outcome,
          outcome.profit[firm] ?? 0,
        );
      }
      history.push({ actions, outcome });
      trace.set(actions, round * F * P);
    }
    return { agents, trace };
  }

  it.each([
    { market: duopoly, benchmarks: duopolyBenchmarks },
    { market: twoByTwo, benchmarks: twoByTwoBenchmarks },
    { market: threeFirms, benchmarks: threeFirmBenchmarks },
  ])(
    'is deterministic for a seed and differs across seeds on $market.name',
    ({ market, benchmarks }) => {
      const a = selfPlay(market, benchmarks, 500, 11).trace;
      const b = selfPlay(market, benchmarks, 500, 11).trace;
      const c = selfPlay(market, benchmarks, 500, 12).trace;
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
    },
  );

  it('runs 20,000 rounds of duopoly self-play with every action on the grid', () => {
    const rounds = 20_000;
    // How fast this is, is measured in bench/qlearning-study.ts (docs/benchmarks.md).
    const { agents, trace } = selfPlay(duopoly, duopolyBenchmarks, rounds, 3);
    const grids = agents.map((agent) => (agent as QLearningAgent).grid);
    let offGrid = 0;
    for (let round = 0; round < rounds; round++) {
      for (const [firm, grid] of grids.entries()) {
        const q = trace[round * 2 + firm];
        if (!grid?.points.some((p) => p[0] === q)) offGrid++;
      }
    }
    expect(offGrid).toBe(0);
    // Exploration has died down: the last rounds are greedy.
    expect((agents[0] as QLearningAgent).epsilon).toBeLessThan(1e-4);
  });

  it('refuses a Q table that would not fit', () => {
    const crowded = marketNamed('cournot', { firms: 6 });
    expect(() => agentFor('qlearning', crowded, 0)).toThrow(/lower `m` or use `memory: 0`/);
    expect(() => agentFor('qlearning', crowded, 0, [{ name: 'memory', value: 0 }])).not.toThrow();
  });
});

describe('createAgent', () => {
  it.each(knownPolicies().filter((name) => name !== 'llm'))('builds %s', (name) => {
    const args = name === 'constant' ? [{ value: 1 }] : [];
    const agent = agentFor(name, twoByTwo, 1, args);
    expect(agent.policy).toBe(name);
  });

  const withModels = (args: PolicyArgument[], defaultModel?: string) =>
    createAgent(
      { name: 'llm', args },
      {
        firm: 0,
        market: twoByTwo,
        random: randomStream(1, 'agent:f1'),
        llm: {
          services: new LlmServices({ env: {} }, randomStream(1, 'llm')),
          seed: 1,
          ...(defaultModel ? { defaultModel } : {}),
        },
      },
    );

  it('builds llm on the model it names, or on --model', () => {
    const spec = 'openai-compatible:http://127.0.0.1:9/v1#m';
    expect(withModels([{ name: 'model', value: spec }]).policy).toBe(`llm(${spec})`);
    expect(withModels([], spec).policy).toBe(`llm(${spec})`);
  });

  it.each([
    { args: [], message: /llm: no model; give llm\(model: "…"\) or --model SPEC/ },
    { args: [{ name: 'model', value: 'gpt-4o' }], message: /llm: unknown model `gpt-4o`/ },
    {
      args: [{ name: 'model', value: 'openai:gpt-4o-mini' }],
      message: /llm: openai:gpt-4o-mini needs an API key: set OPENAI_API_KEY/,
    },
    {
      args: [
        { name: 'model', value: 'openai-compatible:http://h/v1#m' },
        { name: 'memory', value: -1 },
      ],
      message: /argument `memory` must be a whole number ≥ 0/,
    },
    {
      args: [
        { name: 'model', value: 'openai-compatible:http://h/v1#m' },
        { name: 'fallback', value: 'random' },
      ],
      message: /argument `fallback` must be "previous" or "nash"; got "random"/,
    },
  ])('rejects llm with $args', ({ args, message }) => {
    expect(() => withModels(args as PolicyArgument[])).toThrow(message);
  });

  it.each([
    {
      name: 'gpt',
      args: [],
      message: /unknown policy `gpt`; known policies: nash, collusive, .*qlearning, llm/,
    },
    {
      name: 'nash',
      args: [{ value: 3 }],
      message: /nash: too many arguments .*it takes no arguments/,
    },
    { name: 'constant', args: [], message: /constant: missing argument `q`/ },
    {
      name: 'constant',
      args: [{ value: [1, 2, 3] }],
      message:
        /constant: argument `q` must be a number, or a list of 2 such numbers .*; got \[1, 2, 3\]/,
    },
    { name: 'constant', args: [{ value: 'lots' }], message: /argument `q` .*got "lots"/ },
    {
      name: 'trigger',
      args: [{ name: 'k', value: 0 }],
      message: /trigger: argument `k` must be a whole number ≥ 1 \(or inf\); got 0/,
    },
    {
      name: 'trigger',
      args: [{ value: 2 }, { name: 'k', value: 3 }],
      message: /argument `k` given twice/,
    },
    {
      name: 'trigger',
      args: [{ name: 'patience', value: 3 }],
      message: /unknown argument `patience`; it accepts `k`, `tolerance`/,
    },
    {
      name: 'qlearning',
      args: [{ name: 'alpha', value: 2 }],
      message: /qlearning: argument `alpha` must be a number > 0 and ≤ 1; got 2/,
    },
    {
      name: 'qlearning',
      args: [{ name: 'delta', value: 1 }],
      message: /argument `delta` must be a number ≥ 0 and < 1/,
    },
    { name: 'qlearning', args: [{ name: 'memory', value: 2 }], message: /argument `memory`/ },
    { name: 'evader', args: [{ value: true }], message: /evader: argument `steps` .*got true/ },
    {
      name: 'noisy_nash',
      args: [{ name: 'noise', value: 1.5 }],
      message: /noisy_nash: argument `noise` must be a number ≥ 0 and ≤ 1; got 1.5/,
    },
  ])('rejects $name with $args', ({ name, args, message }) => {
    let error: unknown;
    try {
      agentFor(name, twoByTwo, 0, args as PolicyArgument[]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as Error).message).toMatch(message);
  });

  it('rejects a firm outside the market', () => {
    expect(() => agentFor('nash', twoByTwo, 2)).toThrow(PolicyError);
  });
});
