import { describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import { stdlibSources } from '../../../runtime/index.js';

/**
 * An institution's overrides are their own pass over the checked institution
 * (compiler/check/experiment.ts `checkInstitutionUse`, compiler/param-values.ts
 * `institutionValueProblems`): a value the overrides make invalid is reported at the use,
 * naming where it is used; one the defaults already make invalid is reported once, at
 * the declaration.
 */

const institution = (detection: string) => `mase 1
institution watch {
  scope per firm
  param d = ${detection}
  param n = 2
  monitor high = mean(quantity[self]) > 10 detection d
  initial state ok { when high for n rounds -> flagged }
  state flagged {
    fine 1
    after 1 round -> ok restore
  }
}
`;
const use = (args: string) => `experiment e {
  market cournot
  institution watch(${args})
  agents nash
}
`;
const check = (text: string) =>
  compileSources([{ path: 'o.mase', text }], stdlibSources()).diagnostics.filter(
    (d) => d.severity === 'error',
  );

describe('institution overrides', () => {
  it('a probability the override makes invalid: E_VALUE at the override, naming the parameter and the monitor', () => {
    const [d, ...rest] = check(institution('0.9') + use('d: 1.5'));
    expect(rest).toEqual([]);
    expect(d).toMatchObject({
      code: 'E_VALUE',
      message:
        'with these overrides, watch: the detection probability (`d`) must be between 0 and 1 (it is 1.5)',
      hint: "in monitor `high`'s detection",
    });
    // `  institution watch(d: 1.5)`: the value 1.5, not the whole item.
    expect([d?.range.start.line, d?.range.start.column, d?.range.end.column]).toEqual([15, 24, 27]);
  });

  it('a round count the override makes invalid: at the override, pointing at the transition', () => {
    const [d, ...rest] = check(institution('0.9') + use('d: 0.5, n: 2.5'));
    expect(rest).toEqual([]);
    expect(d?.message).toBe(
      'with these overrides, watch: a number of rounds (`n`) must be a whole number of at least 1 (it is 2.5)',
    );
    expect(d?.hint).toBe('at o.mase:7:22');
    // `  institution watch(d: 0.5, n: 2.5)`: the value 2.5.
    expect([d?.range.start.line, d?.range.start.column, d?.range.end.column]).toEqual([15, 32, 35]);
  });

  it('a default that is already invalid is reported once, at the declaration', () => {
    const diagnostics = check(institution('1.5') + use('n: 3'));
    expect(diagnostics.map((d) => [d.code, d.range.start.line])).toEqual([['E_VALUE', 6]]);
  });

  it('valid overrides: no diagnostics', () => {
    expect(check(institution('0.9') + use('d: 0.5, n: 4'))).toEqual([]);
  });
});
