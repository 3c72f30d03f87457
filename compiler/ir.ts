import type { Axis, Deontic, Range } from '../grammar/ast.js';
import type { ValueType } from './types.js';

/**
 * The checked intermediate representation: plain data (numbers may be `inf`, which JSON
 * cannot hold; serialise with a replacer). Every backend (machine,
 * diagram, manifest) and the runtime read this and nothing else, so they cannot disagree.
 */
export type IrExpr = {
  readonly type: ValueType;
  readonly text: string;
  /** Written inside parentheses (`Expr.parenthesized`): rendered rules keep them. */
  readonly parenthesized?: true;
} & IrExprNode;

export type WindowFunction =
  | 'mean_last'
  | 'min_last'
  | 'max_last'
  | 'sum_last'
  | 'count_last'
  | 'lag';
export type HistoryFunction = 'visits' | 'rounds_since' | 'rounds_in_state';

export type IrExprNode =
  | { readonly op: 'const'; readonly value: number }
  | { readonly op: 'string'; readonly value: string }
  | { readonly op: 'param'; readonly name: string }
  | { readonly op: 'observable'; readonly name: string }
  /** A benchmark's value: a market's `nash.hhi`, an environment's `sustainable.harvest`. */
  | { readonly op: 'benchmark'; readonly benchmark: string; readonly name: string }
  | { readonly op: 'monitor'; readonly name: string }
  | { readonly op: 'action'; readonly name: string }
  | { readonly op: 'self' }
  | { readonly op: 'unary'; readonly operator: '-' | 'not'; readonly operand: IrExpr }
  | {
      readonly op: 'binary';
      readonly operator: string;
      readonly left: IrExpr;
      readonly right: IrExpr;
    }
  | {
      readonly op: 'call';
      readonly fn: string;
      readonly args: readonly IrExpr[];
      readonly over?: readonly Axis[];
    }
  | {
      readonly op: 'window';
      readonly fn: WindowFunction;
      readonly value: IrExpr;
      readonly rounds: IrExpr;
    }
  | { readonly op: 'index'; readonly target: IrExpr; readonly selections: readonly IrSelection[] }
  | {
      readonly op: 'if';
      readonly condition: IrExpr;
      readonly then: IrExpr;
      readonly otherwise: IrExpr;
    }
  | { readonly op: 'history'; readonly fn: HistoryFunction; readonly state?: string }
  /** `schedule[k]`: the element of list parameter `list` at position `index` (from 1, clamped). */
  | { readonly op: 'element'; readonly list: string; readonly index: IrExpr }
  /** `len(schedule)`: the number of values of list parameter `list`. */
  | { readonly op: 'length'; readonly list: string }
  /** A counter's value for the machine reading it (`offences`). */
  | { readonly op: 'counter'; readonly name: string };

/** The expressions an expression is made of, one level down. */
export function irChildren(e: IrExpr): readonly IrExpr[] {
  switch (e.op) {
    case 'unary':
      return [e.operand];
    case 'binary':
      return [e.left, e.right];
    case 'call':
      return e.args;
    case 'window':
      return [e.value, e.rounds];
    case 'index':
      return [e.target];
    case 'if':
      return [e.condition, e.then, e.otherwise];
    case 'element':
      return [e.index];
    default:
      return [];
  }
}

/** Whether an expression reads a counter anywhere. */
export function readsCounter(e: IrExpr): boolean {
  return e.op === 'counter' || irChildren(e).some(readsCounter);
}

export type IrSelection =
  | { readonly axis: 'firm'; readonly self: true }
  | { readonly axis: Axis; readonly name: string };

export type Benchmark = 'nash' | 'collusive' | 'competitive';
export const BENCHMARKS: readonly Benchmark[] = ['nash', 'collusive', 'competitive'];

/** A parameter value as written: numbers, booleans, strings and (nested) lists of them. */
export type ParamValue = number | boolean | string | readonly ParamValue[];

export interface IrParam {
  readonly name: string;
  readonly type: ValueType;
  readonly value: ParamValue;
  readonly doc?: string;
}

export type MarketKind = 'quantity' | 'price';

export interface IrMarket {
  readonly kind: 'market';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  /** `quantity`: firms choose quantities and a price function clears; `price`: firms set prices and a demand function allocates. */
  readonly competition: MarketKind;
  readonly params: readonly IrParam[];
  readonly firms: { readonly names: readonly string[] } | { readonly count: IrExpr };
  readonly products: readonly string[];
  readonly cost: IrExpr;
  readonly capacity?: IrExpr;
  readonly action: { readonly variable: MarketKind; readonly low: IrExpr; readonly high: IrExpr };
  /** Inverse demand (quantity competition): price per product. */
  readonly price?: IrExpr;
  /** Demand (price competition): quantity per firm and product. */
  readonly demand?: IrExpr;
  readonly observe: readonly { readonly name: string; readonly own: boolean }[];
}

/** A named value of an environment: a benchmark or policy action, a metric, with its meaning. */
export interface IrNamedValue {
  readonly name: string;
  readonly value: IrExpr;
  readonly doc?: string;
}

/**
 * A world written in the language (`environment`): agents on a named axis choose an
 * action; each round, `lets` are evaluated in order, then `payoff`, then each state
 * variable's `next` value and the `end` condition, all with the state at the round's start.
 */
export interface IrEnvironment {
  readonly kind: 'environment';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  /** The agent axis as the source names it (`fisher`); inside the IR it is the `firm` axis. */
  readonly axis: string;
  readonly params: readonly IrParam[];
  readonly agents: { readonly names: readonly string[] } | { readonly count: IrExpr };
  /** A number in [low, high] (on a grid of `step` when given), or one of `options` (0, 1, …). */
  readonly action: {
    readonly variable: string;
    readonly low: IrExpr;
    readonly high: IrExpr;
    readonly step?: IrExpr;
    readonly options?: readonly string[];
  };
  readonly states: readonly {
    readonly name: string;
    readonly initial: IrExpr;
    readonly next?: IrExpr;
  }[];
  /**
   * Per-agent numbers drawn afresh each round, before the agents act, uniformly from
   * [low, high] (parameters only). The compiler only describes them; the runtime draws
   * them from a stream seeded by the run's seed and the draw's name.
   */
  readonly draws: readonly IrDraw[];
  readonly lets: readonly { readonly name: string; readonly value: IrExpr }[];
  readonly payoff: IrExpr;
  readonly end?: IrExpr;
  readonly observe: readonly { readonly name: string; readonly own: boolean }[];
  readonly benchmarks: readonly IrBenchmark[];
  readonly policies: readonly IrDeclaredPolicy[];
  readonly metrics: readonly IrNamedValue[];
  /**
   * `kind NAME`: a kind written in code (runtime/environment/kinds.ts) computes the
   * `computed` values each round, from the state, the draws and the action, before the
   * `let`s; and the benchmarks declared without a value, before round 1.
   */
  readonly code?: { readonly kind: string; readonly computed: readonly IrComputed[] };
}

/** `computed NAME [per AXIS] "doc"`: one number, or one per agent, computed by the kind's code. */
export interface IrComputed {
  readonly name: string;
  readonly type: ValueType;
  readonly doc?: string;
}

/** A benchmark action: an expression, or (no value) computed by the environment's code kind. */
export interface IrBenchmark {
  readonly name: string;
  readonly value?: IrExpr;
  readonly doc?: string;
}

/**
 * `policy NAME(ARG = DEFAULT, …) = ACTION "doc"`: its arguments are single numbers the
 * action reads like parameters; `--agents NAME(…)` sets them, DEFAULT (parameters only) otherwise.
 */
export interface IrDeclaredPolicy extends IrNamedValue {
  readonly params?: readonly { readonly name: string; readonly default: IrExpr }[];
}

/** `draw NAME = uniform(LOW, HIGH) "doc"`: one number per agent per round. */
export interface IrDraw {
  readonly name: string;
  readonly low: IrExpr;
  readonly high: IrExpr;
  readonly doc?: string;
}

/** A world: a market (the sugar for price/demand, cost and capacity) or an environment. */
export type IrWorld = IrMarket | IrEnvironment;

export interface IrSanction {
  readonly sanction: 'fine' | 'credit';
  readonly timing: 'entry' | 'each_round';
  /** Written `each round after entry` (same timing as `each round`): printed as written. */
  readonly afterEntry?: true;
  readonly amount: IrExpr;
}

export interface IrTransition {
  /** `state.index`, stable across compilations of the same source. */
  readonly id: string;
  readonly kind: 'when' | 'after';
  readonly source: string;
  readonly target: string;
  /** The evidence (`when`) or the condition each counted round must meet (`after … while`); absent means always. */
  readonly condition?: IrExpr;
  /** Consecutive rounds the condition must hold (1 for a plain `when`). */
  readonly rounds: IrExpr;
  readonly priority: number;
  readonly declaredPriority: boolean;
  readonly rule?: string;
  /** Whether the edge restores good standing, by the rule in compiler/classify.ts; every reader uses this flag. */
  readonly restorative: boolean;
  /** `then add offences 1, …`: counter changes made when it fires, in order. */
  readonly changes?: readonly IrCounterChange[];
  readonly range: Range;
}

/** `add C E` (C + E), `reset C` (its initial value), `decay C E` (C × (1 − E)). */
export interface IrCounterChange {
  readonly counter: string;
  readonly change: 'add' | 'reset' | 'decay';
  /** The amount (absent for `reset`): one number for the machine, read when the change is made. */
  readonly amount?: IrExpr;
}

/** A number each machine keeps (`counter offences "…"`), from `initial` when the run starts. */
export interface IrCounter {
  readonly name: string;
  readonly initial: IrExpr;
  readonly doc?: string;
}

/** What a state does to the firm in it, decided from its effects (compiler/classify.ts). */
export type StateKind = 'initial' | 'normal' | 'warning' | 'sanction' | 'credit';

export interface IrState {
  readonly name: string;
  readonly title?: string;
  readonly kind: StateKind;
  /** Notices on entry, as written (`{…}` included). */
  readonly notices: readonly string[];
  /** Indices in `notices` of those given every round in the state (`each round notice`), not on entry. */
  readonly eachRoundNotices?: readonly number[];
  /** The notices with `{…}` values, by their index in `notices`: evaluated when given. */
  readonly liveNotices?: readonly {
    readonly index: number;
    readonly parts: readonly IrNoticePart[];
  }[];
  readonly sanctions: readonly IrSanction[];
  readonly cap?: IrExpr;
  readonly floor?: IrExpr;
  readonly suspend: boolean;
  /** `mute`: the agent's messages are not delivered while it is in the state. */
  readonly mute?: true;
  /** `quarantine`: no message from the agent, nor to it, is delivered while it is in the state. */
  readonly quarantine?: true;
  /** `paraphrase`: each message the agent sends is rewritten before it is delivered (runtime/talk/effects.ts). */
  readonly paraphrase?: true;
  /** The model that rewrites it (`paraphrase "MODEL"`, a `--model` spec); absent: the scripted synonym paraphrase. */
  readonly paraphraser?: string;
  /** Counter changes on entry and in each round adjudicated in the state, in order. */
  readonly changes?: readonly (IrCounterChange & { readonly timing: 'entry' | 'each_round' })[];
  /** Sorted by priority (highest first), then declaration order. */
  readonly transitions: readonly IrTransition[];
  readonly range: Range;
}

/** A piece of a live notice: literal text, or a value written `{…}` (one number or true/false). */
export type IrNoticePart = { readonly text: string } | { readonly expr: IrExpr };

export interface IrMonitor {
  readonly name: string;
  readonly expr: IrExpr;
  readonly detection?: IrExpr;
  readonly falsePositive?: IrExpr;
}

export interface IrRule {
  readonly id: string;
  readonly title?: string;
  readonly attribute: string;
  readonly deontic: Deontic;
  readonly aim: string;
  readonly orElse?: string;
}

export interface IrInstitution {
  readonly kind: 'institution';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  readonly scope: 'firm' | 'market';
  /** `scope per AXIS` of an environment (`fisher`): what its texts call the governed agents. */
  readonly agentAxis?: string;
  readonly public: boolean;
  readonly directive?: string;
  readonly params: readonly IrParam[];
  readonly monitors: readonly IrMonitor[];
  readonly rules: readonly IrRule[];
  readonly states: readonly IrState[];
  readonly initial?: string;
  /** Counters, in declaration order (absent: none). */
  readonly counters?: readonly IrCounter[];
  /** Message filters, in declaration order (absent: none). */
  readonly filters?: readonly IrFilter[];
}

/**
 * `filter when CONDITION ["reason"]`: each message is checked on its own before it is
 * delivered; one for which the condition holds (read for its sender) is not delivered.
 */
export interface IrFilter {
  /** True/false, one value or one per agent; reads parameters and the text measures only. */
  readonly condition: IrExpr;
  /** The reason as written, else the condition as written. */
  readonly reason: string;
}

export interface IrPolicy {
  readonly name: string;
  readonly args: readonly { readonly name?: string; readonly value: ParamValue }[];
}

export interface IrExperiment {
  readonly kind: 'experiment';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  /** The world the experiment runs in (`use market` or `use environment`). */
  readonly market: {
    readonly name: string;
    readonly overrides: Readonly<Record<string, ParamValue>>;
    /** Absent for markets. */
    readonly kind?: 'environment';
  };
  readonly institution: {
    readonly name: string;
    readonly overrides: Readonly<Record<string, ParamValue>>;
  };
  readonly agents: {
    readonly all?: IrPolicy;
    readonly perFirm: Readonly<Record<string, IrPolicy>>;
  };
  readonly rounds?: number;
  readonly seeds: readonly number[];
  /** Whether agents are told the number of rounds (absent: known). */
  readonly horizon?: 'known' | 'unknown';
  /** Random stopping: after each round the run goes on with this probability. */
  readonly continuation?: number;
  /** `checkpoint every k`: rounds between checkpoints (0: none; absent: the default). */
  readonly checkpointEvery?: number;
  /** Talk between firms before they act: a topology and its settings, as written. */
  readonly talk?: IrPolicy;
}

/**
 * What a sweep factor varies in the base experiment. `market` and `environment` replace the
 * world (of the base's kind); `param` is a parameter of the experiment's market,
 * environment or institution; `agents` the policy of every firm (no `firm`) or of one
 * firm; `memory` the `memory` argument of every `llm` policy.
 */
export type IrFactorTarget =
  | { readonly kind: 'market' }
  | { readonly kind: 'environment' }
  | { readonly kind: 'institution' }
  | {
      readonly kind: 'param';
      readonly owner: 'market' | 'environment' | 'institution';
      readonly name: string;
    }
  | { readonly kind: 'agents'; readonly firm?: string }
  | { readonly kind: 'rounds' }
  | { readonly kind: 'memory' }
  | { readonly kind: 'talk' }
  | { readonly kind: 'horizon' }
  | { readonly kind: 'continuation' };

/**
 * One level of a factor: a literal value (a parameter, rounds, memory, continuation,
 * `known`/`unknown` as strings), or a named thing with arguments (a market or
 * institution with overrides, a policy, a talk topology).
 */
export type IrFactorLevel =
  | { readonly kind: 'value'; readonly value: ParamValue }
  | { readonly kind: 'ref'; readonly ref: IrPolicy };

export interface IrFactor {
  /** The column name in results (`factor regime: institution = …` → `regime`). */
  readonly name: string;
  readonly target: IrFactorTarget;
  /** Discrete levels, in the order written (grid, random and Latin hypercube designs). */
  readonly levels?: readonly IrFactorLevel[];
  /** A numeric range (random and Latin hypercube designs only); whole numbers when `integer`. */
  readonly range?: { readonly low: number; readonly high: number; readonly integer: boolean };
}

export interface IrSweep {
  readonly kind: 'sweep';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  /** The experiment every run starts from. */
  readonly base: string;
  readonly factors: readonly IrFactor[];
  /** `grid` (every combination of levels), or `points` cells drawn at random or by Latin hypercube. */
  readonly design:
    | { readonly kind: 'grid' }
    | { readonly kind: 'random' | 'latin_hypercube'; readonly points: number };
  /** Runs per cell, each with its own seed (default 1). */
  readonly replicates: number;
  /** The seed the run seeds and the design's draws derive from (default 1). */
  readonly seed: number;
  /** Stop starting runs once the sweep has used this many tokens or this much cost. */
  readonly budget?: { readonly tokens?: number; readonly cost?: number };
}

/**
 * One change of an `intervention` declaration (docs/checkpoints.md), as `mase fork`'s flags
 * make it. Agents, messages, edges and rounds are checked against the run it forks, when
 * it forks it; the institution and its overrides against the program here.
 */
export type IrInterventionChange =
  | {
      readonly kind: 'agents';
      readonly all?: IrPolicy;
      readonly perFirm: Readonly<Record<string, IrPolicy>>;
    }
  | {
      readonly kind: 'institution';
      /** `none`, or an institution of the program. */
      readonly name: string;
      readonly overrides: Readonly<Record<string, ParamValue>>;
    }
  | { readonly kind: 'drop_message'; readonly id: string }
  /** Delivered with `text` instead of the words its sender said. */
  | { readonly kind: 'replace_message'; readonly id: string; readonly text: string }
  | {
      readonly kind: 'inject_message';
      readonly from: string;
      /** Absent: every agent. */
      readonly to?: readonly string[];
      readonly text: string;
    }
  | { readonly kind: 'mute'; readonly from: string; readonly to: string; readonly both: boolean }
  | { readonly kind: 'reset'; readonly agents: readonly string[] }
  | { readonly kind: 'benchmark_action'; readonly agent: string; readonly round: number }
  | { readonly kind: 'pardon'; readonly agent: string; readonly round: number }
  /** A parameter of the institution governing from the fork on (checked when it forks). */
  | { readonly kind: 'param'; readonly name: string; readonly value: ParamValue };

export interface IrIntervention {
  readonly kind: 'intervention';
  readonly name: string;
  readonly title: string;
  readonly path: string;
  readonly changes: readonly IrInterventionChange[];
}

export interface IrProgram {
  readonly markets: readonly IrMarket[];
  readonly environments: readonly IrEnvironment[];
  readonly institutions: readonly IrInstitution[];
  readonly experiments: readonly IrExperiment[];
  readonly sweeps: readonly IrSweep[];
  readonly interventions: readonly IrIntervention[];
}
