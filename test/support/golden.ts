import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { expect } from 'vitest';

/** Set `MASE_UPDATE_GOLDEN=1` to (re)write golden files instead of comparing with them. */
export const UPDATE_GOLDEN_COMMAND = 'MASE_UPDATE_GOLDEN=1 npx vitest run test/golden';

export function updatingGoldens(): boolean {
  return process.env.MASE_UPDATE_GOLDEN === '1';
}

export interface GoldenOptions {
  /** Write instead of compare; defaults to the MASE_UPDATE_GOLDEN flag. */
  readonly update?: boolean;
}

/**
 * Compares `actual` with the content of a golden file. In update mode the file is written
 * (only when it changed, so timestamps stay meaningful); otherwise a missing file is a
 * failure that says how to create it — a golden is never created silently, because an
 * unreviewed golden would approve whatever the code does today.
 */
export function expectGolden(file: string, actual: string, options: GoldenOptions = {}): void {
  const shown = relative(process.cwd(), file) || file;
  if (options.update ?? updatingGoldens()) {
    if (!existsSync(file) || readFileSync(file, 'utf8') !== actual) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, actual);
    }
    return;
  }
  if (!existsSync(file)) {
    throw new Error(
      `golden file ${shown} does not exist; create it with \`${UPDATE_GOLDEN_COMMAND}\` and review it before committing`,
    );
  }
  expect(
    actual,
    `output differs from golden file ${shown}; if the change is intended, re-run \`${UPDATE_GOLDEN_COMMAND}\` and review the diff`,
  ).toBe(readFileSync(file, 'utf8'));
}

/**
 * JSON for golden files: 2-space indent and a final newline. Infinities are written as
 * strings: JSON would turn `inf` into `null`, hiding the difference between `inf` and NaN.
 */
export function goldenJson(value: unknown): string {
  const text = JSON.stringify(
    value,
    (_key, v: unknown) =>
      typeof v === 'number' && !Number.isFinite(v) ? `<${String(v)}>` : (v as unknown),
    2,
  );
  return `${text}\n`;
}
