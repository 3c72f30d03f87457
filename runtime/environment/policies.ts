import {
  compileExpression,
  type EvaluationEnvironment,
  paramTensor,
} from '../../compiler/evaluate.js';
import { evaluateStatic } from '../../compiler/instantiate.js';
import type { IrDeclaredPolicy } from '../../compiler/ir.js';
import { scalarTensor, type Tensor } from '../../compiler/tensor.js';
import {
  type Action,
  type Agent,
  type CommonObservation,
  type DeliveredMessage,
  HOLDS_NOTHING,
  type Random,
} from '../agents/agent.js';
import { LLM_ARGUMENTS } from '../agents/llm.js';
import {
  type AgentContext,
  type PolicyArgument,
  PolicyArguments,
  PolicyError,
  type PolicyReference,
} from '../agents/policy.js';
import { QLEARNING_DEFAULTS } from '../agents/qlearning.js';
import { MaseUserError } from '../errors.js';
import type { TraceEvent } from '../trace/events.js';
import type { EnvironmentInstance, EnvironmentOutcome } from './instance.js';
import {
  environmentKind,
  type KindAgent,
  type KindInboxMessage,
  type KindPolicy,
} from './kinds.js';
import { environmentLlm } from './llm.js';

/** What an environment's agent sees before it acts. */
export interface EnvironmentObservation extends CommonObservation {
  readonly environment: EnvironmentInstance;
  /**
   * The rounds played so far, oldest first: each round's lawful actions and outcome (the
   * latest ones only, when every agent says how many it reads: `Agent.lookBack`).
   */
  readonly history: readonly {
    readonly actions: Float64Array;
    readonly outcome: EnvironmentOutcome;
  }[];
}

export type EnvironmentAgent = Agent<EnvironmentObservation, EnvironmentOutcome>;

export interface EnvironmentAgentContext {
  readonly agent: number;
  readonly environment: EnvironmentInstance;
  readonly random: Random;
  /** Where an agent records what it does beyond its action (an LLM agent's calls). */
  readonly emit?: (event: TraceEvent) => void;
  /** The run's model services, when an agent is an LLM agent. */
  readonly llm?: AgentContext['llm'];
}

interface EnvironmentPolicy {
  readonly name: string;
  /** The argument names it accepts, in positional order (test/runtime/agents/policy-arguments.test.ts holds `create` to them). */
  readonly arguments: readonly string[];
  readonly usage: string;
  readonly summary: string;
  readonly create: (
    args: readonly PolicyArgument[],
    context: EnvironmentAgentContext,
  ) => EnvironmentAgent;
}

const NAN = scalarTensor(Number.NaN);

/** Snaps an action to the agent's bounds and grid (the lawful action nearest to it). */
export function snap(env: EnvironmentInstance, agent: number, x: number): number {
  const low = env.low[agent] ?? 0;
  const high = env.high[agent] ?? low;
  let y = Math.min(high, Math.max(low, x));
  const step = env.step?.[agent];
  if (step !== undefined) y = Math.min(high, low + Math.round((y - low) / step) * step);
  return y;
}

/**
 * The actions an agent chooses among when it searches: every grid point when the action
 * has a step (at most `points`), else `points` evenly spaced values; the benchmark actions
 * are added, so a search can always find them.
 */
export function actionGrid(env: EnvironmentInstance, agent: number, points = 101): number[] {
  const low = env.low[agent] ?? 0;
  const high = env.high[agent] ?? low;
  const step = env.step?.[agent];
  const values = new Set<number>();
  if (step !== undefined && (high - low) / step + 1 <= points) {
    for (let x = low; x <= high + step * 1e-9; x += step) values.add(snap(env, agent, x));
  } else if (Number.isFinite(high)) {
    for (let k = 0; k < points; k++)
      values.add(snap(env, agent, low + ((high - low) * k) / (points - 1)));
  }
  for (const b of env.benchmarks.values()) values.add(snap(env, agent, b.action[agent] ?? low));
  if (values.size === 0) values.add(low);
  return [...values].sort((a, b) => a - b);
}

const one = (x: number) => Float64Array.of(x);

/** The others' last actions (their first benchmark's action before round 1), with `x` for this agent. */
function profileWith(observation: EnvironmentObservation, agent: number, x: number): Float64Array {
  const env = observation.environment;
  const last = observation.history.at(-1)?.actions;
  const first = env.benchmarks.values().next().value?.action;
  const profile = Float64Array.from(last ?? first ?? env.low);
  profile[agent] = x;
  return profile;
}

/** The action maximising this round's payoff against the others' last actions; ties go to the smallest. */
export function bestResponse(observation: EnvironmentObservation, agent: number): number {
  const env = observation.environment;
  let best = env.low[agent] ?? 0;
  let bestPayoff = Number.NEGATIVE_INFINITY;
  for (const x of actionGrid(env, agent)) {
    const payoff =
      env.clear(profileWith(observation, agent, x), observation.round).payoff[agent] ?? Number.NaN;
    if (payoff > bestPayoff + 1e-12) {
      best = x;
      bestPayoff = payoff;
    }
  }
  return best;
}

function benchmarkAction(
  env: EnvironmentInstance,
  name: string,
  agent: number,
  policy: string,
): number {
  const b = env.benchmarks.get(name);
  if (!b)
    throw new PolicyError(
      `${policy}: environment ${env.name} has no benchmark \`${name}\`; its benchmarks: ${[...env.benchmarks.keys()].join(', ') || 'none'}`,
    );
  return b.action[agent] ?? Number.NaN;
}

/**
 * A policy the environment declares (`policy NAME(ARG = DEFAULT, …) = …`): an action from
 * what the agent has seen. Its arguments, given or defaulted, are read like parameters.
 */
function declaredPolicy(
  declared: IrDeclaredPolicy,
  args: readonly PolicyArgument[],
  context: EnvironmentAgentContext,
): EnvironmentAgent {
  const { environment: env, agent } = context;
  const name = declared.name;
  const code = compileExpression(declared.value);
  const params = new Map<string, Tensor>();
  for (const p of env.ir.params) {
    const t = paramTensor(p.type, env.params.get(p.name) ?? p.value, env.dims);
    params.set(p.name, typeof t === 'string' ? NAN : t);
  }
  const given = PolicyArguments.read(
    name,
    args,
    (declared.params ?? []).map((p) => p.name),
  );
  for (const p of declared.params ?? []) {
    const fallback = evaluateStatic(p.default, env.ir.params, env.params, env.dims).data[0];
    params.set(p.name, scalarTensor(given.number(p.name, fallback ?? Number.NaN)));
  }
  const agentIndex = new Map(env.agents.map((a, i) => [a, i]));
  const drawn = new Set(env.ir.draws.map((d) => d.name));
  return {
    policy: name,
    // It reads the environment and the rounds played, and holds nothing itself.
    ...HOLDS_NOTHING,
    decide(observation) {
      const history = observation.history;
      // Values are the last round's (`lag(x)` the one before); `round` is the round being
      // decided, and a draw is this round's (drawn before anyone acts).
      const evaluation: EvaluationEnvironment = {
        dims: env.dims,
        param: (p) => params.get(p) ?? NAN,
        firmIndex: (a) => agentIndex.get(a) ?? -1,
        productIndex: () => -1,
        self: agent,
        roundsAvailable: history.length,
        observable: (n, ago) => {
          if (n === 'round') return scalarTensor(observation.round - ago);
          if (drawn.has(n)) {
            const round = observation.round - ago;
            return round >= 1 ? (env.draws(round).get(n) ?? NAN) : NAN;
          }
          return history[history.length - 1 - ago]?.outcome.values.get(n) ?? NAN;
        },
        benchmark: (b, value) => {
          const point = env.benchmarks.get(b);
          if (!point) return NAN;
          return { axes: ['firm'], data: value === 'payoff' ? point.payoff : point.action };
        },
        monitor: () => NAN,
      };
      const t = code(evaluation);
      const x = t.axes.length === 0 ? (t.data[0] ?? Number.NaN) : (t.data[agent] ?? Number.NaN);
      return one(snap(env, agent, x));
    },
  };
}

/**
 * Tabular Q-learning on the agent's action grid (`actionGrid`, so the benchmark actions are
 * on it): the state is the grid index of every agent's last action (memory 1) or nothing
 * (memory 0), ε-greedy with ε_t = exp(−β t), and the update of runtime/agents/qlearning.ts.
 */
function qlearning(
  args: readonly PolicyArgument[],
  context: EnvironmentAgentContext,
): EnvironmentAgent {
  const a = PolicyArguments.read('qlearning', args, ['alpha', 'beta', 'delta', 'm', 'memory']);
  const alpha = a.number('alpha', QLEARNING_DEFAULTS.alpha, { atLeast: 0, atMost: 1 });
  const beta = a.number('beta', QLEARNING_DEFAULTS.beta, { atLeast: 0 });
  const delta = a.number('delta', QLEARNING_DEFAULTS.delta, { atLeast: 0, atMost: 1 });
  const m = a.number('m', 15, { integer: true, atLeast: 2, atMost: 1001 });
  const memory = a.number('memory', 1, { integer: true, atLeast: 0, atMost: 1 });
  const { environment: env, agent, random } = context;
  const grids = env.agents.map((_, i) => actionGrid(env, i, m));
  const grid = grids[agent] ?? [];
  const A = grid.length;
  let states = 1;
  if (memory === 1) for (const g of grids) states *= g.length;
  if (states * A > 2 ** 24)
    throw new PolicyError(
      `qlearning: ${states} states × ${A} actions is too large a table; use memory: 0 or a smaller m`,
    );
  const q = new Float64Array(states * A);
  const nearest = (g: readonly number[], x: number) => {
    let k = 0;
    for (let j = 1; j < g.length; j++)
      if (Math.abs((g[j] ?? 0) - x) < Math.abs((g[k] ?? 0) - x)) k = j;
    return k;
  };
  const stateOf = (actions: Float64Array | undefined) => {
    if (memory === 0 || !actions) return 0;
    let s = 0;
    grids.forEach((g, i) => {
      s = s * g.length + nearest(g, actions[i] ?? 0);
    });
    return s;
  };
  let t = 0;
  let chosen = 0;
  let state = 0;
  return {
    policy: 'qlearning',
    lookBack: 1,
    save: () => ({ q, t, chosen, state }),
    restore(saved) {
      const s = saved as { q: Float64Array; t: number; chosen: number; state: number };
      q.set(s.q);
      ({ t, chosen, state } = s);
    },
    decide(observation) {
      state = stateOf(observation.history.at(-1)?.actions);
      if (random.next() < Math.exp(-beta * t))
        chosen = Math.min(A - 1, Math.floor(random.next() * A));
      else {
        chosen = 0;
        for (let k = 1; k < A; k++)
          if ((q[state * A + k] ?? 0) > (q[state * A + chosen] ?? 0)) chosen = k;
      }
      t++;
      return one(grid[chosen] ?? 0);
    },
    learn(_observation, action, _outcome, reward) {
      const next = stateOf(Float64Array.from(action.length === env.agents.length ? action : []));
      let best = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < A; k++) best = Math.max(best, q[next * A + k] ?? 0);
      const i = state * A + chosen;
      q[i] = (1 - alpha) * (q[i] ?? 0) + alpha * (reward + delta * best);
    },
  };
}

const POLICIES: readonly EnvironmentPolicy[] = [
  {
    name: 'constant',
    arguments: ['x'],
    usage: 'constant(x)',
    summary: 'plays x every round',
    create: (args, { environment: env, agent }) => {
      const a = PolicyArguments.read('constant', args, ['x']);
      const x = a.number('x', undefined);
      return {
        policy: 'constant',
        lookBack: 0,
        ...HOLDS_NOTHING,
        decide: () => one(snap(env, agent, x)),
      };
    },
  },
  {
    name: 'random',
    arguments: [],
    usage: 'random',
    summary: 'plays uniformly at random within its bounds (on its grid, when it has one)',
    create: (args, { environment: env, agent, random }) => {
      PolicyArguments.read('random', args, []);
      const grid = env.step ? actionGrid(env, agent, Number.POSITIVE_INFINITY) : undefined;
      const low = env.low[agent] ?? 0;
      const high = env.high[agent] ?? low;
      if (!grid && !Number.isFinite(high))
        throw new PolicyError(`random: the action of ${env.agents[agent]} has no upper bound`);
      return {
        policy: 'random',
        lookBack: 0,
        ...HOLDS_NOTHING,
        decide: () =>
          one(
            grid
              ? (grid[Math.min(grid.length - 1, Math.floor(random.next() * grid.length))] ?? low)
              : low + random.next() * (high - low),
          ),
      };
    },
  },
  {
    name: 'best_response',
    arguments: [],
    usage: 'best_response',
    summary: "best-responds to the others' last actions (searching its action grid)",
    create: (args, { agent }) => {
      PolicyArguments.read('best_response', args, []);
      return {
        policy: 'best_response',
        ...HOLDS_NOTHING,
        decide: (o) => one(bestResponse(o, agent)),
      };
    },
  },
  {
    name: 'trigger',
    arguments: ['k', 'tolerance', 'cooperate', 'punish'],
    usage: 'trigger(k: 5, tolerance: 0.01, cooperate: "BENCHMARK", punish: "BENCHMARK")',
    summary:
      'plays the cooperative benchmark; after another agent strays from it, the punishing one for k rounds',
    create: (args, { environment: env, agent }) => {
      const a = PolicyArguments.read('trigger', args, ['k', 'tolerance', 'cooperate', 'punish']);
      const k = a.number('k', 5, { integer: true, atLeast: 1 });
      const tolerance = a.number('tolerance', 0.01, { atLeast: 0 });
      const names = [...env.benchmarks.keys()];
      const cooperate = a.string('cooperate', names[0] ?? '');
      const punish = a.string('punish', names[1] ?? names[0] ?? '');
      const good = env.agents.map((_, i) => benchmarkAction(env, cooperate, i, 'trigger'));
      const bad = benchmarkAction(env, punish, agent, 'trigger');
      let punishUntil = 0;
      return {
        policy: 'trigger',
        lookBack: 1,
        save: () => ({ punishUntil }),
        restore(saved) {
          ({ punishUntil } = saved as { punishUntil: number });
        },
        decide(observation) {
          const last = observation.history.at(-1)?.actions;
          if (last) {
            const strayed = good.some(
              (g, i) =>
                i !== agent && Math.abs((last[i] ?? 0) - g) > tolerance * Math.max(1, Math.abs(g)),
            );
            if (strayed) punishUntil = observation.round + k - 1;
          }
          return one(observation.round <= punishUntil ? bad : (good[agent] ?? Number.NaN));
        },
      };
    },
  },
  {
    name: 'stray',
    arguments: ['round', 'x', 'cooperate'],
    usage: 'stray(round: 5, x: 1, cooperate: "BENCHMARK")',
    summary:
      'plays the cooperate benchmark (default: the first declared), and x once, in the given round: one planted deviation',
    create: (args, { environment: env, agent }) => {
      const a = PolicyArguments.read('stray', args, ['round', 'x', 'cooperate']);
      const round = a.number('round', undefined, { integer: true, atLeast: 1 });
      const x = a.number('x', undefined);
      const names = [...env.benchmarks.keys()];
      const good = benchmarkAction(env, a.string('cooperate', names[0] ?? ''), agent, 'stray');
      return {
        policy: 'stray',
        lookBack: 0,
        ...HOLDS_NOTHING,
        decide: (o) => one(o.round === round ? snap(env, agent, x) : good),
      };
    },
  },
  {
    name: 'llm',
    arguments: LLM_ARGUMENTS,
    usage: 'llm(model: "openai:gpt-4o-mini", memory: 5, fallback: previous)',
    summary:
      "a language model told the environment's rules, the institution's manifest and past rounds",
    create: (args, context) => environmentLlm(args, context.environment, context.agent, context),
  },
  {
    name: 'qlearning',
    arguments: ['alpha', 'beta', 'delta', 'm', 'memory'],
    usage: 'qlearning(alpha: 0.15, beta: 5e-4, delta: 0.95, m: 15, memory: 1)',
    summary: 'tabular Q-learning on a grid of its actions that contains the benchmark actions',
    create: qlearning,
  },
];

const byName = new Map(POLICIES.map((p) => [p.name, p]));

/** The policies every environment's agents may follow (beside its benchmarks and its own). */
export function genericEnvironmentPolicies(): {
  name: string;
  arguments: readonly string[];
  summary: string;
}[] {
  return POLICIES.map((p) => ({ name: p.name, arguments: p.arguments, summary: p.summary }));
}

/** The policies an environment's agents may follow: the generic ones, its benchmarks, its own. */
export function environmentPolicies(env: EnvironmentInstance): { name: string; summary: string }[] {
  const own = env.ir.code ? (environmentKind(env.ir.code.kind)?.policies ?? []) : [];
  return [
    ...genericEnvironmentPolicies().map(({ name, summary }) => ({ name, summary })),
    ...own.map((p) => ({
      name: p.name,
      summary: `${p.summary}${p.arguments.length > 0 ? ` (arguments: ${p.arguments.join(', ')})` : ''}`,
    })),
    ...env.ir.benchmarks.map((b) => ({
      name: b.name,
      summary: `plays the ${b.name} benchmark${b.doc ? `: ${b.doc}` : ''}`,
    })),
    ...env.ir.policies.map((p) => ({
      name: p.name,
      summary: `${p.doc ?? p.value.text}${
        p.params && p.params.length > 0
          ? ` (arguments: ${p.params.map((a) => `${a.name} = ${a.default.text}`).join(', ')})`
          : ''
      }`,
    })),
  ];
}

/**
 * A scripted policy of the environment's code kind (a text world's hosts): it talks with
 * the kind's own rules and acts after the talk. Its errors are the user's (exit 2).
 */
function kindPolicy(
  own: KindPolicy,
  args: readonly PolicyArgument[],
  context: EnvironmentAgentContext,
): EnvironmentAgent {
  const { environment: env, agent } = context;
  const a = PolicyArguments.read(own.name, args, own.arguments);
  const values: Record<string, number | undefined> = {};
  for (const name of own.arguments)
    values[name] = a.has(name) ? a.number(name, undefined) : undefined;
  const fail = (error: unknown): never => {
    if (error instanceof MaseUserError) throw error;
    throw new PolicyError(`${own.name}: ${error instanceof Error ? error.message : String(error)}`);
  };
  // The delivered messages themselves (a kind's agents only read them): a copy of each
  // cost an object per message, recipient and round.
  const inbox = (messages: readonly DeliveredMessage[] | undefined): readonly KindInboxMessage[] =>
    messages ?? [];
  let scripted: KindAgent;
  try {
    scripted = own.create(values, {
      environment: env.name,
      agent,
      agents: env.agents,
      params: env.params,
      random: context.random,
    });
  } catch (error) {
    return fail(error);
  }
  // Saved when the kind's agent says what it holds (KindAgent.save); else its run resumes by replay.
  const saving = scripted.save
    ? {
        save: () => scripted.save?.(),
        restore: (state: unknown) => scripted.restore?.(state),
      }
    : {};
  return {
    policy: own.name,
    // A kind's agents see the round and their inbox, never past rounds.
    lookBack: 0,
    ...saving,
    talk: (turn) =>
      (
        scripted.talk?.({
          round: turn.observation.round,
          talkRound: turn.talkRound,
          inbox: inbox(turn.inbox),
          neighbours: turn.neighbours,
        }) ?? []
      ).map((m) => ({
        text: m.text,
        to: m.to ?? turn.neighbours,
        ...(m.parents ? { parents: m.parents } : {}),
      })),
    decide: (observation) =>
      one(
        snap(
          env,
          agent,
          scripted.decide({ round: observation.round, inbox: inbox(observation.messages) }),
        ),
      ),
  };
}

/** Builds an environment agent for a policy reference; an unknown name is a PolicyError listing the known ones. */
export function createEnvironmentAgent(
  policy: PolicyReference,
  context: EnvironmentAgentContext,
): EnvironmentAgent {
  const { environment: env, agent } = context;
  const declared = env.ir.policies.find((p) => p.name === policy.name);
  if (declared) return declaredPolicy(declared, policy.args, context);
  if (env.benchmarks.has(policy.name)) {
    PolicyArguments.read(policy.name, policy.args, []);
    benchmarkAction(env, policy.name, agent, policy.name);
    // Read each round, as a market's `nash` is: a fork's `param` gives it new values.
    return {
      policy: policy.name,
      lookBack: 0,
      ...HOLDS_NOTHING,
      decide: () => one(benchmarkAction(env, policy.name, agent, policy.name)),
    };
  }
  const own = env.ir.code
    ? environmentKind(env.ir.code.kind)?.policies?.find((p) => p.name === policy.name)
    : undefined;
  if (own) return kindPolicy(own, policy.args, context);
  const entry = byName.get(policy.name);
  if (!entry)
    throw new PolicyError(
      `unknown policy \`${policy.name}\` for environment ${env.name}; known policies: ${environmentPolicies(
        env,
      )
        .map((p) => p.name)
        .join(', ')}`,
    );
  return entry.create(policy.args, context);
}

export type { Action };
