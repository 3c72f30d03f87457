import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/index.js';
import { cliSandbox } from '../support/cli.js';

/**
 * Modules through the built CLI: the two files of docs/language.md's "Imports" section
 * (study.mase importing institutions/fines.mase), taken through check, compile, draw,
 * manifest, fmt, run, replay and sweep; and each import that cannot be followed, which is
 * one diagnostic at the import and exit 1, never a stack trace.
 */

const { mase, file, read, json, write } = cliSandbox('imports');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Manifest {
  digest: string;
  sources: { path: string; sha256: string; text: string }[];
}
const manifest = (run: string) => json<Manifest>(`${run}/manifest.json`);

/** The ```mase blocks of the "Imports" section of the language reference, in order. */
function docExample(): { fines: string; study: string } {
  const doc = readFileSync(join(packageRoot(), 'docs/language.md'), 'utf8');
  const section = doc.slice(
    doc.indexOf('### Imports'),
    doc.indexOf('\n## ', doc.indexOf('### Imports')),
  );
  const blocks = [...section.matchAll(/```mase\n([\s\S]*?)```\n/g)].map((m) => m[1] ?? '');
  expect(blocks).toHaveLength(2);
  return { fines: blocks[0] as string, study: blocks[1] as string };
}

beforeAll(() => {
  const { fines, study } = docExample();
  write('institutions/fines.mase', fines);
  write('study.mase', study);
});

describe('a study importing its institution', () => {
  it('checks both files as one program', () => {
    const checked = mase('check study.mase');
    expect(checked.stderr).toBe('study.mase, institutions/fines.mase: no problems\n');
    expect(checked.code).toBe(0);
  });

  it('is found from another directory too, relative to the importing file', () => {
    const checked = mase(['check', file('study.mase')], { cwd: tmpdir() });
    expect(checked.code).toBe(0);
    expect(checked.stderr).toMatch(/study\.mase, \S*institutions\/fines\.mase: no problems\n$/);
  });

  it('compiles, draws and prints the manifest of the imported institution', () => {
    const compiled = mase('compile study.mase --institution fines');
    expect(compiled.code).toBe(0);
    expect(JSON.parse(compiled.stdout).id).toBe('fines');
    const manifestText = mase('manifest study.mase --institution fines');
    expect(manifestText.code).toBe(0);
    expect(manifestText.stdout).toContain('A fine for sustained concentration');
    expect(mase('draw study.mase --institution fines -o fines.dot').code).toBe(0);
    expect(read('fines.dot')).toContain('"compliant" -> "fined"');
  });

  it('formats only the named file and keeps its imports', () => {
    expect(mase('fmt --check study.mase').code).toBe(0);
    write(
      'messy.mase',
      'mase 1\nimport   "institutions/fines.mase"\n  import "stdlib:none"\nexperiment e { market cournot institution fines }\n',
    );
    const formatted = mase('fmt messy.mase');
    expect(formatted.code).toBe(0);
    expect(formatted.stdout).toBe(
      'mase 1\n\nimport "institutions/fines.mase"\nimport "stdlib:none"\n\nexperiment e {\n  market cournot\n  institution fines\n}\n',
    );
  });

  it('records and hashes the imported file in the run, and replays from the record', () => {
    const run = mase('run study.mase --rounds 5 --out r1');
    expect(run.code, run.stderr).toBe(0);
    const recorded = manifest('r1').sources;
    expect(recorded.map((s) => s.path)).toEqual([
      'study.mase',
      'institutions/fines.mase',
      'stdlib/cournot.mase',
    ]);
    const fines = recorded.find((s) => s.path === 'institutions/fines.mase');
    expect(fines?.sha256).toBe(sha256(file('institutions/fines.mase')));
    expect(fines?.text).toBe(read('institutions/fines.mase'));

    // The run's digest covers the imported file: a change there alone is another run.
    const original = read('institutions/fines.mase');
    write('institutions/fines.mase', `// edited\n${original}`);
    expect(mase('run study.mase --rounds 5 --out r2').code).toBe(0);
    expect(manifest('r2').digest).not.toBe(manifest('r1').digest);
    write('institutions/fines.mase', original);

    // Replay compiles what the manifest records, not what is on disk now.
    cpSync(file('r1'), file('moved/r1'), { recursive: true });
    rmSync(file('institutions'), { recursive: true });
    try {
      const replay = mase('replay moved/r1 --out r3');
      expect(replay.code, replay.stderr).toBe(0);
      expect(read('r3/events.jsonl')).toBe(read('r1/events.jsonl'));
    } finally {
      write('institutions/fines.mase', original);
    }
  });

  it('sweeps on worker threads that compile the imported file too', () => {
    write('small.mase', read('study.mase').replace('rounds 200', 'rounds 20'));
    const sweep = mase('sweep small.mase --out sw --workers 2');
    expect(sweep.stderr).toBe('');
    expect(sweep.stdout).toContain('4 completed, 0 failed');
    expect(sweep.code).toBe(0);
    const runs = readdirSync(file('sw/runs'));
    expect(runs).toHaveLength(4);
    for (const run of runs) {
      const fines = manifest(join('sw/runs', run)).sources.find(
        (s) => s.path === 'institutions/fines.mase',
      );
      expect(fines?.sha256).toBe(sha256(file('institutions/fines.mase')));
    }
  });
});

describe('imports that cannot be followed', () => {
  const expectImportError = (name: string, text: string, message: string, at = name) => {
    write(name, text);
    const checked = mase(['check', name]);
    expect(checked.stderr).toContain(`${at}:3:1: error ${message}`);
    expect(checked.code).toBe(1);
  };

  it('a missing file, named as resolved', () => {
    expectImportError(
      'bad/missing.mase',
      'mase 1\n\nimport "../institutions/fine.mase"\n',
      'E_IMPORT no such file: institutions/fine.mase',
    );
  });

  it('a directory', () => {
    mkdirSync(file('bad/folder.mase'), { recursive: true });
    expectImportError(
      'bad/directory.mase',
      'mase 1\n\nimport "folder.mase"\n',
      'E_IMPORT bad/folder.mase is a directory, not a source file',
    );
  });

  it('a symlink loop', () => {
    symlinkSync('loop.mase', file('bad/loop.mase'));
    expectImportError(
      'bad/looping.mase',
      'mase 1\n\nimport "loop.mase"\n',
      'E_IMPORT bad/loop.mase is a symlink loop',
    );
  });

  it('a cycle, with its chain', () => {
    write('bad/b.mase', 'mase 1\n\nimport "a.mase"\n');
    expectImportError(
      'bad/a.mase',
      'mase 1\n\nimport "b.mase"\n',
      'E_IMPORT this import closes a cycle: bad/a.mase → bad/b.mase → bad/a.mase',
      'bad/b.mase',
    );
  });

  it('a name declared in two files, at the import, naming both', () => {
    expectImportError(
      'bad/clash.mase',
      `mase 1\n\nimport "../institutions/fines.mase"\n\n${read('institutions/fines.mase').replace('mase 1\n', '')}`,
      'E_DUPLICATE institution `fines` is declared in two files: at bad/clash.mase:6:13 and at institutions/fines.mase:3:13',
    );
  });

  it('a sweep whose institution is not imported: one error, no misleading hint', () => {
    write('unimported.mase', read('study.mase').replace(/import "institutions\/fines.mase"\n/, ''));
    const sweep = mase('sweep unimported.mase --out none');
    expect(sweep.code).toBe(1);
    expect(sweep.stderr).toContain('E_UNKNOWN_NAME no institution `fines`');
    expect(sweep.stderr).toContain('needs `import "FILE.mase"`');
    expect(sweep.stderr).not.toContain('has no parameters');
    // Where it is named and where the sweep varies it; the factor's parameter is not blamed.
    expect(sweep.stderr).toContain('2 errors, 0 warnings');
  });
});
