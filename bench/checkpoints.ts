/**
 * Checkpoints, resume and forks (docs/checkpoints.md): what a checkpoint costs, what a
 * resume costs against the run it continues, and what a fork of an LLM run pays for the
 * rounds it keeps.
 *
 * - Checkpoint cost: `mase run` of 2 scripted Cournot firms (`nash`), 20,000 rounds, with no
 *   checkpoints, one every 1,000 rounds and one every 100, alternating, 5 samples each;
 *   the cost of one checkpoint is the paired difference over the checkpoints written, and
 *   the smallest interval at which checkpoints cost under 5% of a scripted round follows.
 * - Resume: in this process, 2 Q-learning firms under `governance_graph`, 20,000 rounds, and
 *   the text world `infection` with 2,000 hosts, 200 rounds: the whole run, and a run
 *   stopped halfway (a checkpoint there) then resumed (`resumeRun`) from its saved state,
 *   and a copy of it resumed from its checkpoint without the state (the first half played
 *   again), alternating. The size of each stopped run's checkpoint.json, and of a 2-firm
 *   `nash` run's, stopped alike.
 * - A fork of an LLM run: 2 LLM firms against a scripted server answering after 50 ms, 40
 *   rounds; then `mase fork --at 30` without intervention, whose 40 rounds all come from
 *   the response cache.
 *
 * Run with `npm run build && node dist/bench/checkpoints.js`; writes
 * bench/results/checkpoints.json; `node dist/bench/report.js` regenerates docs/benchmarks.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { compileSources } from '../compiler/index.js';
import { resolveExperiment, runToDirectory, stdlibSources } from '../runtime/index.js';
import { resumeRun } from '../runtime/run/resume.js';
import {
  currentMachine,
  type Measurement,
  measurement,
  median,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
} from './report.js';
import { answer, firmOf, startScriptedServer } from './support/openai-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', 'runtime', 'cli', 'main.js');
const scratch = mkdtempSync(join(os.tmpdir(), 'mase-checkpoint-bench-'));
const env = { ...process.env, MASE_HOME: join(scratch, 'home') };
const SAMPLES = Number(process.env.MASE_BENCH_SAMPLES ?? 5);
const machine = currentMachine();
const measurements: Measurement[] = [];
let serial = 0;

/** One `mase ARGS --out DIR` from spawn to exit: wall ms, the child's CPU ms. */
function timedCli(args: readonly string[]): { ms: number; cpu: number; dir: string } {
  const dir = join(scratch, `run-${serial++}`);
  const hook = `process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('\\nCPU '+(u.userCPUTime+u.systemCPUTime)+'\\n')})`;
  const started = performance.now();
  const child = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, cli, ...args, '--out', dir],
    { encoding: 'utf8', env },
  );
  const ms = performance.now() - started;
  if (child.status !== 0) throw new Error(`mase ${args.join(' ')}: ${child.stderr}`);
  const cpu = Number(/CPU (\d+)/.exec(child.stderr)?.[1] ?? Number.NaN) / 1000;
  return { ms, cpu, dir };
}

// ---------------------------------------------------------------------------------------
// Checkpoint cost
const ROUNDS = 20_000;
const market = ['run', '--market', 'stdlib:cournot', '--agents', 'nash', '--rounds', `${ROUNDS}`];
const intervals = [0, 1000, 100];
const wall = new Map<number, number[]>(intervals.map((k) => [k, []]));
const cpu = new Map<number, number[]>(intervals.map((k) => [k, []]));
for (let s = 0; s < SAMPLES + 1; s++)
  for (const k of intervals) {
    const r = timedCli([...market, '--checkpoint-every', `${k}`, '--institution', 'none']);
    rmSync(r.dir, { recursive: true, force: true });
    if (s === 0) continue; // warm-up
    wall.get(k)?.push(r.ms);
    cpu.get(k)?.push(r.cpu);
  }
for (const k of intervals) {
  const m = measurement(
    `checkpoint-every-${k}`,
    'checkpoint cost',
    `2 nash firms × ${ROUNDS.toLocaleString('en-US')} rounds, ${k === 0 ? 'no checkpoints' : `a checkpoint every ${k.toLocaleString('en-US')} rounds`}`,
    wall.get(k) ?? [],
    { rounds: ROUNDS, every: k },
    { warmup: 1 },
  );
  m.cpuMedian = median(cpu.get(k) ?? []);
  measurements.push(m);
}
/** Paired differences (sample by sample) over the checkpoints written. */
const perCheckpoint = (k: number) => {
  const base = wall.get(0) ?? [];
  const diffs = (wall.get(k) ?? []).map((t, i) => (t - (base[i] ?? t)) / (ROUNDS / k));
  return median(diffs);
};
const roundMs = median(wall.get(0) ?? []) / ROUNDS;
const costs = intervals.filter((k) => k > 0).map((k) => [k, perCheckpoint(k)] as const);
const checkpointMs = costs.find(([k]) => k === 100)?.[1] ?? Number.NaN;
const fivePercent = Math.ceil(checkpointMs / (0.05 * roundMs));

// ---------------------------------------------------------------------------------------
// Resume against the run it continues (in this process)
const library = stdlibSources();
const program = compileSources([], library, { includeLibrary: true }).program;
const learning = resolveExperiment(
  program,
  {
    market: 'cournot',
    institution: 'governance_graph',
    agents: 'given',
    params: [],
    rounds: ROUNDS,
    seed: 3,
  },
  () => ({ all: { name: 'qlearning', args: [] }, perFirm: {} }),
  library,
);
/** A run of EXPERIMENT stopped after round HALF, with checkpoints every 1,000 rounds. */
const stoppedRun = (experiment: typeof learning, dir: string, half: number, every = 1000) => {
  let played = 0;
  return runToDirectory(experiment, dir, {
    checkpointEvery: every,
    onRoundEnd: (round) => {
      played = round;
    },
    shouldStop: () => (played >= half ? 'half' : undefined),
  });
};
const checkpointBytes = async (
  experiment: typeof learning,
  name: string,
  half = ROUNDS / 2,
  every = 1000,
) => {
  const dir = join(scratch, name);
  await stoppedRun(experiment, dir, half, every);
  const bytes = statSync(join(dir, 'checkpoint.json')).size;
  rmSync(dir, { recursive: true, force: true });
  return bytes;
};
const nashBytes = await checkpointBytes(
  resolveExperiment(
    program,
    { market: 'cournot', institution: 'none', agents: 'nash', params: [], rounds: ROUNDS, seed: 3 },
    () => ({ all: { name: 'nash', args: [] }, perFirm: {} }),
    library,
  ),
  'nash-bytes',
);
const learningBytes = await checkpointBytes(learning, 'learning-bytes');
/** A text world whose rounds cost more than their trace: infection, 2,000 hosts, 200 rounds. */
const WORLD_ROUNDS = 200;
const world = resolveExperiment(
  program,
  {
    environment: 'infection',
    institution: 'quarantine_canary',
    agents: 'given',
    params: [{ name: 'hosts', value: 2000 }],
    rounds: WORLD_ROUNDS,
    seed: 1,
    talk: { name: 'small_world', args: [{ name: 'k', value: 4 }] },
  },
  () => ({ all: { name: 'susceptible', args: [{ value: 0.3 }, { value: 0.1 }] }, perFirm: {} }),
  library,
);
const worldBytes = await checkpointBytes(world, 'world-bytes', WORLD_ROUNDS / 2, WORLD_ROUNDS / 2);

/**
 * The whole run, and the run stopped halfway (a checkpoint there) then resumed twice, on
 * copies, alternating: from its saved state, and from its checkpoint without the state.
 */
async function resumeSamples(experiment: typeof learning, rounds: number, samples: number) {
  const times = {
    whole: [] as number[],
    stopped: [] as number[],
    state: [] as number[],
    replay: [] as number[],
  };
  for (let s = 0; s < samples + 1; s++) {
    const a = join(scratch, `whole-${s}`);
    let t = performance.now();
    await runToDirectory(experiment, a, { checkpointEvery: rounds / 2 });
    const wholeMs = performance.now() - t;
    const b = join(scratch, `resumed-${s}`);
    t = performance.now();
    await stoppedRun(experiment, b, rounds / 2, rounds / 2);
    const stoppedMs = performance.now() - t;
    // The same stopped run, its checkpoint without the state: resumed by playing rounds again.
    const c = join(scratch, `replayed-${s}`);
    cpSync(b, c, { recursive: true });
    const { state: saved, ...bare } = JSON.parse(readFileSync(join(c, 'checkpoint.json'), 'utf8'));
    if (!saved) throw new Error('the stopped run saved no state');
    writeFileSync(join(c, 'checkpoint.json'), JSON.stringify(bare));
    const took = new Map<string, number>();
    for (const dir of s % 2 === 0 ? [b, c] : [c, b]) {
      t = performance.now();
      await resumeRun(dir);
      took.set(dir, performance.now() - t);
    }
    for (const dir of [b, c])
      if (
        readFileSync(join(a, 'events.jsonl')).compare(readFileSync(join(dir, 'events.jsonl'))) !== 0
      )
        throw new Error('the resumed trace is not the whole run’s');
    for (const dir of [a, b, c]) rmSync(dir, { recursive: true, force: true });
    if (s === 0) continue;
    times.whole.push(wholeMs);
    times.stopped.push(stoppedMs);
    times.state.push(took.get(b) as number);
    times.replay.push(took.get(c) as number);
  }
  return times;
}

const resumes = [
  {
    id: 'resume',
    title: `2 Q-learning firms under governance_graph × ${ROUNDS.toLocaleString('en-US')} rounds`,
    times: await resumeSamples(learning, ROUNDS, SAMPLES),
    rounds: ROUNDS,
  },
  {
    id: 'resume-world',
    title: `infection, 2,000 susceptible hosts on small_world(k: 4) under quarantine_canary × ${WORLD_ROUNDS} rounds`,
    times: await resumeSamples(world, WORLD_ROUNDS, 3),
    rounds: WORLD_ROUNDS,
  },
];
const half = (n: number) => (n / 2).toLocaleString('en-US');
for (const r of resumes)
  measurements.push(
    measurement(
      `${r.id}-whole`,
      'resume',
      `${r.title}, the whole run`,
      r.times.whole,
      { rounds: r.rounds },
      { warmup: 1 },
    ),
    measurement(
      `${r.id}-first-half`,
      'resume',
      `the same run stopped after round ${half(r.rounds)}`,
      r.times.stopped,
      { rounds: r.rounds / 2 },
      { warmup: 1 },
    ),
    measurement(
      `${r.id}-state`,
      'resume',
      `… resumed from its checkpoint at ${half(r.rounds)}, from its saved state (rounds 1–${half(r.rounds)} read from the trace)`,
      r.times.state,
      { rounds: r.rounds },
      { warmup: 1 },
    ),
    measurement(
      `${r.id}-replayed`,
      'resume',
      `… the same checkpoint without its state (rounds 1–${half(r.rounds)} played again and checked)`,
      r.times.replay,
      { rounds: r.rounds },
      { warmup: 1 },
    ),
  );

// ---------------------------------------------------------------------------------------
// A fork of an LLM run: the rounds it keeps come from the cache
const LATENCY = 50;
const LLM_ROUNDS = 40;
const server = await startScriptedServer(
  (r) => answer([20 + (firmOf(r) === 'f1' ? 1 : 0)], 'steady'),
  { latencyMs: LATENCY },
);
/** `mase ARGS` without blocking this process (the server answers it). */
function cliAsync(args: readonly string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [cli, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) =>
      code === 0
        ? resolvePromise(performance.now() - started)
        : reject(new Error(`mase ${args.join(' ')}: ${stderr}`)),
    );
  });
}
const llmRun: number[] = [];
const llmFork: number[] = [];
for (let s = 0; s < 3; s++) {
  const dir = join(scratch, `llm-${s}`);
  llmRun.push(
    await cliAsync([
      'run',
      '--market',
      'stdlib:cournot',
      '--institution',
      'none',
      '--agents',
      'llm',
      '--model',
      `openai-compatible:${server.url}#tiny`,
      '--rounds',
      `${LLM_ROUNDS}`,
      '--seed',
      `${s + 1}`,
      '--cache',
      join(scratch, `llm-${s}.db`),
      '--out',
      dir,
    ]),
  );
  const asked = server.requests.length;
  llmFork.push(await cliAsync(['fork', dir, '--at', '30', '--out', `${dir}-fork`]));
  if (server.requests.length !== asked) throw new Error('the fork asked the model');
}
await server.close();
measurements.push(
  measurement(
    'llm-run',
    'fork of an LLM run',
    `2 LLM firms × ${LLM_ROUNDS} rounds, the model answering after ${LATENCY} ms (mase run)`,
    llmRun,
    { rounds: LLM_ROUNDS, latencyMs: LATENCY },
  ),
  measurement(
    'llm-fork',
    'fork of an LLM run',
    'mase fork --at 30 without intervention (every answer from the cache)',
    llmFork,
    { rounds: LLM_ROUNDS, at: 30 },
  ),
);

machine.loadAverageEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
rmSync(scratch, { recursive: true, force: true });
const fixed = (x: number, d: number) => Number(x.toFixed(d));
const results: ResultsFile = {
  schema: 1,
  title: 'Checkpoints, resume and forks',
  description:
    'What a checkpoint costs (whole `mase run` commands, alternating, paired by sample), what a resume costs against the run it continues (in-process, alternating), and what a fork of an LLM run pays for the rounds it keeps (bench/checkpoints.ts).',
  command: 'npm run build && node dist/bench/checkpoints.js',
  date: new Date().toISOString(),
  machine,
  measurements,
  tables: [
    {
      title: 'One checkpoint',
      columns: ['measure', 'value'],
      rows: [
        ['bytes of checkpoint.json, 2 nash firms, no institution', nashBytes],
        ['bytes of checkpoint.json, 2 Q-learning firms under governance_graph', learningBytes],
        ['bytes of checkpoint.json, infection with 2,000 hosts after round 100', worldBytes],
        ...costs.map(
          ([k, ms]) =>
            [`ms per checkpoint (paired median, one every ${k} rounds)`, fixed(ms, 2)] as [
              string,
              number,
            ],
        ),
        ['ms per scripted round without checkpoints (whole command / rounds)', fixed(roundMs, 4)],
        ['smallest interval at which checkpoints cost under 5% of a round', fivePercent],
        ...resumes.flatMap((r) => [
          [
            `${r.id}: resume from the saved state / whole run (medians)`,
            fixed(median(r.times.state) / median(r.times.whole), 2),
          ] as [string, number],
          [
            `${r.id}: resume playing the rounds again / whole run (medians)`,
            fixed(median(r.times.replay) / median(r.times.whole), 2),
          ] as [string, number],
        ]),
        ['fork of the LLM run / the run (medians)', fixed(median(llmFork) / median(llmRun), 2)],
      ],
    },
  ],
  ...(sourceRevision() ? { notes: [`source revision ${sourceRevision()}`] } : {}),
};
writeFileSync(
  join(resultsDirectory(), 'checkpoints.json'),
  `${JSON.stringify(results, null, 2)}\n`,
);
process.stderr.write(`wrote ${join(resultsDirectory(), 'checkpoints.json')}\n`);
