import { describe, expect, it } from 'vitest';
import {
  compileSources,
  type IrInstitution,
  institutionDot,
  manifestText,
} from '../../compiler/index.js';
import { stdlibSources } from '../../runtime/index.js';
import { ESCALATING_CREDIT, escalatingCredit } from '../support/escalating-credit.js';

function institutionOf(text: string, name: string): IrInstitution {
  const compiled = compileSources([{ path: 'case.mase', text }], stdlibSources(), {
    includeLibrary: true,
  });
  const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map((d) => d.message)).toEqual([]);
  const institution = compiled.program.institutions.find((i) => i.name === name);
  if (!institution) throw new Error(`no institution ${name}`);
  return institution;
}

/** The one edge of state `s`, from a state with `source` effects to `target` (`a`: initial). */
function edge(source: string, transition: string, target = '') {
  const institution = institutionOf(
    `mase 1
institution t "Cases" {
  monitor e = any(quantity > 0)
  rule M "Prohibition": firm must not "coordinate" or else "a fine"
  rule O "Obligation": firm must "report" or else "a fine"
  rule F "Permission": firm may "return to good standing"
  initial state a { when e -> s rule M }
  state s { ${source} ${transition} }
  state t { ${target} after 1 round -> a rule F }
}
`,
    't',
  );
  const s = institution.states.find((x) => x.name === 's');
  return { kind: s?.kind, restorative: s?.transitions[0]?.restorative };
}

describe('state kinds follow from effects', () => {
  it.each([
    ['', 'normal'],
    ['notice "You are warned."', 'warning'],
    ['credit 10', 'credit'],
    ['each round credit 10', 'credit'],
    ['notice "You are credited." credit 10', 'credit'],
    ['fine 5', 'sanction'],
    ['fine 5 credit 10', 'sanction'],
    ['notice "n" each round fine 5', 'sanction'],
    ['cap 10', 'sanction'],
    ['floor 1', 'sanction'],
    ['suspend', 'sanction'],
  ])('a state with `%s` is %s', (effects, kind) => {
    expect(edge(effects, 'after 1 round -> a').kind).toBe(kind);
  });
});

describe('an edge is restorative only when the language says so', () => {
  it.each([
    // `when` edges are triggered by evidence: never implicitly restorative.
    ['notice "w"', 'when e -> a', '', false],
    ['fine 5', 'when not e for 3 rounds -> a rule F', '', false],
    ['fine 5', 'when e -> t', 'credit 10', false],
    // ... unless declared so.
    ['fine 5', 'when not e for 3 rounds -> a restore', '', true],
    // `after` edges into the initial state or a less severe one.
    ['notice "w"', 'after 2 rounds -> a', '', true],
    ['fine 5', 'after 2 rounds while not e -> a rule F', '', true],
    ['fine 5', 'after 2 rounds -> t', 'credit 10', true],
    ['suspend', 'after 2 rounds -> t', 'notice "w"', true],
    ['fine 5', 'after 2 rounds -> t', '', true],
    // ... but not when they enforce a prohibition or an obligation.
    ['notice "w"', 'after 2 rounds -> a rule M', '', false],
    ['fine 5', 'after 2 rounds -> t rule O', 'credit 10', false],
    // ... nor into a state as severe or worse.
    ['credit 10', 'after 2 rounds -> t', 'notice "w"', false],
    ['notice "w"', 'after 2 rounds -> t', 'fine 5', false],
    ['fine 5', 'after 2 rounds -> t', 'cap 10', false],
    ['', 'after 2 rounds -> t', '', false],
    ['suspend', 'after 5 rounds -> t restore', 'fine 5', true],
  ])(
    'from a state with `%s`, `%s` into one with `%s`: %s',
    (source, transition, target, expected) => {
      expect(edge(source, transition, target).restorative).toBe(expected);
    },
  );
});

describe('the escalating credit of issue 11', () => {
  const escalating = institutionOf(escalatingCredit().text, ESCALATING_CREDIT);
  const withNotice = institutionOf(escalatingCredit({ notice: true }).text, ESCALATING_CREDIT);
  const credited = (i: IrInstitution) => i.states.find((s) => s.name === 'credited');

  it('does not call the escalation out of `credited` a restoration in the IR', () => {
    const escalation = credited(escalating)?.transitions.find((t) => t.target === 'warning');
    expect(escalation).toMatchObject({ kind: 'when', rule: 'P1', restorative: false });
    // The graph's real restorations keep their label.
    const restorations = escalating.states.flatMap((s) =>
      s.transitions.filter((t) => t.restorative).map((t) => `${t.source}->${t.target}`),
    );
    expect(restorations.sort()).toEqual([
      'credited->active',
      'fined->credited',
      'suspended->fined',
      'warning->active',
    ]);
  });

  it('does not print it as "(restoration)" in the manifest', () => {
    const lines = manifestText(escalating).split('\n');
    const at = lines.findIndex((l) => l.startsWith('  credited — Credited'));
    expect(lines.slice(at + 1, at + 4)).toEqual([
      '    on entry: credit 100',
      '    -> warning when `evidence` holds [rule P1]',
      '    -> active after 1 round in `credited` [rule R1] (restoration)',
    ]);
  });

  it('draws it as an escalation (solid, red), not a restoration (dashed, green)', () => {
    const dot = institutionDot(escalating);
    const block = dot.match(/"credited" -> "warning" \[\n[\s\S]*?\n {2}\];/)?.[0] ?? '';
    expect(block).toContain('id = "credited.0"');
    expect(block).not.toContain('dashed');
    expect(block).not.toContain('#2e7d32');
    expect(block).toContain('color = "#b23b2e"');
  });

  it('keeps `credited` a credit state when it also sends a notice', () => {
    expect(credited(escalating)?.kind).toBe('credit');
    expect(credited(withNotice)?.kind).toBe('credit');
    expect(manifestText(withNotice)).toContain('  credited — Credited [restorative]\n');
    expect(manifestText(withNotice)).not.toContain('credited — Credited [sanction]');
  });
});
