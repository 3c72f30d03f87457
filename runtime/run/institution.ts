import { type Actor, createActor, type Snapshot } from 'xstate';
import {
  type CountParams,
  createInstitutionMachine,
  type InstitutionContext,
  type InstitutionMachine,
  type NoticeParams,
  type SanctionParams,
} from '../../compiler/backends/xstate.js';
import { constantValue } from '../../compiler/constant.js';
import {
  type CompiledExpression,
  type CompiledPerFirm,
  type CompiledScalar,
  compileExpression,
  compilePerFirm,
  compileScalar,
  type EvaluationEnvironment,
  lookback,
  paramTensor,
  readsMachine,
} from '../../compiler/evaluate.js';
import { paramValues } from '../../compiler/instantiate.js';
import type { IrExpr, IrFilter, IrInstitution, IrState, ParamValue } from '../../compiler/ir.js';
import { BENCHMARK_VALUE_NAMES } from '../../compiler/observables.js';
import { copyTensor, scalarTensor, type Tensor, truthy } from '../../compiler/tensor.js';
import type { Benchmarks } from '../market/benchmarks.js';
import { type MarketInstance, marketObservable, type Outcome } from '../market/instance.js';
import { randomStream, type SavableRandom, type Seed } from '../random.js';

/** An effect of adjudicating one round, for one firm (the trace and payoffs read these). */
export type InstitutionEffect =
  | {
      kind: 'transition';
      firm: number | null;
      id: string;
      from: string;
      to: string;
      rule: string | null;
      restorative: boolean;
    }
  | {
      kind: 'blocked';
      firm: number | null;
      id: string;
      from: string;
      to: string;
      reason: 'streak' | 'priority';
    }
  | {
      kind: 'sanction';
      firm: number;
      state: string;
      sanction: 'fine' | 'credit';
      timing: 'entry' | 'each_round';
      amount: number;
    }
  | {
      /** A sanction whose amount is not a finite number: not applied, and recorded. */
      kind: 'sanction_error';
      firm: number;
      state: string;
      sanction: 'fine' | 'credit';
      timing: 'entry' | 'each_round';
      amount: NonFiniteAmount;
    }
  | { kind: 'notice'; firm: number; state: string; text: string }
  | {
      /**
       * A counter changed (or a change whose amount is not a finite number: not made, and
       * recorded with `from` = `to`). `firm` is null for a market-scoped institution.
       */
      kind: 'counter';
      firm: number | null;
      counter: string;
      change: 'add' | 'reset' | 'decay';
      /** The amount read (null for `reset`). */
      amount: number | NonFiniteAmount | null;
      from: number;
      to: number;
      timing: 'entry' | 'each_round' | 'transition';
      state: string;
      transition?: string;
    };

/** How a non-finite amount is written in the trace (JSON has no Infinity or NaN). */
export type NonFiniteAmount = 'inf' | '-inf' | 'nan';

const nonFinite = (x: number): NonFiniteAmount =>
  Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';

/** Limits an institution puts on one firm's action this round. */
export interface ActionLimits {
  readonly state: string;
  readonly suspend: boolean;
  readonly cap?: Float64Array;
  readonly floor?: Float64Array;
}

/** What the institution may read of a round's talk: each firm's messages. */
export interface VisibleTalk {
  readonly texts: readonly (readonly string[])[];
}

/**
 * What an institution governs: a world's agents and shapes, its observables by name, its
 * benchmark values, and hypothetical rounds (for `wouldTrigger`). Markets and environments
 * each provide one (`marketGoverned`, runtime/environment/world.ts), so the institution
 * runtime knows neither.
 */
export interface Governed<O = unknown> {
  readonly dims: { readonly firms: number; readonly products: number };
  /** The agents, in order. */
  readonly agents: readonly string[];
  readonly products: readonly string[];
  /** An observable of a round's outcome (`round` and `messages` are the institution's own). */
  observe(outcome: O, name: string): Tensor | undefined;
  /** The outcome every agent playing `profile` would produce this round. */
  clear(profile: Float64Array, round: number): O;
  /** Benchmark values by `BENCHMARK.VALUE` (`nash.hhi`, `sustainable.harvest`). */
  readonly benchmarkValues: ReadonlyMap<string, Tensor>;
}

/** A market as an institution sees it. */
export function marketGoverned(market: MarketInstance, benchmarks: Benchmarks): Governed<Outcome> {
  const benchmarkValues = new Map<string, Tensor>();
  for (const [name, point] of Object.entries(benchmarks) as [string, Benchmarks['nash']][]) {
    for (const key of BENCHMARK_VALUE_NAMES)
      benchmarkValues.set(`${name}.${key}`, marketObservable(market, point.outcome, key) as Tensor);
  }
  return {
    dims: market.dims,
    agents: market.firms,
    products: market.products,
    observe: (outcome, name) => marketObservable(market, outcome, name),
    clear: (profile) => market.clear(profile),
    benchmarkValues,
  };
}

/**
 * The observables of one round, as tensors made when read (a round's values are read by a
 * few expressions at most, so a table of all of them would be mostly wasted).
 */
export class RoundObservables {
  constructor(
    private readonly world: Governed,
    readonly outcome: unknown,
    readonly round: number,
    readonly talk?: VisibleTalk,
  ) {}

  get(name: string): Tensor | undefined {
    switch (name) {
      case 'round':
        return scalarTensor(this.round);
      case 'messages': {
        const sent = new Float64Array(this.world.dims.firms);
        const talk = this.talk;
        if (talk) for (let i = 0; i < sent.length; i++) sent[i] = talk.texts[i]?.length ?? 0;
        return { axes: ['firm'], data: sent };
      }
      default:
        return this.world.observe(this.outcome, name);
    }
  }
}

/**
 * The last rounds of a growing sequence: `at(i)` answers for the newest `keep` items at
 * least (older ones may be forgotten), with `i` counted from the first item ever pushed.
 */
class Recent<T> {
  private items: T[] = [];
  private dropped = 0;

  constructor(private readonly keep: number) {}

  get length(): number {
    return this.dropped + this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    // Forget in chunks, so pushing stays O(1) amortised.
    if (this.items.length >= 2 * this.keep + 64) {
      const cut = this.items.length - this.keep;
      this.items.splice(0, cut);
      this.dropped += cut;
    }
  }

  at(index: number): T | undefined {
    return index >= this.dropped ? this.items[index - this.dropped] : undefined;
  }

  /** What it holds, each item as `as` gives it (for a checkpoint). */
  save<S>(as: (item: T) => S): SavedRecent<S> {
    // The newest `keep` only: those older may be forgotten any time.
    const cut = Math.max(0, this.items.length - this.keep);
    return { items: this.items.slice(cut).map(as), dropped: this.dropped + cut };
  }

  /** Holds what `save` gave, each item made again by `of`. */
  restore<S>(saved: SavedRecent<S>, of: (item: S) => T): void {
    this.items = saved.items.map(of);
    this.dropped = saved.dropped;
  }
}

interface SavedRecent<S> {
  readonly items: readonly S[];
  readonly dropped: number;
}

/**
 * An institution's state between rounds, as plain data a checkpoint stores
 * (docs/checkpoints.md): each machine's persisted XState snapshot, noise stream, quiet
 * rounds and counters, and the rounds and monitor values it keeps.
 */
export interface InstitutionState {
  readonly machines: readonly {
    readonly snapshot: unknown;
    readonly noise: number[][];
    readonly idle: number;
    readonly idleRound: number;
    readonly counters: Float64Array;
  }[];
  readonly observed: SavedRecent<{
    readonly outcome: unknown;
    readonly round: number;
    readonly talk?: VisibleTalk;
  }>;
  readonly monitors: SavedRecent<RoundMonitors>;
}

/**
 * Monitor values of one round: for each monitor (declaration order), one value per machine
 * (machine order), or a single value every machine shares, or, for a single-valued monitor
 * evaluated for every firm at once, one number per machine.
 */
type RoundMonitors = ((Tensor | undefined)[] | Float64Array)[];

/** An agent that said nothing (shared: never written). */
const NO_TEXT: readonly string[] = [];

/** The slot of a per-firm monitor not yet evaluated this round (replaced, never written). */
const PER_FIRM_PENDING = new Float64Array(0);

/** A monitor's value for a machine, from a round's record. */
const valueFor = (
  record: RoundMonitors | undefined,
  monitor: number,
  machine: number,
): Tensor | undefined => {
  const values = record?.[monitor];
  if (values instanceof Float64Array) {
    const x = values[machine];
    return x === undefined ? undefined : scalarTensor(x);
  }
  return values?.[values.length === 1 ? 0 : machine];
};

/** A single-valued monitor's value for a machine, from a round's record (NaN: none). */
const numberFor = (record: RoundMonitors | undefined, monitor: number, machine: number): number => {
  const values = record?.[monitor];
  if (values instanceof Float64Array) return values[machine] ?? Number.NaN;
  return values?.[values.length === 1 ? 0 : machine]?.data[0] ?? Number.NaN;
};

/** What the runtime knows of each state to step it quickly. */
interface StateInfo {
  readonly state: IrState;
  /** Whether a fine, credit, counter change or notice is due every round spent here (such rounds are never quiet). */
  readonly eachRound: boolean;
  readonly transitions: readonly {
    readonly id: string;
    readonly target: string;
    /** Guards are single values (the checker sees to it). */
    readonly condition?: CompiledScalar;
    /** Consecutive rounds it must hold, with parameters bound. */
    readonly rounds: number;
    readonly ir: IrState['transitions'][number];
  }[];
  readonly cap?: CompiledExpression;
  readonly floor?: CompiledExpression;
}

interface Machine {
  /** Position in the machine list (firm order for per-firm scope). */
  readonly index: number;
  readonly firm: number | null;
  /** A live actor: `send` is a synchronous step, much cheaper than a pure `transition()`. */
  readonly actor: Actor<InstitutionMachine>;
  /** The effects (sanction and notice actions) of the last step, in order. */
  readonly effects: { type: string; params: unknown }[];
  readonly noise: SavableRandom;
  /** This machine's evaluation environment, made once and reused every round. */
  readonly env: MachineEnvironment;
  /** Quiet rounds (see `QuietEvent`) not yet sent to the actor, the last being `idleRound`. */
  idle: number;
  idleRound: number;
  /** The state the actor is in, read from its snapshot after every step. */
  state: StateInfo | undefined;
  /** The machine's counters, in declaration order. */
  readonly counters: Float64Array;
}

/** An evaluation environment whose round can be switched to a hypothetical one for `wouldTrigger`. */
interface MachineEnvironment extends EvaluationEnvironment {
  /** Observables of a hypothetical round after the last one adjudicated. */
  hypothetical: RoundObservables | undefined;
  /** The monitor values of the round being evaluated, while they are filled in. */
  current: RoundMonitors | undefined;
  /** Whether the machine has taken this round's step (while its effects are worked out). */
  stepped: boolean;
}

/**
 * An institution at run time: its compiled machines (one per firm, or one for the
 * market), its monitors evaluated each round from the market's outcomes (with the
 * declared detection noise), and the effects each round's transitions produce.
 *
 * Rounds in which none of a machine's conditions hold and nothing comes due are "quiet":
 * they are counted and sent to the machine as one `quiet` event before its next eventful
 * round (or at `settle`), which has the same effect as sending each of them.
 */
export class InstitutionRuntime {
  readonly machine: InstitutionMachine;
  private readonly machines: Machine[];
  private readonly params: Map<string, Tensor>;
  private readonly monitorCode: {
    name: string;
    code: CompiledExpression;
    shared: boolean;
    /** Evaluated for every firm at once (per-firm scope; see `compilePerFirm`). */
    perFirm?: CompiledPerFirm;
    detection?: number;
    falsePositive?: number;
  }[];
  private readonly monitorIndex: Map<string, number>;
  /** The monitors evaluated for every firm at once each round (see `compilePerFirm`). */
  readonly evaluatedPerFirm: ReadonlySet<string>;
  /** Whether some monitor is evaluated machine by machine (else a round needs none of that). */
  private readonly machineByMachine: boolean;
  /** Whether each transition of the state being adjudicated held (reused every round). */
  private readonly held: boolean[] = [];
  private readonly sanctionCode = new Map<string, CompiledExpression>();
  /** Counter change amounts by `STATE#INDEX` or `TRANSITION#INDEX` (see `CountParams`). */
  private readonly changeCode = new Map<string, CompiledScalar>();
  private readonly counterIndex: Map<string, number>;
  private readonly counterInitial: Float64Array;
  /** Live notices by `state#index`: their parts, values compiled. */
  private readonly noticeCode = new Map<
    string,
    readonly (
      | { readonly text: string }
      | { readonly code: CompiledExpression; readonly bool: boolean }
    )[]
  >();
  private readonly states: Map<string, StateInfo>;
  /** Observables of each completed round (index = round − 1). */
  private readonly observed: Recent<RoundObservables>;
  /** Monitor values of each completed round (index = round − 1), as the institution saw them. */
  private readonly monitorHistory: Recent<RoundMonitors>;
  private readonly benchmarkTensors: Map<string, Tensor>;
  private readonly firmIndex: Map<string, number>;
  private readonly productIndex: Map<string, number>;
  /** The world governed (a market or an environment). */
  private readonly market: Governed;
  /** Message filters, compiled, read in an environment whose talk is one message. */
  private readonly filterCode: { readonly filter: IrFilter; readonly code: CompiledExpression }[];
  private readonly messageEnv: EvaluationEnvironment;
  /** The message a filter is reading: each agent's talk, empty but the sender's one text. */
  private readonly message: (readonly string[])[];

  constructor(
    readonly ir: IrInstitution,
    world: MarketInstance | Governed,
    benchmarks: Benchmarks | undefined,
    overrides: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
    seed: Seed,
    options: {
      keepAllRounds?: boolean;
      /** Evaluate monitors that can be for every firm at once (default); false: machine by machine. */
      perFirm?: boolean;
      /** Specialise closures to this market's shapes (default); false: the general closures. */
      specialise?: boolean;
      /**
       * A state `save` gave, of this institution (perhaps with other parameter values): this
       * runtime goes on from it — each machine's state, streaks, counters, quiet rounds and
       * noise stream, and the rounds observed (a checkpoint's, or a fork's `--param`).
       */
      restore?: InstitutionState;
    } = {},
  ) {
    const market: Governed =
      'competition' in world ? marketGoverned(world, benchmarks as Benchmarks) : world;
    this.market = market;
    const values = paramValues(ir.params, overrides);
    this.params = new Map(
      ir.params.map((p) => {
        const t = paramTensor(p.type, values.get(p.name) ?? p.value, market.dims);
        return [p.name, typeof t === 'string' ? scalarTensor(Number.NaN) : t];
      }),
    );
    this.firmIndex = new Map(market.agents.map((f, i) => [f, i]));
    this.productIndex = new Map(market.products.map((p, j) => [p, j]));
    this.machine = createInstitutionMachine(ir, values);
    // Only as many past rounds are kept as any expression of the institution can read.
    const expressions: IrExpr[] = [
      ...ir.monitors.map((m) => m.expr),
      ...ir.states.flatMap((s) => [
        ...s.transitions.flatMap((t) => (t.condition ? [t.condition] : [])),
        ...s.sanctions.map((x) => x.amount),
        ...(s.changes ?? []).flatMap((c) => (c.amount ? [c.amount] : [])),
        ...s.transitions.flatMap((t) =>
          (t.changes ?? []).flatMap((c) => (c.amount ? [c.amount] : [])),
        ),
        ...(s.cap ? [s.cap] : []),
        ...(s.floor ? [s.floor] : []),
      ]),
    ];
    const keep = options.keepAllRounds
      ? Number.POSITIVE_INFINITY
      : expressions.reduce((m, e) => Math.max(m, lookback(e, values)), 0) + 2;
    this.observed = new Recent(keep);
    this.monitorHistory = new Recent(keep);
    this.benchmarkTensors = new Map(market.benchmarkValues);
    // Closures memoise what is fixed for the run and are specialised to this market's
    // shapes: a monitor's value is copied before it is kept (see `CompileOptions.dims`).
    const runConstants = {
      memoiseRunConstants: true,
      strings: (name: string) => {
        const value = values.get(name);
        return typeof value === 'string' ? value : undefined;
      },
      ...(options.specialise === false ? {} : { dims: market.dims }),
    } as const;
    const staticEnv = this.environment(null);
    this.filterCode = (ir.filters ?? []).map((filter) => ({
      filter,
      code: compileExpression(filter.condition, runConstants),
    }));
    this.message = market.agents.map(() => NO_TEXT);
    this.messageEnv = Object.assign(this.environment(null), {
      talk: (ago: number) => (ago === 0 ? this.message : undefined),
    });
    const constant = (e: Parameters<typeof compileExpression>[0] | undefined) =>
      e ? compileExpression(e, runConstants)(staticEnv).data[0] : undefined;
    const counters = ir.counters ?? [];
    this.counterIndex = new Map(counters.map((c, i) => [c.name, i]));
    this.counterInitial = Float64Array.from(counters, (c) => constant(c.initial) ?? 0);
    // A monitor that reads neither `self`, nor the machine's history, nor a noisy or
    // per-machine monitor has the same value for every machine: computed once per round.
    // A per-machine monitor of a per-firm institution that is a single value without noise
    // is usually evaluated for all firms at once (one vector pass instead of one per firm).
    const perMachine = new Set<string>();
    const perFirmMonitors = new Set<string>();
    this.monitorCode = ir.monitors.map((m) => {
      const noisy = m.detection !== undefined || m.falsePositive !== undefined;
      if (noisy || readsMachine(m.expr, perMachine)) perMachine.add(m.name);
      const perFirm =
        options.perFirm !== false && ir.scope === 'firm' && !noisy && perMachine.has(m.name)
          ? compilePerFirm(m.expr, perMachine, perFirmMonitors, runConstants)
          : undefined;
      if (perFirm) perFirmMonitors.add(m.name);
      return {
        name: m.name,
        code: compileExpression(m.expr, runConstants),
        shared: !perMachine.has(m.name),
        ...(perFirm ? { perFirm } : {}),
        ...(m.detection ? { detection: constant(m.detection) ?? 1 } : {}),
        ...(m.falsePositive ? { falsePositive: constant(m.falsePositive) ?? 0 } : {}),
      };
    });
    this.monitorIndex = new Map(this.monitorCode.map((m, i) => [m.name, i]));
    this.evaluatedPerFirm = perFirmMonitors;
    this.states = new Map(
      ir.states.map((s) => {
        s.sanctions.forEach((x, i) => {
          this.sanctionCode.set(`${s.name}#${i}`, compileExpression(x.amount, runConstants));
        });
        (s.changes ?? []).forEach((c, i) => {
          if (c.amount)
            this.changeCode.set(`${s.name}#${i}`, compileScalar(c.amount, runConstants));
        });
        for (const t of s.transitions)
          (t.changes ?? []).forEach((c, i) => {
            if (c.amount)
              this.changeCode.set(`${t.id}#${i}`, compileScalar(c.amount, runConstants));
          });
        for (const live of s.liveNotices ?? [])
          this.noticeCode.set(
            `${s.name}#${live.index}`,
            live.parts.map((part) =>
              'expr' in part
                ? {
                    code: compileExpression(part.expr, runConstants),
                    bool: part.expr.type.base === 'bool',
                  }
                : part,
            ),
          );
        const info: StateInfo = {
          state: s,
          eachRound:
            s.sanctions.some((x) => x.timing === 'each_round') ||
            (s.changes ?? []).some((c) => c.timing === 'each_round') ||
            (s.eachRoundNotices ?? []).length > 0,
          transitions: s.transitions.map((t) => ({
            id: t.id,
            target: t.target,
            ...(t.condition ? { condition: compileScalar(t.condition, runConstants) } : {}),
            rounds: constantValue(t.rounds, values) ?? 1,
            ir: t,
          })),
          ...(s.cap ? { cap: compileExpression(s.cap, runConstants) } : {}),
          ...(s.floor ? { floor: compileExpression(s.floor, runConstants) } : {}),
        };
        return [s.name, info];
      }),
    );
    const firms = ir.scope === 'firm' ? market.agents.map((_, i) => i) : [null];
    this.machines = firms.map((firm, index) => {
      const effects: { type: string; params: unknown }[] = [];
      // The machine's effects are collected as they are executed by the actor.
      const machine = this.machine.provide({
        actions: {
          'mase.sanction': (_args, params: SanctionParams) => {
            effects.push({ type: 'mase.sanction', params });
          },
          'mase.notice': (_args, params: NoticeParams) => {
            effects.push({ type: 'mase.notice', params });
          },
          'mase.count': (_args, params: CountParams) => {
            effects.push({ type: 'mase.count', params });
          },
        },
      });
      const saved = options.restore?.machines[index];
      if (options.restore && !saved) throw new Error('the state of another institution');
      const actor = createActor(
        machine,
        saved ? { snapshot: saved.snapshot as Snapshot<unknown> } : undefined,
      ).start();
      effects.length = 0;
      const noise = randomStream(
        seed,
        `monitor-noise:${firm === null ? 'market' : market.agents[firm]}`,
      );
      if (saved) noise.restore(saved.noise);
      const record: Machine = {
        index,
        firm,
        actor,
        effects,
        noise,
        env: undefined as unknown as MachineEnvironment,
        idle: saved?.idle ?? 0,
        idleRound: saved?.idleRound ?? 0,
        state: this.states.get(String(actor.getSnapshot().value)),
        counters: Float64Array.from(saved?.counters ?? this.counterInitial),
      };
      (record as { env: MachineEnvironment }).env = this.environment(record);
      return record;
    });
    if (options.restore) {
      this.observed.restore(
        options.restore.observed,
        (o) => new RoundObservables(market, o.outcome, o.round, o.talk),
      );
      this.monitorHistory.restore(options.restore.monitors, (m) => m);
    }
    // One machine evaluates its shared monitors itself (see `evaluateCommonMonitors`).
    this.machineByMachine =
      this.machines.length === 1 || this.monitorCode.some((m) => !m.shared && !m.perFirm);
  }

  /** The machine governing a firm: its own (per-firm scope; machines are in firm order) or the market's. */
  private machineOf(firm: number): Machine | undefined {
    return this.machines.length === 1 && this.machines[0]?.firm === null
      ? this.machines[0]
      : this.machines[firm];
  }

  /** The state each firm is in now (the market's state for every firm in market scope). */
  stateOf(firm: number): string | undefined {
    if (this.ir.states.length === 0) return undefined;
    const m = this.machineOf(firm);
    return m?.state?.state.name;
  }

  /**
   * The environment expressions of one machine are evaluated in (null: no machine, for
   * constants). It reads the round being adjudicated as the current one, or a hypothetical
   * round while `hypothetical` is set, and the machine's context as it is when read.
   */
  private environment(machine: Machine | null): MachineEnvironment {
    const nan = scalarTensor(Number.NaN);
    const rounds = () => this.observed.length + (env.hypothetical ? 1 : 0);
    const context = () => machine?.actor.getSnapshot().context as InstitutionContext | undefined;
    const env: MachineEnvironment = {
      hypothetical: undefined,
      current: undefined,
      stepped: false,
      dims: this.market.dims,
      param: (name) => this.params.get(name) ?? nan,
      firmIndex: (name) => this.firmIndex.get(name) ?? -1,
      productIndex: (name) => this.productIndex.get(name) ?? -1,
      ...(machine && machine.firm !== null ? { self: machine.firm } : {}),
      get roundsAvailable() {
        return rounds();
      },
      observable: (name, ago) => {
        const h = env.hypothetical;
        if (h && ago === 0) return h.get(name) ?? nan;
        return this.observed.at(rounds() - 1 - ago)?.get(name) ?? nan;
      },
      benchmark: (b, name) => this.benchmarkTensors.get(`${b}.${name}`) ?? nan,
      // A hypothetical round has no talk of its own.
      talk: (ago) =>
        env.hypothetical && ago === 0
          ? undefined
          : this.observed.at(rounds() - 1 - ago)?.talk?.texts,
      monitor: (name, ago) => {
        const index = this.monitorIndex.get(name);
        if (index === undefined) return nan;
        const record =
          ago === 0 && env.current ? env.current : this.monitorHistory.at(rounds() - 1 - ago);
        return valueFor(record, index, machine?.index ?? 0) ?? nan;
      },
      monitorValue: (name, ago) => {
        const index = this.monitorIndex.get(name);
        if (index === undefined) return Number.NaN;
        const record =
          ago === 0 && env.current ? env.current : this.monitorHistory.at(rounds() - 1 - ago);
        return numberFor(record, index, machine?.index ?? 0);
      },
      counter: (name) => {
        const i = this.counterIndex.get(name);
        return machine && i !== undefined ? (machine.counters[i] ?? Number.NaN) : Number.NaN;
      },
      history: {
        visits: (state) => context()?.visits[state] ?? 0,
        roundsSince: (state) => {
          const entered = context()?.lastEntered[state];
          return entered === undefined ? Number.POSITIVE_INFINITY : rounds() - entered;
        },
        // Quiet rounds not yet sent to the machine count as spent in its state. Before the
        // step (guards, monitors, limits) the round being played counts too; after it
        // (amounts, notices, counter changes) the machine has counted it already.
        roundsInState: () =>
          (context()?.roundsInState ?? 0) + (machine?.idle ?? 0) + (env.stepped ? 0 : 1),
      },
    };
    return env;
  }

  /** Sends a machine's pending quiet rounds. */
  private sendIdle(machine: Machine): void {
    if (machine.idle === 0) return;
    const before = machine.actor.getSnapshot().value;
    machine.effects.length = 0;
    machine.actor.send({ type: 'quiet', round: machine.idleRound, rounds: machine.idle });
    machine.idle = 0;
    if (machine.actor.getSnapshot().value !== before || machine.effects.length > 0)
      throw new Error(`internal: quiet rounds changed the machine in state ${String(before)}`);
  }

  /** Brings every machine up to date with the rounds adjudicated so far. */
  settle(): void {
    for (const machine of this.machines) this.sendIdle(machine);
  }

  /**
   * Its state between rounds, for a checkpoint (`options.restore` goes on from it). Quiet
   * rounds not yet sent to a machine stay counted, not sent: saving changes nothing.
   */
  save(): InstitutionState {
    return {
      machines: this.machines.map((m) => ({
        snapshot: m.actor.getPersistedSnapshot(),
        noise: m.noise.save(),
        idle: m.idle,
        idleRound: m.idleRound,
        counters: m.counters,
      })),
      observed: this.observed.save((o) => ({
        outcome: o.outcome,
        round: o.round,
        ...(o.talk ? { talk: o.talk } : {}),
      })),
      monitors: this.monitorHistory.save((m) => m),
    };
  }

  /** An empty record of a round's monitor values (`perFirm`: leave room for those vectors). */
  private emptyRecord(perFirm: boolean): RoundMonitors {
    const M = this.machines.length;
    const code = this.monitorCode;
    const record: RoundMonitors = new Array(code.length);
    for (let i = 0; i < code.length; i++) {
      const m = code[i] as (typeof code)[number];
      record[i] =
        perFirm && m.perFirm
          ? PER_FIRM_PENDING
          : m.shared && M > 1
            ? [undefined]
            : new Array<Tensor | undefined>(M).fill(undefined);
    }
    return record;
  }

  /**
   * One machine's monitors for the current round, in declaration order, into its slots of
   * `record` (values already there, shared or per firm, are kept). Noisy monitors draw from
   * the machine's stream when `noisy`.
   */
  private evaluateMonitors(machine: Machine, record: RoundMonitors, noisy: boolean): void {
    const env = machine.env;
    env.current = record;
    for (let i = 0; i < this.monitorCode.length; i++) {
      const out = record[i];
      if (out instanceof Float64Array || out === undefined) continue;
      const slot = out.length === 1 ? 0 : machine.index;
      if (out[slot] !== undefined) continue;
      const m = this.monitorCode[i] as (typeof this.monitorCode)[number];
      // The closure may reuse its tensor: what is recorded is a copy (or the noisy version).
      let value = m.code(env);
      if (noisy && (m.detection !== undefined || m.falsePositive !== undefined)) {
        // The institution sees a noisy version of a true/false monitor: each element is
        // detected with probability `detection` and falsely raised with `false_positive`.
        const data = new Float64Array(value.data.length);
        for (let k = 0; k < data.length; k++) {
          const draw = machine.noise.next();
          data[k] = truthy(value.data[k] ?? 0)
            ? draw < (m.detection ?? 1)
              ? 1
              : 0
            : draw < (m.falsePositive ?? 0)
              ? 1
              : 0;
        }
        value = { axes: value.axes, data };
      } else value = copyTensor(value);
      out[slot] = value;
    }
    env.current = undefined;
  }

  /**
   * The monitors of the round being adjudicated that every machine shares, then those
   * evaluated for every firm at once, into `record` (with the first machine's environment:
   * neither reads the machine).
   */
  private evaluateCommonMonitors(record: RoundMonitors): void {
    const first = this.machines[0];
    if (!first) return;
    const env = first.env;
    env.current = record;
    const perFirm = (name: string) => {
      const values = record[this.monitorIndex.get(name) ?? -1];
      return values instanceof Float64Array ? values : new Float64Array(this.market.dims.firms);
    };
    for (let i = 0; i < this.monitorCode.length; i++) {
      const m = this.monitorCode[i] as (typeof this.monitorCode)[number];
      const out = record[i];
      if (out instanceof Float64Array) {
        if (m.perFirm) record[i] = m.perFirm(env, perFirm);
      } else if (out && out.length === 1 && this.machines.length > 1)
        out[0] = copyTensor(m.code(env));
    }
    env.current = undefined;
  }

  /** What this firm may do this round, from the state it is in (undefined: no limits). */
  limits(firm: number): ActionLimits | undefined {
    const machine = this.machineOf(firm);
    if (!machine) return undefined;
    const info = machine.state;
    if (!info || !(info.state.suspend || info.cap || info.floor)) return undefined;
    const env = machine.env;
    const perProduct = (c: CompiledExpression | undefined) => {
      if (!c) return undefined;
      const t = c(env);
      const P = this.market.dims.products;
      const out = new Float64Array(P);
      for (let j = 0; j < P; j++) {
        if (t.axes.length === 0) out[j] = t.data[0] ?? Number.NaN;
        else if (t.axes.length === 2) out[j] = t.data[firm * P + j] ?? Number.NaN;
        else out[j] = t.data[t.axes[0] === 'firm' ? firm : j] ?? Number.NaN;
      }
      return out;
    };
    const cap = perProduct(info.cap);
    const floor = perProduct(info.floor);
    return {
      state: info.state.name,
      suspend: info.state.suspend,
      ...(cap ? { cap } : {}),
      ...(floor ? { floor } : {}),
    };
  }

  /**
   * The first filter whose condition holds for a message from `firm` (undefined: none, or no
   * filters): the text measures read `text` as the sender's only message of the round, and a
   * value per agent is read for the sender (docs/language.md, Messages).
   */
  caughtBy(firm: number, text: string): IrFilter | undefined {
    if (this.filterCode.length === 0) return undefined;
    this.message[firm] = [text];
    try {
      for (const { filter, code } of this.filterCode) {
        const t = code(this.messageEnv);
        if (truthy((t.axes.length === 0 ? t.data[0] : t.data[firm]) ?? 0)) return filter;
      }
      return undefined;
    } finally {
      this.message[firm] = NO_TEXT;
    }
  }

  /**
   * Whether the public rules would find evidence against `firm` this round if every firm
   * played `profile`: any `when` condition of its current state holds (noise aside).
   */
  wouldTrigger(firm: number, profile: Float64Array, round: number): boolean {
    const machine = this.machineOf(firm);
    if (!machine) return false;
    const info = machine.state;
    if (!info) return false;
    const env = machine.env;
    const monitors = this.emptyRecord(false);
    env.hypothetical = new RoundObservables(this.market, this.market.clear(profile, round), round);
    try {
      this.evaluateMonitors(machine, monitors, false);
      env.current = monitors;
      return info.transitions.some(
        (t) => t.ir.kind === 'when' && t.condition !== undefined && truthy(t.condition(env)),
      );
    } finally {
      env.hypothetical = undefined;
      env.current = undefined;
    }
  }

  /**
   * The monitor values of a round for the trace: those of the market's machine or shared
   * by every firm's machine under `values`, the others one per firm under `by_firm`.
   */
  monitorValues(record: RoundMonitors): {
    values: Record<string, TensorJson>;
    by_firm: Record<string, TensorJson[]>;
  } {
    const values: Record<string, TensorJson> = {};
    const byFirm: Record<string, TensorJson[]> = {};
    const perFirm = this.machines[0]?.firm !== null && this.machines[0]?.firm !== undefined;
    this.monitorCode.forEach((m, i) => {
      const all = record[i] ?? [];
      if (all instanceof Float64Array)
        byFirm[m.name] = Array.from(all, (x) => (Number.isFinite(x) ? x : null) as number);
      else if (!perFirm || (m.shared && this.machines.length > 1))
        values[m.name] = all[0] ? tensorToJson(all[0], this.market) : null;
      else byFirm[m.name] = all.map((t) => (t ? tensorToJson(t, this.market) : null));
    });
    return { values, by_firm: byFirm };
  }

  /**
   * Makes one counter change of a machine, reading its amount now, and records it when the
   * value changed, or when the amount is not a finite number (the change is then not made).
   */
  private count(machine: Machine, p: CountParams, effects: InstitutionEffect[]): void {
    const i = this.counterIndex.get(p.counter);
    if (i === undefined) return;
    const from = machine.counters[i] as number;
    const code = this.changeCode.get(p.key);
    const amount = code ? code(machine.env) : Number.NaN;
    const where = {
      kind: 'counter' as const,
      firm: machine.firm,
      counter: p.counter,
      change: p.change,
      timing: p.timing,
      state: p.state,
      ...(p.transition ? { transition: p.transition } : {}),
    };
    if (p.change !== 'reset' && !Number.isFinite(amount)) {
      effects.push({ ...where, amount: nonFinite(amount), from, to: from });
      return;
    }
    const to = changedValue(p.change, from, amount, this.counterInitial[i] as number);
    machine.counters[i] = to;
    if (to !== from)
      effects.push({ ...where, amount: p.change === 'reset' ? null : amount, from, to });
  }

  /** Adjudicates a cleared round: monitors, transitions, sanctions and notices. */
  adjudicate(
    outcome: unknown,
    round: number,
    talk?: VisibleTalk,
    /** Firms whose evidence this round is disregarded (a fork's pardon): no `when` holds for them. */
    pardoned?: ReadonlySet<number>,
  ): { effects: InstitutionEffect[]; monitors: RoundMonitors | undefined } {
    this.observed.push(new RoundObservables(this.market, outcome, round, talk));
    // A stateless institution (none, a directive) has nothing to monitor or step.
    if (this.ir.states.length === 0 && this.ir.monitors.length === 0)
      return { effects: [], monitors: undefined };
    const effects: InstitutionEffect[] = [];
    const record = this.emptyRecord(true);
    this.monitorHistory.push(record);
    this.evaluateCommonMonitors(record);
    for (const machine of this.machines) {
      if (this.machineByMachine) this.evaluateMonitors(machine, record, true);
      const info = machine.state;
      if (!info) continue;
      // Guards read the history as it was before this round's transition.
      const env = machine.env;
      const context = machine.actor.getSnapshot().context as InstitutionContext;
      let fired: StateInfo['transitions'][number] | undefined;
      let anyHeld = false;
      const transitions = info.transitions;
      const held = this.held;
      const pardon = machine.firm !== null && pardoned?.has(machine.firm) === true;
      for (let k = 0; k < transitions.length; k++) {
        const t = transitions[k] as StateInfo['transitions'][number];
        held[k] = t.condition ? !pardon && truthy(t.condition(env)) : true;
        if (held[k] && t.condition) anyHeld = true;
        // The streak as the machine will see it, counting quiet rounds not yet sent.
        const streak =
          machine.idle === 0
            ? (context.streaks[t.id] ?? 0)
            : t.condition
              ? 0
              : (context.streaks[t.id] ?? 0) + machine.idle;
        // The machine fires the first transition in priority order that held long enough.
        if (!fired && held[k] && streak + 1 >= t.rounds) fired = t;
      }
      const from = info.state.name;
      if (!fired && !anyHeld && !info.eachRound) {
        machine.idle++;
        machine.idleRound = round;
        continue;
      }
      this.sendIdle(machine);
      machine.effects.length = 0;
      const holds: Record<string, boolean> = {};
      transitions.forEach((t, k) => {
        holds[t.id] = held[k] as boolean;
      });
      machine.actor.send({ type: 'round', round, holds });
      const to = String(machine.actor.getSnapshot().value);
      machine.state = this.states.get(to);
      if ((fired?.target ?? from) !== to) {
        throw new Error(
          `internal: machine went ${from} -> ${to}, expected ${fired?.target ?? from}`,
        );
      }
      if (fired) {
        effects.push({
          kind: 'transition',
          firm: machine.firm,
          id: fired.id,
          from,
          to,
          rule: fired.ir.rule ?? null,
          restorative: fired.ir.restorative,
        });
      }
      for (const t of info.transitions) {
        if (holds[t.id] && t !== fired && t.condition) {
          effects.push({
            kind: 'blocked',
            firm: machine.firm,
            id: t.id,
            from,
            to: t.target,
            reason: fired ? 'priority' : 'streak',
          });
        }
      }
      env.stepped = true;
      // Counters change first, in the order the machine gives (the old state's each-round
      // changes, the transition's, the new state's entry changes); then amounts and notices
      // read the history and counters after the transition.
      for (const action of machine.effects)
        if (action.type === 'mase.count')
          this.count(machine, action.params as CountParams, effects);
      const firms = machine.firm === null ? this.market.agents.map((_, i) => i) : [machine.firm];
      for (const action of machine.effects) {
        if (action.type === 'mase.sanction') {
          const p = action.params as SanctionParams;
          const code = this.sanctionCode.get(`${p.state}#${p.index}`);
          if (!code) continue;
          const amount = code(env);
          for (const firm of firms) {
            const value =
              amount.axes.length === 0 ? (amount.data[0] ?? 0) : (amount.data[firm] ?? 0);
            const sanction = { firm, state: p.state, sanction: p.sanction, timing: p.timing };
            effects.push(
              Number.isFinite(value)
                ? { kind: 'sanction', ...sanction, amount: value }
                : { kind: 'sanction_error', ...sanction, amount: nonFinite(value) },
            );
          }
        } else if (action.type === 'mase.notice') {
          const p = action.params as NoticeParams;
          const live = this.noticeCode.get(`${p.state}#${p.index}`);
          // A live notice's values are read now, after the transition, as amounts are.
          const values = live?.map((part) => ('code' in part ? part.code(env) : undefined));
          for (const firm of firms) {
            const text = live
              ? live
                  .map((part, k) => {
                    if (!('code' in part)) return part.text;
                    const t = values?.[k] as Tensor;
                    const x =
                      t.axes.length === 0
                        ? (t.data[0] ?? Number.NaN)
                        : (t.data[firm] ?? Number.NaN);
                    return noticeValue(x, part.bool);
                  })
                  .join('')
              : p.text;
            effects.push({ kind: 'notice', firm, state: p.state, text });
          }
        }
      }
      env.stepped = false;
    }
    return { effects, monitors: record };
  }
}

/** The value a counter change leaves: `add` C + E, `reset` the initial value, `decay` C × (1 − E). */
export function changedValue(
  change: 'add' | 'reset' | 'decay',
  value: number,
  amount: number,
  initial: number,
): number {
  if (change === 'reset') return initial;
  return change === 'add' ? value + amount : value * (1 - amount);
}

/**
 * A value written into a notice: true/false as `yes`/`no`, a number rounded to 2 decimals
 * (a fine of 123.456 reads `123.46`), and `n/a` for a value that is not a finite number.
 */
export function noticeValue(x: number, bool: boolean): string {
  if (bool) return truthy(x) ? 'yes' : 'no';
  if (!Number.isFinite(x)) return 'n/a';
  const rounded = Math.round(x * 100) / 100;
  return String(rounded === 0 ? 0 : rounded);
}

export type TensorJson = number | boolean | null | number[] | number[][];

export function tensorToJson(
  t: Tensor,
  market: { readonly dims: { readonly firms: number; readonly products: number } },
): TensorJson {
  const clean = (x: number) => (Number.isFinite(x) ? x : null) as number;
  if (t.axes.length === 0)
    return Number.isNaN(t.data[0] ?? Number.NaN) ? null : clean(t.data[0] ?? 0);
  if (t.axes.length === 1) return Array.from(t.data, clean);
  const rows: number[][] = [];
  for (let i = 0; i < market.dims.firms; i++)
    rows.push(
      Array.from(t.data.subarray(i * market.dims.products, (i + 1) * market.dims.products), clean),
    );
  return rows;
}
