import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../runtime/index.js';
import { cliPath, cliSandbox } from '../support/cli.js';

/**
 * What `mase` does to the files it is given and the directories it writes, as a user meets
 * it: `export sft` keeps what is at `--out`, a damaged record is named and its run redone,
 * aside files of crashed writers go away, a run or sweep directory has one writer at a time
 * (the second is told who holds it), and `--workers` stays within the cores.
 */

const { mase, maseAsync, file, write, dir: root } = cliSandbox('files');
const env = { MASE_HOME: file('home') };

const study = (rounds: number) => `mase 1
experiment base "2x2" {
  market cournot_2x2
  institution none
  agents qlearning
  rounds ${rounds}
}
sweep regimes "Three regimes" {
  base base
  factor regime: institution = none | constitutional | governance_graph
  replicates 1
  seed 3
}
`;

const source = write('study.mase', study(40));
/** Long enough to be still running while a second process tries the same directory. */
const long = write('long.mase', study(50_000_000));

/** A process id that no process has: one that has just exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid as number;
}

/** Starts `mase ARGS` and waits until `ready` exists: it has then claimed its directory. */
async function startHolder(args: readonly string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  while (!existsSync(ready)) {
    if (child.exitCode !== null) throw new Error(`mase ${args.join(' ')} ended early`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

const runsNow = (stdout: string) => Number(/(\d+) run now/.exec(stdout)?.[1] ?? Number.NaN);

describe('mase export sft --out', () => {
  const dir = file('exported');
  // A whole sweep in a child process: the test timeout, not the 10 s hook default.
  beforeAll(() => {
    expect(mase(['sweep', source, '--out', dir, '--workers', '1']).code).toBe(0);
  }, 30_000);

  it("refuses a sweep's own files, and any file that exists, unless --force", () => {
    const csv = join(dir, 'results.csv');
    const before = readFileSync(csv, 'utf8');
    const refused = mase(['export', 'sft', dir, '--out', csv]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `mase: ${csv} exists; choose another --out, or add --force to overwrite it\n`,
    );
    expect(readFileSync(csv, 'utf8')).toBe(before);
    const record = join(dir, 'records', readdirSync(join(dir, 'records'))[0] as string);
    expect(mase(['export', 'sft', dir, '--out', record]).code).toBe(2);

    const out = file('decisions.jsonl');
    expect(mase(['export', 'sft', dir, '--out', out]).code).toBe(0);
    expect(mase(['export', 'sft', dir, '--out', out]).stderr).toContain(
      `${out} exists; choose another --out, or add --force`,
    );
    // The card alone is enough to refuse: it would be overwritten too.
    rmSync(out);
    expect(mase(['export', 'sft', dir, '--out', out]).stderr).toContain(`${out}.card.md exists`);
    // With --force it is overwritten, and an aside file a crashed writer left goes away.
    const crashed = `${out}.partial-${deadPid()}`;
    writeFileSync(crashed, 'half of a file');
    const forced = mase(['export', 'sft', dir, '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(existsSync(crashed)).toBe(false);
  });
});

describe('mase sweep --resume after damage', () => {
  it('names a damaged record, sets it aside and runs its run again', () => {
    const dir = file('damaged');
    expect(mase(['sweep', source, '--out', dir, '--workers', '1']).code).toBe(0);
    const records = join(dir, 'records');
    const [first, second, third] = readdirSync(records).sort() as [string, string, string];
    const kept = readFileSync(join(records, third), 'utf8');
    // A record cut short (a crash on a file system without data journaling), and one that
    // `export sft --force` wrote over (no LLM firms: with nothing).
    writeFileSync(join(records, first), kept.slice(0, 30));
    expect(mase(['export', 'sft', dir, '--out', join(records, second), '--force']).code).toBe(0);
    // Aside files of writers that died: of a record, and of the results table.
    const pid = deadPid();
    writeFileSync(join(records, `${third}.partial-${pid}`), '{"run_id": "cut sh');
    writeFileSync(join(dir, `results.csv.partial-${pid}-00ff`), 'run_id,');

    const resumed = mase(['sweep', source, '--out', dir, '--resume', '--workers', '1']);
    expect(resumed.code).toBe(0);
    const warnings = resumed.stderr.split('\n');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      `mase: warning: ${join(records, first)} is damaged (it is not JSON (`,
    );
    expect(warnings[0]).toMatch(
      `): set aside as ${join(records, first)}.damaged; its run is done again`,
    );
    expect(warnings[1]).toBe(
      `mase: warning: ${join(records, second)} is damaged (it is empty): set aside as ${join(records, second)}.damaged; its run is done again`,
    );
    expect(runsNow(resumed.stdout)).toBe(2);
    expect(readdirSync(records).sort()).toEqual(
      [first, `${first}.damaged`, second, `${second}.card.md`, `${second}.damaged`, third].sort(),
    );
    for (const name of [first, second]) {
      const record = JSON.parse(readFileSync(join(records, name), 'utf8')) as RunRecord;
      expect(`${record.run_id}.json`).toBe(name);
      expect(record.status).toBe('completed');
    }
    expect(readFileSync(join(records, third), 'utf8')).toBe(kept);
    expect(readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('names a damaged sweep.json instead of failing inside', () => {
    const dir = file('damaged-sweep-file');
    expect(mase(['sweep', source, '--out', dir, '--workers', '1']).code).toBe(0);
    writeFileSync(join(dir, 'sweep.json'), '{"schema": 1, "sweep": "regi');
    const resumed = mase(['sweep', source, '--out', dir, '--resume']);
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toBe(
      `mase: ${join(dir, 'sweep.json')} is damaged (not the sweep file MASE wrote); the sweep cannot be resumed from it: run it again into a new --out\n`,
    );
  });
});

describe('one writer per directory', () => {
  it('refuses a second sweep in a directory a running sweep holds, naming it', async () => {
    const dir = file('held-sweep');
    const holder = await startHolder(
      ['sweep', long, '--out', dir, '--workers', '1'],
      join(dir, 'sweep.json'),
    );
    try {
      const second = await maseAsync(['sweep', long, '--out', dir, '--resume']);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(
        new RegExp(
          `^mase: the sweep directory ${dir} is in use by process ${holder.pid} on ${os.hostname()}, since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: mase sweep ${long} --out ${dir} --workers 1\\n$`,
        ),
      );
    } finally {
      await stop(holder);
    }
  });

  it('runs a sweep once when two resume it at the same time', async () => {
    const dir = file('raced-sweep');
    const twice = write('twice.mase', study(1000));
    const [a, b] = await Promise.all(
      [1, 2].map(() => maseAsync(['sweep', twice, '--out', dir, '--resume', '--workers', '1'])),
    );
    const outcomes = [a, b].map((r) => ({
      code: r?.code,
      ran: r?.code === 0 ? runsNow(r.stdout) : 0,
      refused: r?.stderr.includes('is in use by process') === true,
    }));
    // Each run ran once: by one sweep, while the other was refused or found it done.
    expect(outcomes.reduce((n, o) => n + o.ran, 0)).toBe(3);
    for (const o of outcomes) expect(o.code === 0 || (o.code === 2 && o.refused)).toBe(true);
    expect(readdirSync(join(dir, 'records'))).toHaveLength(3);
  }, 60_000);

  it('refuses a second run in a directory a running run holds, naming it', async () => {
    const dir = file('held-run');
    const holder = await startHolder(
      ['run', long, '--out', dir, '--rounds', '50000000'],
      join(dir, 'manifest.json'),
    );
    try {
      const second = await maseAsync(['run', long, '--out', dir]);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(
        new RegExp(
          `^mase: the run directory ${dir} is in use by process ${holder.pid} on ${os.hostname()}, since [^:]+:\\d\\d:[\\d.]+Z: mase run ${long} --out ${dir} --rounds 50000000\\n$`,
        ),
      );
    } finally {
      await stop(holder);
    }
  });

  it('lets exactly one of two runs started together on one directory proceed', async () => {
    const dir = file('raced-run');
    const results = await Promise.all(
      [1, 2].map(() => maseAsync(['run', source, '--out', dir, '--rounds', '2000'])),
    );
    expect(results.map((r) => r.code).sort()).toEqual([0, 2]);
    const refused = results.find((r) => r.code === 2);
    expect(refused?.stderr).toMatch(
      /^mase: (the run directory .* is in use by process|.* is not empty)/,
    );
    // The winner's run is whole, and its lock is gone with it.
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('completed');
    expect(existsSync(join(dir, '.mase-lock'))).toBe(false);
  }, 60_000);

  it("takes over a dead process's lock with a warning, and refuses one from another host", () => {
    const dir = file('dead-holder');
    mkdirSync(dir);
    const pid = deadPid();
    const lock = (host: string) =>
      JSON.stringify({
        pid,
        host,
        started_at: '2026-01-02T03:04:05.000Z',
        command: 'mase run study.mase --out dead-holder',
        token: 'f00d',
      });
    writeFileSync(join(dir, '.mase-lock'), lock('elsewhere'));
    const refused = mase(['run', source, '--out', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `mase: the run directory ${dir} is in use by process ${pid} on elsewhere, since 2026-01-02T03:04:05.000Z: mase run study.mase --out dead-holder; if that process is gone, remove ${join(dir, '.mase-lock')}\n`,
    );
    writeFileSync(join(dir, '.mase-lock'), lock(os.hostname()));
    const taken = mase(['run', source, '--out', dir]);
    expect(taken.code).toBe(0);
    expect(taken.stderr).toContain(
      `mase: warning: took over the lock of the run directory ${dir} from process ${pid} on ${os.hostname()}, since 2026-01-02T03:04:05.000Z: mase run study.mase --out dead-holder, which is no longer running\n`,
    );
    expect(readdirSync(dir)).not.toContain('.mase-lock');
  });

  it("lets one of two runs take over a dead process's lock", async () => {
    const dir = file('dead-holder-raced');
    mkdirSync(dir);
    const lock = {
      pid: deadPid(),
      host: os.hostname(),
      started_at: '2026-01-02T03:04:05.000Z',
      command: 'mase run study.mase --out dead-holder-raced',
      token: 'beef',
    };
    writeFileSync(join(dir, '.mase-lock'), JSON.stringify(lock));
    const results = await Promise.all(
      [1, 2].map(() => maseAsync(['run', source, '--out', dir, '--rounds', '2000'])),
    );
    expect(results.map((r) => r.code).sort()).toEqual([0, 2]);
    const won = results.find((r) => r.code === 0)?.stderr ?? '';
    const lost = results.find((r) => r.code === 2)?.stderr ?? '';
    expect(lost).toMatch(/^mase: (the run directory .* is in use by process \d+|.* is not empty)/);
    // The removal of the dead lock is reported once, by the process that removed it: the
    // winner, or the loser when the winner locked the directory in the moment between the
    // loser's moving the dead lock aside and its own lock.
    const tookOver = `took over the lock of the run directory ${dir} from process ${lock.pid}`;
    const removed = `after this process removed the lock of process ${lock.pid}`;
    expect([won.includes(tookOver), lost.includes(removed)].filter(Boolean)).toHaveLength(1);
  }, 60_000);
});

describe('--workers', () => {
  const cores = os.availableParallelism();

  it('is capped at the cores with a warning unless --force-workers, and never passes 256', () => {
    const capped = mase(['sweep', source, '--out', file('w1'), '--workers', '1000']);
    expect(capped.code).toBe(0);
    expect(capped.stderr).toBe(
      `mase: warning: --workers 1000 is more than the ${cores} core${cores === 1 ? '' : 's'} of this machine: using ${cores} (add --force-workers to start 1000)\n`,
    );
    expect(capped.stdout).toContain(`3 run now on ${cores} worker${cores === 1 ? '' : 's'}\n`);
    const forced = mase([
      'sweep',
      source,
      '--out',
      file('w2'),
      '--workers',
      String(cores + 1),
      '--force-workers',
    ]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toBe('');
    expect(forced.stdout).toContain(`3 run now on ${cores + 1} workers\n`);
    const tooMany = mase([
      'sweep',
      source,
      '--out',
      file('w3'),
      '--workers',
      '1000',
      '--force-workers',
    ]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toBe(
      'mase: --workers takes at most 256, even with --force-workers, not `1000`\n',
    );
    expect(existsSync(file('w3'))).toBe(false);
  });

  it('is capped the same way in mase demo', () => {
    const demo = mase([
      'demo',
      '--only',
      'finding',
      '--rounds',
      '20',
      '--replicates',
      '1',
      '--workers',
      '1000',
      '--out',
      file('demo'),
    ]);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stderr).toContain(
      `mase: warning: --workers 1000 is more than the ${cores} core${cores === 1 ? '' : 's'} of this machine: using ${cores} (add --force-workers to start 1000)\n`,
    );
    expect(demo.stderr).toContain(
      `part 1: 2 runs of 20 rounds on ${cores} worker${cores === 1 ? '' : 's'}\n`,
    );
    const refused = mase(['demo', '--workers', '300', '--force-workers', '--out', file('d2')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      'mase: --workers takes at most 256, even with --force-workers, not `300`\n',
    );
  });
});
