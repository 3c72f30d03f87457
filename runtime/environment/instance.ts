import {
  compileExpression,
  type EvaluationEnvironment,
  paramTensor,
} from '../../compiler/evaluate.js';
import { agentNames, paramValues } from '../../compiler/instantiate.js';
import type { IrEnvironment, IrExpr, ParamValue } from '../../compiler/ir.js';
import {
  broadcast2,
  copyTensor,
  type Dimensions,
  scalarTensor,
  type Tensor,
  truthy,
} from '../../compiler/tensor.js';
import { EXIT, MaseUserError } from '../errors.js';
import { randomStream, type Seed } from '../random.js';
import {
  environmentKind,
  environmentKindNames,
  type KindInjection,
  type KindInstance,
  type KindMessage,
  type KindValue,
  kindContext,
} from './kinds.js';

/**
 * An environment written in the language, with its parameters bound. It keeps the state
 * variables; `clear` is a pure function of that state and the agents' actions (so
 * hypothetical rounds — best responses, `wouldTrigger` — leave it alone), and `advance`
 * moves the state to the round's `next` values.
 */
export interface EnvironmentInstance {
  readonly kind: 'environment';
  readonly ir: IrEnvironment;
  readonly name: string;
  readonly title: string;
  /** The agent axis (`fisher`). */
  readonly axis: string;
  /** The agents, in order (`fisher1`, …, or the declared names). */
  readonly agents: readonly string[];
  /** One action per agent: `products` is one unnamed column. */
  readonly dims: Dimensions;
  readonly params: ReadonlyMap<string, ParamValue>;
  /** Bounds of each agent's action. */
  readonly low: Float64Array;
  readonly high: Float64Array;
  /** The grid step of each agent's action (absent: any number in bounds). */
  readonly step?: Float64Array;
  /** Names of the action's options, when the action is a choice (value i is option i). */
  readonly options?: readonly string[];
  /**
   * The benchmark actions and the payoffs they earn from the initial state (after `retune`,
   * from the state then).
   */
  readonly benchmarks: ReadonlyMap<
    string,
    { readonly action: Float64Array; readonly payoff: Float64Array }
  >;
  /** The state at the start of the round about to be played. */
  state(): ReadonlyMap<string, Tensor>;
  /**
   * Each draw's values in a round (one per agent), drawn the first time the round is asked
   * for and the same ever after: what an agent sees before acting is what the round clears with.
   */
  draws(round: number): ReadonlyMap<string, Tensor>;
  clear(action: Float64Array, round: number): EnvironmentOutcome;
  /**
   * The round's messages (talk and the world's), before it clears: a text world's kind reads
   * them. Rounds cleared without them (look-aheads of other rounds) see none.
   */
  hear(round: number, messages: readonly KindMessage[]): void;
  /** The messages the world sends in `round` before the talk (a code kind's `inject`). */
  inject(round: number): readonly KindInjection[];
  /** Makes the outcome's `next` values the state. */
  advance(outcome: EnvironmentOutcome): void;
  /**
   * Its state between rounds, for a checkpoint (docs/checkpoints.md): the state variables and
   * a code kind's state as last advanced. Draws are not saved: round r's are the r-th block of
   * each draw's stream, made again from the seed when asked for; a code kind is made again and
   * handed its state, as `retune` does.
   */
  save(): EnvironmentState;
  restore(state: EnvironmentState): void;
  /**
   * Other parameter values from round `from` on (a fork's `param`): the state, the rounds'
   * draws already made and the agents stay; bounds, draws to come, updates, payoff and
   * benchmarks (from the state now) follow the new values; a code kind is made again with
   * them and handed the state it had reached. Values that change the agents cannot (the
   * fork refuses them first).
   */
  retune(
    overrides: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
    from: number,
  ): void;
}

export interface EnvironmentState {
  readonly state: readonly (readonly [string, Tensor])[];
  /** The benchmarks in force (computed from the state of the round a fork changed values in). */
  readonly benchmarks: readonly (readonly [
    string,
    { action: Float64Array; payoff: Float64Array },
  ])[];
  /** Absent: no code kind, or one not advanced yet. */
  readonly kind?: { readonly state: unknown };
}

export interface EnvironmentOutcome {
  /** Each agent's payoff before fines and credits. */
  readonly payoff: Float64Array;
  /** Every observable of the round by name: state at its start, lets, the action, payoff, round. */
  readonly values: ReadonlyMap<string, Tensor>;
  /** The state variables' values for the next round. */
  readonly next: ReadonlyMap<string, Tensor>;
  /** Whether the `end` condition held. */
  readonly ended: boolean;
  /** A code kind's state after this round, for `advance`. */
  readonly kindState?: unknown;
}

/**
 * The action that replaces an unusable one when an agent has no previous action: the
 * first benchmark's (or the lower bound when the environment declares none).
 */
export function environmentFallback(env: EnvironmentInstance): {
  readonly name: string;
  action(agent: number): Float64Array;
} {
  const first = () => env.benchmarks.entries().next().value;
  return {
    name: first()?.[0] ?? 'low',
    // Read when needed: a fork's `param` gives the benchmark new values.
    action: (i) => {
      const point = first()?.[1];
      return Float64Array.of(point ? (point.action[i] ?? 0) : (env.low[i] ?? 0));
    },
  };
}

/** Parameters or actions an environment cannot take: exit 2. */
export class EnvironmentError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

const NAN = scalarTensor(Number.NaN);

/** Expands a scalar or per-agent tensor to one value per agent. */
export function perAgent(t: Tensor, n: number): Float64Array {
  if (t.axes.length === 0) return new Float64Array(n).fill(t.data[0] ?? Number.NaN);
  return Float64Array.from(t.data.subarray(0, n));
}

/**
 * Binds an environment's parameters. `seed` is the run's seed: each draw has its own stream
 * (`environment:draw:NAME`), so adding a draw never shifts another's values.
 */
export function instantiateEnvironment(
  ir: IrEnvironment,
  overrides?: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
  seed: Seed = 0,
): EnvironmentInstance {
  const values = paramValues(ir.params, overrides);
  const agents = agentNames(ir, values);
  if (agents.length === 0)
    throw new EnvironmentError(`environment ${ir.name} has no ${ir.axis}s with these parameters`);
  const n = agents.length;
  const dims: Dimensions = { firms: n, products: 1 };
  const params = new Map<string, Tensor>();
  /** Binds VALUES to the parameters (every expression reads them from `params`). */
  const bind = (values: ReadonlyMap<string, ParamValue>) => {
    for (const p of ir.params) {
      const t = paramTensor(p.type, values.get(p.name) ?? p.value, dims);
      if (typeof t === 'string') throw new EnvironmentError(`parameter ${p.name} ${t}`);
      params.set(p.name, t);
    }
  };
  bind(values);
  const agentIndex = new Map(agents.map((a, i) => [a, i]));
  const base = (observable: (name: string) => Tensor, action?: Tensor): EvaluationEnvironment => ({
    dims,
    param: (name) => params.get(name) ?? NAN,
    firmIndex: (name) => agentIndex.get(name) ?? -1,
    productIndex: () => -1,
    roundsAvailable: 1,
    observable: (name) => observable(name),
    benchmark: () => NAN,
    monitor: () => NAN,
    ...(action ? { action } : {}),
  });
  const fixed = (e: IrExpr) => compileExpression(e)(base(() => NAN));
  const low = new Float64Array(n);
  const high = new Float64Array(n);
  const step = ir.action.step ? new Float64Array(n) : undefined;
  /** The action's bounds and step under the parameters bound now. */
  const bound = () => {
    low.set(perAgent(fixed(ir.action.low), n));
    high.set(perAgent(fixed(ir.action.high), n));
    if (step && ir.action.step) step.set(perAgent(fixed(ir.action.step), n));
    for (let i = 0; i < n; i++) {
      if (!((low[i] ?? Number.NaN) <= (high[i] ?? Number.NaN)))
        throw new EnvironmentError(
          `the action bounds of ${agents[i]} are [${low[i]}, ${high[i]}]: the lower bound must not exceed the upper`,
        );
      if (step && !((step[i] ?? 0) > 0))
        throw new EnvironmentError(
          `the action step of ${agents[i]} must be positive (it is ${step[i]})`,
        );
    }
  };
  bound();

  let state = new Map<string, Tensor>();
  for (const s of ir.states) state.set(s.name, copyTensor(fixed(s.initial)));
  const draws = environmentDraws(ir, seed, agents, fixed);
  let code = ir.code ? codeKind(ir, agents, values, seed) : undefined;
  /** The code kind's state as last advanced (a fork's `param` hands it to the kind made anew). */
  let kindState: { readonly state: unknown } | undefined;

  const lets = ir.lets.map((l) => ({ name: l.name, fn: compileExpression(l.value) }));
  const payoffFn = compileExpression(ir.payoff);
  const nexts = ir.states.flatMap((s) =>
    s.next ? [{ name: s.name, fn: compileExpression(s.next), axes: s.initial.type.axes }] : [],
  );
  const endFn = ir.end ? compileExpression(ir.end) : undefined;

  let heard: { round: number; messages: readonly KindMessage[] } = { round: 0, messages: [] };
  const clearFrom = (
    from: ReadonlyMap<string, Tensor>,
    action: Float64Array,
    round: number,
  ): EnvironmentOutcome => {
    const actionTensor: Tensor = { axes: ['firm'], data: Float64Array.from(action) };
    const round_ = scalarTensor(round);
    const values = new Map<string, Tensor>(from);
    for (const [name, t] of draws(round)) values.set(name, t);
    values.set('round', round_);
    values.set(ir.action.variable, actionTensor);
    const kindState = code?.round(
      values,
      action,
      round,
      heard.round === round ? heard.messages : [],
    );
    const env = base((name) => values.get(name) ?? NAN, actionTensor);
    for (const l of lets) values.set(l.name, copyTensor(l.fn(env)));
    const payoff = perAgent(payoffFn(env), n);
    values.set('payoff', { axes: ['firm'], data: payoff });
    const next = new Map(from);
    for (const x of nexts) {
      let t = copyTensor(x.fn(env));
      // A per-agent state stays per agent when its next value is one number for all.
      if (x.axes.length > 0 && t.axes.length === 0)
        t = broadcast2(t, { axes: ['firm'], data: new Float64Array(n) }, dims, (a) => a);
      next.set(x.name, t);
    }
    const ended = endFn ? truthy(endFn(env).data[0] ?? 0) : false;
    return { payoff, values, next, ended, ...(code ? { kindState } : {}) };
  };

  const benchmarks = new Map<string, { action: Float64Array; payoff: Float64Array }>();
  /** Each benchmark's action under the parameters bound now, and its payoff from the state in ROUND. */
  const benchmark = (round: number) => {
    for (const b of ir.benchmarks) {
      const raw = b.value
        ? perAgent(fixed(b.value), n)
        : (code?.benchmark(b.name) ?? NAN_ACTIONS(n));
      const action = raw.map((x, i) => Math.min(high[i] ?? x, Math.max(low[i] ?? x, x)));
      benchmarks.set(b.name, { action, payoff: clearFrom(state, action, round).payoff });
    }
  };
  benchmark(1);

  return {
    kind: 'environment',
    ir,
    name: ir.name,
    title: ir.title,
    axis: ir.axis,
    agents,
    dims,
    params: values,
    low,
    high,
    ...(step ? { step } : {}),
    ...(ir.action.options ? { options: ir.action.options } : {}),
    benchmarks,
    state: () => state,
    draws,
    clear: (action, round) => clearFrom(state, action, round),
    hear: (round, messages) => {
      heard = { round, messages };
    },
    inject: (round) => code?.inject(round) ?? [],
    advance: (outcome) => {
      state = new Map(outcome.next);
      if (code) {
        code.advance(outcome.kindState);
        kindState = { state: outcome.kindState };
      }
    },
    save: () => ({
      state: [...state],
      benchmarks: [...benchmarks],
      ...(kindState ? { kind: kindState } : {}),
    }),
    restore: (saved) => {
      state = new Map(saved.state);
      benchmarks.clear();
      for (const [name, b] of saved.benchmarks) benchmarks.set(name, b);
      if (code && saved.kind) {
        code.advance(saved.kind.state);
        kindState = saved.kind;
      }
    },
    retune: (overrides, from) => {
      const next = paramValues(ir.params, overrides);
      const names = agentNames(ir, next);
      if (names.length !== n || names.some((a, i) => a !== agents[i]))
        throw new EnvironmentError(
          `environment ${ir.name} would have other ${ir.axis}s with these parameters (${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}): a fork keeps the run's`,
        );
      bind(next);
      bound();
      draws.rebound();
      for (const [name, value] of next) values.set(name, value);
      // A code kind is made again with the new values and handed the state it had reached:
      // its state changes only in `advance` (runtime/environment/kinds.ts).
      if (code) {
        code = codeKind(ir, agents, next, seed);
        if (kindState) code.advance(kindState.state);
      }
      benchmark(from);
    },
  };
}

const NAN_ACTIONS = (n: number) => new Float64Array(n).fill(Number.NaN);

/**
 * The code kind of an environment declared with `kind NAME`, bound for one run: it computes
 * the `computed` values into a round's values, its value-less benchmarks, and keeps its
 * state. What the kind gives is checked against the declaration; a kind that fails or gives
 * something else stops the run with a message naming the kind (exit 2), not as a MASE bug.
 */
function codeKind(
  ir: IrEnvironment,
  agents: readonly string[],
  params: ReadonlyMap<string, ParamValue>,
  seed: Seed,
): {
  round(
    values: Map<string, Tensor>,
    action: Float64Array,
    round: number,
    messages: readonly KindMessage[],
  ): unknown;
  inject(round: number): readonly KindInjection[];
  benchmark(name: string): Float64Array;
  advance(state: unknown): void;
} {
  const code = ir.code as NonNullable<IrEnvironment['code']>;
  const kind = environmentKind(code.kind);
  if (!kind) {
    const known = environmentKindNames();
    throw new EnvironmentError(
      `environment ${ir.name} is computed by the code kind \`${code.kind}\`, which is not registered here; register its folder with --kind FOLDER (registered: ${known.join(', ') || 'none'})`,
    );
  }
  const n = agents.length;
  const guard = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (error) {
      if (error instanceof MaseUserError) throw error;
      throw new EnvironmentError(
        `the code kind ${code.kind} failed ${what}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
  const instance: KindInstance = guard('to start', () =>
    kind.create(kindContext(code.kind, ir.name, agents, params, seed)),
  );
  if (!instance || typeof instance.round !== 'function')
    throw new EnvironmentError(
      `the code kind ${code.kind} gave no instance with a \`round\` function from \`create\``,
    );
  const tensor = (value: KindValue | undefined, perAgent: boolean, what: string): Tensor => {
    const shape = perAgent ? `${n} numbers, one per ${ir.axis}` : 'one number';
    const fail = (): never => {
      const given =
        value === undefined
          ? 'nothing'
          : typeof value === 'number'
            ? 'one number'
            : `a list of ${(value as { length?: number }).length ?? '?'}`;
      throw new EnvironmentError(
        `the code kind ${code.kind} gave ${given} for ${what}; the declaration of ${ir.name} needs ${shape}`,
      );
    };
    if (!perAgent) {
      if (typeof value !== 'number') fail();
      return scalarTensor(value as number);
    }
    if (typeof value === 'number') return { axes: ['firm'], data: new Float64Array(n).fill(value) };
    if (!value || typeof value !== 'object' || value.length !== n) fail();
    const list = value as ArrayLike<unknown>;
    for (let i = 0; i < n; i++) if (typeof list[i] !== 'number') fail();
    return { axes: ['firm'], data: Float64Array.from(list as ArrayLike<number>) };
  };
  return {
    round: (values, action, round, messages) => {
      const result = guard(`in round ${round}`, () =>
        instance.round({
          action: Float64Array.from(action),
          round,
          messages,
          value: (name) => {
            const t = values.get(name);
            if (!t) return undefined;
            return t.axes.length === 0 ? t.data[0] : Float64Array.from(t.data);
          },
        }),
      );
      for (const c of code.computed)
        values.set(
          c.name,
          tensor(
            result?.values?.[c.name],
            c.type.axes.length > 0,
            `\`${c.name}\` in round ${round}`,
          ),
        );
      return result?.state;
    },
    inject: (round) => {
      const given = guard(`to inject messages in round ${round}`, () => instance.inject?.(round));
      if (given === undefined) return [];
      const ok =
        Array.isArray(given) &&
        given.every(
          (m) =>
            typeof m?.text === 'string' &&
            Array.isArray(m.to) &&
            m.to.every(
              (i: unknown) => Number.isInteger(i) && (i as number) >= 0 && (i as number) < n,
            ),
        );
      if (!ok)
        throw new EnvironmentError(
          `the code kind ${code.kind} injected something other than a list of { to: [agent indices 0…${n - 1}], text } in round ${round}`,
        );
      return given;
    },
    benchmark: (name) =>
      tensor(instance.benchmarks?.[name], true, `the benchmark \`${name}\``).data as Float64Array,
    advance: (state) => guard('to advance', () => instance.advance?.(state)),
  };
}

/**
 * The draws of every round, memoised: round r's values are the r-th block of n numbers of
 * each draw's stream, uniform on [low, high] per agent, whatever order rounds are asked in.
 */
function environmentDraws(
  ir: IrEnvironment,
  seed: Seed,
  agents: readonly string[],
  fixed: (e: IrExpr) => Tensor,
): ((round: number) => ReadonlyMap<string, Tensor>) & { rebound(): void } {
  const n = agents.length;
  const sources = ir.draws.map((d) => ({
    name: d.name,
    low: new Float64Array(n),
    high: new Float64Array(n),
    random: randomStream(seed, `environment:draw:${d.name}`),
  }));
  /** Each draw's bounds under the parameters bound now (rounds drawn already keep their values). */
  const rebound = () =>
    ir.draws.forEach((d, k) => {
      const source = sources[k] as (typeof sources)[number];
      const { low, high } = source;
      low.set(perAgent(fixed(d.low), n));
      high.set(perAgent(fixed(d.high), n));
      for (let i = 0; i < n; i++)
        if (!((low[i] ?? Number.NaN) <= (high[i] ?? Number.NaN)))
          throw new EnvironmentError(
            `the draw ${d.name} of ${agents[i]} is uniform on [${low[i]}, ${high[i]}]: the lower bound must not exceed the upper`,
          );
    });
  rebound();
  const rounds: ReadonlyMap<string, Tensor>[] = [];
  const draws = (round: number) => {
    if (!(Number.isInteger(round) && round >= 1))
      throw new RangeError(`draws exist for rounds 1, 2, …; asked for round ${round}`);
    while (rounds.length < round) {
      const values = new Map<string, Tensor>();
      for (const s of sources) {
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const low = s.low[i] ?? 0;
          data[i] = low + s.random.next() * ((s.high[i] ?? low) - low);
        }
        values.set(s.name, { axes: ['firm'], data });
      }
      rounds.push(values);
    }
    return rounds[round - 1] as ReadonlyMap<string, Tensor>;
  };
  return Object.assign(draws, { rebound });
}
