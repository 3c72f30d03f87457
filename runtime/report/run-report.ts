import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatParamValue, policyText } from '../../compiler/backends/render-expr.js';
import type { IrInstitution, IrPolicy, ParamValue, StateKind } from '../../compiler/ir.js';
import type { EnvironmentMetrics } from '../environment/metrics.js';
import { EXIT, MaseUserError } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import type { RunMetrics } from '../metrics.js';
import { MESSAGES_KEPT } from '../talk/lineage.js';
import {
  isMessageNote,
  type MessageNote,
  type TraceEvent,
  type TraceEventOf,
} from '../trace/events.js';
import { reviveInfinity } from '../trace/writer.js';
import {
  downsampleExtremes,
  extremesBucket,
  lineChartSpec,
  MAX_CELLS,
  MAX_POINTS,
  panelChartSpec,
  ROLLING_SHARE,
  renderChart,
  rollingMean,
  rollingWindow,
  SERIES_COLORS,
  type Series,
  stateColors,
  stateSegments,
  timelineSpec,
} from './charts.js';
import { csvDocument } from './csv.js';
import { html, inlineSvg, type Markup, trustedMarkup } from './html.js';

/**
 * `DIR/report.html`: one self-contained page per run, written from the run's files alone
 * (manifest.json, events.jsonl, metrics.json, governance-log.jsonl). Charts and the
 * institution diagram are inline SVG; the page has no script and loads nothing, and its
 * Content-Security-Policy forbids both in case any text ever slipped through unescaped.
 */

export const REPORT_FILE = 'report.html';

/** A directory that holds no readable run: reported to the user as one line, exit 2. */
export class ReportError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Most rows the sanctions, notices and rationales tables list; the rest is summarised. */
const MAX_TABLE_ROWS = 500;

export interface RunReportOptions {
  /** The run's institution; without it, the one the manifest's sources declare is compiled. */
  readonly institution?: IrInstitution;
  /** Its parameter values; default the values the manifest records. */
  readonly overrides?: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>;
  /** Draw the diagram with Graphviz compiled to wasm even when `dot` is installed. */
  readonly preferWasm?: boolean;
  /** Where a fork's run comes from, as `mase show` says it (runtime/run/summary.ts `forkLineage`). */
  readonly lineage?: string;
  /**
   * The run as the runner holds it in memory, so a just-finished run is drawn without
   * reading its files back: the manifest, the metrics, and the events (at least those the
   * report shows: header, sanctions, notices, decisions with a rationale, run end).
   */
  readonly run?: {
    readonly manifest: object;
    readonly metrics: RunMetrics;
    readonly events: readonly TraceEvent[];
    /** Messages in the run, when `events` keeps only the first of them. */
    readonly messagesTotal?: number;
  };
}

/** What the report reads from manifest.json; every field is optional so an odd run still renders. */
interface Manifest {
  run_id?: string;
  digest?: string;
  experiment?: string;
  market?: { name?: string; kind?: string; params?: Record<string, ParamValue> };
  institution?: { name?: string; params?: Record<string, ParamValue> };
  policies?: Record<string, IrPolicy>;
  rounds?: number;
  seed?: number;
  /** How much events.jsonl keeps (absent: full). */
  trace?: 'full' | 'summary' | 'none';
  sources?: { path: string; sha256?: string; text: string }[];
  mase_version?: string;
  node_version?: string;
  started_at?: string;
  ended_at?: string | null;
  status?: string;
  rounds_completed?: number;
}

function readJson<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'), reviveInfinity) as T;
  } catch (error) {
    throw new ReportError(
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

// Only these event types are shown beside metrics.json; validating just them keeps a
// 10,000-round trace (hundreds of thousands of lines) fast to read.
const SHOWN = new Set<TraceEvent['type']>([
  'header',
  'sanction',
  'notice',
  'decision',
  'message',
  // What became of a message (an institution's paraphrase, a fork's replacement or drop),
  // shown under it.
  'message_paraphrased',
  'message_replaced',
  'message_dropped',
  'run_end',
]);

/**
 * The trace, tolerantly: a crashed run can end in half a line, and one bad line should
 * cost the report that line, not the whole page. Lines are counted, not thrown.
 */
async function readTrace(
  path: string,
  all: boolean,
): Promise<{ events: TraceEvent[]; skipped: number }> {
  if (!existsSync(path)) return { events: [], skipped: 0 };
  const { traceEventSchema, eventsOfLine } = await import('../trace/events.js');
  const events: TraceEvent[] = [];
  let skipped = 0;
  let firms: readonly string[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    // The writer puts `type` first, so most lines can be passed over without parsing them.
    const leading = all ? undefined : /^\{"type":"([a-z_]+)"/.exec(line)?.[1];
    if (leading !== undefined && !SHOWN.has(leading as TraceEvent['type'])) continue;
    let value: unknown;
    try {
      value = JSON.parse(line, reviveInfinity);
    } catch {
      skipped++;
      continue;
    }
    const type = (value as { type?: unknown } | null)?.type;
    // A summary trace's payoff rows (read only when every event is).
    if (type === 'payoffs') {
      if (!all) continue;
      try {
        events.push(...eventsOfLine(value, firms));
      } catch {
        skipped++;
      }
      continue;
    }
    if (!all && !SHOWN.has(type as TraceEvent['type'])) continue;
    // Decisions only matter for their rationale, and most carry none.
    if (
      type === 'decision' &&
      !all &&
      typeof (value as { rationale?: unknown }).rationale !== 'string'
    )
      continue;
    const parsed = traceEventSchema.safeParse(value);
    if (parsed.success) {
      if (parsed.data.type === 'header') firms = parsed.data.firms;
      events.push(parsed.data);
    } else skipped++;
  }
  return { events, skipped };
}

// ---- formatting ---------------------------------------------------------------------------

const sum = (values: readonly number[]) => values.reduce((s, v) => s + v, 0);
const mean = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : sum(values) / values.length;

export function fmt(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  let format = formats.get(digits);
  if (!format) {
    // `negative`: a value that rounds to zero has no sign (not `-0.000`).
    format = new Intl.NumberFormat('en-US', {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
      signDisplay: 'negative',
    });
    formats.set(digits, format);
  }
  return format.format(x);
}

/** One formatter per number of digits: `toLocaleString` builds one per call (a report of 10,000 agents called it for seconds). */
const formats = new Map<number, Intl.NumberFormat>();

const counting = new Intl.NumberFormat('en-US');
const count = (n: number) => counting.format(n);

const paramsText = (params: Record<string, ParamValue> | undefined) =>
  Object.entries(params ?? {})
    .map(([k, v]) => `${k} = ${formatParamValue(v)}`)
    .join(', ');

export const note = (text: string | Markup) => html`<p class="note">${text}</p>`;

// ---- sections -----------------------------------------------------------------------------

function headerSection(
  manifest: Manifest,
  metrics: RunMetrics | undefined,
  generatedAt: string,
  lineage: string | undefined,
) {
  const run = metrics?.run;
  const status = manifest.status ?? run?.status ?? 'unknown';
  const played = run?.rounds_played ?? manifest.rounds_completed;
  const rows: [string, string][] = [
    [
      'market',
      `${manifest.market?.name ?? run?.market ?? '?'} ${paramsText(manifest.market?.params)}`,
    ],
    [
      'institution',
      `${manifest.institution?.name ?? run?.institution ?? '?'} ${paramsText(manifest.institution?.params)}`,
    ],
    [
      'rounds',
      `${played === undefined ? '?' : count(played)} played of ${count(manifest.rounds ?? run?.rounds ?? 0)}`,
    ],
    ['seed', String(manifest.seed ?? run?.seed ?? '?')],
    ...(lineage === undefined ? [] : [['fork', lineage] as [string, string]]),
    ...(manifest.trace && manifest.trace !== 'full'
      ? [['trace', traceLevelText(manifest.trace)] as [string, string]]
      : []),
    [
      'firms × products',
      run
        ? `${run.firms.join(', ')} × ${run.products.join(', ')} (${run.competition} competition)`
        : '?',
    ],
    ['run id', manifest.run_id ?? '?'],
    ['started', manifest.started_at ?? '?'],
    ['ended', manifest.ended_at ?? '—'],
    ['report written', `${generatedAt} by MASE ${manifest.mase_version ?? '?'}`],
  ];
  return html`<header>
<p class="kicker">MASE run report</p>
<h1>${manifest.experiment ?? run?.experiment ?? 'run'} <span class="status status-${status}">${status}</span></h1>
<dl class="facts">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
</header>`;
}

/** What a trace below full keeps, for a report's facts (docs/architecture.md, "Trace levels"). */
export const traceLevelText = (level: 'summary' | 'none'): string =>
  level === 'summary'
    ? 'summary: events.jsonl packs each round’s payoffs in one row'
    : 'none: events.jsonl holds the header and the end; this page was drawn as the run went';

const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);

function metricsSection(metrics: RunMetrics) {
  const m = metrics.macro;
  const t = metrics.totals;
  const i = metrics.institution;
  const withReason = (value: string, reason: string | undefined) =>
    reason && value === '—' ? html`${value} <span class="why">(${reason})</span>` : html`${value}`;
  const rows: [string, Markup][] = [
    [
      'collusion index Δ',
      withReason(fmt(m.collusion_index, 3), m.collusion_index_reason ?? m.reason),
    ],
    [
      'verdict',
      html`<strong>${m.verdict.replaceAll('_', ' ')}</strong> <span class="why">${m.verdict_reason}</span>`,
    ],
    [
      'Δ, 95% batch-means interval',
      m.collusion_index_interval
        ? html`${fmt(m.collusion_index_interval[0], 3)} … ${fmt(m.collusion_index_interval[1], 3)}`
        : html`—`,
    ],
    // The tier is structure (concentration, specialisation), not a reading by itself.
    ['collusion tier', withReason(m.tier === null ? '—' : String(m.tier), m.reason)],
    [
      'tier without suspended rounds',
      html`${m.tier_unsuspended === null ? '—' : String(m.tier_unsuspended)} <span class="why">(${count(m.unsuspended_rounds)} window rounds with no firm suspended)</span>`,
    ],
    [
      'firm-rounds suspended / limited / invalid',
      html`${pct(m.suspended_share)} / ${pct(m.limited_share)} / ${pct(m.invalid_share)}`,
    ],
    ['HHI excess over Nash', withReason(fmt(m.hhi_excess, 3), m.reason)],
    ['CV excess over Nash', withReason(fmt(m.cv_excess, 3), m.reason)],
    ['mean industry profit (window)', html`${fmt(m.mean_industry_profit)}`],
    ['fines (total)', html`${fmt(t.fines)}`],
    ['credits (total)', html`${fmt(t.credits)}`],
    [
      'industry profit before / after fines',
      html`${fmt(t.industry_profit)} / ${fmt(t.net_profit)}`,
    ],
    ['consumer surplus (total)', withReason(fmt(t.consumer_surplus), t.consumer_surplus_reason)],
    ['transitions / restorations', html`${count(i.transitions)} / ${count(i.restorations)}`],
    ['detection rate', withReason(fmt(i.detection.rate, 3), i.detection.rate_reason)],
    [
      'false-positive rate',
      withReason(fmt(i.false_positives.rate, 3), i.false_positives.rate_reason),
    ],
  ];
  return html`<section id="metrics">
<h2>Key metrics</h2>
<p class="note">Window rounds ${count(metrics.window.from)}–${count(metrics.window.to)} (${metrics.window.rounds} rounds, ${metrics.window.source}); definitions in docs/metrics.md.</p>
<table class="kv">${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</table>
</section>`;
}

function flatPrice(price: number[] | number[][]): number[] {
  return (price as (number | number[])[]).flat();
}

function benchmarksSection(metrics: RunMetrics) {
  const names = ['nash', 'collusive', 'competitive'] as const;
  const from = metrics.benchmarks_from;
  return html`<section id="benchmarks">
<h2>Benchmarks</h2>
${from === undefined ? '' : note(`From round ${count(from)}, when a fork changed the market's parameters; the rounds before it had other benchmarks (the run's trace holds both).`)}
<table>
<thead><tr><th>benchmark</th><th>mean price</th><th>total quantity</th><th>industry profit</th><th>profit per firm</th><th>mean HHI</th></tr></thead>
<tbody>${names.map((name) => {
    const b = metrics.benchmarks[name];
    return html`<tr><th scope="row">${name}</th><td>${fmt(mean(flatPrice(b.price)))}</td><td>${fmt(sum(b.total))}</td><td>${fmt(b.industry_profit)}</td><td>${b.profit.map((p) => fmt(p)).join(' / ')}</td><td>${fmt(mean(b.hhi), 0)}</td></tr>`;
  })}</tbody>
</table>
</section>`;
}

function firmsSection(metrics: RunMetrics, manifest: Manifest) {
  return html`<section id="firms">
<h2>Firms</h2>
<table>
<thead><tr><th>firm</th><th>policy</th><th>profit before fines</th><th>fines</th><th>credits</th><th>profit after fines</th><th>rounds per state</th></tr></thead>
<tbody>${metrics.run.firms.map((firm) => {
    const a = metrics.agents[firm];
    const policy = manifest.policies?.[firm];
    const states = Object.entries(a?.state_rounds ?? {})
      .map(([s, n]) => `${s} ${count(n)}`)
      .join(', ');
    return html`<tr><th scope="row">${firm}</th><td>${policy ? policyText(policy) : '?'}</td><td>${fmt(a?.profit_before_fines)}</td><td>${fmt(a?.fines)}</td><td>${fmt(a?.credits)}</td><td>${fmt(a?.profit)}</td><td>${states || '—'}</td></tr>`;
  })}</tbody>
</table>
</section>`;
}

/** Width of the page's content at its widest, in CSS pixels (body max-width less padding). */
const CONTENT_WIDTH = 950;

/** A drawing's natural width in CSS pixels, from its `width` attribute (Graphviz: points). */
function naturalWidth(svg: string): number | undefined {
  const match = /^<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"/.exec(svg);
  if (!match) return undefined;
  const n = Number(match[1]);
  return match[2] === 'pt' ? (n * 4) / 3 : n;
}

/**
 * A diagram scaled down to the page width (never up), so nothing is clipped and the page
 * does not scroll sideways. One wider than the page says by how much it was shrunk and
 * has a toggle (CSS only: the page runs no script) that shows it at full size, scrolling
 * inside its frame.
 */
export function diagramFigure(svg: Markup, caption: string): Markup {
  const width = naturalWidth(svg.toString());
  const scaled = width !== undefined && width > CONTENT_WIDTH;
  const percent = scaled ? Math.floor((100 * CONTENT_WIDTH) / width) : 100;
  return html`<figure class="diagram">${svg}<figcaption>${caption}${
    scaled
      ? html` Shrunk to fit the page (about ${percent}% of its size at the widest page).
<details class="full-size"><summary>Show at full size</summary></details>`
      : ''
  }</figcaption></figure>`;
}

/** A small square of a state's timeline colour, so the table doubles as the legend. */
export function swatch(color: string | undefined): Markup | string {
  return color ? html`<span class="swatch" style="background:${color}"></span>` : '';
}

async function institutionSection(
  institution: IrInstitution | undefined,
  overrides: ReadonlyMap<string, ParamValue>,
  why: string | undefined,
  preferWasm: boolean,
  colors: ReadonlyMap<string, string>,
) {
  if (!institution) {
    return html`<section id="institution"><h2>Institution</h2>${note(`No diagram: ${why ?? 'the institution is unknown'}.`)}</section>`;
  }
  const { institutionDot, stateSummary } = await import('../../compiler/backends/dot.js');
  const { renderDot } = await import('../render/graphviz.js');
  const { paramValues } = await import('../../compiler/instantiate.js');
  let figure: Markup;
  try {
    const rendered = await renderDot(institutionDot(institution, overrides), 'svg', {
      preferWasm,
    });
    const svg = inlineSvg(String(rendered.output));
    const by = rendered.renderer === 'graphviz-dot' ? 'Graphviz dot' : 'Graphviz (wasm)';
    figure =
      'markup' in svg
        ? diagramFigure(svg.markup, `The institution as compiled, drawn by ${by}.`)
        : note(`Diagram omitted: the ${by} output failed the safety check (${svg.problem}).`);
  } catch (error) {
    figure = note(`No diagram: ${error instanceof Error ? error.message : String(error)}`);
  }
  const params = paramValues(institution.params, overrides);
  const states = institution.states.map(
    (s) =>
      html`<tr><th scope="row">${swatch(colors.get(s.name))}${s.name}</th><td>${s.title ?? ''}</td><td>${s.kind}</td><td>${stateSummary(
        s,
        params,
      )
        // The diagram's summary shortens notices; the table shows them whole.
        .filter((line) => !line.startsWith('notice: '))
        .map(
          (line) => html`<div>${line}</div>`,
        )}${s.notices.map((n) => html`<div class="notice">notice: ${n}</div>`)}</td></tr>`,
  );
  const rules = institution.rules.map(
    (r) =>
      html`<tr><th scope="row">${r.id}</th><td>${r.title ?? ''}</td><td>${r.attribute} ${r.deontic} “${r.aim}”${r.orElse ? html` or else “${r.orElse}”` : ''}</td></tr>`,
  );
  return html`<section id="institution">
<h2>Institution: ${institution.name}</h2>
<p>${institution.title}${institution.public ? ' (public: agents see its manifest)' : ''}</p>
${institution.directive ? html`<blockquote class="directive">${institution.directive}</blockquote>` : ''}
${figure}
${states.length > 0 ? html`<table><thead><tr><th>state</th><th>title</th><th>kind</th><th>effects</th></tr></thead><tbody>${states}</tbody></table>` : ''}
${rules.length > 0 ? html`<h3>Rules</h3><table><thead><tr><th>rule</th><th>title</th><th>text</th></tr></thead><tbody>${rules}</tbody></table>` : ''}
</section>`;
}

export async function chart(spec: Parameters<typeof renderChart>[0]): Promise<Markup> {
  try {
    const svg = inlineSvg(await renderChart(spec));
    if ('markup' in svg) return html`<figure class="chart">${svg.markup}</figure>`;
    return note(`Chart omitted: the output failed the safety check (${svg.problem}).`);
  } catch (error) {
    return note(`Chart omitted: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** How the series charts reduce a long run, in one sentence for the page. */
function samplingNote(played: number, bucket: number, window: number): string {
  const drawn =
    bucket === 1
      ? `Every round is drawn (${count(played)} rounds).`
      : `Downsampled to at most ${count(MAX_POINTS)} points: of each ${bucket} consecutive rounds the lowest and the highest value are drawn, so every extreme stays visible (${count(played)} rounds played; metrics.json holds every round).`;
  const mean =
    window > 1
      ? ` The darker line is the rolling mean over the last ${count(window)} rounds (1/${ROLLING_SHARE} of the run), computed from every round.`
      : '';
  return `${drawn}${mean}`;
}

/**
 * A per-round series as drawn: the observed values (extremes kept) and, when the run is
 * long enough for it to differ, their rolling mean over `window` rounds.
 */
export function observedSeries(
  name: string,
  colors: { observed: string; mean: string },
  rounds: readonly number[],
  values: readonly (number | null)[],
  window: number,
  max = MAX_POINTS,
): Series[] {
  const observed: Series = {
    name,
    color: window > 1 ? colors.observed : colors.mean,
    points: downsampleExtremes(rounds, values, max).points,
  };
  if (window <= 1) return [observed];
  return [
    observed,
    {
      name: `${name}, ${window}-round mean`,
      color: colors.mean,
      points: downsampleExtremes(rounds, rollingMean(values, window), max).points,
      emphasis: 'mean',
    },
  ];
}

export const OBSERVED = { observed: SERIES_COLORS.observed, mean: SERIES_COLORS.observedMean };
export const NET = { observed: SERIES_COLORS.net, mean: SERIES_COLORS.netMean };

async function seriesSection(metrics: RunMetrics) {
  const rounds = metrics.rounds.map((r) => r.round);
  const played = rounds.length;
  if (played === 0)
    return html`<section id="series"><h2>Price, quantity and profit</h2>${note('No round was played.')}</section>`;
  const window = rollingWindow(played);
  const bucket = extremesBucket(played);
  const last = rounds[played - 1] as number;
  const nash = metrics.benchmarks.nash;
  const collusive = metrics.benchmarks.collusive;
  // From the round a fork changed the market's benchmarks, when it did.
  const from = metrics.benchmarks_from === undefined ? {} : { from: metrics.benchmarks_from };
  const benchmarkLines = (value: (b: typeof nash) => number) => [
    { name: 'Nash', color: SERIES_COLORS.nash, value: value(nash), ...from },
    { name: 'collusive', color: SERIES_COLORS.collusive, value: value(collusive), ...from },
  ];
  const specs = [
    lineChartSpec({
      title: 'Mean price per round',
      yTitle: 'price',
      rounds: last,
      series: observedSeries(
        'mean price',
        OBSERVED,
        rounds,
        metrics.rounds.map((r) => r.mean_price),
        window,
      ),
      lines: benchmarkLines((b) => mean(flatPrice(b.price))),
    }),
    lineChartSpec({
      title: 'Total quantity per round (all firms and products)',
      yTitle: 'quantity',
      rounds: last,
      series: observedSeries(
        'total quantity',
        OBSERVED,
        rounds,
        metrics.rounds.map((r) => sum(r.total)),
        window,
      ),
      lines: benchmarkLines((b) => sum(b.total)),
    }),
    lineChartSpec({
      title: 'Industry profit per round',
      yTitle: 'profit',
      rounds: last,
      series: [
        ...observedSeries(
          'before fines',
          OBSERVED,
          rounds,
          metrics.rounds.map((r) => r.industry_profit),
          window,
        ),
        ...observedSeries(
          'after fines and credits',
          NET,
          rounds,
          metrics.rounds.map((r) => sum(r.net)),
          window,
        ),
      ],
      lines: benchmarkLines((b) => b.industry_profit),
    }),
  ];
  const charts: Markup[] = [];
  for (const spec of specs) charts.push(await chart(spec));
  return html`<section id="series">
<h2>Price, quantity and profit</h2>
${note(`${samplingNote(played, bucket, window)} Dashed lines: the Nash and collusive benchmarks${metrics.benchmarks_from === undefined ? '' : `, drawn from round ${count(metrics.benchmarks_from)}, when a fork changed the market's parameters (the rounds before it had others)`}.`)}
${charts}
${await quantitiesPanels(metrics, window)}
</section>`;
}

/** Most firm × product panels drawn; a note says how many firms or products were left out. */
const MAX_PANELS = 16;
/** Points per panel: a panel is a third to a half of a series chart's width. */
const PANEL_POINTS = 400;

/**
 * Each firm's quantity of each product over the rounds, as small multiples: market
 * division shows as firms specialising in different products, which the total hides.
 */
async function quantitiesPanels(metrics: RunMetrics, window: number) {
  const { firms, products } = metrics.run;
  const rounds = metrics.rounds.map((r) => r.round);
  if (firms.length === 0 || products.length === 0 || rounds.length === 0) return '';
  const shownProducts = products.slice(0, MAX_PANELS);
  const shownFirms = firms.slice(0, Math.max(1, Math.floor(MAX_PANELS / shownProducts.length)));
  const quantityOf = (b: { quantity: number[][] }, f: number, p: number) =>
    b.quantity[f]?.[p] ?? Number.NaN;
  const from = metrics.benchmarks_from === undefined ? {} : { from: metrics.benchmarks_from };
  const panels = shownFirms.flatMap((firm, f) =>
    shownProducts.map((product, p) => ({
      row: firm,
      column: product,
      series: observedSeries(
        'quantity',
        OBSERVED,
        rounds,
        metrics.rounds.map((r) => r.quantity[f]?.[p] ?? null),
        window,
        PANEL_POINTS,
      ),
      lines: [
        {
          name: 'Nash',
          color: SERIES_COLORS.nash,
          value: quantityOf(metrics.benchmarks.nash, f, p),
          ...from,
        },
        {
          name: 'collusive',
          color: SERIES_COLORS.collusive,
          value: quantityOf(metrics.benchmarks.collusive, f, p),
          ...from,
        },
      ],
    })),
  );
  const figure = await chart(
    panelChartSpec({
      yTitle: 'quantity',
      rounds: rounds[rounds.length - 1] as number,
      rows: shownFirms,
      columns: shownProducts,
      rowTitle: 'firm',
      columnTitle: 'product',
      panels,
    }),
  );
  const left: string[] = [];
  if (shownFirms.length < firms.length)
    left.push(`the first ${shownFirms.length} of ${firms.length} firms are drawn`);
  if (shownProducts.length < products.length)
    left.push(`the first ${shownProducts.length} of ${products.length} products are drawn`);
  const downsampled = extremesBucket(rounds.length, PANEL_POINTS) > 1;
  return html`<h3>Quantity per firm and product</h3>
${note(`One panel per firm and product, on one scale: market division shows as firms specialising in different products. ${downsampled ? `Downsampled like the charts above, to at most ${count(PANEL_POINTS)} points a panel. ` : ''}Dashed lines: each firm's Nash and collusive quantity of the product.${left.length > 0 ? ` Only ${left.join(' and ')}; metrics.json holds every firm.` : ''}`)}
${figure}`;
}

/**
 * The institution's states in declaration order with their kinds, then any state the
 * rounds record that it does not declare (a run scored without its institution), each
 * with its colour: the timeline, its legend and the state table use these.
 */
function stateLegend(
  metrics: RunMetrics | undefined,
  institution: IrInstitution | undefined,
): { name: string; color: string }[] {
  const declared: { name: string; kind: StateKind }[] = institution
    ? institution.states.map((s) => ({ name: s.name, kind: s.kind }))
    : [];
  const known = new Set(declared.map((s) => s.name));
  const sanction = new Set(metrics?.institution.sanction_states ?? []);
  for (const r of metrics?.rounds ?? []) {
    for (const s of r.state) {
      if (s === null || known.has(s)) continue;
      known.add(s);
      const kind: StateKind =
        s === metrics?.institution.initial_state
          ? 'initial'
          : sanction.has(s)
            ? 'sanction'
            : 'normal';
      declared.push({ name: s, kind });
    }
  }
  return stateColors(declared);
}

async function timelineSection(metrics: RunMetrics, institution: IrInstitution | undefined) {
  const hasStates = metrics.rounds.some((r) => r.state.some((s) => s !== null));
  if (!hasStates) {
    return html`<section id="timeline"><h2>State timeline</h2>${note('The institution has no states: every firm played every round unsupervised.')}</section>`;
  }
  const firms = metrics.run.firms;
  const { segments, bucket } = stateSegments(firms, metrics.rounds);
  const last = metrics.rounds[metrics.rounds.length - 1]?.round ?? 1;
  const figure = await chart(
    timelineSpec({ firms, rounds: last, segments, states: stateLegend(metrics, institution) }),
  );
  const sampling =
    bucket === 1
      ? 'Every round is drawn.'
      : `Downsampled: at most ${count(MAX_CELLS)} cells, so each cell covers ${bucket} rounds and shows the state the firm spent most of them in.`;
  return html`<section id="timeline"><h2>State timeline</h2>${note(sampling)}${figure}</section>`;
}

/** Every sanction, one per line, written beside the report when there is any. */
export const SANCTIONS_CSV = 'sanctions.csv';

/** The sanctions as `sanctions.csv`: round, firm, state, kind, timing, amount. */
export function sanctionsCsv(sanctions: readonly TraceEventOf<'sanction'>[]): string {
  return csvDocument(
    ['round', 'firm', 'state', 'kind', 'timing', 'amount'],
    sanctions.map((s) => [s.round, s.firm, s.state, s.sanction, s.timing, s.amount]),
  );
}

interface SanctionGroup {
  firm: string;
  kind: string;
  state: string;
  n: number;
  amount: number;
  first: number;
  last: number;
}

/** Sanctions grouped by firm × kind × state, in order of first appearance. */
function sanctionGroups(sanctions: readonly TraceEventOf<'sanction'>[]): SanctionGroup[] {
  const groups = new Map<string, SanctionGroup>();
  for (const s of sanctions) {
    const key = JSON.stringify([s.firm, s.sanction, s.state]);
    const g = groups.get(key);
    if (g) {
      g.n++;
      g.amount += s.amount;
      g.first = Math.min(g.first, s.round);
      g.last = Math.max(g.last, s.round);
    } else
      groups.set(key, {
        firm: s.firm,
        kind: s.sanction,
        state: s.state,
        n: 1,
        amount: s.amount,
        first: s.round,
        last: s.round,
      });
  }
  return [...groups.values()];
}

/**
 * A summary (count, first and last round, total per firm × kind × state, and totals per
 * kind) in view; every sanction behind a toggle (up to `MAX_TABLE_ROWS`) and in
 * `sanctions.csv` beside the page, which `csv` names when it was written.
 */
function sanctionsSection(sanctions: readonly TraceEventOf<'sanction'>[], csv: string | undefined) {
  if (sanctions.length === 0) {
    return html`<section id="sanctions"><h2>Sanctions</h2>${note('No fines or credits were imposed.')}</section>`;
  }
  const groups = sanctionGroups(sanctions);
  const totals = (['fine', 'credit'] as const)
    .map((kind) => {
      const of = sanctions.filter((s) => s.sanction === kind);
      return { kind, n: of.length, amount: sum(of.map((s) => s.amount)) };
    })
    .filter((t) => t.n > 0);
  const shown = sanctions.slice(0, MAX_TABLE_ROWS);
  const csvLink = csv
    ? html`; every one is in <a href="${csv}">${csv}</a> beside this page`
    : html`; events.jsonl has them all`;
  return html`<section id="sanctions">
<h2>Sanctions</h2>
<table class="sanction-summary"><thead><tr><th>firm</th><th>kind</th><th>state</th><th>count</th><th>first round</th><th>last round</th><th>total</th></tr></thead>
<tbody>${groups.map((g) => html`<tr><td>${g.firm}</td><td>${g.kind}</td><td>${g.state}</td><td>${count(g.n)}</td><td>${g.first}</td><td>${g.last}</td><td>${fmt(g.amount)}</td></tr>`)}</tbody>
<tfoot>${totals.map((t) => html`<tr><th scope="row" colspan="3">all ${t.kind}s</th><td>${count(t.n)}</td><td></td><td></td><td>${fmt(t.amount)}</td></tr>`)}</tfoot></table>
<details class="sanction-list"><summary>${shown.length < sanctions.length ? `The first ${count(shown.length)} of ${count(sanctions.length)} sanctions, round by round` : `All ${count(sanctions.length)} sanctions, round by round`}</summary>
${note(html`Listed in the order they were imposed${csvLink}.`)}
<table class="sanctions"><thead><tr><th>round</th><th>firm</th><th>state</th><th>kind</th><th>when</th><th>amount</th></tr></thead>
<tbody>${shown.map((s) => html`<tr><td>${s.round}</td><td>${s.firm}</td><td>${s.state}</td><td>${s.sanction}</td><td>${s.timing === 'entry' ? 'on entry' : 'each round'}</td><td>${fmt(s.amount)}</td></tr>`)}</tbody></table>
</details>
</section>`;
}

function noticesSection(notices: readonly TraceEventOf<'notice'>[]) {
  if (notices.length === 0) return '';
  // Notices repeat every round a firm stays in a state; one row per distinct notice.
  const groups = new Map<string, { firm: string; state: string; text: string; rounds: number[] }>();
  for (const n of notices) {
    const key = JSON.stringify([n.firm, n.state, n.text]);
    const g = groups.get(key) ?? { firm: n.firm, state: n.state, text: n.text, rounds: [] };
    g.rounds.push(n.round);
    groups.set(key, g);
  }
  const rows = [...groups.values()].slice(0, MAX_TABLE_ROWS);
  return html`<section id="notices">
<h2>Notices</h2>
<table><thead><tr><th>firm</th><th>state</th><th>notice</th><th>times</th><th>first / last round</th></tr></thead>
<tbody>${rows.map((g) => html`<tr><td>${g.firm}</td><td>${g.state}</td><td class="text">${g.text}</td><td>${count(g.rounds.length)}</td><td>${g.rounds[0]} / ${g.rounds[g.rounds.length - 1]}</td></tr>`)}</tbody></table>
</section>`;
}

function rationalesSection(decisions: readonly TraceEventOf<'decision'>[]) {
  const withRationale = decisions.filter((d) => d.rationale !== undefined);
  if (withRationale.length === 0) return '';
  const shown = withRationale.slice(0, MAX_TABLE_ROWS);
  return html`<section id="rationales">
<h2>Agents' rationales</h2>
${withRationale.length > shown.length ? note(`The first ${count(shown.length)} of ${count(withRationale.length)}; events.jsonl has them all.`) : ''}
<table><thead><tr><th>round</th><th>firm</th><th>policy</th><th>action</th><th>rationale</th></tr></thead>
<tbody>${shown.map((d) => html`<tr><td>${d.round}</td><td>${d.firm}</td><td>${d.policy}</td><td>${d.action.map((a) => fmt(a)).join(', ')}</td><td class="text">${d.rationale}</td></tr>`)}</tbody></table>
</section>`;
}

/** Rounds drawn as talk networks; the table lists every message. */
const MAX_DRAWN_ROUNDS = 12;
/** Larger talk networks are not drawn (a text world's hundreds of hosts: the layout would take minutes). */
const MAX_DRAWN_AGENTS = 16;
/** The sender × receiver table is given up to this many agents. */
const MAX_MATRIX_AGENTS = 30;

/** The talk of the first rounds with messages as small networks, one cluster per round, in one drawing. */
async function talkNetworks(
  messages: readonly TraceEventOf<'message'>[],
  firms: readonly string[],
  preferWasm: boolean,
): Promise<Markup | string> {
  if (firms.length > MAX_DRAWN_AGENTS)
    return note(
      `Talk networks are drawn for at most ${MAX_DRAWN_AGENTS} agents; this run has ${count(firms.length)}.`,
    );
  const { attribute: A, Digraph, Edge, Node, Subgraph, toDot } = await import('ts-graphviz');
  const rounds = [...new Set(messages.map((m) => m.round))].slice(0, MAX_DRAWN_ROUNDS);
  const g = new Digraph('talk', { [A.rankdir]: 'LR', [A.fontname]: 'Helvetica' });
  g.attributes.node.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 10, [A.shape]: 'circle' });
  g.attributes.edge.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 9 });
  for (const round of rounds) {
    const cluster = new Subgraph(`cluster_r${round}`, { [A.label]: `round ${round}` });
    const node = (firm: string) => `r${round}_${firms.indexOf(firm)}`;
    for (const firm of firms) cluster.addNode(new Node(node(firm), { [A.label]: firm }));
    const counts = new Map<string, number>();
    for (const m of messages)
      if (m.round === round)
        for (const to of m.to)
          counts.set(`${m.from}\u0000${to}`, (counts.get(`${m.from}\u0000${to}`) ?? 0) + 1);
    for (const [key, n] of counts) {
      const [from, to] = key.split('\u0000') as [string, string];
      if (firms.includes(from) && firms.includes(to))
        cluster.addEdge(
          new Edge([new Node(node(from)), new Node(node(to))], {
            [A.label]: String(n),
            [A.penwidth]: Math.min(4, 0.8 + 0.6 * n),
          }),
        );
    }
    g.addSubgraph(cluster);
  }
  try {
    const { renderDot } = await import('../render/graphviz.js');
    const rendered = await renderDot(toDot(g), 'svg', { preferWasm });
    const svg = inlineSvg(String(rendered.output));
    if (!('markup' in svg))
      return note(`Talk networks omitted: the drawing failed the safety check (${svg.problem}).`);
    return diagramFigure(
      svg.markup,
      `Who wrote to whom in ${rounds.length === 1 ? 'the round' : `each of the first ${rounds.length} rounds`} with messages (edge labels: messages).`,
    );
  } catch (error) {
    return note(`No talk networks: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Talk: each round's network drawn (the first rounds with messages), who wrote to whom over
 * the whole run as a sender × receiver table of message counts, the lineage graph when
 * messages name parents (lineage-view.ts), and every message with its id and parents.
 */
/** The text delivered in a message's place, under it. */
function messageNote(n: MessageNote) {
  if (n.type === 'message_replaced')
    return html`<div class="paraphrase">a fork's replacement: its sender said ${n.text}</div>`;
  if (n.type === 'message_dropped')
    return html`<div class="paraphrase">a fork kept it from ${n.to.join(', ')}</div>`;
  return paraphraseNote(n);
}

function paraphraseNote(p: TraceEventOf<'message_paraphrased'> | undefined) {
  return p
    ? html`<div class="paraphrase">delivered as (${p.paraphraser} paraphrase, ${p.from} in ${p.state}): ${p.paraphrase}</div>`
    : '';
}

export async function messagesSection(
  messages: readonly TraceEventOf<'message'>[],
  firms: readonly string[],
  preferWasm: boolean,
  /** Messages in the run, when `messages` holds only the first of them (a run kept a bounded number). */
  total = messages.length,
  /** What became of some messages, shown under them. */
  notes: readonly MessageNote[] = [],
) {
  const notesOf = new Map<string, MessageNote[]>();
  for (const n of notes) notesOf.set(n.id, [...(notesOf.get(n.id) ?? []), n]);
  if (messages.length === 0) return '';
  const networks = await talkNetworks(messages, firms, preferWasm);
  const { lineageFigure } = await import('./lineage-view.js');
  const lineage = await lineageFigure(messages, preferWasm);
  const counts = new Map<string, number>();
  for (const m of messages)
    for (const to of m.to)
      counts.set(`${m.from}\u0000${to}`, (counts.get(`${m.from}\u0000${to}`) ?? 0) + 1);
  const shown = messages.slice(0, MAX_TABLE_ROWS);
  return html`<section id="messages">
<h2>Talk</h2>
${total > messages.length ? note(`What follows covers the first ${count(messages.length)} of the run's ${count(total)} messages; events.jsonl has them all.`) : ''}
${networks}
<h3>Who wrote to whom (messages over the run)</h3>
${
  firms.length > MAX_MATRIX_AGENTS
    ? note(
        `The sender × receiver table is given for at most ${MAX_MATRIX_AGENTS} agents; this run has ${count(firms.length)}.`,
      )
    : html`<table><thead><tr><th>from \ to</th>${firms.map((f) => html`<th>${f}</th>`)}</tr></thead>
<tbody>${firms.map((from) => html`<tr><th scope="row">${from}</th>${firms.map((to) => html`<td>${from === to ? '' : String(counts.get(`${from}\u0000${to}`) ?? 0)}</td>`)}</tr>`)}</tbody></table>`
}
${lineage}
<h3>Messages, round by round</h3>
${messages.length > shown.length ? note(`The first ${count(shown.length)} of ${count(messages.length)}; events.jsonl has them all.`) : ''}
<table><thead><tr><th>id</th><th>round</th><th>turn</th><th>from</th><th>to</th><th>parents</th><th>message</th></tr></thead>
<tbody>${shown.map((m) => html`<tr><td>${m.id ?? ''}</td><td>${m.round}</td><td>${m.talk_round}</td><td>${m.from}</td><td>${m.to.join(', ') || '(nobody)'}</td><td>${(m.parents ?? []).join(', ')}${m.unknown_parents ? ` (named but never received: ${m.unknown_parents.join(', ')})` : ''}</td><td class="text">${m.text}${m.truncated ? ' [cut to the length limit]' : ''}${(m.id === undefined ? [] : (notesOf.get(m.id) ?? [])).map(messageNote)}</td></tr>`)}</tbody></table>
</section>`;
}

async function provenanceSection(dir: string, manifest: Manifest, warnings: readonly string[]) {
  const { verifyRunDirectory } = await import('../trace/governance-log.js');
  const verdict = verifyRunDirectory(dir);
  return html`<section id="provenance">
<h2>Provenance</h2>
<table class="kv">
<tr><th scope="row">governance log</th><td>${verdict.ok ? '✓ ' : '✗ '}${verdict.message}</td></tr>
<tr><th scope="row">experiment digest</th><td><code>${manifest.digest ?? '?'}</code></td></tr>
<tr><th scope="row">sources</th><td>${(manifest.sources ?? []).map((s) => html`<div><code>${s.path}</code> sha256 <code>${s.sha256 ?? '?'}</code></div>`)}</td></tr>
<tr><th scope="row">node</th><td>${manifest.node_version ?? '?'}</td></tr>
</table>
${warnings.length > 0 ? html`<h3>Warnings</h3><ul>${warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}
</section>`;
}

const STYLE = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1000px; padding: 1.5rem; color: #1d1d1d; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; overflow-wrap: anywhere; }
h3 { font-size: 1.05rem; }
.kicker { color: #666; margin: 0; text-transform: uppercase; letter-spacing: 0.05em; font-size: 0.8rem; }
.status { font-size: 0.85rem; padding: 0.1rem 0.5rem; border-radius: 0.8rem; vertical-align: middle; background: #eee; }
.status-completed { background: #e8f5e9; color: #1b5e20; }
.status-failed { background: #fbe9e7; color: #b23b2e; }
.status-interrupted, .status-running { background: #fff8e1; color: #8a5a00; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; }
td { font-variant-numeric: tabular-nums; }
td.text, blockquote { white-space: pre-wrap; overflow-wrap: anywhere; }
table.kv th { font-weight: normal; color: #444; background: #fafafa; }
.why { color: #777; font-size: 0.85em; }
.note { color: #555; font-size: 0.9rem; }
.notice { color: #8a5a00; }
figure { margin: 1rem 0; overflow-x: auto; }
figure svg { max-width: 100%; height: auto; }
figure.diagram { border: 1px solid #eee; padding: 0.5rem; }
figure.diagram:has(details.full-size[open]) svg { max-width: none; }
details.full-size { display: inline; }
details.full-size summary { display: inline; cursor: pointer; color: #2f6db5; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em; border: 1px solid #999; vertical-align: baseline; }
figcaption { color: #666; font-size: 0.85rem; }
blockquote.directive { border-left: 3px solid #2f6db5; margin: 0.5rem 0; padding: 0.2rem 0.8rem; background: #f5f8fc; }
code { font-size: 0.85em; overflow-wrap: anywhere; }
footer { margin-top: 2rem; color: #777; font-size: 0.8rem; }
`;

// No script may run and nothing may load, whatever the page contains.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const isMap = (
  value: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
): value is ReadonlyMap<string, ParamValue> => value instanceof Map;

/** Compiles the institution the manifest names from the sources it recorded. */
export async function institutionFromManifest(
  manifest: Pick<Manifest, 'institution' | 'sources' | 'market'>,
): Promise<{ institution?: IrInstitution; why?: string; environmentTitle?: string }> {
  const name = manifest.institution?.name;
  if (!name) return { why: 'the manifest names no institution' };
  const { compileSources } = await import('../../compiler/index.js');
  const { librarySources } = await import('../sources.js');
  const sources = (manifest.sources ?? []).map((s) => ({ path: s.path, text: s.text }));
  const compiled = compileSources(sources, librarySources(), { includeLibrary: true });
  // An environment's title heads its report, as it did when the run wrote it.
  const environment = compiled.program.environments.find((e) => e.name === manifest.market?.name);
  const title = environment ? { environmentTitle: environment.title } : {};
  const institution = compiled.program.institutions.find((i) => i.name === name);
  if (institution) return { institution, ...title };
  return {
    ...title,
    why: compiled.ok
      ? `the manifest's sources do not declare institution ${name}`
      : `the manifest's sources no longer compile`,
  };
}

/** Writes `DIR/report.html` for the run in `dir` and returns its path. */
export async function writeRunReport(dir: string, options: RunReportOptions = {}): Promise<string> {
  if (!existsSync(join(dir, 'manifest.json')) && !existsSync(join(dir, 'events.jsonl')))
    throw new ReportError(`${dir} holds no run (no manifest.json or events.jsonl)`);
  const manifest =
    (options.run?.manifest as Manifest | undefined) ??
    readJson<Manifest>(join(dir, 'manifest.json')) ??
    {};
  // A page drawn again from a run that kept no trace would lose its talk, notices and
  // rationales: the run's own page (drawn from its events as it went) is left as it is.
  if (!options.run && manifest.trace === 'none')
    throw new ReportError(
      `the run in ${dir} kept no trace (--trace none), so its report cannot be drawn again from its files; ${
        existsSync(join(dir, 'report.html'))
          ? 'report.html is the page the run wrote'
          : 'it drew no page of its own (a sweep draws its runs’ pages with --run-reports): run it again with --trace summary or --run-reports'
      }`,
    );
  const stored = options.run?.metrics ?? readJson<RunMetrics>(join(dir, 'metrics.json'));
  const trace = options.run
    ? {
        events: options.run.events.filter(
          (e) => SHOWN.has(e.type) && (e.type !== 'decision' || e.rationale !== undefined),
        ),
        skipped: 0,
      }
    : await readTrace(join(dir, 'events.jsonl'), stored === undefined);
  const warnings: string[] = [];
  if (trace.skipped > 0)
    warnings.push(`${trace.skipped} unreadable line(s) of events.jsonl were left out`);
  // An environment's run has its own report, drawn from its metrics.json.
  const environmentMetrics =
    stored && 'environment' in stored.run ? (stored as unknown as EnvironmentMetrics) : undefined;
  if (environmentMetrics || manifest.market?.kind === 'environment') {
    if (!environmentMetrics)
      throw new ReportError(
        `${dir} holds an environment's run without metrics.json, which its report is drawn from`,
      );
    const { writeEnvironmentReport } = await import('./environment-report.js');
    const {
      institution,
      environmentTitle,
    }: { institution?: IrInstitution; environmentTitle?: string } = options.institution
      ? { institution: options.institution }
      : await institutionFromManifest(manifest);
    // As the run wrote it: the talk's first MESSAGES_KEPT messages, and how many there were.
    const messages = trace.events.filter((e): e is TraceEventOf<'message'> => e.type === 'message');
    const kept = messages.slice(0, MESSAGES_KEPT);
    const ids = new Set(kept.map((m) => m.id));
    return writeEnvironmentReport(dir, {
      metrics: environmentMetrics,
      ...(manifest.trace && manifest.trace !== 'full' ? { trace: manifest.trace } : {}),
      ...(institution ? { institution } : {}),
      ...(environmentTitle !== undefined ? { title: environmentTitle } : {}),
      ...(options.lineage !== undefined ? { lineage: options.lineage } : {}),
      messages: kept,
      notes: trace.events.filter((e): e is MessageNote => isMessageNote(e) && ids.has(e.id)),
      ...(messages.length > MESSAGES_KEPT ? { messagesTotal: messages.length } : {}),
    });
  }

  const found = options.institution
    ? { institution: options.institution }
    : await institutionFromManifest(manifest).catch((error: unknown) => ({
        institution: undefined,
        why: error instanceof Error ? error.message : String(error),
      }));
  const institution = found.institution;
  const given = options.overrides;
  const overrides = new Map<string, ParamValue>(
    given === undefined
      ? Object.entries(manifest.institution?.params ?? {})
      : isMap(given)
        ? given
        : Object.entries(given),
  );

  let metrics = stored;
  if (!metrics) {
    // A failed run writes no metrics.json; score what its trace holds.
    try {
      const { computeMetrics, institutionMetricsOptions } = await import('../metrics.js');
      metrics = computeMetrics(trace.events, institutionMetricsOptions(institution));
      warnings.push('metrics.json is missing; the metrics were computed from events.jsonl');
    } catch (error) {
      warnings.push(`no metrics: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (metrics) warnings.push(...metrics.warnings);

  const sanctions = trace.events.filter(
    (e): e is TraceEventOf<'sanction'> => e.type === 'sanction',
  );
  const notices = trace.events.filter((e): e is TraceEventOf<'notice'> => e.type === 'notice');
  const decisions = trace.events.filter(
    (e): e is TraceEventOf<'decision'> => e.type === 'decision',
  );
  const generatedAt = new Date().toISOString();
  // Beside the page, so the full list is one click away and opens in any spreadsheet.
  let csv: string | undefined;
  if (sanctions.length > 0) {
    try {
      writeFileAtomic(join(dir, SANCTIONS_CSV), sanctionsCsv(sanctions));
      csv = SANCTIONS_CSV;
    } catch (error) {
      warnings.push(
        `${SANCTIONS_CSV} not written: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  const body = html`${headerSection(manifest, metrics, generatedAt, options.lineage)}
${metrics ? metricsSection(metrics) : note('No metrics: see the warnings below.')}
${metrics ? benchmarksSection(metrics) : ''}
${metrics ? firmsSection(metrics, manifest) : ''}
${await institutionSection(
  institution,
  overrides,
  found.why,
  options.preferWasm ?? false,
  new Map(stateLegend(metrics, institution).map((s) => [s.name, s.color])),
)}
${metrics ? await seriesSection(metrics) : ''}
${metrics ? await timelineSection(metrics, institution) : ''}
${sanctionsSection(sanctions, csv)}
${noticesSection(notices)}
${rationalesSection(decisions)}
${await messagesSection(
  trace.events.filter((e): e is TraceEventOf<'message'> => e.type === 'message'),
  Object.keys(manifest.policies ?? {}),
  options.preferWasm ?? false,
  options.run?.messagesTotal,
  trace.events.filter(isMessageNote),
)}
${await provenanceSection(dir, manifest, warnings)}
<footer>Self-contained: no scripts, nothing loaded from elsewhere. Charts drawn with Vega-Lite and Vega; the run's files beside this page hold every number.</footer>`;

  return writeReportPage(
    join(dir, REPORT_FILE),
    `${manifest.experiment ?? 'run'} — MASE run report`,
    body,
  );
}

/**
 * Writes a self-contained report page (no scripts; the CSP allows nothing to load) with
 * `body` inside, aside and renamed so no reader sees half a page. Returns the path.
 */
export function writeReportPage(path: string, title: string, body: Markup): string {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<style>${trustedMarkup(STYLE)}</style>
</head>
<body>
${body}
</body>
</html>
`;
  writeFileAtomic(path, page.toString());
  return path;
}
