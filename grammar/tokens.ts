import type { TokenType } from 'chevrotain';
import { chevrotain } from './chevrotain.js';

const { createToken, Lexer } = chevrotain;

// Soft keywords start declarations and items but remain usable as names
// (a parameter may be called `firms`, an observable is called `price`).
export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const softKeywordNames = [
  'mase',
  'import',
  'market',
  'institution',
  'experiment',
  'param',
  'firms',
  'products',
  'cost',
  'capacity',
  'action',
  'price',
  'demand',
  'observe',
  'own',
  'per',
  'firm',
  'product',
  'scope',
  'public',
  'private',
  'directive',
  'monitor',
  'detection',
  'false_positive',
  'rule',
  'must',
  'may',
  'initial',
  'state',
  'notice',
  'fine',
  'credit',
  'cap',
  'floor',
  'suspend',
  'mute',
  'quarantine',
  'paraphrase',
  'filter',
  'each',
  'round',
  'rounds',
  'after',
  'while',
  'priority',
  'restore',
  'entry',
  'agents',
  'seed',
  'seeds',
  'horizon',
  'continuation',
  'checkpoint',
  'every',
  'talk',
  'sweep',
  'base',
  'factor',
  'design',
  'replicates',
  'budget',
  'tokens',
  'number',
  'bool',
  'string',
  'list',
  'by',
  'environment',
  'let',
  'payoff',
  'next',
  'end',
  'benchmark',
  'metric',
  'policy',
  'draw',
  'kind',
  'computed',
  'step',
  'one',
  'of',
  'counter',
  'add',
  'reset',
  'decay',
  'intervention',
  'drop',
  'replace',
  'message',
  'inject',
  'memory',
  'pardon',
] as const;

// Hard keywords are reserved: they can never be names.
const hardKeywordNames = [
  'and',
  'or',
  'not',
  'true',
  'false',
  'inf',
  'if',
  'then',
  'else',
  'when',
  'for',
  'in',
] as const;

export type SoftKeyword = (typeof softKeywordNames)[number];
export type HardKeyword = (typeof hardKeywordNames)[number];

function keyword(word: string, soft: boolean): TokenType {
  return createToken({
    name: `Kw_${word}`,
    pattern: new RegExp(`${word}(?![A-Za-z0-9_])`),
    longer_alt: Identifier,
    ...(soft ? { categories: [Identifier] } : {}),
    label: `'${word}'`,
  });
}

export const soft = Object.fromEntries(
  softKeywordNames.map((w) => [w, keyword(w, true)]),
) as Record<SoftKeyword, TokenType>;
export const hard = Object.fromEntries(
  hardKeywordNames.map((w) => [w, keyword(w, false)]),
) as Record<HardKeyword, TokenType>;

export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n]+/,
  group: Lexer.SKIPPED,
});
export const LineComment = createToken({
  name: 'LineComment',
  pattern: /\/\/[^\n\r]*/,
  group: 'comments',
});
export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\//,
  group: 'comments',
  line_breaks: true,
});
export const StringLiteral = createToken({
  name: 'StringLiteral',
  pattern: /"(?:[^"\\\n\r]|\\.)*"/,
  label: 'a string',
});
// A string that runs to the end of its line: parsed as a string so the rest of the file
// still reads well, and reported once by the front end.
export const UnterminatedString = createToken({
  name: 'UnterminatedString',
  pattern: /"(?:[^"\\\n\r]|\\.)*/,
  categories: [StringLiteral],
  label: 'a string',
});
export const NumberLiteral = createToken({
  name: 'NumberLiteral',
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  label: 'a number',
});

const punct = (name: string, pattern: RegExp | string, label: string) =>
  createToken({ name, pattern, label: `'${label}'` });

export const Arrow = punct('Arrow', '->', '->');
export const DotDot = punct('DotDot', '..', '..');
export const LessEq = punct('LessEq', '<=', '<=');
export const GreaterEq = punct('GreaterEq', '>=', '>=');
export const EqEq = punct('EqEq', '==', '==');
export const NotEq = punct('NotEq', '!=', '!=');
export const Less = punct('Less', '<', '<');
export const Greater = punct('Greater', '>', '>');
export const Equals = punct('Equals', '=', '=');
export const Plus = punct('Plus', '+', '+');
export const Minus = punct('Minus', '-', '-');
export const Star = punct('Star', '*', '*');
export const Slash = punct('Slash', '/', '/');
export const Percent = punct('Percent', '%', '%');
export const Caret = punct('Caret', '^', '^');
export const LBrace = punct('LBrace', '{', '{');
export const RBrace = punct('RBrace', '}', '}');
export const LParen = punct('LParen', '(', '(');
export const RParen = punct('RParen', ')', ')');
export const LBracket = punct('LBracket', '[', '[');
export const RBracket = punct('RBracket', ']', ']');
export const Comma = punct('Comma', ',', ',');
export const Colon = punct('Colon', ':', ':');
export const Dot = punct('Dot', '.', '.');
export const Pipe = punct('Pipe', '|', '|');

export const allTokens: TokenType[] = [
  WhiteSpace,
  BlockComment,
  LineComment,
  StringLiteral,
  UnterminatedString,
  Arrow,
  DotDot,
  NumberLiteral,
  LessEq,
  GreaterEq,
  EqEq,
  NotEq,
  Less,
  Greater,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Percent,
  Caret,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Dot,
  Pipe,
  ...Object.values(hard),
  ...Object.values(soft),
  Identifier,
];

// Only `\n` ends a line, as in positionAt() and the diagnostic renderer: a lone `\r`
// must not make token positions disagree with the rest.
export const masLexer = new Lexer(allTokens, {
  positionTracking: 'full',
  ensureOptimizations: false,
  lineTerminatorsPattern: /\n/g,
  lineTerminatorCharacters: ['\n'],
});

export const reservedWords: ReadonlySet<string> = new Set(hardKeywordNames);
