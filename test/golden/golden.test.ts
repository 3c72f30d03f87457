import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  agentNames,
  compileSources,
  environmentDot,
  environmentRules,
  firmNames,
  institutionDot,
  machineConfig,
  manifestText,
  marketDot,
  renderDiagnostics,
  type SourceText,
} from '../../compiler/index.js';
import {
  type Declaration,
  type Diagnostic,
  type DiagnosticCode,
  diagnosticCodes,
  positionAt,
  type Range,
} from '../../grammar/index.js';
import { loadProgram, stdlibSources } from '../../runtime/index.js';
import { expectGolden, goldenJson } from '../support/golden.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const stdlibGoldens = join(here, 'stdlib');
const diagnosticCases = join(here, 'diagnostics');
const library = stdlibSources();

function render(diagnostics: readonly Diagnostic[], sources: readonly SourceText[]): string {
  const texts = new Map(library.map((s) => [s.path, s.text]));
  for (const s of sources) texts.set(s.path, s.text);
  return renderDiagnostics(diagnostics, texts);
}

const subdirectories = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];

/**
 * Ranges a golden cannot vouch for by itself: every line/column must match its offset,
 * and a name or number must span exactly its own text.
 */
function rangeProblems(node: unknown, text: string, out: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const child of node) rangeProblems(child, text, out);
    return out;
  }
  if (node === null || typeof node !== 'object') return out;
  const o = node as { range?: Range; name?: unknown; kind?: unknown; text?: unknown };
  if (o.range) {
    for (const p of [o.range.start, o.range.end]) {
      const q = positionAt(text, p.offset);
      if (q.line !== p.line || q.column !== p.column)
        out.push(`offset ${p.offset} is ${q.line}:${q.column}, not ${p.line}:${p.column}`);
    }
    const spanned = text.slice(o.range.start.offset, o.range.end.offset);
    if (typeof o.name === 'string' && spanned !== o.name)
      out.push(`name \`${o.name}\` spans ${JSON.stringify(spanned)}`);
    if (o.kind === 'number' && spanned !== o.text)
      out.push(`number ${String(o.text)} spans ${JSON.stringify(spanned)}`);
  }
  for (const [key, child] of Object.entries(o))
    if (key !== 'range') rangeProblems(child, text, out);
  return out;
}

// ---- the helper itself ------------------------------------------------------------------------

describe('expectGolden', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'mase-golden-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('fails on a missing golden file, says how to create it, and creates nothing', () => {
    const file = join(scratch, 'missing', 'out.txt');
    expect(() => expectGolden(file, 'text', { update: false })).toThrow(/MASE_UPDATE_GOLDEN=1/);
    expect(existsSync(file)).toBe(false);
  });

  it('passes on equal content and fails on different content', () => {
    const file = join(scratch, 'present.txt');
    writeFileSync(file, 'same\n');
    expect(() => expectGolden(file, 'same\n', { update: false })).not.toThrow();
    expect(() => expectGolden(file, 'other\n', { update: false })).toThrow(/differs/);
    expect(() => expectGolden(file, 'same', { update: false })).toThrow();
  });

  it('writes the file in update mode, creating folders', () => {
    const file = join(scratch, 'new', 'deeper', 'out.txt');
    expectGolden(file, 'written\n', { update: true });
    expect(readFileSync(file, 'utf8')).toBe('written\n');
    expectGolden(file, 'rewritten\n', { update: true });
    expect(readFileSync(file, 'utf8')).toBe('rewritten\n');
  });
});

// ---- stdlib: AST, machine, diagram and manifest of every declaration -------------------------

const stdlibFiles = readdirSync(join(root, 'stdlib'))
  .filter((f) => f.endsWith('.mase'))
  .sort();

describe('stdlib goldens', () => {
  it('finds the stdlib sources', () => {
    expect(stdlibFiles.length).toBeGreaterThan(0);
    expect(library.map((s) => s.path)).toEqual(stdlibFiles.map((f) => `stdlib/${f}`));
  });

  const declared = new Set<string>();
  for (const file of stdlibFiles) {
    const path = `stdlib/${file}`;
    const source: SourceText = { path, text: readFileSync(join(root, 'stdlib', file), 'utf8') };
    const compilation = compileSources([source], library);
    const ast = compilation.files[0];
    const declarations: readonly Declaration[] = ast?.declarations ?? [];
    for (const d of declarations) declared.add(d.name.name);

    describe(path, () => {
      it('has AST ranges that agree with the source text', () => {
        expect(ast && rangeProblems(ast, source.text)).toEqual([]);
      });

      it('compiles without any diagnostic', () => {
        expect(render(compilation.diagnostics, [source])).toBe('');
        expect(compilation.ok).toBe(true);
        expect(declarations.length).toBeGreaterThan(0);
      });

      for (const decl of declarations) {
        const name = decl.name.name;
        const dir = join(stdlibGoldens, name);
        it(`${decl.kind} ${name}`, () => {
          expectGolden(join(dir, 'ast.json'), goldenJson(ast));
          if (decl.kind === 'institution') {
            const institution = compilation.program.institutions.find((i) => i.name === name);
            expect(institution, `institution ${name} compiles to IR`).toBeDefined();
            if (!institution) return;
            const machine = machineConfig(institution);
            const dot = institutionDot(institution);
            expectGolden(join(dir, 'machine.json'), goldenJson(machine));
            expectGolden(join(dir, 'diagram.dot'), dot);
            expectGolden(join(dir, 'manifest.txt'), manifestText(institution));

            // What a reviewer checks by eye, checked here too: machine states are the
            // declared states, the diagram starts at the declared initial state, and
            // exactly the restorative edges are dashed.
            const states = decl.items.filter((i) => i.kind === 'state');
            const initial = states.find((s) => s.initial)?.name.name;
            expect(Object.keys((machine.states ?? {}) as object).sort()).toEqual(
              states.map((s) => s.name.name).sort(),
            );
            expect(machine.initial).toBe(initial);
            if (initial) expect(dot).toContain(`"(start)" -> "${initial}"`);
            const edges = dot.split('];');
            for (const t of institution.states.flatMap((s) => s.transitions)) {
              const edge = edges.find((e) => e.includes(`id = "${t.id}";`));
              expect(edge, `an edge for transition ${t.id}`).toBeDefined();
              expect(edge?.includes('style = "dashed"'), `${t.id} dashed`).toBe(t.restorative);
            }
          } else if (decl.kind === 'environment') {
            const env = compilation.program.environments.find((e) => e.name === name);
            expect(env, `environment ${name} compiles to IR`).toBeDefined();
            if (!env) return;
            expectGolden(join(dir, 'ir.json'), goldenJson(env));
            expectGolden(join(dir, 'diagram.dot'), environmentDot(env));
            expectGolden(join(dir, 'manifest.txt'), environmentRules(env, agentNames(env)));
          } else if (decl.kind === 'market') {
            const market = compilation.program.markets.find((m) => m.name === name);
            expect(market, `market ${name} compiles to IR`).toBeDefined();
            if (!market) return;
            expectGolden(join(dir, 'diagram.dot'), marketDot(market, firmNames(market)));
          }
        });
      }
    });
  }

  it('keeps no golden folder for a declaration the stdlib no longer has', () => {
    expect(subdirectories(stdlibGoldens).filter((d) => !declared.has(d))).toEqual([]);
  });
});

// ---- constructs: a source each, compiled as every backend renders it ----------------------------

/**
 * One case per construct of the institution language that the stdlib does not show whole
 * (test/golden/constructs/NAME/input.mase): its AST, and for its institution the machine,
 * the diagram and the manifest.
 */
describe('construct goldens', () => {
  const cases = join(here, 'constructs');
  it('has cases', () => {
    expect(subdirectories(cases).length).toBeGreaterThan(0);
  });
  for (const name of subdirectories(cases)) {
    it(name, () => {
      const dir = join(cases, name);
      const path = relative(root, join(dir, 'input.mase'));
      const source: SourceText = { path, text: readFileSync(join(dir, 'input.mase'), 'utf8') };
      const compilation = compileSources([source], library);
      expect(render(compilation.diagnostics, [source])).toBe('');
      const ast = compilation.files[0];
      expect(ast && rangeProblems(ast, source.text)).toEqual([]);
      expectGolden(join(dir, 'ast.json'), goldenJson(ast));
      const institutions = compilation.program.institutions.filter((i) => i.path === path);
      expect(institutions).toHaveLength(1);
      const institution = institutions[0];
      if (!institution) return;
      expectGolden(join(dir, 'machine.json'), goldenJson(machineConfig(institution)));
      expectGolden(join(dir, 'diagram.dot'), institutionDot(institution));
      expectGolden(join(dir, 'manifest.txt'), manifestText(institution));
    });
  }
});

// ---- diagnostics: one case per code, rendered as the CLI prints them --------------------------

const codes = Object.keys(diagnosticCodes) as DiagnosticCode[];
const kebab = (code: string) => code.toLowerCase().replace(/_/g, '-');

/** The code a case is about: the longest code whose kebab-case name starts the folder name. */
function intendedCode(caseName: string): DiagnosticCode | undefined {
  return codes
    .filter((c) => caseName === kebab(c) || caseName.startsWith(`${kebab(c)}-`))
    .sort((a, b) => b.length - a.length)[0];
}

// Control and bidirectional-override characters must never reach a terminal.
const unsafeOutput =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/;

const hintOf = (diagnostics: readonly Diagnostic[], code: DiagnosticCode) =>
  diagnostics.filter((d) => d.code === code).map((d) => d.hint);

/** Checks beyond the golden text, for the inputs the language spec singles out. */
const expectations: Record<string, (diagnostics: readonly Diagnostic[], text: string) => void> = {
  'e-syntax-recovery-several-errors': (diagnostics) => {
    expect(diagnostics.filter((d) => d.code === 'E_SYNTAX').length).toBeGreaterThanOrEqual(2);
    // Recovery keeps the rest of the file: a semantic error after the syntax errors is found.
    const lastSyntax = Math.max(
      ...diagnostics.filter((d) => d.code === 'E_SYNTAX').map((d) => d.range.start.offset),
    );
    const later = diagnostics.find((d) => d.code === 'E_UNKNOWN_STATE');
    expect(later?.range.start.offset).toBeGreaterThan(lastSyntax);
  },
  // The docs promise no W_UNUSED (nor graph lint) in a declaration that has errors.
  'e-syntax-no-unused-warning-in-broken-declaration': (diagnostics) => {
    expect(diagnostics.filter((d) => d.severity === 'warning')).toEqual([]);
  },
  'e-value-no-unused-warning-in-declaration-with-errors': (diagnostics) => {
    expect(diagnostics.filter((d) => d.severity === 'warning')).toEqual([]);
  },
  'e-number-1e309': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_NUMBER')?.message).toContain('1e309');
  },
  'e-unknown-name-nan': (diagnostics) => {
    expect(hintOf(diagnostics, 'E_UNKNOWN_NAME').join(' ')).toMatch(/NaN/);
  },
  'e-bad-char-control-in-string': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_BAD_CHAR')?.message).toContain('U+0007');
  },
  'e-bad-char-control-in-code': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_BAD_CHAR')?.message).toContain('U+001B');
  },
  'e-bad-char-bidi-in-string': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_BAD_CHAR')?.message).toContain('U+202E');
  },
  'e-bad-char-bidi-in-code': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_BAD_CHAR')?.message).toContain('U+202E');
  },
  'e-reserved-name-proto': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_RESERVED_NAME')?.message).toContain('__proto__');
  },
  'e-reserved-name-constructor': (diagnostics) => {
    expect(diagnostics.find((d) => d.code === 'E_RESERVED_NAME')?.message).toContain('constructor');
  },
  'e-unknown-state-typo': (diagnostics) => {
    expect(hintOf(diagnostics, 'E_UNKNOWN_STATE')).toContain('did you mean `warning`?');
  },
  'e-unknown-name-function-typo': (diagnostics) => {
    expect(hintOf(diagnostics, 'E_UNKNOWN_NAME')).toContain('did you mean `mean`?');
  },
  'e-unknown-observable-typo': (diagnostics) => {
    expect(hintOf(diagnostics, 'E_UNKNOWN_OBSERVABLE')).toContain('did you mean `profit`?');
  },
  // Silent where the round of entry has its own sanction or is said to be free.
  'w-each-round-skips-entry': (diagnostics, text) => {
    const reported = diagnostics
      .filter((d) => d.code === 'W_EACH_ROUND_SKIPS_ENTRY')
      .map((d) => text.slice(d.range.start.offset, d.range.end.offset));
    expect(reported).toEqual(['each round fine 10', 'each round credit 5']);
    expect(diagnostics.filter((d) => d.code !== 'W_EACH_ROUND_SKIPS_ENTRY')).toEqual([]);
  },
  'e-unknown-param-override-typo': (diagnostics) => {
    expect(hintOf(diagnostics, 'E_UNKNOWN_PARAM')).toContain('did you mean `slope`?');
  },
};

describe('diagnostic goldens', () => {
  const cases = subdirectories(diagnosticCases);

  it('has a case for every diagnostic code except E_INTERNAL', () => {
    const covered = new Set(cases.map(intendedCode));
    expect(codes.filter((c) => c !== 'E_INTERNAL' && !covered.has(c))).toEqual([]);
  });

  it('names every case folder after the code it is about', () => {
    expect(cases.filter((c) => intendedCode(c) === undefined)).toEqual([]);
  });

  it('has every case that carries extra checks', () => {
    expect(Object.keys(expectations).filter((c) => !cases.includes(c))).toEqual([]);
  });

  for (const name of cases) {
    it(name, async () => {
      // Read as `mase check` reads it: a case's input may import the case folder's other files.
      const { sources, unreadable } = await loadProgram([
        relative(process.cwd(), join(diagnosticCases, name, 'input.mase')),
      ]);
      const source = sources[0] as SourceText;
      const { diagnostics } = compileSources(sources, library, { unreadable });
      const rendered = render(diagnostics, sources);
      expectGolden(join(diagnosticCases, name, 'diagnostics.txt'), `${rendered}\n`);
      expect(diagnostics.map((d) => d.code)).toContain(intendedCode(name));
      expect(diagnostics.map((d) => d.code)).not.toContain('E_INTERNAL');
      expect(rendered).not.toMatch(unsafeOutput);
      expectations[name]?.(diagnostics, source.text);
    });
  }
});
