import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliSandbox } from '../support/cli.js';

/**
 * Run integrity as a hostile tester meets it (issue 12): logs cut, emptied, swapped between
 * runs, manifests and metrics edited; runs stopped by real signals; a full disk (a small
 * tmpfs), an I/O error (injected: no machine here produces one on demand), a read-only
 * filesystem and an --out that is a file. The built CLI, real processes, real files.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sandbox = cliSandbox('integrity');
const { file, read, write } = sandbox;
const mase = (command: string | readonly string[], nodeArgs: readonly string[] = []) =>
  sandbox.mase(command, { nodeArgs });
const mounts: string[] = [];
const manifestOf = (run: string) =>
  JSON.parse(read(`${run}/manifest.json`)) as {
    status: string;
    rounds_completed: number;
    reason?: string;
    seal?: { entries: number };
  };
const GOVERNED = ['run', 'study.mase', '--experiment', 'governed'];

function mount(name: string, options: string): string {
  const at = file(name);
  mkdirSync(at, { recursive: true });
  const result = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`mount failed: ${result.stderr}`);
  mounts.push(at);
  return at;
}

beforeAll(() => {
  cpSync(join(root, 'examples/governance-comparison.mase'), file('study.mase'));
  // Two runs of one experiment: same run id, same stored key, different runs.
  for (const out of ['a', 'b']) {
    const r = mase([...GOVERNED, '--rounds', '300', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
  }
});

afterAll(() => {
  for (const at of mounts.reverse()) spawnSync('umount', [at]);
});

function copyRun(from: string, to: string): string {
  rmSync(file(to), { recursive: true, force: true });
  cpSync(file(from), file(to), { recursive: true });
  return to;
}

describe('mase verify: a sealed log and the files it covers', () => {
  it('an untouched run → exit 0, intact, with the entry count the manifest records', () => {
    const v = mase('verify a');
    expect(v.code, v.stderr).toBe(0);
    const entries = manifestOf('a').seal?.entries;
    expect(entries).toBeGreaterThan(100);
    expect(v.stdout).toBe(
      `intact: ${entries} entries (seal included), manifest.json, events.jsonl and metrics.json are as the run wrote them; the run completed 300 rounds\n`,
    );
  });

  it('a run with no institution: its log is the seal alone, one entry', () => {
    const r = mase('run --market stdlib:cournot_2x2 --agents nash --rounds 5 --out plain');
    expect(r.code, r.stderr).toBe(0);
    const v = mase('verify plain');
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toBe(
      'intact: 1 entry (seal included), manifest.json, events.jsonl and metrics.json are as the run wrote them; the run completed 5 rounds\n',
    );
  });

  it('flags for model answers without an llm firm → exit 2, nothing written', () => {
    const r = mase(
      'run --market stdlib:cournot_2x2 --agents nash --rounds 5 --max-answer-bytes 100 --max-fallback-share 0.2 --out unused',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'mase: --max-answer-bytes, --max-fallback-share are for llm firms; no firm is one\n',
    );
    expect(existsSync(file('unused'))).toBe(false);
  });

  it('the last line dropped → exit 1, truncated', () => {
    copyRun('a', 'cut');
    const log = read('cut/governance-log.jsonl').split('\n');
    write('cut/governance-log.jsonl', `${log.slice(0, -2).join('\n')}\n`);
    const v = mase('verify cut');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(
      /^governance log broken at line \d+: truncated: \d+ entries, \d+ expected/,
    );
  });

  it('the log emptied → exit 1, truncated at line 1', () => {
    copyRun('a', 'empty');
    write('empty/governance-log.jsonl', '');
    const v = mase('verify empty');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^governance log broken at line 1: truncated: 0 entries/);
  });

  it("another run's log of the same experiment → exit 1 (the key is bound to each run's nonce)", () => {
    const [a, b] = [manifestOf('a'), manifestOf('b')] as unknown as { run_id: string }[];
    expect(a?.run_id).toBe(b?.run_id);
    copyRun('a', 'swapped');
    cpSync(file('b/governance-log.jsonl'), file('swapped/governance-log.jsonl'));
    const v = mase('verify swapped');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^governance log broken at line 1: MAC mismatch on every entry/);
  });

  it('a seed edited in manifest.json → exit 1', () => {
    copyRun('a', 'seed');
    const text = read('seed/manifest.json');
    expect(text).toContain('"seed":1,');
    write('seed/manifest.json', text.replace('"seed":1,', '"seed":2,'));
    const v = mase('verify seed');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^manifest\.json was changed after the run ended/);
  });

  it('metrics.json or events.jsonl edited → exit 1, naming the file', () => {
    copyRun('a', 'metrics');
    const metrics = read('metrics/metrics.json');
    write('metrics/metrics.json', metrics.replace('"rounds":300', '"rounds":301'));
    expect(read('metrics/metrics.json')).not.toBe(metrics);
    const m = mase('verify metrics');
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/^metrics\.json was changed after the run ended/);

    copyRun('a', 'events');
    const events = read('events/events.jsonl').split('\n');
    events.splice(10, 1);
    write('events/events.jsonl', events.join('\n'));
    const e = mase('verify events');
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/^events\.jsonl was changed after the run ended/);
  });

  it('two runs of one experiment write the same trace (the nonce is only in the manifest)', () => {
    expect(read('a/events.jsonl')).toBe(read('b/events.jsonl'));
    expect(read('a/governance-log.jsonl')).not.toBe(read('b/governance-log.jsonl'));
  });
});

/** Runs `mase ARGS --out OUT`; calls `act` with its pid once its trace holds round `whenRounds`. */
function startRun(
  args: readonly string[],
  out: string,
  whenRounds: number,
  act: (pid: number) => void,
): Promise<CliResult> {
  const events = file(join(out, 'events.jsonl'));
  return sandbox.maseAsync([...args, '--out', out], {}, (child) => {
    const poll = setInterval(() => {
      if (!existsSync(events)) return;
      if (readFileSync(events, 'utf8').includes(`{"type":"market","round":${whenRounds},`)) {
        clearInterval(poll);
        act(child.pid as number);
      }
    }, 20);
    child.on('close', () => clearInterval(poll));
  });
}

const lastLine = (text: string) => text.trimEnd().split('\n').pop() as string;

describe('signals: interruption is a state, not a crash', () => {
  it('SIGINT → the round ends, trace end, metrics, manifest interrupted, exit 130; show, verify, replay work', async () => {
    const r = await startRun([...GOVERNED, '--rounds', '1000000'], 'int', 50, (pid) =>
      process.kill(pid, 'SIGINT'),
    );
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('mase: SIGINT: finishing this round');
    expect(r.stderr).toMatch(/wrote int \(status: interrupted: stopped by SIGINT, \d+ rounds/);
    const manifest = manifestOf('int');
    expect(manifest.status).toBe('interrupted');
    expect(manifest.reason).toBe('stopped by SIGINT');
    expect(manifest.rounds_completed).toBeGreaterThanOrEqual(50);
    const trace = read('int/events.jsonl');
    expect(JSON.parse(lastLine(trace))).toEqual({
      type: 'run_end',
      status: 'interrupted',
      rounds_completed: manifest.rounds_completed,
      reason: 'stopped by SIGINT',
    });
    expect(
      (JSON.parse(read('int/metrics.json')) as { run: { rounds_played: number } }).run
        .rounds_played,
    ).toBe(manifest.rounds_completed);

    const show = mase('show int');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(
      `interrupted, ${manifest.rounds_completed.toLocaleString('en-US')} of 1,000,000 rounds`,
    );
    const v = mase('verify int');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(
      new RegExp(
        `^incomplete: the run was interrupted after ${manifest.rounds_completed} rounds \\(stopped by SIGINT\\); its \\d+ entries`,
      ),
    );
    const replay = mase('replay int --out int-replay');
    expect(replay.code).toBe(1);
    expect(read('int-replay/events.jsonl')).toBe(trace);
  });

  it('a second signal stops at once: the manifest says so, show and replay still work', async () => {
    let sent = 0;
    const r = await startRun([...GOVERNED, '--rounds', '1000000'], 'twice', 50, (pid) => {
      process.kill(pid, 'SIGTERM');
      sent++;
      setTimeout(() => process.kill(pid, 'SIGTERM'), 5);
    });
    expect(sent).toBe(1);
    expect(r.code).toBe(143);
    const manifest = manifestOf('twice');
    expect(manifest.status).toBe('interrupted');
    // Either the second signal came while the round loop was still running (stopped at
    // once, unsealed) or after the first had already stopped it (sealed): never `running`.
    const trace = read('twice/events.jsonl');
    expect(trace.endsWith('\n')).toBe(true);
    const show = mase('show twice');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`— interrupted, `);
    const v = mase('verify twice');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^incomplete: /);
    expect(mase('replay twice --out twice-replay').code).toBe(1);
    expect(manifestOf('twice-replay').rounds_completed).toBe(manifest.rounds_completed);
  });
});

describe('a killed run (SIGKILL) and a torn last line: every reader still works', () => {
  it('show, verify, report and replay each say what is missing', async () => {
    const r = await startRun([...GOVERNED, '--rounds', '1000000'], 'killed', 50, (pid) =>
      process.kill(pid, 'SIGKILL'),
    );
    expect(r.code).toBe(null);
    expect(manifestOf('killed').status).toBe('running');
    // A write cut short by the kill, as a crash mid-write would leave it.
    write('killed/events.jsonl', `${read('killed/events.jsonl')}{"type":"mar`);

    const show = mase('show killed');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(
      'the run never ended: its process was killed or crashed (or it is still running)',
    );
    expect(show.stdout).toContain(
      'note: the last line of events.jsonl was cut short and is left out',
    );
    expect(show.stdout).toContain('note: metrics.json is missing');
    const v = mase('verify killed');
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^incomplete: the run never ended — manifest\.json says running/);
    const report = mase('report killed');
    expect(report.code, report.stderr).toBe(0);
    expect(read('killed/report.html')).toContain('unreadable line');
    const replay = mase('replay killed --out killed-replay');
    expect(replay.code, replay.stderr).toBe(1);
    const rounds = [...read('killed/events.jsonl').matchAll(/^\{"type":"market","round":(\d+)/gm)];
    expect(manifestOf('killed-replay').rounds_completed).toBe(
      Number(rounds[rounds.length - 1]?.[1]),
    );
  });
});

/** No half-written file is left: every file ends in a newline, no `.partial-` or reserve file. */
function expectTidy(run: string): void {
  const names = readdirSync(file(run));
  expect(names.filter((n) => n.includes('.partial-') || n.startsWith('.mase-'))).toEqual([]);
  for (const name of ['events.jsonl', 'governance-log.jsonl']) {
    const text = read(join(run, name));
    expect(text === '' || text.endsWith('\n'), `${name} ends in a whole line`).toBe(true);
  }
}

describe('environment failures are messages, exit 4, never E_INTERNAL', () => {
  it('a full disk: the run stops as failed, recorded; show, verify, report, replay work', () => {
    const disk = mount('small', 'size=2m');
    const out = join(disk, 'run');
    const r = mase([...GOVERNED, '--rounds', '1000000', '--out', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).not.toContain('E_INTERNAL');
    expect(r.stderr).toMatch(
      /^mase: the run could not be written: cannot write .*events\.jsonl: no space left on the device \(ENOSPC\): the run stopped after round \d+/,
    );
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      status: string;
      rounds_completed: number;
      reason: string;
    };
    expect(manifest.status).toBe('failed');
    expect(manifest.reason).toContain('ENOSPC');
    expect(manifest.rounds_completed).toBeGreaterThan(0);
    expectTidy(out);
    const show = mase(['show', out]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('failed: cannot write');
    const v = mase(['verify', out]);
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^incomplete: the run failed after \d+ rounds/);
    const replay = mase(['replay', out, '--out', 'full-replay']);
    expect(replay.code, replay.stderr).toBe(1);
    expect(manifestOf('full-replay').rounds_completed).toBe(manifest.rounds_completed);
    // Room again: the report can be drawn from what was kept.
    rmSync(join(out, 'metrics.json'), { force: true });
    const report = mase(['report', out]);
    expect(report.code, report.stderr).toBe(0);
  });

  it('an I/O error (injected) → exit 4 naming the file and EIO; the manifest says failed', () => {
    const inject = file('inject-eio.mjs');
    writeFileSync(
      inject,
      `import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const traces = new Set();
const open = fs.openSync;
const write = fs.writeSync;
let written = 0;
fs.openSync = function (path, ...rest) {
  const fd = open.call(this, path, ...rest);
  if (String(path).endsWith('events.jsonl')) traces.add(fd);
  return fd;
};
fs.writeSync = function (fd, ...rest) {
  if (traces.has(fd) && (written += 1) > 40) {
    const error = new Error('EIO: i/o error, write');
    Object.assign(error, { code: 'EIO', errno: -5, syscall: 'write' });
    throw error;
  }
  return write.call(this, fd, ...rest);
};
syncBuiltinESMExports();
`,
    );
    const r = mase([...GOVERNED, '--rounds', '1000', '--out', 'eio'], ['--import', inject]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(
      /^mase: the run could not be written: cannot write eio\/events\.jsonl: input\/output error .*\(EIO\): the run stopped after round 40/,
    );
    expect(manifestOf('eio')).toMatchObject({ status: 'failed', rounds_completed: 40 });
    expectTidy('eio');
    expect(mase('show eio').code).toBe(0);
  });

  it('a read-only filesystem and an --out that is a file → exit 4, one line naming the path', () => {
    const ro = mount('readonly', 'ro,size=1m');
    const r = mase([...GOVERNED, '--rounds', '10', '--out', join(ro, 'run')]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(
      `mase: cannot create the directory ${join(ro, 'run')}: the filesystem is read-only (EROFS)\n`,
    );
    const draw = mase(['draw', 'stdlib:governance_graph', '--output', join(ro, 'g.svg')]);
    expect(draw.code).toBe(4);
    expect(draw.stderr).toBe(
      `mase: cannot open ${join(ro, 'g.svg')}: the filesystem is read-only (EROFS)\n`,
    );
    write('plain-file', 'x');
    const f = mase([...GOVERNED, '--rounds', '10', '--out', 'plain-file']);
    expect(f.code).toBe(4);
    expect(f.stderr).toMatch(/^mase: cannot .*plain-file: .*\((ENOTDIR|EEXIST)\)\n$/);
  });
});
