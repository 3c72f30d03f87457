import { UsageProblem } from '../errors.js';

/**
 * A whole-number flag: plain decimal digits only (no sign, space, exponent, fraction or
 * `0x`), at least `least` and at most 2^53 − 1, the largest integer a double holds exactly.
 * Every whole-number flag of the CLI reads through this.
 */
export function wholeNumber(flag: string, value: string, least = 0): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < least)
    throw new UsageProblem(
      `${flag} takes a whole number ≥ ${least}, not \`${value}\` (decimal digits only, at most 2^53 - 1)`,
    );
  return n;
}
