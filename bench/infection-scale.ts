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
 * Where a round's time goes, from the 100-round run: the round loop alone (the same
 * experiment in this process with no trace, `runExperiment` without hooks) and the trace
 * alone (that run's first rounds of events.jsonl written again through the run's own
 * `TraceWriter`, round by round, parsed beforehand and untimed): the trace is the floor any
 * run with the full trace pays, whatever the loop costs.
 *
 * Run with `npm run build && node dist/bench/infection-scale.js`; writes
 * bench/results/infection.json; `node dist/bench/report.js` regenerates docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compileSources } from '../compiler/index.js';
import {
  resolveExperiment,
  runExperiment,
  stdlibSources,
  type TraceEvent,
  TraceWriter,
} from '../runtime/index.js';
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
const REPORT_RSS = `process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('\\nMAXRSS '+u.maxRSS+' CPU '+(u.userCPUTime+u.systemCPUTime)+'\\n')})`;

/** One in-process run of the round loop alone (no trace): wall and CPU ms. */
async function loopRun(rounds: number): Promise<{ wall: number; cpu: number }> {
  const library = stdlibSources();
  const program = compileSources([], library, { includeLibrary: true }).program;
  const experiment = resolveExperiment(
    program,
    {
      environment: 'infection',
      agents: 'given',
      params: [{ name: 'hosts', value: HOSTS }],
      rounds,
      seed: 1,
      talk: { name: 'small_world', args: [{ name: 'k', value: 4 }] },
    },
    () => ({ all: { name: 'susceptible', args: [{ value: 0.3 }, { value: 0.2 }] }, perFirm: {} }),
    library,
  );
  const cpu = process.cpuUsage();
  const started = performance.now();
  await runExperiment(experiment);
  const used = process.cpuUsage(cpu);
  return { wall: performance.now() - started, cpu: (used.user + used.system) / 1000 };
}

/**
 * ms a round of the round loop alone: the slope between in-process runs of `LOOP_ROUNDS`
 * rounds (setting up 10,000 agents and their network is not a round's cost).
 */
async function loopAlone(): Promise<{ wall: number; cpu: number }> {
  const [few, many] = LOOP_ROUNDS;
  const short = await loopRun(few);
  const long = await loopRun(many);
  return {
    wall: (long.wall - short.wall) / (many - few),
    cpu: (long.cpu - short.cpu) / (many - few),
  };
}

/**
 * ms a round of writing a run's trace again through `TraceWriter`: the first `TRACE_ROUNDS`
 * rounds' events are read and parsed first (untimed, so the parser's garbage is not
 * collected on the writer's time), then written round by round.
 */
async function traceAlone(events: string, into: string): Promise<number> {
  const rounds: TraceEvent[][] = [];
  for await (const line of createInterface({ input: createReadStream(events) })) {
    const event = JSON.parse(line) as TraceEvent;
    const r = (event as { round?: unknown }).round;
    if (typeof r !== 'number') continue;
    if (r > TRACE_ROUNDS) break;
    const batch = rounds[r - 1] ?? [];
    rounds[r - 1] = batch;
    batch.push(event);
  }
  const writer = new TraceWriter(into);
  const started = performance.now();
  for (const round of rounds) {
    for (const event of round) writer.write(event);
    writer.flush();
  }
  const ms = performance.now() - started;
  writer.close();
  return ms / rounds.length;
}

const machine = currentMachine();
const measurements: Measurement[] = [];
/** Rounds of the two in-process runs of the loop alone. */
const LOOP_ROUNDS = [10, 50] as const;
/** Rounds of the 100-round run's trace written again by `traceAlone`. */
const TRACE_ROUNDS = 20;
let traceMs = Number.NaN;
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
  const cpuMs = Number(/ CPU (\d+)/.exec(child.stderr)?.[1] ?? Number.NaN) / 1000;
  const ok = child.status === 0;
  const bytes = ok ? statSync(join(out, 'events.jsonl')).size : Number.NaN;
  const failure = ok ? '' : child.stderr.split('\n').filter(Boolean).slice(-3).join(' / ');
  process.stderr.write(
    `${rounds} rounds: ${ok ? 'ok' : `exit ${child.status}`} in ${(ms / 1000).toFixed(1)} s (CPU ${(cpuMs / 1000).toFixed(1)} s), peak ${rss.toFixed(0)} MiB${failure ? `: ${failure}` : ''}\n`,
  );
  rows.push([
    rounds,
    ok ? 'completed' : `failed (exit ${child.status})`,
    Number((ms / 1000).toFixed(1)),
    Number((cpuMs / 1000).toFixed(1)),
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
  m.cpuMedian = cpuMs;
  measurements.push(
    rounds === 1000 ? { ...m, target: { maxMedianMs: TARGET_MS, met: ok && ms < TARGET_MS } } : m,
  );
  if (ok && rounds === Math.min(...ROUNDS)) {
    traceMs = await traceAlone(join(out, 'events.jsonl'), join(scratch, 'again.jsonl'));
    rmSync(join(scratch, 'again.jsonl'), { force: true });
    process.stderr.write(`the trace alone: ${traceMs.toFixed(1)} ms a round\n`);
  }
  rmSync(out, { recursive: true, force: true });
}
const loop = await loopAlone();
process.stderr.write(
  `the round loop alone: ${loop.wall.toFixed(1)} ms a round (CPU ${loop.cpu.toFixed(1)})\n`,
);
machine.loadAverageEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
rmSync(scratch, { recursive: true, force: true });

/** ms a round between the two largest sizes, of a measurement's field. */
function marginal(all: readonly Measurement[], field: 'median' | 'cpuMedian'): number | string {
  const [a, b] = all.slice(-2);
  const x = a?.[field];
  const y = b?.[field];
  if (!a || !b || x === undefined || y === undefined) return '—';
  const ra = Number(a.detail?.rounds);
  const rb = Number(b.detail?.rounds);
  return Number(((y - x) / (rb - ra)).toFixed(1));
}

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
      columns: ['rounds', 'status', 'seconds', 'CPU seconds', 'peak MiB', 'events.jsonl MiB'],
      rows,
    },
    {
      title: 'Where a round goes (ms a round)',
      columns: ['part', 'ms a round', 'CPU ms a round'],
      rows: [
        [
          `whole command, marginal (${ROUNDS.at(-2)} to ${ROUNDS.at(-1)} rounds)`,
          marginal(measurements, 'median'),
          marginal(measurements, 'cpuMedian'),
        ],
        [
          `the round loop alone, no trace (in-process, marginal from ${LOOP_ROUNDS[0]} to ${LOOP_ROUNDS[1]} rounds)`,
          Number(loop.wall.toFixed(1)),
          Number(loop.cpu.toFixed(1)),
        ],
        [
          `the trace alone (the first ${TRACE_ROUNDS} rounds of the ${Math.min(...ROUNDS)}-round run's events.jsonl written again)`,
          Number(traceMs.toFixed(1)),
          '—',
        ],
        ['the target: 60 s over 1,000 rounds', 60, '—'],
      ],
    },
  ],
  ...(sourceRevision() ? { notes: [`source revision ${sourceRevision()}`] } : {}),
  // The reading of a run (what limits it) is written into `notes` by hand after a run.
};
writeFileSync(join(resultsDirectory(), 'infection.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stderr.write(`wrote ${join(resultsDirectory(), 'infection.json')}\n`);
