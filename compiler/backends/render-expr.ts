import type { Expr, Range } from '../../grammar/ast.js';
import { printExpr } from '../../grammar/print.js';
import { constantValue } from '../constant.js';
import type { IrCounterChange, IrExpr, IrPolicy, ParamValue } from '../ir.js';
import { natives } from '../natives.js';

const NO_RANGE: Range = {
  start: { line: 1, column: 1, offset: 0 },
  end: { line: 1, column: 1, offset: 0 },
};

function formatNumber(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return 'inf';
  // The shortest text that reads back as exactly this number: agents see what runs.
  return String(n);
}

function literal(value: ParamValue): Expr {
  if (typeof value === 'number') {
    return value < 0
      ? { kind: 'unary', op: '-', operand: literal(-value), range: NO_RANGE }
      : { kind: 'number', value, text: formatNumber(value), range: NO_RANGE };
  }
  if (typeof value === 'boolean') return { kind: 'bool', value, range: NO_RANGE };
  if (typeof value === 'string') return { kind: 'string', value, range: NO_RANGE };
  return { kind: 'list', items: value.map(literal), range: NO_RANGE };
}

const name = (n: string): Expr => ({ kind: 'name', name: n, range: NO_RANGE });

function toAst(
  e: IrExpr,
  params: ReadonlyMap<string, ParamValue> | undefined,
  agentAxis = 'firm',
): Expr {
  const ast = toAstBare(e, params, agentAxis);
  return e.parenthesized ? { ...ast, parenthesized: true } : ast;
}

function toAstBare(
  e: IrExpr,
  params: ReadonlyMap<string, ParamValue> | undefined,
  agentAxis: string,
): Expr {
  const r = (x: IrExpr) => toAst(x, params, agentAxis);
  switch (e.op) {
    case 'const': {
      // An option written as a string runs as its index; readers see the string.
      const option = e.type.options?.[e.value];
      if (option !== undefined) return literal(option);
      return e.type.base === 'bool'
        ? { kind: 'bool', value: e.value !== 0, range: NO_RANGE }
        : literal(e.value);
    }
    case 'string':
      return literal(e.value);
    case 'param': {
      const v = params?.get(e.name);
      return v === undefined ? name(e.name) : literal(v);
    }
    case 'observable':
    case 'monitor':
    case 'action':
      return name(e.name);
    case 'self':
      return name('self');
    case 'benchmark':
      return {
        kind: 'member',
        object: name(e.benchmark),
        property: { name: e.name, range: NO_RANGE },
        range: NO_RANGE,
      };
    case 'unary':
      return { kind: 'unary', op: e.operator, operand: r(e.operand), range: NO_RANGE };
    case 'binary':
      return {
        kind: 'binary',
        op: e.operator as never,
        left: r(e.left),
        right: r(e.right),
        range: NO_RANGE,
      };
    case 'if':
      return {
        kind: 'if',
        condition: r(e.condition),
        then: r(e.then),
        otherwise: r(e.otherwise),
        range: NO_RANGE,
      };
    case 'index':
      return {
        kind: 'index',
        target: r(e.target),
        indices: e.selections.map((s) => name('self' in s ? 'self' : s.name)),
        range: NO_RANGE,
      };
    case 'call': {
      // Evidence functions read better with their argument names, as they are documented.
      const named = natives.get(e.fn)?.kind === 'evidence' ? natives.get(e.fn)?.params : undefined;
      return {
        kind: 'call',
        callee: { name: e.fn, range: NO_RANGE },
        args: [
          ...e.args.map((a, i) => {
            const label = named?.[i]?.name;
            return label
              ? { name: { name: label, range: NO_RANGE }, value: r(a), range: NO_RANGE }
              : { value: r(a), range: NO_RANGE };
          }),
          ...(e.over ?? []).map((axis) => ({
            name: { name: 'over', range: NO_RANGE },
            // The IR calls every agent axis `firm`; an environment's is written by its name.
            value: name(axis === 'firm' ? agentAxis : axis),
            range: NO_RANGE,
          })),
        ],
        range: NO_RANGE,
      };
    }
    case 'window':
      return {
        kind: 'call',
        callee: { name: e.fn, range: NO_RANGE },
        args: [
          { value: r(e.value), range: NO_RANGE },
          { value: r(e.rounds), range: NO_RANGE },
        ],
        range: NO_RANGE,
      };
    case 'element': {
      // With values: a constant position shows the value it reads; any other, the list written out.
      const list = params?.get(e.list);
      if (Array.isArray(list)) {
        const at = constantValue(e, params as ReadonlyMap<string, ParamValue>);
        if (at !== undefined)
          return e.type.base === 'bool'
            ? { kind: 'bool', value: at !== 0, range: NO_RANGE }
            : literal(at);
      }
      return {
        kind: 'index',
        target: list === undefined ? name(e.list) : literal(list),
        indices: [r(e.index)],
        range: NO_RANGE,
      };
    }
    case 'length': {
      const list = params?.get(e.list);
      return Array.isArray(list)
        ? literal(list.length)
        : {
            kind: 'call',
            callee: { name: 'len', range: NO_RANGE },
            args: [{ value: name(e.list), range: NO_RANGE }],
            range: NO_RANGE,
          };
    }
    case 'counter':
      return name(e.name);
    case 'history':
      return e.fn === 'rounds_in_state'
        ? name('rounds_in_state')
        : {
            kind: 'call',
            callee: { name: e.fn, range: NO_RANGE },
            args: [{ value: name(e.state ?? ''), range: NO_RANGE }],
            range: NO_RANGE,
          };
  }
}

/** An expression as source text, with parameters replaced by their values when given. */
export function renderExpr(
  e: IrExpr,
  params?: ReadonlyMap<string, ParamValue>,
  /** The agent axis's name (an environment's `fisher`); `firm` by default. */
  agentAxis?: string,
): string {
  return params ? printExpr(toAst(e, params, agentAxis)) : e.text;
}

/** A parameter value as it would be written in source. */
export function formatParamValue(value: ParamValue): string {
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return JSON.stringify(value);
  return `[${value.map(formatParamValue).join(', ')}]`;
}

/** A policy (or a named use with arguments) as it would be written in source: `name(a: 1, 2)`. */
export function policyText(policy: IrPolicy): string {
  if (policy.args.length === 0) return policy.name;
  const args = policy.args.map((a) => (a.name ? `${a.name}: ` : '') + formatParamValue(a.value));
  return `${policy.name}(${args.join(', ')})`;
}

export { formatNumber };

/** Text broken at spaces into lines of at most `width` characters (a longer word stands alone). */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (current && current.length + 1 + word.length > width) {
      lines.push(current);
      current = word;
    } else current = current ? `${current} ${word}` : word;
  }
  if (current) lines.push(current);
  return lines;
}

/** A counter change as it reads in rules, diagrams and manifests: `add offences 1`. */
export function changeLabel(c: IrCounterChange, params?: ReadonlyMap<string, ParamValue>): string {
  return `${c.change} ${c.counter}${c.amount ? ` ${renderExpr(c.amount, params)}` : ''}`;
}
