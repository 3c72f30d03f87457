import { describe, expect, it } from 'vitest';
import { compileSources, type IrEnvironment, type ParamValue } from '../../../compiler/index.js';
import { instantiateEnvironment, stdlibSources } from '../../../runtime/index.js';
import { environmentConformance } from '../../support/environment-conformance.js';

/**
 * Every environment of the stdlib passes the conformance kit (test/support/
 * environment-conformance.ts), at its defaults and at other parameter values; and the kit
 * finds what a broken environment gets wrong, so it can fail.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;

const VARIANTS: Record<string, Record<string, ParamValue>[]> = {
  auction: [{}, { bidders: 2, payment: 'second' }, { bidders: 7, max_value: 10 }],
  commons: [{}, { fishers: 2, growth: 1.5 }, { fishers: 12, capacity: 500, stock: 50 }],
  feed: [
    {},
    { users: 3, posts_per_round: 1, feed_size: 2, ranking: 'random', visibility: 'hidden' },
    { users: 2, lifetime: 1, ranking: 'recency', inject_round: 0, inject_votes: 3 },
  ],
  infection: [{}, { hosts: 3, patients: 3, inject_round: 2 }],
  relay: [{}, { links: 2, seed_text: 'one', threshold: 0.9 }],
  covert: [{}, { digits: 2, signal_share: 1 }, { digits: 10, signal_share: 0 }],
  minimum_effort: [{}, { players: 2, levels: 3 }, { players: 9, c: 0.19 }],
};

describe('the stdlib environments conform', () => {
  it('every stdlib environment has variants here', () => {
    expect(program.environments.map((e) => e.name).sort()).toEqual(Object.keys(VARIANTS).sort());
  });

  for (const env of program.environments)
    for (const overrides of VARIANTS[env.name] ?? [{}])
      it(`${env.name}(${JSON.stringify(overrides)})`, () => {
        expect(environmentConformance(() => instantiateEnvironment(env, overrides))).toEqual([]);
      });
});

describe('the kit finds broken environments', () => {
  const broken = (text: string): IrEnvironment => {
    const result = compileSources([{ path: 'broken.mase', text }], stdlibSources());
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const env = result.program.environments.find((e) => e.name === 'broken');
    if (!env) throw new Error('no environment');
    return env;
  };

  it('a payoff that is infinite at the lower bound', () => {
    const env = broken(`mase 1
environment broken {
  agents player = 2
  action effort in [0, 1]
  payoff = 1 / effort
}
`);
    const problems = environmentConformance(() => instantiateEnvironment(env, {}));
    expect(
      problems.some(
        (p) => p.check === 'finite' && p.message.includes("player1's payoff is Infinity"),
      ),
    ).toBe(true);
  });

  // The language snaps benchmarks into bounds; a hand-made instance can still get them wrong.
  it('a benchmark outside the bounds, and a clear that changes the state', () => {
    const env = broken(`mase 1
environment broken {
  agents player = 2
  action effort in [0, 1]
  state pool = 1
  payoff = effort
  next pool = pool + 1
}
`);
    const wrong = () => {
      const instance = instantiateEnvironment(env, {});
      return {
        ...instance,
        benchmarks: new Map([
          ['far', { action: Float64Array.of(5, 5), payoff: Float64Array.of(5, 5) }],
        ]),
        clear(action: Float64Array, round: number) {
          const outcome = instance.clear(action, round);
          instance.advance(outcome);
          return outcome;
        },
      };
    };
    const problems = environmentConformance(wrong);
    expect(problems).toContainEqual({
      check: 'benchmarks',
      message: "far: player1's action 5 is not lawful",
    });
    expect(problems).toContainEqual({
      check: 'purity',
      message: 'clear changed the state (only advance may)',
    });
  });
});
