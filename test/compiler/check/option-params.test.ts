import { describe, expect, it } from 'vitest';
import {
  compileSources,
  environmentRules,
  formatSource,
  type IrEnvironment,
  type IrExpr,
  paramTensor,
} from '../../../compiler/index.js';
import { parse } from '../../../grammar/index.js';
import { instantiateEnvironment, stdlibSources } from '../../../runtime/index.js';

/**
 * Option parameters (`param mode: one of "plain", "double" = "plain"`): a string that must
 * be one of its options, compared with `==`/`!=` against them and run as the option's
 * index (compiler/check/common.ts `checkParams`, compiler/expressions.ts
 * `optionComparison`, compiler/evaluate.ts `paramTensor`).
 */

const compile = (text: string) => compileSources([{ path: 'o.mase', text }], stdlibSources());
const errors = (text: string) => compile(text).diagnostics.filter((d) => d.severity === 'error');

/** Two players; `double` pays twice the effort, `plain` the effort itself. */
const DOUBLING = `mase 1
environment doubling "Plain or double pay" {
  param mode: one of "plain", "double" = "plain" "how effort is paid"
  agents player = 2
  action effort in [0, 1]
  payoff = if mode == "double" then 2 * effort else effort
}
`;
const doubling = (text = DOUBLING) =>
  compile(text).program.environments.find((e) => e.name === 'doubling') as IrEnvironment;

/** DOUBLING with the payoff replaced. */
const payoffOf = (payoff: string) =>
  DOUBLING.replace('if mode == "double" then 2 * effort else effort', payoff);

describe('an option parameter in the IR', () => {
  it('has a string type listing its options, and its value as written', () => {
    expect(compile(DOUBLING).diagnostics).toEqual([]);
    const [mode] = doubling().params;
    expect(mode).toEqual({
      name: 'mode',
      type: { base: 'string', axes: [], options: ['plain', 'double'] },
      value: 'plain',
      doc: 'how effort is paid',
    });
  });

  it('a compared option is the constant of its index, on either side', () => {
    const lets = (payoff: string) => {
      const env = doubling(payoffOf(payoff));
      const condition = (env.payoff as Extract<IrExpr, { op: 'if' }>).condition;
      return condition as Extract<IrExpr, { op: 'binary' }>;
    };
    const right = lets('if mode == "double" then 1 else 0').right;
    expect(right).toMatchObject({ op: 'const', value: 1, text: '"double"' });
    const left = lets('if "plain" != mode then 1 else 0').left;
    expect(left).toMatchObject({ op: 'const', value: 0, text: '"plain"' });
  });

  it('runs as the index of the value: the default, an override, one per agent', () => {
    const type = { base: 'string' as const, axes: [], options: ['plain', 'double'] };
    const dims = { firms: 2, products: 1 };
    expect(paramTensor(type, 'double', dims)).toEqual({
      axes: [],
      data: Float64Array.of(1),
    });
    expect(paramTensor({ ...type, axes: ['firm'] }, ['double', 'plain'], dims)).toEqual({
      axes: ['firm'],
      data: Float64Array.of(1, 0),
    });
    const pay = (params: Record<string, string>) =>
      Array.from(
        instantiateEnvironment(doubling(), params, 1).clear(Float64Array.of(1, 0.5), 1).payoff,
      );
    expect(pay({})).toEqual([1, 0.5]);
    expect(pay({ mode: 'double' })).toEqual([2, 1]);
  });

  it('reads back as written: `mase fmt` keeps the options, the rules show the string', () => {
    const formatted = formatSource(parse('o.mase', DOUBLING).value);
    expect(formatted).toContain(
      'param mode: one of "plain", "double" = "plain" "how effort is paid"',
    );
    expect(formatSource(parse('o.mase', formatted).value)).toBe(formatted);
    const rules = environmentRules(doubling(), ['player1', 'player2'], { mode: 'double' });
    expect(rules).toContain('mode = "double"');
    expect(rules).toContain('if "double" == "double" then 2 * effort else effort');
    expect(rules).not.toMatch(/== 1 then/);
  });

  it('works in markets and institutions too, with their overrides checked', () => {
    const text = `mase 1
institution watch "Strict or lenient" {
  param mode: one of "strict", "lenient" = "strict"
  monitor crowded = mean(quantity) > 10
  initial state ok { when crowded and mode == "strict" -> flagged }
  state flagged { when not crowded -> ok }
}
experiment e {
  market cournot
  institution watch(mode: MODE)
  agents nash
}
`;
    expect(errors(text.replace('MODE', '"lenient"'))).toEqual([]);
    const [wrong, ...rest] = errors(text.replace('MODE', '"loose"'));
    expect(rest).toEqual([]);
    expect(wrong?.code).toBe('E_PARAM_TYPE');
    expect(wrong?.message).toBe('`mode`: expected one of "strict", "lenient", found "loose"');
    const [bare] = errors(text.replace('MODE', 'lenient'));
    expect(bare?.hint).toBe('strings are written in quotes: "lenient"');
  });
});

describe('what an option parameter cannot do', () => {
  const only = (payoff: string) => {
    const found = errors(payoffOf(payoff));
    expect(found).toHaveLength(1);
    return found[0];
  };

  it('compare with a string that is not an option: E_TYPE at the string, listing the options', () => {
    const d = only('if mode == "tripple" then effort else 0');
    expect(d?.code).toBe('E_TYPE');
    expect(d?.message).toBe(
      '"tripple" is not an option of `mode`; its options are "plain", "double"',
    );
    expect(d?.range.start.column).toBe('  payoff = if mode == '.length + 1);
  });

  it('compare with a number or true/false: E_TYPE naming both', () => {
    expect(only('if mode == 1 then effort else 0')?.message).toBe(
      'cannot compare `mode` (a string, one of "plain", "double") with a number',
    );
    expect(only('if mode != true then effort else 0')?.code).toBe('E_TYPE');
  });

  it('arithmetic, negation, a function argument, a branch of `if`: E_TYPE with how to compare it', () => {
    for (const payoff of [
      'effort * mode',
      '-mode',
      'max(mode, effort)',
      'if mode == "plain" then effort else 0 + (if effort > 0 then mode else mode == "plain")',
    ]) {
      const d = only(payoff);
      expect(d?.code, payoff).toBe('E_TYPE');
      expect(d?.hint, payoff).toBe('compare it with one of its options, e.g. `mode == "plain"`');
    }
  });

  it('two option values compare only when their options are the same', () => {
    const second = (options: string) =>
      DOUBLING.replace(
        '  agents player',
        `  param other: one of ${options} = "plain"\n  agents player`,
      ).replace('mode == "double"', 'mode == other');
    expect(errors(second('"plain", "double"'))).toEqual([]);
    const [d] = errors(second('"plain", "triple"'));
    expect(d?.code).toBe('E_TYPE');
    expect(d?.message).toContain('cannot compare `mode`');
  });

  it('a default that is not an option, or an option written twice, is refused at the declaration', () => {
    const [d] = errors(DOUBLING.replace('= "plain" "how', '= "half" "how'));
    expect(d?.code).toBe('E_PARAM_TYPE');
    expect(d?.message).toBe(
      'the default of `mode`: expected one of "plain", "double", found "half"',
    );
    const [twice] = errors(DOUBLING.replace('"plain", "double"', '"plain", "plain"'));
    expect(twice?.code).toBe('E_DUPLICATE');
  });
});
