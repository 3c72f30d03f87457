import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { cliSandbox, messageLines } from '../support/cli.js';

/**
 * Input a hostile tester would give `mase` (issue 12): parameter values that skip checks,
 * whole-number flags in other notations, huge, special or non-UTF-8 source files, sweeps
 * too large to plan, and paths that would become code in generated TypeScript. Each gets
 * a clear message and the exit code of bad usage (2) or of errors in sources (1).
 */

const sandbox = cliSandbox('hostile-input');
const { file, read, write } = sandbox;
// A FIFO or /dev/zero once made `mase` wait forever: a hung CLI is killed (and the test
// fails on its exit code) instead of hanging the suite.
const mase = (command: string | readonly string[]) =>
  sandbox.mase(command, { killAfterMs: 60_000 });

const GOVERNED =
  'run --market stdlib:cournot --institution stdlib:governance_graph --agents nash --rounds 3';

/** The first error of `mase check` on a source: `CODE message`, as a source gets it. */
function sourceDiagnostic(name: string, text: string): string {
  write(name, text);
  const r = mase(['check', name]);
  expect(r.code, r.stderr).toBe(1);
  const match = /error (E_[A-Z_]+) (.*)/.exec(r.stderr);
  expect(match, r.stderr).not.toBeNull();
  return `${match?.[1]} ${match?.[2]}`;
}

describe('--param gets the checks a source gets', () => {
  const experiment = (market: string, institution: string) =>
    `mase 1\nexperiment e {\n  market ${market}\n  institution ${institution}\n  agents nash\n}\n`;
  it.each([
    ['persistence=-3', experiment('cournot', 'governance_graph(persistence: -3)')],
    ['persistence=1.5', experiment('cournot', 'governance_graph(persistence: 1.5)')],
    ['firms=100001', experiment('cournot(firms: 100001)', 'governance_graph')],
    ['fine_floor=1e999', experiment('cournot', 'governance_graph(fine_floor: 1e999)')],
  ])('--param %s → exit 2 with the diagnostic a source gets', (param, source) => {
    const expected = sourceDiagnostic(`param-${param.replace(/\W/g, '_')}.mase`, source);
    const out = `out-${param.replace(/\W/g, '_')}`;
    const r = mase(`${GOVERNED} --param ${param} --out ${out}`);
    expect(r.code, r.stderr).toBe(2);
    const message = messageLines(r.stderr);
    expect(message).toHaveLength(1);
    expect(message[0]).toContain(`--param ${param.split('=')[0]}: `);
    expect(message[0]).toContain(expected);
    expect(existsSync(file(out))).toBe(false);
  });

  it('a --param list nested 10,000 deep → exit 2, a plain message, not E_INTERNAL', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const r = mase([...GOVERNED.split(' '), '--param', `costs=${deep}`, '--out', 'deep']);
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual([
      "mase: --param costs: lists nest at most 16 deep (a parameter's lists have at most two levels: firms, then products)",
    ]);
  });

  it('a sweep cell whose institution refuses a level → exit 2 naming the cell, with the source words', () => {
    // The level `n = 0.5` fits the base's institution (a fine) but not `patient`, where
    // `n` is a round count: only the cell's combination is wrong, so `mase check` passes.
    write(
      'cells.mase',
      `mase 1
institution fined "A fine of n" {
  param n = 10
  initial state a { each round fine n }
}
institution patient "Waits n rounds" {
  param n = 2
  initial state a { after n rounds -> b }
  state b { }
}
experiment base {
  market cournot
  institution fined
  agents nash
  rounds 3
}
sweep mixed {
  base base
  factor institution = fined | patient
  factor institution.n = 2 | 0.5
}
`,
    );
    expect(mase('check cells.mase').code).toBe(0);
    const r = mase('sweep cells.mase --out cells-sweep --workers 1');
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual([
      'mase: sweep mixed, cell 3 (institution = patient, institution_n = 0.5): E_VALUE with these overrides, patient: a number of rounds (`n`) must be a whole number of at least 1 (it is 0.5) (at cells.mase:8:21)',
    ]);
  });
});

describe('a sanction whose amount is not finite', () => {
  it('is a sanction_error event and a counted failure in metrics.json, never a fine of 0', () => {
    const r = mase(
      'run --market stdlib:cournot_2x2 --institution stdlib:governance_graph --agents collusive --rounds 12 --param fine_floor=inf --out infinite',
    );
    expect(r.code, r.stderr).toBe(0);
    const events = sandbox.events<{ type: string; sanction?: string; amount?: unknown }>(
      'infinite',
    );
    const errors = events.filter((e) => e.type === 'sanction_error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ sanction: 'fine', amount: 'inf' });
    expect(events.filter((e) => e.type === 'sanction' && e.sanction === 'fine')).toEqual([]);
    const metrics = JSON.parse(read('infinite/metrics.json')) as {
      institution: { sanction_errors: number };
      warnings: string[];
    };
    expect(metrics.institution.sanction_errors).toBe(errors.length);
    expect(metrics.warnings).toContain(
      `${errors.length} sanction(s) were not applied: their amount was not a finite number (sanction_error events)`,
    );
  });
});

describe('whole-number flags take plain decimal digits', () => {
  it.each([
    ['--rounds', '0x10'],
    ['--rounds', '1e3'],
    ['--rounds', ' 16'],
    ['--rounds', '16.0'],
    ['--seed', '9007199254740993'],
    ['--seed', '0x10'],
  ])('%s %j → exit 2 naming the flag and the value', (flag, value) => {
    const r = mase([
      ...'run --market stdlib:cournot --agents nash --rounds 2'.split(' '),
      flag,
      value,
      '--out',
      'whole',
    ]);
    expect(r.code, r.stderr).toBe(2);
    const message = messageLines(r.stderr);
    expect(message).toHaveLength(1);
    expect(message[0]).toContain(
      `${flag} takes a whole number ≥ ${flag === '--rounds' ? 1 : 0}, not \`${value}\` (decimal digits only, at most 2^53 - 1)`,
    );
    expect(existsSync(file('whole'))).toBe(false);
  });

  it('the sweep and demo flags read the same way: --workers 0x2, demo --replicates 1e1', () => {
    write(
      'tiny.mase',
      'mase 1\nexperiment b {\n  market cournot\n  agents nash\n  rounds 2\n}\nsweep s {\n  base b\n  factor agents = nash\n}\n',
    );
    const sweep = mase('sweep tiny.mase --out tiny --workers 0x2');
    expect(sweep.code, sweep.stderr).toBe(2);
    expect(sweep.stderr).toContain(
      '--workers takes a whole number ≥ 1, not `0x2` (decimal digits only',
    );
    const demo = mase('demo --only finding --replicates 1e1 --out demo');
    expect(demo.code, demo.stderr).toBe(2);
    expect(demo.stderr).toContain(
      '--replicates takes a whole number ≥ 1, not `1e1` (decimal digits only',
    );
  });
});

describe('sources the CLI refuses before parsing', () => {
  it('a source above 4 MiB → exit 2, refused before it is parsed', () => {
    write('huge.mase', `mase 1\n${`// ${'x'.repeat(1000)}\n`.repeat(4500)}`);
    const r = mase('check huge.mase');
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual([
      'mase: huge.mase is 4.3 MiB; a source file is at most 4 MiB',
    ]);
  });

  it('a FIFO → exit 2 at once, not a hang', () => {
    execFileSync('mkfifo', [file('pipe.mase')]);
    const r = mase('check pipe.mase');
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual([
      'mase: pipe.mase is a FIFO (named pipe), not a source file',
    ]);
  });

  it('/dev/zero → exit 2, not a hang or an out-of-memory crash', () => {
    const r = mase('check /dev/zero');
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual(['mase: /dev/zero is a device, not a source file']);
  });

  it('a symlink loop is named as one, not "no such file"', () => {
    symlinkSync('loop-b.mase', file('loop-a.mase'));
    symlinkSync('loop-a.mase', file('loop-b.mase'));
    const r = mase('check loop-a.mase');
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toEqual([
      'mase: loop-a.mase is a symlink loop: following its links never reaches a file (ELOOP)',
    ]);
  });
});

describe('sources must be UTF-8', () => {
  // A comment with a Latin-1 é (0xE9) and a stray 0xFF, then a valid experiment.
  const bytes = Buffer.concat([
    Buffer.from('mase 1\n// caf'),
    Buffer.from([0xe9, 0x20, 0xff]),
    Buffer.from(
      '\nexperiment e {\n  market cournot\n  institution none\n  agents nash\n  rounds 2\n}\n',
    ),
  ]);

  it('invalid sequences are E_BAD_CHAR at their position', () => {
    write('latin1.mase', bytes);
    const r = mase('check latin1.mase');
    expect(r.code, r.stderr).toBe(1);
    const located = r.stderr.split('\n').filter((l) => l.startsWith('latin1.mase:'));
    expect(located).toEqual([
      'latin1.mase:2:7: error E_BAD_CHAR the source is not valid UTF-8 here (or holds U+FFFD, the character a decoder puts in place of such bytes)',
      'latin1.mase:2:9: error E_BAD_CHAR the source is not valid UTF-8 here (or holds U+FFFD, the character a decoder puts in place of such bytes)',
    ]);
  });

  it('fmt --write refuses the file and leaves its bytes alone', () => {
    write('latin1-fmt.mase', bytes);
    const r = mase('fmt --write latin1-fmt.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not formatted: fix the errors first');
    expect(readFileSync(file('latin1-fmt.mase')).equals(bytes)).toBe(true);
  });

  it("the manifest's sha256 is of the bytes on disk", async () => {
    // A BOM is dropped by the decoder, so text and bytes differ while the file is valid.
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('mase 1\n')]);
    const source = Buffer.concat([
      withBom,
      Buffer.from('experiment e {\n  market cournot\n  agents nash\n  rounds 2\n}\n'),
    ]);
    write('bom.mase', source);
    const r = mase('run bom.mase --out bom-run');
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(read('bom-run/manifest.json')) as {
      sources: { path: string; sha256: string }[];
    };
    const { createHash } = await import('node:crypto');
    expect(manifest.sources.find((s) => s.path === 'bom.mase')?.sha256).toBe(
      createHash('sha256').update(source).digest('hex'),
    );
  });
});

describe('a sweep too large to plan', () => {
  const HUGE = `mase 1
experiment base {
  market cournot
  agents nash
  rounds 3
}
sweep huge {
  base base
  factor market.intercept in [90, 110]
  design random(100000000)
  replicates 100000000
}
`;
  const expected =
    'huge.mase:7:7: error E_VALUE the sweep has 1.0e+16 runs (cells × replicates); a sweep has at most 1,000,000';

  it('mase check → an E_VALUE diagnostic at the sweep', () => {
    write('huge-sweep.mase', HUGE);
    const r = mase('check huge-sweep.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(expected.replace('huge.mase', 'huge-sweep.mase'));
  });

  it('mase sweep → the same diagnostic, exit 1, no run started', () => {
    write('huge-sweep.mase', HUGE);
    const r = mase('sweep huge-sweep.mase --out huge-out --workers 1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(expected.replace('huge.mase', 'huge-sweep.mase'));
    expect(existsSync(file('huge-out'))).toBe(false);
  });
});

describe('compile --format ts quotes the paths it embeds', () => {
  it('a path with a newline, `*/` and code in it stays a string: no statement of its own', () => {
    // The path `evil⏎globalThis.__masePwned = true;⏎/*/probation.mase` would end the old
    // header comment, run its middle line and open a comment over the rest.
    const folder = join('evil\nglobalThis.__masePwned = true;\n', '*');
    mkdirSync(file(folder), { recursive: true });
    const source = join(folder, 'probation.mase');
    write(source, readFileSync(join(__dirname, '../../examples/probation.mase'), 'utf8'));
    const r = mase(['compile', source, '--format', 'ts']);
    expect(r.code, r.stderr).toBe(0);
    const module = ts.createSourceFile('machine.ts', r.stdout, ts.ScriptTarget.ES2022, true);
    // Imports, interfaces and `export const` declarations only: no expression of the path's.
    const unexpected = module.statements.filter(
      (s) =>
        !ts.isImportDeclaration(s) && !ts.isInterfaceDeclaration(s) && !ts.isVariableStatement(s),
    );
    expect(unexpected.map((s) => s.getText(module))).toEqual([]);
    const declared = module.statements
      .filter(ts.isVariableStatement)
      .flatMap((s) => s.declarationList.declarations.map((d) => d.name.getText(module)));
    expect(declared).toEqual(['sourcePath', 'config', 'machine']);
    const path = module.statements
      .filter(ts.isVariableStatement)
      .map((s) => s.declarationList.declarations[0]?.initializer)
      .find((i): i is ts.StringLiteral => i !== undefined && ts.isStringLiteral(i));
    expect(path?.text).toBe(source);
  });
});
