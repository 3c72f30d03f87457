import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  compilePerFirm,
  compileScalar,
  compileSources,
  type Dimensions,
  type EvaluationEnvironment,
  formatSource,
  type IrInstitution,
  manifestText,
  paramTensor,
  renderExpr,
  type Tensor,
  tensorFrom,
  toPlain,
} from '../../compiler/index.js';
import { parse } from '../../grammar/index.js';
import { stripRanges } from '../support/ast.js';

/**
 * List parameters read by position (`param schedule: list = […]`, `schedule[k]`,
 * `len(schedule)`), checked and evaluated on values worked out by hand. The rule under
 * test (docs/language.md, "Lists"): positions count from 1; at run time a fraction is
 * rounded down, a position below 1 reads the first value, one past the end the last, and
 * no position (NaN) reads NaN.
 */

const SOURCE = (body: string) => `mase 1

institution t {
  scope per firm
  param schedule: list = [0.35, 0.75, 1.0]
  param flags: list = [true, false]
  param step = 2
${body}
  initial state ok {
  }
}
`;

function institution(body: string): IrInstitution {
  const result = compileSources([{ path: 'lists.mase', text: SOURCE(body) }]);
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const found = result.program.institutions[0];
  if (!found) throw new Error('no institution');
  return found;
}

const dims: Dimensions = { firms: 2, products: 1 };

/** Two firms with profits 10 and 20 this round and one earlier round (profits 0 and 0). */
function environment(inst: IrInstitution, self?: number, rounds = 2): EvaluationEnvironment {
  const profit: Tensor[] = [tensorFrom(['firm'], [10, 20]), tensorFrom(['firm'], [0, 0])];
  const env: EvaluationEnvironment = {
    dims,
    ...(self === undefined ? {} : { self }),
    roundsAvailable: rounds,
    param: (name) => {
      const p = inst.params.find((x) => x.name === name);
      const t = p && paramTensor(p.type, p.value, dims);
      if (!t || typeof t === 'string') throw new Error(`parameter ${name}: ${t}`);
      return t;
    },
    firmIndex: () => -1,
    productIndex: () => -1,
    observable: (name, ago) => {
      const value = profit[ago];
      if (name !== 'profit' || !value) throw new Error(`no ${name} ${ago} rounds ago`);
      return value;
    },
    benchmark: () => {
      throw new Error('no benchmarks');
    },
    monitor: (name, ago) => {
      const m = inst.monitors.find((x) => x.name === name);
      if (!m) throw new Error(`no monitor ${name}`);
      return compileExpression(m.expr)(env, ago);
    },
  };
  return env;
}

/** Every monitor's value for firm `self`, by the general and the specialised closures. */
function values(body: string, self = 1, rounds = 2): Record<string, unknown> {
  const inst = institution(body);
  const env = environment(inst, self, rounds);
  const general = Object.fromEntries(
    inst.monitors.map((m) => [m.name, toPlain(compileExpression(m.expr)(env), dims)]),
  );
  const specialised = Object.fromEntries(
    inst.monitors.map((m) => [m.name, toPlain(compileExpression(m.expr, { dims })(env), dims)]),
  );
  expect(specialised).toEqual(general);
  return general;
}

describe('reading a list by position', () => {
  it('counts positions from 1, by constants, parameters and run-time values', () => {
    expect(
      values(`  monitor first = schedule[1]
  monitor third = schedule[3]
  monitor by_param = schedule[step]
  monitor by_profit = schedule[profit[self] / 10]
  monitor size = len(schedule)
  monitor top = schedule[len(schedule)]
  monitor flag = flags[profit[self] / 20]`),
    ).toEqual({
      first: 0.35,
      third: 1,
      by_param: 0.75, // step = 2
      by_profit: 0.75, // firm 2: profit 20 → position 2
      size: 3,
      top: 1,
      flag: 1, // position 1 of [true, false]
    });
  });

  it('clamps run-time positions: past the end the last, below 1 the first, fractions down', () => {
    expect(
      values(`  monitor past_end = schedule[profit[self]]
  monitor below = schedule[profit[self] - 25]
  monitor fraction = schedule[profit[self] / 8]
  monitor just_below_two = schedule[profit[self] / 10.01]
  monitor no_position = schedule[lag(profit[self], 2)]`),
    ).toEqual({
      past_end: 1, // position 20 of 3
      below: 0.35, // position -5
      fraction: 0.75, // position 2.5 → 2
      just_below_two: 0.35, // position 1.998 → 1
      no_position: Number.NaN, // no round 2 back: no position
    });
  });

  it('a per-firm position gives a per-firm value', () => {
    const inst = institution(`  monitor shares = schedule[profit / 4]
  monitor fines = schedule[profit / 10] * profit`);
    expect(inst.monitors.map((m) => m.expr.type)).toEqual([
      { base: 'number', axes: ['firm'] },
      { base: 'number', axes: ['firm'] },
    ]);
    expect(
      values(`  monitor shares = schedule[profit / 4]
  monitor fines = schedule[profit / 10] * profit`),
    ).toEqual({
      shares: [0.75, 1], // positions 2.5 and 5
      fines: [3.5, 15], // 0.35 × 10, 0.75 × 20
    });
  });

  it('compileScalar and compilePerFirm give what the tensor closures give', () => {
    const inst = institution(`  monitor own = schedule[profit[self] / 10] * profit[self]
  monitor clamped = schedule[profit[self] * 3] + len(schedule)`);
    for (const m of inst.monitors) {
      const perFirm = compilePerFirm(m.expr, new Set(), new Set());
      expect(perFirm, m.name).toBeDefined();
      const vector = perFirm?.(environment(inst), () => new Float64Array(2));
      for (const self of [0, 1]) {
        const env = environment(inst, self);
        const tensor = compileExpression(m.expr)(env).data[0];
        expect(compileScalar(m.expr)(env)).toBe(tensor);
        expect(vector?.[self]).toBe(tensor);
      }
    }
    // By hand: firm 1 reads position 1 (0.35 × 10), firm 2 position 2 (0.75 × 20).
    const own = inst.monitors[0];
    if (!own) throw new Error('no monitor');
    expect([0, 1].map((self) => compileScalar(own.expr)(environment(inst, self)))).toEqual([
      3.5, 15,
    ]);
  });

  it('a list parameter runs as its values in order', () => {
    const type = { base: 'number', axes: [], list: true } as const;
    expect(paramTensor(type, [0.35, 0.75, 1], dims)).toEqual(tensorFrom([], [0.35, 0.75, 1]));
    expect(paramTensor(type, 0.35, dims)).toBe('a single value where a list is expected');
  });
});

describe('lists in the manifest and in fmt', () => {
  const source = `mase 1

institution escalating "Fines that escalate" {
  scope per firm
  public
  param schedule: list = [0.35, 0.75, 1.0] "share of profit taken by the 1st, 2nd and later fines"
  monitor high = profit[self] > 100
  initial state ok {
    when high -> fined
  }
  state fined {
    fine schedule[visits(fined)] * profit[self]
    each round fine schedule[1] * profit[self]
    after 1 round -> ok
  }
}
`;

  it('writes a constant position as the value it reads and a run-time one with the list', () => {
    const inst = compileSources([{ path: 'e.mase', text: source }]).program.institutions[0];
    if (!inst) throw new Error('no institution');
    const [entry, recurring] = inst.states[1]?.sanctions ?? [];
    const values = new Map([['schedule', [0.35, 0.75, 1]]]);
    expect(entry && renderExpr(entry.amount, values)).toBe(
      '[0.35, 0.75, 1][visits(fined)] * profit[self]',
    );
    expect(recurring && renderExpr(recurring.amount, values)).toBe('0.35 * profit[self]');
    const manifest = manifestText(inst, new Map([['schedule', [0.5, 1]]]));
    expect(manifest).toContain('fine [0.5, 1][visits(fined)] * profit[self]');
    expect(manifest).toContain('fine 0.5 * profit[self]');
    expect(manifest).toContain('is the k-th value of the list, counted from 1');
  });

  it('says nothing of clamping when every position is a constant', () => {
    const constant = source.replace('schedule[visits(fined)]', 'schedule[2]');
    const inst = compileSources([{ path: 'e.mase', text: constant }]).program.institutions[0];
    if (!inst) throw new Error('no institution');
    expect(manifestText(inst)).not.toContain('counted from 1');
  });

  it('fmt keeps `list` and the positions, and reads back to the same AST', () => {
    const messy = source
      .replace(
        'param schedule: list = [0.35, 0.75, 1.0]',
        'param   schedule :list=[ 0.35,0.75 , 1.0 ]',
      )
      .replace('schedule[visits(fined)]', 'schedule[ visits( fined ) ]');
    const file = parse('e.mase', messy);
    expect(file.diagnostics).toEqual([]);
    const formatted = formatSource(file.value);
    expect(formatted).toBe(source);
    expect(formatSource(parse('e.mase', formatted).value)).toBe(formatted);
  });
});

describe('fmt on generated list parameters and positions', () => {
  const space = fc.constantFrom('', ' ', '  ');
  const number = fc.integer({ min: 0, max: 400 }).map((n) => String(n / 4));
  const list = fc.oneof(
    fc.array(number, { minLength: 1, maxLength: 5 }),
    fc.array(fc.constantFrom('true', 'false'), { minLength: 1, maxLength: 3 }),
  );
  const written = fc
    .tuple(list, space, space)
    .map(([items, a, b]) => `[${a}${items.join(`,${b}`)}${a}]`);
  // Positions: constants, the parameter, run-time values and arithmetic on them.
  const position = fc.letrec((tie) => ({
    p: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom('1', 'k', 'visits(fined)', 'profit[self] / 100', 'len(ladder)'),
      fc
        .tuple(tie('p'), fc.constantFrom('+', '-', '*'), tie('p'))
        .map(([a, o, b]) => `(${a} ${o} ${b})`),
    ),
  })).p;
  const source = fc.tuple(written, position, position, space).map(
    ([values, amount, cap, s]) => `mase 1

institution generated {
  scope per firm
  param k${s}=${s}1
  param ladder${s}:${s}list${s}=${s}${values}
  param schedule: list = [0.35, 0.75, 1.0] "fines"
  monitor high = profit[self] > 100
  initial state ok {
    when high -> fined
  }
  state fined {
    fine schedule[${amount}] * profit[self]
    cap schedule[${cap}] * 100
    after 1 round -> ok
  }
}
`,
  );

  it('formats to the same AST and the same diagnostics, idempotently', () => {
    fc.assert(
      fc.property(source, (text) => {
        const before = parse('gen.mase', text);
        expect(before.diagnostics).toEqual([]);
        const formatted = formatSource(before.value);
        const after = parse('gen.mase', formatted);
        expect(after.diagnostics).toEqual([]);
        expect(stripRanges(after.value)).toEqual(stripRanges(before.value));
        expect(formatSource(after.value)).toBe(formatted);
        const codes = (t: string) =>
          compileSources([{ path: 'gen.mase', text: t }]).diagnostics.map(
            (d) => `${d.code} ${d.message}`,
          );
        expect(codes(formatted)).toEqual(codes(text));
      }),
      { numRuns: Number(process.env.RUNS ?? 300) },
    );
  });
});
