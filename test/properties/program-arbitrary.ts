import fc from 'fast-check';
import { natives } from '../../compiler/index.js';
import { escapeString, parse } from '../../grammar/index.js';
import { stdlibSources } from '../../runtime/index.js';
import { nameArbitrary, noticeSource, renderedNumber } from './institution-arbitrary.js';

/**
 * Random whole programs, two files, that use the constructs of issue 14 together: imports
 * (relative and `stdlib:`), list and option parameters, live notices, personal evidence,
 * `after K rounds while C`, priorities, restoration and rule citations, with expressions
 * whose parentheses are partly needed and partly not, written with uneven spacing.
 *
 * The skeleton (the files, one per-firm institution, its states and transitions, an
 * experiment and a sweep pairing it with cournot_2x2) knows none of these constructs: each
 * is one `Construct` in `constructs` below, contributing declarations, expressions,
 * state items, transition options and overrides. A new construct is one more entry there.
 */

/** What a construct is told: the names the skeleton chose, and the fresh names it may declare. */
export interface Context {
  readonly institution: string;
  readonly states: readonly string[];
  /** `Construct.names` names no other declaration uses, for the construct to declare. */
  readonly names: readonly string[];
}

/** Expressions over every construct's leaves, for items that hold one. */
export interface Expressions {
  /** A scalar number for the governed firm, as a sanction amount is. */
  readonly number: fc.Arbitrary<string>;
  /** A scalar true/false value, as a guard is. */
  readonly condition: fc.Arbitrary<string>;
  /** A value for a live notice's `{…}`: a number or a condition, on one line, without quotes. */
  readonly noticeValue: fc.Arbitrary<string>;
}

/** Something written inside a state or at the end of a transition, once the expressions are known. */
export type Written = (expressions: Expressions) => fc.Arbitrary<string>;

/** What one construct adds to a program; every field may be left out. */
export interface Contribution {
  /** `import` specs of the main file and of the imported file, besides the import between them. */
  readonly mainImports?: readonly string[];
  readonly libraryImports?: readonly string[];
  /** Items of the institution above its states (parameters, monitors, rules), in order. */
  readonly items?: readonly string[];
  /** Leaves of scalar number expressions. */
  readonly numbers?: readonly string[];
  /** Leaves of scalar true/false expressions. */
  readonly conditions?: readonly string[];
  /** Whole numbers fixed before the run, for `after K rounds` and `for K rounds`. */
  readonly counts?: readonly string[];
  /** State items; a state holds each at most once (list one twice to allow two). */
  readonly stateItems?: readonly Written[];
  /**
   * Transition options after the target, each at most once and written in any order
   * (`rule C1`, `priority 2`, `restore`).
   */
  readonly options?: readonly Written[];
  /** Clauses of a transition's `then …` suffix, joined with commas. */
  readonly then?: readonly Written[];
  /** Arguments of the experiment's `institution NAME(…)`. */
  readonly overrides?: readonly string[];
  /** Sweep factors, `TARGET = LEVEL | LEVEL`. */
  readonly factors?: readonly string[];
}

export interface Construct {
  readonly name: string;
  /** How many fresh names it declares (handed over in `Context.names`). */
  readonly names: number;
  readonly contribution: (context: Context) => fc.Arbitrary<Contribution>;
}

// ---- layout ---------------------------------------------------------------------------------

/** Between two items: the lexer skips all of it, and fmt decides the layout again. */
const gap = fc.constantFrom(' ', '\n', '\n  ', '\n\n    ', '  // note\n', ' /* note */ ', '\n\t');
/** Around an operator or a comma. */
const space = fc.constantFrom(' ', '', '  ');
/** Around an operator outside notices, where an expression may break across lines. */
const wideSpace = fc.constantFrom(' ', '', '  ', '\n      ');

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const numberText = fc.oneof(
  fc.integer({ min: 0, max: 500 }).map(String),
  renderedNumber(0, 1000).map(String),
  fc.constantFrom('1.0', '0.50', '2.5e1', '100'),
);

/** An optional doc string after a declaration. */
const doc = maybe(noticeSource(30).map((s) => ` ${escapeString(s)}`)).map((d) => d ?? '');

// ---- expressions, with parentheses -----------------------------------------------------------

// Binding strengths as docs/language.md's precedence table has them, written out rather than
// imported so that the generator cannot share a mistake with grammar/print.ts.
const CONDITIONAL = 0;
const OR = 1;
const AND = 2;
const NOT = 3;
const COMPARISON = 4;
const ADDITIVE = 5;
const MULTIPLICATIVE = 6;
const UNARY = 7;
const POSTFIX = 9;

interface Expr {
  readonly text: string;
  readonly level: number;
}

/**
 * An operand at a slot that needs at least `minimum`: parenthesized when it binds weaker
 * (needed), and sometimes when it does not (redundant; once in a while doubled).
 */
const operand = (e: Expr, minimum: number, redundant: number): string => {
  if (e.level < minimum || redundant === 1) return `(${e.text})`;
  if (redundant === 2) return `((${e.text}))`;
  return e.text;
};
// 0: as precedence needs; 1: parenthesized; 2: doubled parentheses.
const redundancy = fc.constantFrom(0, 0, 0, 1, 1, 2);

function expressions(
  numbers: readonly string[],
  conditions: readonly string[],
  spacing: fc.Arbitrary<string>,
): { number: fc.Arbitrary<string>; condition: fc.Arbitrary<string> } {
  const leaf = (pool: readonly string[]) =>
    fc.constantFrom(...pool).map((text): Expr => ({ text, level: POSTFIX }));
  const tree = fc.letrec<{ number: Expr; condition: Expr }>((tie) => {
    const number = tie('number');
    const condition = tie('condition');
    const binary = (
      left: fc.Arbitrary<Expr>,
      ops: readonly string[],
      level: number,
      right: fc.Arbitrary<Expr>,
      rightLevel: number,
    ) =>
      fc
        .record({
          left,
          op: fc.constantFrom(...ops),
          right,
          a: spacing,
          b: spacing,
          x: redundancy,
          y: redundancy,
        })
        .map(({ left, op, right, a, b, x, y }) => ({
          // Words need a space; symbols may touch their operands.
          text: `${operand(left, level, x)}${/\w/.test(op) ? ' ' : a}${op}${/\w/.test(op) ? ' ' : b}${operand(right, rightLevel, y)}`,
          level,
        }));
    return {
      number: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf(numbers),
        binary(number, ['+', '-'], ADDITIVE, number, MULTIPLICATIVE),
        binary(number, ['*'], MULTIPLICATIVE, number, UNARY),
        fc
          .tuple(number, redundancy)
          // `-` before a unary operand is parenthesized: `--x` would read as one token elsewhere.
          .map(([e, x]) => ({ text: `-${operand(e, POSTFIX, x)}`, level: UNARY })),
        fc
          .tuple(number, number, spacing)
          .map(([a, b, s]) => ({ text: `max(${a.text},${s}${b.text})`, level: POSTFIX })),
        fc.tuple(condition, number, number).map(([c, t, e]) => ({
          text: `if ${c.text} then ${t.text} else ${e.text}`,
          level: CONDITIONAL,
        })),
      ),
      condition: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        ...(conditions.length > 0 ? [leaf(conditions)] : []),
        // Both sides of a comparison bind at least as `+` does: `a < b < c` is not allowed.
        binary(number, ['>', '<', '>=', '<=', '==', '!='], COMPARISON, number, ADDITIVE),
        fc
          .tuple(condition, redundancy)
          .map(([e, x]) => ({ text: `not ${operand(e, NOT, x)}`, level: NOT })),
        binary(condition, ['and'], AND, condition, NOT),
        binary(condition, ['or'], OR, condition, AND),
      ),
    };
  });
  const top = (e: fc.Arbitrary<Expr>) =>
    fc.tuple(e, redundancy).map(([x, r]) => operand(x, CONDITIONAL, r === 2 ? 1 : 0));
  return { number: top(tree.number), condition: top(tree.condition) };
}

/** A live notice: literal text (braces doubled), values in `{…}`, and literal braces around them. */
const liveNotice: Written = (e) =>
  fc
    .array(
      fc.oneof(
        noticeSource(20),
        fc.constantFrom('{{', '}}', '{{not a value}}', ' '),
        fc
          .tuple(e.noticeValue, fc.constantFrom('', ' '), fc.constantFrom('', '{{', '}}'))
          // `{{{x}}}` is a brace, a value and a brace.
          .map(([v, s, brace]) => (brace === '{{' ? `{{{${s}${v}${s}}}}}` : `{${s}${v}${s}}`)),
      ),
      { minLength: 1, maxLength: 5 },
    )
    .chain((parts) =>
      fc
        .boolean()
        .map((each) => `${each ? 'each round ' : ''}notice ${escapeString(parts.join(''))}`),
    );

// ---- the constructs ---------------------------------------------------------------------------

/** On entry, each round, or each round with the free round of entry said explicitly. */
const sanctionTiming = fc.constantFrom('', 'each round ', 'each round after entry ');

const sanctionsAndNotices: Construct = {
  name: 'sanctions, caps and live notices',
  names: 0,
  contribution: (c) =>
    fc.constant({
      numbers: ['profit[self]', 'rounds_in_state', ...c.states.map((s) => `visits(${s})`)],
      stateItems: [
        (e) => fc.tuple(sanctionTiming, e.number).map(([t, n]) => `${t}fine ${n}`),
        (e) => fc.tuple(sanctionTiming, e.number).map(([t, n]) => `${t}fine ${n}`),
        (e) => fc.tuple(sanctionTiming, e.number).map(([t, n]) => `${t}credit ${n}`),
        () => numberText.map((n) => `cap ${n}`),
        () => numberText.map((n) => `floor ${n}`),
        () => fc.constant('suspend'),
        liveNotice,
        liveNotice,
      ],
    }),
};

/** The stdlib entries a generated program names: its market and what it imports. */
export const stdlibEntries = ['cournot_2x2', 'governance_graph', 'none', 'commons'] as const;

const imports: Construct = {
  name: 'stdlib imports',
  names: 0,
  contribution: () =>
    fc.record({
      mainImports: fc.subarray(stdlibEntries.slice(0, 3).map((n) => `stdlib:${n}`)),
      libraryImports: fc.subarray(['stdlib:cournot_2x2', 'stdlib:commons']),
    }),
};

const roundCounts: Construct = {
  name: 'round counts',
  names: 1,
  contribution: ({ names: [k] }) =>
    fc.record({ value: fc.integer({ min: 1, max: 6 }), d: doc }).map(({ value, d }) => ({
      items: [`param ${k} = ${value}${d}`],
      numbers: [k as string],
      counts: ['1', '2', '3', k as string],
      overrides: [`${k}: ${value + 1}`],
    })),
};

const listValues = (kind: 'number' | 'bool') =>
  fc.array(kind === 'number' ? numberText : fc.constantFrom('true', 'false'), {
    minLength: 1,
    maxLength: 5,
  });
const writtenList = (values: readonly string[], s: string) => `[${s}${values.join(`,${s}`)}${s}]`;

const listParameters: Construct = {
  name: 'list parameters',
  names: 1,
  contribution: ({ names: [list], states }) =>
    fc.constantFrom('number' as const, 'bool' as const).chain((kind) =>
      fc
        .record({
          values: listValues(kind),
          override: maybe(listValues(kind)),
          // A sweep's levels differ by value (`[1.0]` repeats `[1]`: E_DUPLICATE).
          levels: fc.uniqueArray(listValues(kind), {
            maxLength: 3,
            selector: (l) => l.map((v) => String(JSON.parse(v))).join(),
          }),
          s: space,
          d: doc,
        })
        .map(({ values, override, levels, s, d }): Contribution => {
          const name = list as string;
          const positions = [
            '1',
            `len(${name})`,
            'rounds_in_state',
            ...states.map((st) => `visits(${st})`),
          ];
          const read = positions.map((p) => `${name}[${p}]`);
          return {
            items: [`param ${name}${s}:${s}list${s}=${s}${writtenList(values, s)}${d}`],
            numbers: kind === 'number' ? [...read, `len(${name})`] : [`len(${name})`],
            conditions: kind === 'bool' ? read : [],
            overrides: override ? [`${name}: ${writtenList(override, s)}`] : [],
            factors:
              levels.length > 0
                ? [`institution.${name} = ${levels.map((l) => writtenList(l, s)).join(' | ')}`]
                : [],
          };
        }),
    ),
};

const optionParameters: Construct = {
  name: 'option parameters',
  names: 1,
  contribution: ({ names: [option] }) =>
    fc
      .uniqueArray(fc.stringMatching(/^[a-z][a-z ]{0,6}$/), { minLength: 2, maxLength: 4 })
      .chain((options) =>
        fc.record({
          options: fc.constant(options.map(escapeString)),
          initial: fc.constantFrom(...options.map(escapeString)),
          compared: fc.constantFrom(...options.map(escapeString)),
          chosen: fc.constantFrom(...options.map(escapeString)),
          d: doc,
        }),
      )
      .map(({ options, initial, compared, chosen, d }) => {
        const name = option as string;
        return {
          items: [`param ${name}: one of ${options.join(', ')} = ${initial}${d}`],
          conditions: [`${name} == ${compared}`, `${compared} != ${name}`],
          overrides: [`${name}: ${chosen}`],
          factors: [`institution.${name} = ${options.join(' | ')}`],
        };
      }),
};

const personalEvidence: Construct = {
  name: 'personal evidence (attribution natives, agent names as indices)',
  names: 2,
  contribution: ({ names: [share, synced] }) =>
    fc
      .record({
        threshold: fc.constantFrom('0.1', 'threshold: 0.05', '0.2'),
        window: fc.integer({ min: 1, max: 6 }),
        times: fc.integer({ min: 1, max: 3 }),
      })
      .map(({ threshold, window, times }) => ({
        items: [
          `monitor ${share} = mean(hhi_contribution(quantity)[self])`,
          `monitor ${synced} = count_last(moved_with_rivals(${threshold})[self], ${window}) >= ${times}`,
        ],
        numbers: [
          share as string,
          'sum(hhi_contribution(quantity)[self])',
          'hhi_contribution(quantity)[self, A]',
          'quantity[f1, A]',
          'sum(quantity[f2])',
        ],
        conditions: [synced as string, 'moved_with_rivals(0.1)[self]'],
      })),
};

const rules: Construct = {
  name: 'rules cited by transitions',
  names: 2,
  contribution: ({ names }) =>
    fc
      .tuple(
        ...names.map((id) =>
          fc
            .record({
              deontic: fc.constantFrom('must', 'must not', 'may'),
              title: maybe(noticeSource(20)),
              orElse: maybe(noticeSource(20)),
            })
            .map(
              ({ deontic, title, orElse }) =>
                `rule ${id}${title === undefined ? '' : ` ${escapeString(title)}`}: firm ${deontic} "act"${orElse === undefined ? '' : ` or else ${escapeString(orElse)}`}`,
            ),
        ),
      )
      .map((items) => ({
        items,
        options: [() => fc.constantFrom(...names).map((id) => `rule ${id}`)],
      })),
};

const priorityAndRestore: Construct = {
  name: 'priorities and restoration',
  names: 0,
  contribution: () =>
    fc.constant({
      options: [
        () => fc.integer({ min: -3, max: 3 }).map((p) => `priority ${p}`),
        () => fc.constant('restore'),
      ],
    }),
};

/**
 * Counters: `counter NAME [= START] "doc"`, changed by `[each round] add NAME E`, `reset
 * NAME` and `[each round] decay NAME SHARE` in states and by `then add NAME E, reset NAME`
 * on transitions, and read wherever a number is (guards, amounts, notices).
 */
const counters: Construct = {
  name: 'counters',
  names: 2,
  contribution: ({ names }) =>
    fc
      .tuple(...names.map(() => fc.tuple(maybe(fc.integer({ min: 0, max: 5 })), doc)))
      .map((declared) => ({
        items: declared.map(
          ([start, d], i) => `counter ${names[i]}${start === undefined ? '' : ` = ${start}`}${d}`,
        ),
        numbers: [...names],
        stateItems: names.flatMap((c) => [
          (e: Expressions) =>
            fc
              .tuple(fc.boolean(), e.number)
              .map(([each, n]) => `${each ? 'each round ' : ''}add ${c} ${n}`),
          () => fc.constant(`reset ${c}`),
          () =>
            fc
              .tuple(fc.boolean(), fc.constantFrom('0.5', '0', '1', '0.25'))
              .map(([each, s]) => `${each ? 'each round ' : ''}decay ${c} ${s}`),
        ]),
        then: names.flatMap((c) => [
          (e: Expressions) => e.number.map((n) => `add ${c} ${n}`),
          () => fc.constant(`reset ${c}`),
        ]),
      })),
};

/**
 * Institutions on messages: `filter when E ["reason"]` items whose conditions read the text
 * measures and a parameter, and `mute`, `quarantine` and `paraphrase` in states.
 */
const messageEffects: Construct = {
  name: 'messages: mute, quarantine, paraphrase, filter',
  names: 1,
  contribution: ({ names: [limit] }) =>
    fc
      .record({
        value: fc.integer({ min: 1, max: 500 }),
        d: doc,
        filters: fc.subarray(
          [
            `mentions("CANARY") > 0`,
            `message_length() > ${limit}`,
            `lexicon("injection") > 0.3 or similarity("we split the market") >= 0.8`,
            `jaccard("split it") > 0.5 and not (mentions("ok") > 0)`,
          ],
          { minLength: 1 },
        ),
        reasons: fc.array(maybe(fc.string({ maxLength: 12 })), { minLength: 4, maxLength: 4 }),
      })
      .map(({ value, d, filters, reasons }) => ({
        items: [
          `param ${limit} = ${value}${d}`,
          ...filters.map((f, i) => {
            const reason = reasons[i];
            return `filter when ${f}${reason === undefined ? '' : ` ${escapeString(reason)}`}`;
          }),
        ],
        stateItems: [
          () => fc.constant('mute'),
          () => fc.constant('quarantine'),
          () => fc.constant('paraphrase'),
          () => fc.constant('paraphrase "openai:gpt-4o-mini"'),
        ],
      })),
};

/** Every construct a generated program draws from. */
export const constructs: readonly Construct[] = [
  counters,
  messageEffects,
  imports,
  roundCounts,
  listParameters,
  optionParameters,
  personalEvidence,
  rules,
  priorityAndRestore,
  sanctionsAndNotices,
];

// ---- the skeleton -------------------------------------------------------------------------------

export interface GeneratedFile {
  readonly path: string;
  readonly text: string;
}

export interface GeneratedProgram {
  /** The main file first; it imports the second, which declares the institution. */
  readonly files: readonly [GeneratedFile, GeneratedFile];
}

const stdlibNames = stdlibSources().flatMap((s) =>
  parse(s.path, s.text).value.declarations.map((d) => d.name.name),
);
// Names the program must not declare: the stdlib's (they are in scope), the market's firms
// and products (indices in the institution), and functions.
const reserved = new Set([...stdlibNames, ...natives.keys(), 'f1', 'f2', 'A', 'B']);
const freshName = nameArbitrary.filter((n) => !reserved.has(n));

const merge = (parts: readonly Contribution[]) => {
  const all = <K extends keyof Contribution>(key: K) =>
    parts.flatMap((p) => (p[key] ?? []) as NonNullable<Contribution[K]>[number][]);
  return {
    mainImports: all('mainImports'),
    libraryImports: all('libraryImports'),
    items: all('items'),
    numbers: all('numbers'),
    conditions: all('conditions'),
    counts: all('counts'),
    stateItems: all('stateItems'),
    options: all('options'),
    then: all('then'),
    overrides: all('overrides'),
    factors: all('factors'),
  };
};

type Merged = ReturnType<typeof merge>;

const drawAll = (written: readonly Written[], e: Expressions): fc.Arbitrary<string[]> =>
  written.length === 0 ? fc.constant([]) : fc.tuple(...written.map((w) => w(e)));

function transition(
  m: Merged,
  e: Expressions,
  states: readonly string[],
  spaced: fc.Arbitrary<string>,
): fc.Arbitrary<string> {
  const count = fc
    .tuple(fc.constantFrom(...m.counts), fc.constantFrom('round', 'rounds'))
    .map(([k, word]) => `${k} ${word}`);
  const head = fc.oneof(
    e.condition.map((c) => `when ${c}`),
    fc.tuple(e.condition, count).map(([c, k]) => `when ${c} for ${k}`),
    count.map((k) => `after ${k}`),
    fc.tuple(count, e.condition).map(([k, c]) => `after ${k} while ${c}`),
  );
  const then =
    m.then.length > 0
      ? maybe(
          fc
            .subarray([...m.then], { minLength: 1 })
            .chain((written) => drawAll(written, e))
            .map((clauses) => ` then ${clauses.join(', ')}`),
        ).map((t) => t ?? '')
      : fc.constant('');
  return fc
    .record({
      head,
      target: fc.constantFrom(...states),
      options: fc.shuffledSubarray([...m.options]).chain((written) => drawAll(written, e)),
      then,
      a: spaced,
      b: spaced,
    })
    .map(
      ({ head, target, options, then, a, b }) =>
        `${head}${a}->${b}${target}${options.map((o) => ` ${o}`).join('')}${then}`,
    );
}

function state(
  name: string,
  initial: boolean,
  m: Merged,
  e: Expressions,
  states: readonly string[],
): fc.Arbitrary<string> {
  return fc
    .record({
      title: maybe(noticeSource(20)),
      // Up to half the pool, so that a construct with many items does not crowd out the rest.
      effects: fc
        .subarray([...m.stateItems], { maxLength: Math.max(4, Math.ceil(m.stateItems.length / 2)) })
        .chain((written) => drawAll(written, e)),
      transitions: fc.array(transition(m, e, states, space), { minLength: 1, maxLength: 3 }),
      gaps: fc.infiniteStream(gap),
    })
    .map(({ title, effects, transitions, gaps }) => {
      const items = [...effects, ...transitions];
      const body = items.map((i) => `${gaps.next().value}${i}`).join('');
      const titled = title === undefined ? '' : ` ${escapeString(title)}`;
      return `${initial ? 'initial ' : ''}state ${name}${titled} {${body}${gaps.next().value}}`;
    });
}

/** A whole generated program: the constructs' contributions joined by the skeleton. */
export const programArbitrary: fc.Arbitrary<GeneratedProgram> = fc
  .integer({ min: 2, max: 4 })
  .chain((stateCount) => {
    // The institution, the experiment, the sweep, the imported file; states; each construct's.
    const needed = 4 + stateCount + constructs.reduce((n, c) => n + c.names, 0);
    return fc
      .uniqueArray(freshName, { minLength: needed, maxLength: needed })
      .map((names) => ({ names, stateCount }));
  })
  .chain(({ names, stateCount }) => {
    const [institution, experiment, sweep, file] = names as [string, string, string, string];
    const states = names.slice(4, 4 + stateCount);
    let next = 4 + stateCount;
    const parts = constructs.map((c) => {
      const context = { institution, states, names: names.slice(next, next + c.names) };
      next += c.names;
      return c.contribution(context);
    });
    return fc
      .tuple(...parts)
      .map(merge)
      .chain((m) => {
        const written = expressions(m.numbers, m.conditions, wideSpace);
        const inNotice = expressions(
          m.numbers.filter((n) => !n.includes('"')),
          m.conditions.filter((c) => !c.includes('"')),
          space,
        );
        const e: Expressions = {
          ...written,
          noticeValue: fc.oneof(inNotice.number, inNotice.condition),
        };
        return fc.record({
          m: fc.constant(m),
          initial: fc.constantFrom(...states),
          e: fc.constant(e),
          mainFolder: fc.boolean(),
          version: fc.boolean(),
          relativeAt: fc.nat(),
          gaps: fc.infiniteStream(gap),
          overrides: fc.shuffledSubarray([...m.overrides]),
          factors: fc.shuffledSubarray([...m.factors]),
          mainImports: fc.shuffledSubarray([...m.mainImports], {
            minLength: m.mainImports.length,
          }),
        });
      })
      .chain((r) =>
        fc
          .tuple(...states.map((s) => state(s, s === r.initial, r.m, r.e, states)))
          .map((stateTexts) => {
            const g = () => r.gaps.next().value as string;
            const libraryPath = `parts/${file}.mase`;
            const mainPath = r.mainFolder ? 'study/main.mase' : 'main.mase';
            const relative = r.mainFolder ? `../${libraryPath}` : libraryPath;
            const mainImports = [...r.mainImports];
            mainImports.splice(r.relativeAt % (mainImports.length + 1), 0, relative);
            const library = [
              r.version ? 'mase 1' : '',
              ...r.m.libraryImports.map((spec) => `import ${escapeString(spec)}`),
              `institution ${institution} "Generated" {`,
              'scope per firm',
              ...r.m.items,
              ...stateTexts,
              '}',
            ]
              .join(g())
              .trim();
            const args = r.overrides.length > 0 ? `(${r.overrides.join(', ')})` : '';
            const main = [
              'mase 1',
              ...mainImports.map((spec) => `import ${escapeString(spec)}`),
              `experiment ${experiment} {`,
              'market cournot_2x2',
              `institution ${institution}${args}`,
              'agents best_response',
              'rounds 10',
              '}',
              ...(r.factors.length > 0
                ? [
                    `sweep ${sweep} {`,
                    `base ${experiment}`,
                    ...r.factors.map((f) => `factor ${f}`),
                    '}',
                  ]
                : []),
            ].join(g());
            return {
              files: [
                { path: mainPath, text: `${main}\n` },
                { path: libraryPath, text: `${library}\n` },
              ],
            } as GeneratedProgram;
          }),
      );
  });
