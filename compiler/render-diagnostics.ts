import type { Diagnostic } from '../grammar/diagnostics.js';

/**
 * Diagnostics as text for people (`path:line:col: severity CODE message`, an excerpt with
 * carets, a hint) or as JSON for tools. Rendering is kept apart from the diagnostic values.
 */

// Never echo characters that could move the cursor or reorder text in a terminal.
const unsafe =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/g;
const safe = (s: string) => s.replace(unsafe, '?');

export function renderDiagnostic(d: Diagnostic, source: string | undefined): string {
  const { line, column } = d.range.start;
  const head = `${safe(d.path)}:${line}:${column}: ${d.severity} ${d.code} ${safe(d.message)}`;
  const out = [head];
  if (source !== undefined) {
    const lines = source.split('\n');
    const text = lines[line - 1];
    if (text !== undefined) {
      const shown = safe(text.replace(/\t/g, ' ').replace(/\r$/, ''));
      const gutter = String(line).length;
      const endColumn = d.range.end.line === line ? d.range.end.column : shown.length + 1;
      const width = Math.max(1, endColumn - column);
      out.push(`${' '.repeat(gutter)} |`);
      out.push(`${line} | ${shown}`);
      out.push(
        `${' '.repeat(gutter)} | ${' '.repeat(Math.max(0, column - 1))}${'^'.repeat(width)}`,
      );
    }
  }
  if (d.hint) out.push(`  hint: ${safe(d.hint)}`);
  return out.join('\n');
}

export function renderDiagnostics(
  diagnostics: readonly Diagnostic[],
  sources: ReadonlyMap<string, string>,
): string {
  return diagnostics.map((d) => renderDiagnostic(d, sources.get(d.path))).join('\n\n');
}

export function diagnosticsJson(diagnostics: readonly Diagnostic[]): object[] {
  return diagnostics.map((d) => ({
    path: d.path,
    line: d.range.start.line,
    column: d.range.start.column,
    endLine: d.range.end.line,
    endColumn: d.range.end.column,
    severity: d.severity,
    code: d.code,
    message: d.message,
    ...(d.hint ? { hint: d.hint } : {}),
  }));
}

export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      a.path.localeCompare(b.path) ||
      a.range.start.offset - b.range.start.offset ||
      a.code.localeCompare(b.code),
  );
}

export function summary(diagnostics: readonly Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const part = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${part(errors, 'error')}, ${part(warnings, 'warning')}`;
}
