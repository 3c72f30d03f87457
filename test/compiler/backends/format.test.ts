import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSource } from '../../../compiler/index.js';
import { type Expr, parse, printExpr, type SourceFile } from '../../../grammar/index.js';
// The lexer, to find the token ends where the test inserts comments.
import { masLexer } from '../../../grammar/tokens.js';
import { stripRanges } from '../../support/ast.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const stdlib = join(root, 'stdlib');

function parsed(text: string, path = 'test.mase'): SourceFile {
  const result = parse(path, text);
  expect(result.diagnostics).toEqual([]);
  return result.value;
}

function commentTexts(file: SourceFile): string[] {
  return file.comments.map((c) => c.text).sort();
}

/** Formats, and checks the three promises: same AST, same comments, a fixed point. */
function formatChecked(text: string): string {
  const before = parsed(text);
  const formatted = formatSource(before);
  const after = parsed(formatted, 'formatted.mase');
  expect(stripRanges(after)).toEqual(stripRanges(before));
  expect(commentTexts(after)).toEqual(commentTexts(before));
  expect(formatSource(after)).toBe(formatted);
  return formatted;
}

describe('formatSource on the standard library', () => {
  const files = readdirSync(stdlib).filter((f) => f.endsWith('.mase'));

  it('finds the stdlib sources', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s formats to a fixed point with the same AST', (file) => {
    const source = readFileSync(join(stdlib, file), 'utf8');
    const formatted = formatChecked(source);
    expect(formatted.startsWith('mase 1\n\n')).toBe(true);
    expect(formatted.endsWith('}\n')).toBe(true);
  });

  // The examples are real sources too; a missing folder just means none to check.
  const examples = join(root, 'examples');
  const exampleFiles = existsSync(examples)
    ? readdirSync(examples).filter((f) => f.endsWith('.mase'))
    : [];
  it.each(exampleFiles)('examples/%s formats to a fixed point with the same AST', (file) => {
    formatChecked(readFileSync(join(examples, file), 'utf8'));
  });

  it("prints an experiment's checkpoint interval as written", () => {
    const formatted = formatChecked(
      'mase 1\nexperiment e {\n  market cournot\n  checkpoint   every 25\n}\n',
    );
    expect(formatted).toContain('  checkpoint every 25\n');
  });

  it('prints an intervention canonically', () => {
    const formatted = formatChecked(
      'mase 1\nintervention   x "X"{ agents f1=nash,f2 = cued( word:"go")\n institution  none\n drop message   "m3.1.1" replace  message "m3.1.2"   "x" inject message world->*  "a \\"b\\""\n inject message f1 -> f2,f3 "hi" mute f1-f2 mute f2->f1 reset   memory f1 ,f2 benchmark action f2 round 12 pardon  f1 round 4 param  fee=5 }\n',
    );
    expect(formatted).toBe(
      'mase 1\n\nintervention x "X" {\n  agents f1 = nash, f2 = cued(word: "go")\n  institution none\n  drop message "m3.1.1"\n  replace message "m3.1.2" "x"\n  inject message world -> * "a \\"b\\""\n  inject message f1 -> f2, f3 "hi"\n  mute f1 - f2\n  mute f2 -> f1\n  reset memory f1, f2\n  benchmark action f2 round 12\n  pardon f1 round 4\n  param fee = 5\n}\n',
    );
  });

  it('leaves an already canonical file unchanged', () => {
    const source = readFileSync(join(stdlib, 'cournot.mase'), 'utf8');
    expect(formatChecked(source)).toBe(source);
  });
});

// Odd spacing, items run together on one line, and comments in every kind of place.
const MESSY = String.raw`// file header
mase   1
/* block before market */
market   demo"Demo  market"{   // opens demo
  param   n :per firm=2"doc with \"quotes\""
  firms f1 ,f2   // two firms


  products A,B
  cost=( a + b ) * c
  price = max( 0 , /* floor */ 100-n*sum(quantity,over:firm) )
  action quantity in[0,inf]
  observe price,own   quantity
  // before closing brace
}
institution   gov {
scope per firm
      private
  directive "be \\ good\n"
  monitor m=x+1 detection 0.9 false_positive 0.1
  rule P1"t":firm must not"collude"or else"fined"

  initial state ok {
    // inside state
    when m for 2 round->bad rule P1 priority 3 restore /* trailing block */
  }
  state bad "Bad" {
    each round fine 10
    credit 5 cap 3 floor (1)
    suspend notice "x"
    after 1 round while not m->ok
    /* dangling in state */
  }
  state empty{}
} // end gov
/* experiments
   below */
experiment e { market demo(n: 3) institution gov
  agents f1 = p(temperature: 0.5), f2 = q
  rounds 10 seeds 1 .. 5
}
experiment e2 { market demo() agents llm seed 7 }

// end of file
/* really the end */`;

// Written by hand from the layout rules; it is the specification, not a snapshot.
const MESSY_FORMATTED = String.raw`// file header
mase 1

/* block before market */
market demo "Demo  market" {
  // opens demo
  param n: per firm = 2 "doc with \"quotes\""
  firms f1, f2  // two firms

  products A, B
  cost = (a + b) * c
  /* floor */
  price = max(0, 100 - n * sum(quantity, over: firm))
  action quantity in [0, inf]
  observe price, own quantity
  // before closing brace
}

institution gov {
  scope per firm
  private
  directive "be \\ good\n"
  monitor m = x + 1 detection 0.9 false_positive 0.1
  rule P1 "t": firm must not "collude" or else "fined"

  initial state ok {
    // inside state
    when m for 2 rounds -> bad rule P1 priority 3 restore  /* trailing block */
  }
  state bad "Bad" {
    each round fine 10
    credit 5
    cap 3
    floor (1)
    suspend
    notice "x"
    after 1 round while not m -> ok
    /* dangling in state */
  }
  state empty {
  }
}  // end gov

/* experiments
   below */
experiment e {
  market demo(n: 3)
  institution gov
  agents f1 = p(temperature: 0.5), f2 = q
  rounds 10
  seeds 1..5
}

experiment e2 {
  market demo
  agents llm
  seed 7
}

// end of file
/* really the end */
`;

describe('formatSource on a messy source', () => {
  it('prints the canonical layout', () => {
    expect(formatSource(parsed(MESSY))).toBe(MESSY_FORMATTED);
  });

  it('keeps the AST and every comment, and is idempotent', () => {
    expect(formatChecked(MESSY)).toBe(MESSY_FORMATTED);
    expect(parsed(MESSY).comments).toHaveLength(13);
  });

  it('prints the remaining item forms', () => {
    const source = [
      'market m {',
      '  param a: = 1',
      '  param b: number = 2',
      '  param c: bool per product = true',
      '  firms = 3',
      '  capacity = 10',
      '  demand = 100 - price',
      '}',
      '',
      'institution i "I" {',
      '  scope market',
      '  public',
      '  monitor q = -x ^ 2',
      '  rule R: firm may "rest"',
      '  state s {',
      '    after 2 rounds -> s priority 1',
      '  }',
      '}',
      '',
    ].join('\n');
    expect(formatChecked(source)).toBe(source);
  });

  it('keeps `each round after entry` as written, apart from a bare `each round`', () => {
    const source = [
      'institution i {',
      '  state s {',
      '    fine 1',
      '    each round after entry fine 10',
      '    each round credit 2',
      '  }',
      '}',
      '',
    ].join('\n');
    expect(formatChecked(source)).toBe(source);
    const spread = source.replace('each round after entry', 'each\n  round after   entry');
    expect(formatChecked(spread)).toBe(source);
  });

  it('keeps comments in a file without declarations', () => {
    expect(formatChecked('// only\n\n\n/* comments */')).toBe('// only\n\n/* comments */\n');
    expect(formatSource(parsed(''))).toBe('');
  });
});

// ---- expressions -------------------------------------------------------------------------

const numberTexts = ['0', '1', '2.5', '10', '1e3', 'inf'];
const nameTexts = ['x', 'y', 'hhi', 'self', 'price'];
const binaryOps = [
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
] as const;

type Bare = Record<string, unknown>;

// Expression ASTs without ranges: printExpr never reads them, and the comparison strips them.
// A quarter of them carry the user's parentheses (`parenthesized`).
const { expr: bareExpr } = fc.letrec<{ expr: Bare; node: Bare }>((tie) => ({
  expr: fc
    .tuple(tie('node'), fc.nat(3))
    .map(([node, n]) => (n === 0 ? { ...node, parenthesized: true } : node)),
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...numberTexts).map((text) => ({
      kind: 'number',
      value: text === 'inf' ? Number.POSITIVE_INFINITY : Number(text),
      text,
    })),
    fc.constantFrom(...nameTexts).map((name) => ({ kind: 'name', name })),
    fc.boolean().map((value) => ({ kind: 'bool', value })),
    fc
      .string({ unit: fc.constantFrom('a', ' ', '"', '\\', '\n', '\t', 'é'), maxLength: 4 })
      .map((value) => ({ kind: 'string', value })),
    fc.record({
      kind: fc.constant('unary'),
      op: fc.constantFrom('-', 'not'),
      operand: tie('expr'),
    }),
    fc.record({
      kind: fc.constant('binary'),
      op: fc.constantFrom(...binaryOps),
      left: tie('expr'),
      right: tie('expr'),
    }),
    fc.record({
      kind: fc.constant('call'),
      callee: fc.constantFrom('mean', 'max', 'f').map((name) => ({ name })),
      args: fc.array(
        fc.record(
          {
            name: fc.constantFrom('over', 'threshold').map((name) => ({ name })),
            value: tie('expr'),
          },
          { requiredKeys: ['value'] },
        ),
        { maxLength: 3 },
      ),
    }),
    fc.record({
      kind: fc.constant('index'),
      target: tie('expr'),
      indices: fc.array(tie('expr'), { minLength: 1, maxLength: 2 }),
    }),
    fc.record({
      kind: fc.constant('member'),
      object: tie('expr'),
      property: fc.constantFrom('hhi', 'quantity').map((name) => ({ name })),
    }),
    fc.record({ kind: fc.constant('list'), items: fc.array(tie('expr'), { maxLength: 2 }) }),
    fc.record({
      kind: fc.constant('if'),
      condition: tie('expr'),
      then: tie('expr'),
      otherwise: tie('expr'),
    }),
  ),
}));

// Source text from the same small grammar, every compound operand in parentheses so it
// always parses, with odd spacing and comments between tokens for the formatter to tidy.
const gap = fc.constantFrom('', ' ', '  ', '\n  ', ' /* c */ ', ' // c\n');
const word = fc.constantFrom(' ', '\n', ' /* w */ ');
const { text: exprText } = fc.letrec<{ text: string; operand: string }>((tie) => ({
  operand: fc.oneof(
    fc.constantFrom(...numberTexts, ...nameTexts, 'true'),
    tie('text').map((t) => `(${t})`),
  ),
  text: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...numberTexts, ...nameTexts),
    fc
      .tuple(tie('operand'), gap, fc.constantFrom(...binaryOps), gap, tie('operand'))
      .map(([a, g1, op, g2, b]) =>
        /[a-z]/.test(op) ? `(${a})${g1 || ' '}${op}${g2 || ' '}(${b})` : `${a}${g1}${op}${g2}${b}`,
      ),
    fc.tuple(gap, tie('operand')).map(([g, a]) => `-${g}${a}`),
    fc.tuple(word, tie('operand')).map(([w, a]) => `not${w}${a}`),
    fc
      .tuple(
        fc.constantFrom('mean', 'max'),
        fc.array(fc.tuple(fc.boolean(), tie('text'), gap), { maxLength: 3 }),
      )
      .map(
        ([f, args]) =>
          `${f}(${args.map(([named, a, g]) => (named ? `over:${g}${a}` : `${g}${a}`)).join(',')})`,
      ),
    fc.tuple(tie('operand'), gap, tie('text')).map(([t, g, i]) => `${t}[${g}${i}]`),
    fc
      .tuple(word, tie('text'), word, tie('text'), word, tie('text'), word)
      .map(([w1, c, w2, t, w3, e, w4]) => `(if${w1}${c}${w2}then${w3}${t}${w4}else${w3}${e})`),
    tie('text').map((t) => `(${t})`),
  ),
}));

function monitorSource(expression: string): string {
  return `institution i {\n  monitor m = ${expression}\n}\n`;
}

function monitorValue(file: SourceFile): Expr | undefined {
  const decl = file.declarations[0];
  const item = decl?.kind === 'institution' ? decl.items[0] : undefined;
  return item?.kind === 'monitor' ? item.value : undefined;
}

function withoutParentheses(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutParentheses);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'parenthesized')
      .map(([key, child]) => [key, withoutParentheses(child)]),
  );
}

/** Paths of nodes the user parenthesized in `before` that `after` (same shape) does not. */
function lostParentheses(before: unknown, after: unknown, path = '$'): string[] {
  if (before === null || typeof before !== 'object') return [];
  const b = before as Record<string, unknown>;
  const a = (after ?? {}) as Record<string, unknown>;
  const lost = b.parenthesized && !a.parenthesized ? [path] : [];
  for (const [key, child] of Object.entries(b))
    lost.push(...lostParentheses(child, a[key], `${path}.${key}`));
  return lost;
}

function checkRoundTrip(source: string): void {
  const before = parse('gen.mase', source);
  expect(before.diagnostics.filter((d) => d.code === 'E_SYNTAX')).toEqual([]);
  const formatted = formatSource(before.value);
  const after = parse('formatted.mase', formatted);
  expect(after.diagnostics).toEqual([]);
  expect(stripRanges(after.value)).toEqual(stripRanges(before.value));
  expect(commentTexts(after.value)).toEqual(commentTexts(before.value));
  expect(formatSource(after.value)).toBe(formatted);
}

describe('formatSource on generated expressions', () => {
  it.each([
    // The user's parentheses stay, needed or not: rules are read by people and LLM firms.
    ['(a < b) < c', '(a < b) < c'],
    ['not (a < b)', 'not (a < b)'],
    ['-(a ^ b)', '-(a ^ b)'],
    ['(-a) ^ b', '(-a) ^ b'],
    ['a ^ (b ^ c)', 'a ^ (b ^ c)'],
    ['(a ^ b) ^ c', '(a ^ b) ^ c'],
    ['a - (b - c)', 'a - (b - c)'],
    ['(a - b) - c', '(a - b) - c'],
    ['a * -(b + c)', 'a * -(b + c)'],
    ['if a then b else (c + 1)', 'if a then b else (c + 1)'],
    ['(if a then b else c) + 1', '(if a then b else c) + 1'],
    ['a and (b or c)', 'a and (b or c)'],
    ['(not a) and b', '(not a) and b'],
    ['not (not a)', 'not (not a)'],
    ['- (- a)', '-(-a)'],
    ['x [ ( self ) ]', 'x[(self)]'],
    ['(f(x)).y', '(f(x)).y'],
    ['( a + b )', '(a + b)'],
    ['((a + b)) * ((c))', '(a + b) * (c)'],
    [
      'cv_x > 1.5 or hhi_x > 0.8 or (cv_x > 1 and hhi_x > 0.5)',
      'cv_x > 1.5 or hhi_x > 0.8 or (cv_x > 1 and hhi_x > 0.5)',
    ],
    // None are added where precedence does not need them.
    ['a+b*c', 'a + b * c'],
    ['a or b and c', 'a or b and c'],
    ['not a < b', 'not a < b'],
    ['-a ^ b', '-a ^ b'],
    ['mean( x , over : firm )', 'mean(x, over: firm)'],
  ])('prints %s as %s', (input, expected) => {
    expect(formatChecked(monitorSource(input))).toBe(monitorSource(expected));
  });

  it('prints expression ASTs that parse back to themselves', () => {
    fc.assert(
      fc.property(bareExpr, (ast) => {
        const text = printExpr(ast as unknown as Expr);
        const result = parse('gen.mase', monitorSource(text));
        expect(result.diagnostics.filter((d) => d.code === 'E_SYNTAX')).toEqual([]);
        const reparsed = stripRanges(monitorValue(result.value));
        // The same tree, except for parentheses the printer had to add for precedence.
        expect(withoutParentheses(reparsed)).toEqual(withoutParentheses(ast));
        expect(lostParentheses(ast, reparsed)).toEqual([]);
        checkRoundTrip(monitorSource(text));
      }),
      { numRuns: Number(process.env.RUNS ?? 1000) },
    );
  });

  it('formats expression source text to the same AST, idempotently', () => {
    fc.assert(
      fc.property(exprText, (text) => {
        checkRoundTrip(monitorSource(text));
      }),
      { numRuns: Number(process.env.RUNS ?? 1000) },
    );
  });
});

describe('formatSource with comments between any two tokens', () => {
  const governance = readFileSync(join(stdlib, 'governance-graph.mase'), 'utf8');
  const comments = ['/* a */', '// b\n', '/* two\n   lines */', '\n\n// c\n\n', '\n/* d */'];

  it('places every comment once and reaches a fixed point', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(MESSY, governance),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(...comments)), { minLength: 1, maxLength: 8 }),
        (source, insertions) => {
          const ends = masLexer
            .tokenize(source)
            .tokens.map((t) => (t.endOffset ?? t.startOffset) + 1);
          // Insert from the back so earlier offsets stay valid.
          const at = insertions
            .map(([i, text]) => ({ offset: ends[i % ends.length] ?? 0, text }))
            .sort((a, b) => b.offset - a.offset);
          let text = source;
          for (const { offset, text: comment } of at) {
            text = `${text.slice(0, offset)} ${comment} ${text.slice(offset)}`;
          }
          formatChecked(text);
        },
      ),
      { numRuns: Number(process.env.RUNS ?? 300) },
    );
  });
});

describe('formatSource on imports', () => {
  it('keeps imports, in order, one per line under the version line', () => {
    const messy =
      'mase 1 import "b.mase"   import\n"../shared/a.mase" // the market\n\n\n  import "stdlib:cournot"\nexperiment e { market m }\n';
    expect(formatChecked(messy)).toBe(
      'mase 1\n\nimport "b.mase"\nimport "../shared/a.mase"  // the market\n\nimport "stdlib:cournot"\n\nexperiment e {\n  market m\n}\n',
    );
  });

  const spec = fc.constantFrom(
    'a.mase',
    '../shared/markets.mase',
    'institutions/fines.mase',
    'stdlib:governance_graph',
    'quote \\" in it.mase',
    'back\\\\slash.mase',
    'not a source.txt',
  );
  const between = fc.constantFrom(' ', '\n', '\n\n', ' // c\n', '\n/* c */ ', '  \t');

  it('round-trips files of imports and declarations, comments and spacing aside', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(spec, between, between), { maxLength: 5 }),
        fc.constantFrom('', 'market m { firms f1 }\n', 'experiment e {}\nsweep s { base e }\n'),
        (version, imports, declarations) => {
          const source = `${version ? 'mase 1\n' : ''}${imports.map(([s, g1, g2]) => `import${g1}"${s}"${g2}`).join('')}\n${declarations}`;
          checkRoundTrip(source);
          const formatted = formatSource(parse('gen.mase', source).value);
          const printed = formatted
            .split('\n')
            .filter((l) => l.startsWith('import '))
            .map((l) => l.replace(/ {2}(\/\/|\/\*).*$/, ''));
          expect(printed).toEqual(imports.map(([s]) => `import "${s}"`));
        },
      ),
      { numRuns: Number(process.env.RUNS ?? 300) },
    );
  });
});
