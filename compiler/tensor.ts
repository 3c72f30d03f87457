import type { Axis } from '../grammar/ast.js';
import { canonicalAxes } from './types.js';

/**
 * A value at run time: numbers (booleans as 0/1) over named axes, firm-major.
 * Dimensions are the market's firm and product counts; a scalar has one element.
 */
export interface Tensor {
  readonly axes: readonly Axis[];
  readonly data: Float64Array;
}

export interface Dimensions {
  readonly firms: number;
  readonly products: number;
}

export function scalarTensor(value: number): Tensor {
  return { axes: [], data: Float64Array.of(value) };
}

export function sizeOf(axes: readonly Axis[], dims: Dimensions): number {
  let n = 1;
  for (const a of axes) n *= a === 'firm' ? dims.firms : dims.products;
  return n;
}

/** Builds a tensor from nested arrays: number, number[] (one axis), number[][] (firm × product). */
export function tensorFrom(
  axes: readonly Axis[],
  value: number | readonly number[] | readonly (readonly number[])[],
): Tensor {
  if (typeof value === 'number') return { axes, data: Float64Array.of(value) };
  const flat: number[] = [];
  for (const row of value) {
    if (typeof row === 'number') flat.push(row);
    else flat.push(...row);
  }
  return { axes, data: Float64Array.from(flat) };
}

/** Element offset of (firm i, product j) in a tensor with the given axes. */
function offsetOf(axes: readonly Axis[], dims: Dimensions, i: number, j: number): number {
  if (axes.length === 0) return 0;
  if (axes.length === 2) return i * dims.products + j;
  return axes[0] === 'firm' ? i : j;
}

export function broadcast2(
  a: Tensor,
  b: Tensor,
  dims: Dimensions,
  f: (x: number, y: number) => number,
): Tensor {
  if (a.axes.length === 0 && b.axes.length === 0) {
    return { axes: [], data: Float64Array.of(f(a.data[0] ?? 0, b.data[0] ?? 0)) };
  }
  const axes = canonicalAxes([...a.axes, ...b.axes]);
  const hasFirm = axes.includes('firm');
  const hasProduct = axes.includes('product');
  const nf = hasFirm ? dims.firms : 1;
  const np = hasProduct ? dims.products : 1;
  const out = new Float64Array(nf * np);
  let k = 0;
  for (let i = 0; i < nf; i++) {
    for (let j = 0; j < np; j++) {
      out[k++] = f(
        a.data[offsetOf(a.axes, dims, i, j)] ?? 0,
        b.data[offsetOf(b.axes, dims, i, j)] ?? 0,
      );
    }
  }
  return { axes, data: out };
}

export function map1(a: Tensor, f: (x: number) => number): Tensor {
  const out = new Float64Array(a.data.length);
  for (let k = 0; k < out.length; k++) out[k] = f(a.data[k] ?? 0);
  return { axes: a.axes, data: out };
}

/**
 * Groups elements along the reduced axes and folds each group with `reduce`.
 * `over` lists the axes that disappear; the rest are kept.
 */
export function reduceOver(
  a: Tensor,
  over: readonly Axis[],
  dims: Dimensions,
  reduce: (values: Float64Array) => number,
): Tensor {
  const kept = a.axes.filter((x) => !over.includes(x));
  if (kept.length === a.axes.length) {
    // Nothing to reduce along: each element is its own group.
    return map1(a, (x) => reduce(Float64Array.of(x)));
  }
  if (kept.length === 0) return { axes: [], data: Float64Array.of(reduce(a.data)) };
  // One of two axes kept.
  const keep = kept[0] as Axis;
  const nKeep = keep === 'firm' ? dims.firms : dims.products;
  const nDrop = keep === 'firm' ? dims.products : dims.firms;
  const out = new Float64Array(nKeep);
  const group = new Float64Array(nDrop);
  for (let k = 0; k < nKeep; k++) {
    for (let d = 0; d < nDrop; d++) {
      group[d] = a.data[keep === 'firm' ? k * dims.products + d : d * dims.products + k] ?? 0;
    }
    out[k] = reduce(group);
  }
  return { axes: kept, data: out };
}

// ---- shape-specialised forms -----------------------------------------------------------
// When the axes of the operands and the market's dimensions are known before a run (as
// an institution's are when it is instantiated), the index arithmetic of broadcasting and
// reducing is worked out once, and the result is written into one tensor made in advance:
// the functions below return that same tensor on every call, so it is valid until the
// next call. Operands with other axes than announced go through the general function.

/** Whether a tensor has exactly these axes (axes are canonical: firm before product). */
export function hasAxes(t: Tensor, axes: readonly Axis[]): boolean {
  return t.axes.length === axes.length && (axes.length === 0 || t.axes[0] === axes[0]);
}

/** For each element of a tensor with axes `to`, its offset in a tensor with axes `from` ⊆ `to`. */
function broadcastOffsets(
  from: readonly Axis[],
  to: readonly Axis[],
  dims: Dimensions,
): Int32Array {
  const nf = to.includes('firm') ? dims.firms : 1;
  const np = to.includes('product') ? dims.products : 1;
  const offsets = new Int32Array(nf * np);
  let k = 0;
  for (let i = 0; i < nf; i++)
    for (let j = 0; j < np; j++) offsets[k++] = offsetOf(from, dims, i, j);
  return offsets;
}

/** `broadcast2` for operands of axes `aAxes` and `bAxes`, into one reused tensor. */
export function broadcast2Into(
  aAxes: readonly Axis[],
  bAxes: readonly Axis[],
  dims: Dimensions,
  f: (x: number, y: number) => number,
): (a: Tensor, b: Tensor) => Tensor {
  const axes = canonicalAxes([...aAxes, ...bAxes]);
  const ia = broadcastOffsets(aAxes, axes, dims);
  const ib = broadcastOffsets(bAxes, axes, dims);
  const out: Tensor = { axes, data: new Float64Array(ia.length) };
  const data = out.data;
  return (a, b) => {
    if (!hasAxes(a, aAxes) || !hasAxes(b, bAxes)) return broadcast2(a, b, dims, f);
    const ad = a.data;
    const bd = b.data;
    for (let k = 0; k < data.length; k++)
      data[k] = f(ad[ia[k] as number] ?? 0, bd[ib[k] as number] ?? 0);
    return out;
  };
}

/** `map1` for an operand of axes `axes`, into one reused tensor. */
export function map1Into(
  axes: readonly Axis[],
  dims: Dimensions,
  f: (x: number) => number,
): (a: Tensor) => Tensor {
  const out: Tensor = { axes, data: new Float64Array(sizeOf(axes, dims)) };
  const data = out.data;
  return (a) => {
    if (!hasAxes(a, axes)) return map1(a, f);
    const ad = a.data;
    for (let k = 0; k < data.length; k++) data[k] = f(ad[k] ?? 0);
    return out;
  };
}

/**
 * `reduceOver(a, over, …)` for an operand of axes `axes`, into one reused tensor;
 * `general` evaluates operands of other axes. Undefined when nothing is reduced (each
 * element its own group: rare, left to `reduceOver`).
 */
export function reduceInto(
  axes: readonly Axis[],
  over: readonly Axis[],
  dims: Dimensions,
  reduce: (values: Float64Array) => number,
  general: (a: Tensor) => Tensor,
): ((a: Tensor) => Tensor) | undefined {
  const kept = axes.filter((x) => !over.includes(x));
  if (kept.length === axes.length) return undefined;
  if (kept.length === 0) {
    const out: Tensor = { axes: [], data: new Float64Array(1) };
    return (a) => {
      if (!hasAxes(a, axes)) return general(a);
      (out.data as Float64Array)[0] = reduce(a.data);
      return out;
    };
  }
  const keep = kept[0] as Axis;
  const nKeep = keep === 'firm' ? dims.firms : dims.products;
  const nDrop = keep === 'firm' ? dims.products : dims.firms;
  const from = new Int32Array(nKeep * nDrop);
  for (let k = 0; k < nKeep; k++)
    for (let d = 0; d < nDrop; d++)
      from[k * nDrop + d] = keep === 'firm' ? k * dims.products + d : d * dims.products + k;
  const out: Tensor = { axes: kept, data: new Float64Array(nKeep) };
  const data = out.data;
  const group = new Float64Array(nDrop);
  return (a) => {
    if (!hasAxes(a, axes)) return general(a);
    const ad = a.data;
    for (let k = 0; k < nKeep; k++) {
      for (let d = 0; d < nDrop; d++) group[d] = ad[from[k * nDrop + d] as number] ?? 0;
      data[k] = reduce(group);
    }
    return out;
  };
}

/** A tensor of its own: a copy of one a shape-specialised function may overwrite. */
export function copyTensor(a: Tensor): Tensor {
  return { axes: a.axes, data: new Float64Array(a.data) };
}

/** Selects one position along an axis, removing it. */
export function select(a: Tensor, axis: Axis, position: number, dims: Dimensions): Tensor {
  if (!a.axes.includes(axis)) return a;
  if (a.axes.length === 1)
    return { axes: [], data: Float64Array.of(a.data[position] ?? Number.NaN) };
  const kept: Axis[] = [axis === 'firm' ? 'product' : 'firm'];
  const n = axis === 'firm' ? dims.products : dims.firms;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    out[k] =
      a.data[axis === 'firm' ? position * dims.products + k : k * dims.products + position] ??
      Number.NaN;
  }
  return { axes: kept, data: out };
}

export function scalarValue(a: Tensor): number {
  return a.data[0] ?? Number.NaN;
}

/** Nested plain arrays, for traces and tests. */
export function toPlain(a: Tensor, dims: Dimensions): number | number[] | number[][] {
  if (a.axes.length === 0) return a.data[0] ?? Number.NaN;
  if (a.axes.length === 1) return Array.from(a.data);
  const rows: number[][] = [];
  for (let i = 0; i < dims.firms; i++)
    rows.push(Array.from(a.data.subarray(i * dims.products, (i + 1) * dims.products)));
  return rows;
}

// ---- statistics shared by natives and metrics ---------------------------------------------
export function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] ?? 0;
  return s;
}
export function mean(values: ArrayLike<number>): number {
  return values.length === 0 ? Number.NaN : sum(values) / values.length;
}
/** Population standard deviation. */
export function std(values: ArrayLike<number>): number {
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += ((values[i] ?? 0) - m) ** 2;
  return values.length === 0 ? Number.NaN : Math.sqrt(s / values.length);
}
/** Coefficient of variation (population std / mean); 0 when the mean is 0. */
export function cv(values: ArrayLike<number>): number {
  const m = mean(values);
  return m === 0 ? 0 : std(values) / m;
}

/**
 * The Gini coefficient of non-negative values: the mean absolute difference over all
 * ordered pairs divided by twice the mean, Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄); 0 when all are
 * equal or the mean is 0. Computed from the sorted values as Σᵢ (2i − n − 1) x₍ᵢ₎ / (n² x̄).
 */
export function gini(values: ArrayLike<number>): number {
  const n = values.length;
  const m = mean(values);
  if (n === 0 || m === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  let acc = 0;
  for (let i = 0; i < n; i++) acc += (2 * (i + 1) - n - 1) * (sorted[i] ?? 0);
  return acc / (n * n * m);
}

/**
 * The second-largest value, counting repeats ([5, 5, 3] gives 5, the price a second-price
 * auction charges when two top bids tie); the only value when there is one; NaN when empty.
 */
export function secondMax(values: ArrayLike<number>): number {
  let first = Number.NEGATIVE_INFINITY;
  let second = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) {
    const x = values[i] ?? Number.NaN;
    if (Number.isNaN(x)) return Number.NaN;
    if (x > first) {
      second = first;
      first = x;
    } else if (x > second) second = x;
  }
  if (values.length === 0) return Number.NaN;
  return values.length === 1 ? first : second;
}

/**
 * For each element, the sum of the values served before it when elements are served in
 * ascending order of `keys`: ties go to the lower index, and NaN keys come last (in index
 * order), so the order is total. Element i gets Σ values[j] over the j ahead of it — the
 * stock already taken when i is served in random-order rationing.
 */
export function sumBefore(values: ArrayLike<number>, keys: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    const ka = keys[a] ?? Number.NaN;
    const kb = keys[b] ?? Number.NaN;
    const nanA = Number.isNaN(ka);
    if (nanA !== Number.isNaN(kb)) return nanA ? 1 : -1;
    // Equal keys (and two infinities of one sign, whose difference is NaN) keep index order.
    return ka - kb || a - b;
  });
  const out = new Float64Array(n);
  let before = 0;
  for (const i of order) {
    out[i] = before;
    before += values[i] ?? 0;
  }
  return out;
}

/**
 * `sumBefore` along one axis of `x`, with `keys` (axes ⊆ x's) broadcast to x's shape: each
 * line along `axis` (the other axis fixed) is ordered and summed on its own.
 */
export function sumBeforeAlong(x: Tensor, keys: Tensor, axis: Axis, dims: Dimensions): Tensor {
  const key = broadcast2(keys, x, dims, (k) => k);
  const line = axis === 'firm' ? dims.firms : dims.products;
  const lines = x.data.length / line;
  // Firm-major layout: along firms the stride is the product count (when x has products).
  const stride = axis === 'firm' && x.axes.length === 2 ? dims.products : 1;
  const along = axis === 'product' ? line : 1;
  const out = new Float64Array(x.data.length);
  const values = new Float64Array(line);
  const order = new Float64Array(line);
  for (let l = 0; l < lines; l++) {
    const start = axis === 'firm' ? l : l * along;
    for (let k = 0; k < line; k++) {
      values[k] = x.data[start + k * stride] ?? 0;
      order[k] = key.data[start + k * stride] ?? Number.NaN;
    }
    const sums = sumBefore(values, order);
    for (let k = 0; k < line; k++) out[start + k * stride] = sums[k] ?? 0;
  }
  return { axes: x.axes, data: out };
}

export function broadcast3(
  a: Tensor,
  b: Tensor,
  c: Tensor,
  dims: Dimensions,
  f: (x: number, y: number, z: number) => number,
): Tensor {
  const axes = canonicalAxes([...a.axes, ...b.axes, ...c.axes]);
  const nf = axes.includes('firm') ? dims.firms : 1;
  const np = axes.includes('product') ? dims.products : 1;
  const out = new Float64Array(nf * np);
  let k = 0;
  for (let i = 0; i < nf; i++) {
    for (let j = 0; j < np; j++) {
      out[k++] = f(
        a.data[offsetOf(a.axes, dims, i, j)] ?? 0,
        b.data[offsetOf(b.axes, dims, i, j)] ?? 0,
        c.data[offsetOf(c.axes, dims, i, j)] ?? 0,
      );
    }
  }
  return { axes, data: out };
}

/**
 * Truth of a number used as a true/false value. NaN (an unknown, e.g. `lag` before the
 * first round) counts as false, as comparisons with NaN are false.
 */
export function truthy(x: number): boolean {
  return x !== 0 && !Number.isNaN(x);
}
