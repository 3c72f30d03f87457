import { binaryFunction, constantValue, elementAt, optionIndices } from './constant.js';
import type { IrExpr, ParamValue } from './ir.js';
import { natives } from './natives.js';
import {
  broadcast2,
  broadcast2Into,
  broadcast3,
  copyTensor,
  type Dimensions,
  map1,
  map1Into,
  scalarTensor,
  select,
  sizeOf,
  type Tensor,
  tensorFrom,
  truthy,
} from './tensor.js';
import type { ValueType } from './types.js';

/**
 * What a compiled expression reads when it runs. `roundsAgo` is 0 for the round being
 * adjudicated; window functions ask for earlier rounds. The runtime implements this
 * interface; tests implement it with plain arrays.
 */
export interface EvaluationEnvironment {
  readonly dims: Dimensions;
  readonly param: (name: string) => Tensor;
  readonly firmIndex: (name: string) => number;
  readonly productIndex: (name: string) => number;
  /** The firm a per-firm machine governs. */
  readonly self?: number;
  /** How many past rounds exist (the current one included). */
  readonly roundsAvailable: number;
  readonly observable: (name: string, roundsAgo: number) => Tensor;
  readonly benchmark: (benchmark: string, name: string) => Tensor;
  readonly monitor: (name: string, roundsAgo: number) => Tensor;
  /** A single-valued monitor as a number (optional: saves making a tensor to read one value). */
  readonly monitorValue?: (name: string, roundsAgo: number) => number;
  readonly action?: Tensor;
  /** Each firm's messages `roundsAgo` rounds back, when the institution may read talk. */
  readonly talk?: (roundsAgo: number) => readonly (readonly string[])[] | undefined;
  readonly history?: {
    readonly visits: (state: string) => number;
    readonly roundsSince: (state: string) => number;
    /** Rounds spent in the current state, the round being adjudicated included. */
    readonly roundsInState: () => number;
  };
  /** A counter's value for the machine (institutions with counters). */
  readonly counter?: (name: string) => number;
}

export type CompiledExpression = (env: EvaluationEnvironment, roundsAgo?: number) => Tensor;

export interface CompileOptions {
  /**
   * Evaluate each subexpression that reads only literals, parameters and benchmarks once,
   * on first use, and reuse the value (e.g. `cv(nash.quantity, over: product)` in a
   * monitor). Only for closures that always get environments with the same parameter
   * values and benchmarks, as the runtime's environments of one run do.
   */
  readonly memoiseRunConstants?: boolean;
  /**
   * The market's dimensions, when they are known before the closures run (an institution
   * instantiated for a market). Closures are then specialised to their operands' shapes:
   * index arithmetic is worked out once and tensor-valued nodes write into tensors made in
   * advance, so a closure may return the same tensor each time, overwritten by its next
   * call. A caller that keeps a value across calls copies it (`copyTensor`).
   */
  readonly dims?: Dimensions;
  /**
   * The text of a string parameter, for a native that reads its argument's text
   * (`mentions(canary)` with `param canary = "CANARY"`): tensors hold no text, so the
   * closure is given it when it is made (undefined: the argument reads as no text).
   */
  readonly strings?: (param: string) => string | undefined;
}

/**
 * Whether an expression's value is fixed for a run: it reads only literals, parameters
 * and benchmarks (no observable, monitor, firm of its own, history or past round).
 * Literals are left out: they are constants already.
 */
export function isRunConstant(e: IrExpr): boolean {
  const fixed = (x: IrExpr): boolean => {
    switch (x.op) {
      case 'const':
      case 'string':
      case 'param':
      case 'benchmark':
        return true;
      case 'unary':
        return fixed(x.operand);
      case 'binary':
        return fixed(x.left) && fixed(x.right);
      case 'if':
        return fixed(x.condition) && fixed(x.then) && fixed(x.otherwise);
      case 'index':
        return !x.selections.some((s) => 'self' in s) && fixed(x.target);
      case 'element':
        return fixed(x.index);
      case 'length':
        return true;
      case 'call': {
        const kind = natives.get(x.fn)?.kind;
        return (
          (kind === 'reduction' || kind === 'scan' || kind === 'elementwise') && x.args.every(fixed)
        );
      }
      default:
        return false;
    }
  };
  return e.op !== 'const' && e.op !== 'string' && fixed(e);
}

const NAN = scalarTensor(Number.NaN);

/**
 * Compiles checked IR to a closure. No `eval`, no `new Function`: each node becomes a
 * small function over its children's closures, and names are looked up through the
 * environment's accessors, never through JavaScript objects.
 */
export function compileExpression(e: IrExpr, options: CompileOptions = {}): CompiledExpression {
  if (options.memoiseRunConstants && isRunConstant(e)) {
    const code = compileExpression(e);
    let value: Tensor | undefined;
    return (env) => {
      value ??= code(env);
      return value;
    };
  }
  switch (e.op) {
    case 'const': {
      const t = scalarTensor(e.value);
      return () => t;
    }
    case 'string':
      return () => NAN;
    case 'param':
      return (env) => env.param(e.name);
    case 'observable':
      return (env, ago = 0) => env.observable(e.name, ago);
    case 'benchmark':
      return (env) => env.benchmark(e.benchmark, e.name);
    case 'monitor':
      return (env, ago = 0) => env.monitor(e.name, ago);
    case 'action':
      return (env) => env.action ?? NAN;
    case 'self':
      return (env) => scalarTensor(env.self ?? Number.NaN);
    case 'unary': {
      if (e.type.axes.length === 0) return scalarCode(e, options);
      const operand = compileExpression(e.operand, options);
      const f = e.operator === '-' ? (x: number) => -x : (x: number) => (truthy(x) ? 0 : 1);
      if (options.dims) {
        const map = map1Into(e.operand.type.axes, options.dims, f);
        return (env, ago) => map(operand(env, ago));
      }
      return (env, ago) => map1(operand(env, ago), f);
    }
    case 'binary': {
      if (e.type.axes.length === 0) return scalarCode(e, options);
      const left = compileExpression(e.left, options);
      const right = compileExpression(e.right, options);
      const f = binaryFunction(e.operator);
      if (options.dims) {
        const apply = broadcast2Into(e.left.type.axes, e.right.type.axes, options.dims, f);
        return (env, ago) => apply(left(env, ago), right(env, ago));
      }
      return (env, ago) => broadcast2(left(env, ago), right(env, ago), env.dims, f);
    }
    case 'if': {
      if (e.type.axes.length === 0) return scalarCode(e, options);
      const condition = compileExpression(e.condition, options);
      const then = compileExpression(e.then, options);
      const otherwise = compileExpression(e.otherwise, options);
      return (env, ago) =>
        broadcast3(condition(env, ago), then(env, ago), otherwise(env, ago), env.dims, (c, t, o) =>
          truthy(c) ? t : o,
        );
    }
    case 'index': {
      if (e.type.axes.length === 0) return scalarCode(e, options);
      const target = compileExpression(e.target, options);
      const selections = e.selections;
      return (env, ago) => {
        let value = target(env, ago);
        for (const s of selections) {
          const position =
            'self' in s
              ? (env.self ?? -1)
              : s.axis === 'firm'
                ? env.firmIndex(s.name)
                : env.productIndex(s.name);
          value = select(value, s.axis, position, env.dims);
        }
        return value;
      };
    }
    case 'call': {
      const fn = natives.get(e.fn);
      const evaluate = fn?.evaluate;
      if (!evaluate) throw new Error(`internal: native ${e.fn} has no implementation`);
      const args = e.args.map((a) => compileExpression(a, options));
      const words = e.args.map((a) =>
        a.op === 'string'
          ? a.value
          : a.op === 'param' && a.type.base === 'string'
            ? options.strings?.(a.name)
            : undefined,
      );
      const over = e.over;
      // One description of the call's surroundings per call site, pointed at the round
      // being evaluated just before each call (natives run synchronously and keep nothing).
      let atEnv: EvaluationEnvironment | undefined;
      let atAgo = 0;
      const current = () => atEnv as EvaluationEnvironment;
      const info: Parameters<typeof evaluate>[2] = {
        get dims() {
          return current().dims;
        },
        observableAt: (name, back) =>
          atAgo + back < current().roundsAvailable
            ? current().observable(name, atAgo + back)
            : undefined,
        words,
        talkAt: (back) => current().talk?.(atAgo + back),
      };
      const specialised = options.dims
        ? fn.specialise?.(
            e.args.map((a) => a.type.axes),
            over,
            options.dims,
          )
        : undefined;
      // One array for the arguments, refilled each call (natives keep nothing).
      const values = new Array<Tensor>(args.length);
      return (env, ago = 0) => {
        for (let k = 0; k < args.length; k++) values[k] = (args[k] as CompiledExpression)(env, ago);
        atEnv = env;
        atAgo = ago;
        return specialised ? specialised(values, info) : evaluate(values, over, info);
      };
    }
    case 'window': {
      const value = compileExpression(e.value, options);
      const rounds = compileExpression(e.rounds, options);
      const fn = e.fn;
      const axes = e.type.axes;
      // "No value yet" keeps the value's shape, so a per-firm lag is per firm from round 1.
      const unknown = (dims: Dimensions): Tensor => ({
        axes,
        data: new Float64Array(sizeOf(axes, dims)).fill(Number.NaN),
      });
      return (env, ago = 0) => {
        const k = Math.max(1, Math.floor(rounds(env, ago).data[0] ?? 1));
        if (fn === 'lag')
          return ago + k < env.roundsAvailable ? value(env, ago + k) : unknown(env.dims);
        const available = Math.max(0, Math.min(k, env.roundsAvailable - ago));
        if (available === 0) return unknown(env.dims);
        // The value's closure may reuse its tensor for the next round read: keep a copy.
        let acc = options.dims && available > 1 ? copyTensor(value(env, ago)) : value(env, ago);
        if (fn === 'count_last') acc = map1(acc, (x) => (truthy(x) ? 1 : 0));
        for (let back = 1; back < available; back++) {
          let next = value(env, ago + back);
          if (fn === 'count_last') next = map1(next, (x) => (truthy(x) ? 1 : 0));
          const combine =
            fn === 'min_last'
              ? Math.min
              : fn === 'max_last'
                ? Math.max
                : (a: number, b: number) => a + b;
          acc = broadcast2(acc, next, env.dims, combine);
        }
        return fn === 'mean_last' ? map1(acc, (x) => x / available) : acc;
      };
    }
    case 'element': {
      if (e.type.axes.length === 0) return scalarCode(e, options);
      const index = compileExpression(e.index, options);
      const list = e.list;
      return (env, ago) => {
        const elements = env.param(list).data;
        return map1(index(env, ago), (k) => elementAt(elements, k));
      };
    }
    case 'length': {
      const list = e.list;
      return (env) => scalarTensor(env.param(list).data.length);
    }
    case 'counter': {
      const name = e.name;
      return (env) => scalarTensor(env.counter ? env.counter(name) : Number.NaN);
    }
    case 'history':
      return (env) => {
        const h = env.history;
        if (!h) return NAN;
        if (e.fn === 'rounds_in_state') return scalarTensor(h.roundsInState());
        const state = e.state ?? '';
        return scalarTensor(e.fn === 'visits' ? h.visits(state) : h.roundsSince(state));
      };
  }
}

/** A scalar-typed expression as a tensor-valued closure built on its number-valued one. */
function scalarCode(e: IrExpr, options: CompileOptions): CompiledExpression {
  const code = compileScalar(e, options);
  if (options.dims) {
    const out = scalarTensor(0);
    const data = out.data;
    return (env, ago) => {
      data[0] = code(env, ago);
      return out;
    };
  }
  return (env, ago) => scalarTensor(code(env, ago));
}

export type CompiledScalar = (env: EvaluationEnvironment, roundsAgo?: number) => number;

/**
 * Compiles an expression whose type is a single value (a guard, most monitors) to a
 * number-valued closure: operators on single values are applied to numbers directly,
 * `and`, `or` and `if` evaluate only the operands they need (expressions have no side
 * effects), and `x[self]`-style selections read one element. The value is the one
 * `compileExpression(e)` gives as `data[0]`; other shapes and nodes are evaluated by it.
 */
export function compileScalar(e: IrExpr, options: CompileOptions = {}): CompiledScalar {
  if (options.memoiseRunConstants && isRunConstant(e)) {
    const code = compileScalar(e);
    let value: number | undefined;
    return (env) => {
      value ??= code(env);
      return value;
    };
  }
  const tensorValued = () => {
    const code = compileExpression(e, options);
    return (env: EvaluationEnvironment, ago?: number) => code(env, ago).data[0] ?? Number.NaN;
  };
  if (e.type.axes.length !== 0) return tensorValued();
  switch (e.op) {
    case 'const': {
      const value = e.value;
      return () => value;
    }
    case 'param':
      return (env) => env.param(e.name).data[0] ?? Number.NaN;
    case 'counter': {
      const name = e.name;
      return (env) => (env.counter ? env.counter(name) : Number.NaN);
    }
    case 'monitor':
      return (env, ago = 0) =>
        env.monitorValue
          ? env.monitorValue(e.name, ago)
          : (env.monitor(e.name, ago).data[0] ?? Number.NaN);
    case 'observable':
      return (env, ago = 0) => env.observable(e.name, ago).data[0] ?? Number.NaN;
    case 'unary': {
      const operand = compileScalar(e.operand, options);
      return e.operator === '-'
        ? (env, ago) => -operand(env, ago)
        : (env, ago) => (truthy(operand(env, ago)) ? 0 : 1);
    }
    case 'binary': {
      // A single-valued result means both operands are single values.
      const left = compileScalar(e.left, options);
      const right = compileScalar(e.right, options);
      const op = e.operator;
      if (op === 'and')
        return (env, ago) => (truthy(left(env, ago)) && truthy(right(env, ago)) ? 1 : 0);
      if (op === 'or')
        return (env, ago) => (truthy(left(env, ago)) || truthy(right(env, ago)) ? 1 : 0);
      const f = binaryFunction(op);
      return (env, ago) => f(left(env, ago), right(env, ago));
    }
    case 'if': {
      const condition = compileScalar(e.condition, options);
      const then = compileScalar(e.then, options);
      const otherwise = compileScalar(e.otherwise, options);
      return (env, ago) => (truthy(condition(env, ago)) ? then(env, ago) : otherwise(env, ago));
    }
    case 'index': {
      // Every axis of the target is selected: read the one element.
      const target = compileExpression(e.target, options);
      const selections = e.selections;
      return (env, ago) => {
        const value = target(env, ago);
        // The first selection of an axis removes it (as `select` does); later ones do nothing.
        let firm: number | undefined;
        let product: number | undefined;
        for (const s of selections) {
          if (s.axis === 'firm') firm ??= 'self' in s ? (env.self ?? -1) : env.firmIndex(s.name);
          else product ??= env.productIndex(s.name);
        }
        const { axes, data } = value;
        if (axes.length === 0) return data[0] ?? Number.NaN;
        if (axes.length === 1)
          return data[(axes[0] === 'firm' ? firm : product) ?? -1] ?? Number.NaN;
        const { firms, products } = env.dims;
        const i = firm ?? -1;
        const j = product ?? -1;
        return i >= 0 && i < firms && j >= 0 && j < products
          ? (data[i * products + j] ?? Number.NaN)
          : Number.NaN;
      };
    }
    case 'element': {
      const index = compileScalar(e.index, options);
      const list = e.list;
      return (env, ago) => elementAt(env.param(list).data, index(env, ago));
    }
    default:
      return tensorValued();
  }
}

/** Whether an expression's value can differ between the machines of one per-firm institution. */
export function readsMachine(e: IrExpr, perMachine: ReadonlySet<string>): boolean {
  switch (e.op) {
    case 'self':
    case 'history':
    case 'counter':
      return true;
    case 'monitor':
      return perMachine.has(e.name);
    case 'index':
      return e.selections.some((x) => 'self' in x) || readsMachine(e.target, perMachine);
    case 'element':
      return readsMachine(e.index, perMachine);
    case 'unary':
      return readsMachine(e.operand, perMachine);
    case 'binary':
      return readsMachine(e.left, perMachine) || readsMachine(e.right, perMachine);
    case 'call':
      return e.args.some((a) => readsMachine(a, perMachine));
    case 'window':
      return readsMachine(e.value, perMachine) || readsMachine(e.rounds, perMachine);
    case 'if':
      return (
        readsMachine(e.condition, perMachine) ||
        readsMachine(e.then, perMachine) ||
        readsMachine(e.otherwise, perMachine)
      );
    default:
      return false;
  }
}

/**
 * A single-valued expression of a per-firm institution evaluated for every firm at once:
 * element i is its value with `self` = firm i. Reads per-machine monitors of the round
 * being adjudicated through `perFirm`.
 */
export type CompiledPerFirm = (
  env: EvaluationEnvironment,
  perFirm: (monitor: string) => Float64Array,
) => Float64Array;

/**
 * Compiles a single-valued expression to its per-firm form, when it has one: it reads
 * `self` only as `x[self]`, per-machine monitors only directly and only those in
 * `perFirmMonitors` (evaluated the same way), and no machine history, window or native
 * over either. Otherwise undefined (the caller evaluates it machine by machine). Element
 * i equals `compileScalar(e)` with `self` = i.
 */
export function compilePerFirm(
  e: IrExpr,
  perMachine: ReadonlySet<string>,
  perFirmMonitors: ReadonlySet<string>,
  options: CompileOptions = {},
): CompiledPerFirm | undefined {
  const code = perFirmCode(e, perMachine, perFirmMonitors, options);
  if (!code) return undefined;
  return (env, perFirm) => {
    const value = code(env, perFirm);
    return typeof value === 'number'
      ? new Float64Array(env.dims.firms).fill(value)
      : Float64Array.from(value);
  };
}

/** A per-firm value: one number per firm, or one number for every firm alike. */
type PerFirmValue = number | Float64Array;
type PerFirmCode = (
  env: EvaluationEnvironment,
  perFirm: (monitor: string) => Float64Array,
) => PerFirmValue;

/**
 * `f` applied element by element, into `into` (a node's own array, see
 * `CompileOptions.dims`) or a new array whenever a vector is involved; inputs are never
 * written.
 */
function elementwise(
  values: readonly PerFirmValue[],
  f: (...xs: number[]) => number,
  into?: Float64Array,
): PerFirmValue {
  const vector = values.find((v): v is Float64Array => typeof v !== 'number');
  if (!vector) return f(...(values as number[]));
  const out = into && into.length === vector.length ? into : new Float64Array(vector.length);
  const xs = new Array<number>(values.length);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < values.length; k++) {
      const v = values[k] as PerFirmValue;
      xs[k] = typeof v === 'number' ? v : (v[i] as number);
    }
    out[i] = f(...xs);
  }
  return out;
}

function perFirmCode(
  e: IrExpr,
  perMachine: ReadonlySet<string>,
  perFirmMonitors: ReadonlySet<string>,
  options: CompileOptions,
): PerFirmCode | undefined {
  if (e.type.axes.length !== 0) return undefined;
  if (!readsMachine(e, perMachine)) {
    const code = compileScalar(e, options);
    return (env) => code(env);
  }
  const child = (x: IrExpr) => perFirmCode(x, perMachine, perFirmMonitors, options);
  // The node's own array when the firms are known in advance (valid until its next call).
  const own = () => (options.dims ? new Float64Array(options.dims.firms) : undefined);
  const vectorOf = (into: Float64Array | undefined, n: number) =>
    into && into.length === n ? into : new Float64Array(n);
  switch (e.op) {
    case 'monitor':
      if (!perFirmMonitors.has(e.name)) return undefined;
      return (_env, perFirm) => perFirm(e.name);
    case 'unary': {
      const operand = child(e.operand);
      if (!operand) return undefined;
      const f = e.operator === '-' ? (x: number) => -x : (x: number) => (truthy(x) ? 0 : 1);
      const into = own();
      return (env, perFirm) => elementwise([operand(env, perFirm)], f, into);
    }
    case 'binary': {
      const left = child(e.left);
      const right = child(e.right);
      if (!left || !right) return undefined;
      const f = binaryFunction(e.operator);
      const into = own();
      return (env, perFirm) => {
        const a = left(env, perFirm);
        const b = right(env, perFirm);
        if (typeof a === 'number' && typeof b === 'number') return f(a, b);
        const n = typeof a === 'number' ? (b as Float64Array).length : a.length;
        const out = vectorOf(into, n);
        if (typeof a === 'number')
          for (let i = 0; i < n; i++) out[i] = f(a, (b as Float64Array)[i] as number);
        else if (typeof b === 'number') for (let i = 0; i < n; i++) out[i] = f(a[i] as number, b);
        else for (let i = 0; i < n; i++) out[i] = f(a[i] as number, b[i] as number);
        return out;
      };
    }
    case 'if': {
      const condition = child(e.condition);
      const then = child(e.then);
      const otherwise = child(e.otherwise);
      if (!condition || !then || !otherwise) return undefined;
      const into = own();
      return (env, perFirm) =>
        elementwise(
          [condition(env, perFirm), then(env, perFirm), otherwise(env, perFirm)],
          (c, t, o) => (truthy(c) ? t : o),
          into,
        );
    }
    case 'element': {
      const index = child(e.index);
      if (!index) return undefined;
      const list = e.list;
      const into = own();
      return (env, perFirm) => {
        const elements = env.param(list).data;
        return elementwise([index(env, perFirm)], (k) => elementAt(elements, k), into);
      };
    }
    case 'index': {
      // The target is the same for every machine; `self` picks firm i's element.
      if (readsMachine(e.target, perMachine)) return undefined;
      const target = compileExpression(e.target, options);
      const selections = e.selections;
      const into = own();
      return (env) => {
        const { axes, data } = target(env);
        const { firms, products } = env.dims;
        let named: number | undefined;
        let bySelf = false;
        let product: number | undefined;
        for (const s of selections) {
          if (s.axis === 'firm') {
            if (named === undefined && !bySelf) {
              if ('self' in s) bySelf = true;
              else named = env.firmIndex(s.name);
            }
          } else product ??= env.productIndex(s.name);
        }
        const out = vectorOf(into, firms);
        for (let i = 0; i < firms; i++) {
          const firm = bySelf ? i : (named ?? -1);
          if (axes.length === 0) out[i] = data[0] ?? Number.NaN;
          else if (axes.length === 1)
            out[i] = data[(axes[0] === 'firm' ? firm : product) ?? -1] ?? Number.NaN;
          else {
            const j = product ?? -1;
            out[i] =
              firm >= 0 && firm < firms && j >= 0 && j < products
                ? (data[firm * products + j] ?? Number.NaN)
                : Number.NaN;
          }
        }
        return out;
      };
    }
    default:
      return undefined;
  }
}

/**
 * A parameter value as a tensor of its declared type. Single values broadcast; lists must
 * have one entry per firm (and per product). Returns a message when the lengths do not fit.
 */
export function paramTensor(type: ValueType, value: ParamValue, dims: Dimensions): Tensor | string {
  const axes = type.axes;
  // A list read by position: its values in order (read only by `element` and `length`).
  if (type.list)
    return Array.isArray(value)
      ? tensorFrom(
          [],
          value.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v))),
        )
      : 'a single value where a list is expected';
  if (type.options) value = optionIndices(type.options, value);
  if (typeof value === 'string') return NAN;
  if (!Array.isArray(value)) {
    // One value for every firm (or product): expand it, so reductions count each one.
    const x = typeof value === 'boolean' ? (value ? 1 : 0) : (value as number);
    return { axes, data: new Float64Array(sizeOf(axes, dims)).fill(x) };
  }
  const lengthOf = (axis: string) => (axis === 'firm' ? dims.firms : dims.products);
  const first = axes[0];
  if (!first) return 'a list where a single value is expected';
  if (value.length !== lengthOf(first)) {
    return `has ${value.length} value${value.length === 1 ? '' : 's'} but there ${lengthOf(first) === 1 ? 'is' : 'are'} ${lengthOf(first)} ${first}${lengthOf(first) === 1 ? '' : 's'}`;
  }
  if (axes.length === 1)
    return tensorFrom(
      axes,
      value.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v))),
    );
  const rows: number[][] = [];
  for (const row of value) {
    if (!Array.isArray(row)) rows.push(Array.from({ length: dims.products }, () => Number(row)));
    else if (row.length !== dims.products)
      return `has a row of ${row.length} values but there are ${dims.products} products`;
    else rows.push(row.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : Number(v))));
  }
  return tensorFrom(axes, rows);
}

/**
 * The most rounds before the current one that evaluating `e` can read (observables and
 * monitors at `roundsAgo`), with parameters bound; Infinity when a window's length is not
 * a constant. A runtime keeps that many past rounds and may forget older ones.
 */
export function lookback(e: IrExpr, params: ReadonlyMap<string, ParamValue>): number {
  const max = (...xs: IrExpr[]) => xs.reduce((m, x) => Math.max(m, lookback(x, params)), 0);
  switch (e.op) {
    case 'unary':
      return max(e.operand);
    case 'binary':
      return max(e.left, e.right);
    case 'if':
      return max(e.condition, e.then, e.otherwise);
    case 'index':
      return max(e.target);
    case 'element':
      return max(e.index);
    case 'call':
      return (natives.get(e.fn)?.lookback ?? 0) + max(...e.args);
    case 'window': {
      const k = constantValue(e.rounds, params);
      if (k === undefined || !Number.isFinite(k)) return Number.POSITIVE_INFINITY;
      // Windows read rounds 0…k−1 back (a lag reads k back), each at most as far back again.
      return Math.max(1, Math.floor(k)) + max(e.value, e.rounds);
    }
    default:
      return 0;
  }
}
