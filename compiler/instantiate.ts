import { constantValue } from './constant.js';
import { compileExpression, type EvaluationEnvironment, paramTensor } from './evaluate.js';
import type { IrExpr, IrMarket, IrParam, IrWorld, ParamValue } from './ir.js';
import { type Dimensions, scalarTensor, type Tensor } from './tensor.js';

/**
 * The agents of a world for given parameter values: declared names, or, for a count, the
 * naming convention: `f1`…`fN` for a market's firms, the axis name and a number for an
 * environment's agents (`fisher1`…`fisherN`).
 */
export function agentNames(
  world: IrWorld,
  params: ReadonlyMap<string, ParamValue> = new Map(world.params.map((p) => [p.name, p.value])),
): string[] {
  const declared = world.kind === 'market' ? world.firms : world.agents;
  if ('names' in declared) return [...declared.names];
  const count = constantValue(declared.count, params);
  const n = count !== undefined && Number.isInteger(count) && count >= 1 ? count : 0;
  const prefix = world.kind === 'market' ? 'f' : world.axis;
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
}

/**
 * Whether `name` can be one of a world's agents whatever its parameters (a declared name,
 * or the convention's prefix and a whole number from 1), and how they are named, for hints.
 */
export function agentNaming(world: IrWorld): {
  readonly fits: (name: string) => boolean;
  readonly named: string;
} {
  const declared = world.kind === 'market' ? world.firms : world.agents;
  if ('names' in declared)
    return { fits: (name) => declared.names.includes(name), named: declared.names.join(', ') };
  const prefix = world.kind === 'market' ? 'f' : world.axis;
  const count = declared.count.op === 'param' ? ` (as many as \`${declared.count.name}\`)` : '';
  return {
    fits: (name) => name.startsWith(prefix) && /^[1-9][0-9]*$/.test(name.slice(prefix.length)),
    named: `${prefix}1, ${prefix}2, …${count}`,
  };
}

/** Firm names of a market (see agentNames). */
export const firmNames = (market: IrMarket, params?: ReadonlyMap<string, ParamValue>): string[] =>
  agentNames(market, params);

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
