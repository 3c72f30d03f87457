import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileSources,
  type IrInstitution,
  institutionDot,
  type MachineConfigJson,
  machineConfig,
  manifestText,
} from '../../compiler/index.js';
import { escapeString } from '../../grammar/index.js';
import { stdlibSources } from '../../runtime/index.js';
import {
  type GenInstitution,
  type GenState,
  institutionArbitrary,
  institutionSource,
  nameArbitrary,
  noticeSource,
  renderedNumber,
  runs,
} from './institution-arbitrary.js';

/**
 * The three backends (machine JSON, DOT, manifest) are generated from one IR and must tell
 * the same story. What each must show is read here from the source text by a small
 * independent reader, not from the IR, so a backend and the checker cannot agree on a
 * mistake. Numbers are drawn with at most 6 significant digits because the backends
 * render numbers rounded to 6: 0.5 and 0.5000001 give identical outputs today.
 */

const governance = stdlibSources().find((s) => s.path.endsWith('governance-graph.mase'));
if (!governance) throw new Error('stdlib/governance-graph.mase is missing');

interface Outputs {
  readonly institution: IrInstitution;
  readonly machine: MachineConfigJson;
  readonly json: string;
  readonly dot: string;
  readonly manifest: string;
}

function outputs(text: string, path = governance?.path ?? 'g.mase'): Outputs {
  const result = compileSources([{ path, text }]);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map((d) => `${d.code} ${d.range.start.line}: ${d.message}`)).toEqual([]);
  expect(result.program.institutions).toHaveLength(1);
  const institution = result.program.institutions[0] as IrInstitution;
  const machine = machineConfig(institution);
  return {
    institution,
    machine,
    json: JSON.stringify(machine),
    dot: institutionDot(institution),
    manifest: manifestText(institution),
  };
}

// ---- what the source says, read without the compiler ---------------------------------------

interface ExpectedState {
  readonly name: string;
  /** As the manifest and the diagram render them, e.g. `each round: fine 12.5`. */
  readonly sanctions: readonly string[];
  /** Amounts with parameter values written in, as the machine carries them. */
  readonly amounts: readonly string[];
  readonly suspend: boolean;
  readonly notices: readonly string[];
}

interface Expected {
  readonly states: readonly ExpectedState[];
  readonly initial: string;
  readonly rules: readonly string[];
  readonly params: ReadonlyMap<string, string>;
}

const formatted = (literal: string) => String(Number(literal));

/** Reads a source in the one-item-per-line layout of the stdlib and of the generator. */
function expectedFrom(text: string): Expected {
  const params = new Map<string, string>();
  for (const m of text.matchAll(/^ {2}param (\w+)(?::[^=]*)? = (-?[\d.]+(?:e[+-]?\d+)?)\b/gm))
    params.set(m[1] as string, formatted(m[2] as string));
  const render = (amount: string) =>
    amount.replace(/\b[A-Za-z_]\w*\b/g, (word) => params.get(word) ?? word);
  const rules = [...text.matchAll(/^ {2}rule (\w+)/gm)].map((m) => m[1] as string);
  const states: ExpectedState[] = [];
  let initial = '';
  let current: { name: string; lines: string[] } | undefined;
  const close = () => {
    if (!current) return;
    const sanctions: string[] = [];
    const amounts: string[] = [];
    const notices: string[] = [];
    let suspend = false;
    for (const line of current.lines) {
      const sanction = /^ {4}(?:(each round(?: after entry)?) )?(fine|credit) (.+)$/.exec(line);
      if (sanction) {
        const amount = render(sanction[3] as string);
        amounts.push(amount);
        sanctions.push(`${sanction[1] ?? 'on entry'}: ${sanction[2]} ${amount}`);
      }
      // `s`: a notice may hold U+2028, which `.` does not match.
      const notice = /^ {4}notice (".*")$/s.exec(line);
      if (notice) notices.push(JSON.parse(notice[1] as string) as string);
      if (/^ {4}suspend$/.test(line)) suspend = true;
    }
    states.push({ name: current.name, sanctions, amounts, suspend, notices });
    current = undefined;
  };
  for (const line of text.split('\n')) {
    const header = /^ {2}(initial )?state (\w+)/.exec(line);
    if (header) {
      current = { name: header[2] as string, lines: [] };
      if (header[1]) initial = current.name;
    } else if (current && /^ {2}\}$/.test(line)) close();
    else current?.lines.push(line);
  }
  return { states, initial, rules, params };
}

// ---- the manifest, read back ----------------------------------------------------------------

function section(manifest: string, title: string): string[] {
  const lines = manifest.split('\n');
  const start = lines.indexOf(title);
  if (start < 0) return [];
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** The STATES section as blocks: the heading's state name, then the block's lines. */
function manifestStates(manifest: string): { name: string; lines: string[] }[] {
  const blocks: { name: string; lines: string[] }[] = [];
  for (const line of section(manifest, 'STATES')) {
    if (/^ {2}\S/.test(line))
      blocks.push({ name: line.slice(2).split(' ')[0] as string, lines: [] });
    else blocks[blocks.length - 1]?.lines.push(line.trim());
  }
  return blocks;
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

type MachineState = {
  entry?: { type: string; params?: { text?: string; timing?: string; amount?: string } }[];
  meta: {
    sanctions: { sanction: string; timing: string; amount: string }[];
    notices: string[];
    suspend: boolean;
  };
};

/** Every backend shows every state, rule, sanction and notice the source declares. */
function assertShowsEverything(o: Outputs, expected: Expected): void {
  const names = expected.states.map((s) => s.name);

  // The machine: exactly the declared states, and each state's own effects.
  const machineStates = o.machine.states as unknown as Record<string, MachineState>;
  expect(Object.keys(machineStates)).toEqual(names);
  expect(o.machine.initial).toBe(expected.initial);
  for (const s of expected.states) {
    const node = machineStates[s.name] as MachineState;
    expect(node.meta.sanctions.map((x) => x.amount)).toEqual(s.amounts);
    expect(node.meta.suspend).toBe(s.suspend);
    expect(node.meta.notices).toEqual(s.notices);
    const entryNotices = (node.entry ?? []).filter((a) => a.type === 'mase.notice');
    expect(entryNotices.map((a) => a.params?.text)).toEqual(s.notices);
  }
  expect(Object.keys((o.machine.meta as unknown as { rules: object }).rules)).toEqual(
    expected.rules,
  );

  // The diagram: a node per state, labelled with the state's sanctions.
  for (const s of expected.states) {
    const node = new RegExp(`^ {2}"${s.name}" \\[\\n((?: {4}[^\\n]*\\n)*?) {2}\\];$`, 'm').exec(
      o.dot,
    );
    expect(node, `no DOT node for state ${s.name}`).not.toBeNull();
    const label = /label = "([^\n]*)";/.exec(node?.[1] ?? '')?.[1] ?? '';
    for (const line of s.sanctions) expect(label).toContain(`${line}\\l`);
    expect(label.includes('suspended: production forced to 0')).toBe(s.suspend);
  }

  // The manifest: one block per state, in order, with its sanctions, suspension and notices.
  const blocks = manifestStates(o.manifest);
  expect(blocks.map((b) => b.name)).toEqual(names);
  for (const [i, s] of expected.states.entries()) {
    const lines = blocks[i]?.lines ?? [];
    expect(lines.filter((l) => /^(each round( after entry)?|on entry): /.test(l))).toEqual(
      s.sanctions,
    );
    expect(lines.includes('suspended: production forced to 0')).toBe(s.suspend);
    const text = squash(lines.join(' '));
    for (const n of s.notices) expect(text).toContain(squash(`notice on entry: "${n}"`));
  }
  const ruleHeadings = section(o.manifest, 'RULES')
    .filter((l) => /^ {2}\S/.test(l))
    .map((l) => l.slice(2).split(' ')[0]);
  expect(ruleHeadings).toEqual(expected.rules);
  for (const [name, value] of expected.params) {
    expect(section(o.manifest, 'PARAMETERS (already written into the text above)')).toContainEqual(
      expect.stringMatching(new RegExp(`^ {2}${name} = ${value.replace('.', '\\.')}( — |$)`)),
    );
  }
}

function assertAllDiffer(a: Outputs, b: Outputs): void {
  expect(b.json, 'machine JSON unchanged').not.toBe(a.json);
  expect(b.dot, 'DOT unchanged').not.toBe(a.dot);
  expect(b.manifest, 'manifest unchanged').not.toBe(a.manifest);
}

// ---- variants of the stdlib governance graph -------------------------------------------------

const original = governance.text;
let baseOutputs: Outputs | undefined;
const base = () => {
  baseOutputs ??= outputs(original);
  return baseOutputs;
};
const baseExpected = expectedFrom(original);
const words = new Set(original.match(/\b\w+\b/g) ?? []);
const roundCountParams = new Set(
  [...original.matchAll(/(?:for|after) (\w+) rounds?/g)].map((m) => m[1] as string),
);

interface Variant {
  readonly kind: string;
  readonly text: string;
  /** Checks specific to the edit, beyond the shared invariants. */
  readonly check: (o: Outputs) => void;
}

const paramEdit: fc.Arbitrary<Variant> = fc
  .constantFrom(...baseExpected.params.keys())
  .chain((name) =>
    (roundCountParams.has(name) ? fc.integer({ min: 1, max: 60 }) : renderedNumber(-99999, 99999))
      .filter((v) => String(v) !== baseExpected.params.get(name))
      .map((value) => ({
        kind: `param ${name} = ${value}`,
        text: original.replace(
          new RegExp(`^( {2}param ${name} = )\\S+`, 'm'),
          (_, head: string) => `${head}${value}`,
        ),
        check: (o: Outputs) => {
          const meta = o.machine.meta as unknown as { params: Record<string, string> };
          expect(meta.params[name]).toBe(String(value));
          if (roundCountParams.has(name)) {
            expect(o.json).toContain(`"rounds":${value},`);
          }
        },
      })),
  );

const stateNames = baseExpected.states.map((s) => s.name);
const freshName = nameArbitrary.filter((n) => !words.has(n));

const renameEdit: fc.Arbitrary<Variant> = fc
  .tuple(fc.constantFrom(...stateNames), freshName)
  .map(([from, to]) => ({
    kind: `rename state ${from} to ${to}`,
    text: original.replace(new RegExp(`\\b${from}\\b`, 'g'), () => to),
    check: (o: Outputs) => {
      expect(Object.keys(o.machine.states as object)).toContain(to);
      expect(Object.keys(o.machine.states as object)).not.toContain(from);
      expect(o.dot).toContain(`-> "${to}"`);
    },
  }));

const sanctionLine = /^ {4}(each round )?(fine|credit) (.+)$/;
const sanctionLines = original.split('\n').filter((l) => sanctionLine.test(l));
const amountEdit: fc.Arbitrary<Variant> = fc
  .tuple(
    fc.constantFrom(...sanctionLines),
    renderedNumber(0, 999999),
    fc.constantFrom('N', 'N * profit[self]', 'max(N, profit[self])', 'min(N, 10)'),
  )
  .map(([line, n, shape]) => {
    const [, each, sanction] = sanctionLine.exec(line) as RegExpExecArray;
    const amount = shape.replace('N', String(n));
    const rendered = `${each ? 'each round: ' : 'on entry: '}${sanction} ${amount}`;
    return {
      kind: `${line.trim()} becomes ${amount}`,
      text: original.replace(line, () => `    ${each ?? ''}${sanction} ${amount}`),
      check: (o: Outputs) => {
        expect(o.manifest).toContain(rendered);
        expect(o.dot).toContain(rendered);
        expect(o.json).toContain(`"amount":${JSON.stringify(amount)}`);
      },
    };
  });

const noticeString = noticeSource(60);

const noticeEdit: fc.Arbitrary<Variant> = fc
  .tuple(fc.constantFrom(...stateNames), noticeString)
  .map(([state, notice]) => ({
    kind: `notice ${JSON.stringify(notice)} in ${state}`,
    text: original.replace(
      new RegExp(`^( {2}(?:initial )?state ${state}\\b.*\\{)$`, 'm'),
      // A function, so that `$&` or `$'` in the notice stay text.
      (header: string) => `${header}\n    notice ${escapeString(notice)}`,
    ),
    check: (o: Outputs) => {
      const node = (o.machine.states as unknown as Record<string, MachineState>)[state];
      expect(node?.meta.notices).toContain(notice);
    },
  }));

describe('variants of the stdlib governance graph', () => {
  it('the reader of this test sees the governance graph as the compiler does', () => {
    expect(baseExpected.states.length).toBeGreaterThan(1);
    expect(sanctionLines.length).toBeGreaterThan(0);
    expect(roundCountParams.size).toBeGreaterThan(0);
    assertShowsEverything(base(), baseExpected);
  });

  it.each([
    ['a changed parameter default', paramEdit],
    ['a renamed state', renameEdit],
    ['a changed fine or credit amount', amountEdit],
    ['an added notice', noticeEdit],
  ] as const)('%s changes the machine, the diagram and the manifest consistently', (_, edit) => {
    fc.assert(
      fc.property(edit, (variant) => {
        expect(variant.text).not.toBe(original);
        const o = outputs(variant.text);
        assertAllDiffer(base(), o);
        assertShowsEverything(o, expectedFrom(variant.text));
        variant.check(o);
      }),
      runs(30),
    );
  });
});

// ---- random small institutions ---------------------------------------------------------------

type ModelEdit = (g: GenInstitution) => fc.Arbitrary<GenInstitution> | undefined;

const mapState = (g: GenInstitution, name: string, f: (s: GenState) => GenState) => ({
  ...g,
  states: g.states.map((s) => (s.name === name ? f(s) : s)),
});

const modelEdits: Record<string, ModelEdit> = {
  'a changed threshold': (g) => {
    const guarded = g.states.flatMap((s) =>
      s.transitions.flatMap((t, i) => (t.monitor === undefined ? [] : [[s.name, i] as const])),
    );
    if (guarded.length === 0) return undefined;
    return fc
      .tuple(fc.constantFrom(...guarded), renderedNumber(-100, 1000))
      .filter(
        ([[state, i], v]) =>
          g.states.find((s) => s.name === state)?.transitions[i]?.threshold !== v,
      )
      .map(([[state, i], threshold]) =>
        mapState(g, state, (s) => ({
          ...s,
          transitions: s.transitions.map((t, j) => (j === i ? { ...t, threshold } : t)),
        })),
      );
  },
  'a renamed state': (g) => {
    const used = new Set([
      g.name,
      ...g.states.map((s) => s.name),
      ...g.monitors.map((m) => m.name),
      ...g.rules.map((r) => r.id),
      ...g.params.map((p) => p.name),
    ]);
    return fc
      .tuple(
        fc.constantFrom(...g.states.map((s) => s.name)),
        nameArbitrary.filter((n) => !used.has(n)),
      )
      .map(([from, to]) => {
        const rename = (n: string) => (n === from ? to : n);
        return {
          ...g,
          initial: rename(g.initial),
          states: g.states.map((s) => ({
            ...s,
            name: rename(s.name),
            transitions: s.transitions.map((t) => ({ ...t, target: rename(t.target) })),
          })),
        };
      });
  },
  'a changed sanction amount': (g) => {
    const sanctioned = g.states.flatMap((s) => s.sanctions.map((_, i) => [s.name, i] as const));
    if (sanctioned.length === 0) return undefined;
    return fc
      .tuple(fc.constantFrom(...sanctioned), renderedNumber(0, 100000))
      .filter(
        ([[state, i], v]) => g.states.find((s) => s.name === state)?.sanctions[i]?.amount !== v,
      )
      .map(([[state, i], amount]) =>
        mapState(g, state, (s) => ({
          ...s,
          sanctions: s.sanctions.map((x, j) => (j === i ? { ...x, amount } : x)),
        })),
      );
  },
  'an added notice': (g) =>
    fc
      .tuple(fc.constantFrom(...g.states.map((s) => s.name)), noticeString)
      .map(([state, notice]) =>
        mapState(g, state, (s) => ({ ...s, notices: [...s.notices, notice] })),
      ),
};

describe('random small institutions', () => {
  it('every backend shows every state, rule id, sanction and notice', () => {
    let compiled = 0;
    fc.assert(
      fc.property(institutionArbitrary, (g) => {
        const text = institutionSource(g);
        const result = compileSources([{ path: 'generated.mase', text }]);
        fc.pre(!result.diagnostics.some((d) => d.severity === 'error'));
        compiled++;
        const o = outputs(text, 'generated.mase');
        assertShowsEverything(o, expectedFrom(text));
        // The model, not only the reader, agrees on the states and rules.
        expect(Object.keys(o.machine.states as object)).toEqual(g.states.map((s) => s.name));
        expect(o.machine.initial).toBe(g.initial);
        for (const r of g.rules) expect(o.manifest).toMatch(new RegExp(`^ {2}${r.id}\\b`, 'm'));
      }),
      runs(60),
    );
    // The generator writes valid institutions; a property that never ran would prove nothing.
    expect(compiled).toBeGreaterThan(0.75 * runs(60).numRuns);
  });

  it.each(Object.entries(modelEdits))('%s changes all three outputs', (_, edit) => {
    fc.assert(
      fc.property(
        institutionArbitrary.chain(
          (g): fc.Arbitrary<{ g: GenInstitution; edited?: GenInstitution }> =>
            edit(g)?.map((edited) => ({ g, edited })) ?? fc.constant({ g }),
        ),
        ({ g, edited }) => {
          // Some institutions have nothing to edit (no guarded transition, no sanction).
          fc.pre(edited !== undefined);
          const before = outputs(institutionSource(g), 'generated.mase');
          const text = institutionSource(edited as GenInstitution);
          const after = outputs(text, 'generated.mase');
          assertAllDiffer(before, after);
          assertShowsEverything(after, expectedFrom(text));
        },
      ),
      runs(25),
    );
  });
});
