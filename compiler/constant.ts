import type { IrExpr, ParamValue } from './ir.js';
import { truthy } from './tensor.js';

/** An option parameter's value as it runs: each option replaced by its index (NaN if none). */
export function optionIndices(options: readonly string[], value: ParamValue): ParamValue {
  if (Array.isArray(value)) return value.map((v) => optionIndices(options, v));
  const index = typeof value === 'string' ? options.indexOf(value) : -1;
  return index < 0 ? Number.NaN : index;
}

/** The parameters a foldable expression (see constantValue) reads, in order, once each. */
export function paramsRead(e: IrExpr): string[] {
  const names = new Set<string>();
  const visit = (x: IrExpr): void => {
    if (x.op === 'param') names.add(x.name);
    else if (x.op === 'unary') visit(x.operand);
    else if (x.op === 'binary') [x.left, x.right].forEach(visit);
    else if (x.op === 'if') [x.condition, x.then, x.otherwise].forEach(visit);
    else if (x.op === 'call') x.args.forEach(visit);
  };
  visit(e);
  return [...names];
}

/**
 * Folds an expression that depends only on parameters (and literals) to a number.
 * Returns undefined when it reads anything that varies with the run.
 */
export function constantValue(
  e: IrExpr,
  params: ReadonlyMap<string, ParamValue>,
): number | undefined {
  switch (e.op) {
    case 'const':
      return e.value;
    case 'param': {
      const given = params.get(e.name);
      const v =
        e.type.options && given !== undefined ? optionIndices(e.type.options, given) : given;
      return typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : undefined;
    }
    case 'unary': {
      const x = constantValue(e.operand, params);
      if (x === undefined) return undefined;
      return e.operator === '-' ? -x : truthy(x) ? 0 : 1;
    }
    case 'binary': {
      const a = constantValue(e.left, params);
      const b = constantValue(e.right, params);
      if (a === undefined || b === undefined) return undefined;
      return applyBinary(e.operator, a, b);
    }
    case 'if': {
      const c = constantValue(e.condition, params);
      if (c === undefined) return undefined;
      return constantValue(truthy(c) ? e.then : e.otherwise, params);
    }
    case 'call': {
      const args = e.args.map((a) => constantValue(a, params));
      if (args.some((a) => a === undefined) || e.args.some((a) => a.type.axes.length > 0))
        return undefined;
      const xs = args as number[];
      switch (e.fn) {
        case 'min':
          return Math.min(...xs);
        case 'max':
          return Math.max(...xs);
        case 'abs':
          return Math.abs(xs[0] ?? Number.NaN);
        case 'sqrt':
          return Math.sqrt(xs[0] ?? Number.NaN);
        case 'exp':
          return Math.exp(xs[0] ?? Number.NaN);
        case 'log':
          return Math.log(xs[0] ?? Number.NaN);
        default:
          return undefined;
      }
    }
    case 'element': {
      const list = params.get(e.list);
      const at = constantValue(e.index, params);
      if (!Array.isArray(list) || at === undefined) return undefined;
      const elements = list.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v)));
      return elementAt(Float64Array.from(elements), at);
    }
    case 'length': {
      const list = params.get(e.list);
      return Array.isArray(list) ? list.length : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The value of a list at a position counted from 1, as a run reads it: a position that is
 * not a whole number is rounded down, and one outside the list is clamped to it (below 1:
 * the first value; past the end: the last, a ladder's top step). No position (NaN): NaN.
 */
export function elementAt(elements: Float64Array, position: number): number {
  if (Number.isNaN(position) || elements.length === 0) return Number.NaN;
  const i = Math.min(Math.max(Math.floor(position), 1), elements.length);
  return elements[i - 1] as number;
}

const BINARY: Readonly<Record<string, (a: number, b: number) => number>> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  '^': (a, b) => a ** b,
  '<': (a, b) => (a < b ? 1 : 0),
  '<=': (a, b) => (a <= b ? 1 : 0),
  '>': (a, b) => (a > b ? 1 : 0),
  '>=': (a, b) => (a >= b ? 1 : 0),
  '==': (a, b) => (a === b ? 1 : 0),
  '!=': (a, b) => (a !== b ? 1 : 0),
  and: (a, b) => (truthy(a) && truthy(b) ? 1 : 0),
  or: (a, b) => (truthy(a) || truthy(b) ? 1 : 0),
};

const notABinaryOperator = () => Number.NaN;

/** The function a binary operator applies to two numbers (chosen once, applied many times). */
export function binaryFunction(op: string): (a: number, b: number) => number {
  return BINARY[op] ?? notABinaryOperator;
}

export function applyBinary(op: string, a: number, b: number): number {
  return binaryFunction(op)(a, b);
}

export function paramMap(
  params: readonly { name: string; value: ParamValue }[],
): Map<string, ParamValue> {
  return new Map(params.map((p) => [p.name, p.value]));
}
