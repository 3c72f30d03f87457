import type {
  Argument,
  Axis,
  Declaration,
  EnvironmentDecl,
  ExperimentDecl,
  Expr,
  FactorDecl,
  FactorLevel,
  InstitutionDecl,
  MarketDecl,
  Name,
  ParamDecl,
  PolicyRef,
  Range,
  SourceFile,
  StateDecl,
  SweepDecl,
  SweepItem,
} from '../grammar/ast.js';
import type { Diagnostic, PhaseResult } from '../grammar/diagnostics.js';
import { didYouMean } from '../grammar/suggest.js';
import {
  checkObserve,
  checkParams,
  describeBuiltin,
  literalValue,
  paramTypes,
  Reporter,
  rejectedParams,
  shadowedNames,
  valueFits,
} from './check/common.js';

export { literalValue, valueFits } from './check/common.js';

import {
  checkEnvironment,
  environmentBenchmarkValues,
  environmentObservables,
} from './check/environment.js';
import { isRestorative, stateKind } from './classify.js';
import { constantValue } from './constant.js';
import { ExpressionChecker, type ExpressionScope, expectType } from './expressions.js';
import type {
  IrEnvironment,
  IrExperiment,
  IrExpr,
  IrFactor,
  IrFactorLevel,
  IrFactorTarget,
  IrInstitution,
  IrMarket,
  IrMonitor,
  IrParam,
  IrPolicy,
  IrProgram,
  IrRule,
  IrSanction,
  IrState,
  IrSweep,
  IrTransition,
  IrWorld,
  MarketKind,
  ParamValue,
} from './ir.js';
import { lintInstitution } from './lints.js';
import { benchmarkValuesFor, observablesFor } from './observables.js';
import {
  DETECTION,
  FALSE_POSITIVE,
  listLengthProblems,
  marketValueProblems,
  ROUND_COUNT,
  type ValueProblem,
  type ValueRule,
} from './param-values.js';
import { sweepSizeProblem } from './sweep-size.js';
import { describeType, type ValueType } from './types.js';

const DEFAULT_PRODUCT = 'good';
const SCALAR: readonly Axis[] = [];
const ANY_SHAPE: readonly (readonly Axis[])[] = [
  SCALAR,
  ['firm'],
  ['product'],
  ['firm', 'product'],
];

export interface Declared<D extends Declaration> {
  readonly decl: D;
  readonly path: string;
}

/** All declarations by kind and name, user files first; stdlib entries fill the gaps. */
export interface SymbolTable {
  readonly markets: ReadonlyMap<string, Declared<MarketDecl>>;
  readonly environments: ReadonlyMap<string, Declared<EnvironmentDecl>>;
  readonly institutions: ReadonlyMap<string, Declared<InstitutionDecl>>;
  readonly experiments: ReadonlyMap<string, Declared<ExperimentDecl>>;
  readonly sweeps: ReadonlyMap<string, Declared<SweepDecl>>;
}

// ---- symbol table -------------------------------------------------------------------------

export function buildSymbols(
  files: readonly SourceFile[],
  library: readonly SourceFile[],
  reporter: Reporter,
): SymbolTable {
  const markets = new Map<string, Declared<MarketDecl>>();
  const environments = new Map<string, Declared<EnvironmentDecl>>();
  const institutions = new Map<string, Declared<InstitutionDecl>>();
  const experiments = new Map<string, Declared<ExperimentDecl>>();
  const sweeps = new Map<string, Declared<SweepDecl>>();
  const tables = {
    market: markets,
    environment: environments,
    institution: institutions,
    experiment: experiments,
    sweep: sweeps,
  };
  const firstSeen = new Map<string, { path: string; range: Range }>();
  const add = (file: SourceFile, decl: Declaration, fromLibrary: boolean) => {
    const table = tables[decl.kind] as Map<string, Declared<Declaration>>;
    // Markets and environments are both worlds an experiment runs in: one name, one world.
    const key = `${decl.kind === 'environment' ? 'market' : decl.kind}:${decl.name.name}`;
    const previous = firstSeen.get(key);
    if (previous) {
      if (!fromLibrary) {
        reporter.report(
          'E_DUPLICATE',
          file.path,
          decl.name.range,
          `${decl.kind} \`${decl.name.name}\` is declared twice (first${decl.kind === 'environment' || decl.kind === 'market' ? ' as a world' : ''} at ${previous.path}:${previous.range.start.line}:${previous.range.start.column})`,
          'rename one of them',
        );
      }
      return;
    }
    firstSeen.set(key, { path: file.path, range: decl.name.range });
    table.set(decl.name.name, { decl, path: file.path });
  };
  for (const file of files) for (const decl of file.declarations) add(file, decl, false);
  for (const file of library) for (const decl of file.declarations) add(file, decl, true);
  return { markets, environments, institutions, experiments, sweeps };
}

// ---- markets --------------------------------------------------------------------------------

export interface MarketContext {
  readonly competition: MarketKind;
  /** The environment an institution governs, when it governs one rather than a market. */
  readonly environment?: IrEnvironment;
  /** No market yet (an institution checked on its own): names are checked later. */
  readonly namesUnknown?: boolean;
  readonly firmNames?: ReadonlySet<string>;
  readonly productNames: ReadonlySet<string>;
}

function checkMarket(decl: MarketDecl, path: string, reporter: Reporter): IrMarket | undefined {
  const errorsAtStart = reporter.diagnostics.length;
  const params = checkParams(
    decl.items.filter((i): i is ParamDecl => i.kind === 'param'),
    path,
    reporter,
  );
  const single = <K extends string>(kind: K) => {
    const found = decl.items.filter((i) => i.kind === kind);
    for (const extra of found.slice(1)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        extra.range,
        `a market has one \`${kind}\` item; this is the second`,
      );
    }
    return found[0] as Extract<MarketDecl['items'][number], { kind: K }> | undefined;
  };
  const firmsItem = single('firms');
  const productsItem = single('products');
  const costItem = single('cost');
  const capacityItem = single('capacity');
  const actionItem = single('action');
  const priceItem = single('price');
  const demandItem = single('demand');
  const observeItem = single('observe');

  const missing = (what: string, example: string) =>
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `market \`${decl.name.name}\` has no \`${what}\` item`,
      `add e.g. \`${example}\``,
    );

  if (!firmsItem) missing('firms', 'firms f1, f2');
  if (!costItem) missing('cost', 'cost = costs');
  if (!actionItem) missing('action', 'action quantity in [0, inf]');

  const usedParams = new Set<string>();
  const baseScope: Omit<ExpressionScope, 'describe'> = {
    path,
    params: paramTypes(params),
    usedParams,
    poisoned: rejectedParams(decl.items, params),
    self: 'absent',
    temporal: false,
  };

  const uniqueNames = (names: readonly Name[], what: string): string[] => {
    const seen = new Set<string>();
    const out: string[] = [];
    for (const n of names) {
      if (seen.has(n.name)) {
        reporter.report('E_DUPLICATE', path, n.range, `${what} \`${n.name}\` is listed twice`);
        continue;
      }
      seen.add(n.name);
      out.push(n.name);
    }
    return out;
  };
  const products = productsItem ? uniqueNames(productsItem.names, 'product') : [DEFAULT_PRODUCT];
  const firmNames = firmsItem?.names ? uniqueNames(firmsItem.names, 'firm') : undefined;
  const names = {
    ...(firmNames ? { firmNames: new Set(firmNames) } : {}),
    productNames: new Set(products),
  };

  /** Checks one market expression: a number of one of the allowed shapes, or undefined. */
  const numberOf = (
    expr: Expr,
    what: string,
    axes: readonly (readonly Axis[])[] = ANY_SHAPE,
    extra: Partial<ExpressionScope> = {},
    hint?: string,
  ): IrExpr | undefined => {
    const checker = new ExpressionChecker({ ...baseScope, ...names, describe: what, ...extra });
    const result = checker.check(expr);
    const ok = expectType(checker, result, expr.range, { base: 'number', axes }, what, hint);
    reporter.absorb(checker);
    return ok ? result : undefined;
  };

  let firms: IrMarket['firms'] | undefined;
  if (firmsItem?.count) {
    const count = numberOf(firmsItem.count, 'the number of firms', [SCALAR]);
    if (count) firms = { count };
  } else if (firmNames) {
    firms = { names: firmNames };
  }

  let competition: MarketKind = 'quantity';
  let actionIr: IrMarket['action'] | undefined;
  if (actionItem) {
    const variable = actionItem.variable.name;
    if (variable !== 'quantity' && variable !== 'price') {
      reporter.report(
        'E_UNKNOWN_NAME',
        path,
        actionItem.variable.range,
        `firms can choose \`quantity\` or \`price\`, not \`${variable}\``,
        didYouMean(variable, ['quantity', 'price']),
      );
    } else {
      competition = variable;
      const low = numberOf(actionItem.low, 'an action bound');
      const high = numberOf(actionItem.high, 'an action bound');
      if (low && high) actionIr = { variable, low, high };
    }
  }

  const cost = costItem ? numberOf(costItem.value, 'the unit cost') : undefined;
  const capacity = capacityItem ? numberOf(capacityItem.value, 'the capacity') : undefined;

  const actionType: ValueType = { base: 'number', axes: ['firm', 'product'] };
  let price: IrExpr | undefined;
  let demand: IrExpr | undefined;
  if (competition === 'quantity') {
    if (demandItem) {
      reporter.report(
        'E_MISSING',
        path,
        demandItem.range,
        'a market where firms choose quantities is cleared by `price = …`, not `demand`',
      );
    }
    if (!priceItem && actionIr) missing('price', 'price = max(0, 100 - sum(quantity, over: firm))');
    if (priceItem) {
      price = numberOf(
        priceItem.value,
        'the price',
        [SCALAR, ['product']],
        { action: { name: 'quantity', type: actionType }, describe: 'the price function' },
        'reduce quantities over firms, e.g. `sum(quantity, over: firm)`',
      );
    }
  } else {
    if (priceItem) {
      reporter.report(
        'E_MISSING',
        path,
        priceItem.range,
        'a market where firms set prices is cleared by `demand = …`, not `price = …`',
      );
    }
    if (!demandItem) missing('demand', 'demand = 100 - price');
    if (demandItem) {
      demand = numberOf(demandItem.value, 'the demand', ANY_SHAPE, {
        action: { name: 'price', type: actionType },
        describe: 'the demand function',
      });
    }
  }

  const observables = observablesFor(competition);
  const observe = checkObserve(
    observeItem?.items ?? [],
    observables,
    'the market',
    'firm',
    path,
    reporter,
  );

  const marketErrors = reporter.diagnostics
    .slice(errorsAtStart)
    .some((d) => d.severity === 'error');
  for (const p of params) {
    if (!marketErrors && !usedParams.has(p.name)) {
      const declared = decl.items.find(
        (i): i is ParamDecl => i.kind === 'param' && i.name.name === p.name,
      );
      if (declared)
        reporter.report(
          'W_UNUSED',
          path,
          declared.name.range,
          `parameter \`${p.name}\` is never used`,
        );
    }
  }

  if (!firms || !cost || !actionIr || (competition === 'quantity' ? !price : !demand))
    return undefined;
  const market: IrMarket = {
    kind: 'market',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    competition,
    params,
    firms,
    products,
    cost,
    ...(capacity ? { capacity } : {}),
    action: actionIr,
    ...(price ? { price } : {}),
    ...(demand ? { demand } : {}),
    observe: observeItem
      ? observe
      : [
          { name: 'price', own: false },
          { name: 'quantity', own: true },
          { name: 'profit', own: true },
        ],
  };
  const rangeOfParam = (name: string) =>
    decl.items.find((i): i is ParamDecl => i.kind === 'param' && i.name.name === name)?.value
      .range ?? decl.name.range;
  checkMarketValues(market, paramValuesOf(market.params), path, rangeOfParam, reporter);
  return market;
}

function paramValuesOf(
  params: readonly IrParam[],
  overrides: Readonly<Record<string, ParamValue>> = {},
) {
  const values = new Map(params.map((p) => [p.name, p.value]));
  for (const [k, v] of Object.entries(overrides)) values.set(k, v);
  return values;
}

/**
 * Checks parameter values against the firm and product counts they imply: a whole,
 * positive number of firms, and lists with one entry per firm (and per product).
 * Returns the firm names when they are sound.
 */
function checkMarketValues(
  market: IrWorld,
  values: ReadonlyMap<string, ParamValue>,
  path: string,
  rangeOf: (param: string) => Range,
  reporter: Reporter,
): string[] | undefined {
  const { firms, problems } = marketValueProblems(market, values);
  reportValueProblems(problems, path, rangeOf, reporter);
  return problems.length === 0 && firms ? [...firms] : undefined;
}

/** Reports problems with parameter values at the parameter's default or override. */
function reportValueProblems(
  problems: readonly ValueProblem[],
  path: string,
  rangeOf: (param: string) => Range,
  reporter: Reporter,
): void {
  for (const p of problems) reporter.report(p.code, path, rangeOf(p.param ?? ''), p.message);
}

// ---- institutions ---------------------------------------------------------------------------

const DEFAULT_MARKET_CONTEXT: MarketContext = {
  competition: 'quantity',
  productNames: new Set(),
  namesUnknown: true,
};

/** What an institution is checked against in a world: its observables, benchmarks and names. */
function worldContext(world: IrWorld): MarketContext {
  if (world.kind === 'market')
    return { competition: world.competition, productNames: new Set(world.products) };
  return { competition: 'quantity', environment: world, productNames: new Set() };
}

/**
 * An institution checked on its own: against the environment whose agent axis its
 * `scope per AXIS` names, else against a market whose names are not known yet.
 */
function standaloneContext(decl: InstitutionDecl, worlds: Worlds): MarketContext {
  const scope = decl.items.find((i) => i.kind === 'scope');
  const axis = scope?.kind === 'scope' ? scope.axis?.name : undefined;
  const environment = axis
    ? [...worlds.values()].find((w) => w.kind === 'environment' && w.axis === axis)
    : undefined;
  return environment
    ? { ...worldContext(environment), namesUnknown: true }
    : DEFAULT_MARKET_CONTEXT;
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
  const scopes = decl.items.filter((i) => i.kind === 'scope');
  for (const extra of scopes.slice(1))
    reporter.report(
      'E_DUPLICATE',
      path,
      extra.range,
      'an institution has one `scope`; this is the second',
    );
  const scope = scopes[0]?.kind === 'scope' ? scopes[0].scope : 'firm';
  const scopeAxis = scopes[0]?.kind === 'scope' ? scopes[0].axis : undefined;
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
  const visibilities = decl.items.filter((i) => i.kind === 'visibility');
  for (const extra of visibilities.slice(1))
    reporter.report('E_DUPLICATE', path, extra.range, 'visibility is declared twice');
  const isPublic = visibilities[0]?.kind === 'visibility' ? visibilities[0].public : false;
  const directives = decl.items.filter((i) => i.kind === 'directive');
  for (const extra of directives.slice(1))
    reporter.report(
      'E_DUPLICATE',
      path,
      extra.range,
      'an institution has one `directive`; join the texts',
    );
  const directive = directives[0]?.kind === 'directive' ? directives[0].text : undefined;

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
  const baseScope: ExpressionScope = {
    path,
    params: paramTypes(params),
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
    ...(market.firmNames ? { firmNames: market.firmNames } : {}),
    productNames: market.productNames,
    ...(market.namesUnknown ? { namesUnknown: true } : {}),
    temporal: true,
  };
  // Round counts and priorities depend on parameters only.
  const constantScope: ExpressionScope = {
    path,
    params: paramTypes(params),
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
    let cap: IrExpr | undefined;
    let floor: IrExpr | undefined;
    let suspend = false;
    const transitions: (Omit<IrTransition, 'restorative'> & { restoreFlag: boolean })[] = [];
    let index = 0;
    for (const item of s.items) {
      switch (item.kind) {
        case 'notice':
          notices.push(item.text);
          break;
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
          if (ok) sanctions.push({ sanction: item.sanction, timing: item.timing, amount });
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
          if (!targetOk || !conditionOk || !rounds) break;
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
    const kind = stateKind({ notices, sanctions, cap, floor, suspend }, s.name.name === initial);
    states.push({
      name: s.name.name,
      ...(s.title === undefined ? {} : { title: s.title }),
      kind,
      notices,
      sanctions,
      ...(cap ? { cap } : {}),
      ...(floor ? { floor } : {}),
      suspend,
      transitions: sorted as unknown as IrTransition[],
      range: s.range,
    });
  }

  const institution = markRestorative({
    kind: 'institution',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    scope,
    public: isPublic,
    ...(directive === undefined ? {} : { directive }),
    params,
    monitors,
    rules,
    states,
    ...(initial ? { initial } : {}),
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
function markRestorative(institution: IrInstitution): IrInstitution {
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

function checkOverrides(
  args: readonly Argument[],
  params: readonly IrParam[],
  owner: string,
  path: string,
  reporter: Reporter,
): Record<string, ParamValue> {
  const overrides: Record<string, ParamValue> = Object.create(null);
  for (const arg of args) {
    if (!arg.name) {
      reporter.report(
        'E_ARITY',
        path,
        arg.range,
        `overrides of \`${owner}\` are named: \`(name: value)\``,
      );
      continue;
    }
    const param = params.find((p) => p.name === arg.name?.name);
    if (!param) {
      reporter.report(
        'E_UNKNOWN_PARAM',
        path,
        arg.name.range,
        `\`${owner}\` has no parameter \`${arg.name.name}\``,
        didYouMean(
          arg.name.name,
          params.map((p) => p.name),
        ) ??
          (params.length
            ? `parameters: ${params.map((p) => p.name).join(', ')}`
            : `\`${owner}\` has no parameters`),
      );
      continue;
    }
    const value = literalValue(arg.value);
    if (value === undefined) {
      reporter.report(
        'E_PARAM_TYPE',
        path,
        arg.value.range,
        `the override of \`${param.name}\` must be a literal value`,
      );
      continue;
    }
    const problem = valueFits(param.type, value);
    if (problem) {
      reporter.report(
        'E_PARAM_TYPE',
        path,
        arg.value.range,
        `\`${param.name}\` is ${describeType(param.type)}: ${problem}`,
      );
      continue;
    }
    overrides[param.name] = value;
  }
  return overrides;
}

function checkPolicy(
  policy: { name: Name; args: readonly Argument[] },
  path: string,
  reporter: Reporter,
): IrPolicy {
  const args: { name?: string; value: ParamValue }[] = [];
  for (const arg of policy.args) {
    const value = literalValue(arg.value);
    if (value === undefined) {
      reporter.report('E_TYPE', path, arg.value.range, 'policy arguments must be literal values');
      continue;
    }
    args.push({ ...(arg.name ? { name: arg.name.name } : {}), value });
  }
  return { name: policy.name.name, args };
}

function integerLiteral(
  e: Expr,
  what: string,
  path: string,
  reporter: Reporter,
  minimum: number,
): number | undefined {
  const v = literalValue(e);
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return reporter.report('E_TYPE', path, e.range, `${what} must be a whole number`);
  }
  if (v < minimum)
    return reporter.report('E_VALUE', path, e.range, `${what} must be at least ${minimum}`);
  // Above 2^53 `s++` no longer moves, so a seed range would never end.
  if (!Number.isSafeInteger(v))
    return reporter.report('E_VALUE', path, e.range, `${what} must be at most 2^53 - 1`);
  return v;
}

/** A market named with overrides (`market cournot(firms: 3)`), checked where it is named. */
interface MarketUse {
  /** The world's declaration: a market or an environment. */
  readonly market: Declared<MarketDecl | EnvironmentDecl>;
  readonly ir?: IrWorld;
  readonly overrides: Record<string, ParamValue>;
  /** The firms the overrides imply, when they are sound. */
  readonly firmNames?: string[];
}

/** Markets and environments by name, once checked: the worlds experiments run in. */
export type Worlds = ReadonlyMap<string, IrWorld>;

function checkMarketUse(
  target: Name,
  args: readonly Argument[],
  path: string,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
  role: 'market' | 'environment' = 'market',
  /** A sweep factor's level: a world of the other kind cannot be a level there. */
  inFactor = false,
): MarketUse | undefined {
  const table = role === 'market' ? symbols.markets : symbols.environments;
  const market = table.get(target.name);
  if (!market) {
    const other = role === 'market' ? symbols.environments : symbols.markets;
    if (other.has(target.name))
      return reporter.report(
        'E_UNKNOWN_NAME',
        path,
        target.range,
        `\`${target.name}\` is ${role === 'market' ? 'an environment' : 'a market'}, not ${role === 'market' ? 'a market' : 'an environment'}`,
        inFactor
          ? `the levels of \`${role}\` name ${role}s: a sweep varies worlds of its base experiment's kind`
          : `write \`${role === 'market' ? 'environment' : 'market'} ${target.name}\``,
      );
    return reporter.report(
      'E_UNKNOWN_NAME',
      path,
      target.range,
      `no ${role} \`${target.name}\``,
      didYouMean(target.name, table.keys()) ??
        `${role === 'market' ? 'markets' : 'environments'}: ${[...table.keys()].join(', ')}`,
    );
  }
  const ir = markets.get(market.decl.name.name);
  const overrides = ir
    ? checkOverrides(args, ir.params, market.decl.name.name, path, reporter)
    : {};
  // The overrides decide how many firms there are and must fit them.
  const overrideRange = (param: string) =>
    args.find((a) => a.name?.name === param)?.value.range ?? target.range;
  const firmNames = ir
    ? checkMarketValues(ir, paramValuesOf(ir.params, overrides), path, overrideRange, reporter)
    : undefined;
  return { market, ...(ir ? { ir } : {}), overrides, ...(firmNames ? { firmNames } : {}) };
}

/** An institution named in an experiment or a sweep, and what to check it with. */
interface InstitutionUse {
  readonly name: string;
  /** Where an unknown name is reported. */
  readonly nameRange: Range;
  /** Where an error that only the overrides cause is reported. */
  readonly useRange: Range;
  /** The checked overrides, given the institution's parameters. */
  readonly overrides: (params: readonly IrParam[]) => Record<string, ParamValue>;
  /** Where a list-length problem of a parameter is reported. */
  readonly rangeOf: (param: string) => Range;
}

/**
 * Checks an institution against the market it runs in (its price shape, its firm and
 * product names) and with its overrides (round counts, probabilities). Returns the
 * overrides.
 */
function checkInstitutionUse(
  use: InstitutionUse,
  market: { readonly ir: IrWorld; readonly firmNames?: readonly string[] } | undefined,
  path: string,
  symbols: SymbolTable,
  reporter: Reporter,
): Record<string, ParamValue> {
  const institution = symbols.institutions.get(use.name);
  if (!institution) {
    reporter.report(
      'E_UNKNOWN_NAME',
      path,
      use.nameRange,
      `no institution \`${use.name}\``,
      didYouMean(use.name, symbols.institutions.keys()) ??
        `institutions: ${[...symbols.institutions.keys()].join(', ')}`,
    );
    return {};
  }
  if (!market) return {};
  const { ir: irMarket, firmNames } = market;
  const context: MarketContext = {
    ...worldContext(irMarket),
    ...(firmNames ? { firmNames: new Set(firmNames) } : {}),
  };
  const first = new Reporter();
  const irInstitution = checkInstitution(institution.decl, institution.path, context, first);
  const overrides = irInstitution ? use.overrides(irInstitution.params) : {};
  if (irInstitution && firmNames) {
    reportValueProblems(
      listLengthProblems(irInstitution.params, paramValuesOf(irInstitution.params, overrides), {
        firms: firmNames.length,
        products: irMarket.kind === 'market' ? irMarket.products.length : 1,
      }),
      path,
      use.rangeOf,
      reporter,
    );
  }
  const withOverrides = new Reporter();
  checkInstitution(
    institution.decl,
    institution.path,
    context,
    withOverrides,
    paramValuesOf(irInstitution?.params ?? [], overrides),
  );
  // An error that only the overrides cause is reported at the use.
  const before = new Set(first.diagnostics.map((d) => `${d.range.start.offset}:${d.message}`));
  reporter.diagnostics.push(...first.diagnostics.filter((d) => d.severity === 'error'));
  for (const d of withOverrides.diagnostics) {
    if (d.severity !== 'error' || before.has(`${d.range.start.offset}:${d.message}`)) continue;
    reporter.report(
      d.code,
      path,
      use.useRange,
      `with these overrides, ${use.name}: ${d.message}`,
      `at ${d.path}:${d.range.start.line}:${d.range.start.column}`,
    );
  }
  return overrides;
}

function horizonWord(
  word: Name,
  path: string,
  reporter: Reporter,
): 'known' | 'unknown' | undefined {
  if (word.name === 'known' || word.name === 'unknown') return word.name;
  return reporter.report(
    'E_VALUE',
    path,
    word.range,
    `the horizon is \`known\` or \`unknown\`, not \`${word.name}\``,
    didYouMean(word.name, ['known', 'unknown']) ??
      'known: agents are told the number of rounds; unknown: they are not',
  );
}

function continuationValue(e: Expr, path: string, reporter: Reporter): number | undefined {
  const p = literalValue(e);
  if (typeof p !== 'number')
    return reporter.report('E_TYPE', path, e.range, 'the continuation is a number');
  if (!(p > 0 && p < 1))
    return reporter.report(
      'E_VALUE',
      path,
      e.range,
      `the continuation is a probability strictly between 0 and 1, not ${p}`,
      'after each round the run goes on with this probability',
    );
  return p;
}

function checkExperiment(
  decl: ExperimentDecl,
  path: string,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
): IrExperiment | undefined {
  const uses = (...roles: string[]) =>
    decl.items.filter((i) => i.kind === 'use' && roles.includes(i.role));
  const marketUses = uses('market', 'environment');
  const institutionUses = uses('institution');
  for (const extra of [...marketUses.slice(1), ...institutionUses.slice(1)]) {
    reporter.report(
      'E_DUPLICATE',
      path,
      extra.range,
      'an experiment names one world (a market or an environment) and one institution',
    );
  }
  const marketUse = marketUses[0];
  if (marketUse?.kind !== 'use') {
    return reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `experiment \`${decl.name.name}\` names no market or environment`,
      'add e.g. `market cournot_2x2` or `environment commons`',
    );
  }
  const used = checkMarketUse(
    marketUse.target,
    marketUse.args,
    path,
    symbols,
    markets,
    reporter,
    marketUse.role === 'environment' ? 'environment' : 'market',
  );
  if (!used) return undefined;
  const { market, overrides: marketOverrides, firmNames } = used;

  const first = institutionUses[0];
  const institutionUse = first?.kind === 'use' ? first : undefined;
  const institutionName = institutionUse ? institutionUse.target.name : 'none';
  const institutionOverrides = checkInstitutionUse(
    {
      name: institutionName,
      nameRange: institutionUse ? institutionUse.target.range : decl.name.range,
      useRange: institutionUse ? institutionUse.range : decl.name.range,
      overrides: (params) =>
        institutionUse
          ? checkOverrides(institutionUse.args, params, institutionName, path, reporter)
          : {},
      rangeOf: (param) =>
        institutionUse?.args.find((a) => a.name?.name === param)?.value.range ??
        (institutionUse ? institutionUse.target.range : decl.name.range),
    },
    used.ir ? { ir: used.ir, ...(firmNames ? { firmNames } : {}) } : undefined,
    path,
    symbols,
    reporter,
  );

  let all: IrPolicy | undefined;
  const perFirm: Record<string, IrPolicy> = Object.create(null);
  for (const item of decl.items) {
    if (item.kind !== 'agents') continue;
    if (item.all) {
      if (all)
        reporter.report('E_DUPLICATE', path, item.range, 'the policy of all firms is given twice');
      all = checkPolicy(item.all, path, reporter);
    }
    for (const { firm, policy } of item.perFirm) {
      if (firmNames && !firmNames.includes(firm.name)) {
        reporter.report(
          'E_UNKNOWN_NAME',
          path,
          firm.range,
          `${market.decl.kind} \`${market.decl.name.name}\` has no ${used.ir?.kind === 'environment' ? used.ir.axis : 'firm'} \`${firm.name}\``,
          didYouMean(firm.name, firmNames) ??
            `${used.ir?.kind === 'environment' ? used.ir.axis : 'firm'}s: ${firmNames.join(', ')}`,
        );
        continue;
      }
      if (perFirm[firm.name]) {
        reporter.report(
          'E_DUPLICATE',
          path,
          firm.range,
          `firm \`${firm.name}\` is given two policies`,
        );
        continue;
      }
      perFirm[firm.name] = checkPolicy(policy, path, reporter);
    }
  }
  const twice = {
    rounds: 'the number of rounds is given twice',
    seeds: 'the seeds are given twice; write one `seeds A..B`',
    horizon: 'the horizon is given twice',
    continuation: 'the continuation probability is given twice',
    talk: 'the talk topology is given twice',
  } as const;
  for (const kind of ['rounds', 'seeds', 'horizon', 'continuation', 'talk'] as const) {
    for (const extra of decl.items.filter((i) => i.kind === kind).slice(1))
      reporter.report('E_DUPLICATE', path, extra.range, twice[kind]);
  }

  let rounds: number | undefined;
  let horizon: 'known' | 'unknown' | undefined;
  let continuation: number | undefined;
  let talk: IrPolicy | undefined;
  const seeds: number[] = [];
  for (const item of decl.items) {
    if (item.kind === 'horizon') horizon = horizonWord(item.value, path, reporter);
    if (item.kind === 'talk' && !talk) talk = checkPolicy(item.spec, path, reporter);
    if (item.kind === 'continuation') continuation = continuationValue(item.value, path, reporter);
    if (item.kind === 'rounds')
      rounds = integerLiteral(item.value, 'the number of rounds', path, reporter, 1);
    if (item.kind === 'seeds') {
      const from = integerLiteral(item.from, 'a seed', path, reporter, 0);
      const to = item.to ? integerLiteral(item.to, 'a seed', path, reporter, 0) : from;
      if (from !== undefined && to !== undefined) {
        if (to < from)
          reporter.report('E_VALUE', path, item.range, `the seed range ${from}..${to} is empty`);
        else if (to - from >= 100_000)
          reporter.report('E_VALUE', path, item.range, 'a seed range holds at most 100,000 seeds');
        else for (let s = from; s <= to; s++) seeds.push(s);
      }
    }
  }

  return {
    kind: 'experiment',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    market: {
      name: market.decl.name.name,
      overrides: marketOverrides,
      ...(market.decl.kind === 'environment' ? { kind: 'environment' as const } : {}),
    },
    institution: { name: institutionName, overrides: institutionOverrides },
    agents: { ...(all ? { all } : {}), perFirm },
    ...(rounds === undefined ? {} : { rounds }),
    seeds,
    ...(horizon ? { horizon } : {}),
    ...(continuation === undefined ? {} : { continuation }),
    ...(talk ? { talk } : {}),
  };
}

// ---- sweeps ---------------------------------------------------------------------------------

/** Every form a factor's target takes, for hints. */
const FACTOR_TARGETS = [
  'market',
  'environment',
  'institution',
  'market.PARAM',
  'environment.PARAM',
  'institution.PARAM',
  'agents',
  'agents.FIRM',
  'rounds',
  'memory',
  'talk',
  'horizon',
  'continuation',
] as const;
const TARGET_WORDS = FACTOR_TARGETS.filter((t) => !t.includes('.'));
const DESIGNS = 'designs: `grid`, `random(N)`, `latin_hypercube(N)`';
const GRID_RANGE_HINT =
  'give levels (`= a | b`), or use `design random(N)` / `design latin_hypercube(N)`';

/** What a sweep's factors are checked against: its base experiment, resolved. */
interface SweepBase {
  readonly experiment: IrExperiment;
  readonly market?: IrWorld;
  /** The base's firms, when its market and overrides are sound. */
  readonly firmNames?: string[];
  readonly institutionParams: readonly IrParam[];
}

function sweepBase(experiment: IrExperiment, symbols: SymbolTable, markets: Worlds): SweepBase {
  // The experiment has been checked and has reported its own problems.
  const silent = new Reporter();
  const market = markets.get(experiment.market.name);
  const nowhere = () => ({
    start: { line: 1, column: 1, offset: 0 },
    end: { line: 1, column: 1, offset: 0 },
  });
  const firmNames = market
    ? checkMarketValues(
        market,
        paramValuesOf(market.params, experiment.market.overrides),
        experiment.path,
        nowhere,
        silent,
      )
    : undefined;
  const institution = symbols.institutions.get(experiment.institution.name);
  const institutionParams = institution
    ? checkParams(
        institution.decl.items.filter((i): i is ParamDecl => i.kind === 'param'),
        institution.path,
        silent,
      )
    : [];
  return {
    experiment,
    ...(market ? { market } : {}),
    ...(firmNames ? { firmNames } : {}),
    institutionParams,
  };
}

/** A factor's target, with the parameter it varies (`market.PARAM`, `environment.PARAM`, `institution.PARAM`). */
interface ResolvedTarget {
  readonly target: IrFactorTarget;
  readonly param?: IrParam;
  /** How the target reads in messages: `market.intercept`, `rounds`. */
  readonly text: string;
}

function factorTarget(
  factor: FactorDecl,
  base: SweepBase | undefined,
  path: string,
  reporter: Reporter,
): ResolvedTarget | undefined {
  const word = factor.target.name;
  const member = factor.member;
  const text = member ? `${word}.${member.name}` : word;
  switch (word) {
    case 'market':
    case 'environment':
    case 'institution': {
      if (word !== 'institution' && base && worldKind(base.experiment) !== word) {
        // A sweep varies the world of its base's kind: markets and environments differ in
        // what they declare, what they record and what the results store holds.
        const kind = worldKind(base.experiment);
        return reporter.report(
          'E_SCOPE',
          path,
          factor.target.range,
          `\`${text}\` varies ${word === 'market' ? 'a market' : 'an environment'}, but experiment \`${base.experiment.name}\` runs in ${kind} \`${base.experiment.market.name}\``,
          `write \`factor ${kind}${member ? `.${member.name}` : ''} = …\`; a sweep varies worlds of its base experiment's kind`,
        );
      }
      if (!member) return { target: { kind: word }, text };
      if (!base) return undefined;
      const params = word === 'institution' ? base.institutionParams : base.market?.params;
      if (!params) return undefined;
      const owner =
        word === 'institution' ? base.experiment.institution.name : base.experiment.market.name;
      const param = params.find((p) => p.name === member.name);
      if (!param) {
        return reporter.report(
          'E_UNKNOWN_PARAM',
          path,
          member.range,
          `${word} \`${owner}\` of experiment \`${base.experiment.name}\` has no parameter \`${member.name}\``,
          didYouMean(
            member.name,
            params.map((p) => p.name),
          ) ??
            (params.length
              ? `parameters: ${params.map((p) => p.name).join(', ')}`
              : `\`${owner}\` has no parameters`),
        );
      }
      return { target: { kind: 'param', owner: word, name: param.name }, param, text };
    }
    case 'agents': {
      if (!member) return { target: { kind: 'agents' }, text };
      const firms = base?.firmNames;
      if (base && firms && !firms.includes(member.name)) {
        const agent = base.market?.kind === 'environment' ? base.market.axis : 'firm';
        return reporter.report(
          'E_UNKNOWN_NAME',
          path,
          member.range,
          `${worldKind(base.experiment)} \`${base.experiment.market.name}\` of experiment \`${base.experiment.name}\` has no ${agent} \`${member.name}\``,
          didYouMean(member.name, firms) ?? `${agent}s: ${firms.join(', ')}`,
        );
      }
      return { target: { kind: 'agents', firm: member.name }, text };
    }
    case 'rounds':
    case 'memory':
    case 'talk':
    case 'horizon':
    case 'continuation':
      if (member) {
        return reporter.report(
          'E_UNKNOWN_NAME',
          path,
          member.range,
          `\`${word}\` has no parts to vary; a factor varies \`${word}\` as a whole`,
          `write \`factor ${word} = …\``,
        );
      }
      return { target: { kind: word }, text };
    default:
      return reporter.report(
        'E_UNKNOWN_NAME',
        path,
        factor.target.range,
        `a factor cannot vary \`${text}\``,
        didYouMean(word, TARGET_WORDS) ?? `targets: ${FACTOR_TARGETS.join(', ')}`,
      );
  }
}

/** The kind of world an experiment runs in. */
const worldKind = (experiment: IrExperiment): 'market' | 'environment' =>
  experiment.market.kind === 'environment' ? 'environment' : 'market';

const rangeOfLevel = (level: FactorLevel): Range =>
  level.kind === 'ref' ? level.ref.range : level.value.range;

/** Named override values as policy arguments, in the order written. */
const namedArgs = (overrides: Record<string, ParamValue>): IrPolicy['args'] =>
  Object.entries(overrides).map(([name, value]) => ({ name, value }));

interface SweepScope {
  readonly path: string;
  readonly symbols: SymbolTable;
  readonly markets: Worlds;
  readonly reporter: Reporter;
}

function checkLevel(
  level: FactorLevel,
  resolved: ResolvedTarget,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactorLevel | undefined {
  const { path, symbols, markets, reporter } = scope;
  const { target, text } = resolved;
  const range = rangeOfLevel(level);
  const value = (v: ParamValue | undefined): IrFactorLevel | undefined =>
    v === undefined ? undefined : { kind: 'value', value: v };
  switch (target.kind) {
    case 'market':
    case 'environment': {
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          `a level of \`${target.kind}\` names ${target.kind === 'market' ? 'a market' : 'an environment'}, with overrides if any`,
          target.kind === 'market' ? 'e.g. `cournot(firms: 3)`' : 'e.g. `commons(fishers: 3)`',
        );
      const used = checkMarketUse(
        level.ref.name,
        level.ref.args,
        path,
        symbols,
        markets,
        reporter,
        target.kind,
        true,
      );
      if (!used) return undefined;
      return { kind: 'ref', ref: { name: level.ref.name.name, args: namedArgs(used.overrides) } };
    }
    case 'institution': {
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          'a level of `institution` names an institution, with overrides if any',
          'e.g. `governance_graph(fine_share: 0.5)` or `none`',
        );
      const { ref } = level;
      const overrides = checkInstitutionUse(
        {
          name: ref.name.name,
          nameRange: ref.name.range,
          useRange: ref.range,
          overrides: (params) => checkOverrides(ref.args, params, ref.name.name, path, reporter),
          rangeOf: (param) =>
            ref.args.find((a) => a.name?.name === param)?.value.range ?? ref.range,
        },
        marketOfBase(base),
        path,
        symbols,
        reporter,
      );
      if (!symbols.institutions.has(ref.name.name)) return undefined;
      return { kind: 'ref', ref: { name: ref.name.name, args: namedArgs(overrides) } };
    }
    case 'param': {
      const param = resolved.param;
      if (!param || !base) return undefined;
      const written = level.kind === 'value' ? literalValue(level.value) : undefined;
      if (written === undefined)
        return reporter.report(
          'E_PARAM_TYPE',
          path,
          range,
          `a level of \`${text}\` must be a literal value`,
          param.type.base === 'string' && level.kind === 'ref'
            ? `strings are written in quotes: "${level.ref.name.name}"`
            : undefined,
        );
      const problem = valueFits(param.type, written);
      if (problem)
        return reporter.report(
          'E_PARAM_TYPE',
          path,
          range,
          `\`${param.name}\` is ${describeType(param.type)}: ${problem}`,
        );
      checkParamLevel(target.owner, param.name, written, range, base, scope);
      return value(written);
    }
    case 'agents':
    case 'talk':
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          target.kind === 'talk'
            ? 'a level of `talk` names a topology, with settings if any'
            : `a level of \`${text}\` names a policy, with arguments if any`,
          target.kind === 'talk'
            ? 'e.g. `none`, `ring`, `complete`, `small_world(k: 2, p: 0.1)`'
            : 'e.g. `nash`, `qlearning`, `llm(model: "local")`',
        );
      return { kind: 'ref', ref: checkPolicy(level.ref, path, reporter) };
    case 'horizon': {
      if (level.kind !== 'ref' || level.ref.args.length > 0)
        return reporter.report(
          'E_VALUE',
          path,
          range,
          'a level of `horizon` is `known` or `unknown`',
          'known: agents are told the number of rounds; unknown: they are not',
        );
      return value(horizonWord(level.ref.name, path, reporter));
    }
    case 'rounds':
    case 'memory': {
      const what = target.kind === 'rounds' ? 'the number of rounds' : 'the memory';
      const hint =
        target.kind === 'memory'
          ? 'the past rounds `llm` policies are shown: a whole number (0 = none) or "all"'
          : undefined;
      const written = level.kind === 'value' ? literalValue(level.value) : undefined;
      if (target.kind === 'memory' && written === 'all') return value('all');
      if (level.kind === 'ref' || (typeof written !== 'number' && written !== undefined))
        return reporter.report(
          'E_TYPE',
          path,
          range,
          target.kind === 'memory'
            ? 'the memory is a whole number of rounds or "all"'
            : `${what} must be a whole number`,
          hint,
        );
      return value(
        integerLiteral(level.value, what, path, reporter, target.kind === 'rounds' ? 1 : 0),
      );
    }
    case 'continuation':
      if (level.kind === 'ref')
        return reporter.report('E_TYPE', path, range, 'the continuation is a number');
      return value(continuationValue(level.value, path, reporter));
  }
}

function marketOfBase(
  base: SweepBase | undefined,
): { ir: IrWorld; firmNames?: readonly string[] } | undefined {
  if (!base?.market) return undefined;
  return { ir: base.market, ...(base.firmNames ? { firmNames: base.firmNames } : {}) };
}

/**
 * A parameter level is checked as if the base experiment overrode it: against the firms
 * and products it implies, and (for an institution) by re-checking the institution.
 */
function checkParamLevel(
  owner: 'market' | 'environment' | 'institution',
  name: string,
  written: ParamValue,
  range: Range,
  base: SweepBase,
  scope: SweepScope,
): void {
  const { path, symbols, reporter } = scope;
  const { experiment, market, firmNames } = base;
  // A base that does not check on its own has said so already.
  if (!market || !firmNames) return;
  if (owner !== 'institution') {
    const overrides = { ...experiment.market.overrides, [name]: written };
    checkMarketValues(market, paramValuesOf(market.params, overrides), path, () => range, reporter);
    return;
  }
  checkInstitutionUse(
    {
      name: experiment.institution.name,
      nameRange: range,
      useRange: range,
      overrides: () => ({ ...experiment.institution.overrides, [name]: written }),
      rangeOf: () => range,
    },
    { ir: market, firmNames },
    path,
    symbols,
    reporter,
  );
}

/** The numeric targets a range can be drawn for, and what their ends must be. */
function checkBounds(
  bounds: NonNullable<FactorDecl['bounds']>,
  resolved: ResolvedTarget,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactor['range'] | undefined {
  const { path, reporter } = scope;
  const { target, param, text } = resolved;
  let integer = false;
  let end: (e: Expr) => number | undefined;
  switch (target.kind) {
    case 'rounds':
    case 'memory': {
      integer = true;
      const what = target.kind === 'rounds' ? 'the number of rounds' : 'the memory';
      const minimum = target.kind === 'rounds' ? 1 : 0;
      end = (e) => integerLiteral(e, what, path, reporter, minimum);
      break;
    }
    case 'continuation':
      end = (e) => continuationValue(e, path, reporter);
      break;
    case 'param': {
      if (!param || !base) return undefined;
      if (param.type.base !== 'number' || param.type.axes.length > 0)
        return reporter.report(
          'E_TYPE',
          path,
          bounds.range,
          `\`${param.name}\` is ${describeType(param.type)}; a range draws single numbers`,
          'give levels instead: `= a | b`',
        );
      // The one integer the type system knows of: a world's agent count.
      const firms = base.market?.kind === 'environment' ? base.market.agents : base.market?.firms;
      integer =
        target.owner !== 'institution' &&
        firms !== undefined &&
        'count' in firms &&
        firms.count.op === 'param' &&
        firms.count.name === param.name;
      end = integer
        ? (e) =>
            integerLiteral(
              e,
              `the number of ${base.market?.kind === 'environment' ? `${base.market.axis}s` : 'firms'} (\`${param.name}\`)`,
              path,
              reporter,
              1,
            )
        : (e) => {
            const v = literalValue(e);
            if (typeof v !== 'number')
              return reporter.report('E_TYPE', path, e.range, 'the ends of a range are numbers');
            if (!Number.isFinite(v))
              return reporter.report('E_VALUE', path, e.range, 'the ends of a range are finite');
            return v;
          };
      break;
    }
    default:
      return reporter.report(
        'E_TYPE',
        path,
        bounds.range,
        `\`${text}\` varies over levels, not over a numeric range`,
        `give levels instead: \`factor ${text} = a | b\``,
      );
  }
  const low = end(bounds.low);
  const high = end(bounds.high);
  if (low === undefined || high === undefined) return undefined;
  if (!(low < high))
    return reporter.report(
      'E_VALUE',
      path,
      bounds.range,
      `the range [${low}, ${high}] is empty: its low end must be below its high end`,
      'for a single value, write `= VALUE`',
    );
  if (target.kind === 'param' && base && target.owner === 'institution') {
    // Both ends are checked as levels are (the institution may refuse them, e.g. a round
    // count of 0); a value between them the institution refuses although the ends pass
    // means it takes whole numbers only (a round count): the range draws whole numbers.
    const before = reporter.diagnostics.length;
    checkParamLevel(target.owner, target.name, low, bounds.low.range, base, scope);
    checkParamLevel(target.owner, target.name, high, bounds.high.range, base, scope);
    if (reporter.diagnostics.length > before) return undefined;
    const silent = new Reporter();
    const between = (low + high) / 2 + (Number.isInteger((low + high) / 2) ? 0.5 : 0);
    checkParamLevel(target.owner, target.name, between, bounds.range, base, {
      ...scope,
      reporter: silent,
    });
    // (Ends that are not whole numbers were refused above, as levels.)
    if (silent.diagnostics.some((d) => d.severity === 'error')) integer = true;
  }
  return { low, high, integer };
}

function checkFactor(
  factor: FactorDecl,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactor | undefined {
  const resolved = factorTarget(factor, base, scope.path, scope.reporter);
  if (!resolved) return undefined;
  const name = factorName(factor);
  if (factor.bounds) {
    const range = checkBounds(factor.bounds, resolved, base, scope);
    return range ? { name, target: resolved.target, range } : undefined;
  }
  const levels: IrFactorLevel[] = [];
  const seen = new Set<string>();
  let ok = true;
  for (const level of factor.levels ?? []) {
    const checked = checkLevel(level, resolved, base, scope);
    if (!checked) {
      ok = false;
      continue;
    }
    const key = JSON.stringify(checked, (_, v) => (v === Number.POSITIVE_INFINITY ? 'inf' : v));
    if (seen.has(key)) {
      scope.reporter.report(
        'E_DUPLICATE',
        scope.path,
        rangeOfLevel(level),
        `this level of \`${name}\` is listed twice`,
        'each level is one column value; remove the repeat',
      );
      ok = false;
      continue;
    }
    seen.add(key);
    levels.push(checked);
  }
  return ok ? { name, target: resolved.target, levels } : undefined;
}

/** The column name: as written, or the target with `.` as `_` (`market.intercept` → `market_intercept`). */
function factorName(factor: FactorDecl): string {
  if (factor.name) return factor.name.name;
  return factor.member ? `${factor.target.name}_${factor.member.name}` : factor.target.name;
}

function factorNameRange(factor: FactorDecl): Range {
  if (factor.name) return factor.name.range;
  return { start: factor.target.range.start, end: (factor.member ?? factor.target).range.end };
}

/** Identifies what a target varies, so two factors cannot vary the same thing. */
function targetKey(target: IrFactorTarget): string {
  switch (target.kind) {
    case 'param':
      return `${target.owner}.${target.name}`;
    case 'agents':
      return target.firm === undefined ? 'agents' : `agents.${target.firm}`;
    default:
      return target.kind;
  }
}

function checkDesign(
  design: PolicyRef,
  path: string,
  reporter: Reporter,
): IrSweep['design'] | undefined {
  const name = design.name.name;
  if (name === 'grid') {
    if (design.args.length > 0)
      return reporter.report(
        'E_ARITY',
        path,
        design.range,
        '`grid` takes no arguments: it runs every combination of levels',
        'for a fixed number of points, use `random(N)` or `latin_hypercube(N)`',
      );
    return { kind: 'grid' };
  }
  if (name === 'random' || name === 'latin_hypercube') {
    const [points, ...rest] = design.args;
    if (!points || points.name || rest.length > 0)
      return reporter.report(
        'E_ARITY',
        path,
        design.range,
        `\`${name}\` takes one argument, the number of points`,
        `e.g. \`design ${name}(20)\``,
      );
    const n = integerLiteral(points.value, 'the number of points', path, reporter, 1);
    return n === undefined ? undefined : { kind: name, points: n };
  }
  return reporter.report(
    'E_UNKNOWN_NAME',
    path,
    design.name.range,
    `no design \`${name}\``,
    didYouMean(name, ['grid', 'random', 'latin_hypercube']) ?? DESIGNS,
  );
}

function checkBudget(
  item: Extract<SweepItem, { kind: 'budget' }>,
  path: string,
  reporter: Reporter,
): IrSweep['budget'] | undefined {
  let tokens: number | undefined;
  let cost: number | undefined;
  const seen = new Set<string>();
  for (const limit of item.limits) {
    if (seen.has(limit.limit)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        limit.range,
        `the ${limit.limit === 'tokens' ? 'token' : 'cost'} budget is given twice`,
      );
      continue;
    }
    seen.add(limit.limit);
    if (limit.limit === 'tokens') {
      tokens = integerLiteral(limit.value, 'the token budget', path, reporter, 1);
      continue;
    }
    const v = literalValue(limit.value);
    if (typeof v !== 'number')
      reporter.report('E_TYPE', path, limit.value.range, 'the cost budget is a number');
    else if (!(v > 0 && Number.isFinite(v)))
      reporter.report(
        'E_VALUE',
        path,
        limit.value.range,
        `the cost budget must be a positive number, not ${v}`,
        'leave `cost` out for no limit on cost',
      );
    else cost = v;
  }
  if (tokens === undefined && cost === undefined) return undefined;
  return { ...(tokens === undefined ? {} : { tokens }), ...(cost === undefined ? {} : { cost }) };
}

function checkSweep(
  decl: SweepDecl,
  path: string,
  experiments: ReadonlyMap<string, IrExperiment | undefined>,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
): IrSweep | undefined {
  const scope: SweepScope = { path, symbols, markets, reporter };
  const twice = {
    base: 'a sweep has one base experiment; this is the second',
    design: 'the design is given twice',
    replicates: 'the number of replicates is given twice',
    seed: 'the seed is given twice',
    budget: 'the budget is given twice; write one `budget tokens N cost X`',
  } as const;
  for (const kind of ['base', 'design', 'replicates', 'seed', 'budget'] as const) {
    for (const extra of decl.items.filter((i) => i.kind === kind).slice(1))
      reporter.report('E_DUPLICATE', path, extra.range, twice[kind]);
  }

  const baseItem = decl.items.find((i) => i.kind === 'base');
  let base: SweepBase | undefined;
  if (!baseItem) {
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `sweep \`${decl.name.name}\` names no base experiment`,
      experiments.size > 0
        ? `add \`base NAME\`; experiments: ${[...experiments.keys()].join(', ')}`
        : 'declare an experiment and add `base NAME`',
    );
  } else if (!experiments.has(baseItem.experiment.name)) {
    const name = baseItem.experiment.name;
    reporter.report(
      'E_UNKNOWN_NAME',
      path,
      baseItem.experiment.range,
      `no experiment \`${name}\``,
      didYouMean(name, experiments.keys()) ??
        (experiments.size > 0
          ? `experiments: ${[...experiments.keys()].join(', ')}`
          : 'a sweep varies an experiment declared in the same sources'),
    );
  } else {
    const experiment = experiments.get(baseItem.experiment.name);
    // An experiment that does not check has reported why; its sweep is not checked further.
    if (experiment) base = sweepBase(experiment, symbols, markets);
  }

  const factorDecls = decl.items.filter((i): i is FactorDecl => i.kind === 'factor');
  if (factorDecls.length === 0) {
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `sweep \`${decl.name.name}\` has no factor`,
      'add e.g. `factor agents = nash | qlearning`',
    );
  }
  const factors: IrFactor[] = [];
  const names = new Map<string, string>();
  const targets = new Map<string, string>();
  // Sound range factors, which a grid design cannot enumerate.
  const ranges: [FactorDecl, IrFactor][] = [];
  let factorsOk = true;
  for (const factor of factorDecls) {
    const name = factorName(factor);
    // Result tables tell columns apart without regard to case.
    const folded = name.toLowerCase();
    const other = names.get(folded);
    if (other !== undefined) {
      reporter.report(
        'E_DUPLICATE',
        path,
        factorNameRange(factor),
        other === name
          ? `factor \`${name}\` is declared twice`
          : `factors \`${other}\` and \`${name}\` differ only in case`,
        factor.name
          ? 'rename one of them'
          : `name this one: \`factor NAME: ${factor.member ? `${factor.target.name}.${factor.member.name}` : factor.target.name} …\``,
      );
      factorsOk = false;
      continue;
    }
    names.set(folded, name);
    // Without a base, what needs it (its parameters, its firms) goes unchecked.
    const checked = checkFactor(factor, base, scope);
    if (!checked) {
      factorsOk = false;
      continue;
    }
    const key = targetKey(checked.target);
    const earlier = targets.get(key);
    if (earlier !== undefined) {
      reporter.report(
        'E_DUPLICATE',
        path,
        factor.range,
        `factors \`${earlier}\` and \`${name}\` both vary \`${key}\``,
        'give one factor all the levels',
      );
      factorsOk = false;
      continue;
    }
    targets.set(key, name);
    factors.push(checked);
    if (checked.range) ranges.push([factor, checked]);
  }

  let design: IrSweep['design'] = { kind: 'grid' };
  let replicates = 1;
  let seed = 1;
  let budget: IrSweep['budget'];
  let itemsOk = true;
  let designOk = true;
  const first = new Set<string>();
  for (const item of decl.items) {
    if (item.kind === 'base' || item.kind === 'factor' || first.has(item.kind)) continue;
    first.add(item.kind);
    if (item.kind === 'design') {
      const checked = checkDesign(item.design, path, reporter);
      if (checked) design = checked;
      else designOk = false;
    } else if (item.kind === 'replicates' || item.kind === 'seed') {
      const what = item.kind === 'replicates' ? 'the number of replicates' : 'the seed';
      const n = integerLiteral(
        item.value,
        what,
        path,
        reporter,
        item.kind === 'replicates' ? 1 : 0,
      );
      if (n === undefined) itemsOk = false;
      else if (item.kind === 'replicates') replicates = n;
      else seed = n;
    } else if (item.kind === 'budget') {
      budget = checkBudget(item, path, reporter);
      if (!budget) itemsOk = false;
    }
  }
  const designWritten = decl.items.some((i) => i.kind === 'design');
  if (design.kind === 'grid' && designOk) {
    for (const [factor, checked] of ranges) {
      reporter.report(
        'E_VALUE',
        path,
        factor.bounds?.range ?? factor.range,
        `factor \`${checked.name}\` is a range, which ${designWritten ? 'a grid design' : 'the default design (`grid`)'} cannot enumerate`,
        GRID_RANGE_HINT,
      );
      factorsOk = false;
    }
  }

  if (!base || !factorsOk || !itemsOk || !designOk || factors.length === 0) return undefined;
  const tooLarge = sweepSizeProblem({ factors, design, replicates });
  if (tooLarge)
    return reporter.report(
      'E_VALUE',
      path,
      decl.name.range,
      tooLarge,
      'use fewer levels, points or replicates, or split the study into several sweeps',
    );
  return {
    kind: 'sweep',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    base: base.experiment.name,
    factors,
    design,
    replicates,
    seed,
    ...(budget ? { budget } : {}),
  };
}

// ---- program ----------------------------------------------------------------------------------

/**
 * Phase 2: resolve and check every declaration of the user's files (the library's
 * declarations are in scope and checked only as far as the user's files use them).
 */
export function checkProgram(
  files: readonly SourceFile[],
  library: readonly SourceFile[] = [],
  options: { readonly includeLibrary?: boolean } = {},
): PhaseResult<IrProgram> {
  const reporter = new Reporter();
  const symbols = buildSymbols(files, library, reporter);
  const userPaths = new Set(files.map((f) => f.path));
  const markets = new Map<string, IrWorld>();
  const institutions: IrInstitution[] = [];
  const experiments: IrExperiment[] = [];
  const silent = new Reporter();
  for (const [name, { decl, path }] of symbols.markets) {
    const target = userPaths.has(path) ? reporter : silent;
    const ir = checkMarket(decl, path, target);
    if (ir) markets.set(name, ir);
  }
  for (const [name, { decl, path }] of symbols.environments) {
    const target = userPaths.has(path) ? reporter : silent;
    const ir = checkEnvironment(decl, path, target);
    if (ir) markets.set(name, ir);
  }
  for (const { decl, path } of symbols.institutions.values()) {
    if (!userPaths.has(path) && !options.includeLibrary) continue;
    const ir = checkInstitution(
      decl,
      path,
      standaloneContext(decl, markets),
      userPaths.has(path) ? reporter : silent,
    );
    if (ir) institutions.push(ir);
  }
  // Every experiment of the user's files, by name: a sweep may vary only these.
  const userExperiments = new Map<string, IrExperiment | undefined>();
  for (const { decl, path } of symbols.experiments.values()) {
    if (!userPaths.has(path)) continue;
    const ir = checkExperiment(decl, path, symbols, markets, reporter);
    userExperiments.set(decl.name.name, ir);
    if (ir) experiments.push(ir);
  }
  const sweeps: IrSweep[] = [];
  for (const { decl, path } of symbols.sweeps.values()) {
    if (!userPaths.has(path)) continue;
    const ir = checkSweep(decl, path, userExperiments, symbols, markets, reporter);
    if (ir) sweeps.push(ir);
  }
  return {
    value: {
      // The library's declarations are included when a runner needs what experiments name.
      markets: [...markets.values()].filter(
        (m): m is IrMarket =>
          m.kind === 'market' && (options.includeLibrary === true || userPaths.has(m.path)),
      ),
      environments: [...markets.values()].filter(
        (m): m is IrEnvironment =>
          m.kind === 'environment' && (options.includeLibrary === true || userPaths.has(m.path)),
      ),
      institutions,
      experiments,
      sweeps,
    },
    diagnostics: dedupe(reporter.diagnostics),
  };
}

function dedupe(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.path}:${d.range.start.offset}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export { Reporter };
