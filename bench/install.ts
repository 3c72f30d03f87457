/**
 * What `npm ci` costs from a clean clone, and what dominates it (issue 17).
 *
 * Each repetition clones this repository (its committed HEAD) into a fresh directory and
 * times, in that clone:
 * 1. the whole `npm ci` with an empty npm cache of its own (`--cache` in the scratch
 *    directory): every package downloaded from the registry, as on a fresh machine;
 * 2. the same `npm ci` again from that now warm cache;
 * 3. its parts, from the warm cache: `npm ci --ignore-scripts` (resolving, fetching and
 *    unpacking the packages), then each package's install script alone (`npm rebuild PKG`,
 *    which runs it as `npm ci` does), then the `prepare` script (`npm run build`: tsc).
 *
 * The parts sum to roughly (3): npm runs some scripts side by side. The benchmark never
 * runs in the tests; it needs the registry.
 *
 * Run with `npm run build && node dist/bench/install.js`; writes bench/results/install.json;
 * `node dist/bench/report.js` regenerates docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
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
const repository = join(here, '..', '..');
const REPETITIONS = Number(process.env.MASE_BENCH_REPEATS ?? 2);
/** The packages whose install scripts `npm ci` runs (npm lists them after installing). */
const SCRIPTED = ['better-sqlite3', 'msgpackr-extract', 'esbuild', 'node-llama-cpp'] as const;

/** Runs a command in `cwd`; its wall ms, or a thrown error with its output's end. */
function timed(command: string, args: readonly string[], cwd: string): number {
  const started = performance.now();
  const child = spawnSync(command, args, { cwd, encoding: 'utf8', env: process.env });
  const ms = performance.now() - started;
  if (child.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} exited ${child.status}: ${`${child.stdout}${child.stderr}`.slice(-800)}`,
    );
  return ms;
}

const machine = currentMachine();
const revision = sourceRevision();
const samples = new Map<string, number[]>();
const add = (key: string, ms: number) => samples.set(key, [...(samples.get(key) ?? []), ms]);
for (let k = 0; k < REPETITIONS; k++) {
  const scratch = mkdtempSync(join(os.tmpdir(), 'mase-install-bench-'));
  try {
    const clone = join(scratch, 'mase');
    timed('git', ['clone', '--quiet', repository, clone], scratch);
    const cache = join(scratch, 'npm-cache');
    const npm = (args: readonly string[]) => timed('npm', [...args, '--cache', cache], clone);
    const fresh = () => rmSync(join(clone, 'node_modules'), { recursive: true, force: true });
    add('cold', npm(['ci', '--no-audit', '--no-fund']));
    fresh();
    add('warm', npm(['ci', '--no-audit', '--no-fund']));
    fresh();
    add('fetch', npm(['ci', '--ignore-scripts', '--no-audit', '--no-fund']));
    for (const name of SCRIPTED) add(name, npm(['rebuild', name]));
    add('build', npm(['run', 'build']));
    process.stderr.write(
      `repetition ${k + 1}: ${[...samples].map(([key, v]) => `${key} ${formatMs(v[v.length - 1] as number)}`).join(', ')}\n`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const med = (key: string) => median(samples.get(key) ?? []);
const labels: Record<string, string> = {
  cold: '`npm ci`, empty npm cache (a fresh machine)',
  warm: '`npm ci`, warm npm cache',
  fetch: '`npm ci --ignore-scripts`: resolve, fetch from the warm cache, unpack',
  'better-sqlite3': 'better-sqlite3 install script (prebuild-install, then node-gyp from source)',
  'msgpackr-extract': 'msgpackr-extract install script (prebuilt binary)',
  esbuild: 'esbuild postinstall (prebuilt binary)',
  'node-llama-cpp': 'node-llama-cpp postinstall (prebuilt binaries, no model)',
  build: '`prepare`: `npm run build` (tsc)',
};
const measurements: Measurement[] = [...samples].map(([key, values]) =>
  measurement(`install-${key}`, 'install', labels[key] ?? key, values, { part: key }),
);
const warm = med('warm');
const parts = ['fetch', ...SCRIPTED, 'build'];
const results: ResultsFile = {
  schema: 1,
  title: 'Install',
  description:
    'What `npm ci` (the first half of the README’s test command, and what `npm ci && npx mase demo` starts with) costs from a clean clone, and what dominates it. Target (issue 17): time it, and cut what dominates where a well-kept alternative does the same job on Node 20.',
  command: 'npm run build && node dist/bench/install.js',
  date: new Date().toISOString(),
  machine,
  measurements,
  tables: [
    {
      title: 'Where `npm ci` goes',
      columns: ['part', 'median (s)', 'share of a warm `npm ci`'],
      rows: [
        ['whole `npm ci`, empty npm cache', (med('cold') / 1000).toFixed(1), '—'],
        ['whole `npm ci`, warm npm cache', (warm / 1000).toFixed(1), '100%'],
        ...parts.map((key) => [
          labels[key] ?? key,
          (med(key) / 1000).toFixed(1),
          `${Math.round((100 * med(key)) / warm)}%`,
        ]),
      ],
      caption: `Median of ${REPETITIONS} clean clones. Parts are timed one by one from the warm cache; npm runs some install scripts side by side, so they need not sum to the whole.`,
    },
  ],
  notes: [`Code measured: ${revision}.`],
};
writeFileSync(join(resultsDirectory(), 'install.json'), `${JSON.stringify(results, null, 2)}\n`);
