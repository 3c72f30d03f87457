import { type Actor, createActor } from 'xstate';
import {
  createInstitutionMachine,
  type InstitutionContext,
  type InstitutionMachine,
  type NoticeParams,
  type SanctionParams,
} from '../../compiler/backends/xstate.js';
import { constantValue } from '../../compiler/constant.js';
import {
  type CompiledExpression,
  compileExpression,
  type EvaluationEnvironment,
  paramTensor,
} from '../../compiler/evaluate.js';
import { paramValues } from '../../compiler/instantiate.js';
import type { IrExpr, IrInstitution, IrState, ParamValue } from '../../compiler/ir.js';
import { scalarTensor, type Tensor, truthy } from '../../compiler/tensor.js';
import type { Random } from '../agents/agent.js';
import type { Benchmarks } from '../market/benchmarks.js';
import type { MarketInstance, Outcome } from '../market/instance.js';
import { randomStream } from '../random.js';

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
  | { kind: 'notice'; firm: number; state: string; text: string };

/** Limits an institution puts on one firm's action this round. */
export interface ActionLimits {
  readonly state: string;
  readonly suspend: boolean;
  readonly cap?: Float64Array;
  readonly floor?: Float64Array;
}

/** Observable values of one past round, as tensors. */
function observablesOf(
  market: MarketInstance,
  outcome: Outcome,
  round: number,
): Map<string, Tensor> {
  const { firms, products } = market.dims;
  const fp = (data: Float64Array): Tensor => ({ axes: ['firm', 'product'], data });
  return new Map<string, Tensor>([
    ['quantity', fp(outcome.quantity)],
    [
      'price',
      market.competition === 'quantity'
        ? { axes: ['product'], data: outcome.price }
        : fp(outcome.price),
    ],
    ['profit', { axes: ['firm'], data: outcome.profit }],
    ['revenue', { axes: ['firm'], data: outcome.revenue }],
    ['unit_cost', fp(market.unitCost)],
    ['share', fp(outcome.share)],
    ['total', { axes: ['product'], data: outcome.total }],
    ['hhi', { axes: ['product'], data: outcome.hhi }],
    ['round', scalarTensor(round)],
    ['n_firms', scalarTensor(firms)],
    ['n_products', scalarTensor(products)],
  ]);
}

interface Machine {
  readonly firm: number | null;
  /** A live actor: `send` is a synchronous step, much cheaper than a pure `transition()`. */
  readonly actor: Actor<InstitutionMachine>;
  /** The effects (sanction and notice actions) of the last step, in order. */
  readonly effects: { type: string; params: unknown }[];
  readonly snapshot: ReturnType<Actor<InstitutionMachine>['getSnapshot']>;
  readonly noise: Random;
  /** Monitor values per completed round (index = round − 1), as the institution saw them. */
  readonly seen: Map<string, Tensor>[];
}

/**
 * An institution at run time: its compiled machines (one per firm, or one for the
 * market), its monitors evaluated each round from the market's outcomes (with the
 * declared detection noise), and the effects each round's transitions produce.
 */
export class InstitutionRuntime {
  readonly machine: InstitutionMachine;
  private readonly machines: Machine[];
  private readonly params: Map<string, Tensor>;
  private readonly monitorCode: {
    name: string;
    code: CompiledExpression;
    shared: boolean;
    detection?: number;
    falsePositive?: number;
  }[];
  private readonly conditionCode = new Map<string, CompiledExpression>();
  private readonly sanctionCode = new Map<string, CompiledExpression>();
  private readonly limitCode = new Map<
    string,
    { cap?: CompiledExpression; floor?: CompiledExpression }
  >();
  private readonly states: Map<string, IrState>;
  private readonly observed: Map<string, Tensor>[] = [];
  private readonly benchmarkTensors: Map<string, Tensor>;
  /** Consecutive rounds each transition's condition must hold, with parameters bound. */
  private readonly rounds = new Map<string, number>();

  constructor(
    readonly ir: IrInstitution,
    private readonly market: MarketInstance,
    benchmarks: Benchmarks,
    overrides: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
    seed: number,
  ) {
    const values = paramValues(ir.params, overrides);
    this.params = new Map(
      ir.params.map((p) => {
        const t = paramTensor(p.type, values.get(p.name) ?? p.value, market.dims);
        return [p.name, typeof t === 'string' ? scalarTensor(Number.NaN) : t];
      }),
    );
    this.machine = createInstitutionMachine(ir, values);
    this.states = new Map(ir.states.map((s) => [s.name, s]));
    const constant = (e: Parameters<typeof compileExpression>[0] | undefined) =>
      e ? compileExpression(e)(this.environment(null, 0, undefined)).data[0] : undefined;
    // A monitor that reads neither `self`, nor the machine's history, nor a noisy or
    // per-machine monitor has the same value for every machine: computed once per round.
    const perMachine = new Set<string>();
    this.monitorCode = ir.monitors.map((m) => {
      const noisy = m.detection !== undefined || m.falsePositive !== undefined;
      if (noisy || readsMachine(m.expr, perMachine)) perMachine.add(m.name);
      return {
        name: m.name,
        code: compileExpression(m.expr),
        shared: !perMachine.has(m.name),
        ...(m.detection ? { detection: constant(m.detection) ?? 1 } : {}),
        ...(m.falsePositive ? { falsePositive: constant(m.falsePositive) ?? 0 } : {}),
      };
    });
    for (const s of ir.states) {
      for (const t of s.transitions) {
        if (t.condition) this.conditionCode.set(t.id, compileExpression(t.condition));
        this.rounds.set(t.id, constantValue(t.rounds, values) ?? 1);
      }
      s.sanctions.forEach((x, i) => {
        this.sanctionCode.set(`${s.name}#${i}`, compileExpression(x.amount));
      });
      this.limitCode.set(s.name, {
        ...(s.cap ? { cap: compileExpression(s.cap) } : {}),
        ...(s.floor ? { floor: compileExpression(s.floor) } : {}),
      });
    }
    this.benchmarkTensors = new Map();
    for (const [name, point] of Object.entries(benchmarks) as [string, Benchmarks['nash']][]) {
      const o = observablesOf(market, point.outcome, 0);
      for (const key of ['quantity', 'price', 'profit', 'total', 'hhi'])
        this.benchmarkTensors.set(`${name}.${key}`, o.get(key) as Tensor);
    }
    const firms = ir.scope === 'firm' ? market.firms.map((_, i) => i) : [null];
    this.machines = firms.map((firm) => {
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
        },
      });
      const actor = createActor(machine).start();
      effects.length = 0;
      return {
        firm,
        actor,
        effects,
        get snapshot() {
          return actor.getSnapshot();
        },
        noise: randomStream(seed, `monitor-noise:${firm === null ? 'market' : market.firms[firm]}`),
        seen: [],
      };
    });
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
    return m ? String(m.snapshot.value) : undefined;
  }

  private environment(
    machine: Machine | null,
    roundsAgoBase: number,
    hypothetical: Map<string, Tensor> | undefined,
  ): EvaluationEnvironment {
    const nan = scalarTensor(Number.NaN);
    const rounds = this.observed.length + (hypothetical ? 1 : 0);
    const at = (ago: number) =>
      hypothetical
        ? ago === 0
          ? hypothetical
          : this.observed[rounds - 1 - ago]
        : this.observed[rounds - 1 - ago];
    const context = machine?.snapshot.context as InstitutionContext | undefined;
    const round = rounds;
    return {
      dims: this.market.dims,
      param: (name) => this.params.get(name) ?? nan,
      firmIndex: (name) => this.market.firms.indexOf(name),
      productIndex: (name) => this.market.products.indexOf(name),
      ...(machine && machine.firm !== null ? { self: machine.firm } : {}),
      roundsAvailable: rounds,
      observable: (name, ago) => at(ago + roundsAgoBase)?.get(name) ?? nan,
      benchmark: (b, name) => this.benchmarkTensors.get(`${b}.${name}`) ?? nan,
      monitor: (name, ago) => {
        const index = rounds - 1 - ago;
        if (machine && index < machine.seen.length) return machine.seen[index]?.get(name) ?? nan;
        return this.pendingMonitors?.get(name) ?? nan;
      },
      history: {
        visits: (state) => context?.visits[state] ?? 0,
        roundsSince: (state) => {
          const entered = context?.lastEntered[state];
          return entered === undefined ? Number.POSITIVE_INFINITY : round - entered;
        },
        roundsInState: () => (context?.roundsInState ?? 0) + 1,
      },
    };
  }

  /** Monitors of the round being evaluated, filled in declaration order. */
  private pendingMonitors: Map<string, Tensor> | undefined;

  private evaluateMonitors(
    machine: Machine,
    hypothetical: Map<string, Tensor> | undefined,
    noisy: boolean,
    shared?: ReadonlyMap<string, Tensor>,
  ): Map<string, Tensor> {
    const values = new Map<string, Tensor>();
    this.pendingMonitors = values;
    const env = this.environment(machine, 0, hypothetical);
    for (const m of this.monitorCode) {
      const known = shared?.get(m.name);
      if (known) {
        values.set(m.name, known);
        continue;
      }
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
      }
      values.set(m.name, value);
    }
    this.pendingMonitors = undefined;
    return values;
  }

  /** This round's values of the monitors every machine shares (see the constructor). */
  private sharedMonitors(): Map<string, Tensor> | undefined {
    const first = this.machines[0];
    if (this.machines.length < 2 || !first) return undefined;
    const values = new Map<string, Tensor>();
    this.pendingMonitors = values;
    const env = this.environment(first, 0, undefined);
    for (const m of this.monitorCode) if (m.shared) values.set(m.name, m.code(env));
    this.pendingMonitors = undefined;
    return values;
  }

  /** What this firm may do this round, from the state it is in. */
  limits(firm: number): ActionLimits | undefined {
    const machine = this.machineOf(firm);
    if (!machine) return undefined;
    const state = this.states.get(String(machine.snapshot.value));
    if (!state) return undefined;
    const code = this.limitCode.get(state.name);
    const env = this.environment(machine, 0, undefined);
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
    const cap = perProduct(code?.cap);
    const floor = perProduct(code?.floor);
    return {
      state: state.name,
      suspend: state.suspend,
      ...(cap ? { cap } : {}),
      ...(floor ? { floor } : {}),
    };
  }

  /**
   * Whether the public rules would find evidence against `firm` this round if every firm
   * played `profile`: any `when` condition of its current state holds (noise aside).
   */
  wouldTrigger(firm: number, profile: Float64Array, round: number): boolean {
    const machine = this.machineOf(firm);
    if (!machine) return false;
    const state = this.states.get(String(machine.snapshot.value));
    if (!state) return false;
    const hypothetical = observablesOf(this.market, this.market.clear(profile), round);
    const monitors = this.evaluateMonitors(machine, hypothetical, false);
    this.pendingMonitors = monitors;
    const env = this.environment(machine, 0, hypothetical);
    const holds = state.transitions.some((t) => {
      const code = this.conditionCode.get(t.id);
      return t.kind === 'when' && code !== undefined && truthy(code(env).data[0] ?? 0);
    });
    this.pendingMonitors = undefined;
    return holds;
  }

  /** Adjudicates a cleared round: monitors, transitions, sanctions and notices. */
  adjudicate(
    outcome: Outcome,
    round: number,
  ): {
    effects: InstitutionEffect[];
    monitors: { firm: number | null; values: Map<string, Tensor> }[];
  } {
    this.observed.push(observablesOf(this.market, outcome, round));
    const effects: InstitutionEffect[] = [];
    const monitors: { firm: number | null; values: Map<string, Tensor> }[] = [];
    // A stateless institution (none, a directive) has nothing to monitor or step.
    if (this.ir.states.length === 0 && this.ir.monitors.length === 0)
      return { effects: [], monitors: [] };
    const shared = this.sharedMonitors();
    // Values every machine shares are reported once (firm: null), the rest per machine.
    if (shared && shared.size > 0) monitors.push({ firm: null, values: shared });
    for (const machine of this.machines) {
      const values = this.evaluateMonitors(machine, undefined, true, shared);
      machine.seen.push(values);
      const own = shared ? new Map([...values].filter(([name]) => !shared.has(name))) : values;
      if (own.size > 0 || !shared) monitors.push({ firm: machine.firm, values: own });
      const state = this.states.get(String(machine.snapshot.value));
      if (!state) continue;
      // Guards read the history as it was before this round's transition.
      const before = this.environment(machine, 0, undefined);
      const holds: Record<string, boolean> = {};
      for (const t of state.transitions) {
        const code = this.conditionCode.get(t.id);
        holds[t.id] = code ? truthy(code(before).data[0] ?? 0) : true;
      }
      const from = state.name;
      // The machine decides; we name the transition it took from the same rule it uses
      // (first in priority order whose condition held long enough), and check they agree.
      const context = machine.snapshot.context as InstitutionContext;
      const fired = state.transitions.find(
        (t) =>
          holds[t.id] === true && (context.streaks[t.id] ?? 0) + 1 >= (this.rounds.get(t.id) ?? 1),
      );
      machine.effects.length = 0;
      machine.actor.send({ type: 'round', round, holds });
      const next = machine.snapshot;
      const actions = machine.effects;
      const to = String(next.value);
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
          rule: fired.rule ?? null,
          restorative: fired.restorative,
        });
      }
      for (const t of state.transitions) {
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
      // Amounts read the history after the transition (an entry fine sees this entry).
      const after = this.environment(machine, 0, undefined);
      const firms = machine.firm === null ? this.market.firms.map((_, i) => i) : [machine.firm];
      for (const action of actions) {
        if (action.type === 'mase.sanction') {
          const p = action.params as SanctionParams;
          const code = this.sanctionCode.get(`${p.state}#${p.index}`);
          if (!code) continue;
          const amount = code(after);
          for (const firm of firms) {
            const value =
              amount.axes.length === 0 ? (amount.data[0] ?? 0) : (amount.data[firm] ?? 0);
            effects.push({
              kind: 'sanction',
              firm,
              state: p.state,
              sanction: p.sanction,
              timing: p.timing,
              amount: Number.isFinite(value) ? value : 0,
            });
          }
        } else if (action.type === 'mase.notice') {
          const p = action.params as NoticeParams;
          for (const firm of firms)
            effects.push({ kind: 'notice', firm, state: p.state, text: p.text });
        }
      }
    }
    return { effects, monitors };
  }
}

export function tensorToJson(
  t: Tensor,
  market: MarketInstance,
): number | boolean | null | number[] | number[][] {
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

/** Whether an expression's value can differ between one institution's machines. */
function readsMachine(e: IrExpr, perMachine: ReadonlySet<string>): boolean {
  switch (e.op) {
    case 'self':
    case 'history':
      return true;
    case 'monitor':
      return perMachine.has(e.name);
    case 'index':
      return e.selections.some((x) => 'self' in x) || readsMachine(e.target, perMachine);
    case 'unary':
      return readsMachine(e.operand, perMachine);
    case 'binary':
      return readsMachine(e.left, perMachine) || readsMachine(e.right, perMachine);
    case 'call':
      return e.args.some((a) => readsMachine(a, perMachine));
    case 'window':
      return readsMachine(e.value, perMachine) || readsMachine(e.rounds, perMachine);
    case 'if':
      return (
        readsMachine(e.condition, perMachine) ||
        readsMachine(e.then, perMachine) ||
        readsMachine(e.otherwise, perMachine)
      );
    default:
      return false;
  }
}
