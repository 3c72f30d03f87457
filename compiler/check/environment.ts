import type {
  Argument,
  Axis,
  EnvironmentDecl,
  EnvironmentItem,
  Expr,
  Name,
  ParamDecl,
  Range,
} from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import { paramMap } from '../constant.js';
import { ExpressionChecker, type ExpressionScope, expectType } from '../expressions.js';
import type {
  IrBenchmark,
  IrComputed,
  IrDeclaredPolicy,
  IrDraw,
  IrEnvironment,
  IrExpr,
  IrNamedValue,
  IrParam,
} from '../ir.js';
import { marketValueProblems } from '../param-values.js';
import type { ValueType } from '../types.js';
import {
  agentAxisNames,
  checkObserve,
  checkParams,
  onlyOnce,
  paramTypes,
  type Reporter,
  rejectedParams,
  shadowedNames,
} from './common.js';

const SCALAR: readonly Axis[] = [];
const PER_AGENT: readonly Axis[] = ['firm'];
const SCALAR_OR_PER_AGENT: readonly (readonly Axis[])[] = [SCALAR, PER_AGENT];
const NUMBER = (axes: readonly Axis[]): ValueType => ({ base: 'number', axes });

/** Names the round loop gives every environment: the round number, and each agent's payoff. */
export const ENVIRONMENT_BUILTINS = ['round', 'payoff'] as const;

/** Value names every benchmark of an environment provides: its action and the payoff it earns. */
export function environmentBenchmarkValues(env: IrEnvironment): ReadonlyMap<string, ValueType> {
  return new Map([
    [env.action.variable, NUMBER(PER_AGENT)],
    ['payoff', NUMBER(PER_AGENT)],
  ]);
}

/**
 * What an environment makes observable after each round, by name and type: its state
 * variables, `let`s, the action, `payoff` and `round`. Institutions see all of them; agents
 * see what `observe` lists. The checker, the manifest and the runtime read this one list.
 */
export function environmentObservables(env: IrEnvironment): ReadonlyMap<string, ValueType> {
  const out = new Map<string, ValueType>();
  for (const s of env.states) out.set(s.name, s.initial.type);
  for (const d of env.draws) out.set(d.name, NUMBER(PER_AGENT));
  for (const c of env.code?.computed ?? []) out.set(c.name, c.type);
  for (const l of env.lets) out.set(l.name, l.value.type);
  out.set(env.action.variable, NUMBER(PER_AGENT));
  out.set('payoff', NUMBER(PER_AGENT));
  out.set('round', NUMBER(SCALAR));
  return out;
}

/** One-line meanings of an environment's observables, for the manifest and prompts. */
export function environmentObservableMeanings(env: IrEnvironment): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const s of env.states)
    out.set(s.name, `state: starts at ${s.initial.text}${s.next ? `, then ${s.next.text}` : ''}`);
  for (const d of env.draws)
    out.set(
      d.name,
      `each ${env.axis}'s own draw this round, uniform on [${d.low.text}, ${d.high.text}]${d.doc ? `: ${d.doc}` : ''}`,
    );
  for (const c of env.code?.computed ?? [])
    out.set(
      c.name,
      `${c.type.axes.length > 0 ? `each ${env.axis}'s ` : ''}value computed this round by the code kind ${env.code?.kind}${c.doc ? `: ${c.doc}` : ''}`,
    );
  for (const l of env.lets) out.set(l.name, l.value.text);
  out.set(env.action.variable, `each ${env.axis}'s action this round`);
  out.set(
    'payoff',
    `each ${env.axis}'s payoff this round, before fines and credits: ${env.payoff.text}`,
  );
  out.set('round', 'the current round number (1-based)');
  return out;
}

/** Checks an `environment` declaration into its IR, reporting what is wrong. */
export function checkEnvironment(
  decl: EnvironmentDecl,
  path: string,
  reporter: Reporter,
): IrEnvironment | undefined {
  const errorsAtStart = reporter.diagnostics.length;
  const what = `environment \`${decl.name.name}\``;
  const all = <K extends EnvironmentItem['kind']>(kind: K) =>
    decl.items.filter((i): i is Extract<EnvironmentItem, { kind: K }> => i.kind === kind);
  type Documented = Extract<EnvironmentItem, { kind: 'benchmark' | 'policy' | 'metric' | 'draw' }>;
  const documented = (kind: Documented['kind']) =>
    decl.items.filter((i): i is Documented => i.kind === kind);
  const single = <K extends EnvironmentItem['kind']>(kind: K, word: string) =>
    onlyOnce(
      decl.items,
      kind,
      `an environment has one \`${word}\` item; this is the second`,
      path,
      reporter,
    );
  const agentsItem = single('agents', 'agents');
  const actionItem = single('action', 'action');
  const payoffItem = single('payoff', 'payoff');
  const endItem = single('end', 'end when');
  const observeItem = single('observe', 'observe');
  const kindItem = single('kind', 'kind');
  /** A policy, metric or draw needs its value; only a benchmark may leave it to the code kind. */
  const valued = <T extends Documented>(item: T): item is T & { readonly value: Expr } => {
    if (item.value) return true;
    reporter.report(
      'E_MISSING',
      path,
      item.range,
      `the ${item.kind} \`${item.name.name}\` has no value`,
      `write \`${item.kind} ${item.name.name} = …\``,
    );
    return false;
  };
  const missing = (item: string, example: string) =>
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `${what} has no \`${item}\` item`,
      `add e.g. \`${example}\``,
    );
  if (!agentsItem) missing('agents', 'agents player = players');
  if (!actionItem) missing('action', 'action effort in [0, 1]');
  if (!payoffItem) missing('payoff', 'payoff = 1 - effort');

  const axis = agentsItem?.axis.name ?? 'agent';
  if (agentsItem && (axis === 'product' || axis === 'market' || axis === 'self')) {
    reporter.report(
      'E_SCOPE',
      path,
      agentsItem.axis.range,
      `\`${axis}\` cannot name an agent axis`,
      'name it after the agents: `agents fisher = fishers`',
    );
  }
  const axisNames = agentAxisNames(axis);
  const params = checkParams(
    decl.items.filter((i): i is ParamDecl => i.kind === 'param'),
    path,
    reporter,
    axisNames,
  );
  const usedParams = new Set<string>();
  const declaredNames = new Map<string, Range>();
  for (const p of params) {
    const item = decl.items.find(
      (i): i is ParamDecl => i.kind === 'param' && i.name.name === p.name,
    );
    if (item) declaredNames.set(p.name, item.name.range);
  }
  /** Each name an environment declares (parameter, state, let, option, benchmark, policy, metric) is one thing. */
  const claim = (name: Name, kind: string): boolean => {
    const previous = declaredNames.get(name.name);
    if (previous) {
      reporter.report(
        'E_DUPLICATE',
        path,
        name.range,
        `\`${name.name}\` is declared twice in ${what} (first at line ${previous.start.line}); ${kind}s need their own names`,
      );
      return false;
    }
    if (
      (ENVIRONMENT_BUILTINS as readonly string[]).includes(name.name) ||
      name.name === axis ||
      name.name === 'self'
    ) {
      reporter.report(
        'E_DUPLICATE',
        path,
        name.range,
        `\`${name.name}\` is a name the environment already gives; call the ${kind} something else`,
      );
      return false;
    }
    declaredNames.set(name.name, name.range);
    return true;
  };

  const agentNames = agentsItem?.names?.map((n) => n.name);
  if (agentsItem?.names) {
    const seen = new Set<string>();
    for (const n of agentsItem.names) {
      if (seen.has(n.name))
        reporter.report('E_DUPLICATE', path, n.range, `${axis} \`${n.name}\` is listed twice`);
      seen.add(n.name);
    }
  }
  // Names whose declaration was refused: their uses raise nothing more.
  const poisoned = rejectedParams(decl.items, params);
  const baseScope: ExpressionScope = {
    path,
    params: paramTypes(params),
    paramValues: paramMap(params),
    usedParams,
    poisoned,
    self: 'absent',
    temporal: false,
    agentAxis: axis,
    declaredIn: `environment \`${decl.name.name}\``,
    productNames: new Set(),
    ...(agentNames ? { firmNames: new Set(agentNames) } : {}),
    benchmarkNames: [],
  };
  const check = (
    expr: Expr,
    describe: string,
    expected: { base: ValueType['base']; axes: readonly (readonly Axis[])[] },
    extra: Partial<ExpressionScope> = {},
    hint?: string,
  ): IrExpr | undefined => {
    const checker = new ExpressionChecker({ ...baseScope, describe, ...extra });
    const result = checker.check(expr);
    const ok = expectType(checker, result, expr.range, expected, describe, hint);
    reporter.absorb(checker);
    return ok ? result : undefined;
  };
  const number = { base: 'number' as const, axes: SCALAR_OR_PER_AGENT };

  let agents: IrEnvironment['agents'] | undefined;
  if (agentsItem?.count) {
    const count = check(agentsItem.count, `the number of ${axis}s`, {
      base: 'number',
      axes: [SCALAR],
    });
    if (count) agents = { count };
  } else if (agentNames) agents = { names: [...new Set(agentNames)] };

  // The action: a number in bounds (on a grid), or one of named options (0, 1, …).
  let action: IrEnvironment['action'] | undefined;
  const constants = new Map<string, number>();
  if (actionItem) {
    const variable = actionItem.variable.name;
    const free = claim(actionItem.variable, 'action');
    if (actionItem.options) {
      const options: string[] = [];
      for (const o of actionItem.options) {
        if (!claim(o, 'option')) continue;
        constants.set(o.name, options.length);
        options.push(o.name);
      }
      const constant = (value: number): IrExpr => ({
        type: NUMBER(SCALAR),
        text: String(value),
        op: 'const',
        value,
      });
      if (free && options.length > 0)
        action = {
          variable,
          low: constant(0),
          high: constant(options.length - 1),
          step: constant(1),
          options,
        };
    } else if (actionItem.low && actionItem.high) {
      const low = check(actionItem.low, 'an action bound', number);
      const high = check(actionItem.high, 'an action bound', number);
      const step = actionItem.step
        ? check(actionItem.step, 'the action step', { base: 'number', axes: [SCALAR] })
        : undefined;
      if (free && low && high && (!actionItem.step || step))
        action = { variable, low, high, ...(step ? { step } : {}) };
    }
  }
  const withConstants = constants.size > 0 ? { constants } : {};

  // State variables start from parameters; everything each round sees the state, the action
  // and the `let`s above it.
  const states: { name: string; initial: IrExpr; next?: IrExpr }[] = [];
  for (const s of all('state')) {
    if (!claim(s.name, 'state variable')) continue;
    const initial = check(
      s.value,
      `the initial value of \`${s.name.name}\``,
      number,
      withConstants,
    );
    if (initial) states.push({ name: s.name.name, initial });
  }
  const roundValues = new Map<string, ValueType>(states.map((s) => [s.name, s.initial.type]));
  const draws = checkDraws(documented('draw').filter(valued), {
    claim,
    check,
    reporter,
    path,
    poisoned,
  });
  for (const d of draws) roundValues.set(d.name, NUMBER(PER_AGENT));
  const computed = checkComputed(all('computed'), kindItem, {
    claim,
    axis,
    reporter,
    path,
    what,
    poisoned,
  });
  for (const c of computed) roundValues.set(c.name, c.type);
  roundValues.set('round', NUMBER(SCALAR));
  // The action's name is in scope even when its bounds did not check: their error is
  // reported once, not again at every use of the name.
  const actionName = action?.variable ?? actionItem?.variable.name;
  const actionScope = actionName ? { action: { name: actionName, type: NUMBER(PER_AGENT) } } : {};
  const lets: { name: string; value: IrExpr }[] = [];
  for (const l of all('let')) {
    const free = claim(l.name, 'let');
    const value = check(
      l.value,
      `\`${l.name.name}\``,
      { base: 'number', axes: SCALAR_OR_PER_AGENT },
      {
        observables: new Map(roundValues),
        ...actionScope,
        ...withConstants,
      },
    );
    if (free && value) {
      lets.push({ name: l.name.name, value });
      roundValues.set(l.name.name, value.type);
    }
  }
  const roundScope = (): Partial<ExpressionScope> => ({
    observables: new Map(roundValues),
    ...actionScope,
    ...withConstants,
  });
  const payoff = payoffItem
    ? check(
        payoffItem.value,
        'the payoff',
        number,
        roundScope(),
        `one number per ${axis}, e.g. \`payoff = ${lets[0]?.name ?? 'value'} - cost\``,
      )
    : undefined;
  roundValues.set('payoff', NUMBER(PER_AGENT));

  const nexts = new Map<string, IrExpr>();
  for (const n of all('next')) {
    const state = states.find((s) => s.name === n.name.name);
    if (!state) {
      reporter.report(
        'E_UNKNOWN_NAME',
        path,
        n.name.range,
        `\`next ${n.name.name}\` names no state variable`,
        didYouMean(
          n.name.name,
          states.map((s) => s.name),
        ) ?? 'declare it first: `state NAME = INITIAL`',
      );
      continue;
    }
    if (nexts.has(state.name)) {
      reporter.report('E_DUPLICATE', path, n.range, `\`${state.name}\` has two \`next\` items`);
      continue;
    }
    const value = check(
      n.value,
      `the next value of \`${state.name}\``,
      {
        base: 'number',
        axes: state.initial.type.axes.length === 0 ? [SCALAR] : SCALAR_OR_PER_AGENT,
      },
      roundScope(),
    );
    if (value) nexts.set(state.name, value);
  }
  const end = endItem
    ? check(
        endItem.condition,
        'the end condition',
        { base: 'bool', axes: [SCALAR] },
        roundScope(),
        `reduce over ${axis}s, e.g. \`any(…, over: ${axis})\``,
      )
    : undefined;

  const observables = new Map(roundValues);
  if (actionName) observables.set(actionName, NUMBER(PER_AGENT));
  const observe = checkObserve(observeItem?.items ?? [], observables, what, axis, path, reporter);

  // Benchmarks are actions fixed before round 1; policies choose an action from what the
  // agent has seen; metrics summarise the whole run.
  const benchmarks: IrBenchmark[] = [];
  for (const b of documented('benchmark')) {
    if (!claim(b.name, 'benchmark')) continue;
    const doc = b.doc === undefined ? {} : { doc: b.doc };
    if (!b.value) {
      // Without a value, the code kind computes it before round 1.
      if (kindItem) benchmarks.push({ name: b.name.name, ...doc });
      else
        reporter.report(
          'E_MISSING',
          path,
          b.range,
          `the benchmark \`${b.name.name}\` has no value, and ${what} has no code kind to compute it`,
          `write \`benchmark ${b.name.name} = ACTION\` (or name the code kind that computes it: \`kind NAME\`)`,
        );
      continue;
    }
    const value = check(b.value, `the benchmark \`${b.name.name}\``, number, withConstants);
    if (value) benchmarks.push({ name: b.name.name, value, ...doc });
  }
  const benchmarkValues = new Map<string, ValueType>([
    ...(action ? [[action.variable, NUMBER(PER_AGENT)] as const] : []),
    ['payoff', NUMBER(PER_AGENT)],
  ]);
  const temporal: Partial<ExpressionScope> = {
    observables,
    temporal: true,
    benchmarks: benchmarkValues,
    benchmarkNames: benchmarks.map((b) => b.name),
    ...withConstants,
  };
  for (const item of decl.items)
    if (item.kind !== 'policy' && 'params' in item && item.params)
      reporter.report(
        'E_SYNTAX',
        path,
        item.range,
        `only a policy takes arguments; \`${item.kind} ${item.name.name}(…)\` cannot`,
        `write \`${item.kind} ${item.name.name} = …\``,
      );
  const policies: IrDeclaredPolicy[] = [];
  for (const p of documented('policy')) {
    if (!claim(p.name, 'policy') || !valued(p)) continue;
    // Its arguments are single numbers, defaulting to values of the parameters.
    const args: { name: string; default: IrExpr }[] = [];
    const argTypes = new Map(baseScope.params);
    let argsOk = true;
    for (const a of p.params ?? []) {
      const taken =
        declaredNames.has(a.name.name) ||
        args.some((x) => x.name === a.name.name) ||
        (ENVIRONMENT_BUILTINS as readonly string[]).includes(a.name.name) ||
        a.name.name === axis ||
        a.name.name === 'self';
      if (taken) {
        reporter.report(
          'E_DUPLICATE',
          path,
          a.name.range,
          `the argument \`${a.name.name}\` of the policy \`${p.name.name}\` reuses a name ${what} already has`,
          'give the argument its own name',
        );
        argsOk = false;
        continue;
      }
      const fallback = check(
        a.value,
        `the default of \`${a.name.name}\` in the policy \`${p.name.name}\``,
        { base: 'number', axes: [SCALAR] },
        withConstants,
      );
      if (!fallback) {
        argsOk = false;
        continue;
      }
      args.push({ name: a.name.name, default: fallback });
      argTypes.set(a.name.name, NUMBER(SCALAR));
    }
    const value = check(
      p.value,
      `the policy \`${p.name.name}\``,
      number,
      { ...temporal, self: 'allowed', params: argTypes },
      `an action, one number or one per ${axis}`,
    );
    if (value && argsOk)
      policies.push({
        name: p.name.name,
        ...(p.params ? { params: args } : {}),
        value,
        ...(p.doc === undefined ? {} : { doc: p.doc }),
      });
  }
  const metricObservables = new Map(observables);
  metricObservables.set('horizon', NUMBER(SCALAR));
  const metrics: IrNamedValue[] = [];
  for (const m of documented('metric')) {
    if (!claim(m.name, 'metric') || !valued(m)) continue;
    const value = check(
      m.value,
      `the metric \`${m.name.name}\``,
      { base: 'number', axes: [SCALAR] },
      { ...temporal, observables: metricObservables },
      `a single number over the run, e.g. \`mean_last(sum(payoff, over: ${axis}), round)\``,
    );
    if (value)
      metrics.push({ name: m.name.name, value, ...(m.doc === undefined ? {} : { doc: m.doc }) });
  }

  const failed = reporter.diagnostics.slice(errorsAtStart).some((d) => d.severity === 'error');
  // A code kind reads the parameters it needs, out of the checker's sight.
  if (!failed && !kindItem) {
    for (const p of params) {
      if (usedParams.has(p.name) || shadowedNames.has(p.name)) continue;
      const item = decl.items.find(
        (i): i is ParamDecl => i.kind === 'param' && i.name.name === p.name,
      );
      if (item)
        reporter.report('W_UNUSED', path, item.name.range, `parameter \`${p.name}\` is never used`);
    }
  }
  if (failed || !agents || !action || !payoff) return undefined;
  const env: IrEnvironment = {
    kind: 'environment',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    axis,
    params,
    agents,
    action,
    states: states.map((s) => {
      const next = nexts.get(s.name);
      return next ? { ...s, next } : s;
    }),
    draws,
    lets,
    payoff,
    ...(end ? { end } : {}),
    observe: observeItem
      ? observe
      : [
          { name: action.variable, own: true },
          { name: 'payoff', own: true },
        ],
    benchmarks,
    policies,
    metrics,
    ...(kindItem ? { code: { kind: kindItem.name.name, computed } } : {}),
  };
  const rangeOfParam = (name: string) =>
    decl.items.find((i): i is ParamDecl => i.kind === 'param' && i.name.name === name)?.value
      .range ?? decl.name.range;
  const { problems } = marketValueProblems(
    env,
    new Map(params.map((p: IrParam) => [p.name, p.value])),
  );
  for (const p of problems) reporter.report(p.code, path, rangeOfParam(p.param ?? ''), p.message);
  return problems.length > 0 ? undefined : env;
}

/**
 * `draw NAME = uniform(LOW, HIGH)`: the bounds may read parameters (one number, or one per
 * agent) but nothing of the round, since the draw is made before anyone acts.
 */
function checkDraws(
  items: readonly (Extract<
    EnvironmentItem,
    { kind: 'benchmark' | 'policy' | 'metric' | 'draw' }
  > & {
    readonly value: Expr;
  })[],
  context: {
    readonly claim: (name: Name, kind: string) => boolean;
    readonly check: (
      expr: Expr,
      describe: string,
      expected: { base: ValueType['base']; axes: readonly (readonly Axis[])[] },
    ) => IrExpr | undefined;
    readonly reporter: Reporter;
    readonly path: string;
    /** Where a refused draw's name goes, so that its uses raise nothing more. */
    readonly poisoned: Set<string>;
  },
): IrDraw[] {
  const { claim, check, reporter, path, poisoned } = context;
  const draws: IrDraw[] = [];
  for (const d of items) {
    if (!claim(d.name, 'draw')) continue;
    const value = d.value;
    poisoned.add(d.name.name);
    if (value.kind !== 'call' || value.callee.name !== 'uniform') {
      reporter.report(
        'E_TYPE',
        path,
        value.range,
        `the draw \`${d.name.name}\` must be a call of \`uniform\`: draws know one distribution`,
        `write \`draw ${d.name.name} = uniform(0, 1)\``,
      );
      continue;
    }
    if (value.args.length !== 2 || value.args.some((a) => a.name)) {
      reporter.report(
        'E_ARITY',
        path,
        value.range,
        `\`uniform\` takes two arguments, the lower and the upper bound; the draw \`${d.name.name}\` gives ${value.args.length}${value.args.some((a) => a.name) ? ' (named arguments are not accepted)' : ''}`,
        `write \`draw ${d.name.name} = uniform(LOW, HIGH)\``,
      );
      continue;
    }
    const [lowArg, highArg] = value.args as [Argument, Argument];
    const number = { base: 'number' as const, axes: SCALAR_OR_PER_AGENT };
    const low = check(lowArg.value, `the lower bound of the draw \`${d.name.name}\``, number);
    const high = check(highArg.value, `the upper bound of the draw \`${d.name.name}\``, number);
    if (!low || !high) continue;
    poisoned.delete(d.name.name);
    draws.push({ name: d.name.name, low, high, ...(d.doc === undefined ? {} : { doc: d.doc }) });
  }
  return draws;
}

/**
 * `computed NAME [per AXIS] "doc"`: values the code kind named by `kind NAME` computes each
 * round. Each needs that kind, and a per-agent value names the environment's own axis.
 */
function checkComputed(
  items: readonly Extract<EnvironmentItem, { kind: 'computed' }>[],
  kindItem: Extract<EnvironmentItem, { kind: 'kind' }> | undefined,
  context: {
    readonly claim: (name: Name, kind: string) => boolean;
    readonly axis: string;
    readonly reporter: Reporter;
    readonly path: string;
    readonly what: string;
    /** Where a refused value's name goes, so that its uses raise nothing more. */
    readonly poisoned: Set<string>;
  },
): IrComputed[] {
  const { claim, axis, reporter, path, what, poisoned } = context;
  const out: IrComputed[] = [];
  for (const c of items) {
    if (!claim(c.name, 'computed value')) continue;
    poisoned.add(c.name.name);
    if (!kindItem) {
      reporter.report(
        'E_MISSING',
        path,
        c.range,
        `\`computed ${c.name.name}\` needs the code kind that computes it, and ${what} names none`,
        'name it: `kind NAME` (a kind registered with `--kind FOLDER`)',
      );
      continue;
    }
    if (c.axis && c.axis.name !== axis) {
      reporter.report(
        'E_SCOPE',
        path,
        c.axis.range,
        `\`per ${c.axis.name}\` is not an axis of ${what}; its agents are ${axis}s`,
        `write \`computed ${c.name.name} per ${axis}\`, or leave \`per\` out for one number`,
      );
      continue;
    }
    poisoned.delete(c.name.name);
    out.push({
      name: c.name.name,
      type: NUMBER(c.axis ? PER_AGENT : SCALAR),
      ...(c.doc === undefined ? {} : { doc: c.doc }),
    });
  }
  return out;
}
