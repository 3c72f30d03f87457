import { writeFileSync } from 'node:fs';
import type { Compilation, SourceText } from '../../compiler/index.js';
import type { IrInstitution } from '../../compiler/ir.js';
import { diagnosticsJson, renderDiagnostics, summary } from '../../compiler/render-diagnostics.js';
import { EXIT, UsageProblem } from '../errors.js';
import { librarySources, loadProgram } from '../sources.js';

/** Compiles `FILE`s and `stdlib:NAME`s with every file they import; a named file that cannot be read is a SourceError (exit 2). */
export async function compile(
  specs: readonly string[],
): Promise<{ compilation: Compilation; sources: SourceText[] }> {
  const { sources, unreadable } = await loadProgram(specs);
  // The compiler (and its parser generator) loads only when a command needs it.
  const { compileSources } = await import('../../compiler/index.js');
  const { runtimePolicies } = await import('../policy-names.js');
  return {
    compilation: compileSources(sources, librarySources(), {
      policies: runtimePolicies(),
      unreadable,
    }),
    sources,
  };
}

/** Prints diagnostics to stderr (text or JSON) and returns the exit code they imply. */
export function reportDiagnostics(
  compilation: Compilation,
  sources: readonly SourceText[],
  format: 'text' | 'json',
  quietWhenClean = false,
): number {
  const texts = new Map(sources.map((s) => [s.path, s.text]));
  for (const s of librarySources()) texts.set(s.path, s.text);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(diagnosticsJson(compilation.diagnostics), null, 2)}\n`);
  } else if (compilation.diagnostics.length > 0) {
    process.stderr.write(
      `${renderDiagnostics(compilation.diagnostics, texts)}\n\n${summary(compilation.diagnostics)}\n`,
    );
  } else if (!quietWhenClean) {
    process.stderr.write(`${sources.map((s) => s.path).join(', ')}: no problems\n`);
  }
  if (compilation.diagnostics.some((d) => d.code === 'E_INTERNAL')) return EXIT.internal;
  return compilation.ok ? EXIT.ok : EXIT.sourceErrors;
}

/** The compiled sources, or (their errors printed) the exit code to end with; warnings are printed too. */
export async function compiledOrExit(
  specs: string[],
): Promise<{ compilation: Compilation; sources: SourceText[] } | number> {
  const result = await compile(specs);
  if (!result.compilation.ok) return reportDiagnostics(result.compilation, result.sources, 'text');
  if (result.compilation.diagnostics.length > 0)
    reportDiagnostics(result.compilation, result.sources, 'text', true);
  return result;
}

/** The institution `--institution` names in `file` (or its only one), or the exit code its errors imply. */
export async function institutionOrExit(
  file: string,
  wanted: string | undefined,
): Promise<IrInstitution | number> {
  const result = await compiledOrExit([file]);
  if (typeof result === 'number') return result;
  return pick(result.compilation.program.institutions, wanted, 'institution', file);
}

/** The declaration `--KIND NAME` names, or the only one the file declares. */
export function pick<T extends { name: string }>(
  items: readonly T[],
  wanted: string | undefined,
  kind: string,
  file: string,
): T {
  if (wanted !== undefined) {
    const found = items.find((i) => i.name === wanted);
    if (!found) {
      throw new UsageProblem(
        `${file} declares no ${kind} \`${wanted}\`${items.length ? `; it declares: ${items.map((i) => i.name).join(', ')}` : ''}`,
      );
    }
    return found;
  }
  if (items.length === 1) return items[0] as T;
  if (items.length === 0) throw new UsageProblem(`${file} declares no ${kind}`);
  throw new UsageProblem(
    `${file} declares several ${kind}s (${items.map((i) => i.name).join(', ')}); choose one with --${kind}`,
  );
}

/** Writes to stdout, or to the file `-o` names (and says so on stderr). */
export function writeOutput(text: string, out: string | undefined): void {
  if (out === undefined || out === '-') process.stdout.write(text);
  else {
    writeFileSync(out, text);
    process.stderr.write(`wrote ${out}\n`);
  }
}
