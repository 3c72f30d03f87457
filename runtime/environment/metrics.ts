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
  /**
   * Each benchmark's action and the payoff it earns from the initial state, per agent: at the
   * run's end (a fork that changes the environment's parameters gives new ones, with the
   * payoff from the state at its round, `benchmarks_from`).
   */
  benchmarks: Record<string, { action: number[]; payoff: number[] }>;
  /** The round from which `benchmarks` hold, when a fork changed the parameters. */
  benchmarks_from?: number;
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
  /**
   * The parameter values a fork gives the environment from its round on: the declared
   * metrics read them when the trace shows the change (its benchmarks event with `from`).
   */
  readonly overridesAfterFork?: Readonly<Record<string, ParamValue>>;
}

export class EnvironmentMetricsError extends Error {}

const NAN = scalarTensor(Number.NaN);

function tensorOf(value: unknown): Tensor {
  if (typeof value === 'number') return scalarTensor(value);
  // A copy, as a list gave one: the evaluator owns the tensors it is handed.
  if (value instanceof Float64Array) return { axes: ['firm'], data: Float64Array.from(value) };
  if (Array.isArray(value))
    return {
      axes: ['firm'],
      data: Float64Array.from(value, (x) => (typeof x === 'number' ? x : Number.NaN)),
    };
  return NAN;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** An agent's institution activity before any event counted. */
const noActivity = () => ({
  fine: 0,
  credit: 0,
  notices: 0,
  transitions: 0,
  restorations: 0,
  blocked_messages: 0,
});

export function computeEnvironmentMetrics(
  events: readonly TraceEvent[],
  options: EnvironmentMetricsOptions,
): EnvironmentMetrics {
  const score = new EnvironmentScore();
  for (const e of events) score.add(e);
  return score.metrics(options);
}

/**
 * A round's `environment` event as the score keeps it: each per-agent list packed into a
 * Float64Array (NaN for null), 8 bytes a value instead of a boxed number in a list.
 */
interface RoundValues {
  readonly round: number;
  readonly values: Readonly<Record<string, number | null | Float64Array>>;
}

function packed(e: Extract<TraceEvent, { type: 'environment' }>): RoundValues {
  const values: Record<string, number | null | Float64Array> = {};
  for (const [name, value] of Object.entries(e.values))
    values[name] = Array.isArray(value)
      ? Float64Array.from(value, (x) => (x === null ? Number.NaN : x))
      : value;
  return { round: e.round, values };
}

/**
 * An environment run's metrics, folded from its trace one event at a time: the round loop
 * feeds it as it writes events.jsonl, so a run of 10,000 agents need not keep 10,000 payoff
 * events a round to be scored. Payoffs are summed as they come (per round over the agents,
 * per agent over the rounds before the latest, whose own are held apart until the run's end
 * says whether it was played); the few events the counts read, and the rounds' values the
 * declared metrics read, are kept. `computeEnvironmentMetrics` is the same fold over a list.
 */
export class EnvironmentScore {
  private header: Extract<TraceEvent, { type: 'header' }> | undefined;
  private runEnd: Extract<TraceEvent, { type: 'run_end' }> | undefined;
  private benchmarkEvent: Extract<TraceEvent, { type: 'environment_benchmarks' }> | undefined;
  private readonly rounds: RoundValues[] = [];
  private readonly counted: TraceEvent[] = [];
  private index = new Map<string, number>();
  /** Per round (index round − 1): Σ over agents of payoff before fines, fines, credits. */
  private readonly roundBefore: number[] = [];
  private readonly roundFines: number[] = [];
  private readonly roundCredits: number[] = [];
  /** Per agent: sums over the rounds before `latest`, and the values of round `latest`. */
  private committed = {
    before: new Float64Array(0),
    fines: new Float64Array(0),
    credits: new Float64Array(0),
  };
  private pending = {
    before: new Float64Array(0),
    fines: new Float64Array(0),
    credits: new Float64Array(0),
  };
  private committedStates: Map<string, number>[] = [];
  private pendingStates: (string | null)[] = [];
  private latest = 0;

  add(e: TraceEvent): void {
    switch (e.type) {
      case 'header': {
        if (this.header) return;
        this.header = e;
        this.index = new Map(e.firms.map((a, i) => [a, i]));
        const n = e.firms.length;
        const zeros = () => ({
          before: new Float64Array(n),
          fines: new Float64Array(n),
          credits: new Float64Array(n),
        });
        this.committed = zeros();
        this.pending = zeros();
        this.committedStates = e.firms.map(() => new Map());
        this.pendingStates = e.firms.map(() => null);
        return;
      }
      case 'run_end':
        this.runEnd ??= e;
        return;
      case 'environment_benchmarks':
        // The last: a fork that changes the parameters writes the ones that hold from its round.
        this.benchmarkEvent = e;
        return;
      case 'environment':
        this.rounds.push(packed(e));
        return;
      case 'payoff': {
        const i = this.index.get(e.firm) ?? -1;
        if (i < 0 || e.round < 1) return;
        if (e.round !== this.latest) this.commit(e.round);
        const r = e.round - 1;
        const { pending } = this;
        // A repeated payoff event of an agent in a round replaces the earlier one, as a
        // per-round table would.
        this.roundBefore[r] = (this.roundBefore[r] ?? 0) - (pending.before[i] ?? 0) + e.profit;
        this.roundFines[r] = (this.roundFines[r] ?? 0) - (pending.fines[i] ?? 0) + e.fines;
        this.roundCredits[r] = (this.roundCredits[r] ?? 0) - (pending.credits[i] ?? 0) + e.credits;
        pending.before[i] = e.profit;
        pending.fines[i] = e.fines;
        pending.credits[i] = e.credits;
        this.pendingStates[i] = e.state;
        return;
      }
      case 'transition':
      case 'sanction':
      case 'notice':
      case 'message_blocked':
      case 'sanction_error':
      case 'invalid_action':
        this.counted.push(e);
        return;
      default:
        return;
    }
  }

  /** Round `next`'s payoffs begin: the latest round's are added to the agents' sums. */
  private commit(next: number): void {
    if (this.latest > 0) this.fold(this.committed, this.committedStates);
    this.latest = next;
    this.pending.before.fill(0);
    this.pending.fines.fill(0);
    this.pending.credits.fill(0);
    this.pendingStates.fill(null);
  }

  private fold(
    into: { before: Float64Array; fines: Float64Array; credits: Float64Array },
    states: Map<string, number>[],
  ): void {
    const { pending } = this;
    for (let i = 0; i < into.before.length; i++) {
      into.before[i] = (into.before[i] ?? 0) + (pending.before[i] ?? 0);
      into.fines[i] = (into.fines[i] ?? 0) + (pending.fines[i] ?? 0);
      into.credits[i] = (into.credits[i] ?? 0) + (pending.credits[i] ?? 0);
      const state = this.pendingStates[i];
      if (state !== null && state !== undefined) {
        const m = states[i] as Map<string, number>;
        m.set(state, (m.get(state) ?? 0) + 1);
      }
    }
  }

  /** The metrics of the rounds played, or of the first `upTo` (a run that failed after them). */
  metrics(options: EnvironmentMetricsOptions, upTo = Number.POSITIVE_INFINITY): EnvironmentMetrics {
    const header = this.header;
    if (!header || header.environment === undefined)
      throw new EnvironmentMetricsError('the trace has no environment header');
    const runEnd = this.runEnd;
    const agents = header.firms;
    const index = this.index;
    const status = runEnd ? runEnd.status : 'truncated';
    const limit = Math.min(runEnd ? runEnd.rounds_completed : Number.POSITIVE_INFINITY, upTo);
    const rounds = this.rounds.filter((e) => e.round <= limit);
    const played = rounds.length;
    const n = agents.length;
    // The agents' sums over the rounds played: the latest round's only if it was played.
    const totals = {
      before: Float64Array.from(this.committed.before),
      fines: Float64Array.from(this.committed.fines),
      credits: Float64Array.from(this.committed.credits),
    };
    const stateRounds = this.committedStates.map((m) => new Map(m));
    if (this.latest > 0 && this.latest <= played) this.fold(totals, stateRounds);
    let transitions = 0;
    let restorations = 0;
    let sanctionErrors = 0;
    const perAgent = agents.map(noActivity);
    const fallbacks = new Array<number>(n).fill(0);
    for (const e of this.counted) {
      if (!('round' in e) || typeof e.round !== 'number' || e.round > played) continue;
      if (e.type === 'transition') {
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
    const benchmarkEvent = this.benchmarkEvent;
    const roundBefore = this.roundBefore;
    const roundFines = this.roundFines;
    const roundCredits = this.roundCredits;
    // The declared metrics, evaluated once over the whole run: window functions reach back
    // over every recorded round, `round` is the last round played, `horizon` the rounds asked for.
    const { ir } = options;
    const changed = benchmarkEvent?.from !== undefined && options.overridesAfterFork;
    const values = paramValues(ir.params, changed ? options.overridesAfterFork : options.overrides);
    const dims = { firms: n, products: 1 };
    const params = new Map<string, Tensor>();
    for (const p of ir.params) {
      const t = paramTensor(p.type, values.get(p.name) ?? p.value, dims);
      params.set(p.name, typeof t === 'string' ? NAN : t);
    }
    const benchmarks = benchmarkEvent?.benchmarks ?? {};
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
    if (changed)
      warnings.push(
        `a fork changed the environment's parameters from round ${benchmarkEvent?.from}: the declared metrics read the values and benchmarks in force from then on over all ${played} round(s) played`,
      );
    if (status !== 'completed')
      warnings.push(
        `the run did not complete (${status}): metrics cover the ${played} round(s) played`,
      );

    const total = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0);
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
      ...(benchmarkEvent?.from === undefined ? {} : { benchmarks_from: benchmarkEvent.from }),
      macro,
      totals: {
        payoff_before_fines: total(totals.before),
        fines: total(totals.fines),
        credits: total(totals.credits),
        payoff: total(totals.before) - total(totals.fines) + total(totals.credits),
      },
      agents: Object.fromEntries(
        agents.map((name, i) => {
          const b = totals.before[i] ?? 0;
          const f = totals.fines[i] ?? 0;
          const c = totals.credits[i] ?? 0;
          const a = perAgent[i] ?? noActivity();
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
        payoff: rounds.map((_, r) => roundBefore[r] ?? 0),
        fines: rounds.map((_, r) => roundFines[r] ?? 0),
        credits: rounds.map((_, r) => roundCredits[r] ?? 0),
        values: worldSeries(rounds),
      },
      warnings,
    };
  }
}

/**
 * The world's one-number-a-round values as series: a name is a series when every round that
 * records it gives one number (or null), never a per-agent list.
 */
function worldSeries(rounds: readonly RoundValues[]): Record<string, (number | null)[]> {
  const names: string[] = [];
  const listed = new Set<string>();
  for (const round of rounds)
    for (const [name, value] of Object.entries(round.values)) {
      if (listed.has(name)) continue;
      listed.add(name);
      if (!(value instanceof Float64Array)) names.push(name);
    }
  const series: Record<string, (number | null)[]> = {};
  for (const name of names) {
    const values = rounds.map((r) => r.values[name]);
    if (values.some((v) => v instanceof Float64Array)) continue;
    series[name] = values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));
  }
  return series;
}
