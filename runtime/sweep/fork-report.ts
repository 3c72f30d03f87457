import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { downsampleExtremes } from '../report/charts.js';
import { html, type Markup } from '../report/html.js';
import { chart, note, writeReportPage } from '../report/run-report.js';
import { interventionLabel } from '../run/run.js';
import {
  type AnySweepAnalysis,
  analyzeAnySweep,
  formatNumber,
  isEnvironmentAnalysis,
} from './analyze.js';
import { forkPerRound, type PerRoundEffect, readForkFile } from './fork.js';
import { environmentRegimeTable, regimeTable } from './report.js';
import { readRecords } from './sweep.js';

/** The page `mase report` writes in a fork directory. */
export const FORK_REPORT_FILE = 'report.html';

const num = (x: number | null | undefined) => formatNumber(x ?? null);

/**
 * The intervention's effect on one series round by round: the mean paired difference
 * (intervention − none) with its 95% bootstrap band, 0 marked, and the round the arms
 * separate from.
 */
function perRoundSpec(effect: PerRoundEffect): TopLevelSpec {
  const rows = effect.rounds.flatMap((r) =>
    r.mean === null
      ? []
      : [
          {
            round: r.round,
            mean: r.mean,
            low: r.interval?.[0] ?? r.mean,
            high: r.interval?.[1] ?? r.mean,
          },
        ],
  );
  // A long continuation is drawn as the run report draws its series: of each bucket of
  // rounds the lowest and highest mean (downsampleExtremes), the band spanning the bucket's.
  const { points, bucket } = downsampleExtremes(
    rows.map((r) => r.round),
    rows.map((r) => r.mean),
  );
  const indexOf = new Map(rows.map((r, i) => [r.round, i]));
  const values =
    bucket === 1
      ? rows
      : points.map((p) => {
          const first = Math.floor((indexOf.get(p.round) ?? 0) / bucket) * bucket;
          const inBucket = rows.slice(first, first + bucket);
          return {
            round: p.round,
            mean: p.value,
            low: Math.min(...inBucket.map((r) => r.low)),
            high: Math.max(...inBucket.map((r) => r.high)),
          };
        });
  const x = { field: 'round', type: 'quantitative' as const, title: 'round' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${effect.series}: ${effect.arm} − none, per round after round ${effect.after}${bucket === 1 ? '' : ` (lowest and highest of each ${bucket} rounds)`}`,
    width: 560,
    height: 200,
    layer: [
      {
        data: { values },
        mark: { type: 'area', opacity: 0.25, color: '#0072b2' },
        encoding: {
          x,
          y: { field: 'low', type: 'quantitative', title: `Δ ${effect.series}` },
          y2: { field: 'high' },
        },
      },
      {
        data: { values },
        mark: { type: 'line', color: '#0072b2' },
        encoding: { x, y: { field: 'mean', type: 'quantitative' } },
      },
      {
        data: { values: [{ zero: 0 }] },
        mark: { type: 'rule', color: '#555555' },
        encoding: { y: { field: 'zero', type: 'quantitative' } },
      },
      ...(effect.separate === null
        ? []
        : [
            {
              data: { values: [{ round: effect.separate }] },
              mark: { type: 'rule' as const, strokeDash: [4, 4], color: '#b23b2e' },
              encoding: { x: { field: 'round', type: 'quantitative' as const } },
            },
          ]),
    ],
  } as TopLevelSpec;
}

/**
 * Writes `DIR/report.html` for a fork directory (`mase fork`): where the forks come from
 * (the parent run, the round, the seeds, the interventions), the two arms compared (each
 * arm's means with bootstrap intervals and the paired comparison, as `mase analyze`
 * computes them), the effect round by round after the fork with the round the arms
 * separate from, and links to each run's own report. Self-contained and escaped.
 */
export async function writeForkReport(dir: string): Promise<string> {
  const fork = readForkFile(dir);
  const analysis: AnySweepAnalysis = await analyzeAnySweep(dir, {});
  const factor = analysis.factors[0];
  const arms = factor
    ? isEnvironmentAnalysis(analysis)
      ? environmentRegimeTable(
          analysis.factors[0] as (typeof analysis.factors)[0],
          analysis.comparisons,
          analysis.significance_level,
        )
      : regimeTable(
          analysis.factors[0] as (typeof analysis.factors)[0],
          analysis.comparisons,
          analysis.significance_level,
        )
    : note('No runs completed: no comparison.');
  const effects = forkPerRound(dir, analysis.seed) ?? [];
  const charts: Markup[] = [];
  for (const effect of effects) charts.push(await chart(perRoundSpec(effect)));
  // Arm by arm in the fork's order, replicate by replicate.
  const armOrder = ['none', ...fork.arms.map((a) => a.name)];
  const records = readRecords(dir).sort(
    (a, b) =>
      armOrder.indexOf(a.run_id.replace(/-r\d+$/, '')) -
        armOrder.indexOf(b.run_id.replace(/-r\d+$/, '')) || a.replicate - b.replicate,
  );
  const runRows = records.map((r) => {
    const page = join(dir, 'runs', r.run_id, 'report.html');
    const href = `runs/${encodeURIComponent(r.run_id)}/report.html`;
    return html`<tr><td><code>${r.run_id}</code></td><td>${String(r.factors.intervention ?? '')}</td><td>${String(r.seed)}</td><td>${r.status}</td><td>${existsSync(page) ? html`<a href="${href}">report</a>` : '—'}</td></tr>`;
  });
  const label =
    fork.arms.length === 0 ? 'no intervention' : fork.arms.map((a) => a.label).join(', ');
  const armList =
    fork.arms.length === 0
      ? html`<p>No intervention: the fork continues the run as it was (arm <code>none</code> only).</p>`
      : html`<ul>${fork.arms.map(
          (a) =>
            html`<li>arm <code>${a.name}</code>${a.title && a.title !== a.name ? ` (${a.title})` : ''}: ${a.interventions.map((i) => html`<code>${interventionLabel([i])}</code> `)}${a.interventions.flatMap((i) => (i.kind === 'inject_message' ? [html`<br>injected by ${i.from} to ${i.to.join(', ')}: <q>${i.text}</q>`] : []))}</li>`,
        )}</ul>`;
  const body = html`<h1>Fork of run ${fork.parent.run_id.slice(0, 12)} after round ${fork.at}: ${label}</h1>
<section id="lineage"><h2>Where the forks come from</h2>
<p>Every fork played rounds 1–${fork.at} again as the run in <code>${fork.parent.dir}</code> (run ${fork.parent.run_id}) played them (checked line by line against its trace), then rounds from ${fork.at + 1} in ${fork.arms.length + 1} arm${fork.arms.length === 0 ? '' : 's'}: <code>none</code> (the run continued)${fork.arms.map((a) => html`, <code>${a.name}</code>`)}. ${fork.replicates} paired replicate${fork.replicates === 1 ? '' : 's'}: replicate 1 keeps the run's random streams${fork.replicates > 1 ? `; replicates 2–${fork.replicates} continue them from seeds ${fork.seeds.slice(1).join(', ')}, the same in every arm` : ''}. docs/checkpoints.md explains forks.</p>
${armList}
</section>
${arms}
<section id="per-round"><h2>The effect round by round</h2>
${
  effects.length === 0
    ? note('No paired runs with per-round series: no effect round by round.')
    : html`<p>For each arm, the mean over the pairs of the arm − none in each round after round ${fork.at}, with its 95% bootstrap band (from two pairs on); the dashed line marks the round the arms separate from (the first whose interval excludes 0; with one pair, the first non-zero difference). Statistics: <code>mase analyze</code> (seed ${analysis.seed}).</p>
<ul>${effects.map((e) => html`<li>${e.arm}, ${e.series}: ${e.separate === null ? 'never separates from none' : `separates from none from round ${e.separate}`} (last round: ${num(e.rounds.at(-1)?.mean)})</li>`)}</ul>
${charts}`
}
</section>
<section id="runs"><h2>Runs</h2>
<table><thead><tr><th>run</th><th>intervention</th><th>seed</th><th>status</th><th>report</th></tr></thead><tbody>${runRows}</tbody></table>
</section>
<footer>Self-contained: no scripts, nothing loaded from elsewhere. Every number is in results.csv and results.duckdb beside this page; <code>mase analyze</code> prints them.</footer>`;
  return writeReportPage(
    join(dir, FORK_REPORT_FILE),
    `fork of ${fork.parent.run_id.slice(0, 12)} — MASE fork report`,
    body,
  );
}
