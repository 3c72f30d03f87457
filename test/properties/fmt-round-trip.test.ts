import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileSources,
  formatSource,
  type IrInstitution,
  manifestText,
  type SourceText,
} from '../../compiler/index.js';
import { parse } from '../../grammar/index.js';
import { stdlibSources } from '../../runtime/index.js';
import { stripRanges } from '../support/ast.js';
import { runs } from './institution-arbitrary.js';
import {
  constructs,
  type GeneratedProgram,
  programArbitrary,
  stdlibEntries,
} from './program-arbitrary.js';

/**
 * `mase fmt` (formatSource over a parse, runtime/cli/commands/fmt.ts) on whole generated
 * programs that use every construct of issue 14 together, each file formatted on its own
 * as fmt does: the output parses and checks with the same diagnostics, formatting it again
 * changes nothing, and it means the same program (the same AST and the same checked IR,
 * source positions aside; the same manifest).
 */

// Only the entries the programs name, so that each compile parses 4 stdlib files, not all.
const library = stdlibSources().filter((s) =>
  parse(s.path, s.text).value.declarations.some((d) =>
    (stdlibEntries as readonly string[]).includes(d.name.name),
  ),
);

const fmt = (file: SourceText): string => {
  const parsed = parse(file.path, file.text);
  expect(parsed.diagnostics, `${file.path} does not parse:\n${file.text}`).toEqual([]);
  return formatSource(parsed.value);
};

/** Diagnostics as a reader sees them, without where they are (formatting moves text). */
const diagnostics = (files: readonly SourceText[]) => {
  const compiled = compileSources(files, library);
  return {
    compiled,
    listed: compiled.diagnostics.map(
      (d) => `${d.path} ${d.severity} ${d.code} ${d.message} (${d.hint ?? ''})`,
    ),
  };
};

function assertRoundTrip(program: GeneratedProgram): void {
  const before = diagnostics(program.files);
  // The generator writes valid programs: a property over rejected input would test little.
  expect(
    before.listed.filter((d) => / error /.test(d)),
    program.files.map((f) => `==== ${f.path}\n${f.text}`).join('\n'),
  ).toEqual([]);

  const formatted = program.files.map((f) => ({ path: f.path, text: fmt(f) }));
  for (const [i, f] of formatted.entries()) {
    // (b) idempotent
    expect(fmt(f), `fmt is not a fixed point on ${f.path}`).toBe(f.text);
    // The same AST, positions and comments aside: every parenthesis the user wrote is kept.
    const source = program.files[i] as SourceText;
    expect(stripRanges(parse(f.path, f.text).value)).toEqual(
      stripRanges(parse(source.path, source.text).value),
    );
  }

  // (a) the formatted program checks with the same diagnostics, and no new ones.
  const after = diagnostics(formatted);
  expect(after.listed).toEqual(before.listed);

  // (c) and means the same: the same checked IR and the same manifest.
  expect(stripRanges(after.compiled.program)).toEqual(stripRanges(before.compiled.program));
  const manifests = (institutions: readonly IrInstitution[]) =>
    institutions.map((i) => manifestText(i));
  expect(manifests(after.compiled.program.institutions)).toEqual(
    manifests(before.compiled.program.institutions),
  );
}

describe('fmt on generated programs using every construct of issue 14', () => {
  // About 0.1 s a program on two cores; MASE_FUZZ_SCALE stretches the timeout with the runs.
  const scale = Math.max(1, runs(1).numRuns);
  it('keeps the meaning, the diagnostics and its own output', { timeout: 30_000 * scale }, () => {
    fc.assert(fc.property(programArbitrary, assertRoundTrip), runs(60));
  });

  it('the generator uses every construct in most programs', () => {
    expect(library).toHaveLength(stdlibEntries.length);
    // Not a property of fmt: a guard that the programs above are not trivially small.
    const seen = new Map<string, number>();
    const marks: Record<string, RegExp> = {
      'a relative import': /^\s*import "(\.\.\/)?parts\//m,
      'a stdlib import': /import "stdlib:/,
      'a list read at a position': /\w\[(1|len\(\w+\)|visits\(\w+\)|rounds_in_state)\]/,
      'len of a list': /len\(\w+\)/,
      'a live notice value': /notice "(?:[^"\\]|\\.)*(?<!\{)\{(?!\{)/,
      'a literal brace in a notice': /notice "(?:[^"\\]|\\.)*(\{\{|\}\})/,
      'an option parameter': /: one of "/,
      hhi_contribution: /hhi_contribution\(/,
      moved_with_rivals: /moved_with_rivals\(/,
      'after K rounds while C': /after \w+ rounds? while /,
      'a priority': /priority -?\d/,
      restore: /\brestore\b/,
      'a rule citation': /-> *\w+[^\n]* rule \w+/,
      'redundant parentheses': /\(\(|\(\w+\)/,
      'a counter': /^\s*counter \w+/m,
      'an each-round notice': /each round notice "/,
      'a counter changed on a transition': /-> *\w+[^\n]* then (add|reset) \w+/,
      'a counter changed in a state': /^\s*(each round )?(add|reset|decay) \w+/m,
    };
    const samples = fc.sample(programArbitrary, { numRuns: 50, seed: 14 });
    for (const p of samples) {
      const text = p.files.map((f) => f.text).join('\n');
      for (const [name, mark] of Object.entries(marks))
        if (mark.test(text)) seen.set(name, (seen.get(name) ?? 0) + 1);
    }
    for (const name of Object.keys(marks))
      expect(seen.get(name) ?? 0, name).toBeGreaterThanOrEqual(samples.length / 4);
    expect(constructs.length).toBeGreaterThan(0);
  });
});
