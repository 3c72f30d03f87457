import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchmarkWarning, type RunMetrics } from '../metrics.js';
import { parseTrace } from '../trace/events.js';
import type { RunArtifacts } from './artifacts.js';

const fixed = (x: number | null | undefined, digits = 2) =>
  x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);

function meanPrice(metrics: RunMetrics): number | null {
  const from = metrics.window.from;
  const prices = metrics.series.mean_price.slice(from - 1);
  return prices.length ? prices.reduce((a, b) => a + b, 0) / prices.length : null;
}

/** A plain-text table, one row per run: the numbers the governance comparison reads. */
export function summaryTable(
  rows: readonly { label: string; artifacts: RunArtifacts; note?: string }[],
): string {
  const header = [
    'run',
    'status',
    'rounds',
    'collusion index',
    'tier',
    'verdict',
    'mean price',
    'fines',
    'report',
  ];
  const body = rows.map(({ label, artifacts }) => {
    const m = artifacts.metrics;
    return [
      label,
      artifacts.result.status,
      String(m.run.rounds_played),
      fixed(m.macro.collusion_index, 3),
      m.macro.tier === null ? '—' : String(m.macro.tier),
      m.macro.verdict,
      fixed(meanPrice(m)),
      fixed(m.totals.fines, 0),
      artifacts.dir,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Warnings about benchmarks that failed their deviation check, one line each. */
export function benchmarkWarnings(metrics: RunMetrics): string[] {
  return (['nash', 'collusive'] as const).flatMap((name) => {
    const warning = benchmarkWarning(name, metrics.benchmarks[name]);
    return warning ? [warning] : [];
  });
}

export class ShowError extends Error {}

function readRunFile(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    throw new ShowError(
      existsSync(dir)
        ? `${dir} has no ${name}: not a run directory, or a run that did not finish (see its manifest.json)`
        : `no such run directory: ${dir}`,
    );
  }
}

/** `mase show DIR`: benchmarks, outcome, tier and the institution's timeline. */
export function showRun(dir: string): string {
  const manifest = JSON.parse(readRunFile(dir, 'manifest.json')) as {
    experiment: string;
    status: string;
    seed: number;
    market: { name: string };
    institution: { name: string };
  };
  const metrics = JSON.parse(readRunFile(dir, 'metrics.json')) as RunMetrics;
  const events = parseTrace(readRunFile(dir, 'events.jsonl'));
  const out: string[] = [];
  out.push(
    `${manifest.experiment}: ${manifest.market.name} under ${manifest.institution.name}, seed ${manifest.seed} — ${manifest.status}`,
  );
  out.push('', 'benchmarks (industry profit):');
  for (const name of ['nash', 'collusive', 'competitive'] as const) {
    const b = metrics.benchmarks[name];
    const standing =
      b.verified !== false ? '' : b.exists === false ? '  (no pure equilibrium)' : '  (unverified)';
    out.push(`  ${name.padEnd(12)} ${fixed(b.profit.reduce((x, y) => x + y, 0))}${standing}`);
  }
  for (const warning of benchmarkWarnings(metrics)) out.push(`  warning: ${warning}`);
  out.push(
    '',
    `window rounds ${metrics.window.from}–${metrics.window.to}: collusion index ${fixed(metrics.macro.collusion_index, 3)}, tier ${metrics.macro.tier ?? '—'}, HHI excess ${fixed(metrics.macro.hhi_excess, 3)}, CV excess ${fixed(metrics.macro.cv_excess, 3)}`,
  );
  out.push('', 'firms:');
  for (const [firm, a] of Object.entries(metrics.agents)) {
    out.push(
      `  ${firm}: profit ${fixed(a.profit)} after fines ${fixed(a.fines)} and credits ${fixed(a.credits)}; ${a.transitions} transitions, ${a.restorations} restorations`,
    );
  }
  const timeline = events.filter((e) => e.type === 'transition');
  out.push('', timeline.length ? 'institution timeline:' : 'institution timeline: no transitions');
  for (const e of timeline) {
    if (e.type !== 'transition') continue;
    out.push(
      `  round ${e.round}: ${e.firm ?? 'market'} ${e.from} -> ${e.to}${e.rule ? ` [${e.rule}]` : ''}${e.restorative ? ' (restoration)' : ''}`,
    );
  }
  return `${out.join('\n')}\n`;
}
