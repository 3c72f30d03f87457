import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Compilation,
  compileSources,
  natives,
  renderDiagnostics,
  type SourceText,
} from '../../compiler/index.js';
import type { Diagnostic } from '../../grammar/index.js';
// The lexer and its keyword tables, to generate near-miss input and re-lex it.
import { hard, masLexer, soft } from '../../grammar/tokens.js';
import { stdlibSources } from '../../runtime/index.js';
import { runs } from './institution-arbitrary.js';

/**
 * Fuzzing the whole front end (parse → check) through `compileSources`. The promises under
 * test: bad input never escapes as an exception or an E_INTERNAL, every diagnostic points
 * into the text it talks about, and edits that must break a file are always reported.
 */

const library = stdlibSources();

// Valid sources beyond the stdlib, covering what the stdlib does not use: named firms and
// products, market scope, noisy monitors, priorities, caps, history functions, experiments,
// sweeps.
const extras: SourceText[] = [
  {
    path: 'extra/market-named.mase',
    text: `mase 1

/* A small market with named firms and products. */
market duo "Two firms, three products" {
  param intercept: per product = [90, 80, 70] "demand intercepts"
  param costs: per firm per product = [[10, 12, 14], [12, 10, 9]]
  param cap = 50
  firms a1, b2
  products x, y, z
  cost = costs
  capacity = cap
  action quantity in [0, cap]
  price = max(0, intercept - 0.5 * sum(quantity, over: firm))
  observe price, own quantity, own profit
}
`,
  },
  {
    path: 'extra/watchdog.mase',
    text: `mase 1

// A market-scoped watchdog with noisy evidence, priorities, caps and history functions.
institution watchdog "Market-wide watchdog" {
  scope market
  private
  param limit = 2500 "HHI above which the market counts as concentrated"
  param patience = 2
  param penalty: per firm = 50
  monitor concentrated = mean(hhi) > limit detection 0.9 false_positive 0.05
  monitor calm = mean_last(mean(hhi), 3) < limit * 0.8
  rule W1 "Deconcentrate": firms must not "keep the market concentrated" or else "a cap on output"
  rule W2 "Relief": firms may "return to free trade"

  initial state free "Free trade" {
    when concentrated for patience rounds -> capped rule W1 priority 2
    when not calm and round > 10 -> watched
  }
  state watched {
    after 3 rounds while calm -> free restore
    when concentrated -> capped rule W1
  }
  state capped "Output capped — “quoted”" {
    notice "Output is capped at 20 units per product. \\"Really.\\""
    cap 20
    floor 1
    each round fine penalty
    when visits(capped) > 3 -> capped priority 1
    after patience rounds while calm or rounds_in_state > 6 -> free rule W2
  }
}
`,
  },
  {
    path: 'extra/trial.mase',
    text: `mase 1

experiment trial "Cournot under the governance graph" {
  market cournot_2x2 (intercept: 120, slope: 0.5)
  institution governance_graph (persistence: 2, fine_floor: 150)
  agents f1 = llm(model: "small", temperature: 0.2), f2 = best_response
  rounds 40
  seeds 1..5
}

experiment baseline {
  market cournot (firms: 3)
  agents best_response
  rounds 20
  seed 7
}

sweep regimes "The trial under three regimes" {
  base trial
  factor regime: institution = none | constitutional | governance_graph(fine_share: 0.5)
  factor market.intercept = 100 | 120
  factor agents.f2 = best_response | llm(model: "small", memory: 3)
  factor talk = ring | complete
  factor horizon = known | unknown
  design grid
  replicates 2
  seed 3
  budget tokens 100000 cost 2.5
}

sweep sampled {
  base baseline
  factor rounds in [10, 40]
  factor continuation in [0.9, 0.99]
  factor market.slope in [0.25, 1]
  factor memory = 0 | "all"
  design latin_hypercube(8)
}
`,
  },
];

const corpus: readonly SourceText[] = [...library, ...extras];

// ---- checks shared by every property ------------------------------------------------------

// Counted with every line terminator an editor knows: the lexer (Chevrotain) also ends a
// line at a lone CR, while offsets-to-positions in grammar/index.ts count LF only.
function lineCount(text: string): number {
  return text.split(/\r\n|\r|\n/).length;
}

function rangeProblem(d: Diagnostic, text: string): string | undefined {
  const { start, end } = d.range;
  const lines = lineCount(text);
  for (const [which, p] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lines + 1)
      return `${which} line ${p.line} outside 1..${lines + 1}`;
    if (!Number.isInteger(p.column) || p.column < 1) return `${which} column ${p.column} < 1`;
    if (!Number.isInteger(p.offset) || p.offset < 0 || p.offset > text.length)
      return `${which} offset ${p.offset} outside 0..${text.length}`;
  }
  if (start.offset > end.offset) return `start offset ${start.offset} > end ${end.offset}`;
  if (start.line > end.line || (start.line === end.line && start.column > end.column))
    return `start ${start.line}:${start.column} after end ${end.line}:${end.column}`;
  return undefined;
}

function compile(source: SourceText): Compilation {
  return compileSources([source], library);
}

// Only experiments read the library, and re-parsing it dominates the cost of compiling a
// short random text: without it the same time buys several times more inputs.
function compileCheaply(source: SourceText): Compilation {
  return compileSources([source], /experiment/.test(source.text) ? library : []);
}

/** No E_INTERNAL, every range inside the text of its own file, and rendering works. */
function assertSound(result: Compilation, source: SourceText): void {
  // The source last: it replaces the library file of the same path, as in compileSources.
  const texts = new Map<string, string>([...library, source].map((s) => [s.path, s.text]));
  for (const d of result.diagnostics) {
    expect(d.code, `${d.code}: ${d.message}`).not.toBe('E_INTERNAL');
    const text = texts.get(d.path);
    expect(text, `diagnostic for unknown path ${d.path}`).toBeDefined();
    const problem = rangeProblem(d, text ?? '');
    expect(problem, `${d.code} ${JSON.stringify(d.range)}: ${problem}`).toBeUndefined();
  }
  expect(result.ok).toBe(!result.diagnostics.some((d) => d.severity === 'error'));
  expect(typeof renderDiagnostics(result.diagnostics, texts)).toBe('string');
}

function assertBroken(result: Compilation, source: SourceText): void {
  assertSound(result, source);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.length, `no error for:\n${source.text}`).toBeGreaterThan(0);
  expect(result.ok).toBe(false);
}

// ---- token-level views of a source ----------------------------------------------------------

interface Tok {
  readonly type: string;
  readonly image: string;
  readonly start: number;
  /** Offset one past the last character. */
  readonly end: number;
  /** Whether the token is a name (an identifier or a soft keyword used as one). */
  readonly nameLike: boolean;
}

function tokens(text: string): { tokens: Tok[]; comments: Tok[] } {
  const lexed = masLexer.tokenize(text);
  const view = (t: (typeof lexed.tokens)[number]): Tok => ({
    type: t.tokenType.name,
    image: t.image,
    start: t.startOffset,
    end: t.startOffset + t.image.length,
    nameLike:
      t.tokenType.name === 'Identifier' ||
      (t.tokenType.CATEGORIES ?? []).some((c) => c.name === 'Identifier'),
  });
  return { tokens: lexed.tokens.map(view), comments: (lexed.groups.comments ?? []).map(view) };
}

interface Analysis {
  readonly text: string;
  readonly tokens: readonly Tok[];
  /** Offsets where inserting a character starts a new token (not inside a token or comment). */
  readonly gaps: readonly number[];
  readonly numbers: readonly Tok[];
  readonly closers: readonly Tok[];
  /** Name tokens that declare something (a state, param, monitor, rule or declaration). */
  readonly declarationSites: readonly Tok[];
  /** Name tokens that refer to something declared in this file or the library. */
  readonly useSites: readonly Tok[];
  /** [start, end) of each state block (from `initial`/`state` to its `}`). */
  readonly stateBlocks: readonly (readonly [number, number])[];
  /** [start, end) of each top-level declaration. */
  readonly declarations: readonly (readonly [number, number])[];
}

const declaringKeywords = new Set(['Kw_state', 'Kw_param', 'Kw_monitor', 'Kw_rule']);
const topLevelKeywords = new Set(['Kw_market', 'Kw_institution', 'Kw_experiment', 'Kw_sweep']);

function matchingClose(toks: readonly Tok[], from: number): number {
  let depth = 0;
  for (let i = from; i < toks.length; i++) {
    const t = toks[i] as Tok;
    if (t.type === 'LBrace') depth++;
    if (t.type === 'RBrace') {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error('unbalanced braces in a valid source');
}

const libraryDeclarationNames = new Set(
  library.flatMap((s) =>
    [...s.text.matchAll(/^\s*(?:market|institution|experiment)\s+([A-Za-z_]\w*)/gm)].map(
      (m) => m[1] as string,
    ),
  ),
);

function analyse(text: string): Analysis {
  const { tokens: toks, comments } = tokens(text);
  const inside = new Array<boolean>(text.length + 1).fill(false);
  for (const t of toks) for (let p = t.start + 1; p < t.end; p++) inside[p] = true;
  // A line comment also swallows whatever is inserted at its end.
  for (const c of comments) {
    const last = c.type === 'LineComment' ? c.end : c.end - 1;
    for (let p = c.start + 1; p <= last; p++) inside[p] = true;
  }
  const gaps = inside.flatMap((blocked, p) => (blocked ? [] : [p]));

  const declarationSites: Tok[] = [];
  const stateBlocks: [number, number][] = [];
  const declarations: [number, number][] = [];
  let depth = 0;
  toks.forEach((t, i) => {
    const previous = toks[i - 1];
    const next = toks[i + 1];
    if (t.type === 'LBrace') depth++;
    if (t.type === 'RBrace') depth--;
    if (depth === 0 && topLevelKeywords.has(t.type)) {
      declarations.push([t.start, (toks[matchingClose(toks, i)] as Tok).end]);
      if (next?.nameLike) declarationSites.push(next);
    }
    // Depth 1 only: at depth 2, `rule P1` cites a rule in a transition.
    if (depth === 1 && declaringKeywords.has(t.type) && next?.nameLike) declarationSites.push(next);
    // An institution's state is a block; an environment's `state fish = stock` is not.
    const opensBlock = toks.slice(i + 1, i + 4).some((x) => x.type === 'LBrace');
    if (t.type === 'Kw_state' && depth === 1 && opensBlock) {
      const start = previous?.type === 'Kw_initial' ? previous.start : t.start;
      stateBlocks.push([start, (toks[matchingClose(toks, i)] as Tok).end]);
    }
  });
  const declared = new Set([...declarationSites.map((t) => t.image), ...libraryDeclarationNames]);
  const isDeclarationSite = new Set(declarationSites);
  const useSites = toks.filter((t, i) => {
    const previous = toks[i - 1];
    const next = toks[i + 1];
    return (
      t.nameLike &&
      declared.has(t.image) &&
      !isDeclarationSite.has(t) &&
      previous?.type !== 'Dot' &&
      next?.type !== 'Colon'
    );
  });
  return {
    text,
    tokens: toks,
    gaps,
    numbers: toks.filter((t) => t.type === 'NumberLiteral'),
    closers: toks.filter((t) => t.type === 'RBrace'),
    declarationSites,
    useSites,
    stateBlocks,
    declarations,
  };
}

const analysed = corpus.map((source) => ({ source, analysis: analyse(source.text) }));

const splice = (text: string, start: number, end: number, insert: string) =>
  text.slice(0, start) + insert + text.slice(end);

// ---- mutations that must break a file -------------------------------------------------------

/** A mutation, or undefined when the source has no site for it (no states in a market, …). */
type Mutation = (a: Analysis) => fc.Arbitrary<string> | undefined;

const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> | undefined =>
  xs.length > 0 ? fc.constantFrom(...xs) : undefined;

const undeclaredName = fc
  .stringMatching(/^[a-z][a-z0-9]{0,6}$/)
  .map((suffix) => `zz_undeclared_${suffix}`);

const breaking: Record<string, Mutation> = {
  'a stray @ or # between tokens': (a) =>
    pick(a.gaps)?.chain((at) => fc.constantFrom('@', '#').map((ch) => splice(a.text, at, at, ch))),
  'a deleted }': (a) => pick(a.closers)?.map((t) => splice(a.text, t.start, t.end, '')),
  'a control or bidi-override character anywhere': (a) =>
    fc
      .tuple(fc.integer({ min: 0, max: a.text.length }), fc.constantFrom('\u0001', '\u202e'))
      .map(([at, ch]) => splice(a.text, at, at, ch)),
  'a number literal replaced by 1e309': (a) =>
    pick(a.numbers)?.map((t) => splice(a.text, t.start, t.end, '1e309')),
  'a use of a declared name renamed to an undeclared one': (a) =>
    pick(a.useSites)?.chain((t) =>
      undeclaredName.map((name) => splice(a.text, t.start, t.end, name)),
    ),
  'a duplicated state block': (a) =>
    pick(a.stateBlocks)?.map(([start, end]) =>
      splice(a.text, end, end, `\n  ${a.text.slice(start, end)}`),
    ),
  'a name replaced by __proto__ or constructor': (a) =>
    pick([...a.declarationSites, ...a.useSites])?.chain((t) =>
      fc
        .constantFrom('__proto__', 'constructor')
        .map((name) => splice(a.text, t.start, t.end, name)),
    ),
  'the file truncated mid-declaration': (a) =>
    pick(a.declarations)
      ?.chain(([start, end]) => fc.integer({ min: start + 1, max: end - 1 }))
      .map((at) => a.text.slice(0, at)),
};

function mutants(mutation: Mutation): fc.Arbitrary<SourceText>[] {
  return analysed.flatMap(({ source, analysis }) => {
    const texts = mutation(analysis);
    return texts ? [texts.map((text) => ({ path: source.path, text }))] : [];
  });
}

/** Small random edits of any kind; they may or may not break the file. */
function edit(text: string): fc.Arbitrary<string> {
  const toks = tokens(text).tokens;
  const at = fc.integer({ min: 0, max: text.length });
  const edits: fc.Arbitrary<string>[] = [
    fc
      .tuple(at, fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }))
      .map(([p, s]) => splice(text, p, p, s)),
    fc.tuple(at, fc.integer({ min: 1, max: 40 })).map(([p, n]) => splice(text, p, p + n, '')),
    fc
      .tuple(at, at, fc.integer({ min: 1, max: 80 }))
      .map(([p, q, n]) => splice(text, p, p, text.slice(q, q + n))),
  ];
  const tok = pick(toks);
  if (tok) {
    edits.push(
      fc.tuple(tok, tok).map(([t, u]) => splice(text, t.start, t.end, u.image)),
      fc.tuple(tok, tok).map(([t, u]) => {
        const [first, second] = t.start <= u.start ? [t, u] : [u, t];
        if (first.end > second.start) return text;
        const swapped = splice(text, second.start, second.end, first.image);
        return splice(swapped, first.start, first.end, second.image);
      }),
    );
  }
  return fc.oneof(...edits);
}

describe('compileSources on mutated valid sources', () => {
  it.each(corpus.map((s) => [s.path, s] as const))('%s compiles without errors', (_, source) => {
    const result = compile(source);
    assertSound(result, source);
    expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('the analysis finds a site for every kind of mutation somewhere in the corpus', () => {
    for (const [name, mutation] of Object.entries(breaking)) {
      expect(mutants(mutation).length, name).toBeGreaterThan(0);
    }
  });

  it.each(Object.entries(breaking))(
    '%s always yields an error with a valid range',
    (_, mutation) => {
      fc.assert(
        fc.property(fc.oneof(...mutants(mutation)), (mutated) =>
          assertBroken(compile(mutated), mutated),
        ),
        runs(15),
      );
    },
  );

  it('arbitrary edits never give E_INTERNAL and keep ranges valid', () => {
    const edited = fc.constantFrom(...corpus).chain((source) =>
      fc
        .integer({ min: 1, max: 3 })
        .chain((n) => {
          let text: fc.Arbitrary<string> = fc.constant(source.text);
          for (let i = 0; i < n; i++) text = text.chain(edit);
          return text;
        })
        .map((text) => ({ path: source.path, text })),
    );
    fc.assert(
      fc.property(edited, (mutated) => assertSound(compile(mutated), mutated)),
      runs(50),
    );
  });
});

// ---- inputs with no structure at all ---------------------------------------------------------

const keywords = [...Object.keys(soft), ...Object.keys(hard)];
const punctuation = [
  '->',
  '..',
  '<=',
  '>=',
  '==',
  '!=',
  '<',
  '>',
  '=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '^',
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ',',
  ':',
  '.',
  '"',
  '//',
  '/*',
  '*/',
];
const soupToken = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...keywords) },
  { weight: 4, arbitrary: fc.constantFrom(...punctuation) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/),
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        'self',
        'nash',
        'hhi',
        'mean',
        'visits',
        'cournot',
        'cournot_2x2',
        'governance_graph',
        'best_response',
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.nat({ max: 1000 }).map(String),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }).map(String),
      fc.constantFrom('1e309', '0.5', '1e-400', '00', '1.', '9999999999999999999999'),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => JSON.stringify(s)) },
);
const separator = fc.constantFrom(' ', ' ', ' ', '\n', '\t', '\r\n', '\r', '', '  ');

describe('compileSources on unstructured input', () => {
  const sound = (text: string) => {
    const source = { path: 'fuzz.mase', text };
    assertSound(compileCheaply(source), source);
  };

  it('random strings of any code points', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), sound), runs(200));
  });

  it('random bytes decoded as the CLI decodes files', () => {
    const decoder = new TextDecoder('utf-8', { fatal: false });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => sound(decoder.decode(bytes))),
      runs(200),
    );
  });

  it('random token soups', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(soupToken, separator), { maxLength: 80 }),
        (header, parts) =>
          sound(`${header ? 'mase 1\n' : ''}${parts.map(([t, s]) => t + s).join('')}`),
      ),
      runs(150),
    );
  });

  it('token soups inside an institution or state body', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          (body: string) => `mase 1\ninstitution x {\n${body}\n}\n`,
          (body: string) => `mase 1\ninstitution x {\n initial state a {\n${body}\n }\n}\n`,
          (body: string) => `mase 1\nmarket m {\n${body}\n}\n`,
          (body: string) => `mase 1\nexperiment e {\n${body}\n}\n`,
        ),
        fc.array(fc.tuple(soupToken, separator), { maxLength: 40 }),
        (wrap, parts) => sound(wrap(parts.map(([t, s]) => t + s).join(''))),
      ),
      runs(150),
    );
  });
});

// ---- well-formed but ill-typed expressions in every expression position --------------------
// These get past the parser, so they exercise the checker, constant folding and the lints.

const exprNames = [
  ...['quantity', 'price', 'profit', 'revenue', 'unit_cost', 'share', 'total', 'hhi', 'round'],
  ...['n_firms', 'n_products', 'self', 'nash', 'collusive', 'rounds_in_state', 'p_num'],
  ...['p_list', 'p_flag', 'm_num', 'm_bool', 'a', 'b', 'f1', 'f2', 'x', 'y', 'zz_unknown'],
  ...['__proto__', 'firm', 'product', 'action', 'state'],
];
const numberText = fc.oneof(
  fc.nat({ max: 12 }).map(String),
  fc.constantFrom('0', '0.5', '1e308', '1e-320', '2.5', '1e309', '100000000000000000000000'),
);
const { expr } = fc.letrec<{ expr: string; atom: string; compound: string }>((tie) => ({
  expr: fc.oneof({ maxDepth: 4, depthIdentifier: 'expr' }, tie('atom'), tie('compound')),
  atom: fc.oneof(
    numberText,
    fc.constantFrom('inf', 'true', 'false', '"text"', '""'),
    fc.constantFrom(...exprNames),
    fc
      .tuple(
        fc.constantFrom('nash', 'collusive', 'competitive', 'p_num', 'self'),
        fc.constantFrom('hhi', 'quantity', 'profit', 'price', 'x'),
      )
      .map(([o, p]) => `${o}.${p}`),
  ),
  compound: fc.oneof(
    fc.tuple(fc.constantFrom('-', 'not '), tie('expr')).map(([op, e]) => `${op}${e}`),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom(
          '+',
          '-',
          '*',
          '/',
          '%',
          '^',
          '<',
          '<=',
          '>',
          '>=',
          '==',
          '!=',
          'and',
          'or',
        ),
        tie('expr'),
      )
      .map(([l, op, r]) => `${l} ${op} ${r}`),
    fc
      .tuple(tie('expr'), tie('expr'), tie('expr'))
      .map(([c, t, e]) => `(if ${c} then ${t} else ${e})`),
    fc
      .tuple(
        fc.constantFrom(...natives.keys(), 'zz_fn', 'visits', 'rounds_since'),
        fc.array(
          fc.oneof(
            tie('expr'),
            fc.constantFrom(
              'over: firm',
              'over: product',
              'over: x',
              'threshold: 0.1',
              'rounds: 2',
            ),
          ),
          { maxLength: 3 },
        ),
      )
      .map(([f, args]) => `${f}(${args.join(', ')})`),
    fc
      .tuple(
        tie('expr'),
        fc.array(fc.constantFrom('self', 'x', 'f1', 'y', '0', 'a'), { minLength: 1, maxLength: 3 }),
      )
      .map(([e, ix]) => `(${e})[${ix.join(', ')}]`),
    fc.array(tie('expr'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    tie('expr').map((e) => `(${e})`),
  ),
}));

// `$name$` holes with the value that makes the template compile.
const expressionTemplates = [
  `mase 1
institution t {
  scope $scope$
  param p_num = $param$
  param p_list: per firm = [1, 2]
  param p_flag = true
  monitor m_num = $monitor$
  monitor m_bool = m_num > 1 detection $detection$
  rule R: firm must not "x"
  initial state a {
    when $guard$ for $for$ rounds -> b priority $priority$ rule R
    after $after$ rounds while $while$ -> a
    each round fine $fine$
    cap $cap$
  }
  state b {
    credit $credit$
    floor $floor$
    after 1 round -> a
  }
}
`,
  `mase 1
market mk {
  param p_num = $param$
  firms $firms$
  products x, y
  cost = $cost$
  capacity = $capacity$
  action $variable$ in [$low$, $high$]
  $clearing$ = $clearingValue$
}
`,
  `mase 1
experiment e {
  market cournot_2x2 (slope: $override$)
  institution governance_graph (persistence: $persistence$)
  agents f1 = llm(temperature: $policyArg$), f2 = best_response
  rounds $rounds$
  seeds $from$..$to$
}
`,
  `mase 1
experiment e {
  market cournot_2x2
  agents nash
}

sweep s {
  base e
  factor market.intercept = $level$ | 120
  factor rounds in [$sweepLow$, $sweepHigh$]
  factor institution = governance_graph(fine_share: $level$)
  design random($points$)
  replicates $replicates$
  budget cost $budget$
}
`,
];
const holeDefaults: Record<string, string> = {
  scope: 'per firm',
  param: '2',
  monitor: 'mean(hhi)',
  detection: '0.9',
  guard: 'm_bool',
  for: '2',
  priority: '1',
  after: '3',
  while: 'not m_bool',
  fine: '10',
  cap: '5',
  credit: '1',
  floor: '0',
  firms: 'f1, f2',
  cost: '10',
  capacity: 'inf',
  variable: 'quantity',
  low: '0',
  high: 'p_num',
  clearing: 'price',
  clearingValue: 'max(0, 100 - sum(quantity, over: firm))',
  override: '0.5',
  persistence: '2',
  policyArg: '0.2',
  rounds: '10',
  from: '1',
  to: '3',
  level: '0.5',
  sweepLow: '10',
  sweepHigh: '20',
  points: '4',
  replicates: '2',
  budget: '1.5',
};
const holeChoices: Record<string, fc.Arbitrary<string>> = {
  scope: fc.constantFrom('per firm', 'market'),
  firms: fc.oneof(
    fc.constantFrom('f1, f2', 'f1, f1', '= 3', '= p_num'),
    expr.map((e) => `= ${e}`),
  ),
  variable: fc.constantFrom('quantity', 'price', 'x'),
  clearing: fc.constantFrom('price', 'demand'),
};

describe('compileSources on random expressions in every expression position', () => {
  it('the templates compile without errors when every hole has its default', () => {
    for (const template of expressionTemplates) {
      const text = template.replace(/\$(\w+)\$/g, (_, hole: string) => holeDefaults[hole] ?? '');
      const source = { path: 'template.mase', text };
      const result = compile(source);
      assertSound(result, source);
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    }
  });

  it('never give E_INTERNAL and keep ranges valid', () => {
    const filled = fc.constantFrom(...expressionTemplates).chain((template) => {
      const holes = [...new Set([...template.matchAll(/\$(\w+)\$/g)].map((m) => m[1] as string))];
      return fc
        .tuple(...holes.map((h) => fc.option(holeChoices[h] ?? expr, { freq: 2 })))
        .map((values) => {
          const chosen = new Map(holes.map((h, i) => [h, values[i] ?? holeDefaults[h] ?? '']));
          return template.replace(/\$(\w+)\$/g, (_, hole: string) => chosen.get(hole) ?? '');
        });
    });
    fc.assert(
      fc.property(filled, (text) => {
        const source = { path: 'expressions.mase', text };
        assertSound(compileCheaply(source), source);
      }),
      runs(150),
    );
  });
});
