import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// The checker's institution pass and the compiler's internals (folding, run constants), tested directly.
import { checkInstitution, type MarketContext, Reporter } from '../../compiler/check.js';
import { applyBinary } from '../../compiler/constant.js';
import { isRunConstant } from '../../compiler/evaluate.js';
import {
  benchmarkValuesFor,
  type CompileOptions,
  compileExpression,
  compilePerFirm,
  compileScalar,
  compileSources,
  type Dimensions,
  type EvaluationEnvironment,
  type IrExpr,
  type IrInstitution,
  observablesFor,
  paramTensor,
  select,
  type Tensor,
  tensorFrom,
  toPlain,
  truthy,
} from '../../compiler/index.js';
// Value types, internal to the checker.
import { typeOf } from '../../compiler/types.js';
import { parse } from '../../grammar/index.js';

/**
 * The closure evaluator on values worked out by hand. Expressions are written as the
 * monitors of small institutions and go through the checker first, so each case tests
 * checker and evaluator together; the environment is plain arrays.
 */

type Plain = number | readonly number[] | readonly (readonly number[])[];

interface World {
  readonly dims: Dimensions;
  /** Observables per round, oldest first; the last entry is the round being adjudicated. */
  readonly rounds: readonly Readonly<Record<string, Plain>>[];
  /** Benchmark values by `nash.quantity`-style key. */
  readonly benchmarks?: Readonly<Record<string, Plain>>;
  readonly self?: number;
  readonly firms?: readonly string[];
  readonly products?: readonly string[];
}

const observableTypes = observablesFor('quantity');
const benchmarkTypes = benchmarkValuesFor('quantity');

function tensorOf(axes: Tensor['axes'], value: Plain): Tensor {
  return tensorFrom(axes, value as number | number[] | number[][]);
}

function environment(institution: IrInstitution, world: World): EvaluationEnvironment {
  const monitors = new Map(institution.monitors.map((m) => [m.name, compileExpression(m.expr)]));
  const current = world.rounds.length - 1;
  const env: EvaluationEnvironment = {
    dims: world.dims,
    ...(world.self === undefined ? {} : { self: world.self }),
    roundsAvailable: world.rounds.length,
    param: (name) => {
      const p = institution.params.find((x) => x.name === name);
      if (!p) throw new Error(`no parameter ${name}`);
      const t = paramTensor(p.type, p.value, world.dims);
      if (typeof t === 'string') throw new Error(`parameter ${name} ${t}`);
      return t;
    },
    firmIndex: (name) => (world.firms ?? []).indexOf(name),
    productIndex: (name) => (world.products ?? []).indexOf(name),
    observable: (name, roundsAgo) => {
      const value = world.rounds[current - roundsAgo]?.[name];
      const type = observableTypes.get(name);
      if (value === undefined || !type)
        throw new Error(`the world has no ${name} ${roundsAgo} rounds ago`);
      return tensorOf(type.axes, value);
    },
    benchmark: (benchmark, name) => {
      const value = world.benchmarks?.[`${benchmark}.${name}`];
      const type = benchmarkTypes.get(name);
      if (value === undefined || !type) throw new Error(`the world has no ${benchmark}.${name}`);
      return tensorOf(type.axes, value);
    },
    monitor: (name, roundsAgo) => {
      const m = monitors.get(name);
      if (!m) throw new Error(`no monitor ${name}`);
      return m(env, roundsAgo);
    },
  };
  return env;
}

const wrap = (body: string) => `mase 1

institution t {
  scope per firm
${body}
}
`;

/** An institution checked on its own (no market: no firm or product names). */
function institution(body: string): IrInstitution {
  const result = compileSources([{ path: 'eval.mase', text: wrap(body) }]);
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const found = result.program.institutions[0];
  if (!found) throw new Error('no institution');
  return found;
}

/** An institution checked against a market's firm and product names, as an experiment does. */
function institutionIn(body: string, firms: string[], products: string[]): IrInstitution {
  const file = parse('eval.mase', wrap(body));
  expect(file.diagnostics).toEqual([]);
  const decl = file.value.declarations[0];
  if (decl?.kind !== 'institution') throw new Error('no institution');
  const reporter = new Reporter();
  const market: MarketContext = {
    competition: 'quantity',
    firmNames: new Set(firms),
    productNames: new Set(products),
  };
  const ir = checkInstitution(decl, 'eval.mase', market, reporter);
  expect(reporter.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  if (!ir) throw new Error('no institution');
  return ir;
}

/**
 * Evaluates every monitor of `body` in `world`, as plain numbers and arrays; expects the
 * closures specialised to the world's dimensions to give the same.
 */
function values(world: World, body: string, inst = institution(body)): Record<string, unknown> {
  const env = environment(inst, world);
  const plain = (options: CompileOptions) =>
    Object.fromEntries(
      inst.monitors.map((m) => [
        m.name,
        toPlain(compileExpression(m.expr, options)(env), world.dims),
      ]),
    );
  const general = plain({});
  expect(plain({ dims: world.dims })).toEqual(general);
  return general;
}

/** 2 firms × 3 products, so a firm/product mix-up cannot give the right numbers. */
const market23: World = {
  dims: { firms: 2, products: 3 },
  self: 1,
  firms: ['f1', 'f2'],
  products: ['A', 'B', 'C'],
  rounds: [
    {
      quantity: [
        [1, 2, 3],
        [4, 5, 6],
      ],
      profit: [10, 20],
      price: [7, 8, 9],
    },
  ],
};

describe('broadcasting', () => {
  it('combines per-firm and per-product values into firm × product', () => {
    expect(
      values(
        market23,
        `monitor a = price + profit
  monitor b = quantity * price
  monitor c = quantity - profit
  monitor d = profit / 2 + 1
  monitor e = price > 7.5`,
      ),
    ).toEqual({
      a: [
        [17, 18, 19],
        [27, 28, 29],
      ],
      b: [
        [7, 16, 27],
        [28, 40, 54],
      ],
      c: [
        [-9, -8, -7],
        [-16, -15, -14],
      ],
      d: [6, 11],
      e: [0, 1, 1],
    });
  });

  it('types match values: the shapes the checker gives are the shapes evaluated', () => {
    const inst = institution(`monitor a = price + profit
  monitor b = profit * 2
  monitor c = sum(price)`);
    expect(inst.monitors.map((m) => m.expr.type.axes)).toEqual([['firm', 'product'], ['firm'], []]);
    const env = environment(inst, market23);
    expect(inst.monitors.map((m) => compileExpression(m.expr)(env).axes)).toEqual([
      ['firm', 'product'],
      ['firm'],
      [],
    ]);
  });
});

describe('reductions', () => {
  it('reduce everything without `over`, one axis with it', () => {
    expect(
      values(
        market23,
        `monitor everything = sum(quantity)
  monitor per_product = sum(quantity, over: firm)
  monitor per_firm = sum(quantity, over: product)
  monitor means = mean(quantity, over: product)
  monitor biggest = max(quantity, over: firm)
  monitor smallest = min(quantity)
  monitor spread = std(profit)`,
      ),
    ).toEqual({
      everything: 21,
      per_product: [5, 7, 9],
      per_firm: [6, 15],
      means: [2, 5],
      biggest: [4, 5, 6],
      smallest: 1,
      spread: 5, // population std of 10 and 20
    });
  });

  it('count, any and all read true/false values', () => {
    // quantity > 2: [[F, F, T], [T, T, T]]
    expect(
      values(
        market23,
        `monitor n = count(quantity > 2)
  monitor n_firm = count(quantity > 2, over: firm)
  monitor n_product = count(quantity > 2, over: product)
  monitor some = any(quantity > 5)
  monitor none = any(quantity > 6)
  monitor every = all(quantity > 0)
  monitor every_firm = all(quantity > 1, over: product)`,
      ),
    ).toEqual({
      n: 4,
      n_firm: [1, 1, 2],
      n_product: [1, 3],
      some: 1,
      none: 0,
      every: 1,
      every_firm: [0, 1],
    });
  });

  it('min and max with several arguments compare elementwise, with broadcasting', () => {
    expect(
      values(
        market23,
        `monitor floor = max(200, 0.35 * profit[self] * 100)
  monitor floored = max(200, 0.35 * profit[self])
  monitor capped = min(profit, 15)
  monitor grid = max(quantity, price - 4)`,
      ),
    ).toEqual({
      floor: 700,
      floored: 200,
      capped: [10, 15],
      grid: [
        [3, 4, 5],
        [4, 5, 6],
      ],
    });
  });

  it('cv is the population coefficient of variation, 0 when the mean is 0', () => {
    const v = values(
      market23,
      `monitor by_firm = cv(quantity, over: product)
  monitor by_product = cv(quantity, over: firm)
  monitor zero = cv(quantity * 0, over: product)`,
    );
    // Firm rows [1,2,3] and [4,5,6]: population std sqrt(2/3), means 2 and 5.
    const s = Math.sqrt(2 / 3);
    const byFirm = v.by_firm as number[];
    expect(byFirm[0]).toBeCloseTo(s / 2, 12);
    expect(byFirm[1]).toBeCloseTo(s / 5, 12);
    // Product columns [1,4], [2,5], [3,6]: population std 1.5 each.
    const byProduct = v.by_product as number[];
    expect(byProduct[0]).toBeCloseTo(1.5 / 2.5, 12);
    expect(byProduct[1]).toBeCloseTo(1.5 / 3.5, 12);
    expect(byProduct[2]).toBeCloseTo(1.5 / 4.5, 12);
    expect(v.zero).toEqual([0, 0]);
  });
});

describe('excess and hhi', () => {
  it('excess is the relative excess, 0 for a zero benchmark and for |x| < 1e-9', () => {
    const world: World = {
      ...market23,
      benchmarks: { 'nash.profit': [0, 16] },
    };
    const v = values(
      world,
      `monitor relative = excess(profit, nash.profit)
  monitor below = excess(profit * 0.5, profit)
  monitor tiny = excess(profit + 0.000000001, profit)
  monitor small = excess(profit + 0.0001, profit)`,
    );
    expect(v.relative).toEqual([0, 0.25]);
    expect(v.below).toEqual([-0.5, -0.5]);
    // 1e-9 / 10 and 1e-9 / 20 are below 1e-9: treated as exactly on the benchmark.
    expect(v.tiny).toEqual([0, 0]);
    const small = v.small as number[];
    expect(small[0]).toBeCloseTo(1e-5, 12);
    expect(small[1]).toBeCloseTo(5e-6, 12);
  });

  it('hhi is per product on the 0–10,000 scale', () => {
    const world: World = {
      dims: { firms: 2, products: 4 },
      rounds: [
        {
          quantity: [
            [60, 50, 100, 0],
            [40, 50, 0, 0],
          ],
        },
      ],
    };
    // 60/40: 3600 + 1600; 50/50: 2500 + 2500; a monopoly: 100²; nothing sold: 0.
    expect(values(world, 'monitor h = hhi(quantity)')).toEqual({ h: [5200, 5000, 10000, 0] });
  });
});

describe('windows over past rounds', () => {
  // Firm 0's profit was 10, 20, then 60 (this round); firm 1 made nothing.
  const history: World = {
    dims: { firms: 2, products: 1 },
    self: 0,
    rounds: [{ profit: [10, 0] }, { profit: [20, 0] }, { profit: [60, 0] }],
  };

  it('mean, sum, min, max and count over the last k rounds', () => {
    expect(
      values(
        history,
        `monitor mean2 = mean_last(profit[self], 2)
  monitor mean5 = mean_last(profit[self], 5)
  monitor per_firm = mean_last(profit, 2)
  monitor sum2 = sum_last(profit[self], 2)
  monitor min3 = min_last(profit[self], 3)
  monitor max3 = max_last(profit[self], 3)
  monitor count3 = count_last(profit[self] > 15, 3)
  monitor count10 = count_last(profit[self] > 15, 10)`,
      ),
    ).toEqual({
      mean2: 40, // (60 + 20) / 2
      mean5: 30, // only 3 rounds exist: (60 + 20 + 10) / 3
      per_firm: [40, 0],
      sum2: 80,
      min3: 10,
      max3: 60,
      count3: 2,
      count10: 2,
    });
  });

  it('lag reads k rounds back and is NaN (so comparisons are false) before the first round', () => {
    const v = values(
      history,
      `monitor one = lag(profit[self])
  monitor two = lag(profit[self], 2)
  monitor three = lag(profit[self], 3)
  monitor below = lag(profit[self], 3) < 1000
  monitor above = lag(profit[self], 3) >= 0
  monitor rising = profit[self] > lag(profit[self])`,
    );
    expect(v.one).toBe(20);
    expect(v.two).toBe(10);
    expect(v.three).toBeNaN();
    expect(v.below).toBe(0);
    expect(v.above).toBe(0);
    expect(v.rising).toBe(1);
  });

  it('windows over monitors re-evaluate the monitor at earlier rounds', () => {
    expect(
      values(
        history,
        `monitor high = profit[self] > 15
  monitor highs = count_last(high, 3)
  monitor was_high = lag(high)`,
      ),
    ).toEqual({ high: 1, highs: 2, was_high: 1 });
  });

  it('a window on the first round sees only that round', () => {
    const first: World = { ...history, rounds: history.rounds.slice(0, 1) };
    expect(
      values(
        first,
        `monitor m = mean_last(profit[self], 3)
  monitor c = count_last(profit[self] > 5, 3)`,
      ),
    ).toEqual({ m: 10, c: 1 });
  });
});

describe('moved_together', () => {
  // Totals per firm last round: 20 and 20.
  const before = {
    quantity: [
      [10, 10],
      [20, 0],
    ],
  };
  const moved = (now: number[][], rounds = [before, { quantity: now }]) =>
    values(
      { dims: { firms: 2, products: 2 }, rounds },
      'monitor m = moved_together(threshold: 0.1)',
    ).m;

  it('is true when every firm moved by more than the threshold in the same direction', () => {
    expect(
      moved([
        [12, 11],
        [15, 8],
      ]),
    ).toBe(1); // 23 and 23: both +15%
    expect(
      moved([
        [9, 8],
        [10, 7],
      ]),
    ).toBe(1); // 17 and 17: both −15%
  });

  it('is false when one firm stayed flat', () => {
    expect(
      moved([
        [12, 11],
        [20, 0],
      ]),
    ).toBe(0);
  });

  it('is false when the firms moved in opposite directions', () => {
    expect(
      moved([
        [12, 11],
        [10, 5],
      ]),
    ).toBe(0); // +15% and −25%
  });

  it('needs a move of more than the threshold, not exactly it', () => {
    expect(
      moved([
        [12, 10],
        [22, 0],
      ]),
    ).toBe(0); // +10% and +10%
  });

  it('is false on the first round, with nothing to compare with', () => {
    expect(
      moved(
        [
          [12, 11],
          [15, 8],
        ],
        [
          {
            quantity: [
              [12, 11],
              [15, 8],
            ],
          },
        ],
      ),
    ).toBe(0);
  });
});

describe('if', () => {
  it('chooses per element and broadcasts its branches', () => {
    expect(
      values(
        market23,
        `monitor scalar = if profit[self] > 15 then 1 else 2
  monitor per_firm = if profit > 15 then profit else 0
  monitor grid = if price > 7.5 then quantity else 0`,
      ),
    ).toEqual({
      scalar: 1, // self is firm 1, whose profit is 20
      per_firm: [0, 20],
      grid: [
        [0, 2, 3],
        [0, 5, 6],
      ],
    });
  });
});

describe('indexing', () => {
  it('selects this firm with `self`', () => {
    expect(
      values(
        market23,
        `monitor row = quantity[self]
  monitor own = profit[self]
  monitor own_share = quantity[self] / sum(quantity, over: firm)`,
      ),
    ).toEqual({ row: [4, 5, 6], own: 20, own_share: [4 / 5, 5 / 7, 6 / 9] });
  });

  it('selects firms and products by name', () => {
    const body = `monitor firm_row = quantity[f2]
  monitor product_column = quantity[B]
  monitor cell = quantity[f1, C]
  monitor cell_other_order = quantity[C, f2]
  monitor one_price = price[B]
  monitor rival = profit[f1]`;
    expect(values(market23, body, institutionIn(body, ['f1', 'f2'], ['A', 'B', 'C']))).toEqual({
      firm_row: [4, 5, 6],
      product_column: [2, 5],
      cell: 3,
      cell_other_order: 6,
      one_price: 8,
      rival: 10,
    });
  });
});

describe('parameters', () => {
  const dims = { firms: 2, products: 3 };
  const perFirm = typeOf('number', 'firm');
  const grid = typeOf('number', 'firm', 'product');

  it('paramTensor turns single values, lists and nested lists into tensors', () => {
    const plain = (t: Tensor | string) => (typeof t === 'string' ? t : toPlain(t, dims));
    expect(plain(paramTensor(typeOf('number'), 4, dims))).toBe(4);
    expect(plain(paramTensor(typeOf('bool'), true, dims))).toBe(1);
    expect(plain(paramTensor(typeOf('bool'), false, dims))).toBe(0);
    expect(plain(paramTensor(perFirm, [1, 2], dims))).toEqual([1, 2]);
    expect(
      plain(
        paramTensor(
          grid,
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          dims,
        ),
      ),
    ).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    // A single value in place of a row is that value for every product.
    expect(plain(paramTensor(grid, [7, [4, 5, 6]], dims))).toEqual([
      [7, 7, 7],
      [4, 5, 6],
    ]);
  });

  it('paramTensor says what does not fit', () => {
    expect(paramTensor(perFirm, [1, 2, 3], dims)).toBe('has 3 values but there are 2 firms');
    expect(paramTensor(perFirm, [1], dims)).toBe('has 1 value but there are 2 firms');
    expect(paramTensor(perFirm, [1, 2], { firms: 1, products: 1 })).toBe(
      'has 2 values but there is 1 firm',
    );
    expect(
      paramTensor(
        grid,
        [
          [1, 2],
          [3, 4],
        ],
        dims,
      ),
    ).toBe('has a row of 2 values but there are 3 products');
    expect(paramTensor(typeOf('number'), [1, 2], dims)).toBe(
      'a list where a single value is expected',
    );
  });

  it('parameters broadcast against market values in expressions', () => {
    expect(
      values(
        market23,
        `param weight: per firm = [1, 2] "per-firm weight"
  param markup = 3 "one value for everyone"
  param base: per firm = 100 "one value declared per firm"
  param costs: per firm per product = [[1, 1, 1], [2, 2, 2]] "unit costs"
  monitor weighted = profit * weight
  monitor marked = price * markup
  monitor based = profit + base
  monitor margin = price - costs`,
      ),
    ).toEqual({
      weighted: [10, 40],
      marked: [21, 24, 27],
      based: [110, 120],
      margin: [
        [6, 7, 8],
        [5, 6, 7],
      ],
    });
  });
});

describe('single values', () => {
  /** Single-valued nodes evaluated the long way: tensors throughout, `select` for indexing. */
  function reference(e: IrExpr, env: EvaluationEnvironment): number {
    if (e.type.axes.length !== 0) return Number.NaN;
    switch (e.op) {
      case 'unary': {
        const x = reference(e.operand, env);
        return e.operator === '-' ? -x : truthy(x) ? 0 : 1;
      }
      case 'binary':
        return applyBinary(e.operator, reference(e.left, env), reference(e.right, env));
      case 'if':
        return truthy(reference(e.condition, env))
          ? reference(e.then, env)
          : reference(e.otherwise, env);
      case 'index': {
        let value = compileExpression(e.target)(env);
        for (const x of e.selections) {
          const position =
            'self' in x
              ? (env.self ?? -1)
              : x.axis === 'firm'
                ? env.firmIndex(x.name)
                : env.productIndex(x.name);
          value = select(value, x.axis, position, env.dims);
        }
        return value.data[0] ?? Number.NaN;
      }
      default:
        return compileExpression(e)(env).data[0] ?? Number.NaN;
    }
  }

  const atoms = [
    '0',
    '1',
    '2.5',
    '(0 / 0)',
    'profit[self]',
    'profit[f1]',
    'quantity[f1, C]',
    'quantity[C, f2]',
    'price[B]',
    'sum(profit)',
    'mean(quantity)',
    'lag(profit[self])',
    'threshold',
    'nash.profit[self]',
    'collusive.profit[f2]',
    'mean(cv(nash.quantity, over: product))',
    'sum(excess(nash.profit, collusive.profit))',
    '(threshold * max(nash.profit))',
  ];
  /** The same run a round later: other observables, the same parameters and benchmarks. */
  const nextRound = (): World => ({
    ...world,
    rounds: [
      ...world.rounds,
      {
        quantity: [
          [2, 0, 1],
          [7, 5, 3],
        ],
        profit: [4, 30],
        price: [5, 9, 2],
      },
    ],
  });
  /** market23 with benchmarks, which the atoms above read. */
  const world: World = {
    ...market23,
    benchmarks: {
      'nash.profit': [12, 16],
      'collusive.profit': [15, 18],
      'nash.quantity': [
        [1, 1, 2],
        [3, 1, 0],
      ],
    },
  };
  // Numbers and truth values, typed as the checker wants them.
  const expression = fc.letrec((tie) => ({
    num: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(...atoms),
      fc
        .tuple(tie('num'), fc.constantFrom('+', '-', '*', '/'), tie('num'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie('num').map((a) => `(-${a})`),
      fc
        .tuple(tie('bool'), tie('num'), tie('num'))
        .map(([c, a, b]) => `(if ${c} then ${a} else ${b})`),
    ),
    bool: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc
        .tuple(tie('num'), fc.constantFrom('>', '<', '>=', '==', '!='), tie('num'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc
        .tuple(tie('bool'), fc.constantFrom('and', 'or'), tie('bool'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie('bool').map((a) => `(not ${a})`),
    ),
  }));

  it('knows which expressions are fixed for a run', () => {
    const body = `param threshold = 12
  monitor a = mean(cv(nash.quantity, over: product))
  monitor b = threshold * max(nash.profit)
  monitor c = nash.profit[self]
  monitor d = moved_together(threshold: 0.1)
  monitor e = lag(nash.profit)
  monitor f = threshold
  monitor g = nash.profit[f1] > collusive.profit[f2]`;
    const inst = institutionIn(body, ['f1', 'f2'], ['A', 'B', 'C']);
    expect(Object.fromEntries(inst.monitors.map((m) => [m.name, isRunConstant(m.expr)]))).toEqual({
      a: true,
      b: true,
      c: false,
      d: false,
      e: false,
      f: true,
      g: true,
    });
  });

  it('compileScalar gives what the tensor evaluation gives, NaN and all', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(expression.num, expression.bool) as fc.Arbitrary<string>, {
          minLength: 1,
          maxLength: 5,
        }),
        (exprs) => {
          const body = [
            'param threshold = 12',
            ...exprs.map((x, i) => `monitor m${i} = ${x}`),
          ].join('\n  ');
          const inst = institutionIn(body, ['f1', 'f2'], ['A', 'B', 'C']);
          const env = environment(inst, world);
          for (const m of inst.monitors) {
            // Memoised run constants give the same values, the first time and after.
            const memo = { memoiseRunConstants: true };
            const once = compileScalar(m.expr, memo);
            const tensor = compileExpression(m.expr, memo);
            for (const later of [env, environment(inst, nextRound())]) {
              expect(Object.is(once(later), reference(m.expr, later))).toBe(true);
              expect(Object.is(tensor(later).data[0], reference(m.expr, later))).toBe(true);
            }
            expect(Object.is(compileScalar(m.expr)(env), reference(m.expr, env)), m.expr.text).toBe(
              true,
            );
            expect(Object.is(compileExpression(m.expr)(env).data[0], reference(m.expr, env))).toBe(
              true,
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('compilePerFirm gives firm i what compileScalar gives with self = i', () => {
    // `own` is a per-machine monitor the generated ones may read; atoms cover `self`,
    // named firms and products, windows and natives (those over `self` are not per-firm).
    const perFirmAtoms = [...atoms, 'own'];
    const num = fc.letrec((tie) => ({
      num: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.constantFrom(...perFirmAtoms),
        fc
          .tuple(tie('num'), fc.constantFrom('+', '-', '*', '/'), tie('num'))
          .map(([a, op, b]) => `(${a} ${op} ${b})`),
        fc
          .tuple(tie('num'), fc.constantFrom('and', 'or'), tie('num'))
          .map(([a, op, b]) => `(if (${a} > 1) ${op} (${b} < 3) then 1 else 0)`),
        tie('num').map((a) => `(-${a})`),
        tie('num').map((a) => `(if not (${a} > 2) then 1 else 0)`),
        fc
          .tuple(tie('num'), tie('num'), tie('num'))
          .map(([c, a, b]) => `(if (${c}) > 0 then ${a} else ${b})`),
      ),
    })).num;
    let lifted = 0;
    fc.assert(
      fc.property(fc.array(num, { minLength: 1, maxLength: 4 }), (exprs) => {
        const body = [
          'param threshold = 12',
          'monitor own = profit[self] * 2 - quantity[self, B]',
          ...exprs.map((x, i) => `monitor m${i} = ${x}`),
        ].join('\n  ');
        const inst = institutionIn(body, ['f1', 'f2'], ['A', 'B', 'C']);
        const perMachine = new Set(['own']);
        const perFirmMonitors = new Set(['own']);
        const firmEnv = (i: number) => environment(inst, { ...world, self: i });
        const own = Float64Array.from([0, 1], (i) =>
          compileScalar((inst.monitors[0] as (typeof inst.monitors)[number]).expr)(firmEnv(i)),
        );
        for (const m of inst.monitors.slice(1)) {
          const code = compilePerFirm(m.expr, perMachine, perFirmMonitors, {
            memoiseRunConstants: true,
          });
          if (!code) continue;
          lifted++;
          // The vector is evaluated without a machine: it must not read `self` itself.
          const vector = code(environment(inst, world), (name) => {
            expect(name).toBe('own');
            return own;
          });
          expect(vector.length).toBe(2);
          for (const i of [0, 1]) {
            expect(
              Object.is(vector[i], compileScalar(m.expr)(firmEnv(i))),
              `${m.expr.text} for firm ${i}`,
            ).toBe(true);
          }
        }
      }),
      { numRuns: 200 },
    );
    // Most generated expressions have a per-firm form (windows and natives over `self` do not).
    expect(lifted).toBeGreaterThan(200);
  });

  it('compilePerFirm declines what it cannot evaluate for all firms at once', () => {
    const inst = institutionIn(
      [
        'monitor own = profit[self]',
        'monitor other_own = profit[self] > 1',
        'monitor windowed = lag(profit[self]) > 1',
        'monitor via_native = max(own, 2)',
        'monitor via_unlifted = other_own and own > 1',
        'monitor history_read = rounds_in_state > 2',
      ].join('\n  '),
      ['f1', 'f2'],
      ['A', 'B', 'C'],
    );
    const perMachine = new Set(inst.monitors.map((m) => m.name));
    const perFirmMonitors = new Set(['own']);
    const lifts = Object.fromEntries(
      inst.monitors.map((m) => [
        m.name,
        compilePerFirm(m.expr, perMachine, perFirmMonitors) !== undefined,
      ]),
    );
    expect(lifts).toEqual({
      own: true,
      other_own: true,
      windowed: false,
      via_native: false,
      via_unlifted: false,
      history_read: false,
    });
  });
});

describe('closures specialised to the dimensions', () => {
  /** A round of market23: quantities firm by firm, then profits, prices and HHI. */
  const round = (quantity: number[], profit: number[], price: number[], hhi: number[]) => ({
    quantity: [quantity.slice(0, 3), quantity.slice(3)],
    profit,
    price,
    hhi,
  });
  /** Four rounds of market23 (zeros included: cv of a zero mean, excess over a zero base). */
  const history: World = {
    ...market23,
    benchmarks: {
      'nash.quantity': [
        [1, 0, 2],
        [3, 1, 0],
      ],
      'nash.profit': [12, 0],
    },
    rounds: [
      round([1, 2, 3, 4, 5, 6], [10, 20], [7, 8, 9], [5, 6, 7]),
      round([0, 0, 0, 2, 5, 1], [0, -4], [3, 0, 2], [0, 1, 2]),
      round([2, 4, 6, 1, 1, 9], [8, 8], [1, 2, 3], [4, 4, 4]),
      round([3, 3, 3, 3, 3, 3], [5, 6], [6, 6, 6], [9, 0, 9]),
    ],
  };
  const reductions = ['sum', 'mean', 'std', 'cv', 'max', 'min'] as const;
  // Numbers of every shape (scalar, per firm, per product, firm × product) mixed by
  // broadcasting, reduced, windowed and compared; the checker rejects the few that mix
  // shapes it does not allow, and those are skipped.
  const expression = fc.letrec((tie) => ({
    num: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.constantFrom(
        'quantity',
        'profit',
        'price',
        'threshold',
        'nash.quantity',
        'nash.profit',
        '0',
      ),
      fc
        .tuple(tie('num'), fc.constantFrom('+', '-', '*', '/'), tie('num'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie('num').map((a) => `(-${a})`),
      fc.tuple(fc.constantFrom('abs', 'sqrt', 'log'), tie('num')).map(([f, a]) => `${f}(${a})`),
      fc.tuple(tie('num'), tie('num'), tie('num')).map(([a, b, c]) => `clamp(${a}, ${b}, ${c})`),
      fc
        .tuple(fc.constantFrom('max', 'min', 'excess'), tie('num'), tie('num'))
        .map(([f, a, b]) => `${f}(${a}, ${b})`),
      fc.tuple(fc.constantFrom(...reductions), tie('num')).map(([f, a]) => `${f}(${a})`),
      fc
        .tuple(fc.constantFrom(...reductions), tie('num'), fc.constantFrom('firm', 'product'))
        .map(([f, a, axis]) => `${f}(quantity * ${a}, over: ${axis})`),
      fc
        .tuple(fc.constantFrom('mean_last', 'sum_last', 'max_last', 'min_last'), tie('num'))
        .map(([f, a]) => `${f}(${a}, 3)`),
      tie('num').map((a) => `lag(${a})`),
      tie('bool').map((b) => `count_last(${b}, 3)`),
      fc
        .tuple(tie('bool'), tie('num'), tie('num'))
        .map(([c, a, b]) => `(if ${c} then ${a} else ${b})`),
      fc.constant('hhi(quantity)'),
    ),
    bool: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc
        .tuple(tie('num'), fc.constantFrom('>', '<', '=='), tie('num'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      fc
        .tuple(tie('bool'), fc.constantFrom('and', 'or'), tie('bool'))
        .map(([a, op, b]) => `(${a} ${op} ${b})`),
      tie('bool').map((a) => `(not ${a})`),
      fc.tuple(fc.constantFrom('any', 'all'), tie('bool')).map(([f, b]) => `${f}(${b})`),
      fc.constant('moved_together(threshold: 0.1)'),
    ),
  }));

  /** The institution with one monitor `m = text`, or undefined when the checker rejects it. */
  function checked(text: string): IrInstitution | undefined {
    const file = parse('eval.mase', wrap(`param threshold = 2\n  monitor m = ${text}`));
    const decl = file.value.declarations[0];
    if (file.diagnostics.length > 0 || decl?.kind !== 'institution') return undefined;
    const reporter = new Reporter();
    const market: MarketContext = {
      competition: 'quantity',
      firmNames: new Set(history.firms),
      productNames: new Set(history.products),
    };
    const ir = checkInstitution(decl, 'eval.mase', market, reporter);
    return reporter.diagnostics.some((d) => d.severity === 'error') ? undefined : ir;
  }

  it('give what the general closures give, round after round, NaN and all', () => {
    let compared = 0;
    fc.assert(
      fc.property(fc.oneof(expression.num, expression.bool) as fc.Arbitrary<string>, (text) => {
        const inst = checked(text);
        if (!inst) return;
        const expr = (inst.monitors[0] as (typeof inst.monitors)[number]).expr;
        // Compiled once and called every round, as a run does: the specialised closures
        // reuse their tensors from call to call.
        const general = compileExpression(expr);
        const specialised = compileExpression(expr, { dims: history.dims });
        const scalar =
          expr.type.axes.length === 0 ? compileScalar(expr, { dims: history.dims }) : undefined;
        for (let r = 1; r <= history.rounds.length; r++) {
          const env = environment(inst, { ...history, rounds: history.rounds.slice(0, r) });
          const expected = toPlain(general(env), history.dims);
          expect(toPlain(specialised(env), history.dims), `${text} in round ${r}`).toEqual(
            expected,
          );
          // Twice in a row: nothing read is overwritten by the call itself.
          expect(toPlain(specialised(env), history.dims)).toEqual(expected);
          if (scalar) expect(scalar(env)).toEqual(expected);
        }
        compared++;
      }),
      { numRuns: 400 },
    );
    // Most generated expressions pass the checker.
    expect(compared).toBeGreaterThan(250);
  });
});
