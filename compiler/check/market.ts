// Checking `market` declarations into IrMarket, and a market's values under overrides.

import type { Axis, Expr, MarketDecl, Name, ParamDecl, Range } from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import { paramMap } from '../constant.js';
import { ExpressionChecker, type ExpressionScope, expectType } from '../expressions.js';
import type {
  IrEnvironment,
  IrExpr,
  IrMarket,
  IrParam,
  IrWorld,
  MarketKind,
  ParamValue,
} from '../ir.js';
import { observablesFor } from '../observables.js';
import { marketValueProblems, type ValueProblem } from '../param-values.js';
import type { ValueType } from '../types.js';
import { checkObserve, checkParams, paramTypes, type Reporter, rejectedParams } from './common.js';

import { ANY_SHAPE, DEFAULT_PRODUCT, SCALAR } from './shapes.js';

export interface MarketContext {
  readonly competition: MarketKind;
  /** The environment an institution governs, when it governs one rather than a market. */
  readonly environment?: IrEnvironment;
  /** No market yet (an institution checked on its own): names are checked later. */
  readonly namesUnknown?: boolean;
  readonly firmNames?: ReadonlySet<string>;
  readonly productNames: ReadonlySet<string>;
}

export function checkMarket(
  decl: MarketDecl,
  path: string,
  reporter: Reporter,
): IrMarket | undefined {
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
    paramValues: paramMap(params),
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

export function paramValuesOf(
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
export function checkMarketValues(
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
export function reportValueProblems(
  problems: readonly ValueProblem[],
  path: string,
  rangeOf: (param: string) => Range,
  reporter: Reporter,
): void {
  for (const p of problems) reporter.report(p.code, path, rangeOf(p.param ?? ''), p.message);
}

// ---- institutions ---------------------------------------------------------------------------
