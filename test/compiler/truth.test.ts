import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  compileSources,
  type EvaluationEnvironment,
  scalarTensor,
  tensorFrom,
} from '../../compiler/index.js';

// One round of history only: every lag is still unknown (NaN).
function firstRound(profit: number[]): EvaluationEnvironment {
  const nan = scalarTensor(Number.NaN);
  return {
    dims: { firms: profit.length, products: 1 },
    param: () => nan,
    firmIndex: () => -1,
    productIndex: () => -1,
    roundsAvailable: 1,
    observable: (name) => (name === 'profit' ? tensorFrom(['firm'], profit) : nan),
    benchmark: () => nan,
    monitor: () => nan,
  };
}

function monitors(expressions: Record<string, string>) {
  const body = Object.entries(expressions)
    .map(([name, e]) => `  monitor ${name} = ${e}`)
    .join('\n');
  const uses = Object.keys(expressions).join(' or ');
  const result = compileSources([
    {
      path: 't.mase',
      text: `mase 1\ninstitution t {\n${body}\n  initial state a { when ${uses} -> a }\n}\n`,
    },
  ]);
  expect(result.diagnostics).toEqual([]);
  return new Map(result.program.institutions[0]?.monitors.map((m) => [m.name, m.expr]));
}

describe('an unknown truth value (NaN) counts as false', () => {
  const m = monitors({
    was_high: 'lag(any(profit > 10))',
    not_was_high: 'not lag(any(profit > 10))',
    either: 'lag(any(profit > 10)) or false',
    both: 'lag(any(profit > 10)) and true',
    picked: 'if lag(any(profit > 10)) then mean(profit) > 0 else false',
    per_firm: 'count(lag(profit > 10)) == 0',
  });
  const value = (name: string) => {
    const expr = m.get(name);
    if (!expr) throw new Error(name);
    return Array.from(compileExpression(expr)(firstRound([20, 30])).data);
  };

  it('in `and`, `or`, `not` and `if`', () => {
    expect(value('was_high')).toEqual([Number.NaN]);
    expect(value('not_was_high')).toEqual([1]);
    expect(value('either')).toEqual([0]);
    expect(value('both')).toEqual([0]);
    expect(value('picked')).toEqual([0]);
  });

  it('counts an unknown per-firm value as no firm at all', () => {
    expect(value('per_firm')).toEqual([1]);
  });
});
