import {
  compileExpression,
  type EvaluationEnvironment,
  paramTensor,
} from '../../compiler/evaluate.js';
import { paramValues } from '../../compiler/instantiate.js';
import type { IrEnvironment, ParamValue } from '../../compiler/ir.js';
import { scalarTensor, type Tensor } from '../../compiler/tensor.js';
import { blockedMessageAgent, type TraceEvent } from '../trace/events.js';

/**
 * The metrics of an environment's run (metrics.json): its declared metrics (`macro`),
 * each agent's payoff, the institution's activity, and per-round series. Like a market's
 * metrics, they are a function of the trace (and the environment's declaration, whose
 * `metric` expressions they evaluate over the recorded rounds).
 */
export interface EnvironmentMetrics {
  schema: 1;
  run: {
    experiment: string;
    digest: string;
    environment: string;
    axis: string;
    institution: string;
    /** The agents, in order (named `firms` in the trace header, as in markets). */
    agents: string[];
    seed: number;
    rounds: number;
    rounds_played: number;
    status: 'completed' | 'failed' | 'interrupted' | 'truncated';
  };
  /** Each benchmark's action and the payoff it earns from the initial state, per agent. */
  benchmarks: Record<string, { action: number[]; payoff: number[] }>;
  /** The environment's declared metrics over the rounds played (null: not a finite number). */
  macro: Record<string, number | null>;
  totals: { payoff_before_fines: number; fines: number; credits: number; payoff: number };
  agents: Record<
    string,
    {
      /** Total payoff after fines and credits. */
      payoff: number;
      payoff_before_fines: number;
      fines: number;
      credits: number;
      state_rounds: Record<string, number>;
      sanctions: { fine: number; credit: number };
      notices: number;
      transitions: number;
      restorations: number;
      /** Messages kept from delivery on this agent's account (docs/metrics.md). */
      blocked_messages: number;
    }
  >;
  fallbacks: {
    total: number;
    by_agent: Record<string, number>;
    decisions: number;
    share: number | null;
  };
  institution: { transitions: number; restorations: number; sanction_errors: number };
  series: {
    round: number[];
    payoff: number[];
    fines: number[];
    credits: number[];
    /**
     * Each value of the world that is one number a round (a state variable, draw, `computed`
     * value or `let` without the agent axis: a commons' stock, a relay's similarity, an
     * infection's infected share), by name, in the order the trace records them; null where
     * it was not a finite number. Per-agent values stay in events.jsonl.
     */
    values: Record<string, (number | null)[]>;
  };
  warnings: string[];
}

export interface EnvironmentMetricsOptions {
  readonly ir: IrEnvironment;
  readonly overrides: Readonly<Record<string, ParamValue>>;
}

export class EnvironmentMetricsError extends Error {}

const NAN = scalarTensor(Number.NaN);

function tensorOf(value: unknown): Tensor {
  if (typeof value === 'number') return scalarTensor(value);
  if (Array.isArray(value))
    return {
      axes: ['firm'],
      data: Float64Array.from(value, (x) => (typeof x === 'number' ? x : Number.NaN)),
    };
  return NAN;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

export function computeEnvironmentMetrics(
  events: readonly TraceEvent[],
  options: EnvironmentMetricsOptions,
): EnvironmentMetrics {
  const header = events.find((e) => e.type === 'header');
  if (!header || header.environment === undefined)
    throw new EnvironmentMetricsError('the trace has no environment header');
  const agents = header.firms;
  const index = new Map(agents.map((a, i) => [a, i]));
  const runEnd = events.find((e) => e.type === 'run_end');
  const status = runEnd?.type === 'run_end' ? runEnd.status : 'truncated';
  const limit = runEnd?.type === 'run_end' ? runEnd.rounds_completed : Number.POSITIVE_INFINITY;
  const rounds = events.filter(
    (e): e is Extract<TraceEvent, { type: 'environment' }> =>
      e.type === 'environment' && e.round <= limit,
  );
  const played = rounds.length;
  const n = agents.length;
  const zeros = () => new Array<number>(played).fill(0);
  const before = agents.map(zeros);
  const fines = agents.map(zeros);
  const credits = agents.map(zeros);
  const stateRounds = agents.map(() => new Map<string, number>());
  let transitions = 0;
  let restorations = 0;
  let sanctionErrors = 0;
  const perAgent = agents.map(() => ({
    fine: 0,
    credit: 0,
    notices: 0,
    transitions: 0,
    restorations: 0,
    blocked_messages: 0,
  }));
  const fallbacks = new Array<number>(n).fill(0);
  for (const e of events) {
    if (!('round' in e) || typeof e.round !== 'number' || e.round > played) continue;
    const r = e.round - 1;
    if (e.type === 'payoff') {
      const i = index.get(e.firm) ?? -1;
      if (i < 0) continue;
      (before[i] as number[])[r] = e.profit;
      (fines[i] as number[])[r] = e.fines;
      (credits[i] as number[])[r] = e.credits;
      if (e.state !== null) stateRounds[i]?.set(e.state, (stateRounds[i]?.get(e.state) ?? 0) + 1);
    } else if (e.type === 'transition') {
      transitions++;
      if (e.restorative) restorations++;
      for (const [i, a] of perAgent.entries()) {
        if (e.firm !== null && e.firm !== agents[i]) continue;
        a.transitions++;
        if (e.restorative) a.restorations++;
      }
    } else if (e.type === 'sanction') {
      const a = perAgent[index.get(e.firm) ?? -1];
      if (a) a[e.sanction]++;
    } else if (e.type === 'notice') {
      const a = perAgent[index.get(e.firm) ?? -1];
      if (a) a.notices++;
    } else if (e.type === 'message_blocked') {
      const a = perAgent[index.get(blockedMessageAgent(e)) ?? -1];
      if (a) a.blocked_messages++;
    } else if (e.type === 'sanction_error') sanctionErrors++;
    else if (e.type === 'invalid_action') {
      const i = index.get(e.firm) ?? -1;
      if (i >= 0) fallbacks[i] = (fallbacks[i] ?? 0) + 1;
    }
  }

  // The declared metrics, evaluated once over the whole run: window functions reach back
  // over every recorded round, `round` is the last round played, `horizon` the rounds asked for.
  const { ir } = options;
  const values = paramValues(ir.params, options.overrides);
  const dims = { firms: n, products: 1 };
  const params = new Map<string, Tensor>();
  for (const p of ir.params) {
    const t = paramTensor(p.type, values.get(p.name) ?? p.value, dims);
    params.set(p.name, typeof t === 'string' ? NAN : t);
  }
  const benchmarkEvent = events.find((e) => e.type === 'environment_benchmarks');
  const benchmarks =
    benchmarkEvent?.type === 'environment_benchmarks' ? benchmarkEvent.benchmarks : {};
  const env: EvaluationEnvironment = {
    dims,
    param: (name) => params.get(name) ?? NAN,
    firmIndex: (name) => index.get(name) ?? -1,
    productIndex: () => -1,
    roundsAvailable: played,
    observable: (name, ago) => {
      if (name === 'horizon') return scalarTensor(header.rounds);
      const round = rounds[played - 1 - ago];
      if (!round) return NAN;
      if (name === 'round') return scalarTensor(round.round);
      return tensorOf(round.values[name]);
    },
    benchmark: (b, value) => {
      const point = benchmarks[b];
      if (!point) return NAN;
      return tensorOf(value === 'payoff' ? point.payoff : point.action);
    },
    monitor: () => NAN,
  };
  const macro: Record<string, number | null> = {};
  const warnings: string[] = [];
  for (const m of ir.metrics) {
    const x = played === 0 ? Number.NaN : (compileExpression(m.value)(env).data[0] ?? Number.NaN);
    // −0 (0 times a negative number) is 0: a report would print it as −0.000.
    macro[m.name] = Number.isFinite(x) ? (x === 0 ? 0 : x) : null;
    if (played > 0 && !Number.isFinite(x))
      warnings.push(`metric ${m.name} is not a finite number (${x}): reported as null`);
  }
  if (status !== 'completed')
    warnings.push(
      `the run did not complete (${status}): metrics cover the ${played} round(s) played`,
    );

  const total = (rows: number[][]) => sum(rows.map(sum));
  const decisions = played * n;
  return {
    schema: 1,
    run: {
      experiment: header.experiment,
      digest: header.digest,
      environment: header.environment,
      axis: header.axis ?? 'agent',
      institution: header.institution,
      agents: [...agents],
      seed: header.seed,
      rounds: header.rounds,
      rounds_played: played,
      status,
    },
    benchmarks: Object.fromEntries(
      Object.entries(benchmarks).map(([k, v]) => [
        k,
        { action: [...v.action], payoff: [...v.payoff] },
      ]),
    ),
    macro,
    totals: {
      payoff_before_fines: total(before),
      fines: total(fines),
      credits: total(credits),
      payoff: total(before) - total(fines) + total(credits),
    },
    agents: Object.fromEntries(
      agents.map((name, i) => {
        const b = sum(before[i] ?? []);
        const f = sum(fines[i] ?? []);
        const c = sum(credits[i] ?? []);
        const a = perAgent[i] ?? {
          fine: 0,
          credit: 0,
          notices: 0,
          transitions: 0,
          restorations: 0,
          blocked_messages: 0,
        };
        return [
          name,
          {
            payoff: b - f + c,
            payoff_before_fines: b,
            fines: f,
            credits: c,
            state_rounds: Object.fromEntries(stateRounds[i] ?? []),
            sanctions: { fine: a.fine, credit: a.credit },
            notices: a.notices,
            transitions: a.transitions,
            restorations: a.restorations,
            blocked_messages: a.blocked_messages,
          },
        ];
      }),
    ),
    fallbacks: {
      total: sum(fallbacks),
      by_agent: Object.fromEntries(agents.map((a, i) => [a, fallbacks[i] ?? 0])),
      decisions,
      share: decisions === 0 ? null : sum(fallbacks) / decisions,
    },
    institution: { transitions, restorations, sanction_errors: sanctionErrors },
    series: {
      round: rounds.map((r) => r.round),
      payoff: rounds.map((_, r) => sum(before.map((row) => row[r] ?? 0))),
      fines: rounds.map((_, r) => sum(fines.map((row) => row[r] ?? 0))),
      credits: rounds.map((_, r) => sum(credits.map((row) => row[r] ?? 0))),
      values: worldSeries(rounds),
    },
    warnings,
  };
}

/**
 * The world's one-number-a-round values as series: a name is a series when every round that
 * records it gives one number (or null), never a per-agent list.
 */
export function worldSeries(
  rounds: readonly Extract<TraceEvent, { type: 'environment' }>[],
): Record<string, (number | null)[]> {
  const names: string[] = [];
  const listed = new Set<string>();
  for (const round of rounds)
    for (const [name, value] of Object.entries(round.values)) {
      if (listed.has(name)) continue;
      listed.add(name);
      if (!Array.isArray(value)) names.push(name);
    }
  const series: Record<string, (number | null)[]> = {};
  for (const name of names) {
    const values = rounds.map((r) => r.values[name]);
    if (values.some((v) => Array.isArray(v))) continue;
    series[name] = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  }
  return series;
}
