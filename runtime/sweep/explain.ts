import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageProblem } from '../errors.js';
import { writeFileAtomic } from '../files.js';
import { randomStream } from '../random.js';
import { experimentFromRun, ReplayError } from '../run/replay.js';
import type { Interruption } from '../run/signals.js';
import { traceShortfall } from '../run/trace-level.js';
import { parseTraceTolerant, type TraceEvent, type TraceEventOf } from '../trace/events.js';
import { ForkError, forkRun } from './fork.js';
import {
  type EnvironmentRecordMetrics,
  isEnvironmentMetrics,
  type RunRecord,
  type RunRecordMetrics,
} from './record.js';
import { bootstrapPaired, pairedSignFlip } from './stats.js';

/**
 * `mase explain RUN` (docs/checkpoints.md): which micro event moved the macro outcome. It
 * finds the run's macro shift (the round from which a per-round series stays nearer its
 * end level than its start level), takes the messages, deviations from the benchmark action
 * and the institution's transitions on evidence of a window of rounds before it as
 * candidate causes, forks the run without each one (`--drop-message`, `--benchmark-action`,
 * `--pardon`), and ranks them by the paired effect of undoing them on a metric of the run.
 */

/** What `mase explain` writes in its directory: the explanation (`Explanation`). */
export const EXPLAIN_FILE = 'explain.json';

/** A run that cannot be explained (no change to explain, a bad flag): exit 2. */
export class ExplainError extends UsageProblem {
  override name = 'ExplainError';
}

export interface ExplainRequest {
  readonly out: string;
  /** The metric whose change is attributed (default: a market's collusion_index, an environment's first metric). */
  readonly metric?: string;
  /** An environment's per-round value the shift is found in (its `let`s and states). */
  readonly series?: string;
  /** Rounds before the shift whose messages are candidates (default 5). */
  readonly window: number;
  readonly replicates: number;
  readonly seed?: number;
  /** At most this many candidates, the latest first (default 20). */
  readonly maxCandidates: number;
}

export interface MacroShift {
  /** What the series is: `collusion level` for a market, else the environment's value. */
  readonly series: string;
  readonly round: number;
  /** The series' level at the start and at the end (means over `window` rounds). */
  readonly from: number;
  readonly to: number;
}

/**
 * A candidate cause: a delivered message (removed in its fork), or an agent's action away
 * from its benchmark action — a market's Nash action, an environment's first declared
 * benchmark — (replaced by it in its fork).
 */
export type CandidateEvent =
  | {
      readonly kind: 'message';
      readonly id: string;
      readonly round: number;
      readonly from: string;
      readonly to: readonly string[];
      readonly text: string;
    }
  | {
      readonly kind: 'deviation';
      /** `AGENT@ROUND`. */
      readonly id: string;
      readonly round: number;
      readonly agent: string;
      readonly action: readonly number[];
      readonly benchmark: readonly number[];
      /** The benchmark's name: `Nash` in a market, the first declared in an environment. */
      readonly against: string;
    }
  | {
      /** A transition of the institution on evidence against one agent (undone by a pardon). */
      readonly kind: 'transition';
      /** `AGENT@ROUND-STATE`. */
      readonly id: string;
      readonly round: number;
      readonly agent: string;
      readonly from: string;
      readonly to: string;
      readonly rule: string | null;
    };

/**
 * Each agent's benchmark action — a market's Nash action; an environment's first declared
 * benchmark, the action a fork's `--benchmark-action` plays — and the decisions that stray
 * from it. None in an environment that declares no benchmark.
 */
function deviationsOf(
  events: readonly TraceEvent[],
  first: number,
  last: number,
): CandidateEvent[] {
  const header = events.find((e): e is TraceEventOf<'header'> => e.type === 'header');
  if (!header) return [];
  const firms = (header.firms ?? []) as readonly string[];
  let against: string;
  let actionOf: (firm: string) => readonly number[] | undefined;
  if (header.environment !== undefined) {
    const declared = events.find(
      (e): e is TraceEventOf<'environment_benchmarks'> => e.type === 'environment_benchmarks',
    );
    const entry = Object.entries(declared?.benchmarks ?? {})[0];
    if (!entry) return [];
    const [name, benchmark] = entry;
    against = name;
    actionOf = (firm) => {
      const x = benchmark.action[firms.indexOf(firm)];
      return typeof x === 'number' ? [x] : undefined;
    };
  } else {
    const benchmarks = events.find((e): e is TraceEventOf<'benchmarks'> => e.type === 'benchmarks');
    if (!benchmarks) return [];
    against = 'Nash';
    actionOf = (firm) => {
      const table = (
        header.competition === 'price' ? benchmarks.nash.price : benchmarks.nash.quantity
      ) as readonly (readonly number[])[] | readonly number[];
      const row = table[firms.indexOf(firm)];
      return Array.isArray(row) ? row : undefined;
    };
  }
  return events.flatMap((e): CandidateEvent[] => {
    if (e.type !== 'decision' || e.round < first || e.round > last) return [];
    const benchmark = actionOf(e.firm);
    if (!benchmark || e.action.length !== benchmark.length) return [];
    const away = e.action.some(
      (a, p) =>
        Math.abs(a - (benchmark[p] as number)) >
        1e-6 * Math.max(1, Math.abs(benchmark[p] as number)),
    );
    return away
      ? [
          {
            kind: 'deviation',
            id: `${e.firm}@${e.round}`,
            round: e.round,
            agent: e.firm,
            action: e.action,
            benchmark,
            against,
          },
        ]
      : [];
  });
}

export interface CandidateEffect {
  readonly event: CandidateEvent;
  /** The fork directory of this candidate (a sweep directory: `mase analyze` reads it). */
  readonly fork: string;
  readonly pairs: number;
  /** Mean over the pairs of the metric without the event minus with it; null when no pair completed. */
  readonly effect: number | null;
  readonly interval: readonly [number, number] | null;
  readonly p: number | null;
  readonly min_p: number | null;
}

export interface Explanation {
  readonly run: string;
  readonly metric: string;
  readonly shift: MacroShift;
  readonly window: readonly [number, number];
  readonly replicates: number;
  /** Ranked by the size of the effect, largest first. */
  readonly candidates: readonly CandidateEffect[];
}

/** The per-round series of a run: a market's collusion level, or an environment's value. */
export function seriesOf(
  events: readonly TraceEvent[],
  name: string | undefined,
): { name: string; values: number[] } {
  const header = events.find((e): e is TraceEventOf<'header'> => e.type === 'header');
  if (header?.environment !== undefined) {
    const rows = events.filter((e): e is TraceEventOf<'environment'> => e.type === 'environment');
    const scalar = (v: unknown) => typeof v === 'number';
    const available = Object.keys(rows[0]?.values ?? {}).filter((k) => scalar(rows[0]?.values[k]));
    if (name === undefined)
      throw new ExplainError(
        `name the environment's per-round value to find the change in with --series (one of: ${available.join(', ')})`,
      );
    if (!available.includes(name))
      throw new ExplainError(
        `--series ${name}: not a per-round number of this run (one of: ${available.join(', ')})`,
      );
    return { name, values: rows.map((r) => r.values[name] as number) };
  }
  if (name !== undefined)
    throw new ExplainError(
      '--series is for environments; a market is explained by its collusion level',
    );
  const benchmarks = events.find((e): e is TraceEventOf<'benchmarks'> => e.type === 'benchmarks');
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  const nash = sum(benchmarks?.nash.profit ?? []);
  const collusive = sum(benchmarks?.collusive.profit ?? []);
  if (!benchmarks || !(Math.abs(collusive - nash) > 1e-12))
    throw new ExplainError(
      'the market has no collusion level to follow (its Nash and collusive profits are the same or missing)',
    );
  const rounds = events.filter((e): e is TraceEventOf<'market'> => e.type === 'market');
  return {
    name: 'collusion level',
    values: rounds.map((r) => (sum(r.profit) - nash) / (collusive - nash)),
  };
}

/**
 * The shift: the series' start and end levels (means of its first and last `span` rounds)
 * and the first round from which every value is nearer the end level than the start's.
 */
export function macroShift(values: readonly number[], span: number, series: string): MacroShift {
  const n = values.length;
  if (n < 2)
    throw new ExplainError(
      `the run played ${n} round${n === 1 ? '' : 's'}: there is no change to explain`,
    );
  const k = Math.max(1, Math.min(span, Math.floor(n / 4) || 1));
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const from = mean(values.slice(0, k));
  const to = mean(values.slice(n - k));
  const scale = Math.max(1, Math.abs(from), Math.abs(to));
  if (!(Math.abs(to - from) > 1e-9 * scale))
    throw new ExplainError(
      `the ${series} starts and ends at ${Number(from.toPrecision(4))}: there is no change to explain`,
    );
  let round = n;
  for (let i = n - 1; i >= 0; i--) {
    const v = values[i] as number;
    if (Math.abs(v - to) < Math.abs(v - from)) round = i + 1;
    else break;
  }
  return { series, round, from, to };
}

/** A record's metric: an environment's declared metric or total, a market's column. */
const metricOf = (record: RunRecord, metric: string): number | null => {
  const m = record.metrics as (RunRecordMetrics | EnvironmentRecordMetrics) | null;
  if (!m) return null;
  const value = isEnvironmentMetrics(m)
    ? (m.declared[metric] ?? (m as unknown as Record<string, unknown>)[metric])
    : (m as unknown as Record<string, unknown>)[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
};

/** Explains the run in RUN_DIR as REQUEST says; forks go under REQUEST.out. */
export async function explainRun(
  runDir: string,
  request: ExplainRequest,
  options: {
    interruption?: Interruption;
    onCandidate?: (done: number, total: number) => void;
  } = {},
): Promise<Explanation> {
  let experiment: ReturnType<typeof experimentFromRun>['experiment'];
  try {
    ({ experiment } = experimentFromRun(runDir, 'forked'));
  } catch (error) {
    if (error instanceof ReplayError) throw new ExplainError(error.message);
    throw error;
  }
  // Explaining forks the run, and a fork is not forked again.
  if (experiment.fork)
    throw new ExplainError(
      `${runDir} is itself a fork (of run ${experiment.fork.parent} after round ${experiment.fork.after}); explain that run, or the fork directory's arms with mase analyze`,
    );
  const tracePath = join(runDir, 'events.jsonl');
  if (!existsSync(tracePath)) throw new ExplainError(`${runDir} holds no trace (no events.jsonl)`);
  // Its candidates are the trace's events, each undone in a fork.
  const short = traceShortfall(runDir, 'full', 'an explanation');
  if (short) throw new ExplainError(short);
  const { events } = parseTraceTolerant(readFileSync(tracePath, 'utf8'));
  const world = experiment.market;
  const metric =
    request.metric ??
    (world.kind === 'environment' ? world.metrics[0]?.name : 'collusion_index') ??
    'payoff';
  const series = seriesOf(events, request.series);
  const shift = macroShift(series.values, request.window, series.name);
  const first = Math.max(1, shift.round - request.window);
  const messages: CandidateEvent[] = events.flatMap((e): CandidateEvent[] =>
    e.type === 'message' &&
    e.round >= first &&
    e.round <= shift.round &&
    e.id !== undefined &&
    e.to.length > 0
      ? [{ kind: 'message', id: e.id, round: e.round, from: e.from, to: e.to, text: e.text }]
      : [],
  );
  // The institution's transitions on evidence (`when`) against one agent: sanctions and
  // warnings, with the notices their states give. Undone by a pardon.
  const onEvidence = new Set(
    experiment.institution.scope === 'firm'
      ? experiment.institution.states.flatMap((s) =>
          s.transitions.flatMap((t) => (t.condition ? [t.id] : [])),
        )
      : [],
  );
  const transitions = events.flatMap((e): CandidateEvent[] =>
    e.type === 'transition' &&
    e.round >= first &&
    e.round <= shift.round &&
    e.firm !== null &&
    !e.restorative &&
    onEvidence.has(e.id)
      ? [
          {
            kind: 'transition',
            id: `${e.firm}@${e.round}-${e.to}`,
            round: e.round,
            agent: e.firm,
            from: e.from,
            to: e.to,
            rule: e.rule,
          },
        ]
      : [],
  );
  // In round order, and in a round as it happens: messages, then actions, then the
  // institution's transitions; the latest ones when there are more than the cap.
  const order = { message: 0, deviation: 1, transition: 2 } as const;
  const all = [...messages, ...deviationsOf(events, first, shift.round), ...transitions].sort(
    (a, b) => a.round - b.round || order[a.kind] - order[b.kind],
  );
  const chosen = all.slice(-request.maxCandidates);
  if (chosen.length === 0)
    throw new ExplainError(
      `no message was delivered, no agent strayed from its benchmark action (a market's Nash action, an environment's first declared benchmark) and the institution moved no agent on evidence in rounds ${first}–${shift.round}, before the ${series.name} changed (round ${shift.round}, from ${Number(shift.from.toPrecision(4))} to ${Number(shift.to.toPrecision(4))}): those are the candidate causes explain tries`,
    );
  const random = randomStream(request.seed ?? 1, 'explain');
  const candidates: CandidateEffect[] = [];
  for (const [index, m] of chosen.entries()) {
    if (options.interruption?.stopReason()) break;
    const dir = join(request.out, m.id);
    let records: readonly RunRecord[];
    try {
      ({ records } = await forkRun(
        runDir,
        {
          at: m.round - 1,
          out: dir,
          replicates: request.replicates,
          ...(request.seed !== undefined ? { seed: request.seed } : {}),
          dropMessages: m.kind === 'message' ? [m.id] : [],
          injectMessages: [],
          ...(m.kind === 'deviation' ? { benchmarkActions: [m.id] } : {}),
          ...(m.kind === 'transition' ? { pardons: [`${m.agent}@${m.round}`] } : {}),
        },
        options.interruption ? { interruption: options.interruption } : {},
      ));
    } catch (error) {
      if (error instanceof ForkError) throw new ExplainError(error.message);
      throw error;
    }
    const differences: number[] = [];
    for (let k = 1; k <= request.replicates; k++) {
      const none = records.find((r) => r.run_id === `none-r${k}`);
      const without = records.find((r) => r.run_id === `intervention-r${k}`);
      const a = none ? metricOf(none, metric) : null;
      const b = without ? metricOf(without, metric) : null;
      if (a !== null && b !== null) differences.push(b - a);
    }
    const n = differences.length;
    const test = pairedSignFlip(differences, { random });
    candidates.push({
      event: m,
      fork: dir,
      pairs: n,
      effect: n > 0 ? differences.reduce((x, y) => x + y, 0) / n : null,
      interval: bootstrapPaired(differences, { random }).mean,
      p: test.p,
      min_p: test.min_p,
    });
    options.onCandidate?.(index + 1, chosen.length);
  }
  if (candidates.every((c) => c.pairs === 0))
    throw new ExplainError(
      `no fork gave the metric ${metric} (a market's metrics: collusion_index, mean_price, …; an environment's: its declared metrics)`,
    );
  const ranked = [...candidates].sort(
    (a, b) => Math.abs(b.effect ?? 0) - Math.abs(a.effect ?? 0) || a.event.round - b.event.round,
  );
  const explanation: Explanation = {
    run: runDir,
    metric,
    shift,
    window: [first, shift.round],
    replicates: request.replicates,
    candidates: ranked,
  };
  writeFileAtomic(join(request.out, EXPLAIN_FILE), `${JSON.stringify(explanation, null, 2)}\n`);
  return explanation;
}

const number = (x: number | null) => (x === null ? '–' : String(Number(x.toPrecision(4))));

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** "3 messages delivered and 2 actions away from Nash" (an environment: its benchmark's name). */
function candidateCount(candidates: readonly CandidateEffect[]): string {
  const messages = candidates.filter((c) => c.event.kind === 'message').length;
  const deviations = candidates.flatMap((c) => (c.event.kind === 'deviation' ? [c.event] : []));
  const transitions = candidates.filter((c) => c.event.kind === 'transition').length;
  const parts = [
    ...(messages > 0 ? [`${plural(messages, 'message', 'messages')} delivered`] : []),
    ...(deviations.length > 0
      ? [`${plural(deviations.length, 'action', 'actions')} away from ${deviations[0]?.against}`]
      : []),
    ...(transitions > 0
      ? [`${plural(transitions, 'transition', 'transitions')} of the institution on evidence`]
      : []),
  ];
  return parts.length <= 2
    ? parts.join(' and ')
    : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}

/** What a candidate was: a message's sender, recipients and text; an action and its benchmark. */
export function describeCandidate(event: CandidateEvent): string {
  if (event.kind === 'transition')
    return `${event.agent}: ${event.from} → ${event.to}${event.rule ? ` (rule ${event.rule})` : ''}`;
  if (event.kind === 'deviation')
    return `${event.agent} played ${event.action.map((x) => number(x)).join(' ')} (${event.against ?? 'Nash'} ${event.benchmark.map((x) => number(x)).join(' ')})`;
  const text = event.text.length > 40 ? `${event.text.slice(0, 39)}…` : event.text;
  return `${event.from} → ${event.to.join(', ')}: ${JSON.stringify(text)}`;
}

/** The explanation as a table: the shift, then each candidate, largest effect first. */
export function formatExplanation(e: Explanation): string {
  const lines = [
    `${e.shift.series} of ${e.run}: ${number(e.shift.from)} → ${number(e.shift.to)}, changed from round ${e.shift.round}`,
    `candidates: ${candidateCount(e.candidates)} in rounds ${e.window[0]}–${e.window[1]}, each undone in a fork (${e.replicates} paired replicate${e.replicates === 1 ? '' : 's'})`,
    '',
  ];
  const rows = e.candidates.map((c, i) => [
    String(i + 1),
    c.event.id,
    String(c.event.round),
    describeCandidate(c.event),
    number(c.effect),
    c.interval ? `[${number(c.interval[0])}, ${number(c.interval[1])}]` : '–',
    // A test of one pair says nothing: p is shown from two pairs on.
    c.p === null || c.pairs < 2
      ? '–'
      : `${number(c.p)}${c.min_p !== null && c.min_p > 0.05 ? ` (min p ${number(c.min_p)})` : ''}`,
  ]);
  const header = ['rank', 'event', 'round', 'what', `Δ ${e.metric} without it`, '95% CI', 'p'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  lines.push(line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line));
  if (e.replicates === 1)
    lines.push(
      '',
      "One replicate: each effect is one paired difference on the run's own random streams, exact for scripted agents; --replicates K adds continuations under other seeds, with intervals and tests.",
    );
  return `${lines.join('\n')}\n`;
}
