/**
 * A text world at scale: `mase run --environment stdlib:infection` with 10,000 scripted hosts
 * on a small-world network (`small_world(k: 4)`, each host writes to 4 others every round)
 * for 1,000 rounds, with the full trace (every message, decision, payoff and the world's
 * values each round). Issue 15's target: the whole command under 60 s.
 *
 * Each size is one fresh `mase run` process (the command a user types: start-up, the run,
 * events.jsonl, metrics.json, report.html), timed from spawn to exit, with its peak resident
 * memory (`process.resourceUsage().maxRSS`, reported by the child at exit) and the size of
 * events.jsonl. 100 and 300 rounds give the marginal cost of a round.
 *
 * Run with `npm run build && node dist/bench/infection-scale.js`; writes
 * bench/results/infection.json; `node dist/bench/report.js` regenerates docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  currentMachine,
  type Measurement,
  measurement,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
} from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'runtime', 'cli', 'main.js');
const scratch = mkdtempSync(join(os.tmpdir(), 'mase-infection-bench-'));
const HOSTS = Number(process.env.MASE_BENCH_HOSTS ?? 10_000);
const ROUNDS = (process.env.MASE_BENCH_ROUNDS ?? '100,300,1000').split(',').map(Number);
const TARGET_MS = 60_000;
const REPORT_RSS = `process.on('exit',()=>process.stderr.write('\\nMAXRSS '+process.resourceUsage().maxRSS+'\\n'))`;

const machine = currentMachine();
const measurements: Measurement[] = [];
const rows: (string | number)[][] = [];
for (const rounds of ROUNDS) {
  const out = join(scratch, `run-${rounds}`);
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(REPORT_RSS)}`,
      cli,
      'run',
      '--environment',
      'stdlib:infection',
      '--param',
      `hosts=${HOSTS}`,
      '--agents',
      'susceptible(0.3, 0.2)',
      '--talk',
      'small_world(k: 4)',
      '--rounds',
      String(rounds),
      '--out',
      out,
    ],
    { encoding: 'utf8', env: { ...process.env, MASE_HOME: join(scratch, 'home') } },
  );
  const ms = performance.now() - started;
  const rss = Number(/MAXRSS (\d+)/.exec(child.stderr)?.[1] ?? Number.NaN) / 1024;
  const ok = child.status === 0;
  const bytes = ok ? statSync(join(out, 'events.jsonl')).size : Number.NaN;
  const failure = ok ? '' : child.stderr.split('\n').filter(Boolean).slice(-3).join(' / ');
  process.stderr.write(
    `${rounds} rounds: ${ok ? 'ok' : `exit ${child.status}`} in ${(ms / 1000).toFixed(1)} s, peak ${rss.toFixed(0)} MiB${failure ? `: ${failure}` : ''}\n`,
  );
  rows.push([
    rounds,
    ok ? 'completed' : `failed (exit ${child.status})`,
    Number((ms / 1000).toFixed(1)),
    Number(rss.toFixed(0)),
    ok ? Number((bytes / 2 ** 20).toFixed(0)) : '—',
  ]);
  const m = measurement(
    `infection-${HOSTS}-${rounds}`,
    'infection',
    `${HOSTS.toLocaleString('en-US')} hosts × ${rounds} rounds, whole command`,
    [ms],
    {
      hosts: HOSTS,
      rounds,
      status: ok ? 'completed' : `exit ${child.status}`,
      peakMiB: Number(rss.toFixed(0)),
      ...(failure ? { failure } : {}),
    },
  );
  measurements.push(
    rounds === 1000 ? { ...m, target: { maxMedianMs: TARGET_MS, met: ok && ms < TARGET_MS } } : m,
  );
  rmSync(out, { recursive: true, force: true });
}
machine.loadAverageEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
rmSync(scratch, { recursive: true, force: true });

const results: ResultsFile = {
  schema: 1,
  title: `A text world at scale: infection, ${HOSTS.toLocaleString('en-US')} hosts`,
  description:
    'One fresh `mase run --environment stdlib:infection --agents "susceptible(0.3, 0.2)" --talk "small_world(k: 4)"` per size, full trace, timed from spawn to exit (one sample each: a run takes minutes). Target (issue 15): 1,000 rounds under 60 s.',
  command: 'npm run build && node dist/bench/infection-scale.js',
  date: new Date().toISOString(),
  machine,
  measurements,
  tables: [
    {
      title: 'Whole command, one run per size',
      columns: ['rounds', 'status', 'seconds', 'peak MiB', 'events.jsonl MiB'],
      rows,
    },
  ],
  ...(sourceRevision() ? { notes: [`source revision ${sourceRevision()}`] } : {}),
  // The reading of a run (what limits it) is written into `notes` by hand after a run.
};
writeFileSync(join(resultsDirectory(), 'infection.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`wrote ${join(resultsDirectory(), 'infection.json')}\n`);
