import { describe, expect, it } from 'vitest';
import { compileSources, formatSource } from '../../../compiler/index.js';
import type { SourceFile } from '../../../grammar/index.js';
import { stdlibSources } from '../../../runtime/index.js';

/**
 * Diagnostics of `environment` declarations (compiler/check/environment.ts) and of
 * institutions and experiments that use one. Each case asserts the code and that the
 * message names what the reader must fix.
 */

const compile = (text: string) => compileSources([{ path: 'case.mase', text }], stdlibSources());
const errors = (text: string) =>
  compile(text).diagnostics.filter((d) => d.severity === 'error' || d.severity === 'warning');

/** A smallest environment: two players choose an effort in [0, 1] and keep what they save. */
const TINY = `mase 1
environment tiny "Tiny" {
  param players = 2 "players"
  agents player = players
  action effort in [0, 1]
  payoff = 1 - effort
}
`;
/** TINY with `payoff = …` replaced by the given lines, each indented. */
const tinyWith = (...lines: string[]) =>
  TINY.replace('  payoff = 1 - effort\n', lines.map((l) => `  ${l}\n`).join(''));

const watch = (scope: string, monitor: string) => `mase 1
institution watch "Watches one value" {
  scope per ${scope}
  monitor high = ${monitor}
  initial state ok "Fine" { when high -> bad }
  state bad "Flagged" { when not high -> ok }
}
`;

describe('a valid environment', () => {
  it('has no diagnostics and checks into IR with its agent axis', () => {
    const result = compile(TINY);
    expect(result.diagnostics).toEqual([]);
    const env = result.program.environments.find((e) => e.name === 'tiny');
    expect(env?.axis).toBe('player');
    expect(env?.action.variable).toBe('effort');
    // Without `observe`, each agent sees its own action and payoff.
    expect(env?.observe).toEqual([
      { name: 'effort', own: true },
      { name: 'payoff', own: true },
    ]);
  });

  it('the stdlib environments and their institution check cleanly', () => {
    const result = compileSources([], stdlibSources(), { includeLibrary: true });
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(result.program.environments.map((e) => e.name).sort()).toEqual([
      'auction',
      'commons',
      'covert',
      'feed',
      'infection',
      'minimum_effort',
      'relay',
    ]);
  });
});

describe('names in an environment', () => {
  it('an unknown name in the payoff: E_UNKNOWN_NAME naming it, with the near miss', () => {
    const [d, ...rest] = errors(tinyWith('payoff = 1 - efort'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_UNKNOWN_NAME');
    expect(d?.message).toBe('unknown name `efort` in environment `tiny`');
    expect(d?.hint).toContain('`effort`');
    expect(d?.range.start.line).toBe(6);
  });

  it('a state declared twice: E_DUPLICATE naming it, the environment and the first line', () => {
    const [d, ...rest] = errors(tinyWith('state stock = 1', 'state stock = 2', 'payoff = 1'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toContain('`stock` is declared twice in environment `tiny`');
    expect(d?.message).toContain('first at line 6');
    expect(d?.range.start.line).toBe(7);
  });

  it('a let reusing a state name: E_DUPLICATE', () => {
    const [d] = errors(tinyWith('state s = 1', 'let s = 2', 'payoff = s'));
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toContain('`s` is declared twice in environment `tiny`');
  });

  it('a state named like a builtin: E_DUPLICATE saying the environment already gives it', () => {
    const [d] = errors(tinyWith('state round = 1', 'payoff = 1'));
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toContain('`round` is a name the environment already gives');
  });

  it('`next` of no state: E_UNKNOWN_NAME naming it', () => {
    const [d] = errors(tinyWith('state stock = 1', 'next stok = 2', 'payoff = stock'));
    expect(d?.code).toBe('E_UNKNOWN_NAME');
    expect(d?.message).toContain('`next stok` names no state variable');
    expect(d?.hint).toContain('`stock`');
  });

  it('observing what the environment lacks: E_UNKNOWN_OBSERVABLE naming both', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'observe efort'));
    expect(d?.code).toBe('E_UNKNOWN_OBSERVABLE');
    expect(d?.message).toBe('environment `tiny` provides no observable `efort`');
    expect(d?.hint).toContain('`effort`');
  });

  it('`own` on a value that is the same for every agent: E_SHAPE naming the axis', () => {
    const [d] = errors(tinyWith('state s = 1', 'payoff = s', 'observe own s'));
    expect(d?.code).toBe('E_SHAPE');
    expect(d?.message).toContain('each player only its own entry');
    expect(d?.message).toContain('`s`');
  });

  it('`product` as the agent axis: E_SCOPE', () => {
    const [d] = errors(TINY.replace('agents player', 'agents product'));
    expect(d?.code).toBe('E_SCOPE');
    expect(d?.message).toContain('`product` cannot name an agent axis');
  });
});

describe('the items of an environment', () => {
  it('no payoff: E_MISSING naming the environment and the item', () => {
    const [d, ...rest] = errors(tinyWith());
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_MISSING');
    expect(d?.message).toBe('environment `tiny` has no `payoff` item');
  });

  it('two payoffs: E_DUPLICATE at the second', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'payoff = effort'));
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toContain('one `payoff` item');
    expect(d?.range.start.line).toBe(7);
  });

  it('an action bound that is not a number: E_TYPE naming the bound, reported once', () => {
    const [d, ...rest] = errors(TINY.replace('[0, 1]', '["low", 1]'));
    // The payoff's use of `effort` is not an unknown name on top of it.
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_TYPE');
    expect(d?.message).toContain('an action bound must be a number');
    expect(d?.message).toContain('"low"');
  });

  it('bounds the wrong way round and a step that is not positive: E_VALUE, for defaults and overrides', () => {
    expect(errors(TINY.replace('[0, 1]', '[2, 1]')).map((d) => [d.code, d.message])).toEqual([
      ['E_VALUE', 'the lower bound of `effort` (2) is above its upper bound (1)'],
    ]);
    expect(errors(TINY.replace('[0, 1]', '[0, 1] step 0')).map((d) => d.message)).toEqual([
      'the step of `effort` must be positive (it is 0)',
    ]);
    // A bound that is a parameter is checked with each use's value.
    const top = `${TINY.replace('param players = 2 "players"', 'param players = 2 "players"\n  param top = 1 "the most effort"').replace('[0, 1]', '[0, top]')}
experiment e {
  environment tiny(top: -1)
  institution none
  agents constant(0)
}
`;
    const [d, ...rest] = errors(top);
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_VALUE');
    expect(d?.message).toBe('the lower bound of `effort` (0) is above its upper bound (-1)');
    expect(d?.range.start.line).toBe(11);
  });

  it('an end condition that is a number: E_TYPE naming the condition', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'end when effort'));
    expect(d?.code).toBe('E_TYPE');
    expect(d?.message).toContain('the end condition must be a true/false value');
    // In the environment's own words: its agents are players.
    expect(d?.message).toContain('is a per-player number');
  });

  it('a metric with one value per agent: E_SHAPE naming the metric', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'metric m = effort "per agent"'));
    expect(d?.code).toBe('E_SHAPE');
    expect(d?.message).toContain('the metric `m` must be a single value');
  });

  it('a parameter nothing uses: W_UNUSED naming it', () => {
    const [d, ...rest] = errors(
      TINY.replace('  param players', '  param spare = 3 "spare"\n  param players'),
    );
    expect(rest).toEqual([]);
    expect(d?.code).toBe('W_UNUSED');
    expect(d?.severity).toBe('warning');
    expect(d?.message).toBe('parameter `spare` is never used');
  });
});

describe('draws', () => {
  it('a draw is a per-agent number the round, the payoff and policies read; its bounds are checked into the IR', () => {
    const result = compile(
      tinyWith(
        'draw luck = uniform(0, players) "a windfall"',
        'let gain = luck - effort',
        'payoff = gain',
        'observe own luck, own payoff',
        'policy lucky = luck / 10',
      ),
    );
    expect(result.diagnostics).toEqual([]);
    const env = result.program.environments.find((e) => e.name === 'tiny');
    expect(env?.draws.map((d) => [d.name, d.low.text, d.high.text, d.doc])).toEqual([
      ['luck', '0', 'players', 'a windfall'],
    ]);
    expect(env?.lets[0]?.value.type).toEqual({ base: 'number', axes: ['firm'] });
  });

  it('a draw that is not a call of uniform: E_TYPE naming the draw and uniform', () => {
    const [d, ...rest] = errors(tinyWith('draw luck = 3', 'payoff = luck - effort'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_TYPE');
    expect(d?.message).toBe(
      'the draw `luck` must be a call of `uniform`: draws know one distribution',
    );
    const [n] = errors(tinyWith('draw luck = normal(0, 1)', 'payoff = luck - effort'));
    expect(n?.code).toBe('E_TYPE');
  });

  it('uniform with one argument, or named ones: E_ARITY saying it takes two', () => {
    const [d, ...rest] = errors(tinyWith('draw luck = uniform(1)', 'payoff = luck - effort'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_ARITY');
    expect(d?.message).toContain('`uniform` takes two arguments');
    expect(d?.message).toContain('gives 1');
    const [named] = errors(
      tinyWith('draw luck = uniform(low: 0, high: 1)', 'payoff = luck - effort'),
    );
    expect(named?.code).toBe('E_ARITY');
    expect(named?.message).toContain('named arguments are not accepted');
  });

  it('a bound that reads the round (an observable, the action): an error naming the bound', () => {
    const [d] = errors(tinyWith('draw luck = uniform(0, effort)', 'payoff = luck - effort'));
    expect(d?.code).toBe('E_UNKNOWN_NAME');
    expect(d?.message).toContain('`effort`');
    const [t] = errors(tinyWith('draw luck = uniform(0, 1 > 0)', 'payoff = luck - effort'));
    expect(t?.code).toBe('E_TYPE');
    expect(t?.message).toContain('the upper bound of the draw `luck`');
  });

  it('a draw named like a let: E_DUPLICATE; a draw cannot be a benchmark (fixed before round 1)', () => {
    const [d] = errors(
      tinyWith('draw luck = uniform(0, 1)', 'let luck = 2', 'payoff = luck - effort'),
    );
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toContain('`luck` is declared twice');
    const [b] = errors(
      tinyWith('draw luck = uniform(0, 1)', 'payoff = luck - effort', 'benchmark b = luck'),
    );
    expect(b?.code).toBe('E_UNKNOWN_NAME');
    expect(b?.message).toContain('`luck`');
  });
});

describe('policies with arguments', () => {
  it('`policy NAME(ARG = DEFAULT) = …`: the argument is a number the action reads; the default is checked into the IR', () => {
    const result = compile(tinyWith('payoff = 1 - effort', 'policy part(f = 1 / players) = f'));
    expect(result.diagnostics).toEqual([]);
    const policy = result.program.environments.find((e) => e.name === 'tiny')?.policies[0];
    expect(policy?.params?.map((p) => [p.name, p.default.text])).toEqual([['f', '1 / players']]);
  });

  it('an argument reusing a declared name: E_DUPLICATE naming both', () => {
    const [d, ...rest] = errors(
      tinyWith('payoff = 1 - effort', 'policy part(players = 1) = players / 2'),
    );
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toBe(
      'the argument `players` of the policy `part` reuses a name environment `tiny` already has',
    );
  });

  it('a default that reads the round: an error naming the default', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'policy part(f = effort) = f'));
    expect(d?.code).toBe('E_UNKNOWN_NAME');
    const [t] = errors(tinyWith('payoff = 1 - effort', 'policy part(f = 1 > 0) = 1'));
    expect(t?.code).toBe('E_TYPE');
    expect(t?.message).toContain('the default of `f` in the policy `part`');
  });

  it('arguments on a metric: E_SYNTAX saying only a policy takes them', () => {
    const [d] = errors(tinyWith('payoff = 1 - effort', 'metric m(f = 1) = round'));
    expect(d?.code).toBe('E_SYNTAX');
    expect(d?.message).toBe('only a policy takes arguments; `metric m(…)` cannot');
  });
});

describe('institutions and experiments on an environment', () => {
  it('an institution per fisher monitoring `price`: E_UNKNOWN_OBSERVABLE naming `price` and commons', () => {
    const [d, ...rest] = errors(watch('fisher', 'price > 10'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_UNKNOWN_OBSERVABLE');
    expect(d?.message).toContain('`price`');
    expect(d?.message).toContain('environment `commons`');
    expect(d?.hint).toContain('fish');
  });

  it('the same institution monitoring `harvest` is fine', () => {
    expect(errors(watch('fisher', 'harvest[self] > sustainable.harvest[self]'))).toEqual([]);
  });

  it('a market institution (scope per firm) used with commons: E_UNKNOWN_OBSERVABLE for what it reads', () => {
    const result = compile(`mase 1
experiment e "governance_graph on commons" {
  environment commons
  institution governance_graph
}
`);
    const first = result.diagnostics[0];
    expect(result.ok).toBe(false);
    expect(first?.code).toBe('E_UNKNOWN_OBSERVABLE');
    expect(first?.message).toContain('`quantity`');
    expect(first?.message).toContain('environment `commons`');
    expect(first?.path).toMatch(/governance-graph\.mase$/);
  });

  it('an institution per player used with commons (fishers): E_SCOPE naming both axes', () => {
    const result = compile(`${watch('player', 'payoff[self] > 10')}
experiment e "players on commons" {
  environment commons
  institution watch
}
`);
    const scope = result.diagnostics.find((d) => d.code === 'E_SCOPE');
    expect(scope?.message).toBe('environment `commons` has fishers, not players');
    expect(scope?.hint).toBe('write `scope per fisher`');
  });

  it('the commons institution used with a market: E_SCOPE', () => {
    const result = compile(`mase 1
experiment e "harvest_quota on cournot" {
  market cournot
  institution harvest_quota
}
`);
    const scope = result.diagnostics.find((d) => d.code === 'E_SCOPE');
    expect(scope?.message).toBe('a market has firms, not fishers');
  });

  it('`environment NAME(args)` with an unknown parameter: E_UNKNOWN_PARAM with the near miss', () => {
    const [d, ...rest] = errors(`${TINY}
experiment e "e" {
  environment tiny(plyers: 3)
}
`);
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_UNKNOWN_PARAM');
    expect(d?.message).toBe('`tiny` has no parameter `plyers`');
    expect(d?.hint).toContain('`players`');
  });

  it('`environment commons(fishers: 0)`: a value error naming the fishers', () => {
    const [d] = errors(`mase 1
experiment e "no fishers" {
  environment commons(fishers: 0)
}
`);
    expect(d?.code).toBe('E_VALUE');
    expect(d?.message).toContain('fishers');
  });
});

describe('environments of a code kind (`kind`, `computed`, benchmarks without a value)', () => {
  const KINDED = `mase 1
environment pot "A pot computed in code" {
  kind pot
  param players = 2 "players"
  param factor = 2 "read by the code only"
  agents player = players
  action effort in [0, 1]
  computed pot "the pot"
  computed share per player "each one's share"
  payoff = share - effort
  benchmark none "nobody gives"
  metric mean_pot = mean_last(pot, round) "mean pot"
}
`;

  it('checks into IR: computed values typed by `per`, value-less benchmarks, no W_UNUSED for what the code reads', () => {
    const result = compile(KINDED);
    expect(result.diagnostics).toEqual([]);
    const env = result.program.environments.find((e) => e.name === 'pot');
    expect(env?.code).toEqual({
      kind: 'pot',
      computed: [
        { name: 'pot', type: { base: 'number', axes: [] }, doc: 'the pot' },
        { name: 'share', type: { base: 'number', axes: ['firm'] }, doc: "each one's share" },
      ],
    });
    expect(env?.benchmarks).toEqual([{ name: 'none', doc: 'nobody gives' }]);
  });

  it('`computed` without `kind`: E_MISSING saying a code kind must compute it', () => {
    const [d, ...rest] = errors(tinyWith('computed pot', 'payoff = pot - effort'));
    expect(rest).toEqual([]);
    expect(d?.code).toBe('E_MISSING');
    expect(d?.message).toBe(
      '`computed pot` needs the code kind that computes it, and environment `tiny` names none',
    );
  });

  it('`computed … per` another axis: E_SCOPE naming the environment`s axis', () => {
    const [d] = errors(KINDED.replace('computed share per player', 'computed share per fisher'));
    expect(d?.code).toBe('E_SCOPE');
    expect(d?.message).toBe(
      '`per fisher` is not an axis of environment `pot`; its agents are players',
    );
  });

  it('a benchmark without a value and no kind, a metric without a value: E_MISSING', () => {
    const [b] = errors(tinyWith('payoff = 1 - effort', 'benchmark none "nobody"'));
    expect(b?.code).toBe('E_MISSING');
    expect(b?.message).toBe(
      'the benchmark `none` has no value, and environment `tiny` has no code kind to compute it',
    );
    const [m] = errors(
      KINDED.replace('metric mean_pot = mean_last(pot, round)', 'metric mean_pot'),
    );
    expect(m?.code).toBe('E_MISSING');
    expect(m?.message).toBe('the metric `mean_pot` has no value');
  });

  it('a second `kind`: E_DUPLICATE at the second', () => {
    const [d] = errors(KINDED.replace('  kind pot\n', '  kind pot\n  kind other\n'));
    expect(d?.code).toBe('E_DUPLICATE');
    expect(d?.message).toBe('an environment has one `kind` item; this is the second');
  });

  it('mase fmt prints the new items back as written', () => {
    const formatted = formatSource(compile(KINDED).files[0] as SourceFile);
    expect(formatted).toContain('  kind pot\n');
    expect(formatted).toContain('  computed share per player "each one\'s share"\n');
    expect(formatted).toContain('  benchmark none "nobody gives"\n');
    expect(compile(formatted).diagnostics).toEqual([]);
  });
});
