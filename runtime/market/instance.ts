import {
  compileExpression,
  type EvaluationEnvironment,
  paramTensor,
} from '../../compiler/evaluate.js';
import { firmNames, paramValues } from '../../compiler/instantiate.js';
import type { IrMarket, MarketKind, ParamValue } from '../../compiler/ir.js';
import { hhiOf } from '../../compiler/natives.js';
import type { MarketObservableName } from '../../compiler/observables.js';
import { broadcast2, type Dimensions, scalarTensor, type Tensor } from '../../compiler/tensor.js';
import { EXIT, MaseUserError } from '../errors.js';

/**
 * A market with its parameters bound: firm and product names, costs, capacities, action
 * bounds, and `clear`, the pure function from the firms' actions to the round's outcome.
 * Arrays are firm-major (firm × product) Float64Arrays of length firms × products.
 */
export interface MarketInstance {
  /** The declaration this instance binds (its rules are what an LLM firm is told). */
  readonly ir: IrMarket;
  readonly name: string;
  readonly title: string;
  readonly competition: MarketKind;
  readonly firms: readonly string[];
  readonly products: readonly string[];
  readonly dims: Dimensions;
  readonly params: ReadonlyMap<string, ParamValue>;
  /** Unit cost of each firm for each product. */
  readonly unitCost: Float64Array;
  /** `total`: each firm's output summed over products is capped; `per_product`: each entry is capped. */
  readonly capacity:
    | { readonly kind: 'none' }
    | { readonly kind: 'total'; readonly perFirm: Float64Array }
    | { readonly kind: 'per_product'; readonly perEntry: Float64Array };
  /** Bounds of each firm's action for each product. */
  readonly low: Float64Array;
  readonly high: Float64Array;
  /** The round's outcome for the (already valid) actions. Pure. */
  clear(action: Float64Array): Outcome;
}

export interface Outcome {
  /** Quantities sold, firm × product. */
  readonly quantity: Float64Array;
  /** Prices: per product (quantity competition) or firm × product (price competition). */
  readonly price: Float64Array;
  readonly revenue: Float64Array;
  readonly cost: Float64Array;
  /** Profit before fines and credits, per firm. */
  readonly profit: Float64Array;
  /** Total quantity per product. */
  readonly total: Float64Array;
  /** HHI per product (0–10,000). */
  readonly hhi: Float64Array;
  /** Share of each product's total, firm × product. */
  readonly share: Float64Array;
}

/** A market its parameters cannot make (no firms, a parameter out of its range): exit 2. */
export class MarketError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Expands a tensor to a full firm × product array. */
export function fullArray(t: Tensor, dims: Dimensions): Float64Array {
  const shaped = broadcast2(
    t,
    { axes: ['firm', 'product'], data: new Float64Array(dims.firms * dims.products) },
    dims,
    (x) => x,
  );
  return shaped.data;
}

export function instantiateMarket(
  market: IrMarket,
  overrides?: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
): MarketInstance {
  const values = paramValues(market.params, overrides);
  const firms = firmNames(market, values);
  if (firms.length === 0)
    throw new MarketError(`market ${market.name} has no firms with these parameters`);
  const products = market.products;
  const dims: Dimensions = { firms: firms.length, products: products.length };
  const paramTensors = new Map<string, Tensor>();
  for (const p of market.params) {
    const t = paramTensor(p.type, values.get(p.name) ?? p.value, dims);
    if (typeof t === 'string') throw new MarketError(`parameter ${p.name} ${t}`);
    paramTensors.set(p.name, t);
  }
  const nan = scalarTensor(Number.NaN);
  const environment = (action?: Tensor): EvaluationEnvironment => ({
    dims,
    param: (name) => paramTensors.get(name) ?? nan,
    firmIndex: (name) => firms.indexOf(name),
    productIndex: (name) => products.indexOf(name),
    roundsAvailable: 1,
    observable: () => nan,
    benchmark: () => nan,
    monitor: () => nan,
    ...(action ? { action } : {}),
  });
  const staticValue = (e: Parameters<typeof compileExpression>[0]) =>
    fullArray(compileExpression(e)(environment()), dims);

  const unitCost = staticValue(market.cost);
  const low = staticValue(market.action.low);
  const high = staticValue(market.action.high);
  for (let k = 0; k < low.length; k++) {
    if (!((low[k] ?? Number.NaN) <= (high[k] ?? Number.NaN))) {
      const firm = firms[Math.floor(k / dims.products)];
      const product = dims.products > 1 ? ` (${products[k % dims.products]})` : '';
      throw new MarketError(
        `the action bounds of ${firm}${product} are [${low[k]}, ${high[k]}] with these parameters: the lower bound must not exceed the upper`,
      );
    }
  }
  let capacity: MarketInstance['capacity'] = { kind: 'none' };
  if (market.capacity) {
    const t = compileExpression(market.capacity)(environment());
    // A per-firm (or single) capacity is a total across products; other shapes cap each entry.
    if (t.axes.every((a) => a === 'firm')) {
      const perFirm = new Float64Array(dims.firms);
      for (let i = 0; i < dims.firms; i++)
        perFirm[i] = t.axes.length === 0 ? (t.data[0] ?? Infinity) : (t.data[i] ?? Infinity);
      capacity = { kind: 'total', perFirm };
    } else capacity = { kind: 'per_product', perEntry: fullArray(t, dims) };
  }

  const priceFn = market.price ? compileExpression(market.price) : undefined;
  const demandFn = market.demand ? compileExpression(market.demand) : undefined;
  const F = dims.firms;
  const P = dims.products;

  const clear = (action: Float64Array): Outcome => {
    const actionTensor: Tensor = { axes: ['firm', 'product'], data: action };
    let quantity: Float64Array;
    let price: Float64Array;
    if (market.competition === 'quantity' && priceFn) {
      quantity = Float64Array.from(action);
      const p = priceFn(environment(actionTensor));
      price = new Float64Array(P);
      for (let j = 0; j < P; j++)
        price[j] = p.axes.length === 0 ? (p.data[0] ?? 0) : (p.data[j] ?? 0);
    } else if (demandFn) {
      price = Float64Array.from(action);
      quantity = fullArray(demandFn(environment(actionTensor)), dims);
    } else throw new MarketError(`market ${market.name} has no clearing function`);
    const revenue = new Float64Array(F);
    const cost = new Float64Array(F);
    const profit = new Float64Array(F);
    const total = new Float64Array(P);
    for (let i = 0; i < F; i++) {
      for (let j = 0; j < P; j++) {
        const k = i * P + j;
        const q = quantity[k] ?? 0;
        const unitPrice = market.competition === 'quantity' ? (price[j] ?? 0) : (price[k] ?? 0);
        revenue[i] = (revenue[i] ?? 0) + unitPrice * q;
        cost[i] = (cost[i] ?? 0) + (unitCost[k] ?? 0) * q;
        total[j] = (total[j] ?? 0) + q;
      }
      profit[i] = (revenue[i] ?? 0) - (cost[i] ?? 0);
    }
    const hhi = new Float64Array(P);
    const share = new Float64Array(F * P);
    const column = new Float64Array(F);
    for (let j = 0; j < P; j++) {
      for (let i = 0; i < F; i++) {
        column[i] = quantity[i * P + j] ?? 0;
        share[i * P + j] = (total[j] ?? 0) > 0 ? (quantity[i * P + j] ?? 0) / (total[j] ?? 1) : 0;
      }
      hhi[j] = hhiOf(column);
    }
    return { quantity, price, revenue, cost, profit, total, hhi, share };
  };

  return {
    ir: market,
    name: market.name,
    title: market.title,
    competition: market.competition,
    firms,
    products,
    dims,
    params: values,
    unitCost,
    capacity,
    low,
    high,
    clear,
  };
}

/** A name no case handled: `never` at compile time, an unknown name (undefined) at run time. */
const exhaustive = (_name: never): undefined => undefined;

/**
 * A market observable of one round's outcome by name (compiler/observables.ts names and
 * types them), as a tensor; undefined for a name the outcome does not provide. The switch
 * covers every name of that table, or this does not compile; `round` and `messages` come
 * from the round loop (RoundObservables, runtime/run/institution.ts), not from the outcome.
 */
export function marketObservable(
  market: MarketInstance,
  outcome: Outcome,
  name: string,
): Tensor | undefined {
  const fp = (data: Float64Array): Tensor => ({ axes: ['firm', 'product'], data });
  const key = name as MarketObservableName;
  switch (key) {
    case 'quantity':
      return fp(outcome.quantity);
    case 'price':
      return market.competition === 'quantity'
        ? { axes: ['product'], data: outcome.price }
        : fp(outcome.price);
    case 'profit':
      return { axes: ['firm'], data: outcome.profit };
    case 'revenue':
      return { axes: ['firm'], data: outcome.revenue };
    case 'unit_cost':
      return fp(market.unitCost);
    case 'share':
      return fp(outcome.share);
    case 'total':
      return { axes: ['product'], data: outcome.total };
    case 'hhi':
      return { axes: ['product'], data: outcome.hhi };
    case 'n_firms':
      return scalarTensor(market.dims.firms);
    case 'n_products':
      return scalarTensor(market.dims.products);
    case 'round':
    case 'messages':
      return undefined;
    default:
      // `key` is `never` here only while every name of the table has its case above.
      return exhaustive(key);
  }
}
