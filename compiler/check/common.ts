import type { Axis, Expr, ObserveItem, ParamDecl, Range } from '../../grammar/ast.js';
import { type Diagnostic, type DiagnosticCode, diagnostic } from '../../grammar/diagnostics.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { ExpressionChecker } from '../expressions.js';
import { BENCHMARKS, type IrParam, type ParamValue } from '../ir.js';
import { observablesFor } from '../observables.js';
import { canonicalAxes, describeOptions, describeType, type ValueType } from '../types.js';

/** What every declaration checker shares: where diagnostics go, and parameters. */
/**
 * The first item of a declaration that may hold one, reporting each later one as
 * E_DUPLICATE with `message`: `scope`, `directive`, `rounds`, `base`, `payoff`, ….
 */
export function onlyOnce<
  I extends { readonly kind: string; readonly range: Range },
  K extends I['kind'],
>(
  items: readonly I[],
  kind: K,
  message: string,
  path: string,
  reporter: Reporter,
): Extract<I, { kind: K }> | undefined {
  const found = items.filter((i): i is Extract<I, { kind: K }> => i.kind === kind);
  for (const extra of found.slice(1)) reporter.report('E_DUPLICATE', path, extra.range, message);
  return found[0];
}

export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  report(
    code: DiagnosticCode,
    path: string,
    range: Range,
    message: string,
    hint?: string,
  ): undefined {
    this.diagnostics.push(diagnostic(code, path, range, message, hint));
    return undefined;
  }
  absorb(checker: ExpressionChecker): void {
    this.diagnostics.push(...checker.diagnostics);
  }
}

// ---- parameters -----------------------------------------------------------------------------

/** A literal written in source (parameter defaults, overrides, policy arguments), or undefined. */
export function literalValue(e: Expr): ParamValue | undefined {
  switch (e.kind) {
    case 'number':
    case 'bool':
    case 'string':
      return e.value;
    case 'unary':
      if (e.op === '-' && e.operand.kind === 'number') return -e.operand.value;
      return undefined;
    case 'list': {
      const items = e.items.map(literalValue);
      return items.some((i) => i === undefined) ? undefined : (items as ParamValue[]);
    }
    default:
      return undefined;
  }
}

export function baseOfValue(v: ParamValue): ValueType['base'] | 'list' | 'mixed' {
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  return 'list';
}

export function listDepth(v: ParamValue): number {
  return Array.isArray(v) ? 1 + Math.max(0, ...v.map(listDepth)) : 0;
}

export function leaves(v: ParamValue): ParamValue[] {
  return Array.isArray(v) ? v.flatMap(leaves) : [v];
}

/** Checks a value against a declared parameter type; returns a message when it does not fit. */
export function valueFits(type: ValueType, value: ParamValue): string | undefined {
  if (type.list) return listFits(type, value);
  const depth = listDepth(value);
  if (depth > type.axes.length) {
    return type.axes.length === 0
      ? `a list does not fit a single ${type.base}`
      : `a list nested ${depth} deep does not fit ${describeType(type)}`;
  }
  if (depth > 0 && depth < type.axes.length) {
    return `${describeType(type)} is written as a single value or a list of ${type.axes.length} levels (firms, then products)`;
  }
  for (const leaf of leaves(value)) {
    const base = baseOfValue(leaf);
    if (type.options && !(typeof leaf === 'string' && type.options.includes(leaf)))
      return `expected one of ${describeOptions(type.options)}, found ${JSON.stringify(leaf)}`;
    if (base !== type.base)
      return `expected ${type.base === 'bool' ? 'true/false' : `${type.base}s`}, found ${JSON.stringify(leaf)}`;
  }
  return undefined;
}

/** A list parameter's value: a non-empty, flat list of values of its base. */
function listFits(type: ValueType, value: ParamValue): string | undefined {
  if (!Array.isArray(value))
    return `a single value does not fit a list; write it in brackets: [${typeof value === 'string' ? JSON.stringify(value) : String(value)}]`;
  if (value.length === 0) return 'a list needs at least one value';
  for (const item of value) {
    if (Array.isArray(item)) return 'a list of lists does not fit; write one flat list';
    if (baseOfValue(item) !== type.base)
      return `expected ${type.base === 'bool' ? 'true/false values' : `${type.base}s`}, found ${JSON.stringify(item)}`;
  }
  return undefined;
}

/** An override or sweep level that does not fit its parameter, in words (`problem` from valueFits). */
export function misfitMessage(param: IrParam, problem: string): string {
  // An option parameter's problem already lists the options its type would.
  return param.type.options
    ? `\`${param.name}\`: ${problem}`
    : `\`${param.name}\` is ${describeType(param.type)}: ${problem}`;
}

/** For a bare name written as a string parameter's value (`payment: first`). */
export function quoteHint(param: IrParam, written: string | undefined): string | undefined {
  return param.type.base === 'string' && written !== undefined
    ? `strings are written in quotes: "${written}"`
    : undefined;
}

/** Names a parameter may not take: it could never be referred to, or would hide an outcome. */
export const shadowedNames: ReadonlySet<string> = new Set([
  'self',
  ...BENCHMARKS,
  ...observablesFor('quantity').keys(),
  'rounds_in_state',
]);

export function describeBuiltin(name: string, params?: ReadonlyMap<string, unknown>): string {
  if (params?.has(name)) return 'parameter';
  if (name === 'self') return 'firm selector';
  if (name === 'rounds_in_state') return 'offence-history value';
  if ((BENCHMARKS as readonly string[]).includes(name)) return 'benchmark';
  return 'market observable';
}

/**
 * The axis names a declaration may write (`per NAME`, `over: NAME`): markets and
 * institutions write `firm` and `product`; an environment writes its agent axis.
 */
export interface AxisNames {
  /** The agent axis as written (`firm`, `fisher`). */
  readonly agent: string;
  readonly names: ReadonlyMap<string, Axis>;
}

export const MARKET_AXES: AxisNames = {
  agent: 'firm',
  names: new Map<string, Axis>([
    ['firm', 'firm'],
    ['product', 'product'],
  ]),
};

export const agentAxisNames = (agent: string): AxisNames => ({
  agent,
  names: new Map<string, Axis>([[agent, 'firm']]),
});

export function axisOf(name: string, axes: AxisNames): Axis | undefined {
  return axes.names.get(name);
}

export function checkParams(
  items: readonly ParamDecl[],
  path: string,
  reporter: Reporter,
  axes: AxisNames = MARKET_AXES,
): IrParam[] {
  const out: IrParam[] = [];
  const seen = new Map<string, Range>();
  for (const p of items) {
    const previous = seen.get(p.name.name);
    if (previous) {
      reporter.report(
        'E_DUPLICATE',
        path,
        p.name.range,
        `parameter \`${p.name.name}\` is declared twice (first at line ${previous.start.line})`,
      );
      continue;
    }
    seen.set(p.name.name, p.name.range);
    if (shadowedNames.has(p.name.name)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        p.name.range,
        `parameter \`${p.name.name}\` would hide the ${describeBuiltin(p.name.name)} of that name`,
        'give the parameter its own name',
      );
      continue;
    }
    const axisNames = p.type?.axes ?? [];
    const unknown = axisNames.find((a) => axisOf(a, axes) === undefined);
    if (unknown !== undefined) {
      reporter.report(
        'E_TYPE',
        path,
        p.type?.range ?? p.name.range,
        `\`${unknown}\` is not an axis here`,
        `axes: ${[...axes.names.keys()].join(', ')}`,
      );
      continue;
    }
    const written = axisNames.map((a) => axisOf(a, axes) as Axis);
    if (
      written.join(' ') !== canonicalAxes(written).join(' ') ||
      new Set(written).size !== written.length
    ) {
      reporter.report(
        'E_TYPE',
        path,
        p.type?.range ?? p.name.range,
        `write the axes of \`${p.name.name}\` once each, ${axes.agent === 'firm' ? 'firms first: `per firm per product`' : `\`per ${axes.agent}\``}`,
        axes.agent === 'firm'
          ? 'lists are written firm by firm: [[values of f1], [values of f2], …]'
          : `lists are written ${axes.agent} by ${axes.agent}`,
      );
      continue;
    }
    if (p.value.kind === 'missing') continue;
    const value = literalValue(p.value);
    if (value === undefined) {
      reporter.report(
        'E_TYPE',
        path,
        p.value.range,
        `the default of parameter \`${p.name.name}\` must be a literal value`,
        'write a number, true/false, a string or a list of them',
      );
      continue;
    }
    if (p.type?.list) {
      const list = checkListParam(p, value, written.length > 0, path, reporter);
      if (list) out.push(list);
      continue;
    }
    const typeAxes = canonicalAxes(written);
    const inferredBase = baseOfValue(leaves(value)[0] ?? 0);
    const options = optionsOf(p, path, reporter);
    if (options === null) continue;
    const base = options
      ? 'string'
      : (p.type?.base ??
        (inferredBase === 'list' || inferredBase === 'mixed' ? 'number' : inferredBase));
    const type: ValueType = { base, axes: typeAxes, ...(options ? { options } : {}) };
    if (Array.isArray(value) && typeAxes.length === 0) {
      reporter.report(
        'E_TYPE',
        path,
        p.value.range,
        `parameter \`${p.name.name}\` is a list but its type does not say what the list runs over`,
        axes.agent === 'firm'
          ? `annotate it: \`param ${p.name.name}: per firm = …\` (or \`per product\`, \`per firm per product\`), or \`param ${p.name.name}: list = …\` for a list read by position`
          : `annotate it: \`param ${p.name.name}: per ${axes.agent} = …\`, or \`param ${p.name.name}: list = …\` for a list read by position`,
      );
      continue;
    }
    const problem = valueFits(type, value);
    if (problem) {
      reporter.report(
        'E_PARAM_TYPE',
        path,
        p.value.range,
        `the default of \`${p.name.name}\`: ${problem}`,
      );
      continue;
    }
    out.push({ name: p.name.name, type, value, ...(p.doc === undefined ? {} : { doc: p.doc }) });
  }
  return out;
}

/**
 * `param schedule: list = [0.35, 0.75, 1]`: a list read by position. Its elements are
 * numbers or true/false values, all of one kind (the first says which), and it has no axes.
 */
function checkListParam(
  p: ParamDecl,
  value: ParamValue,
  hasAxes: boolean,
  path: string,
  reporter: Reporter,
): IrParam | undefined {
  const range = p.type?.range ?? p.name.range;
  if (hasAxes)
    return reporter.report(
      'E_TYPE',
      path,
      range,
      `parameter \`${p.name.name}\` is a list read by position; it cannot also be \`per\` an axis`,
      `write \`param ${p.name.name}: list = […]\`, or a per-axis value without \`list\``,
    );
  const first = Array.isArray(value) ? value[0] : value;
  const base = first === undefined ? 'number' : baseOfValue(first);
  if (base === 'string')
    return reporter.report(
      'E_PARAM_TYPE',
      path,
      p.value.range,
      `the default of \`${p.name.name}\`: a list holds numbers or true/false values, not strings`,
      'for a choice among words, write `one of "a", "b"`',
    );
  const type: ValueType = { base: base === 'bool' ? 'bool' : 'number', axes: [], list: true };
  const problem = valueFits(type, value);
  if (problem)
    return reporter.report(
      'E_PARAM_TYPE',
      path,
      p.value.range,
      `the default of \`${p.name.name}\`: ${problem}`,
    );
  return { name: p.name.name, type, value, ...(p.doc === undefined ? {} : { doc: p.doc }) };
}

/** An option parameter's options (undefined for other parameters; null when one is written twice). */
function optionsOf(p: ParamDecl, path: string, reporter: Reporter): string[] | undefined | null {
  const written = p.type?.options;
  if (!written) return undefined;
  const seen = new Set<string>();
  for (const option of written) {
    if (seen.has(option.value)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        option.range,
        `parameter \`${p.name.name}\` lists the option ${JSON.stringify(option.value)} twice`,
      );
      return null;
    }
    seen.add(option.value);
  }
  return [...seen];
}

export const paramTypes = (params: readonly IrParam[]) =>
  new Map(params.map((p) => [p.name, p.type]));

/** Declared parameters whose declaration was rejected (already reported). */
export function rejectedParams(
  items: readonly { kind: string }[],
  accepted: readonly IrParam[],
): Set<string> {
  const ok = new Set(accepted.map((p) => p.name));
  return new Set(
    items
      .filter((i): i is ParamDecl => i.kind === 'param')
      .map((p) => p.name.name)
      .filter((n) => !ok.has(n)),
  );
}

/**
 * A world's `observe` items: each names an observable of the world (`what`: "the market",
 * "environment `commons`"), and `own` needs a value with one entry per agent (`axis`).
 */
export function checkObserve(
  items: readonly ObserveItem[],
  observables: ReadonlyMap<string, ValueType>,
  what: string,
  axis: string,
  path: string,
  reporter: Reporter,
): { name: string; own: boolean }[] {
  const observe: { name: string; own: boolean }[] = [];
  for (const item of items) {
    const type = observables.get(item.name.name);
    if (!type) {
      reporter.report(
        'E_UNKNOWN_OBSERVABLE',
        path,
        item.name.range,
        `${what} provides no observable \`${item.name.name}\``,
        didYouMean(item.name.name, observables.keys()) ??
          `observables: ${[...observables.keys()].join(', ')}`,
      );
      continue;
    }
    if (item.own && !type.axes.includes('firm')) {
      reporter.report(
        'E_SHAPE',
        path,
        item.range,
        `\`own\` shows each ${axis} only its own entry of a per-${axis} value; \`${item.name.name}\` is the same for every ${axis}`,
      );
      continue;
    }
    observe.push({ name: item.name.name, own: item.own });
  }
  return observe;
}
