import type { TopLevelSpec } from 'vega-lite';
import type { StateKind } from '../../compiler/ir.js';

/**
 * The report's charts: Vega-Lite specs built from a run's numbers, compiled with vega-lite
 * and drawn to SVG strings by vega's headless renderer, so the page needs no script.
 */

/** Most points a series chart draws; longer runs are reduced by `downsampleExtremes`. */
export const MAX_POINTS = 1000;

/** Most cells the state timeline draws; beyond it rounds are grouped into buckets. */
export const MAX_CELLS = 2000;

export interface SeriesPoint {
  readonly round: number;
  readonly value: number;
}

export interface Downsampled {
  readonly points: SeriesPoint[];
  /** Rounds per bucket: 1 when every round is drawn. */
  readonly bucket: number;
}

/** A value a chart can draw: a finite number. */
const isNumber = (v: number | null | undefined): v is number =>
  v !== null && v !== undefined && Number.isFinite(v);

/**
 * Min/max downsampling: a series of more than `max` rounds is cut into buckets of equal
 * length, and of each bucket the round with the lowest value and the round with the
 * highest are kept, in round order, so a line through the points still reaches every
 * extreme (a single spike round stays visible) and at most `max` points are drawn. A
 * series of at most `max` rounds is drawn whole. Non-finite values (a null surplus, say)
 * are left out.
 *
 * Written here rather than taken from a library: the npm downsamplers implement LTTB,
 * which keeps one point per bucket and so loses the low or the high of a bucket that
 * holds both; keeping both is the whole point.
 */
export function downsampleExtremes(
  rounds: readonly number[],
  values: readonly (number | null)[],
  max = MAX_POINTS,
): Downsampled {
  const finite = (k: number) => isNumber(values[k]);
  const point = (k: number): SeriesPoint => ({
    round: rounds[k] as number,
    value: values[k] as number,
  });
  const bucket = extremesBucket(rounds.length, max);
  const points: SeriesPoint[] = [];
  if (bucket === 1) {
    for (let k = 0; k < rounds.length; k++) if (finite(k)) points.push(point(k));
    return { points, bucket };
  }
  for (let start = 0; start < rounds.length; start += bucket) {
    let low = -1;
    let high = -1;
    const end = Math.min(rounds.length, start + bucket);
    for (let k = start; k < end; k++) {
      if (!finite(k)) continue;
      if (low === -1 || (values[k] as number) < (values[low] as number)) low = k;
      if (high === -1 || (values[k] as number) > (values[high] as number)) high = k;
    }
    if (low === -1) continue;
    const [first, second] = low <= high ? [low, high] : [high, low];
    points.push(point(first));
    if (second !== first) points.push(point(second));
  }
  return { points, bucket };
}

/** Rounds per bucket of `downsampleExtremes`: two points a bucket, at most `max` points. */
export function extremesBucket(length: number, max = MAX_POINTS): number {
  return length <= max ? 1 : Math.ceil(length / Math.max(1, Math.floor(max / 2)));
}

/** Share of the run a rolling mean averages over: 1/50, i.e. 40 rounds of a 2,000-round run. */
export const ROLLING_SHARE = 50;

/** The rolling-mean window for a run of `played` rounds: `played / ROLLING_SHARE`, rounded. */
export function rollingWindow(played: number): number {
  return Math.max(1, Math.round(played / ROLLING_SHARE));
}

/**
 * Trailing rolling mean: at round k, the mean of the finite values of rounds
 * k − window + 1 … k (fewer at the start of the run); null where none is finite.
 */
export function rollingMean(values: readonly (number | null)[], window: number): (number | null)[] {
  const out: (number | null)[] = [];
  let sum = 0;
  let n = 0;
  for (let k = 0; k < values.length; k++) {
    const entering = values[k];
    if (isNumber(entering)) {
      sum += entering;
      n++;
    }
    const leaving = values[k - window];
    if (k >= window && isNumber(leaving)) {
      sum -= leaving;
      n--;
    }
    out.push(n > 0 ? sum / n : null);
  }
  return out;
}

/** Rounds per bucket so that `count` rounds fit in `max` cells. */
export function bucketSize(count: number, max = MAX_CELLS): number {
  return Math.max(1, Math.ceil(count / Math.max(1, max)));
}

export interface StateSegment {
  readonly firm: string;
  readonly state: string;
  /** First and last round of the segment, inclusive. */
  readonly first: number;
  readonly last: number;
}

/**
 * Each firm's states as runs of consecutive rounds. Exact when the runs fit in `max`
 * cells; otherwise rounds are grouped into buckets, each bucket shown as the state the firm
 * spent most of it in, and runs are formed again from the buckets.
 */
export function stateSegments(
  firms: readonly string[],
  rounds: readonly { round: number; state: readonly (string | null)[] }[],
  max = MAX_CELLS,
): { segments: StateSegment[]; bucket: number } {
  const runs = (bucket: number): StateSegment[] => {
    const segments: StateSegment[] = [];
    firms.forEach((firm, i) => {
      let current: { state: string; first: number; last: number } | undefined;
      for (let start = 0; start < rounds.length; start += bucket) {
        const slice = rounds.slice(start, start + bucket);
        const state = modeOf(slice.map((r) => r.state[i] ?? null));
        const first = (slice[0] as { round: number }).round;
        const last = (slice[slice.length - 1] as { round: number }).round;
        if (current && state === current.state && first === current.last + 1) {
          current.last = last;
          continue;
        }
        if (current) segments.push({ firm, ...current });
        current = state === null ? undefined : { state, first, last };
      }
      if (current) segments.push({ firm, ...current });
    });
    return segments;
  };
  const exact = runs(1);
  if (exact.length <= max) return { segments: exact, bucket: 1 };
  const bucket = bucketSize(rounds.length, Math.floor(max / Math.max(1, firms.length)));
  return { segments: runs(bucket), bucket };
}

/** The most frequent value; ties go to the one seen first. */
function modeOf(values: readonly (string | null)[]): string | null {
  const counts = new Map<string | null, number>();
  let best: string | null = null;
  let bestCount = 0;
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1;
    counts.set(v, c);
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

const WIDTH = 760;
// Nothing may be fetched when the page is viewed, so fonts are generic families only.
const CONFIG = {
  font: 'sans-serif',
  background: 'white',
  view: { stroke: '#dddddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  // Without a canvas, Vega estimates text widths generously; the limit leaves room for that.
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 420, orient: 'right' as const },
  title: { fontSize: 14, anchor: 'start' as const },
};

/**
 * The Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"): eight colours that
 * stay apart under the common colour-vision deficiencies. Series and states are drawn
 * from it first.
 */
export const OKABE_ITO = {
  black: '#000000',
  orange: '#E69F00',
  skyBlue: '#56B4E9',
  bluishGreen: '#009E73',
  yellow: '#F0E442',
  blue: '#0072B2',
  vermillion: '#D55E00',
  reddishPurple: '#CC79A7',
} as const;

/**
 * Paul Tol's "muted" scheme (Tol 2021, Colour Schemes, SRON/EPS/TN/09-002), for an
 * institution with more states than Okabe–Ito has colours.
 */
export const TOL_MUTED = [
  '#CC6677',
  '#332288',
  '#DDCC77',
  '#117733',
  '#88CCEE',
  '#882255',
  '#44AA99',
  '#999933',
  '#AA4499',
] as const;

/**
 * Series colours: an observed series in a light tint of an Okabe–Ito hue, its rolling
 * mean in the hue itself, benchmarks in black and vermillion.
 */
export const SERIES_COLORS = {
  observed: '#9FC6E3',
  observedMean: OKABE_ITO.blue,
  net: '#E8C2D8',
  netMean: '#A8548A',
  nash: OKABE_ITO.black,
  collusive: OKABE_ITO.vermillion,
} as const;

// Kinds keep their meaning in colour (warm for sanctions, green for credit, blue for
// standing), and no two states share one until both palettes are used up.
const KIND_PREFERENCE: Record<StateKind, readonly string[]> = {
  initial: [OKABE_ITO.skyBlue, OKABE_ITO.blue],
  normal: [OKABE_ITO.blue, OKABE_ITO.skyBlue, OKABE_ITO.black],
  // Vermillion and reddish purple next: escalating states often alternate round by round,
  // and orange beside vermillion then blurs into one band.
  sanction: [OKABE_ITO.yellow, OKABE_ITO.vermillion, OKABE_ITO.reddishPurple, OKABE_ITO.orange],
  // A warning (notices only) is the first step of escalation: the lightest warm colour.
  warning: [OKABE_ITO.yellow, OKABE_ITO.orange],
  credit: [OKABE_ITO.bluishGreen],
};
const ALL_STATE_COLORS: readonly string[] = [
  OKABE_ITO.skyBlue,
  OKABE_ITO.yellow,
  OKABE_ITO.vermillion,
  OKABE_ITO.reddishPurple,
  OKABE_ITO.orange,
  OKABE_ITO.bluishGreen,
  OKABE_ITO.blue,
  OKABE_ITO.black,
  ...TOL_MUTED,
];

/**
 * A colour per state, in the order given: the first unused colour its kind prefers, else
 * the first unused Okabe–Ito colour, else Tol's muted scheme. Distinct states get distinct
 * colours up to 17 states; past that colours repeat (the legend still names each state).
 */
export function stateColors(
  states: readonly { name: string; kind: StateKind }[],
): { name: string; color: string }[] {
  const used = new Set<string>();
  return states.map(({ name, kind }, i) => {
    const color =
      KIND_PREFERENCE[kind].find((c) => !used.has(c)) ??
      ALL_STATE_COLORS.find((c) => !used.has(c)) ??
      (ALL_STATE_COLORS[i % ALL_STATE_COLORS.length] as string);
    used.add(color);
    return { name, color };
  });
}

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly SeriesPoint[];
  /** A rolling mean is drawn thicker, above the observed series. */
  readonly emphasis?: 'observed' | 'mean';
}

export interface LineChart {
  readonly title: string;
  readonly yTitle: string;
  /** Rounds played, for the x domain. */
  readonly rounds: number;
  readonly series: readonly Series[];
  readonly lines: readonly BenchmarkLine[];
}

/** A benchmark level, dashed: over every round, or from round `from` on (a fork changed it then). */
export interface BenchmarkLine {
  readonly name: string;
  readonly color: string;
  readonly value: number;
  readonly from?: number;
}

/** The x extent of benchmark rules that start at a round (none: they span the chart). */
const ruleExtent = (lines: readonly BenchmarkLine[]) =>
  lines.some((l) => l.from !== undefined)
    ? {
        x: { field: 'from', type: 'quantitative' as const },
        x2: { field: 'to' },
      }
    : {};

const strokeWidth = (s: Series) => (s.emphasis === 'mean' ? 2.2 : 1.2);

/** A shared colour encoding: one legend entry per series and benchmark. */
function colorEncoding(
  series: readonly Series[],
  lines: readonly { name: string; color: string }[],
) {
  return {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: {
      domain: [...series.map((s) => s.name), ...lines.map((l) => l.name)],
      range: [...series.map((s) => s.color), ...lines.map((l) => l.color)],
    },
  };
}

const roundAxis = (rounds: number) => ({
  field: 'round',
  type: 'quantitative' as const,
  title: 'round',
  scale: { domain: [1, Math.max(2, rounds)], nice: false },
});

/**
 * A per-round series as lines (each observed series under its rolling mean), with
 * benchmark levels as dashed horizontal rules.
 */
export function lineChartSpec(chart: LineChart): TopLevelSpec {
  const lines = chart.lines.filter((l) => Number.isFinite(l.value));
  const color = colorEncoding(chart.series, lines);
  const ordered = [
    ...chart.series.filter((s) => s.emphasis !== 'mean'),
    ...chart.series.filter((s) => s.emphasis === 'mean'),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: WIDTH,
    height: 200,
    config: CONFIG,
    layer: [
      ...ordered.map((s) => ({
        data: {
          values: s.points.map((p) => ({ round: p.round, value: p.value, series: s.name })),
        },
        mark: { type: 'line' as const, strokeWidth: strokeWidth(s), clip: true },
        encoding: {
          x: roundAxis(chart.rounds),
          y: {
            field: 'value',
            type: 'quantitative' as const,
            title: chart.yTitle,
            scale: { zero: false },
          },
          color,
        },
      })),
      {
        data: {
          values: lines.map((l) => ({
            value: l.value,
            series: l.name,
            ...(l.from === undefined ? {} : { from: l.from, to: chart.rounds }),
          })),
        },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { y: { field: 'value', type: 'quantitative' }, color, ...ruleExtent(lines) },
      },
    ],
  };
}

export interface PanelChart {
  readonly yTitle: string;
  readonly rounds: number;
  /** Panel rows and columns, in display order. */
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  readonly rowTitle: string;
  readonly columnTitle: string;
  /** Each panel's series and benchmark levels, keyed by row and column. */
  readonly panels: readonly {
    readonly row: string;
    readonly column: string;
    readonly series: readonly Series[];
    readonly lines: readonly BenchmarkLine[];
  }[];
}

/**
 * Small multiples: one panel per row × column (a firm × a product), all on one y scale so
 * panels compare at a glance, each with its series and dashed benchmark levels.
 */
export function panelChartSpec(chart: PanelChart): TopLevelSpec {
  const first = chart.panels[0];
  const series = first?.series ?? [];
  const lineNames = first?.lines ?? [];
  const color = colorEncoding(series, lineNames);
  const columns = Math.max(1, chart.columns.length);
  const width = Math.max(140, Math.floor((WIDTH - 30 * (columns - 1)) / columns));
  const points = chart.panels.flatMap((panel) =>
    panel.series.flatMap((s) =>
      s.points.map((p) => ({
        row: panel.row,
        column: panel.column,
        round: p.round,
        value: p.value,
        series: s.name,
        layer: s.emphasis === 'mean' ? 'mean' : 'observed',
      })),
    ),
  );
  const levels = chart.panels.flatMap((panel) =>
    panel.lines
      .filter((l) => Number.isFinite(l.value))
      .map((l) => ({
        row: panel.row,
        column: panel.column,
        value: l.value,
        series: l.name,
        layer: 'benchmark',
        ...(l.from === undefined ? {} : { from: l.from, to: chart.rounds }),
      })),
  );
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    title: chart.yTitle,
    scale: { zero: true },
  };
  const lineLayer = (layer: 'observed' | 'mean', width: number) => ({
    transform: [{ filter: { field: 'layer', equal: layer } }],
    mark: { type: 'line' as const, strokeWidth: width, clip: true },
    encoding: { x: roundAxis(chart.rounds), y, color },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: [...points, ...levels] },
    facet: {
      row: { field: 'row', type: 'nominal', title: chart.rowTitle, sort: [...chart.rows] },
      column: {
        field: 'column',
        type: 'nominal',
        title: chart.columnTitle,
        sort: [...chart.columns],
      },
    },
    spec: {
      width,
      height: 110,
      layer: [
        lineLayer('observed', 1),
        lineLayer('mean', 2),
        {
          transform: [{ filter: { field: 'layer', equal: 'benchmark' } }],
          mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.2 },
          encoding: {
            y: { field: 'value', type: 'quantitative' },
            color,
            ...ruleExtent(chart.panels.flatMap((p) => p.lines)),
          },
        },
      ],
    },
  };
}

export interface TimelineChart {
  readonly firms: readonly string[];
  readonly rounds: number;
  readonly segments: readonly StateSegment[];
  /** States in legend order with their colours. */
  readonly states: readonly { name: string; color: string }[];
}

/** Which state each firm was in each round: one row of rectangles per firm. */
export function timelineSpec(chart: TimelineChart): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Institution state per firm and round',
    width: WIDTH,
    height: Math.max(60, 36 * chart.firms.length),
    config: CONFIG,
    data: {
      values: chart.segments.map((s) => ({
        firm: s.firm,
        state: s.state,
        // Each round is a unit-wide cell centred on its number.
        from: s.first - 0.5,
        to: s.last + 0.5,
      })),
    },
    mark: { type: 'rect' },
    encoding: {
      x: {
        field: 'from',
        type: 'quantitative',
        title: 'round',
        scale: { domain: [0.5, chart.rounds + 0.5], nice: false },
      },
      x2: { field: 'to' },
      y: { field: 'firm', type: 'nominal', title: 'firm', sort: [...chart.firms] },
      color: {
        field: 'state',
        type: 'nominal',
        title: 'state',
        scale: {
          domain: chart.states.map((s) => s.name),
          range: chart.states.map((s) => s.color),
        },
      },
    },
  };
}

type VegaModule = typeof import('vega');
type VegaLiteModule = typeof import('vega-lite');
let modules: Promise<[VegaModule, VegaLiteModule]> | undefined;

function loadModules(): Promise<[VegaModule, VegaLiteModule]> {
  // Loaded on first use: together they are several megabytes of JavaScript that `mase
  // --help` and `mase check` have no use for.
  modules ??= Promise.all([import('vega'), import('vega-lite')]);
  return modules;
}

/** Compiles a Vega-Lite spec and renders it headlessly to an SVG document string. */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await loadModules();
  const logger = vega.logger(vega.Error);
  const compiled = vegaLite.compile(spec, { logger }).spec;
  // All data is inline; a loader that refuses every URL keeps it that way even if a spec
  // were to name one.
  const loader = vega.loader();
  loader.sanitize = (uri: string) =>
    Promise.reject(new Error(`report charts load nothing (asked for ${uri})`));
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader, logger });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
