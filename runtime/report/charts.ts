import type { TopLevelSpec } from 'vega-lite';

/**
 * The report's charts: Vega-Lite specs built from a run's numbers, compiled with vega-lite
 * and drawn to SVG strings by vega's headless renderer, so the page needs no script.
 */

/** Most points (or timeline cells) a chart draws; longer runs are aggregated into buckets. */
export const MAX_POINTS = 2000;

export interface SeriesPoint {
  readonly round: number;
  readonly value: number;
}

export interface Downsampled {
  readonly points: SeriesPoint[];
  /** Rounds per point: 1 when every round is drawn. */
  readonly bucket: number;
}

/** Rounds per bucket so that `count` rounds fit in `max` points. */
export function bucketSize(count: number, max = MAX_POINTS): number {
  return Math.max(1, Math.ceil(count / Math.max(1, max)));
}

/**
 * Means over consecutive buckets of `bucket` rounds, drawn at the buckets' mean round.
 * Means (not every k-th round) keep each round's weight, so a series that flickers between
 * two values shows their average rather than whichever one the sampling happened to hit.
 * Non-finite values (a null surplus, say) are left out of their bucket.
 */
export function downsample(
  rounds: readonly number[],
  values: readonly (number | null)[],
  bucket: number,
): Downsampled {
  const points: SeriesPoint[] = [];
  for (let start = 0; start < rounds.length; start += bucket) {
    let roundSum = 0;
    let valueSum = 0;
    let n = 0;
    const end = Math.min(rounds.length, start + bucket);
    for (let k = start; k < end; k++) {
      const v = values[k];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      roundSum += rounds[k] as number;
      valueSum += v;
      n++;
    }
    if (n > 0) points.push({ round: roundSum / n, value: valueSum / n });
  }
  return { points, bucket };
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
  max = MAX_POINTS,
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
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 240, orient: 'right' as const },
  title: { fontSize: 14, anchor: 'start' as const },
};

export const SERIES_COLORS = {
  observed: '#2f6db5',
  net: '#7b4fa3',
  nash: '#444444',
  collusive: '#b23b2e',
} as const;

export interface LineChart {
  readonly title: string;
  readonly yTitle: string;
  /** Rounds played, for the x domain. */
  readonly rounds: number;
  readonly series: readonly { name: string; color: string; points: readonly SeriesPoint[] }[];
  readonly lines: readonly { name: string; color: string; value: number }[];
}

/** A per-round series as lines, with benchmark levels as dashed horizontal rules. */
export function lineChartSpec(chart: LineChart): TopLevelSpec {
  const lines = chart.lines.filter((l) => Number.isFinite(l.value));
  const names = [...chart.series.map((s) => s.name), ...lines.map((l) => l.name)];
  const colors = [...chart.series.map((s) => s.color), ...lines.map((l) => l.color)];
  const color = {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: { domain: names, range: colors },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chart.title,
    width: WIDTH,
    height: 200,
    config: CONFIG,
    layer: [
      {
        data: {
          values: chart.series.flatMap((s) =>
            s.points.map((p) => ({ round: p.round, value: p.value, series: s.name })),
          ),
        },
        mark: { type: 'line', strokeWidth: 1.5, clip: true },
        encoding: {
          x: {
            field: 'round',
            type: 'quantitative',
            title: 'round',
            scale: { domain: [1, Math.max(2, chart.rounds)], nice: false },
          },
          y: { field: 'value', type: 'quantitative', title: chart.yTitle, scale: { zero: false } },
          color,
        },
      },
      {
        data: { values: lines.map((l) => ({ value: l.value, series: l.name })) },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 },
        encoding: { y: { field: 'value', type: 'quantitative' }, color },
      },
    ],
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
