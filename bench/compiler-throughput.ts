/**
 * Compiler throughput: how long parsing, checking and the backends take on large
 * generated institutions and on the stdlib, and how long the CLI takes to start.
 *
 * In-process timings are JIT-warm: each measurement runs untimed warm-up iterations, then
 * at least 20 timed ones, and reports the median and the 90th percentile. The CLI timings
 * spawn a fresh `node` each run, so they include start-up and module loading.
 *
 * Run with `npm run bench` (it builds first); writes bench/results/compiler.json and
 * prints a table. `node dist/bench/report.js` turns the results into docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type Compilation,
  compileSources,
  createInstitutionMachine,
  type IrInstitution,
  institutionDot,
  machineConfig,
  manifestText,
  type SourceText,
} from '../compiler/index.js';
import { parse } from '../grammar/index.js';
import { packageRoot, stdlibSources } from '../runtime/index.js';
import { generateInstitution, generateInstitutionOfLines } from './generate-institution.js';
import {
  currentMachine,
  formatCount,
  formatMs,
  type Measurement,
  type ResultsFile,
  resultsDirectory,
  summarise,
} from './report.js';

const TARGET_1000_LINES_MS = 100;
const LARGE_STATES = 1000;
const CLI_RUNS = 10;

interface Plan {
  readonly warmup: number;
  readonly runs: number;
}

// The 1,000-state institution takes seconds per run, so it gets the minimum of 20 runs;
// the small inputs are cheap enough to buy a steadier median with more.
const FAST: Plan = { warmup: 10, runs: 50 };
const SLOW: Plan = { warmup: 2, runs: 20 };
const TINY: Plan = { warmup: 20, runs: 100 };

interface MeasureOptions {
  readonly id: string;
  readonly group: string;
  readonly label: string;
  readonly plan: Plan;
  readonly lines?: number;
  readonly targetMs?: number;
  readonly detail?: Record<string, string | number | boolean>;
}

interface Timings {
  /** Wall-clock ms per run. */
  readonly wall: readonly number[];
  /** This process's CPU ms (user + system, all threads) per run, when measured in-process. */
  readonly cpu?: readonly number[];
}

function measurement(options: MeasureOptions, timings: Timings): Measurement {
  const samples = timings.wall;
  const stats = summarise(samples);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    id: options.id,
    group: options.group,
    label: options.label,
    unit: 'ms',
    warmup: options.plan.warmup,
    runs: samples.length,
    median: round(stats.median),
    p90: round(stats.p90),
    min: round(stats.min),
    max: round(stats.max),
    mean: round(stats.mean),
    ...(options.lines === undefined
      ? {}
      : {
          lines: options.lines,
          linesPerSecond: Math.round(options.lines / (stats.median / 1000)),
        }),
    ...(options.targetMs === undefined
      ? {}
      : { target: { maxMedianMs: options.targetMs, met: stats.median < options.targetMs } }),
    ...(timings.cpu ? { cpuMedian: round(summarise(timings.cpu).median) } : {}),
    ...(options.detail ? { detail: options.detail } : {}),
    samples: samples.map(round),
  };
}

/**
 * Times `run` after warm-up runs. Each run's result is checked, so its work is used and
 * cannot be dropped as dead code.
 */
function time(plan: Plan, run: () => unknown): Timings {
  const used = (value: unknown) => {
    if (value === undefined) throw new Error('a benchmark run returned nothing');
  };
  for (let i = 0; i < plan.warmup; i++) used(run());
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < plan.runs; i++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const value = run();
    wall.push(performance.now() - start);
    cpu.push(cpuMs(process.cpuUsage(cpuStart)));
    used(value);
  }
  return { wall, cpu };
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function progress(m: Measurement): void {
  process.stderr.write(
    `  ${m.label}: median ${formatMs(m.median)} ms, p90 ${formatMs(m.p90)} ms\n`,
  );
}

function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

function expectClean(what: string, compilation: Compilation): void {
  if (!compilation.ok) {
    const first = compilation.diagnostics.find((d) => d.severity === 'error');
    throw new Error(`${what} does not compile: ${first?.code} ${first?.message}`);
  }
}

// ---- (a) parse + check of a ~1,000-line file ------------------------------------------------

function thousandLines(library: readonly SourceText[]): Measurement[] {
  const generated = generateInstitutionOfLines(1000);
  const source = { path: 'bench/generated-1000-lines.mase', text: generated.text };
  const once = compileSources([source], library);
  expectClean('the 1,000-line institution', once);
  const group = `(a) Parse + check of a ${formatCount(generated.lines)}-line institution`;
  const detail = {
    states: generated.states,
    diagnostics: once.diagnostics.length,
    characters: generated.text.length,
  };
  const out = [
    measurement(
      {
        id: 'parse-check-1000-lines',
        group,
        label: `parse + check (${generated.states} states, stdlib in scope, as \`mase check\`)`,
        plan: FAST,
        lines: generated.lines,
        targetMs: TARGET_1000_LINES_MS,
        detail,
      },
      time(FAST, () => compileSources([source], library)),
    ),
    measurement(
      {
        id: 'parse-check-1000-lines-alone',
        group,
        label: 'parse + check, no stdlib',
        plan: FAST,
        lines: generated.lines,
        detail,
      },
      time(FAST, () => compileSources([source], [])),
    ),
    measurement(
      {
        id: 'parse-1000-lines',
        group,
        label: 'parse only (lex, parse, CST to AST, AST validation)',
        plan: FAST,
        lines: generated.lines,
        detail,
      },
      time(FAST, () => parse(source.path, source.text)),
    ),
  ];
  for (const m of out) progress(m);
  return out;
}

// ---- (b) parse + check + compile of a 1,000-state institution -------------------------------

function thousandStates(library: readonly SourceText[]): Measurement[] {
  const generated = generateInstitution(LARGE_STATES);
  const source = { path: `bench/generated-${LARGE_STATES}-states.mase`, text: generated.text };
  const once = compileSources([source], library);
  expectClean(`the ${LARGE_STATES}-state institution`, once);
  const group = `(b) Parse + check + compile of a ${formatCount(LARGE_STATES)}-state institution (${formatCount(generated.lines)} lines)`;

  // One pass per run through every stage, timed stage by stage, so the total and its
  // parts come from the same runs.
  const stages = ['check', 'machineConfig', 'dot', 'manifest', 'machine'] as const;
  const samples = Object.fromEntries(stages.map((s) => [s, [] as number[]])) as Record<
    (typeof stages)[number],
    number[]
  >;
  const totals: number[] = [];
  const totalsCpu: number[] = [];
  const sizes = { machineConfigChars: 0, dotChars: 0, manifestChars: 0 };
  const pass = (record: boolean) => {
    const cpuStart = process.cpuUsage();
    const t0 = performance.now();
    const compilation = compileSources([source], library);
    const t1 = performance.now();
    const institution = compilation.program.institutions[0] as IrInstitution;
    const config = machineConfig(institution);
    const t2 = performance.now();
    const dot = institutionDot(institution);
    const t3 = performance.now();
    const manifest = manifestText(institution);
    const t4 = performance.now();
    const cpu = cpuMs(process.cpuUsage(cpuStart));
    const machine = createInstitutionMachine(institution);
    const t5 = performance.now();
    if (!record) return machine;
    samples.check.push(t1 - t0);
    samples.machineConfig.push(t2 - t1);
    samples.dot.push(t3 - t2);
    samples.manifest.push(t4 - t3);
    samples.machine.push(t5 - t4);
    totals.push(t4 - t0);
    totalsCpu.push(cpu);
    sizes.machineConfigChars = JSON.stringify(config).length;
    sizes.dotChars = dot.length;
    sizes.manifestChars = manifest.length;
    return machine;
  };
  for (let i = 0; i < SLOW.warmup; i++) pass(false);
  for (let i = 0; i < SLOW.runs; i++) {
    pass(true);
    process.stderr.write('.');
  }
  process.stderr.write('\n');

  const transitions = (once.program.institutions[0]?.states ?? []).reduce(
    (n, s) => n + s.transitions.length,
    0,
  );
  const detail = {
    states: generated.states,
    transitions,
    diagnostics: once.diagnostics.length,
    ...sizes,
  };
  const row = (id: string, label: string, timings: Timings, lines?: number): Measurement =>
    measurement(
      { id, group, label, plan: SLOW, ...(lines === undefined ? {} : { lines }), detail },
      timings,
    );
  const out = [
    row(
      'compile-1000-states',
      'total: parse + check + machineConfig + DOT + manifest',
      { wall: totals, cpu: totalsCpu },
      generated.lines,
    ),
    row(
      'compile-1000-states-check',
      'parse + check (stdlib in scope)',
      { wall: samples.check },
      generated.lines,
    ),
    row('compile-1000-states-machine-config', 'machineConfig (XState JSON)', {
      wall: samples.machineConfig,
    }),
    row('compile-1000-states-dot', 'institutionDot (DOT text)', { wall: samples.dot }),
    row('compile-1000-states-manifest', 'manifestText', { wall: samples.manifest }),
    row(
      'compile-1000-states-create-machine',
      'createInstitutionMachine (XState setup; not in the total)',
      { wall: samples.machine },
    ),
  ];
  for (const m of out) progress(m);
  return out;
}

// ---- (c) each stdlib file -------------------------------------------------------------------

function stdlibFiles(library: readonly SourceText[]): Measurement[] {
  const out: Measurement[] = [];
  for (const file of library) {
    // Alone when the file stands alone, so the time is that file's; with the rest of the
    // stdlib in scope only if it needs it.
    const scope = compileSources([file], []).ok ? [] : library;
    expectClean(file.path, compileSources([file], scope));
    const lines = lineCount(file.text);
    const m = measurement(
      {
        id: `stdlib-${file.path}`,
        group: '(c) Parse + check of each stdlib file',
        label: `${file.path} (${lines} lines${scope.length > 0 ? ', stdlib in scope' : ''})`,
        plan: TINY,
        lines,
      },
      time(TINY, () => compileSources([file], scope)),
    );
    progress(m);
    out.push(m);
  }
  const all = library.reduce((n, f) => n + lineCount(f.text), 0);
  const m = measurement(
    {
      id: 'stdlib-all',
      group: '(c) Parse + check of each stdlib file',
      label: `whole stdlib together (${library.length} files, ${all} lines)`,
      plan: TINY,
      lines: all,
    },
    time(TINY, () => compileSources(library, [])),
  );
  progress(m);
  out.push(m);
  return out;
}

// ---- cold CLI ---------------------------------------------------------------------------------

/**
 * CPU ms used by this process's waited-for children (cutime + cstime in /proc/self/stat),
 * which is how a spawned CLI's CPU time can be read without a native module. Linux only:
 * elsewhere undefined, and CLI rows go without a CPU column. The clock is coarse (10 ms at
 * the usual 100 ticks/s), which is fine for runs of hundreds of ms.
 */
function childrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cutime = Number(fields[13]);
    const cstime = Number(fields[14]);
    if (!Number.isFinite(cutime) || !Number.isFinite(cstime)) return undefined;
    return ((cutime + cstime) * 1000) / clockTicks();
  } catch {
    return undefined;
  }
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(out.stdout?.trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

function cli(root: string): { measurements: Measurement[]; notes: string[] } {
  const main = join(root, 'dist', 'runtime', 'cli', 'main.js');
  if (!existsSync(main)) {
    process.stderr.write(`  skipped the CLI: ${main} is missing (run \`npm run build\`)\n`);
    return { measurements: [], notes: ['The CLI was not measured: dist/ was not built.'] };
  }
  const plan: Plan = { warmup: 1, runs: CLI_RUNS };
  const commands: { id: string; label: string; args: string[] }[] = [
    { id: 'cli-help', label: '`mase --help`', args: ['--help'] },
    {
      id: 'cli-check-governance-graph',
      label: '`mase check stdlib:governance_graph`',
      args: ['check', 'stdlib:governance_graph'],
    },
  ];
  const out: Measurement[] = [];
  for (const c of commands) {
    const cpu: number[] = [];
    const { wall } = time(plan, () => {
      const before = childrenCpuMs();
      const result = spawnSync(process.execPath, [main, ...c.args], {
        cwd: root,
        encoding: 'utf8',
      });
      if (result.status !== 0) {
        throw new Error(
          `mase ${c.args.join(' ')} exited with ${result.status}: ${result.stderr.slice(0, 500)}`,
        );
      }
      const after = childrenCpuMs();
      if (before !== undefined && after !== undefined) cpu.push(after - before);
      return result.status;
    });
    const m = measurement(
      {
        id: c.id,
        group: 'Cold CLI: a fresh `node dist/runtime/cli/main.js` per run',
        label: c.label,
        plan,
      },
      // The child's CPU time, not this process's; the warm-up run's is dropped.
      cpu.length >= plan.runs ? { wall, cpu: cpu.slice(-plan.runs) } : { wall },
    );
    progress(m);
    out.push(m);
  }
  return {
    measurements: out,
    notes: [
      'CLI rows spawn a new Node process per run (one untimed run first warms the file cache), so they include Node start-up and module loading.',
    ],
  };
}

// ---- output ---------------------------------------------------------------------------------

function printTable(measurements: readonly Measurement[]): void {
  const header = ['measurement', 'median ms', 'p90 ms', 'cpu ms', 'runs', 'lines/s', 'target'];
  const rows = measurements.map((m) => [
    m.label.replaceAll('`', ''),
    formatMs(m.median),
    formatMs(m.p90),
    m.cpuMedian === undefined ? '' : formatMs(m.cpuMedian),
    String(m.runs),
    m.linesPerSecond === undefined ? '' : formatCount(m.linesPerSecond),
    m.target ? `< ${m.target.maxMedianMs} ms: ${m.target.met ? 'met' : 'NOT MET'}` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const lines = [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(format)];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function main(): void {
  const root = packageRoot();
  const library = stdlibSources();
  const machine = currentMachine();
  process.stderr.write(`compiler benchmark on ${machine.cpu}, Node ${machine.node}\n`);

  process.stderr.write('(a) 1,000-line institution\n');
  const a = thousandLines(library);
  process.stderr.write(`(b) ${LARGE_STATES}-state institution, ${SLOW.warmup + SLOW.runs} passes `);
  const b = thousandStates(library);
  process.stderr.write('(c) stdlib files\n');
  const c = stdlibFiles(library);
  process.stderr.write('cold CLI\n');
  const d = cli(root);
  machine.loadAverageEnd = os.loadavg();

  const measurements = [...a, ...b, ...c, ...d.measurements];
  const results: ResultsFile = {
    schema: 1,
    title: 'Compiler throughput',
    description:
      'Parse and check (`compileSources`) and the backends (`machineConfig`, `institutionDot`, `manifestText`) on institutions from `bench/generate-institution.ts` (deterministic: an escalation ladder with 1–3 prioritised transitions per state, fines, credits, suspensions and notices, every state reachable and with a path back, no warnings), on each stdlib file, and the cold start of the CLI. Lines/s is source lines of the measured file over the median time.',
    command: 'npm run bench',
    date: new Date().toISOString(),
    machine,
    measurements,
    notes: [
      `In-process rows: ${FAST.warmup} warm-up + ${FAST.runs} timed runs for (a), ${SLOW.warmup} + ${SLOW.runs} for (b), ${TINY.warmup} + ${TINY.runs} for (c); all in one JIT-warm process.`,
      'CPU ms is the median CPU time per run (user + system, every thread, so parallel GC can push it above the wall time): of this process for in-process rows, of the spawned CLI (from /proc/self/stat, 10 ms resolution) for CLI rows. It is less sensitive than wall time to other processes competing for the cores, which the load averages in the machine line show.',
      '“stdlib in scope” means the stdlib is parsed with the file on every run, as `mase check` does; it adds the stdlib’s parse time to the row.',
      ...d.notes,
    ],
  };
  const dir = resultsDirectory();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'compiler.json');
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n\n`);
  printTable(measurements);
}

main();
