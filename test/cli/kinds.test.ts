import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox, messageLines } from '../support/cli.js';

/**
 * An environment kind written in code, end to end through the built binary: the fixture
 * folder test/fixtures/kinds/median_pot (index.js + median-pot.mase, nothing else) is
 * registered with `--kind` and taken through check → run → metrics → report → sweep →
 * analyze → replay, with no change anywhere else. Its pot is `factor` × the median of every
 * round's total contribution so far × a seeded shock in [0.95, 1.05]: something the
 * expression language cannot say. Every bad kind is one message and exit 2.
 */

const KIND = fileURLToPath(new URL('../fixtures/kinds/median_pot', import.meta.url));
const sandbox = cliSandbox('kinds');
const { mase, file, read, json, write } = sandbox;

const events = (run: string) =>
  read(`${run}/events.jsonl`)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const rounds = (run: string) =>
  events(run).filter((e) => e.type === 'environment') as {
    round: number;
    values: { pot: number; share: number[]; contribution: number[]; payoff: number[] };
  }[];
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const STUDY = `mase 1

experiment pot "The median pot under one policy" {
  environment median_pot
  agents half
  rounds 6
  seed 1
}

sweep pots {
  base pot
  factor agents = half | free_ride | full
  factor environment.factor = 1.2 | 2
  replicates 2
}
`;

// An institution of the same file, for an environment of the kind: it reads \`contribution\`.
const PLEDGE = `mase 1

institution pledge "Contribute at least half" {
  scope per player
  monitor low = contribution[self] < 5
  initial state ok "In good standing" {
    when low -> warned
  }
  state warned "Below the pledge" {
    notice "contribute at least 5"
    each round fine 2
    when not low -> ok
  }
}

experiment governed {
  environment median_pot
  institution pledge
  agents random
  rounds 8
  seed 2
}
`;

/** A kind folder in the test's directory: `index.js` as given, beside the fixture's source. */
function kindFolder(name: string, code: string): string {
  const folder = file(name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'index.js'), code);
  writeFileSync(join(folder, 'median-pot.mase'), readFileSync(join(KIND, 'median-pot.mase')));
  return folder;
}

beforeAll(() => {
  write('study.mase', STUDY);
  write('pledge.mase', PLEDGE);
});

describe('a code kind from a folder goes through every command', () => {
  it('check: unknown without --kind, clean with it (its code reads `factor`: no W_UNUSED)', () => {
    const without = mase('check study.mase');
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('E_UNKNOWN_NAME no environment `median_pot`');
    const checked = mase(['--kind', KIND, 'check', 'study.mase']);
    expect(checked.stderr).toBe('study.mase: no problems\n');
    expect(checked.code).toBe(0);
  });

  it('run: the pot is factor × the running median total × a shock, and metrics follow', () => {
    const run = mase([
      '--kind',
      KIND,
      'run',
      '--environment',
      'median_pot',
      '--agents',
      'player1=full,player2=random,player3=free_ride',
      '--rounds',
      '8',
      '--seed',
      '3',
      '--out',
      'mixed',
    ]);
    expect(run.stderr).toContain('status: completed');
    expect(run.code).toBe(0);
    const played = rounds('mixed');
    expect(played).toHaveLength(8);
    const totals: number[] = [];
    let potSum = 0;
    const paid = [0, 0, 0];
    for (const r of played) {
      const c = r.values.contribution;
      expect(c[0]).toBe(10);
      expect(c[2]).toBe(0);
      totals.push(c.reduce((a, b) => a + b, 0));
      // The shock is the only part not computed here: it stays in [0.95, 1.05].
      const shock = r.values.pot / (1.5 * median(totals));
      expect(shock).toBeGreaterThanOrEqual(0.95);
      expect(shock).toBeLessThanOrEqual(1.05);
      expect(r.values.share).toEqual([1, 2, 3].map(() => r.values.pot / 3));
      for (let i = 0; i < 3; i++) paid[i] = (paid[i] ?? 0) + 10 - (c[i] ?? 0) + r.values.pot / 3;
      potSum += r.values.pot;
    }
    const metrics = json<{
      macro: Record<string, number>;
      agents: Record<string, { payoff: number }>;
    }>('mixed/metrics.json');
    expect(metrics.macro.mean_pot).toBeCloseTo(potSum / 8, 9);
    expect(metrics.agents.player1?.payoff).toBeCloseTo(paid[0] as number, 9);
    expect(metrics.agents.player3?.payoff).toBeCloseTo(paid[2] as number, 9);
    // The manifest names the code that computed the run.
    const manifest = json<{ market: { code_kind: { name: string; sha256: string } } }>(
      'mixed/manifest.json',
    );
    expect(manifest.market.code_kind.name).toBe('median_pot');
    expect(manifest.market.code_kind.sha256).toBe(
      createHash('sha256')
        .update(readFileSync(join(KIND, 'index.js')))
        .digest('hex'),
    );
  });

  it('the same seed gives the same trace; another seed another shock', () => {
    const args = (out: string, seed: string) => [
      '--kind',
      KIND,
      'run',
      '--environment',
      'median_pot',
      '--agents',
      'half',
      '--rounds',
      '4',
      '--seed',
      seed,
      '--out',
      out,
    ];
    for (const [out, seed] of [
      ['same1', '7'],
      ['same2', '7'],
      ['other', '8'],
    ] as const)
      expect(mase(args(out, seed)).code).toBe(0);
    const trace = (run: string) => read(`${run}/events.jsonl`);
    expect(trace('same2')).toBe(trace('same1'));
    expect(rounds('other')[0]?.values.pot).not.toBe(rounds('same1')[0]?.values.pot);
  });

  it('report and show read the run without the kind registered', () => {
    const report = mase('report mixed');
    expect(report.code).toBe(0);
    expect(read('mixed/report.html')).toContain('macro.mean_pot');
    const show = mase('show mixed');
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('macro.contribution_rate');
  });

  it('replay needs the kind: without it a message naming the folder, with it the same trace', () => {
    const without = mase('replay mixed --out replayed0');
    expect(without.code).toBe(2);
    expect(messageLines(without.stderr)).toEqual([
      expect.stringMatching(
        /was computed by the code kind median_pot, which is not registered here: add --kind FOLDER \(it ran from .*median_pot\)$/,
      ),
    ]);
    const replayed = mase(['--kind', KIND, 'replay', 'mixed', '--out', 'replayed']);
    expect(replayed.code).toBe(0);
    expect(rounds('replayed')).toEqual(rounds('mixed'));
  });

  it('an institution governs it: its monitor reads the kind environment`s action', () => {
    const run = mase(['--kind', KIND, 'run', 'pledge.mase', '--out', 'governed']);
    expect(run.code).toBe(0);
    const fines = events('governed').filter((e) => e.type === 'sanction');
    const low = rounds('governed').reduce(
      (n, r) => n + r.values.contribution.filter((c) => c < 5).length,
      0,
    );
    expect(low).toBeGreaterThan(0);
    expect(fines.length).toBeGreaterThan(0);
  });

  it('sweep (on worker threads), analyze and the sweep report use its declared metrics', () => {
    const sweep = mase(['--kind', KIND, 'sweep', 'study.mase', '--out', 'sw', '--workers', '2']);
    expect(sweep.stdout + sweep.stderr).toContain('12 completed, 0 failed');
    expect(sweep.code).toBe(0);
    const csv = read('sw/results.csv').trim().split('\n');
    const header = (csv[0] ?? '').split(',');
    expect(header).toEqual(expect.arrayContaining(['mean_pot', 'contribution_rate']));
    expect(csv).toHaveLength(13);
    // free riders contribute nothing, so the median total and the pot are 0.
    const col = (name: string) => header.indexOf(name);
    const freeRiding = csv.slice(1).filter((l) => l.split(',')[col('agents')] === 'free_ride');
    expect(freeRiding).toHaveLength(4);
    for (const l of freeRiding) expect(Number(l.split(',')[col('mean_pot')])).toBe(0);
    const analyze = mase('analyze sw');
    expect(analyze.code).toBe(0);
    expect(analyze.stdout).toContain('Environment metrics: mean_pot, contribution_rate');
    // The sweep report compiles the sweep's sources: it needs the kind, and says so.
    const bare = mase('report sw');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain(
      '(an environment of a code kind needs its folder: --kind FOLDER)',
    );
    expect(mase(['--kind', KIND, 'report', 'sw']).code).toBe(0);
  });
});

describe('bad kinds are one message and exit 2', () => {
  const runWith = (folder: string, out: string) =>
    mase([
      '--kind',
      folder,
      'run',
      '--environment',
      'median_pot',
      '--agents',
      'half',
      '--rounds',
      '4',
      '--out',
      out,
    ]);

  it('a folder that does not exist, a folder without index.js', () => {
    const missing = runWith('nowhere', 'x1');
    expect(missing.code).toBe(2);
    expect(messageLines(missing.stderr)).toEqual(['mase: --kind nowhere: no such folder']);
    mkdirSync(file('empty'));
    const empty = runWith('empty', 'x2');
    expect(empty.code).toBe(2);
    expect(messageLines(empty.stderr)).toEqual([
      "mase: --kind empty: the folder has no index.js (the kind's code)",
    ]);
    expect(existsSync(file('x1'))).toBe(false);
    expect(existsSync(file('x2'))).toBe(false);
  });

  it('index.js that exports no kind, or fails to load', () => {
    const none = runWith(kindFolder('nokind', 'export const x = 1;\n'), 'x3');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('does not give an environment kind');
    kindFolder('broken', 'throw new Error("no luck");\n');
    const broken = runWith('broken', 'x4');
    expect(broken.code).toBe(2);
    expect(messageLines(broken.stderr)).toEqual([
      'mase: --kind broken: index.js cannot be loaded: no luck',
    ]);
  });

  it('the kind is not registered: the environment names the flag to add', () => {
    const run = mase([
      'run',
      '--environment',
      join(KIND, 'median-pot.mase'),
      '--agents',
      'half',
      '--out',
      'x5',
    ]);
    expect(run.code).toBe(2);
    expect(messageLines(run.stderr)).toEqual([
      'mase: environment median_pot is computed by the code kind `median_pot`, which is not registered here; register its folder with --kind FOLDER (registered: covert, feed, infection, relay)',
    ]);
  });

  it('a kind that gives the wrong shape', () => {
    const folder = kindFolder(
      'short',
      `export default { name: 'median_pot', create: () => ({
  benchmarks: { free_ride: 0, full: 10 },
  round: () => ({ values: { pot: 1, share: [1, 1] } }),
}) };\n`,
    );
    const run = runWith(folder, 'x6');
    expect(run.code).toBe(2);
    expect(messageLines(run.stderr)).toEqual([
      'mase: the code kind median_pot gave a list of 2 for `share` in round 1; the declaration of median_pot needs 3 numbers, one per player',
    ]);
  });

  it('a kind that fails mid-run: the rounds before it are kept, the run is marked failed', () => {
    const folder = kindFolder(
      'leaky',
      `export default { name: 'median_pot', create: () => ({
  benchmarks: { free_ride: 0, full: 10 },
  round({ round }) {
    if (round === 3) throw new Error('the pot leaked');
    return { values: { pot: 3, share: 1 } };
  },
}) };\n`,
    );
    const run = runWith(folder, 'leaked');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'mase: the code kind median_pot failed in round 3: the pot leaked',
    );
    const manifest = json<{ status: string; rounds_completed: number }>('leaked/manifest.json');
    expect(manifest).toMatchObject({ status: 'failed', rounds_completed: 2 });
    expect(rounds('leaked')).toHaveLength(2);
    expect(mase('verify leaked').stderr).toContain('incomplete: the run failed after 2 rounds');
    // Scored on the two rounds it played, as the trace's payoff events add up.
    const metrics = json<{
      run: { rounds_played: number };
      series: { round: number[] };
      totals: { payoff_before_fines: number };
    }>('leaked/metrics.json');
    const payoffs = read('leaked/events.jsonl')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; round?: number; profit?: number })
      .filter((e) => e.type === 'payoff');
    expect(payoffs.length).toBeGreaterThan(0);
    expect(metrics.run.rounds_played).toBe(2);
    expect(metrics.series.round).toEqual([1, 2]);
    expect(metrics.totals.payoff_before_fines).toBeCloseTo(
      payoffs.filter((e) => (e.round ?? 0) <= 2).reduce((sum, e) => sum + (e.profit ?? 0), 0),
      9,
    );
  });
});
