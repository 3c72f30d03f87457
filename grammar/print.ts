import type { Argument, Expr } from './ast.js';
import { escapeString } from './cst-to-ast.js';

// Binding strength of each expression form; a child weaker than its slot needs parentheses.
enum Level {
  Conditional = 0,
  Or = 1,
  And = 2,
  Not = 3,
  Comparison = 4,
  Additive = 5,
  Multiplicative = 6,
  Unary = 7,
  Power = 8,
  Postfix = 9,
}

function levelOf(e: Expr): Level {
  switch (e.kind) {
    case 'if':
      return Level.Conditional;
    case 'binary':
      switch (e.op) {
        case 'or':
          return Level.Or;
        case 'and':
          return Level.And;
        case '<':
        case '<=':
        case '>':
        case '>=':
        case '==':
        case '!=':
          return Level.Comparison;
        case '+':
        case '-':
          return Level.Additive;
        case '^':
          return Level.Power;
        default:
          return Level.Multiplicative;
      }
    case 'unary':
      return e.op === 'not' ? Level.Not : Level.Unary;
    default:
      return Level.Postfix;
  }
}

function wrap(e: Expr, minimum: Level): string {
  const text = printExpr(e);
  return levelOf(e) < minimum && !e.parenthesized ? `(${text})` : text;
}

/**
 * Canonical source text of an expression: the formatter's output and the IR's `text`. The
 * user's parentheses are kept (they make rules readable); others are added only where
 * precedence needs them.
 */
export function printExpr(e: Expr): string {
  return e.parenthesized ? `(${printBare(e)})` : printBare(e);
}

function printBare(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return e.text;
    case 'string':
      return escapeString(e.value);
    case 'bool':
      return e.value ? 'true' : 'false';
    case 'name':
      return e.name;
    case 'missing':
      return '?';
    case 'member':
      return `${wrap(e.object, Level.Postfix)}.${e.property.name}`;
    case 'list':
      return `[${e.items.map(printExpr).join(', ')}]`;
    case 'call':
      return `${e.callee.name}(${printArguments(e.args)})`;
    case 'index':
      return `${wrap(e.target, Level.Postfix)}[${e.indices.map(printExpr).join(', ')}]`;
    case 'if':
      return `if ${printExpr(e.condition)} then ${printExpr(e.then)} else ${printExpr(e.otherwise)}`;
    case 'unary':
      return e.op === 'not'
        ? `not ${wrap(e.operand, Level.Not)}`
        : `-${wrap(e.operand, Level.Unary)}`;
    case 'binary': {
      const level = levelOf(e);
      if (e.op === '^') return `${wrap(e.left, Level.Postfix)} ^ ${wrap(e.right, Level.Unary)}`;
      if (level === Level.Comparison) {
        return `${wrap(e.left, Level.Additive)} ${e.op} ${wrap(e.right, Level.Additive)}`;
      }
      // Left-associative: the right operand must bind strictly tighter.
      return `${wrap(e.left, level)} ${e.op} ${wrap(e.right, level + 1)}`;
    }
  }
}

export function printArguments(args: readonly Argument[]): string {
  return args
    .map((a) => (a.name ? `${a.name.name}: ${printExpr(a.value)}` : printExpr(a.value)))
    .join(', ');
}

/**
 * The words before `fine`/`credit` as written: none for an entry sanction, `each round`,
 * or `each round after entry` (the same timing, the free round of entry said explicitly).
 */
export function sanctionTiming(s: {
  readonly timing: 'entry' | 'each_round';
  readonly afterEntry?: true;
}): string {
  if (s.timing === 'entry') return '';
  return s.afterEntry ? 'each round after entry' : 'each round';
}
