import { describe, expect, it } from 'vitest';
import { compileSources, formatSource, type IrSweep } from '../../compiler/index.js';
import { type Diagnostic, parse, type SourceFile } from '../../grammar/index.js';
import { stdlibSources } from '../../runtime/index.js';
import { stripRanges } from '../support/ast.js';

const library = stdlibSources();
const compile = (text: string) => compileSources([{ path: 'sweep.mase', text }], library);

/** `CODE line:col`, the way a reader finds a diagnostic in the source. */
const where = (d: Diagnostic) => `${d.code} ${d.range.start.line}:${d.range.start.column}`;

// Lines 1–7; a sweep appended by `withSweep` starts on line 8 and its items on line 9.
const BASE = `mase 1

experiment governed {
  market cournot_2x2(intercept: 120)
  institution governance_graph(fine_share: 0.4)
  agents llm(model: "local", memory: 5)
}
`;

/** A sweep on `governed`, one item a line from line 9 (`base governed` comes last). */
function withSweep(items: readonly string[], base = 'base governed'): string {
  return `${BASE}sweep s {\n${[...items, base].map((i) => `  ${i}`).join('\n')}\n}\n`;
}

/** The diagnostics of a sweep that is otherwise sound, as `CODE line:col`. */
const problems = (items: readonly string[], base?: string) =>
  compile(withSweep(items, base)).diagnostics.map(where);

describe('ranges over institution parameters', () => {
  const ranges = (range: string) => {
    const result = compile(withSweep([`factor institution.${range}`, 'design random(4)']));
    return {
      problems: result.diagnostics.map(where),
      range: result.program.sweeps[0]?.factors[0]?.range,
    };
  };

  it('checks both ends as the institution would, and draws whole numbers for round counts', () => {
    expect(ranges('fine_share in [0.1, 0.6]')).toEqual({
      problems: [],
      range: { low: 0.1, high: 0.6, integer: false },
    });
    // `persistence` is a number of rounds: 0 is refused at its end, as a level of 0 is,
    // and a range of whole numbers draws whole numbers.
    expect(ranges('persistence in [0, 3]').problems).toEqual(['E_VALUE 9:38']);
    expect(ranges('persistence in [1, 4]')).toEqual({
      problems: [],
      range: { low: 1, high: 4, integer: true },
    });
    expect(ranges('persistence in [1.5, 4]').problems).toEqual(['E_VALUE 9:38']);
  });
});

describe('a valid sweep', () => {
  it('compiles to the IR the runtime reads', () => {
    const result = compile(`${BASE}
sweep smoke "Two regimes, two populations" {
  base governed
  factor regime: institution = none | governance_graph(fine_share: 0.5)
  factor agents = qlearning | nash
  factor mix: agents.f1 = llm(model: "local") | qlearning
  factor market.intercept = 90 | 110
  factor rounds = 100 | 200
  factor memory = 0 | "all"
  factor talk = none | small_world(k: 2, p: 0.1)
  factor horizon = known | unknown
  factor continuation = 0.99 | 0.999
  design grid
  replicates 3
  seed 7
  budget tokens 2000000 cost 5.0
}
`);
    expect(result.diagnostics.map(where)).toEqual([]);
    const expected: IrSweep = {
      kind: 'sweep',
      name: 'smoke',
      title: 'Two regimes, two populations',
      path: 'sweep.mase',
      base: 'governed',
      factors: [
        {
          name: 'regime',
          target: { kind: 'institution' },
          levels: [
            { kind: 'ref', ref: { name: 'none', args: [] } },
            {
              kind: 'ref',
              ref: { name: 'governance_graph', args: [{ name: 'fine_share', value: 0.5 }] },
            },
          ],
        },
        {
          name: 'agents',
          target: { kind: 'agents' },
          levels: [
            { kind: 'ref', ref: { name: 'qlearning', args: [] } },
            { kind: 'ref', ref: { name: 'nash', args: [] } },
          ],
        },
        {
          name: 'mix',
          target: { kind: 'agents', firm: 'f1' },
          levels: [
            { kind: 'ref', ref: { name: 'llm', args: [{ name: 'model', value: 'local' }] } },
            { kind: 'ref', ref: { name: 'qlearning', args: [] } },
          ],
        },
        {
          name: 'market_intercept',
          target: { kind: 'param', owner: 'market', name: 'intercept' },
          levels: [
            { kind: 'value', value: 90 },
            { kind: 'value', value: 110 },
          ],
        },
        {
          name: 'rounds',
          target: { kind: 'rounds' },
          levels: [
            { kind: 'value', value: 100 },
            { kind: 'value', value: 200 },
          ],
        },
        {
          name: 'memory',
          target: { kind: 'memory' },
          levels: [
            { kind: 'value', value: 0 },
            { kind: 'value', value: 'all' },
          ],
        },
        {
          name: 'talk',
          target: { kind: 'talk' },
          levels: [
            { kind: 'ref', ref: { name: 'none', args: [] } },
            {
              kind: 'ref',
              ref: {
                name: 'small_world',
                args: [
                  { name: 'k', value: 2 },
                  { name: 'p', value: 0.1 },
                ],
              },
            },
          ],
        },
        {
          name: 'horizon',
          target: { kind: 'horizon' },
          levels: [
            { kind: 'value', value: 'known' },
            { kind: 'value', value: 'unknown' },
          ],
        },
        {
          name: 'continuation',
          target: { kind: 'continuation' },
          levels: [
            { kind: 'value', value: 0.99 },
            { kind: 'value', value: 0.999 },
          ],
        },
      ],
      design: { kind: 'grid' },
      replicates: 3,
      seed: 7,
      budget: { tokens: 2000000, cost: 5 },
    };
    expect(result.program.sweeps).toEqual([expected]);
  });

  it('takes the defaults: grid, one replicate, seed 1, no budget, names from targets', () => {
    const result = compile(
      withSweep([
        'factor institution.fine_share = 0.2 | 0.6',
        'factor agents.f2 = nash | collusive',
        'factor institution = none | constitutional',
      ]),
    );
    expect(result.diagnostics.map(where)).toEqual([]);
    expect(result.program.sweeps).toEqual([
      {
        kind: 'sweep',
        name: 's',
        title: 's',
        path: 'sweep.mase',
        base: 'governed',
        factors: [
          {
            name: 'institution_fine_share',
            target: { kind: 'param', owner: 'institution', name: 'fine_share' },
            levels: [
              { kind: 'value', value: 0.2 },
              { kind: 'value', value: 0.6 },
            ],
          },
          {
            name: 'agents_f2',
            target: { kind: 'agents', firm: 'f2' },
            levels: [
              { kind: 'ref', ref: { name: 'nash', args: [] } },
              { kind: 'ref', ref: { name: 'collusive', args: [] } },
            ],
          },
          {
            name: 'institution',
            target: { kind: 'institution' },
            levels: [
              { kind: 'ref', ref: { name: 'none', args: [] } },
              { kind: 'ref', ref: { name: 'constitutional', args: [] } },
            ],
          },
        ],
        design: { kind: 'grid' },
        replicates: 1,
        seed: 1,
      },
    ]);
  });

  it('draws ranges in random and Latin hypercube designs, whole numbers where they must be', () => {
    const text = `mase 1
experiment many { market cournot agents nash }
sweep sampled {
  base many
  factor market.slope in [0.5, 2]
  factor market.firms in [2, 6]
  factor rounds in [10, 50]
  factor memory in [0, 30]
  factor continuation in [0.9, 0.99]
  design latin_hypercube(20)
}
sweep drawn {
  base many
  factor market.intercept in [80, 120]
  design random(5)
  budget cost 1.5
}
`;
    const result = compile(text);
    expect(result.diagnostics.map(where)).toEqual([]);
    const [sampled, drawn] = result.program.sweeps;
    expect(sampled?.design).toEqual({ kind: 'latin_hypercube', points: 20 });
    expect(sampled?.factors.map((f) => [f.name, f.range])).toEqual([
      ['market_slope', { low: 0.5, high: 2, integer: false }],
      // `firms = firms` in cournot: the one parameter known to be a whole number.
      ['market_firms', { low: 2, high: 6, integer: true }],
      ['rounds', { low: 10, high: 50, integer: true }],
      ['memory', { low: 0, high: 30, integer: true }],
      ['continuation', { low: 0.9, high: 0.99, integer: false }],
    ]);
    expect(drawn).toMatchObject({ design: { kind: 'random', points: 5 }, budget: { cost: 1.5 } });
    expect(drawn?.factors[0]).not.toHaveProperty('levels');
  });

  it('accepts literal levels of every kind a parameter may hold', () => {
    const result = compile(`mase 1
experiment e { market cournot(firms: 2) agents nash }
sweep s {
  base e
  factor market.costs = 10 | [10, 20] | inf
  factor market.intercept = -5 | 1e3
}
`);
    expect(result.diagnostics.map(where)).toEqual([]);
    expect(result.program.sweeps[0]?.factors.map((f) => f.levels)).toEqual([
      [
        { kind: 'value', value: 10 },
        { kind: 'value', value: [10, 20] },
        { kind: 'value', value: Number.POSITIVE_INFINITY },
      ],
      [
        { kind: 'value', value: -5 },
        { kind: 'value', value: 1000 },
      ],
    ]);
  });

  it('lets a file hold several sweeps; only the user files produce them', () => {
    const text = withSweep(['factor rounds = 10 | 20']);
    const twice = `${text}\nsweep t {\n  base governed\n  factor agents = nash | collusive\n}\n`;
    expect(compile(twice).program.sweeps.map((s) => s.name)).toEqual(['s', 't']);
    const asLibrary = compileSources(
      [{ path: 'user.mase', text: BASE }],
      [...library, { path: 'stdlib/extra.mase', text }],
      { includeLibrary: true },
    );
    expect(asLibrary.diagnostics).toEqual([]);
    expect(asLibrary.program.sweeps).toEqual([]);
  });

  it('keeps the new keywords usable as names', () => {
    const text = `mase 1
market m {
  param base = 100
  param budget = 1
  firms sweep, tokens
  cost = 10
  action quantity in [0, 100]
  price = max(0, base - budget * sum(quantity, over: firm))
}
institution i {
  param factor = 2
  monitor design = mean(hhi) > factor
  initial state replicates { when design -> base }
  state base { after 1 round -> replicates }
}
experiment e { market m institution i agents nash }
sweep sweep {
  base e
  factor agents.tokens = nash | collusive
  factor market.base = 90 | 100
}
`;
    const result = compile(text);
    expect(result.diagnostics.map(where)).toEqual([]);
    expect(result.program.sweeps[0]?.factors.map((f) => f.name)).toEqual([
      'agents_tokens',
      'market_base',
    ]);
  });
});

describe('sweep diagnostics', () => {
  // Items start at line 9, column 3; a level's column is where its text starts.
  it.each([
    ['an unknown base', ['factor rounds = 10'], 'base governd', ['E_UNKNOWN_NAME 10:8']],
    ['no base', ['factor rounds = 10'], '', ['E_MISSING 8:7']],
    ['two bases', ['base governed', 'factor rounds = 10'], undefined, ['E_DUPLICATE 11:3']],
    ['no factor', ['design grid'], undefined, ['E_MISSING 8:7']],
    ['an unknown target', ['factor rouds = 10'], undefined, ['E_UNKNOWN_NAME 9:10']],
    ['a part of a whole target', ['factor talk.rounds = 2'], undefined, ['E_UNKNOWN_NAME 9:15']],
    [
      'an unknown market parameter',
      ['factor market.intercep = 1'],
      undefined,
      ['E_UNKNOWN_PARAM 9:17'],
    ],
    [
      'an unknown institution parameter',
      ['factor institution.fine = 1'],
      undefined,
      ['E_UNKNOWN_PARAM 9:22'],
    ],
    [
      'a parameter level of the wrong type',
      ['factor market.intercept = 90 | "x"'],
      undefined,
      ['E_PARAM_TYPE 9:34'],
    ],
    [
      'a name as a parameter level',
      ['factor market.intercept = high'],
      undefined,
      ['E_PARAM_TYPE 9:29'],
    ],
    [
      'a list for a single number',
      ['factor market.intercept = [1, 2]'],
      undefined,
      ['E_PARAM_TYPE 9:29'],
    ],
    [
      'a level the institution refuses',
      ['factor institution.persistence = 0 | 2'],
      undefined,
      ['E_VALUE 9:36'],
    ],
    ['an unknown firm', ['factor agents.f3 = nash'], undefined, ['E_UNKNOWN_NAME 9:17']],
    ['a value as a policy', ['factor agents = nash | 3'], undefined, ['E_TYPE 9:26']],
    ['a value as a topology', ['factor talk = ring | "ring"'], undefined, ['E_TYPE 9:24']],
    ['an unknown market', ['factor market = cournot | courno'], undefined, ['E_UNKNOWN_NAME 9:29']],
    [
      'an unknown institution',
      ['factor institution = none | govern'],
      undefined,
      ['E_UNKNOWN_NAME 9:31'],
    ],
    [
      'an unknown market override',
      ['factor market = cournot(slop: 1)'],
      undefined,
      ['E_UNKNOWN_PARAM 9:27'],
    ],
    [
      'a positional override',
      ['factor institution = governance_graph(0.5)'],
      undefined,
      ['E_ARITY 9:41'],
    ],
    [
      'a market level with too few firms',
      ['factor market = cournot(firms: 0)'],
      undefined,
      ['E_VALUE 9:34'],
    ],
    ['zero rounds', ['factor rounds = 0 | 10'], undefined, ['E_VALUE 9:19']],
    ['fractional rounds', ['factor rounds = 10 | 2.5'], undefined, ['E_TYPE 9:24']],
    ['a negative memory', ['factor memory = -1'], undefined, ['E_VALUE 9:19']],
    ['a memory that is not "all"', ['factor memory = "some"'], undefined, ['E_TYPE 9:19']],
    ['a continuation of 1', ['factor continuation = 0.9 | 1'], undefined, ['E_VALUE 9:31']],
    [
      'a horizon that is not known or unknown',
      ['factor horizon = known | later'],
      undefined,
      ['E_VALUE 9:28'],
    ],
    ['a quoted horizon', ['factor horizon = "known"'], undefined, ['E_VALUE 9:20']],
    ['a level listed twice', ['factor rounds = 10 | 20 | 10'], undefined, ['E_DUPLICATE 9:29']],
    [
      'two factors with one name',
      ['factor rounds = 10', 'factor rounds = 20'],
      undefined,
      ['E_DUPLICATE 10:10'],
    ],
    [
      'names that differ only in case',
      ['factor r: rounds = 10', 'factor R: memory = 2'],
      undefined,
      ['E_DUPLICATE 10:10'],
    ],
    [
      'two factors on one target',
      ['factor a: agents = nash', 'factor b: agents = collusive'],
      undefined,
      ['E_DUPLICATE 10:3'],
    ],
    ['a range with the default grid', ['factor rounds in [10, 20]'], undefined, ['E_VALUE 9:17']],
    [
      'a range with a grid',
      ['factor rounds in [10, 20]', 'design grid'],
      undefined,
      ['E_VALUE 9:17'],
    ],
    [
      'a range on a policy',
      ['factor agents in [1, 2]', 'design random(4)'],
      undefined,
      ['E_TYPE 9:17'],
    ],
    [
      'a range on a per-firm parameter',
      ['factor market.capacity in [50, 100]', 'design random(4)'],
      undefined,
      ['E_TYPE 9:26'],
    ],
    [
      'an empty range',
      ['factor rounds in [20, 20]', 'design random(4)'],
      undefined,
      ['E_VALUE 9:17'],
    ],
    [
      'a fractional range of rounds',
      ['factor rounds in [1.5, 20]', 'design random(4)'],
      undefined,
      ['E_TYPE 9:21'],
    ],
    [
      'an unbounded range',
      ['factor market.slope in [0, inf]', 'design random(4)'],
      undefined,
      ['E_VALUE 9:30'],
    ],
    [
      'an unknown design',
      ['factor rounds = 10', 'design sobol(8)'],
      undefined,
      ['E_UNKNOWN_NAME 10:10'],
    ],
    ['a grid with points', ['factor rounds = 10', 'design grid(8)'], undefined, ['E_ARITY 10:10']],
    [
      'a random design without points',
      ['factor rounds = 10', 'design random'],
      undefined,
      ['E_ARITY 10:10'],
    ],
    [
      'no points',
      ['factor rounds = 10', 'design latin_hypercube(0)'],
      undefined,
      ['E_VALUE 10:26'],
    ],
    [
      'two designs',
      ['factor rounds = 10', 'design grid', 'design random(3)'],
      undefined,
      ['E_DUPLICATE 11:3'],
    ],
    ['zero replicates', ['factor rounds = 10', 'replicates 0'], undefined, ['E_VALUE 10:14']],
    [
      'two replicate counts',
      ['factor rounds = 10', 'replicates 2', 'replicates 3'],
      undefined,
      ['E_DUPLICATE 11:3'],
    ],
    ['a negative seed', ['factor rounds = 10', 'seed -1'], undefined, ['E_VALUE 10:8']],
    ['a fractional seed', ['factor rounds = 10', 'seed 0.5'], undefined, ['E_TYPE 10:8']],
    ['two seeds', ['factor rounds = 10', 'seed 1', 'seed 2'], undefined, ['E_DUPLICATE 11:3']],
    [
      'a fractional token budget',
      ['factor rounds = 10', 'budget tokens 1.5'],
      undefined,
      ['E_TYPE 10:17'],
    ],
    ['a zero cost budget', ['factor rounds = 10', 'budget cost 0'], undefined, ['E_VALUE 10:15']],
    [
      'a token budget given twice',
      ['factor rounds = 10', 'budget tokens 5 tokens 6'],
      undefined,
      ['E_DUPLICATE 10:19'],
    ],
    [
      'two budgets',
      ['factor rounds = 10', 'budget tokens 5', 'budget cost 1'],
      undefined,
      ['E_DUPLICATE 11:3'],
    ],
  ] as const)('%s', (_, items, base, expected) => {
    expect(problems(items, base)).toEqual(expected);
  });

  it('gives hints the way experiments do', () => {
    const hint = (items: readonly string[], base?: string) =>
      compile(withSweep(items, base)).diagnostics.map((d) => d.hint);
    expect(hint(['factor rounds = 10'], 'base governd')).toEqual(['did you mean `governed`?']);
    expect(hint(['factor markt.intercept = 1'])).toEqual(['did you mean `market`?']);
    expect(hint(['factor market.intercep = 1'])).toEqual(['did you mean `intercept`?']);
    expect(hint(['factor agents.f3 = nash'])).toEqual(['did you mean `f1`?']);
    expect(hint(['factor zzz = 1'])[0]).toBe(
      'targets: market, environment, institution, market.PARAM, environment.PARAM, institution.PARAM, agents, agents.FIRM, rounds, memory, talk, horizon, continuation',
    );
    expect(hint(['factor rounds in [10, 20]'])).toEqual([
      'give levels (`= a | b`), or use `design random(N)` / `design latin_hypercube(N)`',
    ]);
  });

  it('reports nothing about the factors of a sweep whose base is unknown that the base decides', () => {
    expect(problems(['factor market.nope = 1', 'factor agents.f9 = nash'], 'base nothing')).toEqual(
      ['E_UNKNOWN_NAME 11:8'],
    );
  });

  it('produces no sweep when anything is wrong', () => {
    expect(compile(withSweep(['factor rounds = 0'])).program.sweeps).toEqual([]);
    expect(compile(withSweep(['factor rounds = 10', 'seed -1'])).program.sweeps).toEqual([]);
  });

  it('says what cannot start an item in a sweep', () => {
    const result = compile(withSweep(['factr rounds = 10']));
    expect(result.diagnostics.map(where)).toContain('E_SYNTAX 9:3');
    expect(result.diagnostics.find((d) => d.code === 'E_SYNTAX')).toMatchObject({
      message: '`factr` cannot start an item in a sweep',
      hint: 'did you mean `factor`?',
    });
  });
});

describe('sweeps over environments', () => {
  // Lines 1–6; a sweep on `fish` starts on line 7 with `base fish`, its items from line 9.
  const FISH = `mase 1
experiment fish {
  environment commons(fishers: 4)
  institution none
  agents sustainable
}
`;
  const fishSweep = (items: readonly string[]) =>
    compile(`${FISH}sweep s {\n${['base fish', ...items].map((i) => `  ${i}`).join('\n')}\n}\n`);

  it('varies the environment, its parameters and its policies as a market sweep varies a market', () => {
    const result = fishSweep([
      'factor environment = commons | commons(fishers: 3, growth: 1.5)',
      'factor environment.growth = 1.5 | 2',
      'factor environment.fishers in [2, 6]',
      'factor agents = sustainable | greedy',
      'factor agents.fisher2 = conditional',
      'design random(4)',
    ]);
    expect(result.diagnostics.map(where)).toEqual([]);
    expect(result.program.sweeps[0]?.factors).toEqual([
      {
        name: 'environment',
        target: { kind: 'environment' },
        levels: [
          { kind: 'ref', ref: { name: 'commons', args: [] } },
          {
            kind: 'ref',
            ref: {
              name: 'commons',
              args: [
                { name: 'fishers', value: 3 },
                { name: 'growth', value: 1.5 },
              ],
            },
          },
        ],
      },
      {
        name: 'environment_growth',
        target: { kind: 'param', owner: 'environment', name: 'growth' },
        levels: [
          { kind: 'value', value: 1.5 },
          { kind: 'value', value: 2 },
        ],
      },
      {
        name: 'environment_fishers',
        target: { kind: 'param', owner: 'environment', name: 'fishers' },
        // The agent count is a whole number, as `firms` is for a market.
        range: { low: 2, high: 6, integer: true },
      },
      {
        name: 'agents',
        target: { kind: 'agents' },
        levels: [
          { kind: 'ref', ref: { name: 'sustainable', args: [] } },
          { kind: 'ref', ref: { name: 'greedy', args: [] } },
        ],
      },
      {
        name: 'agents_fisher2',
        target: { kind: 'agents', firm: 'fisher2' },
        levels: [{ kind: 'ref', ref: { name: 'conditional', args: [] } }],
      },
    ]);
  });

  it('checks environment parameters, levels and agents against the base environment', () => {
    const result = fishSweep([
      'factor environment.grwth = 1',
      'factor environment = commons | commons(fishers: 0)',
      'factor agents.boat = greedy',
    ]);
    expect(result.diagnostics.map((d) => [where(d), d.message, d.hint])).toEqual([
      [
        'E_UNKNOWN_PARAM 9:22',
        'environment `commons` of experiment `fish` has no parameter `grwth`',
        'did you mean `growth`?',
      ],
      [
        'E_VALUE 10:51',
        'the number of fishers must be a whole number from 1 to 100,000 (it is 0)',
        undefined,
      ],
      [
        'E_UNKNOWN_NAME 11:17',
        'environment `commons` of experiment `fish` has no fisher `boat`',
        'fishers: fisher1, fisher2, fisher3, fisher4',
      ],
    ]);
  });

  it('refuses market targets on an environment base, naming the target to write', () => {
    const result = fishSweep(['factor market.growth = 1.5', 'factor market = cournot']);
    expect(result.diagnostics.map((d) => [where(d), d.message, d.hint])).toEqual([
      [
        'E_SCOPE 9:10',
        '`market.growth` varies a market, but experiment `fish` runs in environment `commons`',
        "write `factor environment.growth = …`; a sweep varies worlds of its base experiment's kind",
      ],
      [
        'E_SCOPE 10:10',
        '`market` varies a market, but experiment `fish` runs in environment `commons`',
        "write `factor environment = …`; a sweep varies worlds of its base experiment's kind",
      ],
    ]);
    expect(result.program.sweeps).toEqual([]);
  });

  it('refuses environment targets on a market base', () => {
    const result = compile(withSweep(['factor environment.intercept = 90']));
    expect(result.diagnostics.map((d) => [where(d), d.message, d.hint])).toEqual([
      [
        'E_SCOPE 9:10',
        '`environment.intercept` varies an environment, but experiment `governed` runs in market `cournot_2x2`',
        "write `factor market.intercept = …`; a sweep varies worlds of its base experiment's kind",
      ],
    ]);
  });

  it('refuses a level of the other kind of world', () => {
    const market = compile(withSweep(['factor market = cournot | commons']));
    expect(market.diagnostics.map((d) => [where(d), d.message, d.hint])).toEqual([
      [
        'E_UNKNOWN_NAME 9:29',
        '`commons` is an environment, not a market',
        "the levels of `market` name markets: a sweep varies worlds of its base experiment's kind",
      ],
    ]);
    const environment = fishSweep(['factor environment = commons | cournot']);
    expect(environment.diagnostics.map((d) => [where(d), d.message, d.hint])).toEqual([
      [
        'E_UNKNOWN_NAME 9:34',
        '`cournot` is a market, not an environment',
        "the levels of `environment` name environments: a sweep varies worlds of its base experiment's kind",
      ],
    ]);
  });
});

// ---- formatting -------------------------------------------------------------------------

function parsed(text: string): SourceFile {
  const result = parse('fmt.mase', text);
  expect(result.diagnostics).toEqual([]);
  return result.value;
}

const MESSY = `mase 1
experiment e { market cournot agents nash }
sweep   s"Messy"{ base e   // the base
  factor   regime :institution=none|governance_graph( fine_share:0.5 )|constitutional()
  factor market . intercept = 90|( 100 )|-5   factor rounds in[ 10,20 ]
  /* sampled */ design   latin_hypercube( 8 ) replicates 2 seed 0
  budget cost 2.5   tokens 1000
  factor memory = "all" | 0   factor horizon=known|unknown
}
`;

const MESSY_FORMATTED = `mase 1

experiment e {
  market cournot
  agents nash
}

sweep s "Messy" {
  base e  // the base
  factor regime: institution = none | governance_graph(fine_share: 0.5) | constitutional
  factor market.intercept = 90 | (100) | -5
  factor rounds in [10, 20]
  /* sampled */
  design latin_hypercube(8)
  replicates 2
  seed 0
  budget cost 2.5 tokens 1000
  factor memory = "all" | 0
  factor horizon = known | unknown
}
`;

describe('formatting sweeps', () => {
  it('prints the canonical layout', () => {
    expect(formatSource(parsed(MESSY))).toBe(MESSY_FORMATTED);
  });

  it('round-trips: the same AST, the same IR, and a fixed point', () => {
    const before = parsed(MESSY);
    const after = parsed(formatSource(before));
    expect(stripRanges(after)).toEqual(stripRanges(before));
    expect(formatSource(after)).toBe(MESSY_FORMATTED);
    const sweeps = (text: string) => compile(text).program.sweeps;
    expect(sweeps(MESSY_FORMATTED)).toEqual(sweeps(MESSY));
    expect(sweeps(MESSY)).toHaveLength(1);
  });

  it('leaves a canonical sweep unchanged', () => {
    const canonical = `${BASE}
sweep t "T" {
  base governed
  factor mix: agents.f1 = llm(model: "local", memory: 3) | nash
  factor institution.fine_share in [0.1, 0.6]
  design random(4)
  budget tokens 5
}
`;
    expect(formatSource(parsed(canonical))).toBe(canonical);
  });
});
