import type { Axis } from '../grammar/ast.js';

/**
 * The static type of an expression: a base kind and the axes it varies over.
 * `axes` is always in canonical order (firm before product); `[]` is a scalar.
 */
export type BaseType = 'number' | 'bool' | 'string' | 'state';
export interface ValueType {
  readonly base: BaseType;
  readonly axes: readonly Axis[];
  /**
   * An option parameter's options (`param payment: one of "first", "second"`): its base is
   * `string`, it compares with `==`/`!=` against these strings only, and it runs as the
   * option's index (0, 1, …) in declaration order.
   */
  readonly options?: readonly string[];
  /**
   * A list parameter (`param schedule: list = [0.35, 0.75, 1]`): a list of `base` values read
   * by position (`schedule[1]`, from 1); it has no axes and is never a value on its own.
   */
  readonly list?: true;
}

export const AXES: readonly Axis[] = ['firm', 'product'];

export function canonicalAxes(axes: Iterable<Axis>): Axis[] {
  const set = new Set(axes);
  return AXES.filter((a) => set.has(a));
}

export const scalar = (base: BaseType): ValueType => ({ base, axes: [] });
export const number: ValueType = scalar('number');
export const bool: ValueType = scalar('bool');
export const string: ValueType = scalar('string');
export const typeOf = (base: BaseType, ...axes: Axis[]): ValueType => ({
  base,
  axes: canonicalAxes(axes),
});

export function unionAxes(a: readonly Axis[], b: readonly Axis[]): Axis[] {
  return canonicalAxes([...a, ...b]);
}

export function sameAxes(a: readonly Axis[], b: readonly Axis[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** "a number", "a per-firm number", "a firm × product bool", … — used in every type message. */
/** A type in words; `agentAxis` names the agent axis (`fisher` in an environment; `firm` by default). */
export function describeType(t: ValueType, agentAxis = 'firm'): string {
  const axis = (a: string | undefined) => (a === 'firm' ? agentAxis : (a ?? ''));
  const shape =
    t.axes.length === 0
      ? ''
      : t.axes.length === 2
        ? `${axis('firm')} × product `
        : `per-${axis(t.axes[0])} `;
  if (t.list) return `a list of ${t.base === 'bool' ? 'true/false values' : `${t.base}s`}`;
  const base =
    t.base === 'bool'
      ? 'true/false value'
      : t.base === 'state'
        ? 'state name'
        : t.options
          ? `string, one of ${describeOptions(t.options)}`
          : t.base;
  const article = shape === '' && t.base !== 'number' ? 'a ' : shape === '' ? 'a ' : 'a ';
  return `${article}${shape}${base}`;
}

/** `"first", "second"`: an option parameter's options as written. */
export function describeOptions(options: readonly string[]): string {
  return options.map((o) => JSON.stringify(o)).join(', ');
}

export function describeAxes(axes: readonly Axis[], agentAxis = 'firm'): string {
  const axis = (a: string | undefined) => (a === 'firm' ? agentAxis : (a ?? ''));
  return axes.length === 0
    ? 'a single value'
    : axes.length === 2
      ? `${axis('firm')} × product`
      : `per ${axis(axes[0])}`;
}
