import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { answer, startScriptedServer } from '../../bench/support/openai-server.js';
import { openResults, type RunRecord } from '../../runtime/index.js';
import { cliPath, cliSandbox } from '../support/cli.js';

/**
 * `mase sweep`, `analyze`, `report` and `export sft` as a user runs them: local worker
 * threads, resuming after a kill -9, failed runs, the results files, and clear messages
 * for what cannot work.
 */

const __dirname = dirname(fileURLToPath(import.meta.url));
const { mase, maseAsync, file, write } = cliSandbox('sweep-cli');
const env = { MASE_HOME: file('home') };

const study = (rounds: number, replicates: number, extra = '') => `mase 1
experiment base "2x2" {
  market cournot_2x2
  institution none
  agents qlearning
  rounds ${rounds}
}
sweep regimes "Three regimes <b>bold</b>" {
  base base
  factor regime: institution = none | constitutional | governance_graph
  ${extra}
  replicates ${replicates}
  seed 3
}
`;

const records = (dir: string): RunRecord[] =>
  readdirSync(join(dir, 'records'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, 'records', f), 'utf8')) as RunRecord);

/** What a run computed, without who ran it or when. */
const outcome = (r: RunRecord) => ({
  run_id: r.run_id,
  status: r.status,
  factors: r.factors,
  seed: r.seed,
  metrics: r.metrics,
  series: r.series,
  transitions: r.transitions_by_edge,
});

function csv(path: string): Record<string, string>[] {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  const columns = (head ?? '').split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [columns[i], v])));
}

describe('mase sweep', () => {
  const source = write('study.mase', study(60, 2));

  it('runs every run on local workers, with the same results as one worker', () => {
    const two = file('two');
    const one = file('one');
    const a = mase(['sweep', source, '--out', two, '--workers', '2']);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain('3 cells × 2 replicates = 6 runs');
    expect(a.stdout).toContain('6 completed, 0 failed');
    const b = mase(['sweep', source, '--out', one, '--workers', '1', '--run-reports']);
    expect(b.code).toBe(0);
    // A run draws its page only when asked: its charts were most of a short run's time.
    const pages = (dir: string) =>
      records(dir).filter((r) => existsSync(join(dir, r.artifacts ?? '?', 'report.html'))).length;
    expect(pages(one)).toBe(6);
    expect(pages(two)).toBe(0);
    const byId = (rs: RunRecord[]) =>
      rs.map(outcome).sort((x, y) => x.run_id.localeCompare(y.run_id));
    expect(byId(records(two))).toEqual(byId(records(one)));
    expect(new Set(records(two).map((r) => r.worker)).size).toBeGreaterThanOrEqual(1);
    // One row per run: id, factors, seed, status, worker, metrics.
    const rows = csv(join(two, 'results.csv'));
    expect(rows).toHaveLength(6);
    expect(Object.keys(rows[0] ?? {}).slice(0, 5)).toEqual([
      'run_id',
      'regime',
      'seed',
      'status',
      'worker',
    ]);
    expect(new Set(rows.map((r) => r.run_id)).size).toBe(6);
    for (const row of rows) {
      expect(row.status).toBe('completed');
      expect(['0', '1', '2', '3', '4']).toContain(row.tier);
      expect(Number.isFinite(Number(row.collusion_index))).toBe(true);
    }
    expect(existsSync(join(two, 'results.parquet'))).toBe(true);
    // Seeds pair across regimes: replicate r has one seed in every cell.
    const seeds = new Map<string, Set<string>>();
    for (const row of rows)
      seeds.set(
        row.regime as string,
        new Set([...(seeds.get(row.regime as string) ?? []), row.seed as string]),
      );
    expect([...(seeds.get('none') ?? [])].sort()).toEqual(
      [...(seeds.get('governance_graph') ?? [])].sort(),
    );
  });

  it('analyzes and reports a sweep, escaping what the sources say', () => {
    const dir = file('two');
    const text = mase(['analyze', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Paired comparisons');
    // Two replicates make two pairs: no p below 2/2² = 0.5, and the output says so.
    expect(text.stdout).toContain(
      'with 2 pairs the smallest attainable p is 0.5 > 0.05: this test cannot reach significance.',
    );
    const json = mase(['analyze', dir, '--format', 'json']);
    const analysis = JSON.parse(json.stdout) as { runs: { total: number }; comparisons: unknown[] };
    expect(analysis.runs.total).toBe(6);
    expect(analysis.comparisons.length).toBe(6);
    // The same store and seed give the same analysis.
    expect(mase(['analyze', dir, '--format', 'json']).stdout).toBe(json.stdout);
    const report = mase(['report', dir]);
    expect(report.code).toBe(0);
    const page = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(page).toContain('Three regimes &lt;b&gt;bold&lt;/b&gt;');
    expect(page).not.toContain('<b>bold</b>');
    expect(page).toContain('Paired comparisons');
    expect(page).toContain('<th>welfare</th><th>consumer surplus</th>');
    expect(page).toContain('<th>smallest attainable p</th>');
    // Each run's verdict beside its tier, in the runs table and counted per level.
    expect(page).toContain('<th>tier</th><th>verdict</th><th>collusion index</th>');
    expect(page).toContain('<th>verdicts (runs)</th>');
    expect(page).toMatch(
      /<td>\d<\/td><td>(collusive|restricted_symmetric|competitive|concentrated_unprofitable|enforcement_distorted|inconclusive)<\/td>/,
    );
    expect(page).toMatch(/<svg/);
    // No run drew its page (no --run-reports): each row gives the command that draws it.
    const commands = [...page.matchAll(/<code>mase report ([^<]+\/runs\/[0-9a-f]{32})<\/code>/g)];
    expect(commands.map((m) => m[1])).toHaveLength(6);
    expect(page).not.toMatch(/href="runs\/[0-9a-f]{32}\/report.html"/);
    const drawn = mase(['report', commands[0]?.[1] ?? '?']);
    expect(drawn.code).toBe(0);
    expect(existsSync(join(commands[0]?.[1] ?? '?', 'report.html'))).toBe(true);
    // Drawn, it is linked.
    expect(mase(['report', dir]).code).toBe(0);
    const again = readFileSync(join(dir, 'report.html'), 'utf8');
    expect((again.match(/href="runs\/[0-9a-f]{32}\/report.html"/g) ?? []).length).toBe(1);
    // A sweep run with --run-reports links every run's page.
    expect(mase(['report', file('one')]).code).toBe(0);
    const linked = readFileSync(join(file('one'), 'report.html'), 'utf8');
    expect((linked.match(/href="runs\/[0-9a-f]{32}\/report.html"/g) ?? []).length).toBe(6);
  });

  it('refuses what cannot work, with a message and no stack trace', () => {
    const busy = mase(['sweep', source, '--out', file('two')]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('is not empty: add --resume');
    expect(mase(['sweep', source, '--out', file('x'), '--workers', '0']).stderr).toContain(
      '--workers takes a whole number ≥ 1, not `0`',
    );
    expect(mase(['sweep', source, '--out', file('x'), '--sweep', 'nope']).stderr).toContain(
      'no sweep `nope`',
    );
    // --run-reports is a switch: a value after it is a second file, refused.
    const valued = mase(['sweep', source, '--out', file('x'), '--run-reports', 'yes']);
    expect(valued.code).toBe(2);
    expect(valued.stderr).toContain("too many arguments for 'sweep'");
    expect(existsSync(file('x'))).toBe(false);
    expect(mase(['sweep', source, '--out', file('x'), '--queue', 'http://x']).stderr).toContain(
      '--queue "http://x" is not a redis:// URL; expected redis://HOST:PORT',
    );
    const broken = write('broken.mase', study(60, 2).replace('base base', 'base nothing'));
    const errors = mase(['sweep', broken, '--out', file('x')]);
    expect(errors.code).toBe(1);
    expect(errors.stderr).toMatch(/broken\.mase:\d+:\d+/);
    const other = write('other.mase', study(61, 2));
    const resumeOther = mase(['sweep', other, '--out', file('two'), '--resume']);
    expect(resumeOther.code).toBe(2);
    expect(resumeOther.stderr).toContain('from other sources');
    const clash = write('clash.mase', study(60, 2).replace('factor regime:', 'factor tier:'));
    const clashed = mase(['sweep', clash, '--out', file('clash')]);
    expect(clashed.code).toBe(2);
    expect(clashed.stderr).toContain('factor `tier` has the name of a results column');
    expect(existsSync(file(join('clash', 'records')))).toBe(false);
    const noStore = mase(['analyze', file('nothing-here')]);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/^mase: /);
  });

  it('records runs that fail and goes on', () => {
    // A policy argument out of its range is refused only when the agent is built (an
    // unknown policy name is refused by the checker, before the sweep runs).
    const failing = write(
      'failing.mase',
      study(30, 1).replace(
        'factor regime: institution = none | constitutional | governance_graph',
        'factor regime: institution = none | governance_graph\n  factor agents = qlearning | noisy_nash(noise: 7)',
      ),
    );
    const dir = file('failing');
    const result = mase(['sweep', failing, '--out', dir, '--workers', '2']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('2 completed, 2 failed');
    const failed = records(dir).filter((r) => r.status === 'failed');
    expect(failed).toHaveLength(2);
    for (const r of failed) {
      expect(r.factors.agents).toBe('noisy_nash(noise: 7)');
      expect(r.error).toBe('noisy_nash: argument `noise` must be a number ≥ 0 and ≤ 1; got 7');
    }
    const rows = csv(join(dir, 'results.csv'));
    expect(rows.filter((r) => r.status === 'failed')).toHaveLength(2);
  });

  it('loses at most the runs in flight to a kill -9, and a resume ends with one result per run', async () => {
    const long = write('long.mase', study(1500, 4));
    const dir = file('killed');
    const child = spawn(
      process.execPath,
      [cliPath, 'sweep', long, '--out', dir, '--workers', '1'],
      {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      },
    );
    // Kill it once some runs are recorded and others are not.
    const recorded = () =>
      existsSync(join(dir, 'records'))
        ? readdirSync(join(dir, 'records')).filter((f) => f.endsWith('.json')).length
        : 0;
    const deadline = Date.now() + 60_000;
    while (recorded() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const before = recorded();
    expect(before).toBeGreaterThanOrEqual(2);
    expect(before).toBeLessThan(12);
    const resumed = await maseAsync(['sweep', long, '--out', dir, '--workers', '2', '--resume']);
    // The killed sweep's lock is taken over, with a warning naming it.
    expect(resumed.stderr).toMatch(
      new RegExp(
        `^mase: warning: took over the lock of the sweep directory ${dir} from process ${child.pid} on .*: mase sweep ${long} --out ${dir} --workers 1, which is no longer running\\n$`,
      ),
    );
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`${12 - before} run now`);
    const all = records(dir);
    expect(all).toHaveLength(12);
    expect(new Set(all.map((r) => r.run_id)).size).toBe(12);
    expect(csv(join(dir, 'results.csv'))).toHaveLength(12);
    // Nothing left behind by the killed attempt: one directory per run.
    expect(readdirSync(join(dir, 'runs')).sort()).toEqual(all.map((r) => r.run_id).sort());
    // A second resume has nothing to do.
    const again = mase(['sweep', long, '--out', dir, '--resume']);
    expect(again.stdout).toContain('0 run now');
  }, 120_000);
});

describe('mase sweep over an environment', () => {
  const source = write(
    'fishery.mase',
    `mase 1
experiment fish {
  environment commons(fishers: 3)
  institution none
  agents sustainable
  rounds 6
}
sweep fishing "Growth and greed" {
  base fish
  factor environment.growth = 1.5 | 2
  factor agents = sustainable | greedy
  replicates 2
}
`,
  );
  const dir = file('fishing');
  const declared = ['survival_rounds', 'efficiency', 'equality', 'overuse_rate'];

  it("stores each run's declared metrics and totals as columns, as its metrics.json has them", async () => {
    const result = mase(['sweep', source, '--out', dir, '--workers', '1']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('4 cells × 2 replicates = 8 runs');
    const reader = await openResults(dir);
    try {
      const columns = (
        await reader.query(
          "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' ORDER BY ordinal_position",
        )
      ).map((row) => row.column_name);
      expect(columns).toEqual(
        expect.arrayContaining([...declared, 'payoff', 'fines', 'credits', 'rounds_played']),
      );
      // A market's columns mean nothing for a fishery: absent, not 0.
      for (const market of ['collusion_index', 'tier', 'verdict', 'mean_price', 'welfare'])
        expect(columns).not.toContain(market);
      expect(await reader.query('SELECT name FROM metrics ORDER BY position')).toEqual(
        declared.map((name) => ({ name })),
      );
      const rows = await reader.query(
        `SELECT artifacts, ${declared.join(', ')}, payoff, fines, rounds_played FROM runs`,
      );
      expect(rows).toHaveLength(8);
      for (const row of rows) {
        const metrics = JSON.parse(
          readFileSync(join(dir, String(row.artifacts), 'metrics.json'), 'utf8'),
        ) as {
          macro: Record<string, number>;
          totals: { payoff: number; fines: number };
          run: { rounds_played: number };
        };
        expect(row).toEqual({
          artifacts: row.artifacts,
          ...metrics.macro,
          payoff: metrics.totals.payoff,
          fines: metrics.totals.fines,
          rounds_played: metrics.run.rounds_played,
        });
      }
      // Three greedy fishers take the whole stock in round 1 and it collapses; sustainable
      // ones take capacity·(1 − 1/growth) a round for the 6 rounds, all that can last.
      expect(
        await reader.query(
          'SELECT agents, environment_growth AS growth, min(survival_rounds) AS lo, max(survival_rounds) AS hi, avg(efficiency) AS efficiency FROM runs GROUP BY ALL ORDER BY agents, growth',
        ),
      ).toEqual([
        { agents: 'greedy', growth: 1.5, lo: 1, hi: 1, efficiency: expect.closeTo(100 / 200, 9) },
        { agents: 'greedy', growth: 2, lo: 1, hi: 1, efficiency: expect.closeTo(100 / 300, 9) },
        { agents: 'sustainable', growth: 1.5, lo: 6, hi: 6, efficiency: expect.closeTo(1, 9) },
        { agents: 'sustainable', growth: 2, lo: 6, hi: 6, efficiency: expect.closeTo(1, 9) },
      ]);
      expect(
        (await reader.query('SELECT DISTINCT metric FROM rounds ORDER BY metric')).map(
          (row) => row.metric,
        ),
      ).toEqual(['payoff', 'fines', 'credits', 'fish', 'requested', 'left', 'sustainable_share']);
      // The world's own values per round, as each run's metrics.json has them.
      for (const row of rows) {
        const fish = (
          await reader.query(
            `SELECT value FROM rounds WHERE run_id = (SELECT run_id FROM runs WHERE artifacts = '${row.artifacts}') AND metric = 'fish' ORDER BY round`,
          )
        ).map((r) => r.value);
        const metrics = JSON.parse(
          readFileSync(join(dir, String(row.artifacts), 'metrics.json'), 'utf8'),
        ) as { series: { values: { fish: number[] } } };
        expect(fish).toEqual(metrics.series.values.fish);
        expect(fish.length).toBeGreaterThan(0);
      }
    } finally {
      reader.close();
    }
  }, 120_000);

  it('is analysed and reported with the environment metrics as outcomes', () => {
    const text = mase(['analyze', dir]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'Environment metrics: survival_rounds, efficiency, equality, overuse_rate; compared and followed: survival_rounds',
    );
    expect(text.stdout).toMatch(/^agents\s+sustainable\s+greedy\s+survival_rounds\s+4\s+-5 /m);
    const efficiency = mase(['analyze', dir, '--metric', 'efficiency', '--format', 'json']);
    expect(efficiency.code).toBe(0);
    const analysis = JSON.parse(efficiency.stdout) as {
      environment: { metric: string };
      comparisons: { outcome: string }[];
    };
    expect(analysis.environment.metric).toBe('efficiency');
    expect(analysis.comparisons.map((c) => c.outcome)).toEqual(['efficiency']);
    const report = mase(['report', dir]);
    expect(report.code).toBe(0);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('Regimes: agents');
    for (const metric of declared) expect(html).toContain(`<th>${metric}</th>`);
  }, 120_000);

  it('refuses an outcome the environments do not declare, naming those they do', () => {
    const result = mase(['analyze', dir, '--metric', 'collusion_index']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "mase: the sweep's environments declare no metric `collusion_index`; metrics: survival_rounds, efficiency, equality, overuse_rate\n",
    );
  });
});

describe('mase sweep over an option parameter', () => {
  it('runs each option, stores it as written, and the option changes what the run computes', async () => {
    const source = write(
      'payment.mase',
      `mase 1
experiment bids {
  environment auction(payment: "second")
  agents truthful
  rounds 4
}
sweep payments "First or second price" {
  base bids
  factor environment.payment = "first" | "second"
  seed 5
}
`,
    );
    const dir = file('payments');
    const result = mase(['sweep', source, '--out', dir, '--workers', '1']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('2 cells × 1 replicates = 2 runs');
    const reader = await openResults(dir);
    try {
      const rows = await reader.query(
        'SELECT environment_payment AS payment, revenue, revenue_ratio FROM runs ORDER BY payment',
      );
      expect(rows.map((row) => row.payment)).toEqual(['first', 'second']);
      const [first, second] = rows;
      // Truthful bidders: second price gives exactly the competitive benchmark; first
      // price the highest values, more on the same draws (one seed for both cells).
      expect(second?.revenue_ratio).toBe(1);
      expect(Number(first?.revenue_ratio)).toBeGreaterThan(1);
      expect(Number(first?.revenue)).toBeGreaterThan(Number(second?.revenue));
    } finally {
      reader.close();
    }
  }, 120_000);
});

describe('examples/institutional-ai', () => {
  const folder = join(__dirname, '..', '..', 'examples', 'institutional-ai');

  it('has exactly one file defining the `smoke` sweep, and it runs end to end on two workers', () => {
    const files = readdirSync(folder).filter((f) => f.endsWith('.mase'));
    const defining = files.filter((f) =>
      /^sweep\s+smoke\b/m.test(readFileSync(join(folder, f), 'utf8')),
    );
    expect(defining).toEqual(['study.mase']);
    const dir = file('smoke');
    const result = mase([
      'sweep',
      join(folder, 'study.mase'),
      '--sweep',
      'smoke',
      '--out',
      dir,
      '--workers',
      '2',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const rows = csv(join(dir, 'results.csv'));
    expect(rows).toHaveLength(12);
    expect(Object.keys(rows[0] ?? {})).toEqual(
      expect.arrayContaining([
        'run_id',
        'regime',
        'seed',
        'status',
        'worker',
        'collusion_index',
        'tier',
      ]),
    );
    expect(new Set(rows.map((r) => r.regime))).toEqual(
      new Set(['none', 'constitutional', 'governance_graph', 'institutional_ai']),
    );
    expect(rows.every((r) => r.status === 'completed')).toBe(true);
    const analysis = mase(['analyze', dir]);
    expect(analysis.code).toBe(0);
    expect(analysis.stdout).toContain('governance_graph');
    expect(analysis.stdout).toContain('institutional_ai');
  }, 120_000);
});

describe('mase export sft', () => {
  it("writes the LLM firms' decisions as chat records, filtered by SQL, with a dataset card", async () => {
    const server = await startScriptedServer((request) =>
      answer([20 + (request.body.messages?.length ?? 0), 25]),
    );
    try {
      const source = write(
        'llm.mase',
        `mase 1
experiment base {
  market cournot_2x2
  institution none
  agents llm(model: "openai-compatible:${server.url}#scripted", memory: 2)
  rounds 3
}
sweep llm_regimes {
  base base
  factor regime: institution = none | governance_graph
  replicates 1
}
`,
      );
      const dir = file('llm');
      const sweep = await maseAsync([
        'sweep',
        source,
        '--out',
        dir,
        '--workers',
        '1',
        '--no-cache',
      ]);
      expect(sweep.stderr).toBe('');
      expect(sweep.code).toBe(0);
      mkdirSync(file('out'), { recursive: true });
      const out = file(join('out', 'none.jsonl'));
      const exported = mase(['export', 'sft', dir, '--out', out, '--where', "regime = 'none'"]);
      expect(exported.code).toBe(0);
      const lines = readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      // Two firms, three rounds, one run.
      expect(lines).toHaveLength(6);
      for (const line of lines) {
        expect(line.messages.map((m: { role: string }) => m.role)).toEqual([
          'system',
          'user',
          'assistant',
        ]);
        expect(JSON.parse(line.messages[2].content).quantity).toHaveLength(2);
        expect(line.metadata.factors.regime).toBe('none');
        expect(line.metadata.model).toContain('scripted');
      }
      const card = readFileSync(`${out}.card.md`, 'utf8');
      expect(card).toContain("Filter: `regime = 'none'`");
      expect(card).toContain('Records: 6');
      expect(card).toContain('Runs selected: 1');
      // A sweep's token budget: once the recorded runs have spent it, no new run starts.
      const budgeted = write(
        'budget.mase',
        readFileSync(source, 'utf8')
          .replace('sweep llm_regimes {', 'sweep budgeted {')
          .replace('replicates 1', 'replicates 2\n  budget tokens 1'),
      );
      const stopped = await maseAsync([
        'sweep',
        budgeted,
        '--out',
        file('budgeted'),
        '--workers',
        '1',
        '--no-cache',
      ]);
      expect(stopped.code).toBe(1);
      expect(stopped.stdout).toContain('1 completed, 0 failed, 3 not run');
      expect(stopped.stdout).toContain("stopped: the sweep's token budget (1) is spent");
      const bad = mase([
        'export',
        'sft',
        dir,
        '--out',
        file(join('out', 'bad.jsonl')),
        '--where',
        'nope = 1',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^mase: invalid where expression "nope = 1"/);
    } finally {
      await server.close();
    }
  }, 60_000);
});
