import { constantValue } from './constant.js';
import { compileExpression, type EvaluationEnvironment, paramTensor } from './evaluate.js';
import type { IrExpr, IrMarket, IrParam, ParamValue } from './ir.js';
import { type Dimensions, scalarTensor, type Tensor } from './tensor.js';

/** Firm names of a market for given parameter values: declared names, or f1…fN for a count. */
export function firmNames(
  market: IrMarket,
  params: ReadonlyMap<string, ParamValue> = new Map(market.params.map((p) => [p.name, p.value])),
): string[] {
  if ('names' in market.firms) return [...market.firms.names];
  const count = constantValue(market.firms.count, params);
  const n = count !== undefined && Number.isInteger(count) && count >= 1 ? count : 0;
  return Array.from({ length: n }, (_, i) => `f${i + 1}`);
}

/** Parameter values: the declared defaults, with any overrides laid over them. */
export function paramValues(
  declared: readonly IrParam[],
  overrides?: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
): Map<string, ParamValue> {
  const values = new Map(declared.map((p) => [p.name, p.value]));
  const entries =
    overrides instanceof Map ? [...overrides.entries()] : Object.entries(overrides ?? {});
  for (const [name, value] of entries) if (values.has(name)) values.set(name, value);
  return values;
}

/**
 * Evaluates a market expression that depends on parameters only (cost, capacity, bounds)
 * for concrete firm and product counts. Anything else it reads is NaN.
 */
export function evaluateStatic(
  expr: IrExpr,
  params: readonly IrParam[],
  values: ReadonlyMap<string, ParamValue>,
  dims: Dimensions,
): Tensor {
  const nan = scalarTensor(Number.NaN);
  const types = new Map(params.map((p) => [p.name, p.type]));
  const env: EvaluationEnvironment = {
    dims,
    param: (name) => {
      const type = types.get(name);
      const value = values.get(name);
      if (!type || value === undefined) return nan;
      const t = paramTensor(type, value, dims);
      return typeof t === 'string' ? nan : t;
    },
    firmIndex: () => -1,
    productIndex: () => -1,
    roundsAvailable: 0,
    observable: () => nan,
    benchmark: () => nan,
    monitor: () => nan,
  };
  return compileExpression(expr)(env);
}

/** The value for firm i and product j of a tensor over any axes. */
export function elementAt(t: Tensor, dims: Dimensions, firm: number, product: number): number {
  if (t.axes.length === 0) return t.data[0] ?? Number.NaN;
  if (t.axes.length === 2) return t.data[firm * dims.products + product] ?? Number.NaN;
  return t.data[t.axes[0] === 'firm' ? firm : product] ?? Number.NaN;
}
