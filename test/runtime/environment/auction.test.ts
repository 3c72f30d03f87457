import { describe, expect, it } from 'vitest';
import {
  compileSources,
  gini,
  type IrEnvironment,
  type IrPolicy,
  type ParamValue,
} from '../../../compiler/index.js';
import {
  bestResponse,
  environmentPromptValues,
  instantiateEnvironment,
  parseTrace,
  stdlibSources,
} from '../../../runtime/index.js';
import { environmentRunner } from '../../support/environment-run.js';

/**
 * stdlib/auction.mase, the first environment with a `draw`: each bidder's value is drawn
 * afresh each round from a stream seeded by the run's seed and the draw's name. Its rules,
 * restated by hand: the highest bid wins (ties share), paying its own bid (first price) or
 * the second-highest bid (second price); payoff = share · (value − price); revenue = Σ price;
 * revenue_ratio = revenue / Σ_t second-highest value; rotation_index = 1 − Gini of wins;
 * shading = 1 − Σ bids / Σ values.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
const auction = program.environments.find((e) => e.name === 'auction') as IrEnvironment;
const values = (env: ReturnType<typeof instantiateEnvironment>, round: number) =>
  Array.from(env.draws(round).get('value')?.data ?? []);

describe('auction: seeded draws', () => {
  it('the same seed draws the same values; another seed others; all within [0, max_value]', () => {
    const a = instantiateEnvironment(auction, {}, 11);
    const b = instantiateEnvironment(auction, {}, 11);
    const c = instantiateEnvironment(auction, {}, 12);
    for (const round of [1, 2, 3]) {
      expect(values(b, round)).toEqual(values(a, round));
      expect(values(c, round)).not.toEqual(values(a, round));
      expect(values(a, round)).toHaveLength(3);
      for (const v of values(a, round)) expect(v >= 0 && v <= 100).toBe(true);
    }
    // A later round is its own draw, not the first again.
    expect(values(a, 2)).not.toEqual(values(a, 1));
    const scaled = instantiateEnvironment(auction, { max_value: 10, bidders: 5 }, 11);
    expect(values(scaled, 1)).toHaveLength(5);
    for (const v of values(scaled, 1)) expect(v >= 0 && v <= 10).toBe(true);
  });

  it('a round drawn out of order is the round it would have been drawn in order', () => {
    const inOrder = instantiateEnvironment(auction, {}, 5);
    const expected = [1, 2, 3, 4].map((r) => values(inOrder, r));
    const outOfOrder = instantiateEnvironment(auction, {}, 5);
    expect(values(outOfOrder, 4)).toEqual(expected[3]);
    expect(values(outOfOrder, 2)).toEqual(expected[1]);
    // Asked again, the same numbers (what the agents saw is what the round clears with).
    expect(values(outOfOrder, 4)).toEqual(expected[3]);
  });

  it('clear pays the winner its value minus the price, with the round’s draws', () => {
    const env = instantiateEnvironment(auction, {}, 3);
    const v = values(env, 1);
    const first = env.clear(Float64Array.of(10, 30, 20), 1);
    expect(Array.from(first.payoff)).toEqual([0, (v[1] ?? 0) - 30, 0]);
    expect(numbersOf(first.values.get('value'))).toEqual(v);
    const second = instantiateEnvironment(auction, { payment: 'second' }, 3).clear(
      Float64Array.of(10, 30, 20),
      1,
    );
    expect(Array.from(second.payoff)).toEqual([0, (v[1] ?? 0) - 20, 0]);
    // A tie of the top two bids: each gets half the item and pays half the price.
    const tie = env.clear(Float64Array.of(30, 30, 20), 1);
    expect(Array.from(tie.payoff)).toEqual([((v[0] ?? 0) - 30) / 2, ((v[1] ?? 0) - 30) / 2, 0]);
  });
});

function numbersOf(t: { data: Float64Array } | undefined): number[] {
  return Array.from(t?.data ?? []);
}

const runEnvironment = environmentRunner('auction');
const run = (
  policy: IrPolicy,
  options: { rounds: number; seed: number; params?: Record<string, ParamValue> },
) => runEnvironment('auction', policy, options);

/** Each round's drawn values and bids, as the trace records them. */
function rounds(events: string): { value: number[]; bid: number[]; payoff: number[] }[] {
  return parseTrace(events).flatMap((e) =>
    e.type === 'environment'
      ? [
          {
            value: e.values.value as number[],
            bid: e.values.bid as number[],
            payoff: e.values.payoff as number[],
          },
        ]
      : [],
  );
}

const secondHighest = (xs: readonly number[]) => [...xs].sort((a, b) => b - a)[1] ?? 0;

describe('auction runs, worked out by hand from the drawn values', () => {
  it('truthful bidders, second price: revenue is Σ second-highest value, so revenue_ratio is exactly 1', async () => {
    const { metrics, events } = await run(
      { name: 'truthful', args: [] },
      { rounds: 6, seed: 4, params: { payment: 'second' } },
    );
    const played = rounds(events);
    expect(played).toHaveLength(6);
    // Agents saw this round's value before bidding: each bid is the value drawn that round.
    for (const r of played) expect(r.bid).toEqual(r.value);
    const revenue = played.reduce((s, r) => s + secondHighest(r.value), 0);
    expect(metrics.macro.revenue).toBeCloseTo(revenue, 9);
    expect(metrics.macro.revenue_ratio).toBe(1);
    expect(metrics.macro.shading).toBe(0);
  });

  it('shading bidders, first price, two rounds: bid 0.8·value, the winner keeps 0.2·its value', async () => {
    const { metrics, events } = await run({ name: 'shade', args: [] }, { rounds: 2, seed: 9 });
    const played = rounds(events);
    expect(played).toHaveLength(2);
    const wins = [0, 0, 0];
    let revenue = 0;
    let truthfulSecondPrice = 0;
    for (const r of played) {
      const top = Math.max(...r.value);
      const winner = r.value.indexOf(top);
      wins[winner] = (wins[winner] ?? 0) + 1;
      expect(r.bid).toEqual(r.value.map((v) => 0.8 * v));
      expect(r.payoff).toEqual(r.value.map((v, i) => (i === winner ? v - 0.8 * v : 0)));
      revenue += 0.8 * top;
      truthfulSecondPrice += secondHighest(r.value);
    }
    expect(metrics.macro.revenue).toBeCloseTo(revenue, 9);
    expect(metrics.macro.revenue_ratio).toBeCloseTo(revenue / truthfulSecondPrice, 9);
    expect(metrics.macro.rotation_index).toBeCloseTo(1 - gini(wins), 12);
    // Every bid is 0.8 of its value: 1 − Σ bids / Σ values = 0.2.
    expect(metrics.macro.shading).toBeCloseTo(0.2, 12);
  });

  it('shade(0.5): the argument replaces the default 0.8', async () => {
    const { events } = await run({ name: 'shade', args: [{ value: 0.5 }] }, { rounds: 2, seed: 9 });
    for (const r of rounds(events)) expect(r.bid).toEqual(r.value.map((v) => 0.5 * v));
  });

  it('the same seed gives byte-identical events; another seed other values', async () => {
    const truthful: IrPolicy = { name: 'truthful', args: [] };
    const a = await run(truthful, { rounds: 3, seed: 21 });
    const b = await run(truthful, { rounds: 3, seed: 21 });
    const c = await run(truthful, { rounds: 3, seed: 22 });
    expect(b.events).toBe(a.events);
    expect(rounds(c.events)[0]?.value).not.toEqual(rounds(a.events)[0]?.value);
  });
});

describe('auction: what an LLM bidder is told', () => {
  it('its own value this round, before it bids', () => {
    const env = instantiateEnvironment(auction, {}, 2);
    const own = values(env, 3)[1] ?? Number.NaN;
    const prompt = environmentPromptValues(
      { round: 3, firm: 1, environment: env, history: [], messages: [] },
      { plans: '', insights: '' },
      5,
      '{"bid": <number>}',
    );
    expect(prompt.status).toMatch(/^Your value this round: [0-9.]+$/);
    expect(Number(prompt.status.split(': ')[1])).toBeCloseTo(own, 2);
    // The rules say how values are drawn.
    expect(prompt.rules).toContain(
      "before anyone acts, each bidder's own value is drawn afresh, uniformly from [0, 100]",
    );
  });
});

describe('auction: best_response', () => {
  /** Agent 0's best bid on the grid 0, 1, …, 100 against two rivals at 50, first price, by hand. */
  const byHand = (value: number) => {
    let best = 0;
    let bestPayoff = Number.NEGATIVE_INFINITY;
    for (let x = 0; x <= 100; x++) {
      const payoff = x > 50 ? value - x : x === 50 ? (value - 50) / 3 : 0;
      if (payoff > bestPayoff + 1e-12) {
        best = x;
        bestPayoff = payoff;
      }
    }
    return best;
  };

  it("searches against this round's value, not last round's", () => {
    // A seed whose bidder1 values in rounds 1 and 2 call for different best bids.
    const seed = [1, 2, 3, 4, 5, 6, 7, 8].find((s) => {
      const env = instantiateEnvironment(auction, {}, s);
      return byHand(values(env, 1)[0] ?? 0) !== byHand(values(env, 2)[0] ?? 0);
    });
    expect(seed).toBeDefined();
    const env = instantiateEnvironment(auction, {}, seed);
    const actions = Float64Array.of(0, 50, 50);
    const history = [{ actions, outcome: env.clear(actions, 1) }];
    const bid = bestResponse({ round: 2, firm: 0, environment: env, history }, 0);
    expect(bid).toBe(byHand(values(env, 2)[0] ?? 0));
  });
});
