/**
 * Markets before and after a change to the round loop, side by side: the runtime
 * benchmark's workloads (cournot, every firm `nash`, costs 10 + i/N; 2, 10 and 100 firms;
 * no institution and `governance_graph`; trace off and on) run by two builds of MASE in
 * one process, alternating old and new in every repetition, so a change in the machine's
 * load hits both sides of each pair alike. The reading is the median over pairs of
 * new/old wall time per row, against the budget of 1.10 (issue 13: markets lose no speed
 * to the environment seam).
 *
 * Run: build the baseline (`git worktree add /tmp/base COMMIT`, then `npx tsc -p
 * tsconfig.build.json` there), `npm run build`, then
 * `node dist/bench/market-seam.js --base /tmp/base/dist [--quick]`. Writes
 * bench/results/market-seam.json (not with --quick) and prints the table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  currentMachine,
  formatCount,
  type Measurement,
  median,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
  summarise,
} from './report.js';
import { cournotWorkload } from './support/cournot-workload.js';

const QUICK = process.argv.includes('--quick');
const baseArg = process.argv[process.argv.indexOf('--base') + 1];
if (!process.argv.includes('--base') || !baseArg) {
  process.stderr.write('usage: node dist/bench/market-seam.js --base DIR/dist [--quick]\n');
  process.exit(2);
}

/** The parts of a build this benchmark drives; modules that exist in old and new builds alike. */
interface Build {
  readonly label: string;
  readonly program: unknown;
  // biome-ignore lint/suspicious/noExplicitAny: two builds' types cannot be one static type
  readonly resolveExperiment: (...args: any[]) => any;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  readonly runExperiment: (e: any) => Promise<{ status: string; roundsCompleted: number }>;
  // biome-ignore lint/suspicious/noExplicitAny: as above
  readonly runToDirectory: (e: any, dir: string) => Promise<unknown>;
  readonly stdlibSources: () => unknown[];
}

async function load(label: string, dist: string): Promise<Build> {
  const root = resolve(dist);
  const file = (path: string) => {
    const full = join(root, path);
    if (!existsSync(full)) {
      process.stderr.write(`${full} does not exist: is ${root} a built MASE (dist)?\n`);
      process.exit(2);
    }
    return pathToFileURL(full).href;
  };
  const compiler = await import(file('compiler/index.js'));
  const sources = await import(file('runtime/sources.js'));
  const resolveModule = await import(file('runtime/run/resolve.js'));
  const run = await import(file('runtime/run/run.js'));
  const artifacts = await import(file('runtime/run/artifacts.js'));
  const stdlibSources = sources.stdlibSources as () => unknown[];
  return {
    label,
    program: compiler.compileSources([], stdlibSources(), { includeLibrary: true }).program,
    resolveExperiment: resolveModule.resolveExperiment,
    runExperiment: run.runExperiment,
    runToDirectory: artifacts.runToDirectory,
    stdlibSources,
  };
}

const FIRMS = [2, 10, 100] as const;
const INSTITUTIONS = ['none', 'governance_graph'] as const;
const TRACES = ['off', 'on'] as const;
const rounds = (firms: number) => (QUICK ? 200 : firms >= 100 ? 2_000 : 5_000);
const pairs = (firms: number) => (QUICK ? 1 : firms >= 100 ? 5 : 9);
const BUDGET = 1.1;

function experiment(build: Build, firms: number, institution: string, n: number): unknown {
  const { request, policies } = cournotWorkload(firms, institution, n);
  return build.resolveExperiment(build.program, request, policies, build.stdlibSources());
}

const scratch = mkdtempSync(join(os.tmpdir(), 'mase-market-seam-'));
process.env.MASE_HOME = join(scratch, 'home');
let count = 0;

async function timed(build: Build, e: unknown, trace: string, n: number): Promise<number> {
  const dir = join(scratch, `run-${++count}`);
  const start = performance.now();
  if (trace === 'on') await build.runToDirectory(e, dir);
  else {
    const result = await build.runExperiment(e);
    if (result.status !== 'completed' || result.roundsCompleted !== n)
      throw new Error(`${build.label}: ${result.status} after ${result.roundsCompleted} rounds`);
  }
  const ms = performance.now() - start;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function main(): Promise<void> {
  const machine = currentMachine();
  const old = await load('baseline', baseArg as string);
  const current = await load('this build', join(import.meta.dirname, '..'));
  const measurements: Measurement[] = [];
  const rows: (string | number)[][] = [];
  for (const firms of FIRMS)
    for (const institution of INSTITUTIONS)
      for (const trace of TRACES) {
        const n = rounds(firms);
        const eOld = experiment(old, firms, institution, n);
        const eNew = experiment(current, firms, institution, n);
        // One untimed warm-up each.
        await timed(old, eOld, trace, n);
        await timed(current, eNew, trace, n);
        const times = { old: [] as number[], new: [] as number[] };
        const ratios: number[] = [];
        for (let k = 0; k < pairs(firms); k++) {
          // Alternate which build goes first, so neither always runs on a warmer machine.
          const first = k % 2 === 0;
          const a = first ? await timed(old, eOld, trace, n) : 0;
          const b = await timed(current, eNew, trace, n);
          const c = first ? a : await timed(old, eOld, trace, n);
          times.old.push(c);
          times.new.push(b);
          ratios.push(b / c);
        }
        const id = `${firms}-firms-${institution}-trace-${trace}`;
        for (const [side, samples] of Object.entries(times)) {
          const s = summarise(samples);
          measurements.push({
            id: `market-seam-${id}-${side}`,
            group: `${firms} firms × ${formatCount(n)} rounds (cournot, every firm \`nash\`)`,
            label: `${side === 'old' ? 'baseline' : 'this build'}: ${institution}, trace ${trace}`,
            unit: 'ms',
            warmup: 1,
            runs: samples.length,
            median: Math.round(s.median * 1000) / 1000,
            p90: Math.round(s.p90 * 1000) / 1000,
            min: Math.round(s.min * 1000) / 1000,
            max: Math.round(s.max * 1000) / 1000,
            mean: Math.round(s.mean * 1000) / 1000,
            samples: samples.map((x) => Math.round(x * 1000) / 1000),
          });
        }
        const ratio = median(ratios);
        rows.push([
          firms,
          institution,
          trace,
          Math.round(median(times.old)),
          Math.round(median(times.new)),
          Number(ratio.toFixed(3)),
          ratio <= BUDGET ? 'yes' : 'NO',
        ]);
        process.stderr.write(`${id}: median new/old ${ratio.toFixed(3)}\n`);
      }
  machine.loadAverageEnd = os.loadavg();
  rmSync(scratch, { recursive: true, force: true });
  const table = {
    title: 'Markets after the environment seam: paired medians',
    columns: [
      'firms',
      'institution',
      'trace',
      'baseline ms (median)',
      'this build ms (median)',
      'median of paired new/old',
      `within ${BUDGET}`,
    ],
    rows,
    caption: `Each pair runs the baseline and this build back to back on the same workload (order alternating); the ratio column is the median over pairs of this build's time over the baseline's. Budget: ${BUDGET} (issue 13).`,
  };
  process.stdout.write(
    `${table.columns.join(' | ')}\n${rows.map((r) => r.join(' | ')).join('\n')}\n`,
  );
  if (QUICK) return;
  // The baseline's commit, from the checkout its dist/ was built in.
  const baseRevision =
    spawnSync(
      'git',
      ['-C', join(resolve(baseArg as string), '..'), 'rev-parse', '--short', 'HEAD'],
      {
        encoding: 'utf8',
      },
    ).stdout?.trim() || 'unknown';
  const results: ResultsFile = {
    schema: 1,
    title: 'Markets before and after the environment seam',
    description:
      'The runtime benchmark’s workloads run by a baseline build and this build in one process, alternating, to show what the environment seam (issue 13) costs markets.',
    command: `npm run build && node dist/bench/market-seam.js --base BASELINE/dist (baseline: commit ${baseRevision})`,
    date: new Date().toISOString(),
    machine,
    measurements,
    tables: [table],
    notes: [
      `This build: ${sourceRevision() ?? 'unknown revision'}. Rounds: 5,000 (2 and 10 firms), 2,000 (100 firms); pairs: 9 and 5.`,
    ],
  };
  writeFileSync(
    join(resultsDirectory(), 'market-seam.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );
}

await main();
