import type { IrEnvironment } from '../../compiler/ir.js';
import type { Tensor } from '../../compiler/tensor.js';
import type { Agent } from '../agents/agent.js';
import type { Seed } from '../random.js';
import type { Clamp, ClampCause } from '../run/enforce.js';
import type { Governed } from '../run/institution.js';
import type { ResolvedExperiment, WorldRun } from '../run/run.js';
import type { TraceEvent } from '../trace/events.js';
import {
  type EnvironmentInstance,
  type EnvironmentOutcome,
  type EnvironmentState,
  environmentFallback,
  instantiateEnvironment,
} from './instance.js';
import { createEnvironmentAgent, type EnvironmentObservation, snap } from './policies.js';

/** A tensor as the trace writes it: a number, or one number per agent (null for NaN and ±inf). */
export function traceValue(t: Tensor): number | null | (number | null)[] {
  const clean = (x: number) => (Number.isFinite(x) ? x : null);
  if (t.axes.length === 0) return clean(t.data[0] ?? Number.NaN);
  // A loop, not Array.from: it walks the typed array's iterator (see `numbers`).
  const list = new Array<number | null>(t.data.length);
  for (let i = 0; i < t.data.length; i++) list[i] = clean(t.data[i] as number);
  return list;
}

/** An environment as the institution sees it: its observables and benchmark values. */
export function environmentGoverned(env: EnvironmentInstance): Governed<EnvironmentOutcome> {
  const benchmarkValues = new Map<string, Tensor>();
  for (const [name, b] of env.benchmarks) {
    benchmarkValues.set(`${name}.${env.ir.action.variable}`, { axes: ['firm'], data: b.action });
    benchmarkValues.set(`${name}.payoff`, { axes: ['firm'], data: b.payoff });
  }
  return {
    dims: env.dims,
    agents: env.agents,
    products: [],
    observe: (outcome, name) => outcome.values.get(name),
    clear: (profile, round) => env.clear(profile, round),
    benchmarkValues,
  };
}

/**
 * Makes one agent's action lawful in an environment: its bounds and grid, then the
 * institution's cap and floor, then suspension (a suspended agent plays its lower bound:
 * no harvest, the least effort, no bid). Every change is a clamp, in order.
 */
export function enforceEnvironment(
  env: EnvironmentInstance,
  agent: number,
  action: Float64Array,
  limits:
    | { readonly cap?: Float64Array; readonly floor?: Float64Array; readonly suspend: boolean }
    | undefined,
): { action: Float64Array; clamps: Clamp[] } {
  const clamps: Clamp[] = [];
  // The agent's own array is returned when no step changes it (the round loop copies it);
  // a step that changes a value makes a new array, so `before` and `after` stay as they were.
  let current = action;
  const apply = (cause: ClampCause, f: (x: number) => number) => {
    let changed = false;
    for (let j = 0; j < current.length && !changed; j++) {
      const x = current[j] as number;
      changed = f(x) !== x;
    }
    if (!changed) return;
    const next = current.map(f);
    clamps.push({
      cause,
      before: current === action ? Float64Array.from(action) : current,
      after: next,
    });
    current = next;
  };
  apply('bounds', (x) => snap(env, agent, x));
  const cap = limits?.cap?.[0];
  if (cap !== undefined && !Number.isNaN(cap)) apply('cap', (x) => Math.min(x, cap));
  const floor = limits?.floor?.[0];
  if (floor !== undefined && !Number.isNaN(floor)) apply('floor', (x) => Math.max(x, floor));
  if (limits?.suspend) apply('suspend', () => env.low[agent] ?? 0);
  return { action: current, clamps };
}

/** An environment as the round loop sees it (runtime/run/run.ts `WorldRun`). */
export function environmentRun(
  experiment: ResolvedExperiment,
  ir: IrEnvironment,
  seed: Seed = experiment.seed,
): WorldRun {
  const env = instantiateEnvironment(ir, experiment.marketOverrides, seed);
  const fallback = environmentFallback(env);
  const recorded = [
    ...ir.states.map((s) => s.name),
    ...ir.draws.map((d) => d.name),
    ...(ir.code?.computed ?? []).map((c) => c.name),
    ...ir.lets.map((l) => l.name),
    ir.action.variable,
    'payoff',
  ];
  let governed = environmentGoverned(env);
  const benchmarksEvent = (from?: number): TraceEvent => ({
    type: 'environment_benchmarks',
    ...(from === undefined ? {} : { from }),
    benchmarks: Object.fromEntries(
      [...env.benchmarks].map(([name, b]) => [
        name,
        { action: Array.from(b.action), payoff: Array.from(b.payoff) },
      ]),
    ),
  });
  return {
    agents: env.agents,
    width: 1,
    get governed() {
      return governed;
    },
    header: {
      before: { environment: ir.name, axis: ir.axis },
      after: { firms: [...env.agents], products: [ir.action.variable] },
    },
    benchmarksEvent: benchmarksEvent(),
    retune: (overrides, from) => {
      env.retune(overrides, from);
      governed = environmentGoverned(env);
      return benchmarksEvent(from);
    },
    fallbackName: fallback.name,
    fallback: fallback.action,
    createAgent: (i, policy, context) =>
      createEnvironmentAgent(policy, {
        agent: i,
        environment: env,
        random: context.random,
        emit: context.emit,
        ...(context.llm ? { llm: context.llm } : {}),
      }) as Agent<unknown, unknown>,
    observation: (round, firm, history): EnvironmentObservation => ({
      round,
      firm,
      environment: env,
      history: history as EnvironmentObservation['history'],
    }),
    enforce: (i, action, limits) => enforceEnvironment(env, i, action, limits),
    clear: (lawful, round) => env.clear(lawful, round),
    payoff: (outcome) => (outcome as EnvironmentOutcome).payoff,
    outcomeEvent: (o, round): TraceEvent => {
      const outcome = o as EnvironmentOutcome;
      const values: Record<string, ReturnType<typeof traceValue>> = {};
      for (const name of recorded) {
        const t = outcome.values.get(name);
        if (t) values[name] = traceValue(t);
      }
      return { type: 'environment', round, values };
    },
    ended: (outcome) => (outcome as EnvironmentOutcome).ended,
    inject: (round) => env.inject(round),
    hear: (round, messages) => env.hear(round, messages),
    advance: (outcome) => env.advance(outcome as EnvironmentOutcome),
    save: () => env.save(),
    restore: (state) => {
      env.restore(state as EnvironmentState);
      // What the institution reads of the world follows the benchmarks set again.
      governed = environmentGoverned(env);
    },
    drawn: (round) => {
      if (round >= 1) env.draws(round);
    },
  };
}
