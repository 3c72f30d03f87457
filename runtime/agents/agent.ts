import type { Benchmarks } from '../market/benchmarks.js';
import type { MarketInstance, Outcome } from '../market/instance.js';

/**
 * What a firm sees before it acts. Past rounds are given in full to scripted and
 * learning agents (they read numbers, not text); LLM agents are shown only what the
 * market's `observe` item lists (runtime/llm/prompts.ts).
 */
export interface Observation extends CommonObservation {
  readonly market: MarketInstance;
  readonly benchmarks: Benchmarks;
  /**
   * Outcomes of the rounds played so far, oldest first, and each round's actions (the
   * latest ones only, when every agent says how many it reads: `Agent.lookBack`).
   */
  readonly history: readonly { readonly actions: Float64Array; readonly outcome: Outcome }[];
}

/** What an agent of any world sees before it acts, besides the world itself. */
export interface CommonObservation {
  readonly round: number;
  /** The number of rounds, when agents are told it (a fixed, announced horizon). */
  readonly horizon?: number;
  /** Index of this agent in the world's agent order. */
  readonly firm: number;
  /** The public manifest and directive, when the institution is public. */
  readonly manifest?: string;
  /** This firm's institution state and the notices it received last round. */
  readonly status?: { readonly state: string; readonly notices: readonly string[] };
  /**
   * Whether the institution would find evidence against this firm if every firm played
   * `profile` (firm × product) this round — the public rules applied to a hypothetical.
   * Present when the institution is public; an `evader` uses it to stay just below the
   * thresholds.
   */
  readonly wouldTrigger?: (profile: Float64Array) => boolean;
  /** Messages other firms sent this firm this round (when the experiment has talk). */
  readonly messages?: readonly DeliveredMessage[];
}

/** A message as delivered: its id, who sent it, to whom, in which talk round. */
export interface DeliveredMessage {
  /** `m<round>.<talk round>.<k>` (runtime/talk/lineage.ts); what a reply names in `parents`. */
  readonly id: string;
  /** The sender, or `world` for a message the world sent itself (talk round 0). */
  readonly from: string;
  readonly to: readonly string[];
  readonly talkRound: number;
  readonly text: string;
  /** The messages it answers or was derived from (ids its sender received). */
  readonly parents?: readonly string[];
}

/** A message an agent wants to send: to named firms, or (broadcast) to all its neighbours. */
export interface OutgoingMessage {
  readonly to?: readonly string[];
  readonly text: string;
  /**
   * Ids of the messages this one answers or was derived from. Only ids of messages the
   * sender received (in this run, any earlier talk round) are kept; the trace records the
   * others as `unknown_parents`.
   */
  readonly parents?: readonly string[];
}

/** What an agent is told when it may talk. */
export interface TalkTurn<O = Observation> {
  readonly observation: O;
  /** 1 to `talkRounds`. */
  readonly talkRound: number;
  readonly talkRounds: number;
  /** Messages received so far this round. */
  readonly inbox: readonly DeliveredMessage[];
  /** The firms it may write to. */
  readonly neighbours: readonly string[];
  /**
   * The firms that may write to it; with one-way links (`chain`, `tree`, `a>b` in `edges`)
   * not the same as `neighbours`.
   */
  readonly senders: readonly string[];
  /** Each message goes to all neighbours; `to` is ignored. */
  readonly broadcast: boolean;
  readonly maxChars: number;
  readonly maxMessages: number;
}

/** One firm's action: a quantity (or price) per product. */
export type Action = Float64Array;

/** An action with the reasons the agent gave for it (LLM firms give a rationale). */
export interface Decision {
  readonly action: Action;
  readonly rationale?: string;
}

/**
 * An agent of a world: market agents see an `Observation` and a market `Outcome`; an
 * environment's agents see an `EnvironmentObservation` (runtime/environment/policies.ts).
 */
export interface Agent<O = Observation, R = Outcome> {
  readonly policy: string;
  /**
   * How many of the latest rounds of `observation.history` this agent reads (0: none).
   * Absent: it may read them all. When every agent of a run says, the run keeps only the
   * rounds the most demanding one reads, so a long run of a large world does not hold every
   * round's outcome; older rounds are then missing from `history`.
   */
  readonly lookBack?: number;
  decide(observation: O): Action | Decision | Promise<Action | Decision>;
  /** May send messages before acting, when the experiment has talk (absent: says nothing). */
  talk?(turn: TalkTurn<O>): readonly OutgoingMessage[] | Promise<readonly OutgoingMessage[]>;
  /** Called after each round with the agent's own payoff after sanctions (learning agents update here). */
  learn?(observation: O, action: Action, outcome: R, reward: number): void;
  /**
   * What the agent holds between rounds (a Q-table, a memory, a flag), as plain data a
   * checkpoint stores (docs/checkpoints.md); null when it holds nothing. Its random stream is
   * the run's and is saved by the run. An agent without `save` cannot be checkpointed: a run
   * with one resumes by playing its rounds again.
   */
  save?(): unknown;
  /** Puts a freshly made agent in the state `save` gave (called before its first round). */
  restore?(state: unknown): void;
}

/** The `save` and `restore` of an agent that holds nothing between rounds. */
export const HOLDS_NOTHING = {
  save: (): null => null,
  restore: (): void => {},
} as const;

/** A seeded random source; every random choice of a run goes through one of these. */
export interface Random {
  next(): number;
}
