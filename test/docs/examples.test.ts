import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  compileSources,
  type EvaluationEnvironment,
  type IrInstitution,
  renderDiagnostics,
  scalarTensor,
  tensorFrom,
} from '../../compiler/index.js';
import type { Diagnostic } from '../../grammar/index.js';
import { knownPolicies, packageRoot, parseTemplates, stdlibSources } from '../../runtime/index.js';

/**
 * The examples of docs/language.md and README.md are compiled as they stand, so the docs
 * cannot drift from the compiler unnoticed. Everything runs in-process on the text: no CLI,
 * no files written.
 *
 * language.md: every ```mase block, plus the example column of the diagnostics table. An
 * HTML comment on the line before a fence steers the check:
 *   <!-- check: wrap=institution|experiment|monitors expect=CODE eval skip -->
 * - no wrap: a complete file, which must compile without any diagnostic;
 * - wrap=institution|experiment: a fragment placed inside such a declaration; only W_UNUSED
 *   is allowed, since a fragment shown alone need not use everything it declares;
 * - wrap=monitors: a fragment of monitors inside an institution whose one state reads them
 *   all, so none is unused;
 * - expect=CODE: the diagnostics must be exactly that one code (once or more);
 * - eval: every monitor must evaluate to scalar true in `environment` below;
 * - skip: not checked.
 */

const root = packageRoot();
const languageDoc = readFileSync(join(root, 'docs/language.md'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const library = stdlibSources();

interface Example {
  readonly name: string;
  readonly text: string;
  readonly wrapped: boolean;
  readonly expect?: string;
  readonly evaluate: boolean;
}

const wrappers: Record<string, (block: string) => string> = {
  institution: (b) => `mase 1\ninstitution doc_example {\n${b}\n}\n`,
  experiment: (b) => `mase 1\nexperiment doc_example {\n${b}\n}\n`,
  monitors: monitorsWrapper,
};

/** An institution holding the fragment and one state whose guard reads every monitor. */
function monitorsWrapper(block: string): string {
  const probe = compileSources(
    [{ path: 'probe.mase', text: `mase 1\ninstitution doc_example {\n${block}\n}\n` }],
    library,
  );
  const uses = (probe.program.institutions[0]?.monitors ?? []).map((m) => {
    const perAxis = m.expr.type.axes.length > 0;
    if (m.expr.type.base === 'bool') return perAxis ? `any(${m.name})` : m.name;
    return perAxis ? `sum(${m.name}) > 0` : `${m.name} > 0`;
  });
  return `mase 1\ninstitution doc_example {\n${block}\n  initial state doc_state { when ${uses.join(' or ')} -> doc_state }\n}\n`;
}

// The table's examples are single lines; each code's line needs a surrounding it can live in.
const rowTemplates: Record<string, (example: string) => string> = {
  inInstitution: (ex) =>
    `mase 1\ninstitution doc_example {\n  monitor high = mean(hhi) > 6000\n  initial state active { when high -> active }\n  ${ex}\n}\n`,
  inState: (ex) =>
    `mase 1\ninstitution doc_example {\n  monitor high = mean(hhi) > 6000\n  initial state active {\n    when high -> warned\n  }\n  state warned {\n    notice "w"\n    after 1 round -> active\n    ${ex}\n  }\n}\n`,
  inMarket: (ex) =>
    `mase 1\nmarket doc_example {\n  firms f1, f2\n  cost = 10\n  action quantity in [0, 100]\n  price = max(0, 100 - sum(quantity, over: firm))\n  ${ex}\n}\n`,
  inExperiment: (ex) =>
    `mase 1\nexperiment doc_example {\n  market cournot\n  agents llm\n  ${ex}\n}\n`,
  file: (ex) => `${ex}\n`,
  fileAfterVersion: (ex) => `mase 1\n${ex}\n`,
};
const rowWhere: Record<string, string> = {
  E_LEX: 'inInstitution',
  E_BAD_CHAR: 'inInstitution',
  E_SYNTAX: 'inInstitution',
  E_NUMBER: 'inState',
  E_VERSION: 'file',
  E_RESERVED_NAME: 'inMarket',
  E_IMPORT: 'fileAfterVersion',
  E_DUPLICATE: 'inInstitution',
  E_UNKNOWN_NAME: 'inInstitution',
  E_UNKNOWN_OBSERVABLE: 'inInstitution',
  E_TYPE: 'inInstitution',
  E_SHAPE: 'inInstitution',
  E_ARITY: 'inInstitution',
  E_SCOPE: 'inMarket',
  E_MISSING: 'fileAfterVersion',
  E_NO_INITIAL: 'fileAfterVersion',
  E_MULTIPLE_INITIAL: 'fileAfterVersion',
  E_UNKNOWN_STATE: 'inState',
  E_UNKNOWN_RULE: 'inState',
  E_UNKNOWN_PARAM: 'inExperiment',
  E_PARAM_TYPE: 'inExperiment',
  E_VALUE: 'inState',
  W_UNREACHABLE_STATE: 'inInstitution',
  W_NO_RESTORATION: 'fileAfterVersion',
  W_ABSORBING_STATE: 'fileAfterVersion',
  W_SANCTION_WITHOUT_EVIDENCE: 'fileAfterVersion',
  W_AMBIGUOUS_GUARDS: 'fileAfterVersion',
  W_EACH_ROUND_SKIPS_ENTRY: 'inState',
  W_UNUSED: 'inMarket',
};

const rowPattern = /^\|\s*`([EW]_[A-Z_]+)`\s*\|\s*(?:error|warning)\s*\|.*\|\s*(.*?)\s*\|$/;

// Test names are shown in terminals: keep them one short line.
const title = (line: number, first: string) => {
  const shown = first.trim();
  return `line ${line}: ${shown.length > 70 ? `${shown.slice(0, 69)}…` : shown}`;
};

/** Every checked example of the language reference, in document order. */
function extractExamples(doc: string): Example[] {
  const examples: Example[] = [];
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line === '```mase') {
      const end = lines.indexOf('```', i + 1);
      if (end < 0) throw new Error(`the \`\`\`mase fence at line ${i + 1} is never closed`);
      const block = lines.slice(i + 1, end).join('\n');
      const directive = /<!-- check: (.*) -->/.exec(lines[i - 1] ?? '')?.[1] ?? '';
      const wrap = /wrap=(\w+)/.exec(directive)?.[1];
      const expected = /expect=(\w+)/.exec(directive)?.[1];
      const name = title(i + 1, lines[i + 1] ?? '');
      i = end;
      if (/\bskip\b/.test(directive)) continue;
      const wrapper = wrap === undefined ? (b: string) => `${b}\n` : wrappers[wrap];
      if (!wrapper) throw new Error(`line ${i + 1}: unknown wrap=${wrap}`);
      examples.push({
        name,
        text: wrapper(block),
        wrapped: wrap !== undefined,
        evaluate: /\beval\b/.test(directive),
        ...(expected ? { expect: expected } : {}),
      });
      continue;
    }
    const row = rowPattern.exec(line);
    if (!row) continue;
    const code = row[1] ?? '';
    const cell = row[2] ?? '';
    if (cell === '—') continue;
    const shown = (/^`([^`]*)`/.exec(cell)?.[1] ?? cell).replace(/\\\|/g, '|');
    // The table names the character so the doc stays readable; the test needs the character.
    const example = code === 'E_BAD_CHAR' ? shown.replace('U+202E', '\u202e') : shown;
    const template = rowTemplates[rowWhere[code] ?? ''];
    if (!template) throw new Error(`line ${i + 1}: no template for the example of ${code}`);
    examples.push({
      name: title(i + 1, `${code} ${shown}`),
      text: template(example),
      wrapped: false,
      expect: code,
      evaluate: false,
    });
  }
  return examples;
}

// Fixed values for `eval` examples: two firms and products, `quantity` known, every other
// observable 1, parameters NaN, monitors evaluated from their own expressions.
function environment(institution: IrInstitution): EvaluationEnvironment {
  return {
    dims: { firms: 2, products: 2 },
    self: 0,
    roundsAvailable: 1,
    param: () => scalarTensor(Number.NaN),
    firmIndex: () => 0,
    productIndex: () => 0,
    observable: (name) =>
      name === 'quantity'
        ? tensorFrom(
            ['firm', 'product'],
            [
              [10, 20],
              [30, 40],
            ],
          )
        : scalarTensor(1),
    benchmark: () => scalarTensor(0),
    monitor: (name) => {
      const monitor = institution.monitors.find((m) => m.name === name);
      if (!monitor) throw new Error(`no monitor ${name}`);
      return compileExpression(monitor.expr)(environment(institution));
    },
  };
}

const describeDiagnostic = (d: Diagnostic) =>
  `${d.code} ${d.range.start.line}:${d.range.start.column} ${d.message}`;

/** What is wrong with an example; empty when it behaves as the doc says. */
function problems(example: Example): string[] {
  const result = compileSources([{ path: 'doc_example.mase', text: example.text }], library);
  if (example.expect) {
    const codes = [...new Set(result.diagnostics.map((d) => d.code))].sort();
    if (codes.length === 1 && codes[0] === example.expect) return [];
    return [
      `expected only ${example.expect}, got: ${codes.join(', ') || 'nothing'}`,
      ...result.diagnostics.map(describeDiagnostic),
    ];
  }
  const allowed = (d: Diagnostic) => example.wrapped && d.code === 'W_UNUSED';
  const found = result.diagnostics.filter((d) => !allowed(d)).map(describeDiagnostic);
  if (found.length > 0 || !example.evaluate) return found;
  const institution = result.program.institutions[0];
  if (!institution || institution.monitors.length === 0) return ['eval: no monitors to evaluate'];
  return institution.monitors.flatMap((m) => {
    const value = compileExpression(m.expr)(environment(institution));
    return value.axes.length === 0 && value.data[0] === 1
      ? []
      : [`eval: ${m.name} is ${Array.from(value.data).join(', ')}, not true`];
  });
}

const examples = extractExamples(languageDoc);

describe('docs/language.md examples', () => {
  it('finds every ```mase block and every example of the diagnostics table', () => {
    const fences = languageDoc.split('\n').filter((l) => l === '```mase').length;
    const skipped = (languageDoc.match(/<!-- check:[^>]*\bskip\b[^>]*-->\n```mase\n/g) ?? [])
      .length;
    const rows = examples.filter((e) => e.name.match(/^line \d+: [EW]_/)).length;
    expect(examples.length - rows).toBe(fences - skipped);
    expect(rows).toBe(Object.keys(rowWhere).length);
  });

  for (const example of examples) {
    it(example.name, () => {
      expect(problems(example), example.text).toEqual([]);
    });
  }

  // The checks must be able to fail, or a broken doc would pass silently.
  it('rejects broken examples', () => {
    const broken = [
      // A complete file with a syntax error.
      '```mase\nmase 1\nmarket m {\n  firmz f1\n}\n```',
      // A different code than the one expected.
      '<!-- check: expect=E_VALUE -->\n```mase\nmase 2\n```',
      // A monitor that evaluates to false.
      '<!-- check: wrap=monitors eval -->\n```mase\nmonitor m = 1 > 2\n```',
      // A table example that is valid source.
      '| `E_LEX` | error | x | `public` |',
    ].flatMap((doc) => extractExamples(`${doc}\n`));
    expect(broken).toHaveLength(4);
    for (const example of broken) expect(problems(example), example.text).not.toEqual([]);
  });
});

describe('README.md', () => {
  const lines = readme.split('\n');
  const start = lines.findIndex((l, i) => l === '```' && lines[i + 1]?.startsWith('mase 1'));
  const end = lines.indexOf('```', start + 1);
  const example = `${lines.slice(start + 1, end).join('\n')}\n`;
  const compile = (text: string) => compileSources([{ path: 'warn.mase', text }], library);

  it('the 30-second example compiles without diagnostics', () => {
    expect(start).toBeGreaterThan(0);
    expect(compile(example).diagnostics.map(describeDiagnostic)).toEqual([]);
  });

  it('the excerpt for the `-> warnd` typo is what renderDiagnostics prints', () => {
    const typo = lines.findIndex((l) => l.startsWith('A typo such as'));
    const open = lines.indexOf('```', typo);
    const close = lines.indexOf('```', open + 1);
    expect(typo).toBeGreaterThan(0);
    const shown = lines.slice(open + 1, close).join('\n');
    // Exactly one site, so the misspelt file is the one the README describes.
    expect(example.split('-> warned rule P1').length).toBe(2);
    const misspelt = example.replace('-> warned rule P1', '-> warnd rule P1');
    const rendered = renderDiagnostics(
      compile(misspelt).diagnostics,
      new Map([['warn.mase', misspelt]]),
    );
    expect(rendered).toBe(shown);
  });
});

describe('docs/llm.md', () => {
  const doc = readFileSync(join(root, 'docs/llm.md'), 'utf8');
  const blocks = [...doc.matchAll(/```mase\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

  it('its experiments compile without diagnostics, and name policies the runtime knows', () => {
    expect(blocks.length).toBeGreaterThan(0);
    for (const text of blocks) {
      const result = compileSources([{ path: 'llm.mase', text }], library);
      expect(result.diagnostics.map(describeDiagnostic), text).toEqual([]);
      for (const e of result.program.experiments)
        for (const p of [e.agents.all, ...Object.values(e.agents.perFirm)])
          if (p) expect(knownPolicies()).toContain(p.name);
    }
  });

  it('its template example loads', () => {
    const template = /```text\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(parseTemplates(template).round).toContain('{{history}}');
  });
});

describe('docs describe what is built', () => {
  // The runtime, LLM agents and sweeps were once "later milestones"; they are built.
  it('no page of docs/ nor the README calls a part a later milestone', () => {
    const pages = [
      'README.md',
      ...readdirSync(join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const stale = pages.filter((page) =>
      /\blater\s+milestones?\b/i.test(readFileSync(join(root, page), 'utf8')),
    );
    expect(stale).toEqual([]);
  });
});

describe('examples/', () => {
  it('every .mase file under examples/ compiles without diagnostics', () => {
    const files = readdirSync(join(root, 'examples'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.mase'))
      .sort();
    expect(files).toContain(join('commons', 'study.mase'));
    for (const file of files) {
      const text = readFileSync(join(root, 'examples', file), 'utf8');
      const result = compileSources([{ path: file, text }], library);
      expect(result.diagnostics.map(describeDiagnostic), file).toEqual([]);
    }
  });
});
