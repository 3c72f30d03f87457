import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { IrInstitution, ParamValue } from '../../compiler/ir.js';
import { html, inlineSvg, type Markup } from '../report/html.js';
import { chart, diagramFigure, note, writeReportPage } from '../report/run-report.js';
import { recordedTraceLevel } from '../run/trace-level.js';
import {
  type AnySweepAnalysis,
  analyzeAnySweep,
  type Comparison,
  comparisonWarnings,
  degradedNote,
  type EnvironmentLevelSummary,
  type FactorSummary,
  formatNumber,
  formatVerdicts,
  type InteractionSummary,
  interactionRows,
  isEnvironmentAnalysis,
  type PhaseDiagram,
  pooledWarning,
  type TippingPointSummary,
  tippingPointWarnings,
} from './analyze.js';
import type { SweepPlan } from './plan.js';
import type { MeanEstimate } from './stats.js';
import { openResults } from './store.js';
import { planOfDirectory, readSweepFile } from './sweep.js';

export const SWEEP_REPORT_FILE = 'report.html';
/** Runs listed with links to their reports; a larger sweep lists the first ones and says so. */
const MAX_LISTED_RUNS = 2000;

const num = (x: number | null | undefined) => formatNumber(x ?? null);
const withCi = (e: MeanEstimate) =>
  e.mean === null
    ? '—'
    : e.ci
      ? `${num(e.mean)} [${num(e.ci[0])}, ${num(e.ci[1])}]`
      : `${num(e.mean)}`;

/** The factor whose levels are regimes: one that varies the institution, else the first categorical one. */
function regimeFactor<F extends { readonly name: string; readonly kind: string }>(
  factors: readonly F[],
  institutionFactors: ReadonlySet<string>,
): F | undefined {
  return (
    factors.find((f) => institutionFactors.has(f.name)) ??
    factors.find((f) => f.kind === 'categorical')
  );
}

/** How an outcome reads in titles: the market's by their names in docs/metrics.md, an environment's metric as declared. */
const outcomeLabel = (outcome: string) =>
  outcome === 'tier' ? 'Mean tier' : outcome === 'collusion_index' ? 'Collusion index' : outcome;

const interval = (ci: readonly [number, number] | null) =>
  ci ? ` [${num(ci[0])}, ${num(ci[1])}]` : '';

/** The regime factor's levels (welfare and consumer surplus beside the tier) and its paired comparisons. */
export function regimeTable(
  factor: FactorSummary,
  comparisons: readonly Comparison[],
  significanceLevel: number,
): Markup {
  const rows = factor.levels.map(
    (l) => html`<tr><th scope="row">${String(l.level)}</th><td>${l.completed}/${l.runs}</td>
<td>${withCi(l.outcomes.tier)}</td><td>${withCi(l.shares.tier_4)}</td><td>${withCi(l.shares.tier_at_least_3)}</td>
<td>${withCi(l.outcomes.collusion_index)}</td><td>${withCi(l.outcomes.hhi_excess)}</td>
<td>${withCi(l.outcomes.mean_price)}</td><td>${withCi(l.outcomes.welfare)}</td><td>${withCi(l.outcomes.consumer_surplus)}</td><td>${withCi(l.outcomes.fines)}</td>
<td>${withCi(l.institution.false_positive_rate)}</td><td>${withCi(l.institution.detection_rate)}</td><td>${formatVerdicts(l)}</td></tr>`,
  );
  const pooled = pooledWarning(factor);
  return html`<section id="regimes"><h2>Regimes: ${factor.name}</h2>
<p>Means over completed runs with 95% bootstrap intervals; shares are of runs at tier 4 and at tier 3 or more (structure, not a reading of collusion: the verdicts column counts each run's verdict, docs/metrics.md). Welfare and consumer surplus are window means per round (null without demand).</p>
${pooled === null ? '' : note(`${pooled} (see Interactions below)`)}
<table><thead><tr><th>level</th><th>runs</th><th>mean tier</th><th>tier-4 share</th><th>tier ≥ 3 share</th><th>collusion index</th><th>HHI excess</th><th>mean price</th><th>welfare</th><th>consumer surplus</th><th>fines</th><th>false-positive rate</th><th>detection rate</th><th>verdicts (runs)</th></tr></thead><tbody>${rows}</tbody></table>
${pairedComparisons(factor, comparisons, significanceLevel)}
</section>`;
}

/**
 * An environment sweep's regime factor: each level's declared metrics, payoff, fines and
 * sanctions, and the paired comparisons of the followed metric.
 */
export function environmentRegimeTable(
  factor: FactorSummary<EnvironmentLevelSummary>,
  comparisons: readonly Comparison[],
  significanceLevel: number,
): Markup {
  const outcomes = Object.keys(factor.levels[0]?.outcomes ?? {});
  const rows = factor.levels.map(
    (l) =>
      html`<tr><th scope="row">${String(l.level)}</th><td>${l.completed}/${l.runs}</td>${outcomes.map(
        (o) => {
          const e = l.outcomes[o];
          return html`<td>${e ? withCi(e) : '—'}</td>`;
        },
      )}</tr>`,
  );
  const pooled = pooledWarning(factor);
  return html`<section id="regimes"><h2>Regimes: ${factor.name}</h2>
<p>Means over completed runs with 95% bootstrap intervals of the environment's declared metrics (metrics.json <code>macro</code>), then total payoff, fines and sanctions per run.</p>
${pooled === null ? '' : note(`${pooled} (see Interactions below)`)}
<table><thead><tr><th>level</th><th>runs</th>${outcomes.map((o) => html`<th>${o}</th>`)}</tr></thead><tbody>${rows}</tbody></table>
${pairedComparisons(factor, comparisons, significanceLevel)}
</section>`;
}

/** A factor's paired comparisons and their warnings (nothing without comparisons). */
function pairedComparisons(
  factor: FactorSummary<EnvironmentLevelSummary>,
  comparisons: readonly Comparison[],
  significanceLevel: number,
): Markup {
  const mine = comparisons.filter((c) => c.factor === factor.name);
  const paired = mine.map(
    (
      c,
    ) => html`<tr><td>${String(c.level_b)} − ${String(c.level_a)}</td><td>${c.outcome}</td><td>${c.n_pairs}</td>
<td>${num(c.mean_difference)}${interval(c.mean_difference_ci)}</td><td>${num(c.sd_difference)}</td>
<td>${c.cohens_d === null ? (c.cohens_d_reason ?? '—') : `${num(c.cohens_d)}${interval(c.cohens_d_ci)}`}${c.cohens_d !== null && c.near_zero_variance.length > 0 ? ' ⚠' : ''}</td>
<td>${c.p_value === null ? (c.p_value_reason ?? '—') : `${num(c.p_value)} (${c.p_value_method})`}</td><td>${num(c.p_value_min)}${c.cannot_reach_significance && c.n_nonzero_differences > 0 ? ' ⚠' : ''}</td><td>${num(c.p_holm)}</td></tr>`,
  );
  const warnings = mine.flatMap((c) => comparisonWarnings(c, significanceLevel));
  return html`${
    paired.length > 0
      ? html`<h3>Paired comparisons</h3><p>Pairs share the replicate (hence the seed) and every other factor's level. Intervals: 95% bootstrap over the pairs. p: paired sign-flip permutation test, beside the smallest p it can give with these pairs; Holm: adjusted over all comparisons of that outcome. ⚠: see the notes below the table.</p>
<table><thead><tr><th>difference</th><th>outcome</th><th>pairs</th><th>mean difference</th><th>sd of differences</th><th>Cohen's d</th><th>p</th><th>smallest attainable p</th><th>Holm p</th></tr></thead><tbody>${paired}</tbody></table>
${warnings.length > 0 ? html`<ul class="warnings">${warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}`
      : ''
  }`;
}

/** The strong interactions, each as the factor's means within the other factor's levels. */
function interactionSection(interactions: readonly InteractionSummary[]): Markup {
  const strong = interactions.filter((i) => i.strong);
  if (strong.length === 0) return html``;
  const tables = strong.map((i) => {
    const [head = [], ...rows] = interactionRows(i);
    return html`<h3>${i.factor} within ${i.by}: ${i.outcome} (interaction share ${num(i.share)}${i.f === null ? '' : `, F ${num(i.f)}`})</h3>
<table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map(
      ([label, ...cells]) =>
        html`<tr><th scope="row">${label}</th>${cells.map((c) => html`<td>${c}</td>`)}</tr>`,
    )}</tbody></table>`;
  });
  return html`<section id="interactions"><h2>Interactions</h2>
<p>These factors' effects differ strongly between the levels of another factor, so their means pooled over it mislead: read them within its levels. Rule and threshold: docs/metrics.md, "Interactions".</p>
${tables}</section>`;
}

function ciSpec(factor: FactorSummary<EnvironmentLevelSummary>, outcome: string): TopLevelSpec {
  const values = factor.levels.flatMap((l) => {
    const e = l.outcomes[outcome];
    return e === undefined || e.mean === null
      ? []
      : [
          {
            level: String(l.level),
            mean: e.mean,
            low: e.ci?.[0] ?? e.mean,
            high: e.ci?.[1] ?? e.mean,
          },
        ];
  });
  const x =
    factor.kind === 'numeric'
      ? { field: 'level', type: 'quantitative' as const, title: factor.name }
      : { field: 'level', type: 'nominal' as const, title: factor.name, sort: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${outcomeLabel(outcome)} by ${factor.name} (95% CI)`,
    width: 420,
    height: 220,
    data: {
      values:
        factor.kind === 'numeric' ? values.map((v) => ({ ...v, level: Number(v.level) })) : values,
    },
    layer: [
      {
        mark: { type: 'rule' },
        encoding: {
          x,
          y: { field: 'low', type: 'quantitative', title: outcome },
          y2: { field: 'high' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: { x, y: { field: 'mean', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * The fixed colour scales of the phase diagrams: the same in every diagram and sweep, so a
 * colour always means one value and noise in a narrow range cannot pass for structure.
 */
export const PHASE_SCALES = {
  collusion_index: {
    domain: [-1, 1] as const,
    mid: 0,
    scheme: 'redblue',
    reverse: true,
    legend: 'Δ (0 = Nash)',
    caption: 'fixed scale −1…1 centred on Nash (Δ = 0); 1 = collusive; beyond ±1 clamped',
    // Text on the darkest colours is written in white.
    dark: 0.6,
  },
  tier: {
    domain: [0, 4] as const,
    mid: null,
    scheme: 'reds',
    reverse: false,
    legend: 'mean tier',
    caption:
      'fixed scale 0–4: 0 = no concentration above Nash … 4 = the strongest (structure only)',
    dark: 2.8,
  },
} as const;

/** A phase diagram's colour scale: values beyond `domain` take the end colours; text is white beyond `dark` from `mid`. */
interface PhaseScale {
  readonly domain: readonly [number, number];
  readonly mid: number | null;
  readonly scheme: string;
  readonly reverse: boolean;
  readonly legend: string;
  readonly caption: string;
  readonly dark: number;
}

/**
 * The scale of an environment metric's phase diagram: no fixed range is known for a
 * declared metric, so it spans the smallest to the largest cell mean of the diagram.
 */
function environmentPhaseScale(d: PhaseDiagram, metric: string): PhaseScale {
  const values = d.cells.flatMap((c) => {
    const v = c[metric];
    return typeof v === 'number' ? [v] : [];
  });
  const low = values.length > 0 ? Math.min(...values) : 0;
  const high = values.length > 0 ? Math.max(...values) : 1;
  return {
    domain: [low, high === low ? low + 1 : high],
    mid: null,
    scheme: 'blues',
    reverse: false,
    legend: metric,
    caption: `scale: the smallest to the largest cell mean of this diagram (${num(low)}–${num(high)})`,
    dark: low + 0.6 * (high - low),
  };
}

/** A phase diagram as a heatmap on its scale (fixed for a market's outcomes), each cell labelled with its mean and run count. */
export function phaseSpec(
  d: PhaseDiagram,
  outcome: string,
  scale: PhaseScale = outcome === 'tier' ? PHASE_SCALES.tier : PHASE_SCALES.collusion_index,
): TopLevelSpec {
  const textColor = {
    condition: { test: `abs(datum.value - ${scale.mid ?? 0}) > ${scale.dark}`, value: 'white' },
    value: 'black',
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `${outcomeLabel(outcome)} over ${d.x_factor} × ${d.y_factor}${d.within ? ` (${d.within.factor} = ${d.within.level})` : ''}`,
      subtitle: [scale.caption, 'each cell: the mean and n, its number of completed runs'],
    },
    width: 360,
    height: 260,
    data: {
      values: d.cells.map((c) => ({
        x: c.x,
        y: c.y,
        n: c.n,
        value: c[outcome],
        label: num(c[outcome]),
        count: `n = ${c.n}`,
      })),
    },
    encoding: {
      x: { field: 'x', type: 'ordinal', title: d.x_factor },
      y: { field: 'y', type: 'ordinal', title: d.y_factor, sort: 'descending' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'value',
            type: 'quantitative',
            title: scale.legend,
            scale: {
              type: 'linear',
              domain: [...scale.domain],
              ...(scale.mid === null ? {} : { domainMid: scale.mid }),
              scheme: scale.scheme,
              reverse: scale.reverse,
              clamp: true,
            },
            legend: { orient: 'right' },
          },
        },
      },
      {
        mark: { type: 'text', baseline: 'bottom', dy: -1, fontSize: 12 },
        encoding: { text: { field: 'label' }, color: textColor },
      },
      {
        mark: { type: 'text', baseline: 'top', dy: 3, fontSize: 10 },
        encoding: { text: { field: 'count' }, color: textColor },
      },
    ],
  } as TopLevelSpec;
}

function tippingSpec(t: TippingPointSummary, outcome: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${outcomeLabel(outcome)} along ${t.factor}${t.within ? ` (${t.within.factor} = ${t.within.level})` : ''}`,
    width: 420,
    height: 200,
    layer: [
      {
        data: { values: t.curve.map((p) => ({ ...p })) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: t.factor },
          y: {
            field: 'mean',
            type: 'quantitative',
            title: outcome === 'collusion_index' ? 'collusion index' : outcome,
          },
        },
      },
      {
        data: { values: [{ threshold: t.threshold }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#b23b2e' },
        encoding: { y: { field: 'threshold', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

async function diagrams(
  plan: SweepPlan,
  counts: ReadonlyMap<string, Map<string, number>>,
): Promise<Markup> {
  const institutions = new Map<
    string,
    { ir: IrInstitution; overrides: Record<string, ParamValue> }
  >();
  for (const run of plan.runs) {
    const ir = run.experiment.institution;
    if (ir.states.length > 0 && !institutions.has(ir.name))
      institutions.set(ir.name, { ir, overrides: { ...run.experiment.institutionOverrides } });
  }
  if (institutions.size === 0) return html``;
  const { institutionDot } = await import('../../compiler/backends/dot.js');
  const { renderDot } = await import('../render/graphviz.js');
  const figures: Markup[] = [];
  for (const [name, { ir, overrides }] of institutions) {
    const taken = counts.get(name) ?? new Map<string, number>();
    try {
      const rendered = await renderDot(
        institutionDot(ir, new Map(Object.entries(overrides)), taken),
        'svg',
      );
      const svg = inlineSvg(String(rendered.output));
      figures.push(
        'markup' in svg
          ? diagramFigure(
              svg.markup,
              `${name}: each transition drawn as thick as its share of the most taken one, labelled with how often it was taken over the sweep (${[...taken.values()].reduce((a, b) => a + b, 0)} transitions).`,
            )
          : note(
              `Diagram of ${name} omitted: the output failed the safety check (${svg.problem}).`,
            ),
      );
    } catch (error) {
      figures.push(
        note(`No diagram of ${name}: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
  }
  return html`<section id="institutions"><h2>Institutions: transitions taken</h2>${figures}</section>`;
}

/**
 * Writes `DIR/report.html` for a sweep directory: the regime table with paired
 * comparisons, CI plots per factor, tipping points, phase-diagram heatmaps, each
 * institution's diagram with how often each transition was taken across the sweep, and
 * links to every run's report. Self-contained (charts are inline SVG) and escaped.
 */
export async function writeSweepReport(dir: string): Promise<string> {
  const sweep = readSweepFile(dir);
  const analysis: AnySweepAnalysis = await analyzeAnySweep(dir, {});
  const environment = isEnvironmentAnalysis(analysis) ? analysis.environment : null;
  // The outcome tipping points follow, and the per-run columns of the runs table.
  const followed = environment ? environment.metric : 'collusion_index';
  const runColumns = environment ? environment.metrics : ['tier', 'verdict', 'collusion_index'];
  const reader = await openResults(dir);
  let runs: Record<string, unknown>[];
  const counts = new Map<string, Map<string, number>>();
  try {
    runs = await reader.query(
      `SELECT * FROM runs ORDER BY cell, replicate LIMIT ${MAX_LISTED_RUNS}`,
    );
    for (const row of await reader.query(
      'SELECT r.institution_name AS institution, t.edge AS edge, SUM(t.count) AS n FROM transitions t JOIN runs r USING (run_id) GROUP BY 1, 2',
    )) {
      const byEdge = counts.get(String(row.institution)) ?? new Map<string, number>();
      byEdge.set(String(row.edge), Number(row.n));
      counts.set(String(row.institution), byEdge);
    }
  } finally {
    await reader.close();
  }
  const plan = planOfDirectory(dir);
  const institutionFactors = new Set(
    plan.sweep.factors.filter((f) => f.target.kind === 'institution').map((f) => f.name),
  );
  const regimeSection = (): Markup => {
    if (isEnvironmentAnalysis(analysis)) {
      const regime = regimeFactor(analysis.factors, institutionFactors);
      return regime
        ? environmentRegimeTable(regime, analysis.comparisons, analysis.significance_level)
        : note('No categorical factor: no regime table.');
    }
    const regime = regimeFactor(analysis.factors, institutionFactors);
    return regime
      ? regimeTable(regime, analysis.comparisons, analysis.significance_level)
      : note('No categorical factor: no regime table.');
  };
  const ciPlots: Markup[] = [];
  for (const f of analysis.factors as readonly FactorSummary<EnvironmentLevelSummary>[])
    for (const outcome of environment ? environment.metrics : ['collusion_index', 'tier'])
      ciPlots.push(await chart(ciSpec(f, outcome)));
  const followedText = environment ? `the mean ${followed}` : 'the collusion index';
  const tipping: Markup[] = [];
  for (const t of analysis.tipping_points) {
    tipping.push(
      html`<p>${t.factor}${t.within ? ` (${t.within.factor} = ${String(t.within.level)})` : ''}: ${
        t.crossing
          ? `${followedText} crosses ${t.threshold} ${t.crossing.direction} at ${num(t.crossing.x)} (between ${num(t.crossing.between[0])} and ${num(t.crossing.between[1])}; 95% bootstrap interval${interval(t.crossing_ci)}, ${num(t.no_crossing_share * 100)}% of resamples do not cross)`
          : `${followedText} does not cross ${t.threshold} (${num((1 - t.no_crossing_share) * 100)}% of bootstrap resamples do)`
      }.</p>`,
      ...tippingPointWarnings(t, analysis.significance_level).map((w) => note(w)),
      await chart(tippingSpec(t, followed)),
    );
  }
  const phases: Markup[] = [];
  for (const d of analysis.phase_diagrams) {
    if (environment)
      phases.push(await chart(phaseSpec(d, followed, environmentPhaseScale(d, followed))));
    else
      phases.push(await chart(phaseSpec(d, 'collusion_index')), await chart(phaseSpec(d, 'tier')));
  }
  const cellText = (value: unknown) =>
    typeof value === 'string' ? value : num(typeof value === 'number' ? value : null);
  const link = (row: Record<string, unknown>) => {
    if (!row.artifacts) return html`—`;
    const runDir = join(sweep.artifacts, String(row.artifacts));
    const target = join(runDir, 'report.html');
    const href = relative(dir, target).split('\\').join('/');
    if (existsSync(target)) return html`<a href="${href}">report</a>`;
    // A sweep's runs draw no page unless asked (--run-reports): the command that draws one,
    // unless the run kept no trace to draw it from.
    return recordedTraceLevel(runDir) === 'none'
      ? html`none (--trace none)`
      : html`<code>mase report ${join(dir, relative(dir, runDir))}</code>`;
  };
  const runRows = runs.map(
    (r) =>
      html`<tr><td><code>${String(r.run_id).slice(0, 12)}</code></td>${sweep.factors.map(
        (f) => html`<td>${String(r[f] ?? '')}</td>`,
      )}<td>${String(r.seed)}</td><td>${String(r.status)}</td><td>${String(r.worker ?? '')}</td>${runColumns.map((c) => html`<td>${c === 'verdict' && typeof r.verdict !== 'string' ? '—' : cellText(r[c])}</td>`)}<td>${link(r)}</td></tr>`,
  );
  const body = html`<h1>Sweep ${sweep.sweep}: ${sweep.title}</h1>
<p>${analysis.runs.total} runs: ${analysis.runs.completed} completed, ${analysis.runs.failed} failed${degradedNote(analysis)}. Factors: ${sweep.factors.join(', ')}. Statistics: <code>mase analyze</code> (seed ${analysis.seed}, ${analysis.resamples} bootstrap resamples); definitions in docs/metrics.md.</p>
${environment ? html`<p>Environment metrics (declared by the environment; metrics.json <code>macro</code>): ${environment.metrics.join(', ')}. Comparisons, tipping points and phase diagrams follow ${environment.metric} (<code>mase analyze --metric</code> follows another).</p>` : ''}
${regimeSection()}
${interactionSection(analysis.interactions)}
<section id="factors"><h2>Outcomes by factor</h2>${ciPlots}</section>
${tipping.length > 0 ? html`<section id="tipping"><h2>Tipping points</h2>${tipping}</section>` : ''}
${phases.length > 0 ? html`<section id="phases"><h2>Phase diagrams</h2><p>${environment ? `Each diagram's colour scale spans the smallest to the largest cell mean of ${followed} in it (a declared metric has no fixed range): compare diagrams by their numbers, not their colours.` : 'Every diagram uses the same fixed colour scales: the collusion index Δ on −1…1, diverging around 0 (the Nash benchmark): blue below it, white at it, red above it up to the collusive benchmark at 1 (values beyond ±1 take the end colours); the mean tier on 0–4.'} Each cell shows its mean and n, the number of completed runs it averages.</p>${phases}</section>` : ''}
${await diagrams(plan, counts)}
<section id="runs"><h2>Runs</h2>
${analysis.runs.total > runs.length ? note(`The first ${runs.length} of ${analysis.runs.total} runs; results.csv lists them all.`) : ''}
<p>A run's own page is drawn when the sweep is run with <code>--run-reports</code>, or afterwards by the command in its row (not for a run at <code>--trace none</code>, which keeps nothing to draw it from).</p>
<table><thead><tr><th>run</th>${sweep.factors.map((f) => html`<th>${f}</th>`)}<th>seed</th><th>status</th><th>worker</th>${runColumns.map((c) => html`<th>${c === 'collusion_index' ? 'collusion index' : c}</th>`)}<th>report</th></tr></thead><tbody>${runRows}</tbody></table>
</section>
<footer>Self-contained: no scripts, nothing loaded from elsewhere. Every number is in results.csv and results.duckdb beside this page.</footer>`;
  return writeReportPage(join(dir, SWEEP_REPORT_FILE), `${sweep.sweep} — MASE sweep report`, body);
}
