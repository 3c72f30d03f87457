import type { Axis, Expr, Range } from '../grammar/ast.js';
import { type Diagnostic, type DiagnosticCode, diagnostic } from '../grammar/diagnostics.js';
import { printExpr } from '../grammar/print.js';
import { closest, didYouMean } from '../grammar/suggest.js';
import { constantValue } from './constant.js';
import { BENCHMARKS, type IrExpr, type IrSelection, type ParamValue, readsCounter } from './ir.js';
import { natives } from './natives.js';
import { listPositionProblem } from './param-values.js';
import {
  bool,
  canonicalAxes,
  describeAxes,
  describeOptions,
  describeType,
  number,
  sameAxes,
  type ValueType,
} from './types.js';

/** What names mean where an expression is checked. */
export interface ExpressionScope {
  readonly path: string;
  /** Parameters of the enclosing declaration. */
  readonly params: ReadonlyMap<string, ValueType>;
  readonly usedParams: Set<string>;
  /** Market observables (institutions only). */
  readonly observables?: ReadonlyMap<string, ValueType>;
  /** Benchmark properties, e.g. `hhi` in `nash.hhi` (institutions only). */
  readonly benchmarks?: ReadonlyMap<string, ValueType>;
  readonly monitors?: ReadonlyMap<string, ValueType>;
  readonly usedMonitors?: Set<string>;
  /** Monitors declared later than the one being checked (for a precise message). */
  readonly laterMonitors?: ReadonlySet<string>;
  /** The action variable of a market (`quantity` or `price`), in the market's own expressions. */
  readonly action?: { readonly name: string; readonly type: ValueType };
  /** Whether `self` means a firm here (per-firm institutions). */
  readonly self: 'allowed' | 'market-scope' | 'absent';
  readonly states?: ReadonlySet<string>;
  /** The institution's counters (`counter offences`): one number per machine. */
  readonly counters?: ReadonlySet<string>;
  readonly usedCounters?: Set<string>;
  readonly firmNames?: ReadonlySet<string>;
  readonly productNames?: ReadonlySet<string>;
  /** Whether history and window functions may be used (not in market or parameter expressions). */
  readonly temporal: boolean;
  /** Checking an institution without a market: firm and product names cannot be resolved yet. */
  readonly namesUnknown?: boolean;
  /** With names unknown, whether a name can be an agent of the world all the same (`fisher3`). */
  readonly agentNaming?: { readonly fits: (name: string) => boolean; readonly named: string };
  /** Names declared with an error already reported: uses are silently unknown, not errors again. */
  readonly poisoned?: ReadonlySet<string>;
  /** Where the expression sits, for messages: "a guard", "the price function", … */
  readonly describe?: string;
  /** An environment's agent axis as written (`fisher`), read as the `firm` axis; absent: `firm`. */
  readonly agentAxis?: string;
  /** The world an institution governs, for messages (`environment \`commons\``). */
  readonly worldName?: string;
  /** The declaration being checked, for messages (`environment \`commons\``). */
  readonly declaredIn?: string;
  /** An institution governing an environment also reads that environment's axis name as `firm`. */
  readonly agentAlias?: string;
  /** Named constants: an environment's action options (`stay` = 0, `go` = 1, …). */
  readonly constants?: ReadonlyMap<string, number>;
  /** The benchmarks `NAME.value` may name (absent: a market's `nash`, `collusive`, `competitive`). */
  readonly benchmarkNames?: readonly string[];
  /** Parameter values (defaults), to check constant positions in list parameters. */
  readonly paramValues?: ReadonlyMap<string, ParamValue>;
  /**
   * A message filter's condition: it reads one message, before the round is played, so of
   * the functions that read rounds only the text measures may be used (`readsTalk`).
   */
  readonly message?: true;
}

export const HISTORY_NAMES = new Set(['rounds_in_state']);

export class ExpressionChecker {
  readonly diagnostics: Diagnostic[] = [];

  constructor(readonly scope: ExpressionScope) {}

  private report(code: DiagnosticCode, range: Range, message: string, hint?: string): undefined {
    this.diagnostics.push(diagnostic(code, this.scope.path, range, message, hint));
    return undefined;
  }

  private knownNames(): string[] {
    const s = this.scope;
    return [
      ...s.params.keys(),
      ...(s.observables?.keys() ?? []),
      ...(s.monitors?.keys() ?? []),
      ...(s.action ? [s.action.name] : []),
      ...(s.self === 'allowed' ? ['self'] : []),
      ...(s.temporal && s.states ? ['rounds_in_state'] : []),
      ...(s.counters ?? []),
      ...(s.constants?.keys() ?? []),
      ...(s.benchmarkNames ?? BENCHMARKS),
    ];
  }

  check(e: Expr): IrExpr | undefined {
    const checked = this.checkBare(e);
    // Printed rules keep the user's parentheses, so the IR remembers them.
    return checked && e.parenthesized ? { ...checked, parenthesized: true } : checked;
  }

  private checkBare(e: Expr): IrExpr | undefined {
    const text = printExpr(e);
    const make = (type: ValueType, node: object): IrExpr => ({ type, text, ...node }) as IrExpr;
    switch (e.kind) {
      case 'missing':
        return undefined; // the parser already reported it
      case 'number':
        return make(number, { op: 'const', value: e.value });
      case 'bool':
        return make(bool, { op: 'const', value: e.value ? 1 : 0 });
      case 'string':
        return make({ base: 'string', axes: [] }, { op: 'string', value: e.value });
      case 'list':
        return this.report(
          'E_TYPE',
          e.range,
          'a list can only be written as the value of a parameter',
          'declare `param name: per firm = [...]` and use its name here',
        );
      case 'name':
        return this.name(e.name, e.range, make);
      case 'member':
        return this.member(e, make);
      case 'unary': {
        const operand = this.check(e.operand);
        if (!operand) return undefined;
        const wanted = e.op === 'not' ? 'bool' : 'number';
        if (operand.type.base !== wanted) {
          return this.report(
            'E_TYPE',
            e.operand.range,
            `\`${e.op}\` needs ${wanted === 'bool' ? 'a true/false value' : 'a number'}, but this is ${this.describe(operand.type)}`,
            optionHint(operand),
          );
        }
        return make(operand.type, { op: 'unary', operator: e.op, operand });
      }
      case 'binary':
        return this.binary(e, make);
      case 'if': {
        const condition = this.check(e.condition);
        const then = this.check(e.then);
        const otherwise = this.check(e.otherwise);
        if (!condition || !then || !otherwise) return undefined;
        if (condition.type.base !== 'bool') {
          return this.report(
            'E_TYPE',
            e.condition.range,
            `the condition of \`if\` must be true/false, not ${this.describe(condition.type)}`,
          );
        }
        const option = [then, otherwise].find((branch) => branch.type.options);
        if (option) {
          return this.report(
            'E_TYPE',
            e.range,
            `\`${option.text}\` is ${this.describe(option.type)}: it can only be compared with \`==\` or \`!=\``,
            optionHint(option),
          );
        }
        if (then.type.base !== otherwise.type.base) {
          return this.report(
            'E_TYPE',
            e.range,
            `both branches of \`if\` must have the same kind: ${this.describe(then.type)} vs ${this.describe(otherwise.type)}`,
          );
        }
        const axes = canonicalAxes([
          ...condition.type.axes,
          ...then.type.axes,
          ...otherwise.type.axes,
        ]);
        return make({ base: then.type.base, axes }, { op: 'if', condition, then, otherwise });
      }
      case 'index':
        return this.index(e, make);
      case 'call':
        return this.call(e, make);
    }
  }

  private name(
    name: string,
    range: Range,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const s = this.scope;
    if (name === 'self') {
      if (s.message)
        return this.report(
          'E_SCOPE',
          range,
          "a filter is read for each message's sender: `self` is not needed",
          'write e.g. `mentions("word") > 0`; a per-agent value is read for the sender',
        );
      if (s.self === 'allowed') {
        return this.report(
          'E_SCOPE',
          range,
          '`self` selects this firm inside `[ ]`; it is not a value of its own',
          'write e.g. `profit[self]`',
        );
      }
      return this.report(
        'E_SCOPE',
        range,
        s.self === 'market-scope'
          ? '`self` has no meaning in a market-scoped institution'
          : s.agentAxis
            ? "`self` can only be used in institutions and an environment's policies"
            : '`self` can only be used in institutions',
        s.self === 'market-scope'
          ? 'write `scope per firm` to run one machine per firm, or reduce over firms'
          : undefined,
      );
    }
    if (s.poisoned?.has(name)) return undefined;
    const param = s.params.get(name);
    if (param?.list) {
      s.usedParams.add(name);
      return this.report(
        'E_TYPE',
        range,
        `\`${name}\` is ${this.describe(param)}; select one value by its position, e.g. \`${name}[1]\``,
        `positions count from 1; \`len(${name})\` is the number of values`,
      );
    }
    if (param) {
      s.usedParams.add(name);
      return make(param, { op: 'param', name });
    }
    if (s.action && name === s.action.name) return make(s.action.type, { op: 'action', name });
    if (
      s.message &&
      (s.monitors?.has(name) ||
        s.observables?.has(name) ||
        s.counters?.has(name) ||
        HISTORY_NAMES.has(name))
    )
      return this.report(
        'E_SCOPE',
        range,
        `\`${name}\` is ${s.observables?.has(name) ? 'an outcome of a round' : s.monitors?.has(name) ? 'a monitor, read after a round' : s.counters?.has(name) ? "a machine's counter" : "a machine's record"}; ${s.describe ?? 'this expression'} reads one message before the round is played`,
        'use the text measures (mentions, similarity, jaccard, message_length, lexicon) and parameters',
      );
    const monitor = s.monitors?.get(name);
    if (monitor) {
      s.usedMonitors?.add(name);
      return make(monitor, { op: 'monitor', name });
    }
    const observable = s.observables?.get(name);
    if (observable) return make(observable, { op: 'observable', name });
    const constant = s.constants?.get(name);
    if (constant !== undefined)
      return make({ base: 'number', axes: [] }, { op: 'const', value: constant });
    if (s.temporal && s.states && HISTORY_NAMES.has(name)) {
      return make(number, { op: 'history', fn: name });
    }
    if (s.counters?.has(name)) {
      s.usedCounters?.add(name);
      return make(number, { op: 'counter', name });
    }
    if (s.laterMonitors?.has(name)) {
      return this.report(
        'E_UNKNOWN_NAME',
        range,
        `the monitor \`${name}\` is declared further down`,
        'a monitor can only use monitors declared above it; move it up',
      );
    }
    if ((s.benchmarkNames ?? (BENCHMARKS as readonly string[])).includes(name)) {
      return this.report(
        'E_TYPE',
        range,
        `\`${name}\` is a benchmark, not a value`,
        `use one of its values, e.g. \`${name}.profit\``,
      );
    }
    if (s.firmNames?.has(name) || s.productNames?.has(name)) {
      return this.report(
        'E_TYPE',
        range,
        `\`${name}\` names a ${s.firmNames?.has(name) ? 'firm' : 'product'}; use it inside [ ] to select one`,
      );
    }
    if (s.states?.has(name)) {
      return this.report(
        'E_TYPE',
        range,
        `\`${name}\` is a state; states can only be passed to visits() and rounds_since()`,
      );
    }
    const observablesKnownElsewhere = [
      'quantity',
      'price',
      'profit',
      'revenue',
      'hhi',
      'share',
      'total',
      'unit_cost',
      'round',
    ];
    if (!s.observables && observablesKnownElsewhere.includes(name)) {
      return this.report(
        'E_UNKNOWN_OBSERVABLE',
        range,
        `\`${name}\` is ${s.agentAxis ? 'known only during the run' : 'a market outcome'} and cannot be used in ${s.describe ?? 'this expression'}`,
        s.action
          ? `market functions see parameters and \`${s.action.name}\``
          : 'this value is fixed before the run: use numbers and parameters',
      );
    }
    if (s.worldName && s.observables)
      return this.report(
        'E_UNKNOWN_OBSERVABLE',
        range,
        `unknown name \`${name}\`: ${s.worldName} provides no observable of that name`,
        didYouMean(name, this.knownNames()) ??
          `its observables: ${[...s.observables.keys()].join(', ')}`,
      );
    return this.report(
      s.observables && /^[a-z_]+$/.test(name) && didYouMean(name, s.observables.keys())
        ? 'E_UNKNOWN_OBSERVABLE'
        : 'E_UNKNOWN_NAME',
      range,
      `unknown name \`${name}\`${s.declaredIn ? ` in ${s.declaredIn}` : ''}`,
      didYouMean(name, this.knownNames()) ??
        (name === 'NaN' ? 'MASE has no NaN literal; write a number or `inf`' : undefined),
    );
  }

  private member(
    e: Extract<Expr, { kind: 'member' }>,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const s = this.scope;
    const benchmarkNames: readonly string[] = s.benchmarkNames ?? BENCHMARKS;
    if (e.object.kind !== 'name' || !benchmarkNames.includes(e.object.name)) {
      return this.report(
        'E_SYNTAX',
        e.range,
        `\`.\` only selects a benchmark value, as in \`${benchmarkNames[0] ?? 'nash'}.${s.benchmarkNames ? 'payoff' : 'hhi'}\``,
        benchmarkNames.length > 0
          ? `benchmarks: ${benchmarkNames.join(', ')}`
          : 'this world declares no benchmarks',
      );
    }
    const benchmark = e.object.name;
    if (!s.benchmarks) {
      return this.report(
        'E_UNKNOWN_OBSERVABLE',
        e.range,
        `benchmarks such as \`${benchmark}\` are only available to institutions`,
      );
    }
    const type = s.benchmarks.get(e.property.name);
    if (!type) {
      return this.report(
        'E_UNKNOWN_OBSERVABLE',
        e.property.range,
        `the ${s.benchmarkNames ? 'environment' : 'market'} provides no benchmark value \`${benchmark}.${e.property.name}\``,
        didYouMean(e.property.name, s.benchmarks.keys()) ??
          `available: ${[...s.benchmarks.keys()].join(', ')}`,
      );
    }
    return make(type, { op: 'benchmark', benchmark, name: e.property.name });
  }

  private binary(
    e: Extract<Expr, { kind: 'binary' }>,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const left = this.check(e.left);
    const right = this.check(e.right);
    if (!left || !right) return undefined;
    const axes = canonicalAxes([...left.type.axes, ...right.type.axes]);
    const node = { op: 'binary', operator: e.op, left, right };
    const needs = (base: 'number' | 'bool', operand: IrExpr, range: Range) =>
      operand.type.base === base
        ? true
        : this.report(
            'E_TYPE',
            range,
            `\`${e.op}\` needs ${base === 'bool' ? 'true/false values' : 'numbers'}, but this is ${this.describe(operand.type)}`,
            base === 'bool' && operand.type.base === 'number'
              ? 'compare it, e.g. `x > 0`'
              : optionHint(operand),
          );
    switch (e.op) {
      case 'and':
      case 'or':
        if (!needs('bool', left, e.left.range) || !needs('bool', right, e.right.range))
          return undefined;
        return make({ base: 'bool', axes }, node);
      case '==':
      case '!=':
        if (left.type.options || right.type.options)
          return this.optionComparison(e, left, right, make);
        if (left.type.base === 'string' || right.type.base === 'string') {
          return this.report(
            'E_TYPE',
            e.range,
            'strings cannot be compared; they are labels, not values',
          );
        }
        if (left.type.base !== right.type.base) {
          return this.report(
            'E_TYPE',
            e.range,
            `cannot compare ${this.describe(left.type)} with ${this.describe(right.type)}`,
          );
        }
        return make({ base: 'bool', axes }, node);
      case '<':
      case '<=':
      case '>':
      case '>=':
        if (!needs('number', left, e.left.range) || !needs('number', right, e.right.range))
          return undefined;
        return make({ base: 'bool', axes }, node);
      default:
        if (!needs('number', left, e.left.range) || !needs('number', right, e.right.range))
          return undefined;
        return make({ base: 'number', axes }, node);
    }
  }

  /**
   * `payment == "first"`: an option value compared with one of its options (written as a
   * string, compiled to the option's index) or with a value of the same options.
   */
  private optionComparison(
    e: Extract<Expr, { kind: 'binary' }>,
    left: IrExpr,
    right: IrExpr,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const [option, other, otherRange] = left.type.options
      ? [left, right, e.right.range]
      : [right, left, e.left.range];
    const options = option.type.options ?? [];
    let compared: IrExpr = other;
    if (other.op === 'string') {
      const index = options.indexOf(other.value);
      if (index < 0) {
        const near = closest(other.value, options);
        return this.report(
          'E_TYPE',
          otherRange,
          `${JSON.stringify(other.value)} is not an option of \`${option.text}\`; its options are ${describeOptions(options)}`,
          near === undefined ? undefined : `did you mean ${JSON.stringify(near)}?`,
        );
      }
      compared = {
        type: { base: 'string', axes: [], options },
        text: other.text,
        op: 'const',
        value: index,
      };
    } else if (other.type.options?.join('\u0000') !== options.join('\u0000')) {
      return this.report(
        'E_TYPE',
        e.range,
        `cannot compare \`${option.text}\` (${this.describe(option.type)}) with ${this.describe(other.type)}`,
        `compare it with one of its options, e.g. \`${option.text} ${e.op} ${JSON.stringify(options[0] ?? '')}\``,
      );
    }
    const [l, r] = option === left ? [option, compared] : [compared, option];
    const axes = canonicalAxes([...left.type.axes, ...right.type.axes]);
    return make({ base: 'bool', axes }, { op: 'binary', operator: e.op, left: l, right: r });
  }

  private index(
    e: Extract<Expr, { kind: 'index' }>,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const list = this.listParam(e.target);
    if (list) return this.element(e, list, make);
    const target = this.check(e.target);
    if (!target) return undefined;
    const s = this.scope;
    const selections: IrSelection[] = [];
    let axes = [...target.type.axes];
    for (const index of e.indices) {
      let selection: IrSelection | undefined;
      if (index.kind === 'name' && index.name === 'self') {
        if (s.self !== 'allowed') return this.name('self', index.range, make);
        selection = { axis: 'firm', self: true };
      } else if (index.kind === 'name' && s.firmNames?.has(index.name)) {
        selection = { axis: 'firm', name: index.name };
      } else if (index.kind === 'name' && s.productNames?.has(index.name)) {
        selection = { axis: 'product', name: index.name };
      } else if (
        index.kind === 'name' &&
        s.namesUnknown &&
        axes.length === 1 &&
        axes[0] === 'firm' &&
        s.agentNaming &&
        !s.agentNaming.fits(index.name)
      ) {
        const agent = s.agentAlias ?? 'firm';
        return this.report(
          'E_UNKNOWN_NAME',
          index.range,
          `\`${index.name}\` cannot be a ${agent} of ${s.worldName ?? 'the market'}`,
          `its ${agent}s are ${s.agentNaming.named}`,
        );
      } else if (index.kind === 'name' && s.namesUnknown && axes.length === 1) {
        // Checked on its own, an institution does not know the market's names yet: the
        // value's only axis says what the name selects, and experiments check the name.
        selection = { axis: axes[0] as Axis, name: index.name };
      } else if (index.kind === 'name' && s.namesUnknown) {
        return this.report(
          'E_SHAPE',
          index.range,
          `without a market, \`${index.name}\` could be a firm or a product of ${this.describe(target.type)}`,
          'name the institution in an experiment with its market, so its firms and products are known; or reduce one axis first, e.g. `sum(quantity, over: firm)[A]`, or select the firm with `[self]`',
        );
      } else {
        const known = [
          ...(s.self === 'allowed' ? ['self'] : []),
          ...(s.firmNames ?? []),
          ...(s.productNames ?? []),
        ];
        return this.report(
          index.kind === 'name' ? 'E_UNKNOWN_NAME' : 'E_TYPE',
          index.range,
          index.kind === 'name'
            ? `\`${index.name}\` is not a firm or product here`
            : 'an index must be `self`, a firm name or a product name',
          index.kind === 'name'
            ? (didYouMean(index.name, known) ??
                (known.length ? `known: ${known.join(', ')}` : undefined))
            : undefined,
        );
      }
      if (!axes.includes(selection.axis)) {
        return this.report(
          'E_SHAPE',
          index.range,
          `cannot select a ${selection.axis} from ${this.describe({ ...target.type, axes })}`,
        );
      }
      axes = axes.filter((a) => a !== selection.axis);
      selections.push(selection);
    }
    return make({ base: target.type.base, axes }, { op: 'index', target, selections });
  }

  private call(
    e: Extract<Expr, { kind: 'call' }>,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const s = this.scope;
    if (e.callee.name === 'len') return this.listLength(e, make);
    const fn = natives.get(e.callee.name);
    if (!fn) {
      return this.report(
        'E_UNKNOWN_NAME',
        e.callee.range,
        `unknown function \`${e.callee.name}\``,
        didYouMean(e.callee.name, natives.keys()) ?? 'see the function list in docs/language.md',
      );
    }
    if ((fn.kind === 'window' || fn.kind === 'history') && !s.temporal) {
      return this.report(
        'E_SCOPE',
        e.callee.range,
        `\`${fn.name}\` looks at past rounds and cannot be used in ${s.describe ?? 'this expression'}`,
      );
    }
    if (fn.kind === 'history' && !s.states) {
      return this.report(
        'E_SCOPE',
        e.callee.range,
        `\`${fn.name}\` needs an institution with states`,
      );
    }
    if (s.message && fn.kind === 'evidence' && !fn.readsTalk) {
      return this.report(
        'E_SCOPE',
        e.callee.range,
        `\`${fn.name}\` reads outcomes of rounds; ${s.describe ?? 'this expression'} reads one message before the round is played`,
        'use the text measures (mentions, similarity, jaccard, message_length, lexicon) and parameters',
      );
    }
    if (fn.kind === 'evidence' && !s.observables && !(s.message && fn.readsTalk)) {
      return this.report(
        'E_SCOPE',
        e.callee.range,
        `\`${fn.name}\` reads ${s.agentAxis ? 'outcomes of rounds' : 'market outcomes'} and can only be used in institutions`,
      );
    }

    // Bind arguments to parameters: positional first, then by name.
    let over: Axis[] | undefined;
    const bound: (Expr | undefined)[] = [];
    const positional = e.args.filter((a) => !a.name);
    const variadic = (fn.name === 'min' || fn.name === 'max') && positional.length >= 2;
    for (const arg of e.args) {
      if (!arg.name) continue;
      if (arg.name.name === 'over' && fn.acceptsOver) {
        const axis = this.axisArgument(arg.value);
        if (!axis) return undefined;
        over = canonicalAxes([...(over ?? []), axis]);
        continue;
      }
      const position = fn.params.findIndex((p) => p.name === arg.name?.name);
      if (position < 0) {
        return this.report(
          'E_ARITY',
          arg.name.range,
          `${fn.name} has no argument named \`${arg.name.name}\``,
          `signature: ${fn.signature}`,
        );
      }
      bound[position] = arg.value;
    }
    if (variadic) {
      if (over)
        return this.report(
          'E_ARITY',
          e.range,
          `${fn.name} with several arguments compares them elementwise and takes no \`over\``,
        );
      const args = positional.map((a) => this.check(a.value));
      if (args.some((a) => !a)) return undefined;
      const checked = args as IrExpr[];
      for (const [i, a] of checked.entries()) {
        if (a.type.base !== 'number') {
          return this.report(
            'E_TYPE',
            positional[i]?.range ?? e.range,
            `${fn.name} compares numbers, not ${this.describe(a.type)}`,
            optionHint(a),
          );
        }
      }
      const axes = canonicalAxes(checked.flatMap((a) => a.type.axes));
      return make({ base: 'number', axes }, { op: 'call', fn: fn.name, args: checked });
    }
    positional.forEach((a, i) => {
      if (bound[i] === undefined) bound[i] = a.value;
    });
    if (positional.length > fn.params.length) {
      return this.report(
        'E_ARITY',
        e.range,
        `${fn.name} takes ${fn.params.length} argument${fn.params.length === 1 ? '' : 's'}, got ${positional.length}`,
        `signature: ${fn.signature}`,
      );
    }
    for (const [i, p] of fn.params.entries()) {
      if (bound[i] === undefined && !p.optional) {
        return this.report(
          'E_ARITY',
          e.range,
          `${fn.name} is missing its argument \`${p.name}\``,
          `signature: ${fn.signature}`,
        );
      }
    }

    if (fn.kind === 'history') {
      const arg = bound[0];
      if (arg?.kind !== 'name' || !s.states?.has(arg.name)) {
        return this.report(
          'E_UNKNOWN_STATE',
          arg?.range ?? e.range,
          `${fn.name} needs the name of a state of this institution`,
          arg?.kind === 'name' ? didYouMean(arg.name, s.states ?? []) : undefined,
        );
      }
      return make(number, { op: 'history', fn: fn.name, state: arg.name });
    }

    const args: IrExpr[] = [];
    for (const a of bound) {
      if (a === undefined) continue;
      const checked = this.check(a);
      if (!checked) return undefined;
      if (checked.type.options)
        return this.report(
          'E_TYPE',
          a.range,
          `\`${fn.name}\` cannot take \`${checked.text}\`, ${this.describe(checked.type)}: it can only be compared with \`==\` or \`!=\``,
          optionHint(checked),
        );
      args.push(checked);
    }
    const result = fn.result(
      args.map((a) => a.type),
      over,
    );
    if ('error' in result)
      return this.report(result.code, e.range, result.error, `signature: ${fn.signature}`);
    const wordProblem = fn.checkWords?.(args.map((a) => (a.op === 'string' ? a.value : undefined)));
    if (wordProblem)
      return this.report(
        wordProblem.code,
        e.range,
        wordProblem.error,
        `signature: ${fn.signature}`,
      );
    if (fn.kind === 'window') {
      const [value, rounds] = args;
      if (!value) return undefined;
      // Counters keep no past values: a monitor that reads one does (its values are recorded).
      if (readsCounter(value))
        return this.report(
          'E_SCOPE',
          e.range,
          `\`${fn.name}\` reads past rounds, and a counter keeps only its value now`,
          'name it in a monitor (`monitor m = offences`) and pass the monitor',
        );
      const k = rounds ?? make(number, { op: 'const', value: 1 });
      return make(result, {
        op: 'window',
        fn: fn.name,
        value,
        rounds: { ...k, text: k.text || '1' },
      });
    }
    return make(result, { op: 'call', fn: fn.name, args, ...(over ? { over } : {}) });
  }

  // ---- lists read by position: `schedule[k]`, `len(schedule)` ------------------------------
  // Kept apart from `index` (selection by firm or product name): a list parameter is never
  // a value of its own, only read here.

  /** The list parameter an expression names, if it is one (`schedule` in `schedule[k]`). */
  private listParam(e: Expr): { name: string; type: ValueType } | undefined {
    if (e.kind !== 'name' || this.scope.poisoned?.has(e.name)) return undefined;
    const type = this.scope.params.get(e.name);
    return type?.list ? { name: e.name, type } : undefined;
  }

  /**
   * `schedule[k]`: the value at position k, counted from 1. A position that is a constant
   * must be a whole number within the list; any other is rounded down and clamped to the
   * list when the run reads it (below 1: the first value; past the end: the last).
   */
  private element(
    e: Extract<Expr, { kind: 'index' }>,
    list: { name: string; type: ValueType },
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const s = this.scope;
    s.usedParams.add(list.name);
    const [position, ...extra] = e.indices;
    if (!position || extra.length > 0)
      return this.report(
        'E_TYPE',
        e.range,
        `\`${list.name}\` is ${this.describe(list.type)}: select one value with one position, e.g. \`${list.name}[1]\``,
      );
    if (
      position.kind === 'name' &&
      (position.name === 'self' ||
        s.firmNames?.has(position.name) ||
        s.productNames?.has(position.name))
    )
      return this.report(
        'E_TYPE',
        position.range,
        `\`${list.name}\` is ${this.describe(list.type)}, read by position (1, 2, …), not by ${position.name === 'self' || s.firmNames?.has(position.name) ? (s.agentAxis ?? 'firm') : 'product'}`,
        `for one value per ${s.agentAxis ?? 'firm'}, declare \`param ${list.name}: per ${s.agentAxis ?? 'firm'} = […]\``,
      );
    const index = this.check(position);
    if (!index) return undefined;
    if (index.type.base !== 'number' || index.type.options)
      return this.report(
        'E_TYPE',
        position.range,
        `a position in \`${list.name}\` must be a number, but \`${index.text}\` is ${this.describe(index.type)}`,
        optionHint(index),
      );
    const values = s.paramValues;
    const value = values?.get(list.name);
    const at = values ? constantValue(index, values) : undefined;
    if (Array.isArray(value) && at !== undefined) {
      const problem = listPositionProblem(list.name, value.length, at, index.text);
      if (problem)
        return this.report(
          'E_VALUE',
          position.range,
          problem,
          `positions of \`${list.name}\` run from 1 to ${value.length}; only a position computed during the run is clamped to them`,
        );
    }
    return make(
      { base: list.type.base, axes: index.type.axes },
      { op: 'element', list: list.name, index },
    );
  }

  /** `len(schedule)`: how many values a list parameter holds. */
  private listLength(
    e: Extract<Expr, { kind: 'call' }>,
    make: (t: ValueType, n: object) => IrExpr,
  ): IrExpr | undefined {
    const [arg, ...extra] = e.args;
    const list = arg && !arg.name && extra.length === 0 ? this.listParam(arg.value) : undefined;
    if (!list) {
      if (arg?.value.kind === 'name' && this.scope.poisoned?.has(arg.value.name)) return undefined;
      return this.report(
        'E_TYPE',
        e.range,
        '`len` takes the name of a list parameter, e.g. `len(schedule)`',
        'declare one with `param schedule: list = [0.35, 0.75, 1]`',
      );
    }
    this.scope.usedParams.add(list.name);
    return make(number, { op: 'length', list: list.name });
  }

  /** A type in words, with this world's agent axis (`per-fisher number`). */
  describe(t: ValueType): string {
    return describeType(t, this.scope.agentAxis);
  }

  private axisArgument(value: Expr): Axis | undefined {
    const agent = this.scope.agentAxis;
    if (agent !== undefined) {
      if (value.kind === 'name' && value.name === agent) return 'firm';
      return this.report(
        'E_TYPE',
        value.range,
        `\`over:\` takes an axis: \`${agent}\``,
        value.kind === 'name' ? didYouMean(value.name, [agent]) : undefined,
      );
    }
    if (value.kind === 'name' && (value.name === 'firm' || value.name === 'product'))
      return value.name;
    if (value.kind === 'name' && value.name === this.scope.agentAlias) return 'firm';
    return this.report(
      'E_TYPE',
      value.range,
      '`over:` takes an axis: `firm` or `product`',
      value.kind === 'name' ? didYouMean(value.name, ['firm', 'product']) : undefined,
    );
  }
}

/** Requires a checked expression to have a given type; reports once and returns whether it does. */
export function expectType(
  checker: ExpressionChecker,
  expr: IrExpr | undefined,
  range: Range,
  wanted: { base: ValueType['base']; axes: readonly (readonly Axis[])[] },
  what: string,
  hint?: string,
): expr is IrExpr {
  if (!expr) return false;
  if (expr.type.base !== wanted.base) {
    checker.diagnostics.push(
      diagnostic(
        'E_TYPE',
        checkerPath(checker),
        range,
        `${what} must be ${checker.describe({ base: wanted.base, axes: wanted.axes[0] ?? [] })}, but \`${expr.text}\` is ${checker.describe(expr.type)}`,
        hint,
      ),
    );
    return false;
  }
  if (!wanted.axes.some((axes) => sameAxes(axes, expr.type.axes))) {
    const allowed = wanted.axes
      .map((axes) => describeAxes(axes, checker.scope.agentAxis))
      .join(' or ');
    checker.diagnostics.push(
      diagnostic(
        'E_SHAPE',
        checkerPath(checker),
        range,
        `${what} must be ${allowed}, but \`${expr.text}\` is ${checker.describe(expr.type)}`,
        hint ?? reductionHint(expr.type),
      ),
    );
    return false;
  }
  return true;
}

/** For an option value used where a number or true/false value is needed: how to compare it. */
function optionHint(e: IrExpr): string | undefined {
  const first = e.type.options?.[0];
  return first === undefined
    ? undefined
    : `compare it with one of its options, e.g. \`${e.text} == ${JSON.stringify(first)}\``;
}

function reductionHint(t: ValueType): string | undefined {
  if (t.axes.length === 0) return undefined;
  const reducers = t.base === 'bool' ? '`any(…)` or `all(…)`' : '`mean(…)`, `sum(…)` or `max(…)`';
  const selector = t.axes.includes('firm') ? ', or select this firm with `[self]`' : '';
  return `reduce it with ${reducers}${selector}`;
}

function checkerPath(checker: ExpressionChecker): string {
  return checker.scope.path;
}
