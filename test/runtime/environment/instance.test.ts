import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSources, type IrEnvironment } from '../../../compiler/index.js';
import { instantiateEnvironment, stdlibSources } from '../../../runtime/index.js';
import { runs } from '../../properties/institution-arbitrary.js';

/**
 * The stdlib environments, driven round by round through `clear` and `advance`, against
 * their published rules (stdlib/commons.mase, stdlib/minimum-effort.mase) restated here by
 * hand: rationing conserves the fish, the stock regrows as declared, and every player of the
 * minimum-effort game earns a + b·min − c·own.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
function environment(name: string): IrEnvironment {
  const found = program.environments.find((e) => e.name === name);
  if (!found) throw new Error(`stdlib environment ${name} is missing`);
  return found;
}
const commons = environment('commons');
const minimumEffort = environment('minimum_effort');

/** Sums of up to a few hundred terms differ from a hand sum in the last bits only. */
const slack = (scale: number) => 1e-9 * Math.max(1, Math.abs(scale));
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const numbers = (t: { data: Float64Array } | undefined) => Array.from(t?.data ?? []);

/** A share from 0 to 1 in thousandths (no subnormal numbers, many exact ties and zeros). */
const share = fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000);

/** Parameters of a commons, and one request per fisher for each of a few rounds. */
const commonsCase = fc
  .record({
    fishers: fc.integer({ min: 1, max: 8 }),
    capacity: fc.integer({ min: 1, max: 1000 }),
    stockShare: share,
    growth: fc.integer({ min: 100, max: 400 }).map((x) => x / 100),
    collapse: fc.integer({ min: 0, max: 5000 }).map((x) => x / 100),
    randomOrder: fc.boolean(),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .chain((p) =>
    fc.record({
      params: fc.constant(p),
      // Each request a share of the capacity (0 … the whole of it).
      requests: fc.array(
        fc.array(share, {
          minLength: p.fishers,
          maxLength: p.fishers,
        }),
        { minLength: 1, maxLength: 6 },
      ),
    }),
  );

describe('commons: rationing and regrowth', () => {
  it('no one catches more than asked or less than nothing; all together catch the stock or all requests, whichever is less (both rationing rules)', () => {
    fc.assert(
      fc.property(commonsCase, ({ params, requests }) => {
        const stock = params.stockShare * params.capacity;
        const env = instantiateEnvironment(
          commons,
          {
            fishers: params.fishers,
            capacity: params.capacity,
            stock,
            growth: params.growth,
            collapse: params.collapse,
            random_order: params.randomOrder,
          },
          params.seed,
        );
        let fish = stock;
        for (const [k, shares] of requests.entries()) {
          const asked = shares.map((s) => s * params.capacity);
          const outcome = env.clear(Float64Array.from(asked), k + 1);
          const caught = numbers(outcome.values.get('caught'));
          expect(numbers(outcome.values.get('fish'))).toEqual([fish]);
          expect(caught).toHaveLength(params.fishers);
          expect(Array.from(outcome.payoff)).toEqual(caught);
          const total = sum(caught);
          for (const [i, c] of caught.entries()) {
            expect(c).toBeGreaterThanOrEqual(-slack(fish));
            expect(c).toBeLessThanOrEqual((asked[i] ?? 0) + slack(asked[i] ?? 0));
          }
          expect(total).toBeLessThanOrEqual(fish + slack(fish));
          const requested = sum(asked);
          expect(total).toBeCloseTo(Math.min(fish, requested), 6);
          if (requested <= fish) {
            // Enough fish for everyone: each gets exactly what it asked for.
            expect(caught).toEqual(asked);
          } else if (!params.randomOrder) {
            // Too little: the whole stock is shared in proportion to the requests.
            for (const [i, c] of caught.entries())
              expect(c).toBeCloseTo(((asked[i] ?? 0) * fish) / requested, 6);
          } else {
            // Too little, served in this round's order (lowest draw first, ties by index):
            // each gets its request or what the earlier ones left, whichever is less.
            const order = numbers(env.draws(k + 1).get('order'));
            const queue = asked
              .map((_, i) => i)
              .sort((a, b) => (order[a] ?? 0) - (order[b] ?? 0) || a - b);
            let remaining = fish;
            for (const i of queue) {
              const expected = Math.min(asked[i] ?? 0, Math.max(0, remaining));
              expect(caught[i]).toBeCloseTo(expected, 6);
              remaining -= asked[i] ?? 0;
            }
          }
          const left = fish - total;
          const next = Math.min(params.capacity, params.growth * left);
          const ended = left < params.collapse;
          expect(numbers(outcome.next.get('fish'))[0]).toBeCloseTo(next, 6);
          if (Math.abs(left - params.collapse) > slack(fish)) expect(outcome.ended).toBe(ended);
          if (outcome.ended) break;
          env.advance(outcome);
          fish = numbers(env.state().get('fish'))[0] ?? Number.NaN;
          expect(fish).toBeLessThanOrEqual(params.capacity);
        }
      }),
      runs(200),
    );
  });

  it('clear is a pure function of the state: a hypothetical round leaves the stock alone', () => {
    const env = instantiateEnvironment(commons, {});
    const greedy = env.clear(new Float64Array(5).fill(100), 1);
    expect(greedy.ended).toBe(true);
    expect(numbers(env.state().get('fish'))).toEqual([100]);
    const modest = env.clear(new Float64Array(5).fill(10), 1);
    expect(numbers(modest.values.get('caught'))).toEqual([10, 10, 10, 10, 10]);
    expect(modest.ended).toBe(false);
  });

  it('the benchmarks are the sustainable share and the whole capacity', () => {
    const env = instantiateEnvironment(commons, { fishers: 4, capacity: 80, growth: 4 });
    // capacity · (1 − 1/growth) / fishers = 80 · 0.75 / 4 = 15.
    expect(Array.from(env.benchmarks.get('sustainable')?.action ?? [])).toEqual([15, 15, 15, 15]);
    expect(Array.from(env.benchmarks.get('greedy')?.action ?? [])).toEqual([80, 80, 80, 80]);
    // All four ask for 80 from a stock of 100: each gets a quarter.
    expect(Array.from(env.benchmarks.get('greedy')?.payoff ?? [])).toEqual([25, 25, 25, 25]);
  });
});

describe('minimum_effort: payoffs', () => {
  const cents = (max: number) => fc.integer({ min: -max, max }).map((x) => x / 100);
  const effortCase = fc
    .record({
      players: fc.integer({ min: 1, max: 8 }),
      levels: fc.integer({ min: 1, max: 12 }),
      a: cents(500),
      b: cents(100),
      c: cents(100),
    })
    .chain((p) =>
      fc.record({
        params: fc.constant(p),
        efforts: fc.array(fc.integer({ min: 1, max: p.levels }), {
          minLength: p.players,
          maxLength: p.players,
        }),
      }),
    );

  it('every player earns a + b·(group minimum) − c·(own effort)', () => {
    fc.assert(
      fc.property(effortCase, ({ params, efforts }) => {
        const env = instantiateEnvironment(minimumEffort, params);
        expect(env.agents).toHaveLength(params.players);
        const outcome = env.clear(Float64Array.from(efforts), 1);
        const low = Math.min(...efforts);
        expect(numbers(outcome.values.get('group_min'))).toEqual([low]);
        for (const [i, e] of efforts.entries())
          expect(outcome.payoff[i]).toBeCloseTo(params.a + params.b * low - params.c * e, 9);
        expect(outcome.ended).toBe(false);
      }),
      runs(200),
    );
  });

  it('the benchmarks are the highest and the lowest level', () => {
    const env = instantiateEnvironment(minimumEffort, { players: 3, levels: 5 });
    expect(Array.from(env.benchmarks.get('payoff_dominant')?.action ?? [])).toEqual([5, 5, 5]);
    expect(Array.from(env.benchmarks.get('secure')?.action ?? [])).toEqual([1, 1, 1]);
    // 0.6 + 0.2·5 − 0.1·5 = 1.1 and 0.6 + 0.2 − 0.1 = 0.7.
    for (const x of env.benchmarks.get('payoff_dominant')?.payoff ?? []) expect(x).toBeCloseTo(1.1);
    for (const x of env.benchmarks.get('secure')?.payoff ?? []) expect(x).toBeCloseTo(0.7);
  });
});

describe('instantiateEnvironment refuses what no run can use', () => {
  it.each([
    [{ fishers: 0 }, /no fishers/],
    [{ capacity: -1 }, /lower bound must not exceed the upper/],
  ])('commons with %o', (overrides, message) => {
    expect(() => instantiateEnvironment(commons, overrides)).toThrow(message);
  });
});
