/**
 * What a run's record costs at each trace level (issue 17): `mase run --market stdlib:cournot
 * --agents nash --param firms=F --rounds R --trace L`, one fresh process per run, timed from
 * spawn to exit, for F = 2, 10 and 100 firms, R = 10,000 and 50,000 rounds, L = full, summary
 * and none. A round's marginal cost at a level is the slope between the two lengths (start-up,
 * compiling and the artifacts' fixed costs cancel); the ratio of two levels' slopes is taken
 * within each repetition (the runs of one repetition follow each other, the levels' order
 * rotating), and its median over the repetitions is reported. Target (issue 17): full at most
 * 1.5× none.
 *
 * Run with `npm run build && node dist/bench/trace-levels.js` (MASE_BENCH_REPEATS, default
 * 3; MASE_BENCH_FIRMS, default 2,10,100; 100 firms run MASE_BENCH_REPEATS_100 times, default
 * 1: one repetition takes minutes); writes bench/results/trace-levels.json;
 * `node dist/bench/report.js` regenerates docs/benchmarks.md.
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
  median,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
} from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'runtime', 'cli', 'main.js');
const scratch = mkdtempSync(join(os.tmpdir(), 'mase-trace-bench-'));
const FIRMS = (process.env.MASE_BENCH_FIRMS ?? '2,10,100').split(',').map(Number);
const REPEATS = Number(process.env.MASE_BENCH_REPEATS ?? 3);
const REPEATS_100 = Number(process.env.MASE_BENCH_REPEATS_100 ?? 1);
const ROUNDS = [10_000, 50_000] as const;
const LEVELS = ['full', 'summary', 'none'] as const;
type Level = (typeof LEVELS)[number];
const TARGET = 1.5;

/** One `mase run`: wall ms and the size of its events.jsonl. */
function run(firms: number, rounds: number, level: Level): { ms: number; bytes: number } {
  const out = join(scratch, `run-${firms}-${rounds}-${level}`);
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    [
      cli,
      'run',
      ...['--market', 'stdlib:cournot', '--agents', 'nash', '--param', `firms=${firms}`],
      ...['--rounds', String(rounds), '--trace', level, '--out', out],
    ],
    { encoding: 'utf8', env: { ...process.env, MASE_HOME: join(scratch, 'home') } },
  );
  const ms = performance.now() - started;
  if (child.status !== 0)
    throw new Error(`mase run exited ${child.status}: ${child.stderr.split('\n').slice(-3)}`);
  const bytes = statSync(join(out, 'events.jsonl')).size;
  rmSync(out, { recursive: true, force: true });
  return { ms, bytes };
}

const machine = currentMachine();
const measurements: Measurement[] = [];
const slopeRows: (string | number)[][] = [];
const ratioRows: (string | number)[][] = [];
const perRound = (short: number, long: number) => (long - short) / (ROUNDS[1] - ROUNDS[0]);
// One untimed run first: the file cache holds the CLI's modules.
run(2, 10, 'full');
for (const firms of FIRMS) {
  const repeats = firms >= 100 ? REPEATS_100 : REPEATS;
  const samples = new Map<string, number[]>();
  const bytes = new Map<string, number>();
  /** Slopes (ms a round) by level, one per repetition. */
  const slopes = new Map<Level, number[]>(LEVELS.map((l) => [l, []]));
  for (let r = 0; r < repeats; r++) {
    const order = LEVELS.map((_, i) => LEVELS[(i + r) % LEVELS.length] as Level);
    for (const level of order) {
      const short = run(firms, ROUNDS[0], level);
      const long = run(firms, ROUNDS[1], level);
      for (const [rounds, m] of [
        [ROUNDS[0], short],
        [ROUNDS[1], long],
      ] as const) {
        const key = `${level}-${rounds}`;
        samples.set(key, [...(samples.get(key) ?? []), m.ms]);
        bytes.set(key, m.bytes);
      }
      slopes.get(level)?.push(perRound(short.ms, long.ms));
      process.stderr.write(
        `${firms} firms, ${level}: ${(short.ms / 1000).toFixed(2)} s / ${(long.ms / 1000).toFixed(2)} s\n`,
      );
    }
  }
  for (const level of LEVELS)
    for (const rounds of ROUNDS)
      measurements.push(
        measurement(
          `trace-${firms}-${level}-${rounds}`,
          `trace levels, ${firms} firms`,
          `${firms} firms × ${rounds.toLocaleString('en-US')} rounds, --trace ${level}, whole command`,
          samples.get(`${level}-${rounds}`) ?? [],
          { firms, rounds, level, eventsBytes: bytes.get(`${level}-${rounds}`) ?? 0 },
        ),
      );
  const none = slopes.get('none') ?? [];
  for (const level of LEVELS) {
    const mine = slopes.get(level) ?? [];
    slopeRows.push([
      firms,
      level,
      Number((1000 * median(mine)).toFixed(1)),
      Number(((bytes.get(`${level}-${ROUNDS[1]}`) ?? 0) / 2 ** 20).toFixed(1)),
    ]);
  }
  for (const level of ['full', 'summary'] as const) {
    const ratios = (slopes.get(level) ?? []).map((s, i) => s / (none[i] as number));
    const ratio = median(ratios);
    ratioRows.push([
      firms,
      `${level} / none`,
      Number(ratio.toFixed(2)),
      repeats,
      level === 'full' ? (ratio <= TARGET ? 'yes' : '**no**') : '—',
    ]);
  }
}
machine.loadAverageEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
rmSync(scratch, { recursive: true, force: true });

const results: ResultsFile = {
  schema: 1,
  title: 'Trace levels: what a round’s record costs',
  description: `One fresh \`mase run --market stdlib:cournot --agents nash --param firms=F --rounds R --trace L\` per sample, timed from spawn to exit. A round's marginal cost is the slope between ${ROUNDS[0].toLocaleString('en-US')} and ${ROUNDS[1].toLocaleString('en-US')} rounds; ratios are of slopes within one repetition (levels in rotating order), median over repetitions. Target (issue 17): full at most ${TARGET}× none.`,
  command: 'npm run build && node dist/bench/trace-levels.js',
  date: new Date().toISOString(),
  machine,
  measurements,
  tables: [
    {
      title: 'Marginal cost of a round (µs), and the trace of the longer run',
      columns: ['firms', 'level', 'µs a round (median slope)', `events.jsonl MiB at ${ROUNDS[1]}`],
      rows: slopeRows,
    },
    {
      title: 'Paired ratios of marginal costs',
      columns: ['firms', 'ratio', 'median', 'repetitions', `full ≤ ${TARGET}× none`],
      rows: ratioRows,
    },
  ],
  ...(sourceRevision() ? { notes: [`source revision ${sourceRevision()}`] } : {}),
  // The reading of a run (what limits it) is written into `notes` by hand after a run.
};
writeFileSync(
  join(resultsDirectory(), 'trace-levels.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);
process.stderr.write(`wrote ${join(resultsDirectory(), 'trace-levels.json')}\n`);
