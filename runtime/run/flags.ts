import { UsageProblem } from '../errors.js';
import { TRACE_LEVELS, type TraceLevel } from '../trace/events.js';

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

/** A `--trace` level (`TraceLevel`); `fallback` when the flag is not given. */
export function traceLevelFlag(
  flag: string,
  value: string | undefined,
  fallback: TraceLevel,
): TraceLevel {
  if (value === undefined) return fallback;
  if ((TRACE_LEVELS as readonly string[]).includes(value)) return value as TraceLevel;
  throw new UsageProblem(`${flag} takes ${TRACE_LEVELS.join(', ')}, not \`${value}\``);
}
