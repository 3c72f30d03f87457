import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/index.js';
import { stdlibSources } from '../../runtime/index.js';

const compile = (text: string) => compileSources([{ path: 'case.mase', text }], stdlibSources());
const codes = (text: string) => compile(text).diagnostics.map((d) => d.code);

const productIndexed = `mase 1
institution watch_a "Watches product A" {
  monitor a_concentrated = hhi[A] > 6000
  initial state active {
    when a_concentrated -> alert
  }
  state alert {
    notice "Product A is concentrated."
    after 1 round -> active
  }
}
`;

describe('names that only a market can resolve', () => {
  it('lets an institution checked on its own select by a name its value has one axis for', () => {
    expect(codes(productIndexed)).toEqual([]);
  });

  it('checks the name against the market of an experiment', () => {
    const withProducts = `${productIndexed}
experiment ok "A is a product of cournot_2x2" {
  market cournot_2x2
  institution watch_a
}
`;
    expect(codes(withProducts)).toEqual([]);
    const withoutA = `${productIndexed}
experiment bad "cournot has one product, called good" {
  market cournot
  institution watch_a
}
`;
    const result = compile(withoutA);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E_UNKNOWN_NAME']);
    expect(result.diagnostics[0]?.message).toContain('`A` is not a firm or product here');
  });
});

describe('overrides are checked where the values are used', () => {
  it('accepts overrides that fit the market', () => {
    expect(
      codes(`mase 1
experiment e { market cournot(firms: 3, costs: [40, 45, 50]) agents f3 = nash rounds 10 }`),
    ).toEqual([]);
  });

  it('re-checks the institution with its overrides', () => {
    const ok = codes(`mase 1
experiment e { market cournot_2x2 institution governance_graph(persistence: 5) rounds 10 }`);
    expect(ok).toEqual([]);
    const bad = codes(`mase 1
experiment e { market cournot_2x2 institution governance_graph(persistence: 2.5) rounds 10 }`);
    expect(bad).toEqual(['E_VALUE']);
  });
});

describe('warnings stay quiet where errors already speak', () => {
  it('reports no unused parameter in an institution that has an error', () => {
    const result = codes(`mase 1
institution i {
  param unused = 1
  initial state a { when nope -> a }
}`);
    expect(result).toEqual(['E_UNKNOWN_NAME']);
  });
});

describe('the horizon of an experiment', () => {
  const experiment = (items: string) =>
    compile(`mase 1
experiment e {
  market cournot
  ${items}
}
`);

  it('records a declared horizon and continuation', () => {
    const result = experiment('horizon unknown\n  continuation 0.9');
    expect(result.diagnostics).toEqual([]);
    expect(result.program.experiments[0]).toMatchObject({
      horizon: 'unknown',
      continuation: 0.9,
    });
    expect(experiment('').program.experiments[0]).not.toHaveProperty('horizon');
  });

  it('names the two horizons, with a hint for a misspelt one', () => {
    const result = experiment('horizon unkown');
    expect(result.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([
      ['E_VALUE', 'the horizon is `known` or `unknown`, not `unkown`', 'did you mean `unknown`?'],
    ]);
  });

  it('takes `checkpoint every K`, a whole number of rounds, once; the words stay usable as names', () => {
    expect(experiment('checkpoint every 25').diagnostics).toEqual([]);
    expect(experiment('checkpoint every 25').program.experiments[0]).toMatchObject({
      checkpointEvery: 25,
    });
    expect(experiment('checkpoint every 0').program.experiments[0]).toMatchObject({
      checkpointEvery: 0,
    });
    expect(experiment('').program.experiments[0]).not.toHaveProperty('checkpointEvery');
    expect(experiment('checkpoint every 2.5').diagnostics.map((d) => d.code)).toEqual(['E_TYPE']);
    expect(experiment('checkpoint every -1').diagnostics.map((d) => d.code)).toEqual(['E_VALUE']);
    expect(
      experiment('checkpoint every 5\n  checkpoint every 6').diagnostics.map((d) => d.message),
    ).toEqual(['the checkpoint interval is given twice']);
    const names = compile(`mase 1
institution i {
  param every = 2
  param checkpoint = 3
  initial state a {}
}
`);
    expect(names.diagnostics.map((d) => d.code)).toEqual(['W_UNUSED', 'W_UNUSED']);
  });

  it('takes a continuation strictly between 0 and 1, once', () => {
    expect(experiment('continuation 1').diagnostics.map((d) => d.code)).toEqual(['E_VALUE']);
    expect(experiment('continuation 0').diagnostics.map((d) => d.code)).toEqual(['E_VALUE']);
    expect(experiment('continuation "often"').diagnostics.map((d) => d.code)).toEqual(['E_TYPE']);
    expect(
      experiment(
        'continuation 0.5\n  continuation 0.6\n  horizon known\n  horizon known',
      ).diagnostics.map((d) => d.message),
    ).toEqual(['the continuation probability is given twice', 'the horizon is given twice']);
  });
});

describe('sanctions reached by evidence', () => {
  it('counts every evidence native as evidence, not only moved_together', () => {
    const sanctions = (guard: string) =>
      codes(`mase 1
institution talkers {
  scope per firm
  initial state active {
    when ${guard} -> fined
  }
  state fined {
    fine 10
    after 1 round -> active
  }
}
`).filter((c) => c === 'W_SANCTION_WITHOUT_EVIDENCE');
    expect(sanctions('mentions("split")[self] > 0')).toEqual([]);
    expect(sanctions('moved_together(threshold: 0.1)')).toEqual([]);
    // A guard on the machine's own history alone is still no evidence.
    expect(sanctions('rounds_in_state > 3')).toEqual(['W_SANCTION_WITHOUT_EVIDENCE']);
  });
});

describe('intervention declarations', () => {
  it('compile to the changes a fork makes (the agents first, the rest as written)', () => {
    const result = compile(`mase 1
intervention all_in "Every kind of change" {
  reset memory f1, f2
  institution governance_graph(fine_share: 0.5)
  agents f1 = nash, f2 = cued(word: "go")
  drop message "m12.1.1"
  replace message "m12.1.2" "compete"
  inject message world -> * "please \\"collude\\""
  inject message f1 -> f2, f3 "hi"
  mute f1 - f3
  mute f2 -> f1
  benchmark action f2 round 12
  pardon f1 round 4
  param fine_share = 0.7
}
`);
    expect(result.diagnostics).toEqual([]);
    expect(result.program.interventions).toEqual([
      {
        kind: 'intervention',
        name: 'all_in',
        title: 'Every kind of change',
        path: 'case.mase',
        changes: [
          {
            kind: 'agents',
            perFirm: {
              f1: { name: 'nash', args: [] },
              f2: { name: 'cued', args: [{ name: 'word', value: 'go' }] },
            },
          },
          { kind: 'reset', agents: ['f1', 'f2'] },
          { kind: 'institution', name: 'governance_graph', overrides: { fine_share: 0.5 } },
          { kind: 'drop_message', id: 'm12.1.1' },
          { kind: 'replace_message', id: 'm12.1.2', text: 'compete' },
          { kind: 'inject_message', from: 'world', text: 'please "collude"' },
          { kind: 'inject_message', from: 'f1', to: ['f2', 'f3'], text: 'hi' },
          { kind: 'mute', from: 'f1', to: 'f3', both: true },
          { kind: 'mute', from: 'f2', to: 'f1', both: false },
          { kind: 'benchmark_action', agent: 'f2', round: 12 },
          { kind: 'pardon', agent: 'f1', round: 4 },
          { kind: 'param', name: 'fine_share', value: 0.7 },
        ],
      },
    ]);
  });

  it('refuses what no fork can do, each at its place', () => {
    const result = compile(`mase 1
intervention empty {
}
intervention wrong {
  drop message "hello"
  market cournot
  institution nosuch
  institution governance_graph(nope: 1)
  benchmark action f1 round 0
  mute f1 -> f1
  agents nash
  agents cued
  param fee = a + 1
  param limit = 1
  param limit = 2
  replace message "m3.1" "x"
  drop message "m3.1.1"
  replace message "m3.1.1" "x"
}
intervention empty {
  reset memory f1
}
`);
    expect(result.diagnostics.map((d) => [d.code, d.message, d.range.start.line])).toEqual([
      ['E_MISSING', 'intervention `empty` changes nothing', 2],
      ['E_VALUE', '`hello` is not a message id', 5],
      ['E_SCOPE', 'an intervention may switch the institution, not the market', 6],
      ['E_UNKNOWN_NAME', 'no institution `nosuch`', 7],
      ['E_DUPLICATE', 'the institution is given twice', 8],
      ['E_UNKNOWN_PARAM', '`governance_graph` has no parameter `nope`', 8],
      ['E_VALUE', 'the round must be at least 1', 9],
      ['E_VALUE', '`f1` cannot be muted to itself', 10],
      ['E_DUPLICATE', 'the policy of all agents is given twice', 12],
      ['E_PARAM_TYPE', 'the value of `fee` must be a literal value', 13],
      ['E_DUPLICATE', '`limit` is given twice', 15],
      ['E_VALUE', '`m3.1` is not a message id', 16],
      ['E_DUPLICATE', 'message `m3.1.1` is dropped or replaced twice', 18],
      ['E_DUPLICATE', 'intervention `empty` is declared twice (first at case.mase:2:14)', 20],
    ]);
  });

  it('keeps its words usable as names', () => {
    const names = compile(`mase 1
institution i {
  param message = 2
  param drop = 3
  param inject = 4
  param memory = 5
  param intervention = 6
  initial state a {}
}
`);
    expect(names.diagnostics.map((d) => d.code)).toEqual([
      'W_UNUSED',
      'W_UNUSED',
      'W_UNUSED',
      'W_UNUSED',
      'W_UNUSED',
    ]);
  });
});
