import { createHash } from 'node:crypto';
import { manifestText } from '../../compiler/backends/manifest.js';
import type { SourceText } from '../../compiler/index.js';
import type { IrInstitution, IrPolicy, IrWorld, ParamValue } from '../../compiler/ir.js';
import type {
  Action,
  Agent,
  CommonObservation,
  DeliveredMessage,
  Observation,
  OutgoingMessage,
} from '../agents/agent.js';
import { createAgent } from '../agents/registry.js';
import { type KindInjection, type KindMessage, kindProvenance } from '../environment/kinds.js';
import { environmentRun } from '../environment/world.js';
import type { PromptTemplates } from '../llm/prompts.js';
import { type LlmOptions, LlmServices, type LlmServicesState } from '../llm/services.js';
import { type Benchmarks, computeBenchmarks } from '../market/benchmarks.js';
import { instantiateMarket, type MarketInstance, type Outcome } from '../market/instance.js';
import { randomStream, type SavableRandom, type Seed, seedNow } from '../random.js';
import { MessageGate } from '../talk/effects.js';
import { type LedgerState, MessageLedger, parentFields } from '../talk/lineage.js';
import { ModelParaphraser, paraphrasingModels } from '../talk/paraphrase.js';
import { talkSettings, WORLD_SENDER } from '../talk/topology.js';
import {
  type BenchmarkPoint,
  numbers,
  type TraceEvent,
  type TraceEventOf,
} from '../trace/events.js';
import type { GovernanceEntryInput } from '../trace/governance-log.js';
import { traceJson } from '../trace/writer.js';
import { type Clamp, enforce } from './enforce.js';
import {
  type ActionLimits,
  type Governed,
  InstitutionRuntime,
  type InstitutionState,
  marketGoverned,
  type VisibleTalk,
} from './institution.js';
import { type LoopSnapshot, phaseOf, startLoop, step } from './phases.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Everything a run depends on; a run is a function of this and the agents' answers. */
export interface ResolvedExperiment {
  readonly name: string;
  /** The world: a market, or an environment written in the language. */
  readonly market: IrWorld;
  readonly marketOverrides: Readonly<Record<string, ParamValue>>;
  readonly institution: IrInstitution;
  readonly institutionOverrides: Readonly<Record<string, ParamValue>>;
  /** Policy of each firm, by firm name. */
  readonly policies: Readonly<Record<string, IrPolicy>>;
  readonly rounds: number;
  readonly seed: number;
  /** Random stopping: after each round the run continues with this probability. */
  readonly continuation?: number;
  /** Whether agents are told the number of rounds. */
  readonly horizonKnown: boolean;
  /** Talk between firms before they act (absent: none). */
  readonly talk?: IrPolicy;
  readonly sources: readonly SourceText[];
  /** The run is a fork of another (docs/checkpoints.md): as it was up to a round, then changed. */
  readonly fork?: ForkSpec;
  /**
   * `checkpoint every k` of the experiment: rounds between checkpoints (0: none). Not part
   * of the run (nor of its digest): where it is saved, not what it computes.
   */
  readonly checkpointEvery?: number;
}

/**
 * A fork: the run it continues (by run id), the last round kept as it was, the seed its
 * random streams continue from after it (absent: the run's own streams go on), and what is
 * changed from the next round on (nothing: the run itself, continued).
 */
export interface ForkSpec {
  readonly parent: string;
  readonly after: number;
  readonly seed?: number;
  readonly interventions: readonly Intervention[];
}

/** What a fork changes from its round on. */
export type Intervention =
  /** These agents' policies are replaced (by agent name). */
  | { readonly kind: 'agents'; readonly policies: Readonly<Record<string, IrPolicy>> }
  /** The message with this id is not delivered. */
  | { readonly kind: 'drop_message'; readonly id: string }
  /**
   * The message with this id is `text` instead of the words its sender said: its recipients,
   * the institution, the world and its sender's own record read `text`.
   */
  | { readonly kind: 'replace_message'; readonly id: string; readonly text: string }
  /**
   * In `round`, `agent` plays the world's fallback benchmark (a market's Nash action)
   * instead of what it chose: a deviation undone.
   */
  | { readonly kind: 'benchmark_action'; readonly agent: string; readonly round: number }
  /** These agents are built again from their own policies: no memory, Q-table or learned state. */
  | { readonly kind: 'reset'; readonly agents: readonly string[] }
  /**
   * In `round`, the institution disregards the evidence against `agent`: none of its
   * machine's `when` conditions holds (a transition it would have taken then is not).
   */
  | { readonly kind: 'pardon'; readonly agent: string; readonly round: number }
  /**
   * A parameter takes this value from the fork's round on: the world's (a market's demand
   * or costs, an environment's parameter) and the governing institution's, whichever have
   * it (both when both do, as `mase run --param`). The world goes on from its state with the
   * new values and new benchmarks; the institution goes on from the state it was in (its
   * machines, streaks, counters and the rounds it observed), and its public manifest says
   * the new value.
   */
  | { readonly kind: 'param'; readonly name: string; readonly value: ParamValue }
  /** Messages from `from` to `to` are not delivered (a talk edge cut, one way). */
  | {
      readonly kind: 'mute';
      readonly edges: readonly { readonly from: string; readonly to: string }[];
    }
  /** A message is delivered in the fork's first round, before anyone talks. */
  | {
      readonly kind: 'inject_message';
      readonly from: string;
      readonly to: readonly string[];
      readonly text: string;
    }
  /**
   * The run is governed by this institution (with these parameters) from the fork's round
   * on, every agent in its initial state; the institution before it ends (`none`: ungoverned).
   */
  | {
      readonly kind: 'institution';
      readonly institution: IrInstitution;
      readonly overrides: Readonly<Record<string, ParamValue>>;
    };

/**
 * The institutions that govern a run: the one it starts with, then the one a fork switches
 * to (metrics count the sanction states of both; model services serve the paraphrasers of both).
 */
export function institutionsOf(experiment: ResolvedExperiment): IrInstitution[] {
  return [
    experiment.institution,
    ...(experiment.fork?.interventions ?? []).flatMap((i) =>
      i.kind === 'institution' ? [i.institution] : [],
    ),
  ];
}

/**
 * The institution governing a run from its fork's round on, with its parameters: the one a
 * fork switches to (else the run's), with the values a fork's `param`s give. `switched`:
 * it starts afresh; else, when `param`s change it, it goes on from its state.
 */
export function governingAfterFork(experiment: ResolvedExperiment): {
  readonly institution: IrInstitution;
  readonly overrides: Readonly<Record<string, ParamValue>>;
  readonly switched: boolean;
  readonly retuned: boolean;
} {
  const changes = experiment.fork?.interventions ?? [];
  const switched = changes.findLast((i) => i.kind === 'institution');
  const [institution, overrides] =
    switched?.kind === 'institution'
      ? [switched.institution, switched.overrides]
      : [experiment.institution, experiment.institutionOverrides];
  const params = changes.flatMap((i) =>
    i.kind === 'param' && institution.params.some((p) => p.name === i.name)
      ? [[i.name, i.value] as const]
      : [],
  );
  return {
    institution,
    overrides: { ...overrides, ...Object.fromEntries(params) },
    switched: switched !== undefined,
    retuned: params.length > 0,
  };
}

/**
 * The world's parameter values from a fork's round on (the run's, with the values a fork's
 * `param`s give its world), and whether a fork changes any.
 */
export function worldAfterFork(experiment: ResolvedExperiment): {
  readonly overrides: Readonly<Record<string, ParamValue>>;
  readonly retuned: boolean;
} {
  const params = (experiment.fork?.interventions ?? []).flatMap((i) =>
    i.kind === 'param' && experiment.market.params.some((p) => p.name === i.name)
      ? [[i.name, i.value] as const]
      : [],
  );
  return {
    overrides: { ...experiment.marketOverrides, ...Object.fromEntries(params) },
    retuned: params.length > 0,
  };
}

/** The trace's form of a fork's interventions: an institution switched to is named, not copied. */
export function tracedInterventions(
  interventions: readonly Intervention[],
): TraceEventOf<'fork'>['interventions'] {
  return interventions.map((i) =>
    i.kind === 'institution'
      ? { kind: 'institution', name: i.institution.name, overrides: structuredClone(i.overrides) }
      : structuredClone(i),
  ) as TraceEventOf<'fork'>['interventions'];
}

export interface RunHooks {
  /** Every event, in order, as it happens. */
  readonly onEvent?: (event: TraceEvent) => void;
  /**
   * After each round's events (artifacts flush here). `state` gives the run's state then,
   * for a checkpoint, or undefined when the run cannot save it (see `RunState`).
   */
  readonly onRoundEnd?: (round: number, state?: () => RunState | undefined) => void;
  /** Go on from a state `onRoundEnd` gave (resume): the rounds up to it are not played. */
  readonly restore?: RunState;
  /** A transition whose condition held but did not fire (for the governance log). */
  readonly onBlocked?: (
    blocked: Omit<Extract<GovernanceEntryInput, { kind: 'blocked' }>, 'kind'>,
  ) => void;
  /** Agents that replace a firm's policy (tests, and embedders with agents of their own). */
  readonly agentFor?: (
    firm: number,
    market: MarketInstance,
    benchmarks: Benchmarks,
  ) => Agent | undefined;
  /** Checked between rounds; a reason stops the run as `interrupted`. */
  readonly shouldStop?: () => string | undefined;
  /** How `llm` firms reach their models (endpoints, limits, budgets, defaults). */
  readonly llm?: RunLlmOptions;
}

/**
 * A run's state after a whole round, as plain data a checkpoint stores (docs/checkpoints.md):
 * everything the rounds after it read — each agent's own state and random stream, the
 * world's, the institution's machines and the rounds it keeps, the talk's ledger and gate,
 * the model services' usage and sample counts, the rounds of history agents read, the
 * notices agents are shown next, and the horizon's stream. A run saves one when every part
 * of it can (every agent and world has `save`); other runs resume by playing their rounds
 * again. A fork's run saved after its round is set again with the fork's changes made.
 */
export interface RunState {
  /** The last round played. */
  readonly round: number;
  /** Whether the world said the run ends (an environment's `end when`). */
  readonly ended: boolean;
  readonly history: readonly RoundRecord[];
  readonly notices: readonly (readonly string[])[];
  /** Ids of the texts the trace holds already (`text` events). */
  readonly texts: readonly string[];
  readonly horizon: number[][];
  readonly agents: readonly { readonly random: number[][]; readonly state: unknown }[];
  readonly world: unknown;
  readonly institution: InstitutionState;
  readonly ledger: LedgerState;
  readonly gate: number[][] | null;
  /** The model services': usage so far (budgets go on from it), each endpoint's sample counts and provenance. */
  readonly llm?: LlmServicesState;
}

/** The round loop's snapshot at `record`, where a run resumed from a state goes on. */
function recordPhase(): LoopSnapshot {
  let snapshot = startLoop();
  while (phaseOf(snapshot) !== 'record') snapshot = step(snapshot, 'done');
  return snapshot;
}

export interface RunLlmOptions extends LlmOptions {
  /** The model of `llm` policies that name none (`--model`). */
  readonly defaultModel?: string;
  readonly templates?: PromptTemplates;
  /** The share of fallback decisions above which the run is `degraded` (degraded.ts). */
  readonly maxFallbackShare?: number;
}

export interface RunResult {
  readonly status: 'completed' | 'interrupted' | 'failed';
  readonly roundsCompleted: number;
  /** The market, for a market run (absent for an environment). */
  readonly market?: MarketInstance;
  readonly benchmarks?: Benchmarks;
  readonly reason?: string;
  /** The run's model services, when any firm is an LLM firm: provenance and usage. */
  readonly llm?: LlmServices;
}

/** How often, at most, a run gives the event loop a turn (see `observe`). */
const YIELD_EVERY_MS = 50;

export const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
      );
    }
    return v;
  });

/** sha256 of the resolved experiment: what makes two runs the same run. */
export function experimentDigest(experiment: ResolvedExperiment): string {
  return createHash('sha256')
    .update(
      canonical({
        market: experiment.market.name,
        marketOverrides: experiment.marketOverrides,
        institution: experiment.institution.name,
        institutionOverrides: experiment.institutionOverrides,
        policies: experiment.policies,
        rounds: experiment.rounds,
        seed: experiment.seed,
        continuation: experiment.continuation ?? null,
        horizonKnown: experiment.horizonKnown,
        // Absent talk leaves the digest of runs without talk as it was.
        ...(experiment.talk ? { talk: experiment.talk } : {}),
        // A fork is another run than the one it continues.
        ...(experiment.fork ? { fork: experiment.fork } : {}),
        // A code kind's code is part of the run, as its sources are.
        ...(experiment.market.kind === 'environment' && experiment.market.code
          ? { codeKind: kindProvenance(experiment.market.code.kind).sha256 }
          : {}),
        sources: experiment.sources.map((s) => ({
          path: s.path,
          sha256: createHash('sha256').update(s.text).digest('hex'),
        })),
      }),
    )
    .digest('hex');
}

const matrix = (data: Float64Array, market: MarketInstance): number[][] => {
  const P = market.dims.products;
  return market.firms.map((_, i) => numbers(data.subarray(i * P, (i + 1) * P)));
};

const priceOf = (outcome: Outcome, market: MarketInstance): number[] | number[][] =>
  market.competition === 'quantity' ? numbers(outcome.price) : matrix(outcome.price, market);

function benchmarkEvent(point: Benchmarks['nash'], market: MarketInstance): BenchmarkPoint {
  return {
    quantity: matrix(point.outcome.quantity, market),
    price: priceOf(point.outcome, market),
    profit: Array.from(point.outcome.profit),
    total: Array.from(point.outcome.total),
    hhi: Array.from(point.outcome.hhi),
    method: point.method,
    ...(point.verified === undefined ? {} : { verified: point.verified }),
    ...(point.deviation
      ? {
          deviation: {
            firm: market.firms[point.deviation.firm] ?? String(point.deviation.firm),
            action: Array.from(point.deviation.action),
            profit: point.deviation.profit,
            gain: point.deviation.gain,
          },
        }
      : {}),
    ...(point.exists === false ? { exists: false as const, reason: point.reason ?? '' } : {}),
  };
}

/** Whether a run asks models: an `llm` policy, or an institution that paraphrases with one. */
export const asksModels = (experiment: ResolvedExperiment): boolean =>
  Object.values(experiment.policies).some((p) => p.name === 'llm') ||
  runParaphrasers(experiment).length > 0;

/** The models the run's institutions paraphrase with (the one it starts with, and a fork's). */
function runParaphrasers(experiment: ResolvedExperiment): string[] {
  return [
    ...new Set(
      institutionsOf(experiment).flatMap((institution) =>
        paraphrasingModels({ institution, ...(experiment.talk ? { talk: experiment.talk } : {}) }),
      ),
    ),
  ];
}

/** A readable name of one intervention. */
function interventionText(c: Intervention): string {
  const policy = (p: IrPolicy) =>
    p.args.length === 0
      ? p.name
      : `${p.name}(${p.args.map((a) => `${a.name ? `${a.name}: ` : ''}${JSON.stringify(a.value)}`).join(', ')})`;
  switch (c.kind) {
    case 'agents':
      return `agents(${Object.entries(c.policies)
        .map(([agent, p]) => `${agent}=${policy(p)}`)
        .join(', ')})`;
    case 'drop_message':
      return `drop_message(${c.id})`;
    case 'replace_message':
      return `replace_message(${c.id})`;
    case 'benchmark_action':
      return `benchmark_action(${c.agent}@${c.round})`;
    case 'pardon':
      return `pardon(${c.agent}@${c.round})`;
    case 'param':
      return `param(${c.name}=${traceJson(c.value)})`;
    case 'reset':
      return `reset(${c.agents.join(', ')})`;
    case 'mute':
      return `mute(${c.edges.map((e) => `${e.from}>${e.to}`).join(', ')})`;
    case 'inject_message':
      return `inject_message(${c.from}->${c.to.join(',')})`;
    case 'institution': {
      const params = Object.entries(c.overrides);
      return `institution(${c.institution.name}${params.length > 0 ? `: ${params.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}` : ''})`;
    }
  }
}

/** A readable name of what the interventions change (the `intervention` factor's level). */
export function interventionLabel(interventions: readonly Intervention[]): string {
  return interventions.length === 0 ? 'none' : interventions.map(interventionText).join(' + ');
}

/**
 * What the round loop needs of a world, whatever it is: its agents, the agents it builds,
 * what they observe, how an action is made lawful, how a round clears, what the trace
 * records of it, and whether it ends the run. Markets and environments each provide one,
 * so the loop names neither.
 */
export interface WorldRun {
  readonly agents: readonly string[];
  /** Numbers in one agent's action (a market's products; 1 in an environment). */
  readonly width: number;
  readonly governed: Governed;
  /** The header's fields that describe the world, in trace order around `institution`. */
  readonly header: {
    readonly before: Record<string, unknown>;
    readonly after: Record<string, unknown>;
  };
  readonly benchmarksEvent: TraceEvent;
  /**
   * The world with other parameter values from round `from` on (a fork's `param`), going on
   * from its state: its benchmarks then, as the trace records them (`from` set). The fork
   * has checked that the values leave the agents and their actions as they were; `governed`
   * and the observations show the new world from here on.
   */
  retune(overrides: Readonly<Record<string, ParamValue>>, from: number): TraceEvent;
  /** The action that replaces an unusable one when there is no previous action. */
  readonly fallbackName: string;
  fallback(agent: number): Float64Array;
  createAgent(agent: number, policy: IrPolicy, context: WorldAgentContext): Agent<unknown, unknown>;
  /**
   * A fresh observation for one agent: the round, the agent and the world's own fields;
   * the round loop then sets what the institution and the horizon add. (One object
   * literal of a fixed shape per agent and round: spreading a common part costs markets
   * with many firms a third of their round.)
   */
  observation(round: number, agent: number, history: readonly RoundRecord[]): CommonObservation;
  enforce(
    agent: number,
    action: Float64Array,
    limits: ActionLimits | undefined,
  ): { action: Float64Array; clamps: Clamp[] };
  clear(lawful: Float64Array, round: number): unknown;
  payoff(outcome: unknown): Float64Array;
  outcomeEvent(outcome: unknown, round: number): TraceEvent;
  ended(outcome: unknown): boolean;
  advance(outcome: unknown): void;
  /** The world's state between rounds, for a checkpoint (absent: it cannot save it). */
  save?(): unknown;
  restore?(state: unknown): void;
  /** Makes the draws of rounds 1..`round` now (before a fork's values change them). */
  drawn?(round: number): void;
  /** Messages the world sends before the round's talk (a text world's injection). */
  inject?(round: number): readonly KindInjection[];
  /** The round's messages, handed to the world before it clears (text worlds read them). */
  hear?(round: number, messages: readonly KindMessage[]): void;
  /** For the run's result: the market and its benchmarks, when it is a market. */
  readonly market?: { readonly instance: MarketInstance; readonly benchmarks: Benchmarks };
}

export interface RoundRecord {
  readonly actions: Float64Array;
  readonly outcome: unknown;
}

export interface WorldAgentContext {
  readonly random: ReturnType<typeof randomStream>;
  readonly emit: (event: TraceEvent) => void;
  readonly llm?: Parameters<typeof createAgent>[1]['llm'];
}

/** A market as the round loop sees it; its trace is the one markets have always written. */
function marketRun(experiment: ResolvedExperiment, hooks: RunHooks): WorldRun {
  const world = experiment.market;
  if (world.kind !== 'market') throw new Error('marketRun needs a market');
  let market = instantiateMarket(world, experiment.marketOverrides);
  let benchmarks = computeBenchmarks(market);
  let governed = marketGoverned(market, benchmarks);
  const P = market.dims.products;
  const benchmarksEvent = (from?: number): TraceEvent => ({
    type: 'benchmarks',
    ...(from === undefined ? {} : { from }),
    nash: benchmarkEvent(benchmarks.nash, market),
    collusive: benchmarkEvent(benchmarks.collusive, market),
    competitive: benchmarkEvent(benchmarks.competitive, market),
  });
  return {
    agents: market.firms,
    width: P,
    get governed() {
      return governed;
    },
    header: {
      before: { market: world.name },
      after: {
        firms: [...market.firms],
        products: [...market.products],
        competition: market.competition,
      },
    },
    benchmarksEvent: benchmarksEvent(),
    retune: (overrides, from) => {
      // Firms keep their agents, which built themselves on the market the run started with
      // (their own bounds); what the round loop enforces and clears is the new market's.
      market = instantiateMarket(world, overrides);
      benchmarks = computeBenchmarks(market);
      governed = marketGoverned(market, benchmarks);
      return benchmarksEvent(from);
    },
    fallbackName: 'nash',
    fallback: (i) => Float64Array.from(benchmarks.nash.action.subarray(i * P, (i + 1) * P)),
    createAgent: (i, policy, context) =>
      (hooks.agentFor?.(i, market, benchmarks) ??
        createAgent(policy, {
          firm: i,
          market,
          random: context.random,
          emit: context.emit,
          ...(context.llm ? { llm: context.llm } : {}),
        })) as Agent<unknown, unknown>,
    observation: (round, firm, history): Observation => ({
      round,
      firm,
      market,
      benchmarks,
      history: history as Observation['history'],
    }),
    enforce: (i, action, limits) => enforce(market, i, action, limits),
    clear: (lawful) => market.clear(lawful),
    payoff: (outcome) => (outcome as Outcome).profit,
    outcomeEvent: (o, round) => {
      const outcome = o as Outcome;
      return {
        type: 'market',
        round,
        quantity: matrix(outcome.quantity, market),
        price: priceOf(outcome, market),
        revenue: numbers(outcome.revenue),
        cost: numbers(outcome.cost),
        profit: numbers(outcome.profit),
        total: numbers(outcome.total),
        hhi: numbers(outcome.hhi),
      };
    },
    ended: () => false,
    advance: () => {},
    // A market holds nothing between rounds.
    save: () => null,
    restore: () => {},
    get market() {
      return { instance: market, benchmarks };
    },
  };
}

/**
 * Waits for every firm's answer, then fails with the first failure in firm order. Nothing
 * runs on behind the run's back once it has failed (a firm still asking its model would
 * write into a closed trace and cache), and which failure is reported does not depend on
 * which model answered first.
 */
export async function everyFirm<T>(answers: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(answers);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Asks every firm (`ask(i)`, firm by firm) and gives their answers as `everyFirm` does.
 * When every answer is there at once (scripted agents, which are most of a large world),
 * no promise is made per firm: a text world of 10,000 agents asks 20,000 times a round.
 */
function askEveryFirm<T>(count: number, ask: (i: number) => T | Promise<T>): T[] | Promise<T[]> {
  const answers: (T | Promise<T>)[] = new Array(count);
  let waiting = false;
  for (let i = 0; i < count; i++) {
    try {
      const answer = ask(i);
      if (typeof (answer as { then?: unknown } | undefined)?.then === 'function') waiting = true;
      answers[i] = answer;
    } catch (error) {
      answers[i] = Promise.reject(error);
      waiting = true;
    }
  }
  return waiting ? everyFirm(answers.map((a) => Promise.resolve(a))) : (answers as T[]);
}

/**
 * Runs one experiment: the round loop drives the agents, the market and the institution's
 * machines, and reports every event through `hooks.onEvent`. Round time is the round
 * counter; nothing here reads the clock.
 */
export async function runExperiment(
  experiment: ResolvedExperiment,
  hooks: RunHooks = {},
): Promise<RunResult> {
  const emit = (event: TraceEvent) => hooks.onEvent?.(event);
  // Events nobody listens to are not built (they are a large share of a round's work).
  const tracing = hooks.onEvent !== undefined;
  const fork = experiment.fork;
  /** The round being played (0 before the first): a fork's streams change seed after its round. */
  let playing = 0;
  const seed: Seed =
    fork?.seed !== undefined
      ? {
          seed: experiment.seed,
          fork: { after: fork.after, seed: fork.seed },
          round: () => playing,
        }
      : experiment.seed;
  const world =
    experiment.market.kind === 'environment'
      ? environmentRun(experiment, experiment.market, seed)
      : marketRun(experiment, hooks);
  // The institution governing, and what agents read of it; a fork may switch to another, or
  // change its parameters (FROM.restore: the state it goes on from, `InstitutionRuntime.save`).
  const governing = (
    ir: IrInstitution,
    overrides: Readonly<Record<string, ParamValue>>,
    from: { restore?: InstitutionState } = {},
  ) => ({
    runtime: new InstitutionRuntime(ir, world.governed, undefined, overrides, seed, from),
    manifest: ir.public ? manifestText(ir, new Map(Object.entries(overrides))) : undefined,
    governsPublicly: ir.public && ir.states.length > 0,
  });
  let {
    runtime: institution,
    manifest,
    governsPublicly,
  } = governing(
    experiment.institution,
    experiment.institutionOverrides,
    // A state saved after a fork's round holds the institution the fork made (set there).
    hooks.restore && !(fork && hooks.restore.round > fork.after)
      ? { restore: hooks.restore.institution }
      : {},
  );
  const agentNames = world.agents;
  const F = agentNames.length;
  const P = world.width;

  // Model services exist only when a firm is an LLM firm or the institution paraphrases with
  // a model; they are shared by all of them.
  const paraphrasers = runParaphrasers(experiment);
  const llm = asksModels(experiment)
    ? new LlmServices(hooks.llm ?? {}, randomStream(experiment.seed, 'llm-retry-jitter'))
    : undefined;
  // From here on the model services are open: however the run ends, even before its first
  // round, they are closed (clients first, then the cache).
  try {
    const llmContext = llm
      ? {
          services: llm,
          seed: experiment.seed,
          ...(typeof seed === 'number' ? {} : { seedNow: () => seedNow(seed) }),
          ...(hooks.llm?.defaultModel ? { defaultModel: hooks.llm.defaultModel } : {}),
          ...(hooks.llm?.templates ? { templates: hooks.llm.templates } : {}),
        }
      : undefined;
    // Agents answer in any order (model calls run concurrently); what they record while
    // acting is held per firm and written in firm order once all have answered, so the trace
    // does not depend on which answer arrived first. Repeated texts are stored once.
    const pending: TraceEvent[][] = agentNames.map(() => []);
    let acting = false;
    const texts = new Set<string>();
    /** Emits EVENT, an `llm_call`'s texts stored once each as `text` events and named by id. */
    const emitInterned = (event: TraceEvent) => {
      if (event.type !== 'llm_call') return emit(event);
      const messages = event.messages.map((m) => {
        const id = createHash('sha256').update(m.text).digest('hex').slice(0, 16);
        if (!texts.has(id)) {
          texts.add(id);
          emit({ type: 'text', round: event.round, id, text: m.text });
        }
        return { role: m.role, text: id };
      });
      emit({ ...event, messages });
    };
    const flushPending = () => {
      for (const events of pending) {
        for (const event of events) emitInterned(event);
        events.length = 0;
      }
    };
    /** Each agent's random stream (a checkpoint saves where it is). */
    const agentStreams: SavableRandom[] = [];
    const agentWith = (i: number, firm: string, policy: IrPolicy) => {
      const random = randomStream(seed, `agent:${firm}`);
      agentStreams[i] = random;
      return world.createAgent(i, policy, {
        random,
        emit: (event) => (acting ? pending[i]?.push(event) : emit(event)),
        ...(llmContext ? { llm: llmContext } : {}),
      });
    };
    const agents: Agent<unknown, unknown>[] = agentNames.map((firm, i) => {
      const policy = experiment.policies[firm];
      if (!policy && !hooks.agentFor) throw new Error(`no policy for firm ${firm}`);
      return agentWith(i, firm, policy ?? { name: '?', args: [] });
    });
    // A fork's interventions, by kind.
    const replaced = new Map<string, IrPolicy>();
    const dropped = new Set<string>();
    /** Messages a fork replaces: the words delivered, by id. */
    const replacements = new Map<string, string>();
    /** Talk edges cut from the fork's round on, as `from>to`. */
    const muted = new Set<string>();
    const injections: Extract<Intervention, { kind: 'inject_message' }>[] = [];
    /** Agents whose action a fork replaces by the benchmark, by round. */
    const benchmarked = new Map<number, Set<string>>();
    /** Agents (by index) whose evidence the institution disregards, by round. */
    const pardons = new Map<number, Set<number>>();
    for (const change of fork?.interventions ?? []) {
      switch (change.kind) {
        case 'agents':
          for (const [firm, policy] of Object.entries(change.policies)) replaced.set(firm, policy);
          break;
        case 'reset':
          // Built again from the policy it has from the fork on: a replaced agent's new one
          // (which starts afresh anyway), else its own.
          for (const firm of change.agents) {
            const own = experiment.policies[firm];
            if (own && !replaced.has(firm)) replaced.set(firm, own);
          }
          break;
        case 'benchmark_action': {
          const then = benchmarked.get(change.round) ?? new Set<string>();
          benchmarked.set(change.round, then.add(change.agent));
          break;
        }
        case 'pardon': {
          const then = pardons.get(change.round) ?? new Set<number>();
          pardons.set(change.round, then.add(world.agents.indexOf(change.agent)));
          break;
        }
        case 'drop_message':
          dropped.add(change.id);
          break;
        case 'replace_message':
          replacements.set(change.id, change.text);
          break;
        case 'mute':
          for (const e of change.edges) muted.add(`${e.from}>${e.to}`);
          break;
        case 'inject_message':
          injections.push(change);
          break;
      }
    }

    // A run resumed from a state wrote its header and benchmarks before.
    if (!hooks.restore) {
      emit({
        type: 'header',
        schema: 1,
        experiment: experiment.name,
        digest: experimentDigest(experiment),
        ...world.header.before,
        institution: experiment.institution.name,
        ...world.header.after,
        rounds: experiment.rounds,
        seed: experiment.seed,
        policies: Object.fromEntries(
          agentNames.map((f) => [f, experiment.policies[f]?.name ?? '?']),
        ),
      } as TraceEvent);
      emit(world.benchmarksEvent);
    }

    const history: RoundRecord[] = [];
    /**
     * Rounds of `history` the run keeps: what the most demanding agent reads (at least the
     * last round, which replaces an unusable action), or all when an agent does not say.
     */
    // (A fork's new agents may read further back than the agents before them: all is kept.)
    const roundsKept =
      replaced.size === 0 && agents.every((a) => a.lookBack !== undefined)
        ? agents.reduce((most, a) => Math.max(most, a.lookBack ?? 0), 1)
        : Number.POSITIVE_INFINITY;
    let completed = 0;
    const notices: string[][] = agentNames.map(() => []);
    const horizon = randomStream(seed, 'horizon');
    let snapshot = startLoop();
    let round = 1;
    let decided: Action[] = [];
    let lawful = new Float64Array(F * P);
    let outcome: unknown;
    let observations: unknown[] = [];
    let status: RunResult['status'] = 'completed';
    /** This round's messages, when the institution may read them. */
    let visibleTalk: VisibleTalk | undefined;
    const talk = experiment.talk
      ? talkSettings(experiment.talk, agentNames, randomStream(experiment.seed, 'talk-topology'))
      : undefined;
    // Names of the agents each one may write to and hear from, built once (a text world has
    // thousands of agents: nothing per message may search the agent list).
    const agentIndex = new Map(agentNames.map((a, i) => [a, i]));
    const names = (lists: readonly (readonly number[])[] | undefined) =>
      (lists ?? []).map((l) => l.map((j) => agentNames[j] as string));
    // Frozen: a message to all of an agent's neighbours shares this list (agents are handed
    // it and hand it back; a world's hosts write to all their neighbours every round).
    const talkNeighbours = names(talk?.neighbours).map((l) => Object.freeze(l));
    const talkNeighbourSets = talkNeighbours.map((l) => new Set(l));
    const talkSenders = names(talk?.senders);
    const gateOf = (runtime: InstitutionRuntime) =>
      talk &&
      MessageGate.of(runtime, agentNames, talk.visible, () =>
        randomStream(seed, 'institution:paraphrase'),
      );
    let gate = gateOf(institution);
    // Made whenever an institution of the run paraphrases with a model (a fork may switch
    // to one that does from a run whose first institution has no gate).
    const paraphraser =
      talk && llm && paraphrasers.length > 0
        ? new ModelParaphraser(llm, paraphrasers, experiment.seed)
        : undefined;
    /** Message ids, and which agent received which message (to keep only real parents). */
    const ledger = new MessageLedger(F);
    const horizonTold = experiment.horizonKnown && experiment.continuation === undefined;
    let reason: string | undefined;
    /** The world's own end (an environment's `end when`). */
    let ended = false;
    let lastYield = performance.now();
    /**
     * A fork's changes, in its round R + 1: the world and the institution with their new
     * parameters or the institution switched, and the agents replaced. Played, they are
     * recorded (the `fork` event, the new benchmarks); set again from a state saved after
     * them (`restored`), they are not, and the institution is the one the state saved.
     */
    const forkWorld = (spec: ForkSpec, restored?: RunState) => {
      const at = spec.after + 1;
      if (!restored)
        emit({
          type: 'fork',
          round: at,
          parent: spec.parent,
          after: spec.after,
          seed: spec.seed ?? null,
          interventions: tracedInterventions(spec.interventions),
        });
      // A world with other parameter values goes on from its state; the institution
      // then reads the new world (its benchmarks), going on from its own state too.
      const worldAfter = worldAfterFork(experiment);
      if (worldAfter.retuned) {
        // Draws of the rounds before were made under the values before.
        if (restored) world.drawn?.(spec.after);
        const benchmarks = world.retune(worldAfter.overrides, at);
        if (!restored) emit(benchmarks);
      }
    };
    const forkInstitutionAndAgents = (restored?: RunState) => {
      const after = governingAfterFork(experiment);
      if (after.switched || after.retuned || worldAfterFork(experiment).retuned) {
        if (!restored) institution.settle();
        ({
          runtime: institution,
          manifest,
          governsPublicly,
        } = governing(
          after.institution,
          after.overrides,
          // Switched: a new institution, every agent in its initial state; else the same one
          // with its new values, going on from its state.
          restored
            ? { restore: restored.institution }
            : after.switched
              ? {}
              : { restore: institution.save() },
        ));
        gate = gateOf(institution);
      }
      agentNames.forEach((firm, i) => {
        const policy = replaced.get(firm);
        if (policy) agents[i] = agentWith(i, firm, policy);
      });
    };
    /** Whether every part of the run can save its state now (see `RunState`). */
    const savable = () =>
      world.save !== undefined &&
      agents.every((a) => a.save !== undefined && a.restore !== undefined);
    const saveState = (): RunState | undefined => (savable() ? stateNow() : undefined);
    const stateNow = (): RunState => ({
      round,
      ended,
      history: history.slice(-roundsKept),
      notices: notices.map((n) => [...n]),
      texts: [...texts],
      horizon: horizon.save(),
      agents: agents.map((a, i) => ({
        random: (agentStreams[i] as SavableRandom).save(),
        state: a.save?.(),
      })),
      world: world.save?.(),
      institution: institution.save(),
      ledger: ledger.save(),
      gate: gate ? gate.save() : null,
      ...(llm ? { llm: llm.save() } : {}),
    });
    /** The round a run resumed from a state goes on after (its `record` is where it stopped). */
    const resumedAt = hooks.restore?.round;
    if (hooks.restore) {
      const saved = hooks.restore;
      // A state saved after a fork's round is that of the run the fork made: the world with
      // its new values (then its saved state: its benchmarks were computed in the fork's
      // round), the institution the state saved, the agents replaced.
      const forked = fork !== undefined && saved.round > fork.after;
      if (forked) forkWorld(fork, saved);
      world.restore?.(saved.world);
      if (forked) forkInstitutionAndAgents(saved);
      if (!savable() || saved.agents.length !== F)
        throw new Error('a state restored into a run that cannot save one');
      agents.forEach((agent, i) => {
        const own = saved.agents[i] as RunState['agents'][number];
        agent.restore?.(own.state);
        agentStreams[i]?.restore(own.random);
      });
      ledger.restore(saved.ledger);
      gate?.restore(saved.gate);
      if (saved.llm) llm?.restore(saved.llm);
      horizon.restore(saved.horizon);
      // One by one: an LLM run's history has a record per round played.
      for (const record of saved.history) history.push(record);
      saved.notices.forEach((n, i) => {
        notices[i]?.push(...n);
      });
      for (const id of saved.texts) texts.add(id);
      round = saved.round;
      playing = saved.round;
      completed = saved.round;
      ended = saved.ended;
      snapshot = recordPhase();
    }

    while (phaseOf(snapshot) !== 'finished' && phaseOf(snapshot) !== 'stopped') {
      switch (phaseOf(snapshot)) {
        case 'observe': {
          // A run that waits for nothing (scripted agents) would never let a signal's
          // handler run: give the event loop a turn now and then, when stopping is asked for.
          if (hooks.shouldStop && performance.now() - lastYield > YIELD_EVERY_MS) {
            await new Promise((resolve) => setImmediate(resolve));
            lastYield = performance.now();
          }
          const stop = hooks.shouldStop?.() ?? llm?.usage.exceeded();
          if (stop) {
            status = 'interrupted';
            reason = stop;
            snapshot = step(snapshot, 'stop');
            continue;
          }
          playing = round;
          if (fork && round === fork.after + 1) {
            forkWorld(fork);
            forkInstitutionAndAgents();
          }
          const now = round;
          observations = agentNames.map((_, i) => {
            const observation: Mutable<CommonObservation> = world.observation(round, i, history);
            if (horizonTold) observation.horizon = experiment.rounds;
            if (manifest) observation.manifest = manifest;
            if (governsPublicly) {
              observation.status = {
                state: institution.stateOf(i) as string,
                notices: notices[i] ?? [],
              };
              observation.wouldTrigger = (profile: Float64Array) =>
                institution.wouldTrigger(i, profile, now);
            }
            return observation;
          });
          break;
        }
        case 'talk': {
          const injected: { from?: number; to: readonly number[]; text: string }[] = [
            ...(world.inject?.(round) ?? []),
          ];
          if (fork && round === fork.after + 1)
            for (const m of injections)
              injected.push({
                from: agentIndex.get(m.from) ?? -1,
                to: m.to.flatMap((name) => {
                  const j = agentIndex.get(name);
                  return j === undefined ? [] : [j];
                }),
                text: m.text,
              });
          if (!talk && injected.length === 0) break;
          const inboxes: DeliveredMessage[][] = agentNames.map(() => []);
          const sent: string[][] = agentNames.map(() => []);
          /** The round's messages as the world reads them (agents by index). */
          const heard: KindMessage[] = [];
          // The world's messages come first, before anyone talks (talk round 0).
          for (const m of injected) {
            const to = m.to.map((j) => agentNames[j] as string);
            const id = ledger.next(round, 0);
            const sender = m.from === undefined || m.from < 0 ? -1 : m.from;
            const from = sender < 0 ? WORLD_SENDER : (agentNames[sender] as string);
            if (dropped.size > 0 && dropped.has(id)) {
              // A fork that drops it: sent, and seen by no one.
              emit({ type: 'message', round, talk_round: 0, id, from, to: [], text: m.text });
              emit({ type: 'message_dropped', round, talk_round: 0, id, from, to, text: m.text });
              continue;
            }
            // A fork that replaces it: these words are the message.
            const replacement = replacements.size > 0 ? replacements.get(id) : undefined;
            const text = replacement ?? m.text;
            emit({ type: 'message', round, talk_round: 0, id, from, to, text });
            if (replacement !== undefined)
              emit({ type: 'message_replaced', round, talk_round: 0, id, from, text: m.text });
            const message = { id, from, to, talkRound: 0, text };
            for (const j of m.to) inboxes[j]?.push(message);
            ledger.receive(m.to, id);
            heard.push({ id, from: sender, to: m.to, talkRound: 0, text });
          }
          for (let t = 1; t <= (talk?.rounds ?? 0); t++) {
            if (!talk) break;
            acting = true;
            let said: (readonly OutgoingMessage[])[];
            try {
              said = await askEveryFirm(
                F,
                (i) =>
                  agents[i]?.talk?.({
                    observation: observations[i],
                    talkRound: t,
                    talkRounds: talk.rounds,
                    inbox: [...(inboxes[i] ?? [])],
                    neighbours: talkNeighbours[i] ?? [],
                    senders: talkSenders[i] ?? [],
                    broadcast: talk.broadcast,
                    maxChars: talk.maxChars,
                    maxMessages: talk.maxMessages,
                  }) ?? [],
              );
            } finally {
              acting = false;
              flushPending();
            }
            // Limits are the runtime's, whatever an agent returns; messages are delivered after
            // everyone has spoken, in firm order, and are only ever text to other agents.
            const delivered: DeliveredMessage[] = [];
            /** Each delivered message's recipients, by agent index. */
            const deliveredTo: (readonly number[])[] = [];
            for (const [i, messages] of said.entries()) {
              const from = agentNames[i] as string;
              const neighbours = talkNeighbours[i] ?? [];
              const allowed = talkNeighbourSets[i] ?? new Set<string>();
              const list = Array.isArray(messages) ? messages : [];
              if (list.length > talk.maxMessages)
                emit({
                  type: 'talk_dropped',
                  round,
                  talk_round: t,
                  firm: from,
                  count: list.length - talk.maxMessages,
                });
              for (const m of list.slice(0, talk.maxMessages)) {
                const said = String(m?.text ?? '');
                // To every neighbour: nothing to check.
                const all = talk.broadcast || m?.to === neighbours;
                const named = all ? neighbours : [...new Set(m?.to ?? [])].map(String);
                const to = all ? neighbours : named.filter((f) => allowed.has(f));
                const refused = all ? [] : named.filter((f) => !allowed.has(f));
                const id = ledger.next(round, t);
                // A fork that replaces it: these words are the message (within the same limit).
                const replacement = replacements.size > 0 ? replacements.get(id) : undefined;
                const text = replacement ?? said;
                const kept = text.slice(0, talk.maxChars);
                // A fork that drops it: said, and seen by no one (not even the institution).
                const drop = dropped.size > 0 && dropped.has(id);
                // A fork's cut edges: those recipients do not get it (nor does the institution see it go to them).
                const cut =
                  muted.size > 0 && fork && round > fork.after
                    ? to.filter((r) => muted.has(`${from}>${r}`))
                    : [];
                const open = cut.length > 0 ? to.filter((r) => !muted.has(`${from}>${r}`)) : to;
                // The institution's mutes, quarantines, filters and paraphrases (runtime/talk/effects.ts).
                const gated = drop
                  ? { reached: [] as string[], blocked: [], text: kept }
                  : gate?.deliver({ round, talkRound: t, from: i, to: open, text: kept });
                const reached = gated?.reached ?? open;
                const reachedIndices =
                  reached === neighbours
                    ? (talk.neighbours[i] ?? [])
                    : reached.map((f) => agentIndex.get(f) as number);
                /** What the recipients read: the message, or the institution's paraphrase of it. */
                let received = gated?.text ?? kept;
                let paraphrased = gated?.paraphrased;
                if (gated?.byModel && paraphraser) {
                  const { model } = gated.byModel;
                  received = await paraphraser.rewrite(model, round, from, kept, emitInterned);
                  paraphrased = {
                    ...gated.byModel.paraphrased,
                    paraphraser: model,
                    text: kept,
                    paraphrase: received,
                  };
                }
                const parents = ledger.parents(i, m?.parents);
                emit({
                  type: 'message',
                  round,
                  talk_round: t,
                  id,
                  from,
                  to: [...reached],
                  ...parentFields(parents),
                  text: kept,
                  ...(kept.length < text.length ? { truncated: true } : {}),
                  ...(refused.length > 0 ? { refused } : {}),
                });
                if (replacement !== undefined)
                  emit({
                    type: 'message_replaced',
                    round,
                    talk_round: t,
                    id,
                    from,
                    text: said.slice(0, talk.maxChars),
                  });
                // Whom a fork kept it from: everyone (dropped), or the recipients of cut edges.
                if (drop || cut.length > 0)
                  emit({
                    type: 'message_dropped',
                    round,
                    talk_round: t,
                    id,
                    from,
                    to: drop ? [...to] : cut,
                    text: kept,
                  });
                if (drop) continue;
                // Each kept-back part names the message it belongs to.
                for (const blocked of gated?.blocked ?? []) emit({ ...blocked, id });
                if (paraphrased) emit({ ...paraphrased, id });
                sent[i]?.push(kept);
                if (world.hear)
                  heard.push({
                    id,
                    from: i,
                    to: reachedIndices,
                    talkRound: t,
                    text: received,
                  });
                if (reached.length > 0) {
                  deliveredTo.push(reachedIndices);
                  delivered.push({
                    id,
                    from,
                    to: reached === neighbours ? neighbours : [...reached],
                    talkRound: t,
                    text: received,
                    ...(parents.kept.length > 0 ? { parents: parents.kept } : {}),
                  });
                }
              }
            }
            delivered.forEach((m, d) => {
              const recipients = deliveredTo[d] ?? [];
              for (const j of recipients) inboxes[j]?.push(m);
              ledger.receive(recipients, m.id);
            });
          }
          // Set on the round's own observations (made fresh each round): a copy of each
          // was the largest single cost of a 10,000-agent round's loop.
          observations.forEach((o, i) => {
            (o as Mutable<CommonObservation>).messages = inboxes[i] ?? [];
          });
          if (talk?.visible) visibleTalk = { texts: sent };
          world.hear?.(round, heard);
          break;
        }
        case 'act': {
          // Every agent is asked at once; LLM firms' requests queue at their endpoint's limit.
          acting = true;
          let decisions: Awaited<ReturnType<Agent['decide']>>[];
          try {
            decisions = await askEveryFirm(F, (i) =>
              (agents[i] as Agent<unknown, unknown>).decide(observations[i]),
            );
          } finally {
            acting = false;
            flushPending();
          }
          decided = decisions.map((decision, i) => {
            const firm = agentNames[i] as string;
            const action = decision instanceof Float64Array ? decision : decision?.action;
            const rationale = decision instanceof Float64Array ? undefined : decision?.rationale;
            const valid =
              action instanceof Float64Array &&
              action.length === P &&
              action.every(Number.isFinite);
            if (tracing)
              emit({
                type: 'decision',
                round,
                firm,
                policy: agents[i]?.policy ?? '?',
                action: valid ? numbers(action) : [],
                ...(rationale !== undefined ? { rationale } : {}),
              });
            if (valid) return action as Float64Array;
            // An unusable action is replaced by the previous one (or the Nash action), and said so.
            const previous = history[history.length - 1]?.actions.subarray(i * P, (i + 1) * P);
            emit({
              type: 'invalid_action',
              round,
              firm,
              reason: `expected ${P} finite numbers`,
              fallback: previous ? 'previous' : world.fallbackName,
            });
            return previous ? Float64Array.from(previous) : world.fallback(i);
          });
          // A fork that undoes a deviation: the agent plays the benchmark this round.
          for (const firm of benchmarked.get(round) ?? []) {
            const i = agentIndex.get(firm);
            if (i === undefined) continue;
            const replacement = world.fallback(i);
            emit({
              type: 'action_replaced',
              round,
              firm,
              action: Array.from(decided[i] as Float64Array),
              replacement: Array.from(replacement),
              benchmark: world.fallbackName,
            });
            decided[i] = replacement;
          }
          break;
        }
        case 'enforce': {
          lawful = new Float64Array(F * P);
          agentNames.forEach((firm, i) => {
            const limits = institution.limits(i);
            const result = world.enforce(i, decided[i] as Float64Array, limits);
            for (const c of result.clamps) {
              emit({
                type: 'clamp',
                round,
                firm,
                cause: c.cause,
                ...(limits && c.cause !== 'bounds' && c.cause !== 'capacity'
                  ? { state: limits.state }
                  : {}),
                before: numbers(c.before),
                after: numbers(c.after),
              });
            }
            lawful.set(result.action, i * P);
          });
          break;
        }
        case 'clear': {
          outcome = world.clear(lawful, round);
          if (tracing) emit(world.outcomeEvent(outcome, round));
          break;
        }
        case 'adjudicate': {
          const cleared = outcome;
          const paid = world.payoff(cleared);
          const statesDuring = agentNames.map((_, i) => institution.stateOf(i) ?? null);
          const { effects, monitors } = institution.adjudicate(
            cleared,
            round,
            visibleTalk,
            pardons.get(round),
          );
          visibleTalk = undefined;
          if (monitors && hooks.onEvent)
            emit({ type: 'monitors', round, ...institution.monitorValues(monitors) });
          const fines = new Float64Array(F);
          const credits = new Float64Array(F);
          for (const n of notices) n.length = 0;
          for (const e of effects) {
            if (e.kind === 'blocked') {
              hooks.onBlocked?.({
                round,
                firm: e.firm === null ? null : (agentNames[e.firm] as string),
                id: e.id,
                from: e.from,
                to: e.to,
                reason: e.reason,
              });
            } else if (e.kind === 'transition') {
              emit({
                type: 'transition',
                round,
                firm: e.firm === null ? null : (agentNames[e.firm] as string),
                id: e.id,
                from: e.from,
                to: e.to,
                rule: e.rule,
                restorative: e.restorative,
              });
            } else if (e.kind === 'sanction') {
              const { kind, firm, ...sanction } = e;
              if (e.sanction === 'fine') fines[firm] = (fines[firm] ?? 0) + e.amount;
              else credits[firm] = (credits[firm] ?? 0) + e.amount;
              emit({ type: kind, round, firm: agentNames[firm] as string, ...sanction });
            } else if (e.kind === 'sanction_error') {
              // A non-finite amount is recorded, not applied: never a fine of 0.
              const { kind, firm, ...sanction } = e;
              emit({ type: kind, round, firm: agentNames[firm] as string, ...sanction });
            } else if (e.kind === 'counter') {
              const { kind, firm, ...change } = e;
              emit({
                type: kind,
                round,
                firm: firm === null ? null : (agentNames[firm] as string),
                ...change,
              });
            } else if (e.kind === 'notice') {
              notices[e.firm]?.push(e.text);
              emit({
                type: 'notice',
                round,
                firm: agentNames[e.firm] as string,
                state: e.state,
                text: e.text,
              });
            }
          }
          agentNames.forEach((firm, i) => {
            if (!tracing) return;
            const profit = paid[i] ?? 0;
            const fine = fines[i] ?? 0;
            const credit = credits[i] ?? 0;
            emit({
              type: 'payoff',
              round,
              firm,
              state: statesDuring[i] ?? null,
              profit,
              fines: fine,
              credits: credit,
              net: profit - fine + credit,
            });
          });
          // Learning agents learn from what they were paid.
          agents.forEach((agent, i) => {
            agent.learn?.(
              observations[i],
              decided[i] as Float64Array,
              cleared,
              (paid[i] ?? 0) - (fines[i] ?? 0) + (credits[i] ?? 0),
            );
          });
          history.push({ actions: lawful, outcome: cleared });
          completed++;
          // Dropped in batches, so a round costs no shift of the whole array.
          if (history.length >= 2 * roundsKept + 16) history.splice(0, history.length - roundsKept);
          world.advance(cleared);
          if (world.ended(cleared)) ended = true;
          break;
        }
        case 'record': {
          if (round !== resumedAt) hooks.onRoundEnd?.(round, saveState);
          const randomEnd =
            experiment.continuation !== undefined && horizon.next() >= experiment.continuation;
          const last = round >= experiment.rounds || randomEnd || ended;
          snapshot = step(snapshot, last ? 'last' : 'next');
          round++;
          continue;
        }
      }
      snapshot = step(snapshot, 'done');
    }
    institution.settle();
    emit({
      type: 'run_end',
      status,
      rounds_completed: completed,
      ...(reason ? { reason } : {}),
    });
    return {
      status,
      roundsCompleted: completed,
      ...(world.market
        ? { market: world.market.instance, benchmarks: world.market.benchmarks }
        : {}),
      ...(reason ? { reason } : {}),
      ...(llm ? { llm } : {}),
    };
  } finally {
    await llm?.close();
  }
}
