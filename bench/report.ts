/**
 * Regenerates docs/benchmarks.md from every bench/results/*.json.
 *
 * Each benchmark writes one results file in the schema below; this script owns the
 * document, so a later benchmark only adds its results file and the doc follows. A file
 * that does not match the schema is listed as skipped rather than failing the report,
 * so one stale file cannot hide the others.
 *
 * Run: `node dist/bench/report.js` (after `npm run build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { packageRoot } from '../runtime/index.js';

const machineSchema = z.object({
  cpu: z.string(),
  cores: z.number(),
  memoryBytes: z.number(),
  node: z.string(),
  platform: z.string(),
  arch: z.string(),
  release: z.string().optional(),
  /** 1, 5 and 15-minute load averages when the run started and ended: contention shows here. */
  loadAverageStart: z.array(z.number()).optional(),
  loadAverageEnd: z.array(z.number()).optional(),
});

const measurementSchema = z.object({
  id: z.string(),
  /** Rows with the same group share a table. */
  group: z.string().optional(),
  label: z.string(),
  unit: z.literal('ms'),
  warmup: z.number(),
  runs: z.number(),
  median: z.number(),
  p90: z.number(),
  min: z.number(),
  max: z.number(),
  mean: z.number(),
  /** Median CPU time of the measuring process per run, when measured in-process. */
  cpuMedian: z.number().optional(),
  /** Source lines processed per run, when throughput in lines/s means something. */
  lines: z.number().optional(),
  linesPerSecond: z.number().optional(),
  /**
   * Other throughputs at the median, by unit (`rounds/s`, `decisions/s`): each unit gets a
   * column in its group's table, in place of Lines/s when no row of the group has lines.
   */
  rates: z.record(z.string(), z.number()).optional(),
  /** A budget for the median. */
  target: z.object({ maxMedianMs: z.number(), met: z.boolean() }).optional(),
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  samples: z.array(z.number()),
});

/** A table of results that are not timings (ratios, a study's estimates), shown as given. */
const resultTableSchema = z.object({
  title: z.string().optional(),
  columns: z.array(z.string()),
  /** Numbers are written as they are, so the benchmark decides their precision. */
  rows: z.array(z.array(z.union([z.string(), z.number()]))),
  /** Per column; numbers default to right-aligned, text to left. */
  align: z.array(z.enum(['left', 'right'])).optional(),
  caption: z.string().optional(),
});

export const resultsFileSchema = z.object({
  schema: z.literal(1),
  title: z.string(),
  description: z.string().optional(),
  command: z.string().optional(),
  date: z.string(),
  machine: machineSchema,
  measurements: z.array(measurementSchema),
  /** Shown before the timing tables: what the measurements add up to. */
  tables: z.array(resultTableSchema).optional(),
  notes: z.array(z.string()).optional(),
});

export type MachineInfo = z.infer<typeof machineSchema>;
export type Measurement = z.infer<typeof measurementSchema>;
export type ResultsFile = z.infer<typeof resultsFileSchema>;
export type ResultTable = z.infer<typeof resultTableSchema>;

/** The machine a benchmark runs on, with the load average at the start (set the end's at the end). */
export function currentMachine(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    release: os.release(),
    loadAverageStart: os.loadavg(),
  };
}

/**
 * The commit the measured code comes from, and whether the code a benchmark runs
 * (grammar, compiler, runtime, stdlib) had uncommitted changes; undefined outside git.
 */
export function sourceRevision(): string | undefined {
  const git = (...args: string[]) =>
    spawnSync('git', args, { cwd: packageRoot(), encoding: 'utf8' }).stdout?.trim();
  const head = git('rev-parse', '--short', 'HEAD');
  if (!head) return undefined;
  const dirty = git('status', '--porcelain', '--', 'grammar', 'compiler', 'runtime', 'stdlib');
  return dirty ? `${head} with uncommitted changes` : head;
}

export function resultsDirectory(): string {
  return join(packageRoot(), 'bench', 'results');
}

/** Milliseconds with about three significant figures: 0.412, 4.12, 41.2, 412. */
/** Nearest-rank percentile of sorted samples: a value that was actually observed. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))
  ] as number;
}

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 === 1
    ? (sorted[Math.floor(mid)] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The statistics every measurement row reports. */
export function summarise(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: median(sorted),
    p90: percentile(sorted, 0.9),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/** A timing row from its samples (ms): the summary statistics, and what it measured. */
export function measurement(
  id: string,
  group: string,
  label: string,
  samples: number[],
  detail: Record<string, string | number>,
  extra: { warmup?: number; rates?: Record<string, number> } = {},
): Measurement {
  return {
    id,
    group,
    label,
    unit: 'ms',
    warmup: extra.warmup ?? 0,
    runs: samples.length,
    ...summarise(samples),
    ...(extra.rates ? { rates: extra.rates } : {}),
    detail,
    samples,
  };
}

export function formatMs(ms: number): string {
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return Math.round(ms).toLocaleString('en-US');
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function describeMachine(m: MachineInfo): string {
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  const load = (l: readonly number[] | undefined) => l?.map((x) => x.toFixed(2)).join(' / ');
  const loads = [
    m.loadAverageStart ? `${load(m.loadAverageStart)} at the start` : '',
    m.loadAverageEnd ? `${load(m.loadAverageEnd)} at the end` : '',
  ].filter(Boolean);
  return `${m.cpu}, ${m.cores} cores, ${gib} GiB RAM, Node ${m.node}, ${m.platform} ${m.arch}${m.release ? ` ${m.release}` : ''}${loads.length > 0 ? `; load average (1 / 5 / 15 min) ${loads.join(', ')}` : ''}`;
}

/** An ISO timestamp as `2026-01-31 14:05 UTC`; anything else as written. */
function when(date: string): string {
  const d = new Date(date);
  return Number.isNaN(d.getTime()) ? date : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function targetCells(m: Measurement): [string, string] {
  if (!m.target) return ['—', '—'];
  const budget = m.target.maxMedianMs;
  // Wall time over budget with CPU time under it points at a busy machine, not the code.
  const cpuWithin = m.cpuMedian !== undefined && m.cpuMedian < budget;
  const met = m.target.met ? 'yes' : cpuWithin ? '**no** (CPU median within)' : '**no**';
  return [`< ${formatMs(budget)} ms`, met];
}

function table(measurements: readonly Measurement[]): string[] {
  const units = [...new Set(measurements.flatMap((m) => Object.keys(m.rates ?? {})))];
  // Lines/s stays for the compiler's tables; a group measured in other units shows those.
  const lines = units.length === 0 || measurements.some((m) => m.linesPerSecond !== undefined);
  const header = [
    'Measurement',
    'Median (ms)',
    'p90 (ms)',
    'Min (ms)',
    'CPU median (ms)',
    'Runs',
    ...(lines ? ['Lines/s'] : []),
    ...units.map((u) => escapeCell(u.charAt(0).toUpperCase() + u.slice(1))),
    'Target (median)',
    'Met',
  ];
  const rows = [
    `| ${header.join(' | ')} |`,
    `| --- | ${header
      .slice(1, -2)
      .map(() => '---:')
      .join(' | ')} | --- | --- |`,
  ];
  for (const m of measurements) {
    const [target, met] = targetCells(m);
    const throughput = m.linesPerSecond === undefined ? '—' : formatCount(m.linesPerSecond);
    const rates = units.map((u) => {
      const rate = m.rates?.[u];
      return rate === undefined ? '—' : formatCount(rate);
    });
    const cells = [
      escapeCell(m.label),
      formatMs(m.median),
      formatMs(m.p90),
      formatMs(m.min),
      m.cpuMedian === undefined ? '—' : formatMs(m.cpuMedian),
      String(m.runs),
      ...(lines ? [throughput] : []),
      ...rates,
      target,
      met,
    ];
    rows.push(`| ${cells.join(' | ')} |`);
  }
  return rows;
}

function resultTable(t: ResultTable): string[] {
  const out: string[] = [];
  if (t.title) out.push(`### ${t.title}`, '');
  const align = t.columns.map((_, i) => {
    const given = t.align?.[i];
    if (given) return given;
    return t.rows.length > 0 && t.rows.every((r) => typeof r[i] === 'number') ? 'right' : 'left';
  });
  out.push(`| ${t.columns.map(escapeCell).join(' | ')} |`);
  out.push(`| ${align.map((a) => (a === 'right' ? '---:' : '---')).join(' | ')} |`);
  for (const row of t.rows) {
    const cells = t.columns.map((_, i) => {
      const cell = row[i];
      return cell === undefined ? '' : escapeCell(String(cell));
    });
    out.push(`| ${cells.join(' | ')} |`);
  }
  out.push('');
  if (t.caption) out.push(t.caption, '');
  return out;
}

function section(file: string, results: ResultsFile): string[] {
  const out: string[] = [`## ${results.title}`, ''];
  out.push(`Results file: \`bench/results/${file}\`. Measured ${when(results.date)}.`, '');
  out.push(`Machine: ${describeMachine(results.machine)}.`, '');
  if (results.command) out.push(`Command: \`${results.command}\`.`, '');
  if (results.description) out.push(results.description, '');
  const targets = results.measurements.filter((m) => m.target);
  if (targets.length > 0) {
    const met = targets.filter((m) => m.target?.met).length;
    out.push(
      `Time budgets of single measurements met: ${met} of ${targets.length} (targets on ratios are judged in their tables).`,
      '',
    );
  }
  for (const t of results.tables ?? []) out.push(...resultTable(t));
  // Tables in first-seen group order, so the results file decides the layout.
  const groups = new Map<string, Measurement[]>();
  for (const m of results.measurements) {
    const key = m.group ?? '';
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  for (const [group, measurements] of groups) {
    if (group) out.push(`### ${group}`, '');
    out.push(...table(measurements), '');
  }
  if (results.notes && results.notes.length > 0) {
    out.push('Notes:', '');
    for (const note of results.notes) out.push(`- ${note}`);
    out.push('');
  }
  return out;
}

/** The whole document, from parsed results files keyed by file name. */
export function renderReport(
  files: readonly { file: string; results: ResultsFile }[],
  skipped: readonly { file: string; reason: string }[] = [],
): string {
  const out: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by bench/report.ts from bench/results/*.json: edit those, not this file. -->',
    '',
    'Timings are wall-clock milliseconds from `performance.now()`, taken after warm-up runs in',
    'one Node process (JIT-warm) unless a row says it spawns a fresh process. Each table gives',
    'the median, the 90th percentile and the minimum over the runs, and the median CPU time;',
    'targets are budgets for the median wall time. On a shared machine, wall time well above',
    'CPU time means the process waited for a core: the minimum is then the better guide to the',
    'code’s own speed.',
    'Run `npm run bench` to measure again and regenerate this page.',
    '',
  ];
  if (files.length === 0) out.push('No results yet: run `npm run bench`.', '');
  for (const { file, results } of files) out.push(...section(file, results));
  if (skipped.length > 0) {
    out.push('## Skipped results files', '');
    for (const s of skipped) out.push(`- \`bench/results/${s.file}\`: ${escapeCell(s.reason)}`);
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

export function loadResults(dir = resultsDirectory()): {
  files: { file: string; results: ResultsFile }[];
  skipped: { file: string; reason: string }[];
} {
  const files: { file: string; results: ResultsFile }[] = [];
  const skipped: { file: string; reason: string }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    // no results directory yet: an empty report says how to make one
  }
  for (const file of names) {
    try {
      const parsed = resultsFileSchema.safeParse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      if (parsed.success) files.push({ file, results: parsed.data });
      else skipped.push({ file, reason: `not in the results schema: ${parsed.error.message}` });
    } catch (error) {
      skipped.push({ file, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { files, skipped };
}

export function writeReport(): string {
  const { files, skipped } = loadResults();
  const docs = join(packageRoot(), 'docs');
  mkdirSync(docs, { recursive: true });
  const target = join(docs, 'benchmarks.md');
  writeFileSync(target, renderReport(files, skipped));
  for (const s of skipped) process.stderr.write(`skipped bench/results/${s.file}: ${s.reason}\n`);
  return target;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stderr.write(`wrote ${writeReport()}\n`);
}
