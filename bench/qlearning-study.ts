/**
 * Q-learning collusion study: how far two tabular Q-learning firms (policy `qlearning`,
 * default arguments) settle above Nash profit when nothing governs them, measured by the
 * collusion index Δ of docs/metrics.md over the second half of each run.
 *
 * For each market (`cournot_2x2`, and `cournot` with its default 2 firms) and each seed,
 * one run of ROUNDS rounds under `none`; Δ and the collusion tier come from `computeMetrics`
 * on the run's events (default window: the second half). Across seeds: the mean Δ with a
 * 95% percentile-bootstrap interval (10,000 resamples, drawn from the seeded streams of
 * runtime/random.ts, so the interval is reproducible) and the distribution of tiers.
 *
 * Twenty thousand rounds is enough for ε to decay but not for play to settle, so the study
 * also runs every seed for LONG_ROUNDS rounds (the same runs, longer: a run's first rounds
 * do not depend on its length), summarised the same way, and reports Δ over each tenth of
 * every run, to show where Δ is still moving.
 *
 * Runs are independent, so they go to worker threads (one per core, at most two by
 * default; `--workers N` to change it): each run's result depends only on its market and
 * seed, never on which worker ran it or when.
 *
 * Run with `npm run build && node dist/bench/qlearning-study.js`; writes
 * bench/results/qlearning.json and prints a summary. `--quick` runs 2 seeds of 2,000 rounds
 * (and one of 4,000) and writes nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { compileSources, type IrProgram } from '../compiler/index.js';
import {
  computeMetrics,
  QLEARNING_DEFAULTS,
  randomStream,
  resolveExperiment,
  runExperiment,
  stdlibSources,
  type TraceEvent,
} from '../runtime/index.js';
import {
  currentMachine,
  formatCount,
  formatMs,
  type Measurement,
  percentile,
  type ResultsFile,
  type ResultTable,
  resultsDirectory,
  sourceRevision,
  summarise as summariseTimes,
} from './report.js';

const QUICK = process.argv.includes('--quick');
const MARKETS = ['cournot_2x2', 'cournot'] as const;
// ε_t = exp(−β t) with the default β = 5e-4 is 0.0067 at round 10,000 and 4.5e-5 at
// 20,000: the second half, which Δ averages over, is played almost entirely greedily.
const ROUNDS = QUICK ? 2000 : 20_000;
const SEEDS = QUICK ? [1, 2] : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
// Long enough for most runs to lock into one profile (seed 1 does by about 30,000 rounds in
// cournot_2x2 and 70,000 in cournot), short enough to keep the study within about 3 minutes.
const LONG_ROUNDS = QUICK ? 4000 : 100_000;
const LONG_SEEDS = SEEDS;
const TENTHS = 10;
const RESAMPLES = 10_000;
const BOOTSTRAP_SEED = 2024;

interface Task {
  readonly market: string;
  readonly seed: number;
  readonly rounds: number;
}

interface Outcome {
  readonly market: string;
  readonly seed: number;
  readonly rounds: number;
  readonly delta: number | null;
  readonly tier: number | null;
  readonly hhiExcess: number | null;
  readonly cvExcess: number | null;
  readonly meanIndustryProfit: number | null;
  readonly nashProfit: number;
  readonly collusiveProfit: number;
  /** Share of the window's rounds whose quantities equal the window's most frequent profile. */
  readonly modalShare: number;
  /** Δ over each tenth of the run, first to last. */
  readonly deltaByTenth: number[];
  /** Wall ms of the run (the round loop only) and of scoring it. */
  readonly runMs: number;
  readonly metricsMs: number;
}

function experiment(program: IrProgram, task: Task) {
  return resolveExperiment(
    program,
    {
      market: task.market,
      institution: 'none',
      agents: 'qlearning',
      params: [],
      rounds: task.rounds,
      seed: task.seed,
    },
    () => ({ all: { name: 'qlearning', args: [] }, perFirm: {} }),
    stdlibSources(),
  );
}

/** How settled play is: the share of window rounds at the window's most common profile. */
function modalShare(events: readonly TraceEvent[], from: number): number {
  const counts = new Map<string, number>();
  let rounds = 0;
  for (const e of events) {
    if (e.type !== 'market' || e.round < from) continue;
    const key = JSON.stringify(e.quantity);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    rounds++;
  }
  return rounds === 0 ? 0 : Math.max(...counts.values()) / rounds;
}

/**
 * Δ over each tenth of the run, from the market events and the benchmark profits the
 * metrics report: the same formula as `collusion_index`, over other windows (scoring the
 * whole trace once per window would cost more than the run).
 */
function deltaByTenth(
  events: readonly TraceEvent[],
  rounds: number,
  nash: number,
  collusive: number,
): number[] {
  const sums = new Float64Array(TENTHS);
  const counts = new Float64Array(TENTHS);
  for (const e of events) {
    if (e.type !== 'market') continue;
    const tenth = Math.min(TENTHS - 1, Math.floor(((e.round - 1) * TENTHS) / rounds));
    sums[tenth] = (sums[tenth] ?? 0) + e.profit.reduce((a, b) => a + b, 0);
    counts[tenth] = (counts[tenth] ?? 0) + 1;
  }
  return Array.from(sums, (total, i) => (total / (counts[i] ?? 1) - nash) / (collusive - nash));
}

async function runTask(program: IrProgram, task: Task): Promise<Outcome> {
  const events: TraceEvent[] = [];
  const start = performance.now();
  const result = await runExperiment(experiment(program, task), {
    // Decisions repeat the market's quantities; the metrics do not need them.
    onEvent: (e) => {
      if (e.type !== 'decision') events.push(e);
    },
  });
  const runMs = performance.now() - start;
  if (result.status !== 'completed')
    throw new Error(`${task.market} seed ${task.seed}: ${result.status}`);
  const metrics = computeMetrics(events);
  const metricsMs = performance.now() - start - runMs;
  const nash = metrics.benchmarks.nash.industry_profit;
  const collusive = metrics.benchmarks.collusive.industry_profit;
  const tenths = deltaByTenth(events, task.rounds, nash, collusive);
  // With an even number of rounds the second half is the last five tenths exactly: a check
  // that the trajectory and the metrics agree.
  const secondHalf = tenths.slice(TENTHS / 2).reduce((a, b) => a + b, 0) / (TENTHS / 2);
  const delta = metrics.macro.collusion_index;
  if (task.rounds % TENTHS === 0 && delta !== null && Math.abs(secondHalf - delta) > 1e-9) {
    throw new Error(`${task.market} seed ${task.seed}: Δ ${delta} but ${secondHalf} by tenths`);
  }
  return {
    market: task.market,
    seed: task.seed,
    rounds: task.rounds,
    delta,
    tier: metrics.macro.tier,
    hhiExcess: metrics.macro.hhi_excess,
    cvExcess: metrics.macro.cv_excess,
    meanIndustryProfit: metrics.macro.mean_industry_profit,
    nashProfit: nash,
    collusiveProfit: collusive,
    modalShare: modalShare(events, metrics.window.from),
    deltaByTenth: tenths,
    runMs,
    metricsMs,
  };
}

// ---- the worker: runs the tasks it is sent, one at a time --------------------------------

function serveTasks(): void {
  const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
  parentPort?.on('message', (task: Task | null) => {
    if (task === null) {
      parentPort?.close();
      return;
    }
    runTask(program, task).then(
      (outcome) => parentPort?.postMessage({ outcome }),
      (error: unknown) =>
        parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/** Runs every task on `workers` threads; results in the order of `tasks`. */
async function runAll(tasks: readonly Task[], workers: number): Promise<Outcome[]> {
  const results: Outcome[] = new Array(tasks.length);
  let next = 0;
  let done = 0;
  const file = fileURLToPath(import.meta.url);
  await Promise.all(
    Array.from(
      { length: Math.min(workers, tasks.length) },
      () =>
        new Promise<void>((resolve, reject) => {
          const worker = new Worker(file);
          let current = -1;
          const feed = () => {
            if (next >= tasks.length) {
              worker.postMessage(null);
              return;
            }
            current = next++;
            worker.postMessage(tasks[current]);
          };
          worker.on('message', (m: { outcome?: Outcome; error?: string }) => {
            if (m.error !== undefined || !m.outcome) {
              reject(new Error(m.error ?? 'a worker answered nothing'));
              void worker.terminate();
              return;
            }
            results[current] = m.outcome;
            done++;
            const o = m.outcome;
            process.stderr.write(
              `  [${done}/${tasks.length}] ${o.market} seed ${o.seed}, ${formatCount(o.rounds)} rounds: Δ ${o.delta?.toFixed(3)}, tier ${o.tier}, ${formatCount(o.runMs)} ms\n`,
            );
            feed();
          });
          worker.on('error', reject);
          worker.on('exit', () => resolve());
          feed();
        }),
    ),
  );
  return results;
}

// ---- statistics ---------------------------------------------------------------------------

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n − 1). */
function sd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
}

/** Nearest-rank percentile of sorted values. */
/**
 * Percentile bootstrap of the mean: resample the values with replacement `resamples`
 * times, take the 2.5th and 97.5th percentiles of the resampled means.
 */
function bootstrapMeanCi(
  values: readonly number[],
  resamples: number,
  stream: string,
): { low: number; high: number } {
  const random = randomStream(BOOTSTRAP_SEED, stream);
  const n = values.length;
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let total = 0;
    for (let k = 0; k < n; k++)
      total += values[Math.min(n - 1, Math.floor(random.next() * n))] as number;
    means[b] = total / n;
  }
  const sorted = Array.from(means).sort((a, b) => a - b);
  return { low: percentile(sorted, 0.025), high: percentile(sorted, 0.975) };
}

// ---- the study ------------------------------------------------------------------------------

interface Summary {
  market: string;
  rounds: number;
  deltas: number[];
  mean: number;
  sd: number;
  ci: { low: number; high: number };
  tiers: number[];
  nashProfit: number;
  collusiveProfit: number;
}

function summarise(market: string, rounds: number, outcomes: readonly Outcome[]): Summary {
  const mine = outcomes.filter((o) => o.market === market && o.rounds === rounds);
  const deltas = mine.map((o) => o.delta).filter((d): d is number => d !== null);
  if (deltas.length !== mine.length) throw new Error(`${market}: Δ is undefined for some seed`);
  const tiers = [0, 0, 0, 0, 0];
  for (const o of mine) if (o.tier !== null) tiers[o.tier] = (tiers[o.tier] ?? 0) + 1;
  // The main horizon keeps the stream name it was first reported with.
  const stream = rounds === ROUNDS ? `bootstrap:${market}` : `bootstrap:${market}:${rounds}`;
  return {
    market,
    rounds,
    deltas,
    mean: mean(deltas),
    sd: sd(deltas),
    ci: bootstrapMeanCi(deltas, RESAMPLES, stream),
    tiers,
    nashProfit: mine[0]?.nashProfit ?? Number.NaN,
    collusiveProfit: mine[0]?.collusiveProfit ?? Number.NaN,
  };
}

const fixed = (x: number | null, digits = 3) => (x === null ? '—' : x.toFixed(digits));

function summaryTable(summaries: readonly Summary[]): ResultTable {
  return {
    title: 'Collusion index Δ over the second half of each run, across seeds',
    columns: [
      'Market',
      'Rounds',
      'Seeds',
      'Mean Δ',
      '95% bootstrap CI',
      'SD',
      'Min',
      'Max',
      'Tier 0',
      'Tier 1',
      'Tier 2',
      'Tier 3',
      'Tier 4',
      'Π^N',
      'Π^M',
    ],
    align: [
      'left',
      'right',
      'right',
      'right',
      'left',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
      'right',
    ],
    rows: summaries.map((s) => [
      `\`${s.market}\``,
      formatCount(s.rounds),
      s.deltas.length,
      fixed(s.mean),
      `[${fixed(s.ci.low)}, ${fixed(s.ci.high)}]`,
      fixed(s.sd),
      fixed(Math.min(...s.deltas)),
      fixed(Math.max(...s.deltas)),
      ...s.tiers,
      formatCount(s.nashProfit),
      formatCount(s.collusiveProfit),
    ]),
    caption: `Δ = (Π̄ − Π^N) / (Π^M − Π^N): 0 at Nash profit, 1 at joint-profit maximisation (docs/metrics.md). The interval is a percentile bootstrap of the mean over seeds (${formatCount(RESAMPLES)} resamples). Tier counts are seeds per collusion tier.`,
  };
}

const trajectory = (o: Outcome) => o.deltaByTenth.map((d) => d.toFixed(2)).join(' ');

function runTable(title: string, outcomes: readonly Outcome[], caption: string): ResultTable {
  return {
    title,
    columns: [
      'Market',
      'Seed',
      'Rounds',
      'Δ (second half)',
      'Tier',
      'HHI excess',
      'CV excess',
      'Modal profile share',
      'Δ by tenth of the run',
    ],
    align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    rows: outcomes.map((o) => [
      `\`${o.market}\``,
      o.seed,
      formatCount(o.rounds),
      fixed(o.delta),
      o.tier ?? '—',
      fixed(o.hhiExcess),
      fixed(o.cvExcess),
      fixed(o.modalShare, 2),
      trajectory(o),
    ]),
    caption,
  };
}

function timing(market: string, outcomes: readonly Outcome[], workers: number): Measurement {
  const samples = outcomes
    .filter((o) => o.market === market && o.rounds === ROUNDS)
    .map((o) => o.runMs);
  const stats = summariseTimes(samples);
  const round3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    id: `qlearning-${market}`,
    group: 'Run time of one study run (round loop only, not scoring)',
    label: `\`${market}\`, 2 qlearning firms, ${formatCount(ROUNDS)} rounds, \`none\``,
    unit: 'ms',
    warmup: 0,
    runs: samples.length,
    median: round3(stats.median),
    p90: round3(stats.p90),
    min: round3(stats.min),
    max: round3(stats.max),
    mean: round3(stats.mean),
    rates: { 'rounds/s': Math.round(ROUNDS / (stats.median / 1000)) },
    detail: { rounds: ROUNDS, seeds: samples.length, workers },
    samples: samples.map(round3),
  };
}

function workerCount(): number {
  const at = process.argv.indexOf('--workers');
  if (at >= 0) {
    const n = Number(process.argv[at + 1]);
    if (!Number.isInteger(n) || n < 1) throw new Error('--workers takes a whole number ≥ 1');
    return n;
  }
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

async function main(): Promise<void> {
  const machine = currentMachine();
  // Before the runs: the code they load is the code as it was when they started.
  const revision = sourceRevision() ?? 'not a git checkout';
  const workers = workerCount();
  // The long runs go first, so no worker is left with one at the end while the other idles.
  const tasks = [
    ...MARKETS.flatMap((market) =>
      LONG_SEEDS.map((seed) => ({ market, seed, rounds: LONG_ROUNDS })),
    ),
    ...MARKETS.flatMap((market) => SEEDS.map((seed) => ({ market, seed, rounds: ROUNDS }))),
  ];
  process.stderr.write(
    `qlearning study: ${tasks.length} runs (${formatCount(ROUNDS)} and ${formatCount(LONG_ROUNDS)} rounds) on ${workers} worker(s)\n`,
  );
  const start = performance.now();
  const outcomes = await runAll(tasks, workers);
  const elapsed = (performance.now() - start) / 1000;
  machine.loadAverageEnd = os.loadavg();
  const summaries = [ROUNDS, LONG_ROUNDS].flatMap((rounds) =>
    MARKETS.map((m) => summarise(m, rounds, outcomes)),
  );
  const d = QLEARNING_DEFAULTS;
  const from = Math.floor(ROUNDS / 2) + 1;
  const results: ResultsFile = {
    schema: 1,
    title: 'Q-learning collusion index (study)',
    description: `Two firms with the \`qlearning\` policy at its defaults (m = ${d.m}, ξ = ${d.xi}, α = ${d.alpha}, β = ${d.beta}, δ = ${d.delta}, memory ${d.memory}) under the \`none\` institution, in \`cournot_2x2\` and in \`cournot\` (2 firms, default parameters): ${formatCount(ROUNDS)} rounds, seeds ${SEEDS[0]}–${SEEDS[SEEDS.length - 1]}. Δ and the tier are \`computeMetrics\` on each run's events over the default window, rounds ${formatCount(from)}–${formatCount(ROUNDS)}, where ε = exp(−β t) falls from ${Math.exp(-d.beta * from).toPrecision(2)} to ${Math.exp(-d.beta * ROUNDS).toPrecision(2)}. The same seeds are also run for ${formatCount(LONG_ROUNDS)} rounds (Δ over rounds ${formatCount(LONG_ROUNDS / 2 + 1)}–${formatCount(LONG_ROUNDS)}), because Δ has not stopped moving at ${formatCount(ROUNDS)}. See docs/metrics.md, "Q-learning collusion index (measured)".`,
    command: 'npm run build && node dist/bench/qlearning-study.js',
    date: new Date().toISOString(),
    machine,
    measurements: MARKETS.map((m) => timing(m, outcomes, workers)),
    tables: [
      summaryTable(summaries),
      runTable(
        'Each run',
        outcomes.filter((o) => o.rounds === ROUNDS),
        'Modal profile share: the share of the window’s rounds in which the firms’ quantities were exactly the window’s most frequent profile (1.00: play settled on one profile; near 0: play still moving). Δ by tenth: the collusion index over rounds 1–10%, 10–20%, … of the run.',
      ),
      runTable(
        `Longer runs: the same seeds for ${formatCount(LONG_ROUNDS)} rounds`,
        outcomes.filter((o) => o.rounds === LONG_ROUNDS),
        `The same runs as above, continued: a run's first ${formatCount(ROUNDS)} rounds do not depend on its length, so the first two tenths of these trajectories are the ${formatCount(ROUNDS)}-round runs' second half. Δ and the tier here are over rounds ${formatCount(LONG_ROUNDS / 2 + 1)}–${formatCount(LONG_ROUNDS)}.`,
      ),
    ],
    notes: [
      `Bootstrap: ${formatCount(RESAMPLES)} resamples of the seeds' Δ with replacement, random draws from \`randomStream(${BOOTSTRAP_SEED}, 'bootstrap:<market>')\` for the ${formatCount(ROUNDS)}-round runs and \`'bootstrap:<market>:${LONG_ROUNDS}'\` for the longer ones (runtime/random.ts); the interval is the 2.5th to 97.5th percentile (nearest rank) of the resampled means. With ${SEEDS.length} seeds the percentile bootstrap tends to be somewhat too narrow. Each interval describes the spread across seeds at its horizon, nothing about longer ones.`,
      `In the single-product \`cournot\` the CV excess is 0 by definition, so its tier reads the HHI excess alone: any asymmetry between the two firms' quantities is tier 1.`,
      'Δ by tenth is computed from the market events (mean industry profit per tenth against the benchmarks’ Π^N and Π^M); the study checks that the mean of the last five tenths equals the metrics’ Δ.',
      `Code: ${revision} (at the start; the build in dist/ is what ran).`,
      `The whole study took ${formatCount(elapsed)} s of wall time on ${workers} worker thread(s); run times above are per run, measured inside the workers, and include waiting for a core when the machine was busy.`,
    ],
  };
  if (QUICK) process.stderr.write('quick run: nothing written\n\n');
  else {
    const dir = resultsDirectory();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'qlearning.json');
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`wrote ${file}\n\n`);
  }
  for (const s of summaries) {
    process.stdout.write(
      `${s.market}, ${formatCount(s.rounds)} rounds: mean Δ ${s.mean.toFixed(3)} [${s.ci.low.toFixed(3)}, ${s.ci.high.toFixed(3)}] (sd ${s.sd.toFixed(3)}, n ${s.deltas.length}); tiers 0–4: ${s.tiers.join(' / ')}\n`,
    );
  }
  process.stdout.write(`${formatMs(elapsed * 1000)} ms in all\n`);
}

if (isMainThread) await main();
else serveTasks();
