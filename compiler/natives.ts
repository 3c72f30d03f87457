import type { Axis } from '../grammar/ast.js';
import { LEXICONS } from './lexicons.js';
import {
  broadcast2,
  broadcast2Into,
  cv,
  type Dimensions,
  gini,
  map1,
  map1Into,
  mean,
  reduceInto,
  reduceOver,
  scalarTensor,
  secondMax,
  std,
  sum,
  sumBeforeAlong,
  type Tensor,
  truthy,
} from './tensor.js';
import { characterLength, chrfAgainst, lexiconShare, tokenJaccard, tokens } from './text.js';
import { bool, canonicalAxes, describeType, number, type ValueType } from './types.js';

/**
 * The native functions MASE sources may call. Each has a type rule (used by the checker)
 * and an implementation over tensors (used by compiled closures). Window functions take
 * their first argument lazily — the evaluator re-evaluates it at earlier rounds — so they
 * have a type rule here and their implementation lives in compiler/evaluate.ts.
 */
export type NativeKind = 'reduction' | 'scan' | 'elementwise' | 'window' | 'evidence' | 'history';

export interface NativeParameter {
  readonly name: string;
  readonly optional?: boolean;
}

export type TypeRuleResult =
  | ValueType
  | { readonly error: string; readonly code: 'E_TYPE' | 'E_SHAPE' };

export interface EvaluationInfo {
  readonly dims: Dimensions;
  /** An observable's value `roundsAgo` rounds before the current one (undefined before round 1). */
  readonly observableAt: (name: string, roundsAgo: number) => Tensor | undefined;
  /**
   * The text of each string argument, by position: a literal, or a string parameter's value
   * when the closure was given it (`CompileOptions.strings`); undefined for other arguments.
   */
  readonly words: readonly (string | undefined)[];
  /** Each firm's messages the institution may read, `roundsAgo` rounds back (undefined: none). */
  readonly talkAt: (roundsAgo: number) => readonly (readonly string[])[] | undefined;
}

export interface NativeFunction {
  readonly name: string;
  readonly signature: string;
  readonly summary: string;
  readonly kind: NativeKind;
  readonly params: readonly NativeParameter[];
  /** Whether an `over: firm|product` argument is accepted. */
  readonly acceptsOver: boolean;
  readonly result: (
    args: readonly ValueType[],
    over: readonly Axis[] | undefined,
  ) => TypeRuleResult;
  readonly evaluate?: (
    args: readonly Tensor[],
    over: readonly Axis[] | undefined,
    info: EvaluationInfo,
  ) => Tensor;
  /**
   * `evaluate` specialised to one call site whose argument axes and market dimensions are
   * known when it is compiled (`CompileOptions.dims`): it may return the same tensor on
   * every call, overwritten by the next. Undefined (or returning undefined): `evaluate`.
   */
  readonly specialise?: (
    argAxes: readonly (readonly Axis[])[],
    over: readonly Axis[] | undefined,
    dims: Dimensions,
  ) => ((args: readonly Tensor[], info: EvaluationInfo) => Tensor) | undefined;
  /**
   * A text measure: reads only the messages each agent wrote this round (`talkAt(0)`), so a
   * message filter may use it on one message at a time (docs/language.md, Message filters).
   */
  readonly readsTalk?: true;
  /** The most rounds back `evaluate` reads through `observableAt` (default 0). */
  readonly lookback?: number;
  /**
   * A problem with the text of the call's string-literal arguments (by position), found
   * when it is checked: `lexicon("colusion")` names no word list.
   */
  readonly checkWords?: (words: readonly (string | undefined)[]) => WordProblem | undefined;
}

export interface WordProblem {
  readonly error: string;
  readonly code: 'E_TYPE' | 'E_UNKNOWN_NAME';
}

// Shared true/false results (a tensor is never written once made, but by its maker).
const YES = scalarTensor(1);
const NO = scalarTensor(0);

const err = (error: string, code: 'E_TYPE' | 'E_SHAPE' = 'E_TYPE') => ({ error, code });

function requireBase(
  args: readonly ValueType[],
  base: 'number' | 'bool',
  fn: string,
): TypeRuleResult | undefined {
  for (const [i, a] of args.entries()) {
    if (a.base !== base) {
      return err(
        `argument ${i + 1} of ${fn} must be ${base === 'bool' ? 'a true/false value' : 'a number'}, not ${describeType(a)}`,
      );
    }
  }
  return undefined;
}

function reducedAxes(
  arg: ValueType,
  over: readonly Axis[] | undefined,
): readonly Axis[] | TypeRuleResult {
  if (over === undefined) return [];
  for (const axis of over) {
    if (!arg.axes.includes(axis)) {
      return err(`cannot reduce over ${axis}: the argument is ${describeType(arg)}`, 'E_SHAPE');
    }
  }
  return arg.axes.filter((a) => !over.includes(a));
}

function reduction(
  name: string,
  summary: string,
  input: 'number' | 'bool',
  output: 'number' | 'bool',
  fold: (values: Float64Array) => number,
): NativeFunction {
  return {
    name,
    signature: `${name}(x, over: firm|product)`,
    summary,
    kind: 'reduction',
    params: [{ name: 'x' }],
    acceptsOver: true,
    result: (args, over) => {
      const [x] = args;
      if (!x) return err(`${name} needs one argument`);
      const bad = requireBase(args, input, name);
      if (bad) return bad;
      const axes = reducedAxes(x, over);
      if (!Array.isArray(axes)) return axes as TypeRuleResult;
      return { base: output, axes: axes as Axis[] };
    },
    evaluate: (args, over, info) => {
      const x = args[0] as Tensor;
      return reduceOver(x, over ?? x.axes, info.dims, fold);
    },
    specialise: ([axes], over, dims) => reducer(axes, over, dims, fold),
  };
}

/** The specialised form of a one-argument reduction (see `NativeFunction.specialise`). */
function reducer(
  axes: readonly Axis[] | undefined,
  over: readonly Axis[] | undefined,
  dims: Dimensions,
  fold: (values: Float64Array) => number,
): ((args: readonly Tensor[]) => Tensor) | undefined {
  if (!axes) return undefined;
  const reduce = reduceInto(axes, over ?? axes, dims, fold, (x) =>
    reduceOver(x, over ?? x.axes, dims, fold),
  );
  return reduce && ((args) => reduce(args[0] as Tensor));
}

/** `f` folded left over two or more arguments, pairwise with broadcasting, each step into its own tensor. */
function pairwise(
  argAxes: readonly (readonly Axis[])[],
  dims: Dimensions,
  f: (a: number, b: number) => number,
): (args: readonly Tensor[]) => Tensor {
  const steps: ((a: Tensor, b: Tensor) => Tensor)[] = [];
  let acc = argAxes[0] as readonly Axis[];
  for (const next of argAxes.slice(1)) {
    steps.push(broadcast2Into(acc, next, dims, f));
    acc = canonicalAxes([...acc, ...next]);
  }
  return (args) => {
    let value = args[0] as Tensor;
    for (let k = 0; k < steps.length; k++)
      value = (steps[k] as (a: Tensor, b: Tensor) => Tensor)(value, args[k + 1] as Tensor);
    return value;
  };
}

function elementwise(
  name: string,
  summary: string,
  arity: number,
  f: (...xs: number[]) => number,
): NativeFunction {
  const params = Array.from({ length: arity }, (_, i) => ({
    name: ['x', 'low', 'high'][i] ?? `x${i}`,
  }));
  return {
    name,
    signature: `${name}(${params.map((p) => p.name).join(', ')})`,
    summary,
    kind: 'elementwise',
    params,
    acceptsOver: false,
    result: (args) =>
      requireBase(args, 'number', name) ?? {
        base: 'number',
        axes: canonicalAxes(args.flatMap((a) => a.axes)),
      },
    evaluate: (args, _over, info) => {
      if (args.length === 1) return map1(args[0] as Tensor, (x) => f(x));
      let acc = args[0] as Tensor;
      if (args.length === 3) {
        const [x, lo, hi] = args as [Tensor, Tensor, Tensor];
        return broadcast2(broadcast2(x, lo, info.dims, Math.max), hi, info.dims, Math.min);
      }
      for (const next of args.slice(1)) acc = broadcast2(acc, next, info.dims, (a, b) => f(a, b));
      return acc;
    },
    specialise: (argAxes, _over, dims) => {
      if (argAxes.length === 1) {
        const map = map1Into(argAxes[0] as readonly Axis[], dims, (x) => f(x));
        return (args) => map(args[0] as Tensor);
      }
      if (argAxes.length === 3) {
        const [x, lo, hi] = argAxes as [readonly Axis[], readonly Axis[], readonly Axis[]];
        const low = broadcast2Into(x, lo, dims, Math.max);
        const high = broadcast2Into(canonicalAxes([...x, ...lo]), hi, dims, Math.min);
        return (args) => high(low(args[0] as Tensor, args[1] as Tensor), args[2] as Tensor);
      }
      return pairwise(argAxes, dims, (a, b) => f(a, b));
    },
  };
}

/** Relative excess over a benchmark; 0 where the benchmark is 0 or the excess is below 1e-9 in size. */
export function excess(value: number, base: number): number {
  if (base === 0 || !Number.isFinite(base)) return 0;
  const x = (value - base) / base;
  return Math.abs(x) < 1e-9 ? 0 : x;
}

/** Herfindahl–Hirschman index of one product's quantities, on the 0–10,000 scale. */
export function hhiOf(quantities: ArrayLike<number>): number {
  const total = sum(quantities);
  if (total <= 0) return 0;
  let h = 0;
  // 100 × share, not 100q / total: a monopoly then scores exactly 10,000.
  for (let i = 0; i < quantities.length; i++) h += (100 * ((quantities[i] ?? 0) / total)) ** 2;
  return h;
}

/**
 * Each firm's share of one product's quantities squared, on the HHI's scale (100 × share)²:
 * the firm's contribution to `hhiOf`, which is their sum. All 0 when the total is not positive.
 */
export function hhiContributions(quantities: ArrayLike<number>): Float64Array {
  const total = sum(quantities);
  const out = new Float64Array(quantities.length);
  if (total <= 0) return out;
  for (let i = 0; i < quantities.length; i++) out[i] = (100 * ((quantities[i] ?? 0) / total)) ** 2;
  return out;
}

/**
 * Each firm's relative change in total output (summed over products) from `before` to
 * `now`: (b − a) / |a|; a firm that produced nothing before moves by sign(b).
 */
export function outputChanges(now: Tensor, before: Tensor, dims: Dimensions): Float64Array {
  const { firms, products } = dims;
  const changes = new Float64Array(firms);
  for (let i = 0; i < firms; i++) {
    let a = 0;
    let b = 0;
    for (let j = i * products; j < (i + 1) * products; j++) {
      a += before.data[j] ?? 0;
      b += now.data[j] ?? 0;
    }
    changes[i] = a === 0 ? (b === 0 ? 0 : Math.sign(b)) : (b - a) / Math.abs(a);
  }
  return changes;
}

/**
 * Per firm: whether it moved (|change| > threshold) and at least one rival moved with it,
 * none against it. A firm that held still, or moved against a rival, is not implicated.
 */
export function movedWithRivals(changes: ArrayLike<number>, threshold: number): Float64Array {
  const out = new Float64Array(changes.length);
  for (let i = 0; i < changes.length; i++) {
    const own = changes[i] ?? 0;
    if (!(Math.abs(own) > threshold)) continue;
    let withRival = false;
    let againstRival = false;
    for (let j = 0; j < changes.length; j++) {
      const rival = changes[j] ?? 0;
      if (j === i || !(Math.abs(rival) > threshold)) continue;
      if (Math.sign(rival) === Math.sign(own)) withRival = true;
      else againstRival = true;
    }
    out[i] = withRival && !againstRival ? 1 : 0;
  }
  return out;
}

/**
 * min/max: one argument reduces (over an axis, or all); two or more are compared
 * elementwise with broadcasting, as the checker types them.
 */
function extremum(pick: (...xs: number[]) => number): NativeFunction['evaluate'] {
  return (args, over, info) => {
    const [first, ...rest] = args as [Tensor, ...Tensor[]];
    if (rest.length === 0)
      return reduceOver(first, over ?? first.axes, info.dims, (v) => pick(...v));
    return rest.reduce(
      (acc, next) => broadcast2(acc, next, info.dims, (a, b) => pick(a, b)),
      first,
    );
  };
}

function extremumSpecialised(
  pick: (...xs: number[]) => number,
): NonNullable<NativeFunction['specialise']> {
  return (argAxes, over, dims) =>
    argAxes.length === 1
      ? reducer(argAxes[0], over, dims, (v) => pick(...v))
      : pairwise(argAxes, dims, (a, b) => pick(a, b));
}

function windowFunction(
  name: string,
  summary: string,
  input: 'number' | 'bool',
  output: 'number' | 'bool',
): NativeFunction {
  return {
    name,
    signature: `${name}(x, rounds)`,
    summary,
    kind: 'window',
    params: [{ name: 'x' }, { name: 'rounds' }],
    acceptsOver: false,
    result: ([x, k]) => {
      if (!x || !k) return err(`${name} needs a value and a number of rounds`);
      if (x.base !== input)
        return err(
          `${name} takes ${input === 'bool' ? 'a true/false value' : 'a number'}, not ${describeType(x)}`,
        );
      if (k.base !== 'number' || k.axes.length > 0)
        return err(`the number of rounds of ${name} must be a single number`);
      return { base: output, axes: x.axes };
    },
  };
}

/**
 * A per-firm measure of the messages the institution may read this round (docs/metrics.md,
 * Text measures), with one string argument or none. `measure` gets the argument's text once
 * and returns the measure of one firm's messages; a firm that wrote none, and every firm
 * when talk is not visible to the institution, scores `silent`.
 */
function textMeasure(spec: {
  name: string;
  summary: string;
  param?: { name: string; wanted: string; example: string };
  silent: number;
  measure: (word: string) => (messages: readonly string[]) => number;
  checkWords?: NativeFunction['checkWords'];
}): NativeFunction {
  const { name, param } = spec;
  return {
    name,
    signature: `${name}(${param?.name ?? ''})`,
    summary: spec.summary,
    kind: 'evidence',
    readsTalk: true,
    params: param ? [{ name: param.name }] : [],
    acceptsOver: false,
    result: ([w]) =>
      !param || (w?.base === 'string' && w.axes.length === 0)
        ? { base: 'number', axes: ['firm'] }
        : err(
            `${name} takes ${param.wanted} in quotes, e.g. ${name}(${JSON.stringify(param.example)})`,
          ),
    evaluate: (_args, _over, info) => {
      const score = spec.measure(info.words[0] ?? '');
      const talk = info.talkAt(0);
      const data = new Float64Array(info.dims.firms);
      for (let i = 0; i < data.length; i++) {
        const said = talk?.[i] ?? [];
        data[i] = said.length === 0 ? spec.silent : score(said);
      }
      return { axes: ['firm'], data };
    },
    ...(spec.checkWords ? { checkWords: spec.checkWords } : {}),
  };
}

/** A reference that scores every message 0 is a mistake, not a measure. */
const referenceWith =
  (
    name: string,
    what: string,
    holds: (reference: string) => boolean,
  ): NativeFunction['checkWords'] =>
  ([reference]) =>
    reference === undefined || holds(reference)
      ? undefined
      : {
          error: `the reference of ${name} has no ${what}: every message would score 0 against it`,
          code: 'E_TYPE',
        };

/** Messages joined with a space, so that words at their edges stay apart. */
const joined = (messages: readonly string[]) => messages.join(' ');

const list: NativeFunction[] = [
  reduction('sum', 'sum of the elements (over one axis, or all)', 'number', 'number', sum),
  reduction('mean', 'arithmetic mean', 'number', 'number', mean),
  reduction('std', 'population standard deviation', 'number', 'number', std),
  reduction(
    'cv',
    'coefficient of variation: population std / mean (0 when the mean is 0)',
    'number',
    'number',
    cv,
  ),
  reduction(
    'gini',
    'Gini coefficient of non-negative values: Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean) (0 when all are equal or the mean is 0)',
    'number',
    'number',
    gini,
  ),
  reduction(
    'count',
    'how many elements are true',
    'bool',
    'number',
    (v) => v.filter(truthy).length,
  ),
  reduction('any', 'whether any element is true', 'bool', 'bool', (v) => (v.some(truthy) ? 1 : 0)),
  reduction('all', 'whether every element is true', 'bool', 'bool', (v) =>
    v.every(truthy) ? 1 : 0,
  ),
  {
    // min/max: one argument reduces, two or more compare elementwise.
    ...reduction(
      'min',
      'smallest element; with two or more arguments, the elementwise minimum',
      'number',
      'number',
      (v) => Math.min(...v),
    ),
    signature: 'min(x, over: firm|product) or min(a, b, …)',
    params: [{ name: 'x' }],
    evaluate: extremum(Math.min),
    specialise: extremumSpecialised(Math.min),
  },
  {
    ...reduction(
      'max',
      'largest element; with two or more arguments, the elementwise maximum',
      'number',
      'number',
      (v) => Math.max(...v),
    ),
    signature: 'max(x, over: firm|product) or max(a, b, …)',
    params: [{ name: 'x' }],
    evaluate: extremum(Math.max),
    specialise: extremumSpecialised(Math.max),
  },
  reduction(
    'second_max',
    'second-largest element, counting repeats (second_max of 5, 5, 3 is 5); the element itself when there is one',
    'number',
    'number',
    secondMax,
  ),
  {
    // Random-order rationing (stdlib/commons.mase): what was taken before each agent's turn.
    name: 'sum_before',
    signature: 'sum_before(x, key, over: firm|product)',
    summary:
      'per element: the sum of x over the elements served before it when served in ascending order of key along the axis (ties by index, NaN keys last)',
    kind: 'scan',
    params: [{ name: 'x' }, { name: 'key' }],
    acceptsOver: true,
    result: (args, over) => {
      const [x, key] = args;
      if (!x || !key) return err('sum_before needs a value and a key to order by');
      const bad = requireBase(args, 'number', 'sum_before');
      if (bad) return bad;
      if (over?.length !== 1)
        return err('sum_before needs `over:` naming the one axis along which turns are taken');
      const axis = over[0] as Axis;
      if (!x.axes.includes(axis))
        return err(`cannot order along ${axis}: the value is ${describeType(x)}`, 'E_SHAPE');
      if (key.axes.some((a) => !x.axes.includes(a)))
        return err(
          `the key of sum_before (${describeType(key)}) has an axis the value (${describeType(x)}) lacks`,
          'E_SHAPE',
        );
      return { base: 'number', axes: x.axes };
    },
    evaluate: ([x, key], over, info) =>
      sumBeforeAlong(x as Tensor, key as Tensor, (over?.[0] ?? 'firm') as Axis, info.dims),
  },
  elementwise('abs', 'absolute value', 1, Math.abs),
  elementwise('exp', 'e to the power x', 1, Math.exp),
  elementwise('log', 'natural logarithm', 1, Math.log),
  elementwise('sqrt', 'square root', 1, Math.sqrt),
  elementwise('clamp', 'x limited to [low, high]', 3, (x) => x),
  {
    name: 'excess',
    signature: 'excess(x, benchmark)',
    summary:
      'relative excess (x − benchmark) / benchmark; 0 where the benchmark is 0 or |excess| < 1e-9',
    kind: 'elementwise',
    params: [{ name: 'x' }, { name: 'benchmark' }],
    acceptsOver: false,
    result: (args) =>
      requireBase(args, 'number', 'excess') ?? {
        base: 'number',
        axes: canonicalAxes(args.flatMap((a) => a.axes)),
      },
    evaluate: ([x, b], _over, info) => broadcast2(x as Tensor, b as Tensor, info.dims, excess),
    specialise: (argAxes, _over, dims) => pairwise(argAxes, dims, excess),
  },
  {
    name: 'hhi',
    signature: 'hhi(q)',
    summary: 'Herfindahl–Hirschman index per product (0–10,000) of a firm × product quantity',
    kind: 'elementwise',
    params: [{ name: 'q' }],
    acceptsOver: false,
    result: ([q]) =>
      q && q.base === 'number' && q.axes.length === 2 && q.axes[0] === 'firm'
        ? { base: 'number', axes: ['product'] }
        : err(
            `hhi takes a firm × product number (such as quantity), not ${q ? describeType(q) : 'nothing'}`,
            'E_SHAPE',
          ),
    evaluate: ([q], _over, info) => reduceOver(q as Tensor, ['firm'], info.dims, hhiOf),
    specialise: ([axes], _over, dims) => reducer(axes, ['firm'], dims, hhiOf),
  },
  {
    name: 'hhi_contribution',
    signature: 'hhi_contribution(q)',
    summary:
      "per firm and product: the firm's share of the product's total squared, (100 × q / Σ q)²; summed over firms, hhi(q)",
    kind: 'elementwise',
    params: [{ name: 'q' }],
    acceptsOver: false,
    result: ([q]) =>
      q && q.base === 'number' && q.axes.length === 2 && q.axes[0] === 'firm'
        ? { base: 'number', axes: ['firm', 'product'] }
        : err(
            `hhi_contribution takes a firm × product number (such as quantity), not ${q ? describeType(q) : 'nothing'}`,
            'E_SHAPE',
          ),
    evaluate: ([q], _over, info) => {
      const { firms, products } = info.dims;
      const data = new Float64Array(firms * products);
      const column = new Float64Array(firms);
      for (let p = 0; p < products; p++) {
        for (let i = 0; i < firms; i++) column[i] = q?.data[i * products + p] ?? 0;
        hhiContributions(column).forEach((c, i) => {
          data[i * products + p] = c;
        });
      }
      return { axes: ['firm', 'product'], data };
    },
  },
  windowFunction(
    'mean_last',
    'mean of x over the last k rounds (this one included; fewer at the start)',
    'number',
    'number',
  ),
  windowFunction('min_last', 'minimum of x over the last k rounds', 'number', 'number'),
  windowFunction('max_last', 'maximum of x over the last k rounds', 'number', 'number'),
  windowFunction('sum_last', 'sum of x over the last k rounds', 'number', 'number'),
  windowFunction('count_last', 'in how many of the last k rounds x held', 'bool', 'number'),
  {
    name: 'lag',
    signature: 'lag(x, rounds)',
    summary:
      'the value of x k rounds ago (unknown, NaN, until k rounds have passed: comparisons with it are false)',
    kind: 'window',
    params: [{ name: 'x' }, { name: 'rounds', optional: true }],
    acceptsOver: false,
    result: ([x, k]) => {
      if (!x) return err('lag needs a value');
      if (k && (k.base !== 'number' || k.axes.length > 0))
        return err('the number of rounds of lag must be a single number');
      return x;
    },
  },
  {
    name: 'moved_together',
    signature: 'moved_together(threshold)',
    summary:
      'true when every firm changed its total output since last round by more than `threshold` (relative) and all in the same direction',
    kind: 'evidence',
    params: [{ name: 'threshold' }],
    lookback: 1,
    acceptsOver: false,
    result: ([t]) =>
      t && t.base === 'number' && t.axes.length === 0
        ? bool
        : err('moved_together takes one number: the relative threshold'),
    evaluate: ([threshold], _over, info) => {
      const now = info.observableAt('quantity', 0);
      const before = info.observableAt('quantity', 1);
      if (!now || !before) return NO;
      const t = threshold?.data[0] ?? 0;
      let direction = 0;
      for (const change of outputChanges(now, before, info.dims)) {
        if (Math.abs(change) <= t) return NO;
        const sign = Math.sign(change);
        if (direction !== 0 && sign !== direction) return NO;
        direction = sign;
      }
      return info.dims.firms > 1 ? YES : NO;
    },
  },
  {
    name: 'moved_with_rivals',
    signature: 'moved_with_rivals(threshold)',
    summary:
      'per firm: true when it changed its total output since last round by more than `threshold` (relative) and at least one rival did too, every such rival in the same direction',
    kind: 'evidence',
    params: [{ name: 'threshold' }],
    lookback: 1,
    acceptsOver: false,
    result: ([t]) =>
      t && t.base === 'number' && t.axes.length === 0
        ? { base: 'bool', axes: ['firm'] }
        : err('moved_with_rivals takes one number: the relative threshold'),
    evaluate: ([threshold], _over, info) => {
      const now = info.observableAt('quantity', 0);
      const before = info.observableAt('quantity', 1);
      const data =
        now && before
          ? movedWithRivals(outputChanges(now, before, info.dims), threshold?.data[0] ?? 0)
          : new Float64Array(info.dims.firms);
      return { axes: ['firm'], data };
    },
  },
  {
    name: 'mentions',
    signature: 'mentions(word)',
    summary:
      "how many of each firm's messages this round contain `word` (any case; 0 unless the experiment lets the institution read talk)",
    kind: 'evidence',
    readsTalk: true,
    params: [{ name: 'word' }],
    acceptsOver: false,
    result: ([w]) =>
      w?.base === 'string' && w.axes.length === 0
        ? { base: 'number', axes: ['firm'] }
        : err('mentions takes one word in quotes, e.g. mentions("split")'),
    evaluate: (_args, _over, info) => {
      const data = new Float64Array(info.dims.firms);
      const needle = (info.words[0] ?? '').toLowerCase();
      const talk = info.talkAt(0);
      if (talk && needle !== '')
        for (let i = 0; i < data.length; i++)
          data[i] = (talk[i] ?? []).filter((t) => t.toLowerCase().includes(needle)).length;
      return { axes: ['firm'], data };
    },
  },
  textMeasure({
    name: 'similarity',
    summary:
      'per firm: chrF (0–1, as sacreBLEU computes it by default) of its messages this round, joined with a space, against the reference; unknown (NaN) when it wrote none or talk is not visible',
    param: { name: 'reference', wanted: 'one reference text', example: 'we split the market' },
    silent: Number.NaN,
    measure: (reference) => {
      const score = chrfAgainst(reference);
      return (messages) => score(joined(messages));
    },
    checkWords: referenceWith('similarity', 'character but spaces', (r) => /\S/u.test(r)),
  }),
  textMeasure({
    name: 'jaccard',
    summary:
      'per firm: token Jaccard (0–1) of its messages this round against the reference: shared distinct tokens over all distinct tokens; unknown (NaN) when it wrote none or talk is not visible',
    param: { name: 'reference', wanted: 'one reference text', example: 'we split the market' },
    silent: Number.NaN,
    measure: (reference) => (messages) => tokenJaccard(joined(messages), reference),
    checkWords: referenceWith('jaccard', 'word', (r) => tokens(r).length > 0),
  }),
  textMeasure({
    name: 'message_length',
    summary:
      'per firm: how many characters its messages this round hold in all (0 when it wrote none or talk is not visible)',
    silent: 0,
    measure: () => (messages) => messages.reduce((n, m) => n + characterLength(m), 0),
  }),
  textMeasure({
    name: 'lexicon',
    summary:
      'per firm: the share of its tokens this round that are in the named word list shipped with MASE (`collusion`, `injection`); unknown (NaN) when it wrote no token or talk is not visible',
    param: { name: 'list', wanted: 'the name of a word list', example: 'collusion' },
    silent: Number.NaN,
    measure: (name) => {
      const words = LEXICONS.get(name) ?? new Set<string>();
      return (messages) => lexiconShare(joined(messages), words);
    },
    checkWords: ([name]) =>
      name === undefined || LEXICONS.has(name)
        ? undefined
        : {
            error: `there is no word list named ${JSON.stringify(name)}; the lists are ${[...LEXICONS.keys()].map((k) => JSON.stringify(k)).join(', ')}`,
            code: 'E_UNKNOWN_NAME',
          },
  }),
  {
    name: 'visits',
    signature: 'visits(state)',
    summary: 'how many times this machine has entered `state` (offence history)',
    kind: 'history',
    params: [{ name: 'state' }],
    acceptsOver: false,
    result: ([s]) => (s?.base === 'state' ? number : err('visits takes a state name')),
  },
  {
    name: 'rounds_since',
    signature: 'rounds_since(state)',
    summary: 'rounds since this machine last entered `state` (inf if never)',
    kind: 'history',
    params: [{ name: 'state' }],
    acceptsOver: false,
    result: ([s]) => (s?.base === 'state' ? number : err('rounds_since takes a state name')),
  },
];

export const natives: ReadonlyMap<string, NativeFunction> = new Map(list.map((f) => [f.name, f]));
