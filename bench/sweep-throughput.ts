/**
 * Sweeps: how much faster two local workers get through a sweep than one, what a run
 * costs to go through Redis and BullMQ instead of the local pool, and how long
 * `mase analyze` takes on a 10,000-run results store.
 *
 * 1. Throughput: 12 runs (three regimes × 4 replicates) of `cournot_2x2`, 2,000 rounds
 *    each, every firm `nash` (scripted) or `qlearning`, with 1 and 2 local workers
 *    (`runSweep`: plan, runs with their artifacts, records, results store). Target:
 *    2 workers ≥ 1.7× as fast as 1 on this 2-core machine.
 * 2. Queue overhead: 40 tiny runs (10 rounds, `nash`) through a real `redis-server` and one
 *    `mase worker` process, against the local pool with one worker; the difference per run.
 *    Target: under 20 ms per run.
 * 3. Analysis: a synthetic store of 10,000 runs (four regimes × two numeric factors of
 *    five levels × 100 replicates); `analyzeSweep` with its defaults. Target: under 5 s.
 *
 * Run with `npm run build && node dist/bench/sweep-throughput.js`; writes
 * bench/results/sweep.json; `node dist/bench/report.js` regenerates docs/benchmarks.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  analyzeSweep,
  buildResultsStore,
  type RunRecord,
  randomStream,
  runSweep,
} from '../runtime/index.js';
import {
  currentMachine,
  formatMs,
  type Measurement,
  measurement,
  median,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
} from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const scratch = mkdtempSync(join(os.tmpdir(), 'mase-sweep-bench-'));
process.env.MASE_HOME = join(scratch, 'home');
const REPETITIONS = 3;
const MIN_SPEEDUP = 1.7;
const MAX_QUEUE_OVERHEAD_MS = 20;
const MAX_ANALYSIS_MS = 5000;
/** Issue 17: what a sweep adds to each short run, worker start-up excluded. */
const MAX_RUN_OVERHEAD_MS = 20;

const sweepSource = (agents: string, rounds: number, replicates: number) => ({
  path: 'bench.mase',
  text: `mase 1
experiment base {
  market cournot_2x2
  institution none
  agents ${agents}
  rounds ${rounds}
}
sweep bench {
  base base
  factor regime: institution = none | constitutional | governance_graph
  replicates ${replicates}
  seed 1
}
`,
});

let count = 0;
const fresh = () => join(scratch, `sweep-${++count}`);

/** Wall and CPU milliseconds of one sweep; CPU is this process's, worker threads included. */
async function timedSweep(
  source: { path: string; text: string },
  workers: number,
  queue?: string,
  runReports = false,
): Promise<{ ms: number; cpuMs: number }> {
  const out = fresh();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const outcome = await runSweep({
    sources: [source],
    sweep: 'bench',
    out,
    workers,
    resume: false,
    progress: false,
    ...(queue ? { queue } : {}),
    ...(runReports ? { runReports } : {}),
  });
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  if (outcome.status !== 'completed' || outcome.records.some((r) => r.status !== 'completed'))
    throw new Error('a benchmark sweep did not complete');
  rmSync(out, { recursive: true, force: true });
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null)
    throw new Error('redis-server did not start (apt-get install redis-server)');
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

async function startWorkerProcess(queue: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [join(here, '..', 'runtime', 'sweep', 'worker-main.js'), '--queue', queue, '--name', 'bench'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
  });
  return child;
}

function syntheticRecords(): RunRecord[] {
  const random = randomStream(1, 'synthetic-sweep');
  const regimes = ['none', 'constitutional', 'governance_graph', 'strict'];
  const records: RunRecord[] = [];
  let cell = 0;
  for (const regime of regimes)
    for (const a of [0.1, 0.2, 0.3, 0.4, 0.5])
      for (const b of [50, 100, 150, 200, 250]) {
        for (let replicate = 0; replicate < 100; replicate++) {
          const ci = Math.max(
            -1,
            Math.min(
              1.5,
              a * 2 - (regime === 'governance_graph' ? 0.5 : 0) + (random.next() - 0.5),
            ),
          );
          const tier = Math.max(0, Math.min(4, Math.round(ci * 3 + random.next())));
          const id = `${cell}-${replicate}`.padStart(32, '0');
          records.push({
            run_id: id,
            sweep: 'synthetic',
            cell,
            replicate,
            seed: replicate,
            factors: { regime, a, b },
            status: 'completed',
            error: null,
            worker: 'synthetic',
            started_at: '2026-01-01T00:00:00.000Z',
            finished_at: '2026-01-01T00:00:01.000Z',
            duration_ms: 1000,
            metrics: {
              collusion_index: ci,
              tier,
              tier_unsuspended: tier,
              verdict: ci > 0.1 ? 'collusive' : 'competitive',
              severe: tier === 4,
              hhi_excess: ci / 2,
              cv_excess: ci,
              mean_price: 60 + 10 * ci,
              mean_industry_profit: 3000 + 500 * ci,
              consumer_surplus: 2000 - 300 * ci,
              welfare: 5000 - 100 * ci,
              fines: regime === 'governance_graph' ? 1000 * random.next() : 0,
              credits: 0,
              sanctions: regime === 'governance_graph' ? Math.floor(10 * random.next()) : 0,
              transitions: 0,
              restorations: 0,
              false_positive_rate: regime === 'governance_graph' ? random.next() / 10 : null,
              detection_rate: regime === 'governance_graph' ? random.next() : null,
              detection_latency: null,
              rounds_played: 20,
              fallbacks: 0,
              fallback_share: 0,
              tokens: 0,
              cost: 0,
            },
            transitions_by_edge: {},
            series: {
              round: Array.from({ length: 20 }, (_, i) => i + 1),
              mean_price: Array.from({ length: 20 }, () => 60 + 10 * random.next()),
              industry_profit: Array.from({ length: 20 }, () => 3000 * random.next()),
              hhi: Array.from({ length: 20 }, () => 5000),
              fines: Array.from({ length: 20 }, () => 0),
              welfare: Array.from({ length: 20 }, () => 5000),
            },
            artifacts: null,
            institution: regime,
            llm_firms: [],
            models: [],
          });
        }
        cell++;
      }
  return records;
}

async function main(): Promise<void> {
  const machine = currentMachine();
  const revision = sourceRevision() ?? 'unknown';
  const measurements: Measurement[] = [];
  const throughputRows: (string | number)[][] = [];
  for (const agents of ['nash', 'qlearning']) {
    const source = sweepSource(agents, 2000, 4);
    await timedSweep(sweepSource(agents, 50, 1), 2); // warm-up
    const byWorkers = new Map<number, number[]>();
    const cpuOfOne: number[] = [];
    for (let k = 0; k < REPETITIONS; k++)
      for (const workers of [1, 2]) {
        const { ms, cpuMs } = await timedSweep(source, workers);
        byWorkers.set(workers, [...(byWorkers.get(workers) ?? []), ms]);
        if (workers === 1) cpuOfOne.push(cpuMs);
      }
    const one = median(byWorkers.get(1) ?? []);
    const two = median(byWorkers.get(2) ?? []);
    // Cores kept busy by one worker (its thread, V8's compiler and collector threads, the
    // main thread): two cores can do the same work at most 2 / busy times as fast.
    const busy = median(cpuOfOne) / one;
    for (const [workers, samples] of byWorkers) {
      measurements.push(
        measurement(
          `sweep-${agents}-${workers}-workers`,
          'sweep throughput',
          `12 runs × 2,000 rounds, ${agents}, ${workers} local worker${workers > 1 ? 's' : ''}`,
          samples,
          { agents, workers, runs: 12, rounds: 2000 },
          {
            warmup: 1,
            rates: { 'runs/s': Math.round((12 / (median(samples) / 1000)) * 100) / 100 },
          },
        ),
      );
    }
    const speedup = one / two;
    process.stderr.write(
      `${agents}: 1 worker ${formatMs(one)} ms, 2 workers ${formatMs(two)} ms, ${speedup.toFixed(2)}×\n`,
    );
    throughputRows.push([
      agents,
      formatMs(one),
      formatMs(two),
      speedup.toFixed(2),
      busy.toFixed(2),
      (2 / busy).toFixed(2),
      speedup >= MIN_SPEEDUP ? 'yes' : '**no**',
    ]);
  }

  // What drawing every run's page (--run-reports) adds to a sweep, paired per repetition.
  const pageRows: (string | number)[][] = [];
  for (const [label, source, runs] of [
    ['12 runs × 2,000 rounds, nash', sweepSource('nash', 2000, 4), 12],
    ['42 runs × 10 rounds, nash', sweepSource('nash', 10, 14), 42],
  ] as const) {
    const plain: number[] = [];
    const drawn: number[] = [];
    const ratios: number[] = [];
    for (let k = 0; k < REPETITIONS; k++) {
      const a = (await timedSweep(source, 1)).ms;
      const b = (await timedSweep(source, 1, undefined, true)).ms;
      plain.push(a);
      drawn.push(b);
      ratios.push(b / a);
    }
    measurements.push(
      measurement(`sweep-pages-${runs}`, 'run pages', `${label}, 1 worker, --run-reports`, drawn, {
        runs,
      }),
    );
    pageRows.push([
      label,
      formatMs(median(plain)),
      formatMs(median(drawn)),
      median(ratios).toFixed(2),
      ((median(drawn) - median(plain)) / runs).toFixed(0),
    ]);
    process.stderr.write(`${label}: pages ${median(ratios).toFixed(2)}× the sweep without\n`);
  }

  // Queue overhead.
  const redis = await startRedis();
  const worker = await startWorkerProcess(redis.url);
  const tiny = sweepSource('nash', 10, 14); // 42 runs
  const three = sweepSource('nash', 10, 1); // 3 runs: the thread's start-up and one run a cell
  const local: number[] = [];
  const short: number[] = [];
  const queued: number[] = [];
  /** Per repetition: (42-run sweep − 3-run sweep) / 39, both on a fresh 1-worker pool. */
  const perRun: number[] = [];
  try {
    await timedSweep(tiny, 1, redis.url); // warm-up: the worker compiles once per sweep
    for (let k = 0; k < REPETITIONS; k++) {
      const many = (await timedSweep(tiny, 1)).ms;
      const few = (await timedSweep(three, 1)).ms;
      local.push(many);
      short.push(few);
      perRun.push((many - few) / 39);
      queued.push((await timedSweep(tiny, 1, redis.url)).ms);
    }
  } finally {
    worker.kill('SIGKILL');
    redis.stop();
  }
  const runs = 42;
  const overhead = (median(queued) - median(local)) / runs;
  measurements.push(
    measurement(
      'sweep-local-tiny',
      'queue overhead',
      `${runs} runs × 10 rounds, local pool, 1 worker`,
      local,
      { runs },
      { warmup: 1 },
    ),
    measurement(
      'sweep-local-three',
      'queue overhead',
      '3 runs × 10 rounds, local pool, 1 worker',
      short,
      { runs: 3 },
      { warmup: 1 },
    ),
    measurement(
      'sweep-queue-tiny',
      'queue overhead',
      `${runs} runs × 10 rounds, Redis + 1 mase worker`,
      queued,
      { runs },
      { warmup: 1 },
    ),
  );
  process.stderr.write(`queue overhead: ${overhead.toFixed(1)} ms per run\n`);
  const runOverhead = median(perRun);
  process.stderr.write(`a sweep's cost per short run: ${runOverhead.toFixed(1)} ms\n`);

  // Analysis of a 10,000-run store.
  const dir = fresh();
  const records = syntheticRecords();
  const buildStart = performance.now();
  await buildResultsStore(dir, records, ['regime', 'a', 'b']);
  const buildMs = performance.now() - buildStart;
  const analysis: number[] = [];
  await analyzeSweep(dir, {});
  for (let k = 0; k < REPETITIONS; k++) {
    const started = performance.now();
    await analyzeSweep(dir, {});
    analysis.push(performance.now() - started);
  }
  const analysisMs = median(analysis);
  measurements.push(
    {
      ...measurement(
        'analyze-10000',
        'analysis',
        '`analyzeSweep` on 10,000 runs',
        analysis,
        { runs: records.length },
        { warmup: 1 },
      ),
      target: { maxMedianMs: MAX_ANALYSIS_MS, met: analysisMs < MAX_ANALYSIS_MS },
    },
    measurement(
      'store-10000',
      'analysis',
      'building the results store of 10,000 runs (20 rounds each)',
      [buildMs],
      {
        runs: records.length,
      },
    ),
  );
  process.stderr.write(
    `analysis of 10,000 runs: ${formatMs(analysisMs)} ms (store built in ${formatMs(buildMs)} ms)\n`,
  );

  machine.loadAverageEnd = os.loadavg();
  const results: ResultsFile = {
    schema: 1,
    title: 'Sweeps',
    description:
      'Sweep throughput on local worker threads (1 and 2 workers), the per-run cost of the Redis/BullMQ executor against the local pool, and `mase analyze` on a 10,000-run results store. Targets: 2 workers ≥ 1.7× as fast as 1 (issue 5; issue 17: ≥ 1.6×, with one worker keeping at most 1.15 cores busy); the queue adds under 20 ms per run; a sweep adds under 20 ms to each short run (issue 17); analysis under 5 s.',
    command: 'npm run build && node dist/bench/sweep-throughput.js',
    date: new Date().toISOString(),
    machine,
    measurements,
    tables: [
      {
        title: 'Speed-up of two local workers',
        columns: [
          'agents',
          '1 worker (ms)',
          '2 workers (ms)',
          'speed-up',
          'cores busy, 1 worker',
          'ceiling on 2 cores',
          '≥ 1.7×',
        ],
        rows: throughputRows,
        caption:
          'Each sweep: plan, 12 runs with their artifacts as a sweep writes them by default (summary trace, governance log, metrics.json; no run pages), records, the results store. Median of 3 alternating repetitions after a warm-up sweep. “Cores busy” is the CPU time of the 1-worker sweep (every thread of the process: the worker, V8’s compiler and garbage-collector threads, the main thread) over its wall time; two cores cannot do that work faster than 2 / busy times, even if a second worker added no work of its own.',
      },
      {
        title: 'What run pages cost a sweep',
        columns: [
          'sweep',
          'default, no run pages (ms)',
          '--run-reports (ms)',
          'ratio (paired)',
          'ms a run',
        ],
        rows: pageRows,
        caption:
          'One local worker; each repetition runs the sweep without and with `--run-reports`, back to back; the ratio is the median of the per-repetition ratios, the ms a run the difference of the medians over the runs.',
      },
      {
        title: 'Per-run overhead of the Redis executor',
        columns: ['local pool (ms)', 'Redis + worker (ms)', 'overhead per run (ms)', '< 20 ms'],
        rows: [
          [
            formatMs(median(local)),
            formatMs(median(queued)),
            overhead.toFixed(1),
            overhead < MAX_QUEUE_OVERHEAD_MS ? 'yes' : '**no**',
          ],
        ],
        caption: `${runs} runs of 10 rounds: the difference of the medians over the number of runs. The worker is a separate process on the same machine; Redis on 127.0.0.1.`,
      },
      {
        title: 'Per-run cost of a sweep of short runs',
        columns: [
          '3 runs (ms)',
          '42 runs (ms)',
          'per run (ms), median of paired repetitions',
          `< ${MAX_RUN_OVERHEAD_MS} ms`,
        ],
        rows: [
          [
            formatMs(median(short)),
            formatMs(median(local)),
            runOverhead.toFixed(1),
            runOverhead < MAX_RUN_OVERHEAD_MS ? 'yes' : '**no**',
          ],
        ],
        caption:
          'Sweeps of 10-round `nash` runs on a fresh 1-worker local pool, a 42-run and a 3-run sweep in each repetition; per run = (42-run − 3-run) / 39, so the thread’s start-up (loading and compiling the runtime and the sweep) cancels out. What is left is everything a run costs but its ten rounds: directory, manifest, trace, governance log, metrics.json, the record, and the results store’s share. Target (issue 17): under 20 ms.',
      },
      {
        title: 'Analysis of a 10,000-run store',
        columns: ['runs', 'median (ms)', '< 5 s'],
        rows: [
          [records.length, formatMs(analysisMs), analysisMs < MAX_ANALYSIS_MS ? 'yes' : '**no**'],
        ],
      },
    ],
    notes: [
      'Speed-up: one worker already keeps more than one core busy (V8 compiles and collects garbage on background threads), so the ceiling column bounds what two workers can reach on 2 cores. A second worker thread also compiles every module and warms its JIT again (about 2–3 s of CPU per thread for these sweeps, measured per thread from /proc), and two allocation-heavy threads slow each other by 15–25% on this VM (two plain allocation loops in separate processes: 1.6–1.7×). Running the workers as processes, or with V8’s single-threaded collector, gave the same throughput (48-run sweeps: 1.2× either way).',
      'Queue overhead: the `mase worker` process is started and warm before the timed sweeps, while the local pool starts its worker thread (loading and compiling the runtime) inside each sweep, so the difference per run can come out negative; it says the queue’s own per-run cost is below the thread start-up spread over 42 runs, well under the 20 ms budget.',
      `Code measured: ${revision}.`,
    ],
  };
  writeFileSync(join(resultsDirectory(), 'sweep.json'), `${JSON.stringify(results, null, 2)}\n`);
  rmSync(scratch, { recursive: true, force: true });
}

await main();
