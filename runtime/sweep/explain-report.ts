import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { downsampleExtremes } from '../report/charts.js';
import { html } from '../report/html.js';
import { chart, note, writeReportPage } from '../report/run-report.js';
import { parseTraceTolerant } from '../trace/events.js';
import { formatNumber } from './analyze.js';
import {
  type CandidateEffect,
  describeCandidate,
  EXPLAIN_FILE,
  ExplainError,
  type Explanation,
  seriesOf,
} from './explain.js';
import { writeForkReport } from './fork-report.js';

/** The page `mase explain` writes beside explain.json (and `mase report OUT` writes again). */
export const EXPLAIN_REPORT_FILE = 'report.html';

const num = (x: number | null | undefined) => formatNumber(x ?? null);

/**
 * The macro series with the change and the candidates on it: the series (downsampled as run
 * reports draw long series), a dashed line at the round it changed from, and each
 * candidate as a point at its round labelled with its rank.
 */
function seriesSpec(e: Explanation, values: readonly number[]): TopLevelSpec {
  const rounds = values.map((_, i) => i + 1);
  const { points, bucket } = downsampleExtremes(rounds, values);
  const at = (round: number) => values[round - 1] ?? null;
  const marks = e.candidates.flatMap((c, i) => {
    const value = at(c.event.round);
    return value === null ? [] : [{ round: c.event.round, value, rank: String(i + 1) }];
  });
  const x = { field: 'round', type: 'quantitative' as const, title: 'round' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${e.shift.series} per round; candidates by rank${bucket === 1 ? '' : ` (series: lowest and highest of each ${bucket} rounds)`}`,
    width: 600,
    height: 220,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', color: '#0072b2' },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: e.shift.series } },
      },
      {
        data: { values: [{ round: e.shift.round }] },
        mark: { type: 'rule', strokeDash: [4, 4], color: '#b23b2e' },
        encoding: { x },
      },
      {
        data: { values: marks },
        mark: { type: 'point', filled: true, size: 50, color: '#e69f00' },
        encoding: { x, y: { field: 'value', type: 'quantitative' } },
      },
      {
        data: { values: marks },
        mark: { type: 'text', dy: -10, fontSize: 10 },
        encoding: { x, y: { field: 'value', type: 'quantitative' }, text: { field: 'rank' } },
      },
    ],
  } as TopLevelSpec;
}

/** A candidate's row: what it was, the series at its round, its effect, and its fork's page. */
function candidateRow(out: string, c: CandidateEffect, rank: number, values: readonly number[]) {
  const page = join(c.fork, 'report.html');
  const href = relative(out, page).split('\\').join('/');
  const p =
    c.p === null || c.pairs < 2
      ? '–'
      : `${num(c.p)}${c.min_p !== null && c.min_p > 0.05 ? ` (min p ${num(c.min_p)})` : ''}`;
  return html`<tr id="${`event-${c.event.id}`}"><td>${rank}</td><td><code>${c.event.id}</code></td><td>${c.event.round}</td><td>${num(values[c.event.round - 1])}</td><td>${describeCandidate(c.event)}</td><td>${num(c.effect)}</td><td>${c.interval ? `[${num(c.interval[0])}, ${num(c.interval[1])}]` : '–'}</td><td>${p}</td><td>${existsSync(page) ? html`<a href="${href}">fork</a>` : '—'}</td></tr>`;
}

/**
 * Writes `OUT/report.html` for an explanation: the macro change on its series with every
 * candidate marked at its round, and the ranked table linking each candidate to its round's
 * value and to its fork's own page (written too). VALUES is the series, round by round.
 */
async function writePage(out: string, e: Explanation, values: readonly number[]): Promise<string> {
  for (const c of e.candidates)
    if (existsSync(join(c.fork, 'fork.json'))) await writeForkReport(c.fork);
  const rows = e.candidates.map((c, i) => candidateRow(out, c, i + 1, values));
  const body = html`<h1>Why the ${e.shift.series} of ${e.run} changed</h1>
<p>The ${e.shift.series} went from ${num(e.shift.from)} to ${num(e.shift.to)} (means of its first and last rounds), changing from round ${e.shift.round}: the first round from which every value is nearer the end level than the start level. Candidates: the events of rounds ${e.window[0]}–${e.window[1]}, each undone in a fork of the run at its round − 1 (${e.replicates} paired replicate${e.replicates === 1 ? '' : 's'}). The effect is the mean over the pairs of ${e.metric} without the event minus with it, with its 95% bootstrap interval and the paired sign-flip test from two pairs on. docs/checkpoints.md explains the method.</p>
${e.replicates === 1 ? note("One replicate: each effect is one paired difference on the run's own random streams, exact for scripted agents; mase explain --replicates K adds continuations under other seeds, with intervals and tests.") : ''}
${await chart(seriesSpec(e, values))}
<section id="candidates"><h2>Candidates, largest effect first</h2>
<table><thead><tr><th>rank</th><th>event</th><th>round</th><th>${e.shift.series} then</th><th>what</th><th>Δ ${e.metric} without it</th><th>95% CI</th><th>p</th><th>fork</th></tr></thead><tbody>${rows}</tbody></table>
</section>
<footer>Self-contained: no scripts, nothing loaded from elsewhere. Every number is in explain.json beside this page.</footer>`;
  return writeReportPage(
    join(out, EXPLAIN_REPORT_FILE),
    `why the ${e.shift.series} changed — MASE explanation`,
    body,
  );
}

/**
 * Writes the page of the explanation in OUT (`mase explain` does, and `mase report OUT`
 * again), the series read from the explained run's trace.
 */
export async function writeExplainReport(out: string): Promise<string> {
  const e = JSON.parse(readFileSync(join(out, EXPLAIN_FILE), 'utf8')) as Explanation;
  const trace = join(e.run, 'events.jsonl');
  if (!existsSync(trace))
    throw new ExplainError(
      `${out} explains the run in ${e.run}, whose trace (${trace}) is not there from here: run mase report from the directory mase explain ran in`,
    );
  const { events } = parseTraceTolerant(readFileSync(trace, 'utf8'));
  const series = seriesOf(
    events,
    e.shift.series === 'collusion level' ? undefined : e.shift.series,
  );
  return writePage(out, e, series.values);
}
