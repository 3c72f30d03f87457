// Checking `institution` declarations into IrInstitution, against the world they govern
// (a market, an environment, or on their own).
import type {
  Axis,
  CounterChange,
  CounterDecl,
  Expr,
  InstitutionDecl,
  ParamDecl,
  StateDecl,
} from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import { isRestorative, stateKind } from '../classify.js';
import { constantValue } from '../constant.js';
import { ExpressionChecker, type ExpressionScope, expectType } from '../expressions.js';
import { agentNaming } from '../instantiate.js';
import type {
  IrCounter,
  IrCounterChange,
  IrEnvironment,
  IrExpr,
  IrFilter,
  IrInstitution,
  IrMonitor,
  IrNoticePart,
  IrRule,
  IrSanction,
  IrState,
  IrTransition,
  IrWorld,
  ParamValue,
} from '../ir.js';
import { lintInstitution } from '../lints.js';
import { benchmarkValuesFor, observablesFor } from '../observables.js';
import { DETECTION, FALSE_POSITIVE, ROUND_COUNT, type ValueRule } from '../param-values.js';
import { describeType, type ValueType } from '../types.js';
import {
  checkParams,
  describeBuiltin,
  literalValue,
  onlyOnce,
  paramTypes,
  Reporter,
  rejectedParams,
  shadowedNames,
} from './common.js';
import { environmentBenchmarkValues, environmentObservables } from './environment.js';
import type { MarketContext } from './market.js';
import { SCALAR } from './shapes.js';
import type { Worlds } from './symbols.js';

export const DEFAULT_MARKET_CONTEXT: MarketContext = {
  competition: 'quantity',
  productNames: new Set(),
  namesUnknown: true,
};

/** What an institution is checked against in a world: its observables, benchmarks and names. */
export function worldContext(world: IrWorld): MarketContext {
  if (world.kind === 'market')
    return { competition: world.competition, productNames: new Set(world.products) };
  return { competition: 'quantity', environment: world, productNames: new Set() };
}

/**
 * An institution checked on its own: against the environment whose agent axis its
 * `scope per AXIS` names, else against a market whose names are not known yet.
 */
export function standaloneContext(
  decl: InstitutionDecl,
  path: string,
  worlds: Worlds,
): MarketContext {
  const scope = decl.items.find((i) => i.kind === 'scope');
  const axis = scope?.kind === 'scope' ? scope.axis?.name : undefined;
  const candidates = axis
    ? [...worlds.values()].filter(
        (w): w is IrEnvironment => w.kind === 'environment' && w.axis === axis,
      )
    : [];
  // Several environments may share an axis (`player`): the one of the institution's own
  // file first, then the first it checks cleanly against, else the first.
  const ordered = [
    ...candidates.filter((w) => w.path === path),
    ...candidates.filter((w) => w.path !== path),
  ];
  const contextOf = (w: IrEnvironment): MarketContext => ({
    ...worldContext(w),
    namesUnknown: true,
  });
  const fits =
    ordered.length > 1
      ? ordered.find((w) => {
          const trial = new Reporter();
          checkInstitution(decl, path, contextOf(w), trial);
          return !trial.diagnostics.some((d) => d.severity === 'error');
        })
      : undefined;
  const environment = fits ?? ordered[0];
  return environment ? contextOf(environment) : DEFAULT_MARKET_CONTEXT;
}

export function checkInstitution(
  decl: InstitutionDecl,
  path: string,
  market: MarketContext,
  reporter: Reporter,
  paramValues?: ReadonlyMap<string, ParamValue>,
): IrInstitution | undefined {
  const errorsBefore = reporter.diagnostics.length;
  // An institution writes `per firm`, or the agent axis of the environment it governs.
  const axisNames = market.environment
    ? {
        agent: 'firm',
        names: new Map<string, Axis>([
          ['firm', 'firm'],
          [market.environment.axis, 'firm'],
        ]),
      }
    : undefined;
  const params = checkParams(
    decl.items.filter((i): i is ParamDecl => i.kind === 'param'),
    path,
    reporter,
    axisNames,
  );
  const values = new Map(params.map((p) => [p.name, paramValues?.get(p.name) ?? p.value]));
  const scopeItem = onlyOnce(
    decl.items,
    'scope',
    'an institution has one `scope`; this is the second',
    path,
    reporter,
  );
  const scope = scopeItem?.scope ?? 'firm';
  const scopeAxis = scopeItem?.axis;
  if (scopeAxis && scopeAxis.name !== market.environment?.axis && !market.namesUnknown)
    reporter.report(
      'E_SCOPE',
      path,
      scopeAxis.range,
      market.environment
        ? `environment \`${market.environment.name}\` has ${market.environment.axis}s, not ${scopeAxis.name}s`
        : `a market has firms, not ${scopeAxis.name}s`,
      `write \`scope per ${market.environment?.axis ?? 'firm'}\``,
    );
  const isPublic =
    onlyOnce(decl.items, 'visibility', 'visibility is declared twice', path, reporter)?.public ??
    false;
  const directive = onlyOnce(
    decl.items,
    'directive',
    'an institution has one `directive`; join the texts',
    path,
    reporter,
  )?.text;

  const stateDecls = decl.items.filter((i): i is StateDecl => i.kind === 'state');
  const stateNames = new Set<string>();
  for (const s of stateDecls) {
    if (stateNames.has(s.name.name)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        s.name.range,
        `state \`${s.name.name}\` is declared twice`,
      );
    }
    stateNames.add(s.name.name);
  }

  const usedParams = new Set<string>();
  const usedMonitors = new Set<string>();
  const monitorTypes = new Map<string, ValueType>();
  const monitorDecls = decl.items.filter((i) => i.kind === 'monitor');
  // Parameters and monitors whose declaration failed: their uses are not errors again.
  const poisoned = rejectedParams(decl.items, params);
  // Counters are known everywhere in the institution, wherever they are declared.
  const counterDecls = decl.items.filter((i): i is CounterDecl => i.kind === 'counter');
  const counterNames = new Set<string>();
  for (const c of counterDecls) {
    const name = c.name.name;
    const clash = counterNames.has(name)
      ? `counter \`${name}\` is declared twice`
      : params.some((p) => p.name === name) ||
          monitorDecls.some((m) => m.kind === 'monitor' && m.name.name === name) ||
          stateNames.has(name) ||
          shadowedNames.has(name)
        ? `counter \`${name}\` would hide the ${stateNames.has(name) ? 'state' : describeBuiltin(name, paramTypes(params))} of that name`
        : undefined;
    if (clash) {
      reporter.report('E_DUPLICATE', path, c.name.range, clash, 'give the counter its own name');
      poisoned.add(name);
    } else counterNames.add(name);
  }
  const usedCounters = new Set<string>();
  const changedCounters = new Set<string>();
  const baseScope: ExpressionScope = {
    path,
    params: paramTypes(params),
    paramValues: values,
    usedParams,
    poisoned,
    ...(market.environment
      ? {
          observables: environmentObservables(market.environment),
          benchmarks: environmentBenchmarkValues(market.environment),
          benchmarkNames: market.environment.benchmarks.map((b) => b.name),
          agentAlias: market.environment.axis,
          worldName: `environment \`${market.environment.name}\``,
        }
      : {
          observables: observablesFor(market.competition),
          benchmarks: benchmarkValuesFor(market.competition),
        }),
    monitors: monitorTypes,
    usedMonitors,
    self: scope === 'firm' ? 'allowed' : 'market-scope',
    states: stateNames,
    counters: counterNames,
    usedCounters,
    ...(market.firmNames ? { firmNames: market.firmNames } : {}),
    productNames: market.productNames,
    ...(market.namesUnknown ? { namesUnknown: true } : {}),
    ...(market.namesUnknown && market.environment
      ? { agentNaming: agentNaming(market.environment) }
      : {}),
    temporal: true,
  };
  // Round counts and priorities depend on parameters only.
  const constantScope: ExpressionScope = {
    path,
    params: paramTypes(params),
    paramValues: values,
    usedParams,
    poisoned,
    self: 'absent',
    temporal: false,
  };

  const constantNumber = (
    e: Expr,
    what: string,
    check: (n: number) => string | undefined,
  ): IrExpr | undefined => {
    const checker = new ExpressionChecker({ ...constantScope, describe: what });
    const result = checker.check(e);
    const ok = expectType(checker, result, e.range, { base: 'number', axes: [SCALAR] }, what);
    reporter.absorb(checker);
    if (!ok) return undefined;
    const value = constantValue(result, values);
    if (value === undefined) {
      return reporter.report(
        'E_TYPE',
        path,
        e.range,
        `${what} must be fixed before the run: only numbers and parameters`,
      );
    }
    const problem = check(value);
    if (problem)
      return reporter.report('E_VALUE', path, e.range, `${what} ${problem} (it is ${value})`);
    return result;
  };

  const counters: IrCounter[] = [];
  for (const c of counterDecls) {
    if (!counterNames.has(c.name.name) || counters.some((k) => k.name === c.name.name)) continue;
    const initial = c.initial
      ? constantNumber(c.initial, "a counter's initial value", () => undefined)
      : ({ type: { base: 'number', axes: [] }, text: '0', op: 'const', value: 0 } as IrExpr);
    if (initial)
      counters.push({
        name: c.name.name,
        initial,
        ...(c.doc === undefined ? {} : { doc: c.doc }),
      });
  }

  /** A counter change checked: a known counter, and one number for the machine as amount. */
  const counterChange = (c: CounterChange): IrCounterChange | undefined => {
    if (!counterNames.has(c.counter.name)) {
      if (poisoned.has(c.counter.name)) return undefined;
      return reporter.report(
        'E_UNKNOWN_NAME',
        path,
        c.counter.range,
        `no counter \`${c.counter.name}\` is declared`,
        didYouMean(c.counter.name, counterNames) ??
          `declare it in the institution: \`counter ${c.counter.name} "what it counts"\``,
      );
    }
    changedCounters.add(c.counter.name);
    if (!c.amount) return { counter: c.counter.name, change: c.change };
    const what = c.change === 'add' ? 'the amount added' : 'the share that decays';
    const checker = new ExpressionChecker({ ...baseScope, describe: what });
    const amount = checker.check(c.amount);
    const ok = expectType(
      checker,
      amount,
      c.amount.range,
      { base: 'number', axes: [SCALAR] },
      what,
      'a counter holds one number for the machine',
    );
    reporter.absorb(checker);
    if (!ok || !amount) return undefined;
    const share = c.change === 'decay' ? constantValue(amount, values) : undefined;
    if (share !== undefined && !(share >= 0 && share <= 1))
      return reporter.report(
        'E_VALUE',
        path,
        c.amount.range,
        `a decay is the share of the counter lost, between 0 and 1 (it is ${share})`,
        '`decay offences 0.5` halves it',
      );
    return { counter: c.counter.name, change: c.change, amount };
  };

  const monitors: IrMonitor[] = [];
  const remaining = new Set(monitorDecls.map((m) => (m.kind === 'monitor' ? m.name.name : '')));
  for (const m of monitorDecls) {
    if (m.kind !== 'monitor') continue;
    remaining.delete(m.name.name);
    if (monitorTypes.has(m.name.name)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        m.name.range,
        `monitor \`${m.name.name}\` is declared twice`,
      );
      continue;
    }
    const clash = baseScope.params.has(m.name.name) || shadowedNames.has(m.name.name);
    if (clash) {
      reporter.report(
        'E_DUPLICATE',
        path,
        m.name.range,
        `monitor \`${m.name.name}\` would hide the ${describeBuiltin(m.name.name, baseScope.params)} of that name`,
        'give the monitor its own name',
      );
      poisoned.add(m.name.name);
      continue;
    }
    const checker = new ExpressionChecker({
      ...baseScope,
      laterMonitors: new Set(remaining),
      describe: 'a monitor',
    });
    const expr = checker.check(m.value);
    reporter.absorb(checker);
    if (!expr) {
      poisoned.add(m.name.name);
      continue;
    }
    const probability = (e: Expr | undefined, what: ValueRule) =>
      e ? constantNumber(e, what.what, what.problem) : undefined;
    const detection = probability(m.detection, DETECTION);
    const falsePositive = probability(m.falsePositive, FALSE_POSITIVE);
    if ((m.detection || m.falsePositive) && expr.type.base !== 'bool') {
      reporter.report(
        'E_TYPE',
        path,
        m.value.range,
        `only a true/false monitor can be noisy; \`${m.name.name}\` is ${describeType(expr.type)}`,
        'compare it with a threshold, e.g. `monitor high = x > 0.5 detection 0.9`',
      );
      poisoned.add(m.name.name);
      continue;
    }
    if (expr.type.base === 'string') {
      reporter.report(
        'E_TYPE',
        path,
        m.value.range,
        `monitor \`${m.name.name}\` holds a string; monitors hold numbers or true/false values`,
      );
      poisoned.add(m.name.name);
      continue;
    }
    monitorTypes.set(m.name.name, expr.type);
    monitors.push({
      name: m.name.name,
      expr,
      ...(detection ? { detection } : {}),
      ...(falsePositive ? { falsePositive } : {}),
    });
  }

  const rules: IrRule[] = [];
  const ruleIds = new Set<string>();
  for (const r of decl.items) {
    if (r.kind !== 'rule') continue;
    if (ruleIds.has(r.id.name)) {
      reporter.report('E_DUPLICATE', path, r.id.range, `rule \`${r.id.name}\` is declared twice`);
      continue;
    }
    ruleIds.add(r.id.name);
    rules.push({
      id: r.id.name,
      ...(r.title === undefined ? {} : { title: r.title }),
      attribute: r.attribute.name,
      deontic: r.deontic,
      aim: r.aim,
      ...(r.orElse === undefined ? {} : { orElse: r.orElse }),
    });
  }
  const citedRules = new Set<string>();

  const initials = stateDecls.filter((s) => s.initial);
  if (stateDecls.length > 0 && initials.length === 0) {
    reporter.report(
      'E_NO_INITIAL',
      path,
      decl.name.range,
      `institution \`${decl.name.name}\` has states but none is initial`,
      `mark the state firms start in: \`initial state ${stateDecls[0]?.name.name ?? 'active'} { … }\``,
    );
  }
  for (const extra of initials.slice(1)) {
    reporter.report(
      'E_MULTIPLE_INITIAL',
      path,
      extra.name.range,
      `\`${extra.name.name}\` is a second initial state (the first is \`${initials[0]?.name.name}\`)`,
      'exactly one state is initial',
    );
  }
  const initial = initials[0]?.name.name;

  const amountAxes: readonly (readonly Axis[])[] = scope === 'firm' ? [SCALAR] : [SCALAR, ['firm']];
  const limitAxes: readonly (readonly Axis[])[] =
    scope === 'firm' ? [SCALAR, ['product']] : [SCALAR, ['firm'], ['product'], ['firm', 'product']];
  const guardHint =
    scope === 'firm' ? undefined : 'a market-scoped institution has one guard for the whole market';

  const states: IrState[] = [];
  const seenStates = new Set<string>();
  for (const s of stateDecls) {
    if (seenStates.has(s.name.name)) continue;
    seenStates.add(s.name.name);
    const sanctions: IrSanction[] = [];
    const notices: string[] = [];
    const liveNotices: { index: number; parts: IrNoticePart[] }[] = [];
    const eachRoundNotices: number[] = [];
    let cap: IrExpr | undefined;
    let floor: IrExpr | undefined;
    let suspend = false;
    let mute = false;
    let quarantine = false;
    let paraphrase = false;
    let paraphraser: string | undefined;
    const changes: (IrCounterChange & { timing: 'entry' | 'each_round' })[] = [];
    const transitions: (Omit<IrTransition, 'restorative'> & { restoreFlag: boolean })[] = [];
    let index = 0;
    for (const item of s.items) {
      switch (item.kind) {
        case 'notice': {
          // `{…}` values are read when the notice is given: one number or true/false.
          const parts: IrNoticePart[] = [];
          let ok = true;
          for (const part of item.parts ?? []) {
            if (!('expr' in part)) {
              parts.push(part);
              continue;
            }
            const checker = new ExpressionChecker({
              ...baseScope,
              describe: 'a value in a notice',
            });
            const value = checker.check(part.expr);
            const fits =
              (value?.type.base === 'bool' && value.type.axes.length === 0) ||
              expectType(
                checker,
                value,
                part.expr.range,
                { base: 'number', axes: amountAxes },
                'a value in a notice',
                scope === 'firm'
                  ? 'one number for the firm it is given to, e.g. `{profit[self]}`'
                  : undefined,
              );
            reporter.absorb(checker);
            if (fits && value) parts.push({ expr: value });
            else ok = false;
          }
          if (item.parts && ok) liveNotices.push({ index: notices.length, parts });
          if (item.eachRound) eachRoundNotices.push(notices.length);
          notices.push(item.text);
          break;
        }
        case 'sanction': {
          const checker = new ExpressionChecker({ ...baseScope, describe: `a ${item.sanction}` });
          const amount = checker.check(item.amount);
          const ok = expectType(
            checker,
            amount,
            item.amount.range,
            { base: 'number', axes: amountAxes },
            `the ${item.sanction} amount`,
          );
          reporter.absorb(checker);
          if (ok)
            sanctions.push({
              sanction: item.sanction,
              timing: item.timing,
              ...(item.afterEntry ? { afterEntry: true as const } : {}),
              amount,
            });
          break;
        }
        case 'cap':
        case 'floor': {
          const checker = new ExpressionChecker({
            ...baseScope,
            describe: `a quantity ${item.kind}`,
          });
          const value = checker.check(item.value);
          const ok = expectType(
            checker,
            value,
            item.value.range,
            { base: 'number', axes: limitAxes },
            `the quantity ${item.kind}`,
          );
          reporter.absorb(checker);
          if (ok && item.kind === 'cap') {
            if (cap)
              reporter.report('E_DUPLICATE', path, item.range, 'a state has at most one `cap`');
            cap = value;
          }
          if (ok && item.kind === 'floor') {
            if (floor)
              reporter.report('E_DUPLICATE', path, item.range, 'a state has at most one `floor`');
            floor = value;
          }
          break;
        }
        case 'suspend':
          suspend = true;
          break;
        case 'mute':
          mute = true;
          break;
        case 'paraphrase':
          // Like `mute` written twice, a second `paraphrase` changes nothing but the model, if it names one.
          paraphrase = true;
          if (item.model !== undefined) paraphraser = item.model;
          break;
        case 'quarantine':
          // Quarantine keeps one agent's messages from the others; for every agent at once
          // it would be a mute of the whole market, and should say so.
          if (scope === 'market')
            reporter.report(
              'E_SCOPE',
              path,
              item.range,
              '`quarantine` keeps one agent apart from the others; under `scope market` every agent would be in it',
              'write `mute` to silence every agent, or `scope per firm` to quarantine agents one by one',
            );
          else quarantine = true;
          break;
        case 'change': {
          const change = counterChange(item);
          if (change) changes.push({ ...change, timing: item.timing });
          break;
        }
        case 'when':
        case 'after': {
          const id = `${s.name.name}.${index++}`;
          let targetOk = true;
          if (!stateNames.has(item.target.name)) {
            targetOk = false;
            reporter.report(
              'E_UNKNOWN_STATE',
              path,
              item.target.range,
              `no state \`${item.target.name}\` in institution \`${decl.name.name}\``,
              didYouMean(item.target.name, stateNames) ?? `states: ${[...stateNames].join(', ')}`,
            );
          }
          if (item.options.rule) {
            citedRules.add(item.options.rule.name);
            if (!ruleIds.has(item.options.rule.name)) {
              reporter.report(
                'E_UNKNOWN_RULE',
                path,
                item.options.rule.range,
                `no rule \`${item.options.rule.name}\` is declared`,
                didYouMean(item.options.rule.name, ruleIds) ??
                  'declare it: `rule ID "title": firm must not "…"`',
              );
            }
          }
          let priority = 0;
          if (item.options.priority) {
            // A literal: the order of transitions is part of the compiled machine, so it
            // cannot depend on parameters that experiments override.
            const written = literalValue(item.options.priority);
            if (typeof written !== 'number' || !Number.isInteger(written)) {
              reporter.report(
                'E_TYPE',
                path,
                item.options.priority.range,
                'a priority is a whole number written out, not an expression',
                'e.g. `priority 2`; higher wins',
              );
            } else priority = written;
          }
          const conditionExpr = item.kind === 'when' ? item.guard : item.while;
          let condition: IrExpr | undefined;
          let conditionOk = true;
          if (conditionExpr) {
            const checker = new ExpressionChecker({ ...baseScope, describe: 'a guard' });
            condition = checker.check(conditionExpr);
            conditionOk = expectType(
              checker,
              condition,
              conditionExpr.range,
              { base: 'bool', axes: [SCALAR] },
              item.kind === 'when' ? 'a guard' : 'the `while` condition',
              guardHint,
            );
            reporter.absorb(checker);
          }
          const roundsExpr = item.kind === 'when' ? item.forRounds : item.rounds;
          const rounds = roundsExpr
            ? constantNumber(roundsExpr, ROUND_COUNT.what, ROUND_COUNT.problem)
            : ({ type: { base: 'number', axes: [] }, text: '1', op: 'const', value: 1 } as IrExpr);
          const transitionChanges = (item.options.changes ?? []).map(counterChange);
          if (!targetOk || !conditionOk || !rounds) break;
          if (transitionChanges.some((c) => !c)) break;
          transitions.push({
            id,
            kind: item.kind,
            source: s.name.name,
            target: item.target.name,
            ...(condition ? { condition } : {}),
            rounds,
            priority,
            declaredPriority: item.options.priority !== undefined,
            ...(item.options.rule ? { rule: item.options.rule.name } : {}),
            restoreFlag: item.options.restore,
            ...(transitionChanges.length > 0
              ? { changes: transitionChanges as IrCounterChange[] }
              : {}),
            range: item.range,
          });
          break;
        }
      }
    }
    const sorted = transitions
      .map((t, i) => ({ t, i }))
      .sort((a, b) => b.t.priority - a.t.priority || a.i - b.i)
      .map(({ t }) => t);
    const kind = stateKind(
      { notices, sanctions, cap, floor, suspend, mute, quarantine, paraphrase },
      s.name.name === initial,
    );
    states.push({
      name: s.name.name,
      ...(s.title === undefined ? {} : { title: s.title }),
      kind,
      notices,
      ...(eachRoundNotices.length > 0 ? { eachRoundNotices } : {}),
      ...(liveNotices.length > 0 ? { liveNotices } : {}),
      sanctions,
      ...(cap ? { cap } : {}),
      ...(floor ? { floor } : {}),
      suspend,
      ...(mute ? { mute: true as const } : {}),
      ...(quarantine ? { quarantine: true as const } : {}),
      ...(paraphrase ? { paraphrase: true as const } : {}),
      ...(paraphraser !== undefined ? { paraphraser } : {}),
      ...(changes.length > 0 ? { changes } : {}),
      transitions: sorted as unknown as IrTransition[],
      range: s.range,
    });
  }

  // Each message is checked on its own before delivery: the text measures read it as its
  // sender's talk of the round, nothing else of the round exists yet.
  const filters: IrFilter[] = [];
  for (const f of decl.items) {
    if (f.kind !== 'filter') continue;
    const checker = new ExpressionChecker({
      ...baseScope,
      // A value per agent is read for the sender: there is no machine for `self` to name.
      self: 'absent',
      temporal: false,
      message: true,
      describe: 'a filter',
    });
    const condition = checker.check(f.condition);
    const ok = expectType(
      checker,
      condition,
      f.condition.range,
      { base: 'bool', axes: [SCALAR, ['firm']] },
      'a filter condition',
      'compare a text measure with a threshold, e.g. `filter when mentions("CANARY") > 0`',
    );
    reporter.absorb(checker);
    if (ok) filters.push({ condition, reason: f.reason ?? condition.text });
  }

  const institution = markRestorative({
    kind: 'institution',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    scope,
    ...(scopeAxis && scopeAxis.name !== 'firm' ? { agentAxis: scopeAxis.name } : {}),
    public: isPublic,
    ...(directive === undefined ? {} : { directive }),
    params,
    monitors,
    rules,
    states,
    ...(initial ? { initial } : {}),
    ...(counters.length > 0 ? { counters } : {}),
    ...(filters.length > 0 ? { filters } : {}),
  });

  const institutionErrors = reporter.diagnostics
    .slice(errorsBefore)
    .some((d) => d.severity === 'error');
  for (const p of params) {
    if (!institutionErrors && !usedParams.has(p.name)) {
      const d = decl.items.find(
        (i): i is ParamDecl => i.kind === 'param' && i.name.name === p.name,
      );
      if (d)
        reporter.report('W_UNUSED', path, d.name.range, `parameter \`${p.name}\` is never used`);
    }
  }
  for (const m of monitorDecls) {
    if (
      !institutionErrors &&
      m.kind === 'monitor' &&
      monitorTypes.has(m.name.name) &&
      !usedMonitors.has(m.name.name)
    ) {
      reporter.report(
        'W_UNUSED',
        path,
        m.name.range,
        `monitor \`${m.name.name}\` is never used by a guard or sanction`,
      );
    }
  }
  for (const c of counterDecls) {
    if (!institutionErrors && counterNames.has(c.name.name) && !changedCounters.has(c.name.name))
      reporter.report(
        'W_UNUSED',
        path,
        c.name.range,
        `counter \`${c.name.name}\` is never changed`,
        'change it in a state (`add NAME 1`, `each round decay NAME 0.5`) or on a transition (`-> fined then add NAME 1`)',
      );
  }
  for (const r of decl.items) {
    if (!institutionErrors && r.kind === 'rule' && !citedRules.has(r.id.name)) {
      reporter.report(
        'W_UNUSED',
        path,
        r.id.range,
        `rule \`${r.id.name}\` is cited by no transition`,
        'cite it: `when … -> state rule ID`',
      );
    }
  }
  // Graph lints on a graph with errors would mostly echo those errors.
  const errorsHere = reporter.diagnostics.slice(errorsBefore).some((d) => d.severity === 'error');
  if (!errorsHere) reporter.diagnostics.push(...lintInstitution(institution, stateDecls, path));
  return institution;
}

/** Each edge's `restorative` flag, from its `restore` declaration and compiler/classify.ts. */
export function markRestorative(institution: IrInstitution): IrInstitution {
  return {
    ...institution,
    states: institution.states.map((s) => ({
      ...s,
      transitions: s.transitions.map((t) => {
        const { restoreFlag, ...rest } = t as IrTransition & { restoreFlag?: boolean };
        return { ...rest, restorative: isRestorative(t, restoreFlag === true, institution) };
      }),
    })),
  };
}

// ---- experiments ----------------------------------------------------------------------------
