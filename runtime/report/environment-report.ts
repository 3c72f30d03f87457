import { join } from 'node:path';
import type { IrInstitution } from '../../compiler/ir.js';
import type { EnvironmentMetrics } from '../environment/metrics.js';
import type { MessageNote, TraceEventOf } from '../trace/events.js';
import { lineChartSpec, rollingWindow } from './charts.js';
import { html } from './html.js';
import {
  chart,
  fmt,
  messagesSection,
  NET,
  note,
  OBSERVED,
  observedSeries,
  REPORT_FILE,
  traceLevelText,
  writeReportPage,
} from './run-report.js';

/**
 * The report of an environment's run (report.html): what any environment has — its
 * declared metrics, each agent's payoff, sanctions, and payoff per round — read from
 * metrics.json, so an environment adds nothing here to get one; and the talk, when the
 * agents talked (`messages`: the trace's message events), drawn as the market report does.
 */
export async function writeEnvironmentReport(
  dir: string,
  options: {
    readonly metrics: EnvironmentMetrics;
    /** The trace's level, when below full. */
    readonly trace?: 'summary' | 'none';
    readonly institution?: IrInstitution;
    readonly title?: string;
    /** Where a fork's run comes from, as `mase show` says it. */
    readonly lineage?: string;
    readonly messages?: readonly TraceEventOf<'message'>[];
    /** What became of some messages (an institution's paraphrase, a fork's replacement or drop). */
    readonly notes?: readonly MessageNote[];
    /** Messages in the run, when `messages` holds only the first of them. */
    readonly messagesTotal?: number;
  },
): Promise<string> {
  const m = options.metrics;
  const { run } = m;
  const played = m.series.round.length;
  const window = rollingWindow(Math.max(1, played));
  const payoffChart =
    played === 0
      ? note('No round was played.')
      : await chart(
          lineChartSpec({
            title: `Total payoff of all ${run.axis}s per round`,
            yTitle: 'payoff',
            rounds: m.series.round[played - 1] ?? played,
            series: [
              ...observedSeries('before fines', OBSERVED, m.series.round, m.series.payoff, window),
              ...observedSeries(
                'after fines and credits',
                NET,
                m.series.round,
                m.series.payoff.map(
                  (p, i) => p - (m.series.fines[i] ?? 0) + (m.series.credits[i] ?? 0),
                ),
                window,
              ),
            ],
            lines: [],
          }),
        );
  const worldCharts = await worldSeriesCharts(m, window);
  const metricRows = Object.entries(m.macro).map(
    ([name, value]) =>
      html`<tr><td><code>macro.${name}</code></td><td class="num">${fmt(value, 3)}</td></tr>`,
  );
  const agentRows = Object.entries(m.agents).map(
    ([name, a]) =>
      html`<tr><td>${name}</td><td class="num">${fmt(a.payoff_before_fines)}</td><td class="num">${fmt(a.fines)}</td><td class="num">${fmt(a.credits)}</td><td class="num">${fmt(a.payoff)}</td><td class="num">${a.transitions}</td></tr>`,
  );
  const body = html`<header>
<h1>${options.title ?? run.environment} — ${run.experiment}</h1>
<p>Environment <code>${run.environment}</code>, ${run.agents.length} ${run.axis}s, institution <code>${run.institution}</code>, seed ${run.seed}. Status <strong>${run.status}</strong>: ${run.rounds_played} of ${run.rounds} rounds played.</p>
${options.lineage === undefined ? '' : html`<p>This run is ${options.lineage}.</p>`}
${options.trace === undefined ? '' : html`<p>Trace: ${traceLevelText(options.trace)}.</p>`}
</header>
<section id="metrics"><h2>Metrics</h2>
${metricRows.length > 0 ? html`<table><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>${metricRows}</tbody></table>` : note('The environment declares no metrics.')}
${note('Each metric is defined by the environment\'s `metric` declaration (docs/metrics.md, "Environments").')}
</section>
<section id="agents"><h2>${run.axis}s</h2>
<table><thead><tr><th>${run.axis}</th><th>payoff before fines</th><th>fines</th><th>credits</th><th>payoff</th><th>transitions</th></tr></thead><tbody>${agentRows}</tbody></table>
<p>Institution: ${m.institution.transitions} transitions, ${m.institution.restorations} restorations, ${m.institution.sanction_errors} sanction errors; fallback decisions ${m.fallbacks.total} of ${m.fallbacks.decisions}.</p>
</section>
<section id="series"><h2>Payoff per round</h2>
${payoffChart}
</section>
${worldCharts}
${await messagesSection(options.messages ?? [], run.agents, false, options.messagesTotal, options.notes)}
${m.warnings.length > 0 ? html`<section id="warnings"><h2>Warnings</h2><ul>${m.warnings.map((w) => html`<li>${w}</li>`)}</ul></section>` : ''}
<footer>Self-contained: no scripts, nothing loaded from elsewhere. The run's files beside this page (events.jsonl, metrics.json) hold every number.</footer>`;
  return writeReportPage(join(dir, REPORT_FILE), `${run.experiment} — MASE run report`, body);
}

/** Charts of the world's own values over rounds, at most this many (the rest: metrics.json). */
const WORLD_CHARTS = 12;

/**
 * The world over rounds: one chart per value the world records as one number a round
 * (metrics.json `series.values`: a commons' stock, a relay's similarity, an infection's
 * infected share). Nothing when it records none.
 */
async function worldSeriesCharts(m: EnvironmentMetrics, window: number) {
  // Metrics written before series.values existed have none.
  const entries = Object.entries(m.series.values ?? {}).filter(([, values]) =>
    values.some((v) => v !== null),
  );
  if (entries.length === 0) return '';
  const played = m.series.round.length;
  const shown = entries.slice(0, WORLD_CHARTS);
  const charts = [];
  for (const [name, values] of shown)
    charts.push(
      await chart(
        lineChartSpec({
          title: name,
          yTitle: name,
          rounds: m.series.round[played - 1] ?? played,
          series: observedSeries(name, OBSERVED, m.series.round, values, window),
          lines: [],
        }),
      ),
    );
  return html`<section id="world"><h2>The world over rounds</h2>
${charts}
${note(
  `Each value the environment records as one number a round (its state, draws, \`computed\` values and \`let\`s without the ${m.run.axis} axis), as metrics.json \`series.values\` holds it; a gap is a round where it was unknown.${entries.length > shown.length ? ` The first ${shown.length} of ${entries.length} are drawn; metrics.json holds them all.` : ''}`,
)}
</section>`;
}
