import fc from 'fast-check';
import { escapeString } from '../../grammar/index.js';
// The lexer's keyword tables, to generate keywords and near-misses.
import { hard, soft } from '../../grammar/tokens.js';

/**
 * Random small institutions as source text, with the model they were written from, so
 * properties can state what every backend must show without reading the compiler's IR.
 */

/** Runs of a property; `MASE_FUZZ_SCALE=20 npx vitest run test/properties` searches deeper. */
export function runs(n: number): { numRuns: number } {
  const scale = Number(process.env.MASE_FUZZ_SCALE ?? 1);
  return { numRuns: Math.max(1, Math.round(n * (Number.isFinite(scale) ? scale : 1))) };
}

export interface GenTransition {
  readonly kind: 'when' | 'after';
  /** `when MONITOR > THRESHOLD`, or `after … while MONITOR < THRESHOLD` when present. */
  readonly monitor?: string;
  readonly threshold: number;
  /** A literal count, or the name of a parameter holding it. */
  readonly rounds: number | string;
  readonly target: string;
  readonly rule?: string;
  readonly priority?: number;
  readonly restore: boolean;
}

export interface GenSanction {
  readonly sanction: 'fine' | 'credit';
  readonly timing: 'entry' | 'each_round';
  /** `each round after entry` (only with `each_round`): the same timing, written out. */
  readonly afterEntry: boolean;
  readonly amount: number;
}

export interface GenState {
  readonly name: string;
  readonly title?: string;
  readonly transitions: readonly GenTransition[];
  readonly sanctions: readonly GenSanction[];
  readonly notices: readonly string[];
  readonly suspend: boolean;
}

export interface GenRule {
  readonly id: string;
  readonly deontic: 'must' | 'must not' | 'may';
  readonly aim: string;
}

export interface GenInstitution {
  readonly name: string;
  readonly scope: 'firm' | 'market';
  readonly visibility?: 'public' | 'private';
  readonly params: readonly { readonly name: string; readonly value: number }[];
  readonly monitors: readonly { readonly name: string; readonly expr: string }[];
  readonly rules: readonly GenRule[];
  readonly states: readonly GenState[];
  readonly initial: string;
}

// Names the checker resolves before an institution's own declarations, or refuses.
const taken = new Set([
  ...Object.keys(hard),
  ...['quantity', 'price', 'profit', 'revenue', 'unit_cost', 'share', 'total', 'hhi', 'round'],
  ...['n_firms', 'n_products', 'self', 'nash', 'collusive', 'competitive', 'rounds_in_state'],
  ...['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'],
  ...['isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__defineGetter__'],
  ...['__defineSetter__', '__lookupGetter__', '__lookupSetter__'],
]);

/** A fresh name: an identifier, sometimes a soft keyword (the language allows those as names). */
export const nameArbitrary: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 8, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,9}$/) },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,5}$/) },
    { weight: 1, arbitrary: fc.constantFrom(...Object.keys(soft)) },
  )
  .filter((n) => !taken.has(n));

/** Numbers written exactly as the backends render them (at most 6 significant digits). */
export const renderedNumber = (min: number, max: number): fc.Arbitrary<number> =>
  fc
    .tuple(fc.integer({ min, max }), fc.integer({ min: 0, max: 3 }))
    .map(([n, shift]) => n / 10 ** shift)
    .filter((n) => !Object.is(n, -0));

/**
 * Printable text a source may hold in a string: no control or bidi characters, nor U+FFFD
 * (E_BAD_CHAR: it stands for bytes that are not UTF-8).
 */
const FORBIDDEN_IN_SOURCES =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ufffd]/g;

export const sourceText = (maxLength: number): fc.Arbitrary<string> =>
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength })
    .map((s) => s.replace(FORBIDDEN_IN_SOURCES, ''))
    .filter((s) => s.trim().length > 0);

/**
 * A notice's text as written: a brace is doubled, since `{…}` in a notice is a value read
 * when it is given (test/cli/notices.test.ts covers values and doubled braces).
 */
export const noticeSource = (maxLength: number): fc.Arbitrary<string> =>
  sourceText(maxLength).map((s) => s.replace(/[{}]/g, '$&$&'));

const noticeText = noticeSource(70);

const firmMonitors = [
  'mean(excess(hhi, nash.hhi))',
  'mean(cv(quantity, over: firm))',
  'profit[self]',
  'mean_last(mean(hhi), 3)',
  'mean(price)',
];
const marketMonitors = firmMonitors.filter((m) => !m.includes('self'));

interface Names {
  readonly institution: string;
  readonly states: readonly string[];
  readonly monitors: readonly string[];
  readonly rules: readonly string[];
  readonly params: readonly string[];
}

const namesArbitrary: fc.Arbitrary<Names> = fc
  .record({
    states: fc.integer({ min: 1, max: 6 }),
    monitors: fc.integer({ min: 1, max: 3 }),
    rules: fc.integer({ min: 0, max: 3 }),
    params: fc.integer({ min: 0, max: 2 }),
  })
  .chain((counts) => {
    const total = 1 + counts.states + counts.monitors + counts.rules + counts.params;
    return fc.uniqueArray(nameArbitrary, { minLength: total, maxLength: total }).map((names) => {
      const ends = [1];
      for (const n of [counts.states, counts.monitors, counts.rules, counts.params])
        ends.push((ends[ends.length - 1] as number) + n);
      const part = (i: number) => names.slice(ends[i], ends[i + 1]);
      return {
        institution: names[0] as string,
        states: part(0),
        monitors: part(1),
        rules: part(2),
        params: part(3),
      };
    });
  });

function transitionArbitrary(
  names: Names,
  params: readonly { name: string; value: number }[],
): fc.Arbitrary<GenTransition> {
  const rounds: fc.Arbitrary<number | string> =
    params.length > 0
      ? fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom(...params.map((p) => p.name)))
      : fc.integer({ min: 1, max: 4 });
  const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  return fc
    .record(
      {
        kind: fc.constantFrom('when' as const, 'after' as const),
        monitor: maybe(fc.constantFrom(...names.monitors)),
        threshold: renderedNumber(-100, 1000),
        rounds,
        target: fc.constantFrom(...names.states),
        rule:
          names.rules.length > 0 ? maybe(fc.constantFrom(...names.rules)) : fc.constant(undefined),
        priority: maybe(fc.integer({ min: -2, max: 3 })),
        restore: fc.boolean(),
      },
      { requiredKeys: ['kind', 'threshold', 'rounds', 'target', 'restore'] },
    )
    .map((t) =>
      // A `when` always has a guard: it is what the evidence decides.
      t.kind === 'when' && t.monitor === undefined
        ? { ...t, monitor: names.monitors[0] as string }
        : t,
    );
}

const sanctionArbitrary: fc.Arbitrary<GenSanction> = fc
  .record({
    sanction: fc.constantFrom('fine' as const, 'credit' as const),
    timing: fc.constantFrom('entry' as const, 'each_round' as const),
    afterEntry: fc.boolean(),
    amount: renderedNumber(0, 100000),
  })
  .map((x) => (x.timing === 'entry' ? { ...x, afterEntry: false } : x));

export const institutionArbitrary: fc.Arbitrary<GenInstitution> = namesArbitrary.chain((names) =>
  fc
    .record({
      scope: fc.constantFrom('firm' as const, 'market' as const),
      visibility: fc.option(fc.constantFrom('public' as const, 'private' as const), {
        nil: undefined,
      }),
      paramValues: fc.array(fc.integer({ min: 1, max: 4 }), {
        minLength: names.params.length,
        maxLength: names.params.length,
      }),
      initial: fc.constantFrom(...names.states),
      deontics: fc.array(fc.constantFrom('must' as const, 'must not' as const, 'may' as const), {
        minLength: names.rules.length,
        maxLength: names.rules.length,
      }),
    })
    .chain(({ scope, visibility, paramValues, initial, deontics }) => {
      const params = names.params.map((name, i) => ({ name, value: paramValues[i] as number }));
      const pool = scope === 'firm' ? firmMonitors : marketMonitors;
      const state = (name: string): fc.Arbitrary<GenState> =>
        fc.record(
          {
            name: fc.constant(name),
            title: fc.option(sourceText(70), { nil: undefined }),
            transitions: fc.array(transitionArbitrary(names, params), { maxLength: 3 }),
            sanctions: fc.array(sanctionArbitrary, { maxLength: 2 }),
            notices: fc.array(noticeText, { maxLength: 2 }),
            suspend: fc.boolean(),
          },
          { requiredKeys: ['name', 'transitions', 'sanctions', 'notices', 'suspend'] },
        );
      return fc.record({
        name: fc.constant(names.institution),
        scope: fc.constant(scope),
        visibility: fc.constant(visibility),
        params: fc.constant(params),
        monitors: fc.tuple(
          ...names.monitors.map((name) => fc.constantFrom(...pool).map((expr) => ({ name, expr }))),
        ),
        rules: fc.constant(
          names.rules.map((id, i) => ({
            id,
            deontic: deontics[i] ?? 'must not',
            aim: `keep rule ${id}`,
          })),
        ),
        states: fc.tuple(...names.states.map(state)),
        initial: fc.constant(initial),
      });
    }),
);

function transitionSource(t: GenTransition): string {
  const rounds =
    typeof t.rounds === 'number'
      ? `${t.rounds} ${t.rounds === 1 ? 'round' : 'rounds'}`
      : `${t.rounds} rounds`;
  const head =
    t.kind === 'when'
      ? `when ${t.monitor} > ${t.threshold}${t.rounds === 1 ? '' : ` for ${rounds}`}`
      : `after ${rounds}${t.monitor === undefined ? '' : ` while ${t.monitor} < ${t.threshold}`}`;
  const options = [
    t.priority === undefined ? '' : ` priority ${t.priority}`,
    t.rule === undefined ? '' : ` rule ${t.rule}`,
    t.restore ? ' restore' : '',
  ].join('');
  return `${head} -> ${t.target}${options}`;
}

/** The source text of a generated institution. */
export function institutionSource(g: GenInstitution): string {
  const lines = ['mase 1', '', `institution ${g.name} "Generated" {`];
  lines.push(`  scope ${g.scope === 'firm' ? 'per firm' : 'market'}`);
  if (g.visibility) lines.push(`  ${g.visibility}`);
  for (const p of g.params) lines.push(`  param ${p.name} = ${p.value}`);
  for (const m of g.monitors) lines.push(`  monitor ${m.name} = ${m.expr}`);
  for (const r of g.rules) lines.push(`  rule ${r.id}: firm ${r.deontic} ${escapeString(r.aim)}`);
  for (const s of g.states) {
    const title = s.title === undefined ? '' : ` ${escapeString(s.title)}`;
    lines.push('', `  ${s.name === g.initial ? 'initial ' : ''}state ${s.name}${title} {`);
    for (const n of s.notices) lines.push(`    notice ${escapeString(n)}`);
    for (const x of s.sanctions)
      lines.push(
        `    ${x.timing === 'entry' ? '' : x.afterEntry ? 'each round after entry ' : 'each round '}${x.sanction} ${x.amount}`,
      );
    if (s.suspend) lines.push('    suspend');
    for (const t of s.transitions) lines.push(`    ${transitionSource(t)}`);
    lines.push('  }');
  }
  lines.push('}', '');
  return lines.join('\n');
}

/** The count of a transition's rounds, with parameters read from the model. */
export function roundsOf(g: GenInstitution, t: GenTransition): number {
  if (typeof t.rounds === 'number') return t.rounds;
  return g.params.find((p) => p.name === t.rounds)?.value ?? Number.NaN;
}
