import type { Axis } from '../../grammar/ast.js';

/** Shapes and defaults every checker of a declaration kind shares. */
export const DEFAULT_PRODUCT = 'good';
export const SCALAR: readonly Axis[] = [];
export const ANY_SHAPE: readonly (readonly Axis[])[] = [
  SCALAR,
  ['firm'],
  ['product'],
  ['firm', 'product'],
];
