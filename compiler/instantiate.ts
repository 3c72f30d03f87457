import { constantValue } from './constant.js';
import type { IrMarket, ParamValue } from './ir.js';

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
