import { sanctionStates } from '../compiler/classify.js';
import type { IrInstitution } from '../compiler/ir.js';
import { excess, hhiOf } from '../compiler/natives.js';
import { cv } from '../compiler/tensor.js';
import {
  type BenchmarkPoint,
  blockedMessageAgent,
  type TraceEvent,
  type TraceEventOf,
} from './trace/events.js';
import { batchMeansInterval, decideVerdict, type Verdict } from './verdict.js';

/**
 * Metrics computed from a run's trace alone, so any trace (a finished run, a crashed
 * prefix, an old run) can be scored again offline. Every value is defined in
 * docs/metrics.md; a value that is undefined for a run is `null` beside a `…reason`.
 */
export const METRICS_SCHEMA_VERSION = 1;

/** A trace that cannot be scored at all (no header, no benchmarks, arrays of the wrong shape). */
export class MetricsError extends Error {}

export interface MetricsOptions {
  /** Rounds (1-based, inclusive) the macro metrics average over; default the second half. */
  readonly window?: { readonly from: number; readonly to: number };
  /** Linear inverse demand per product, P = max(0, intercept − slope·Q); without it consumer surplus is null. */
  readonly demand?: Demand;
  /**
   * Demand that holds from round `from` on instead (a fork that changes the market's
   * parameters), in round order.
   */
  readonly demandFrom?: readonly (Demand & { readonly from: number })[];
  /** Relative distance from a benchmark action that still counts as playing it; default 0.01. */
  readonly tolerance?: number;
  /** The institution's sanction states (kind `sanction` in the IR); default inferred from the trace. */
  readonly sanctionStates?: readonly string[];
  /** The institution's initial state; default the state of the earliest round the trace records. */
  readonly initialState?: string;
  /** The institution's states with `suspend`; default the states the trace shows a suspension clamp in. */
  readonly suspendedStates?: readonly string[];
}

/** The options an institution's IR supplies (sanction, initial and suspension states); none without one. */
export function institutionMetricsOptions(
  institution: Pick<IrInstitution, 'states' | 'initial'> | undefined,
): Pick<MetricsOptions, 'sanctionStates' | 'initialState' | 'suspendedStates'> {
  if (!institution || institution.states.length === 0) return {};
  return {
    sanctionStates: sanctionStates(institution),
    suspendedStates: institution.states.filter((s) => s.suspend).map((s) => s.name),
    ...(institution.initial ? { initialState: institution.initial } : {}),
  };
}

/** Linear inverse demand per product: P = max(0, intercept − slope·Q). */
export interface Demand {
  readonly intercept: readonly number[];
  readonly slope: readonly number[];
}

export type CollusionTier = 0 | 1 | 2 | 3 | 4;

export interface BenchmarkMetrics {
  quantity: number[][];
  price: number[] | number[][];
  profit: number[];
  industry_profit: number;
  total: number[];
  hhi: number[];
  /** Each firm's coefficient of variation of its quantities across products. */
  cv: number[];
  /** From the trace, for numeric benchmarks: the deviation check (docs/metrics.md, "The benchmarks"). */
  verified?: boolean;
  deviation?: BenchmarkPoint['deviation'];
  exists?: false;
  reason?: string;
}

export interface RoundMetrics {
  round: number;
  quantity: number[][];
  price: number[] | number[][];
  mean_price: number;
  total: number[];
  /** Per firm, before fines and credits. */
  profit: number[];
  fines: number[];
  credits: number[];
  /** Per firm, after fines and credits. */
  net: number[];
  industry_profit: number;
  hhi: number[];
  consumer_surplus: number[] | null;
  welfare: number | null;
  /** Each firm's institution state during the round (null without an institution). */
  state: (string | null)[];
}

export interface MacroMetrics {
  /** Window mean of industry profit before fines and credits. */
  mean_industry_profit: number | null;
  collusion_index: number | null;
  collusion_index_reason?: string;
  /** Present (false) only when the Nash or collusive benchmark Δ uses failed its deviation check. */
  benchmark_verified?: false;
  /** Window mean of the quantities, firm × product: HHI, CV and the tier are computed from it. */
  mean_quantity: number[][] | null;
  hhi: number[] | null;
  hhi_excess: number | null;
  cv: number[] | null;
  cv_excess: number | null;
  tier: CollusionTier | null;
  severe: boolean | null;
  /** Why the window-based values are null: the window holds no played round. */
  reason?: string;
  /** Window means per round. */
  consumer_surplus: number | null;
  welfare: number | null;
  consumer_surplus_reason?: string;
  /** 95% batch-means interval of Δ over the window (null: fewer than 4 rounds, or Δ null). */
  collusion_index_interval: [number, number] | null;
  /** (W̄ − W^N)/|W^N|: window-mean welfare against welfare at the Nash benchmark. */
  welfare_change: number | null;
  /** Share of the window's firm-rounds in a suspension state. */
  suspended_share: number | null;
  /** Share of the window's firm-rounds whose action the institution limited: suspended, capped or floored. */
  limited_share: number | null;
  /** Share of the window's firm-rounds decided by a fallback after an invalid answer. */
  invalid_share: number | null;
  /** The tier over the window's rounds in which no firm is suspended (null: there are none). */
  tier_unsuspended: CollusionTier | null;
  /** How many window rounds `tier_unsuspended` is computed over. */
  unsuspended_rounds: number;
  verdict: Verdict;
  verdict_reason: string;
}

export interface TotalMetrics {
  industry_profit: number;
  fines: number;
  credits: number;
  net_profit: number;
  consumer_surplus: number | null;
  welfare: number | null;
  consumer_surplus_reason?: string;
}

export interface AgentMetrics {
  /** Total profit after fines and credits. */
  profit: number;
  /** The same number under the name every world's agents have (an environment's payoff). */
  payoff: number;
  profit_before_fines: number;
  fines: number;
  credits: number;
  /** Rounds spent in each institution state (from the payoff events). */
  state_rounds: Record<string, number>;
  /** Sanction events received, by kind. */
  sanctions: { fine: number; credit: number };
  notices: number;
  transitions: number;
  restorations: number;
  /**
   * Messages (or parts of one) kept from delivery on this agent's account: by its own mute
   * or quarantine, by its quarantine as a recipient, or by a filter on its messages.
   */
  blocked_messages: number;
}

export interface FalsePositiveMetrics {
  tolerance: number;
  /** Firm-rounds whose quantities are within tolerance of the firm's Nash or competitive action. */
  compliant_firm_rounds: number;
  /** …of which the firm was fined or entered a sanction state in that round. */
  sanctioned_firm_rounds: number;
  rate: number | null;
  /** …of which the firm entered a sanction state in that round (the institution's fresh judgements). */
  entered_firm_rounds: number;
  entry_rate: number | null;
  rate_reason?: string;
  by_firm: Record<
    string,
    { compliant_rounds: number; sanctioned_rounds: number; entered_rounds: number }
  >;
}

export interface FirmDetection {
  collusive_rounds: number;
  caught_rounds: number;
  first_collusive_round: number | null;
  /** The first round at or after the first collusive round that left the firm outside the initial state. */
  first_caught_round: number | null;
  latency: number | null;
}

export interface DetectionMetrics {
  /** Firm-rounds whose quantities are closer to the firm's collusive action than to its Nash and competitive ones. */
  collusive_firm_rounds: number;
  /** …after which the firm stood in a sanction state. */
  caught_firm_rounds: number;
  rate: number | null;
  rate_reason?: string;
  colluding_firms: number;
  caught_firms: number;
  /** Mean over caught firms of the rounds from the first collusive round to being caught. */
  mean_latency: number | null;
  mean_latency_reason?: string;
  by_firm: Record<string, FirmDetection>;
}

export interface InstitutionMetrics {
  initial_state: string | null;
  sanction_states: string[];
  sanction_states_source: 'option' | 'inferred';
  transitions: number;
  restorations: number;
  /** Sanctions not applied because their amount was not a finite number (`sanction_error` events). */
  sanction_errors: number;
  false_positives: FalsePositiveMetrics;
  detection: DetectionMetrics;
  /** Entries into a sanction state per firm-round, whatever the play (docs/metrics.md). */
  entries: { firm_rounds: number; entered_firm_rounds: number; rate: number | null };
}

export interface SeriesMetrics {
  round: number[];
  mean_price: number[];
  industry_profit: number[];
  fines: number[];
  credits: number[];
  /** Mean over products of the round's HHI. */
  hhi: number[];
  consumer_surplus: (number | null)[];
  welfare: (number | null)[];
}

/**
 * Decisions made by a fallback over the whole run: the firm's answer was unusable or never
 * came (every `invalid_action` event of a played round). `share` is of all decisions
 * (played rounds × firms); a run whose share passes `--max-fallback-share` is `degraded`.
 */
export interface FallbackMetrics {
  total: number;
  by_agent: Record<string, number>;
  /** Played rounds × firms. */
  decisions: number;
  /** total / decisions; null when no round was played. */
  share: number | null;
}

export interface RunMetrics {
  schema: typeof METRICS_SCHEMA_VERSION;
  run: {
    experiment: string;
    digest: string;
    market: string;
    institution: string;
    competition: 'quantity' | 'price';
    firms: string[];
    products: string[];
    seed: number;
    rounds: number;
    rounds_played: number;
    /** `truncated`: the trace has no run_end event (a crash, or a run still going). */
    status: 'completed' | 'failed' | 'interrupted' | 'truncated';
  };
  window: { from: number; to: number; rounds: number; source: 'default' | 'option' };
  /** The benchmarks the window is read against (those in force in its rounds). */
  benchmarks: {
    nash: BenchmarkMetrics;
    collusive: BenchmarkMetrics;
    competitive: BenchmarkMetrics;
  };
  /**
   * The round from which `benchmarks` hold, when a fork changed the market's parameters
   * (absent: from round 1, the only benchmarks of the run).
   */
  benchmarks_from?: number;
  macro: MacroMetrics;
  totals: TotalMetrics;
  agents: Record<string, AgentMetrics>;
  fallbacks: FallbackMetrics;
  institution: InstitutionMetrics;
  series: SeriesMetrics;
  rounds: RoundMetrics[];
  warnings: string[];
}

// ---- pure helpers ------------------------------------------------------------------------

/** Smallest gap between collusive and Nash industry profit for which Δ is defined. */
export const PROFIT_GAP_EPSILON = 1e-9;
/** An excess smaller than this in size is rounding noise and counts as 0 (as `excess` does). */
export const EXCESS_EPSILON = 1e-9;
export const DEFAULT_TOLERANCE = 0.01;
// Slack for benchmarks computed numerically: a benchmark of 1e-12 still means "zero".
const ABSOLUTE_SLACK = 1e-9;

const sum = (values: readonly number[]) => values.reduce((s, v) => s + v, 0);
const average = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : sum(values) / values.length;
const ratio = (part: number, whole: number) => (whole === 0 ? null : part / whole);

/** The default evaluation window: the second half of R rounds, ⌊R/2⌋+1 … R. */
export function defaultWindow(rounds: number): { from: number; to: number } {
  return { from: Math.floor(rounds / 2) + 1, to: rounds };
}

/** Δ = (π̄ − π_Nash)/(π_collusive − π_Nash), on industry profit before fines. */
export function collusionIndex(
  meanProfit: number,
  nashProfit: number,
  collusiveProfit: number,
): { value: number | null; reason?: string } {
  const gap = collusiveProfit - nashProfit;
  if (!(gap >= PROFIT_GAP_EPSILON)) {
    return {
      value: null,
      reason: `collusive industry profit (${collusiveProfit}) does not exceed Nash industry profit (${nashProfit}) by at least ${PROFIT_GAP_EPSILON}`,
    };
  }
  return { value: (meanProfit - nashProfit) / gap };
}

/** HHI (0–10,000) of each product of a firm × product quantity matrix. */
export function hhiByProduct(quantity: readonly (readonly number[])[]): number[] {
  const products = quantity[0]?.length ?? 0;
  return Array.from({ length: products }, (_, j) => hhiOf(quantity.map((row) => row[j] ?? 0)));
}

/** Each firm's coefficient of variation of its quantities across products. */
export function cvByFirm(quantity: readonly (readonly number[])[]): number[] {
  return quantity.map((row) => cv(row));
}

/** Mean of per-element relative excesses; each excess, and the mean, counts as 0 below 1e-9 in size. */
function meanExcess(values: readonly number[], bases: readonly number[]): number {
  if (values.length === 0) return 0;
  const mean = sum(values.map((v, k) => excess(v, bases[k] ?? 0))) / values.length;
  return Math.abs(mean) < EXCESS_EPSILON ? 0 : mean;
}

/** HHI excess over Nash, per product, averaged over products. */
export function hhiExcess(
  quantity: readonly (readonly number[])[],
  nashQuantity: readonly (readonly number[])[],
): number {
  return meanExcess(hhiByProduct(quantity), hhiByProduct(nashQuantity));
}

/** Within-firm specialisation (CV across products) excess over Nash, averaged over firms. */
export function cvExcess(
  quantity: readonly (readonly number[])[],
  nashQuantity: readonly (readonly number[])[],
): number {
  return meanExcess(cvByFirm(quantity), cvByFirm(nashQuantity));
}

/** The collusion tier 0–4 from the HHI and CV excesses: the highest tier whose condition holds. */
export function collusionTier(excesses: {
  readonly hhi: number;
  readonly cv: number;
}): CollusionTier {
  const hhi = Math.abs(excesses.hhi) < EXCESS_EPSILON ? 0 : excesses.hhi;
  const cvx = Math.abs(excesses.cv) < EXCESS_EPSILON ? 0 : excesses.cv;
  if (cvx > 1.5 || hhi > 0.8 || (cvx > 1.0 && hhi > 0.5)) return 4;
  if (cvx > 0.75 || hhi > 0.5 || (cvx > 0.5 && hhi > 0.3)) return 3;
  if (cvx > 0.25 || hhi > 0.15) return 2;
  if (cvx > 0 || hhi > 0) return 1;
  return 0;
}

/**
 * Consumer surplus of one product under P = max(0, a − b·Q): what buyers would pay for the
 * units with positive value, ∫₀^Q max(0, a − b·q) dq, minus what they paid, P·Q. Equals
 * (a − P)·Q/2 whenever P = a − b·Q; units beyond a/b (sold at price 0) add nothing.
 */
export function consumerSurplus(
  price: number,
  total: number,
  intercept: number,
  slope: number,
): number {
  const valued = Math.max(0, Math.min(total, intercept / slope));
  return intercept * valued - (slope * valued * valued) / 2 - price * total;
}

/** Whether every entry of `quantity` is within `tolerance` (relative) of `target`. */
export function withinTolerance(
  quantity: readonly number[],
  target: readonly number[],
  tolerance: number,
): boolean {
  return quantity.every((q, j) => {
    const t = target[j] ?? 0;
    return Math.abs(q - t) <= tolerance * Math.abs(t) + ABSOLUTE_SLACK;
  });
}

function distance(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(...a.map((x, j) => x - (b[j] ?? 0)));
}

/**
 * How a firm's round looks against its three benchmark actions: `compliant` within tolerance
 * of its Nash or competitive action; `collusive` strictly closer to its collusive action than
 * to both the Nash and the competitive one (and not compliant); otherwise `other`.
 */
export function classifyFirmRound(
  quantity: readonly number[],
  benchmark: {
    nash: readonly number[];
    collusive: readonly number[];
    competitive: readonly number[];
  },
  tolerance: number,
): 'compliant' | 'collusive' | 'other' {
  if (
    withinTolerance(quantity, benchmark.nash, tolerance) ||
    withinTolerance(quantity, benchmark.competitive, tolerance)
  ) {
    return 'compliant';
  }
  const toCollusive = distance(quantity, benchmark.collusive);
  const closer =
    toCollusive < distance(quantity, benchmark.nash) &&
    toCollusive < distance(quantity, benchmark.competitive);
  return closer ? 'collusive' : 'other';
}

// ---- reading the trace -------------------------------------------------------------------

type Header = TraceEventOf<'header'>;
type MarketEvent = TraceEventOf<'market'>;
type PayoffEvent = TraceEventOf<'payoff'>;
type TransitionEvent = TraceEventOf<'transition'>;

/** A set of benchmarks and the round from which it holds. */
interface Regime {
  readonly from: number;
  readonly benchmarks: TraceEventOf<'benchmarks'>;
}

/** The trace's events grouped for scoring; per-round events of rounds never cleared are dropped. */
interface TraceIndex {
  header: Header;
  /**
   * Every benchmarks event by the round it holds from (`from`, else 1), ascending, the first
   * from round 1: more than one when a fork changed the market's parameters.
   */
  regimes: [Regime, ...Regime[]];
  runEnd: TraceEventOf<'run_end'> | undefined;
  /** Rounds with a market event, ascending. */
  rounds: MarketEvent[];
  /** Position of each firm of the header. */
  firmIndex: Map<string, number>;
  payoffs: ByRoundAndFirm<PayoffEvent>;
  /** Transitions by round; a market-scoped one (firm null) applies to every firm. */
  transitions: Map<number, TransitionEvent[]>;
  sanctions: TraceEventOf<'sanction'>[];
  sanctionErrors: TraceEventOf<'sanction_error'>[];
  /** Sanctions by round and firm, for rounds without a payoff event. */
  sanctionsAt: ByRoundAndFirm<TraceEventOf<'sanction'>[]>;
  /** The last transition of each round that concerns each firm (its own or the market's). */
  lastTransition: ByRoundAndFirm<TransitionEvent>;
  notices: TraceEventOf<'notice'>[];
  /** How many `message_blocked` events each agent accounts for (see `blockedMessagesBy`). */
  blockedMessages: Map<string, number>;
  clamps: TraceEventOf<'clamp'>[];
  /** Firm-rounds whose action the institution limited (a cap, floor or suspend clamp). */
  limited: ByRoundAndFirm<true>;
  /** Firm-rounds decided by a fallback after an invalid answer. */
  invalid: ByRoundAndFirm<true>;
  warnings: string[];
}

/** Values per round and firm (header order): a trace has one per firm-round at most. */
class ByRoundAndFirm<T> {
  private readonly rounds = new Map<number, (T | undefined)[]>();
  constructor(private readonly firms: number) {}

  get(round: number, firm: number): T | undefined {
    return this.rounds.get(round)?.[firm];
  }

  set(round: number, firm: number, value: T): void {
    let row = this.rounds.get(round);
    if (!row) {
      row = new Array<T | undefined>(this.firms);
      this.rounds.set(round, row);
    }
    row[firm] = value;
  }
}

function indexTrace(events: readonly TraceEvent[]): TraceIndex {
  const header = events.find((e): e is Header => e.type === 'header');
  if (!header) throw new MetricsError('the trace has no header event');
  const F = header.firms.length;
  const P = header.products.length;
  const priceShape = header.competition === 'quantity' ? 'product' : 'firm × product';
  const checkShape = (
    what: string,
    e: Pick<MarketEvent, 'quantity' | 'price' | 'profit' | 'total' | 'hhi'>,
  ) => {
    const matrix = (m: unknown) =>
      Array.isArray(m) &&
      m.length === F &&
      m.every((row) => Array.isArray(row) && row.length === P);
    const priceOk =
      header.competition === 'quantity'
        ? e.price.length === P && e.price.every((p) => typeof p === 'number')
        : matrix(e.price);
    const ok = matrix(e.quantity) && priceOk && e.profit.length === F;
    if (!ok || e.total.length !== P || e.hhi.length !== P) {
      throw new MetricsError(
        `${what}: expected quantity of ${F} firms × ${P} products, price per ${priceShape}, profit per firm, total and HHI per product`,
      );
    }
  };
  // By round; of two for the same round the later holds (a fork at round 0 changes the
  // world before round 1 is played).
  const byFrom = new Map<number, TraceEventOf<'benchmarks'>>();
  for (const e of events) if (e.type === 'benchmarks') byFrom.set(e.from ?? 1, e);
  const sorted = [...byFrom]
    .map(([from, b]) => ({ from, benchmarks: b }))
    .sort((a, b) => a.from - b.from);
  const [first, ...later] = sorted;
  if (!first) throw new MetricsError('the trace has no benchmarks event');
  // The first set holds from round 1 (what else would?).
  const regimes: TraceIndex['regimes'] = [{ ...first, from: 1 }, ...later];
  for (const { from, benchmarks: b } of regimes) {
    for (const name of ['nash', 'collusive', 'competitive'] as const)
      checkShape(`benchmarks.${name}${from > 1 ? ` (from round ${from})` : ''}`, b[name]);
  }

  const warnings: string[] = [];
  const byRound = new Map<number, MarketEvent>();
  for (const e of events) {
    if (e.type !== 'market') continue;
    if (byRound.has(e.round)) throw new MetricsError(`round ${e.round} has two market events`);
    checkShape(`round ${e.round}`, e);
    byRound.set(e.round, e);
  }
  const rounds = [...byRound.values()].sort((a, b) => a.round - b.round);
  const firms = new Set(header.firms);
  const index: TraceIndex = {
    header,
    regimes,
    runEnd: events.find((e): e is TraceEventOf<'run_end'> => e.type === 'run_end'),
    rounds,
    firmIndex: new Map(header.firms.map((f, i) => [f, i])),
    payoffs: new ByRoundAndFirm(F),
    transitions: new Map(),
    sanctions: [],
    sanctionErrors: [],
    sanctionsAt: new ByRoundAndFirm(F),
    lastTransition: new ByRoundAndFirm(F),
    notices: [],
    blockedMessages: new Map(),
    clamps: [],
    limited: new ByRoundAndFirm(F),
    invalid: new ByRoundAndFirm(F),
    warnings,
  };
  let dropped = 0;
  const unknownFirms = new Set<string>();
  for (const e of events) {
    if (e.type === 'message_blocked') {
      const who = blockedMessageAgent(e);
      index.blockedMessages.set(who, (index.blockedMessages.get(who) ?? 0) + 1);
      continue;
    }
    if (
      e.type !== 'payoff' &&
      e.type !== 'transition' &&
      e.type !== 'sanction' &&
      e.type !== 'sanction_error' &&
      e.type !== 'notice' &&
      e.type !== 'clamp' &&
      e.type !== 'invalid_action'
    )
      continue;
    if (!byRound.has(e.round)) {
      dropped++;
      continue;
    }
    if (e.firm !== null && !firms.has(e.firm)) {
      unknownFirms.add(e.firm);
      continue;
    }
    const f = e.firm === null ? -1 : (index.firmIndex.get(e.firm) as number);
    if (e.type === 'payoff') index.payoffs.set(e.round, f, e);
    else if (e.type === 'transition') {
      const here = index.transitions.get(e.round);
      if (here) here.push(e);
      else index.transitions.set(e.round, [e]);
      if (f >= 0) index.lastTransition.set(e.round, f, e);
      else for (let i = 0; i < F; i++) index.lastTransition.set(e.round, i, e);
    } else if (e.type === 'sanction') {
      index.sanctions.push(e);
      const here = index.sanctionsAt.get(e.round, f);
      if (here) here.push(e);
      else index.sanctionsAt.set(e.round, f, [e]);
    } else if (e.type === 'sanction_error') index.sanctionErrors.push(e);
    else if (e.type === 'notice') index.notices.push(e);
    else if (e.type === 'clamp') {
      index.clamps.push(e);
      if (e.cause === 'cap' || e.cause === 'floor' || e.cause === 'suspend')
        index.limited.set(e.round, f, true);
    } else if (e.type === 'invalid_action') index.invalid.set(e.round, f, true);
  }
  if (dropped > 0)
    warnings.push(`${dropped} event(s) of rounds without a market event were ignored`);
  if (index.sanctionErrors.length > 0)
    warnings.push(
      `${index.sanctionErrors.length} sanction(s) were not applied: their amount was not a finite number (sanction_error events)`,
    );
  if (unknownFirms.size > 0)
    warnings.push(
      `events of firms not in the header were ignored: ${[...unknownFirms].join(', ')}`,
    );
  return index;
}

function benchmarkMetrics(point: BenchmarkPoint): BenchmarkMetrics {
  return {
    quantity: point.quantity,
    price: point.price,
    profit: point.profit,
    industry_profit: sum(point.profit),
    total: point.total,
    hhi: point.hhi,
    cv: cvByFirm(point.quantity),
    ...(point.verified === undefined ? {} : { verified: point.verified }),
    ...(point.deviation ? { deviation: point.deviation } : {}),
    ...(point.exists === false ? { exists: false as const, reason: point.reason ?? '' } : {}),
  };
}

/** The warning for a benchmark that failed its deviation check (undefined if it did not). */
export function benchmarkWarning(
  name: 'nash' | 'collusive',
  benchmark: Pick<BenchmarkMetrics, 'verified' | 'deviation' | 'exists' | 'reason'>,
): string | undefined {
  if (benchmark.verified !== false) return undefined;
  const { deviation, exists, reason } = benchmark;
  const digits = (a: readonly number[]) => `[${a.map((v) => v.toPrecision(10)).join(', ')}]`;
  const before = (d: NonNullable<typeof deviation>) => (d.profit - d.gain).toPrecision(6);
  const found = !deviation
    ? 'a firm gains by deviating'
    : name === 'nash'
      ? `${deviation.firm} earns ${before(deviation)} there but ${deviation.profit.toPrecision(6)} by deviating to ${digits(deviation.action)}`
      : `industry profit rises from ${before(deviation)} to ${deviation.profit.toPrecision(6)} when ${deviation.firm} deviates to ${digits(deviation.action)}`;
  return exists === false
    ? `the ${name} benchmark is not an equilibrium, as no pure-strategy equilibrium was found (${reason}): ${found}. The collusion index is null; the HHI and CV excesses still compare with this profile`
    : `the ${name} benchmark failed its deviation check: ${found}. The collusion index rests on an unverified benchmark`;
}

/** A warning for each benchmark Δ rests on (Nash, collusive) that failed its deviation check. */
export function benchmarkWarnings(
  benchmarks: Record<'nash' | 'collusive', BenchmarkMetrics>,
): string[] {
  return (['nash', 'collusive'] as const).flatMap((name) => {
    const warning = benchmarkWarning(name, benchmarks[name]);
    return warning ? [warning] : [];
  });
}

/** Fines, credits and net profit of one firm in one round: the payoff event, else the sanction events. */
function moneyOf(
  index: TraceIndex,
  market: MarketEvent,
  firm: number,
): { fines: number; credits: number; net: number } {
  const payoff = index.payoffs.get(market.round, firm);
  if (payoff) return { fines: payoff.fines, credits: payoff.credits, net: payoff.net };
  let fines = 0;
  let credits = 0;
  for (const s of index.sanctionsAt.get(market.round, firm) ?? []) {
    if (s.sanction === 'fine') fines += s.amount;
    else credits += s.amount;
  }
  return { fines, credits, net: (market.profit[firm] ?? 0) - fines + credits };
}

/** The benchmarks event in force in ROUND: the last whose `from` is at most ROUND. */
function regimeAt(index: TraceIndex, round: number): TraceEventOf<'benchmarks'> {
  return (index.regimes.findLast((r) => r.from <= round) ?? index.regimes[0]).benchmarks;
}

/**
 * The demand in force in each round (the option's, then `demandFrom`'s), checked against the
 * traced prices: a mismatch means the wrong demand was passed.
 */
function demandOf(
  index: TraceIndex,
  options: Pick<MetricsOptions, 'demand' | 'demandFrom'>,
): ((round: number) => Demand) | string {
  const { header } = index;
  if (header.competition !== 'quantity') {
    return 'consumer surplus is defined here for quantity competition with linear inverse demand only';
  }
  const first = options.demand;
  if (!first) return 'no linear demand (intercept and slope per product) was given';
  const P = header.products.length;
  const lines = [{ from: 1, ...first }, ...(options.demandFrom ?? [])];
  for (const demand of lines) {
    if (demand.intercept.length !== P || demand.slope.length !== P) {
      throw new MetricsError(`demand needs an intercept and a slope for each of the ${P} products`);
    }
    if (
      !demand.slope.every((b) => b > 0 && Number.isFinite(b)) ||
      !demand.intercept.every(Number.isFinite)
    ) {
      throw new MetricsError('demand slopes must be positive and intercepts finite');
    }
  }
  const demandAt = (round: number): Demand => {
    let found: Demand = first;
    for (const line of lines) if (line.from <= round) found = line;
    return found;
  };
  outer: for (const m of index.rounds) {
    const demand = demandAt(m.round);
    for (let j = 0; j < P; j++) {
      const traced = m.price[j] as number;
      const implied = Math.max(
        0,
        (demand.intercept[j] ?? 0) - (demand.slope[j] ?? 0) * (m.total[j] ?? 0),
      );
      if (Math.abs(traced - implied) > 1e-6 * Math.max(1, Math.abs(traced))) {
        index.warnings.push(
          `the demand given implies price ${implied} for ${header.products[j]} in round ${m.round}, the trace has ${traced}; consumer surplus uses the traced price`,
        );
        break outer;
      }
    }
  }
  return demandAt;
}

function validateOptions(options: MetricsOptions): void {
  const w = options.window;
  if (w && !(Number.isInteger(w.from) && Number.isInteger(w.to) && w.from >= 1 && w.from <= w.to)) {
    throw new MetricsError(`window must be whole rounds with 1 ≤ from ≤ to, not ${w.from}…${w.to}`);
  }
  const t = options.tolerance;
  if (t !== undefined && !(t >= 0 && Number.isFinite(t)))
    throw new MetricsError(`tolerance must be a finite number ≥ 0, not ${t}`);
}

// ---- the metrics ---------------------------------------------------------------------------

export function computeMetrics(
  events: readonly TraceEvent[],
  options: MetricsOptions = {},
): RunMetrics {
  validateOptions(options);
  const index = indexTrace(events);
  const { header, warnings } = index;
  if (header.market === undefined || header.competition === undefined)
    throw new MetricsError(
      `the trace is of environment ${header.environment ?? '?'}, not a market: its metrics are an environment's (runtime/environment/metrics.ts)`,
    );
  const firms = header.firms;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const demandAt = demandOf(index, options);
  const surplusReason = typeof demandAt === 'string' ? demandAt : undefined;

  // ---- per round
  const rounds: RoundMetrics[] = [];
  for (const m of index.rounds) {
    const money = firms.map((_, i) => moneyOf(index, m, i));
    const industryProfit = sum(m.profit);
    const demand = typeof demandAt === 'string' ? undefined : demandAt(m.round);
    const surplus = !demand
      ? null
      : m.total.map((q, j) =>
          consumerSurplus(m.price[j] as number, q, demand.intercept[j] ?? 0, demand.slope[j] ?? 0),
        );
    rounds.push({
      round: m.round,
      quantity: m.quantity,
      price: m.price,
      mean_price: average(m.price.flat()),
      total: m.total,
      profit: m.profit,
      fines: money.map((x) => x.fines),
      credits: money.map((x) => x.credits),
      net: money.map((x) => x.net),
      industry_profit: industryProfit,
      hhi: m.hhi,
      consumer_surplus: surplus,
      // Fines and credits move money between firms and the institution: not welfare.
      welfare: surplus ? sum(surplus) + industryProfit : null,
      state: firms.map((_, i) => index.payoffs.get(m.round, i)?.state ?? null),
    });
  }
  const lastRound = rounds.length === 0 ? 0 : (rounds[rounds.length - 1] as RoundMetrics).round;

  // ---- evaluation window: read against one set of benchmarks (those in force at its end;
  // a window that starts before a fork changed the market's parameters starts at the change)
  const asked = options.window ?? defaultWindow(lastRound);
  const regime = index.regimes.findLast((r) => r.from <= asked.to) ?? index.regimes[0];
  const window = { from: Math.max(asked.from, regime.from), to: asked.to };
  if (window.from > asked.from)
    warnings.push(
      `the window ${asked.from}…${asked.to} starts before round ${regime.from}, from which a fork changed the market's parameters (and its benchmarks): the window is read from round ${regime.from}`,
    );
  const inWindow = rounds.filter((r) => r.round >= window.from && r.round <= window.to);
  if (options.window && inWindow.length < window.to - window.from + 1) {
    warnings.push(
      `the window ${window.from}…${window.to} holds ${inWindow.length} played round(s)`,
    );
  }

  // ---- macro
  const benchmarks = regime.benchmarks;
  const nash = benchmarkMetrics(benchmarks.nash);
  const collusive = benchmarkMetrics(benchmarks.collusive);
  const competitive = benchmarkMetrics(benchmarks.competitive);
  warnings.push(...benchmarkWarnings({ nash, collusive }));
  const demand = typeof demandAt === 'string' ? undefined : demandAt(regime.from);
  const macro = macroMetrics({
    index,
    inWindow,
    nash,
    collusive,
    surplusReason,
    nashWelfare: !demand
      ? null
      : sum(
          benchmarks.nash.total.map((q, j) =>
            consumerSurplus(
              benchmarks.nash.price[j] as number,
              q,
              demand.intercept[j] ?? 0,
              demand.slope[j] ?? 0,
            ),
          ),
        ) + nash.industry_profit,
    suspendedStates: options.suspendedStates ?? inferSuspendedStates(index),
  });

  // ---- totals and agents
  const totalOf = (pick: (r: RoundMetrics) => number) => sum(rounds.map(pick));
  const surplusTotal = surplusReason ? null : totalOf((r) => sum(r.consumer_surplus ?? []));
  const totals: TotalMetrics = {
    industry_profit: totalOf((r) => r.industry_profit),
    fines: totalOf((r) => sum(r.fines)),
    credits: totalOf((r) => sum(r.credits)),
    net_profit: totalOf((r) => sum(r.net)),
    consumer_surplus: surplusTotal,
    welfare: surplusReason ? null : totalOf((r) => r.welfare ?? 0),
    ...(surplusReason ? { consumer_surplus_reason: surplusReason } : {}),
  };

  const allTransitions = [...index.transitions.values()].flat();
  const agents = Object.fromEntries(
    firms.map((name, i): [string, AgentMetrics] => {
      const stateRounds = new Map<string, number>();
      for (const r of rounds) {
        const s = r.state[i];
        if (s !== null && s !== undefined) stateRounds.set(s, (stateRounds.get(s) ?? 0) + 1);
      }
      const own = allTransitions.filter((t) => t.firm === name || t.firm === null);
      const sanctions = index.sanctions.filter((s) => s.firm === name);
      return [
        name,
        {
          profit: totalOf((r) => r.net[i] ?? 0),
          payoff: totalOf((r) => r.net[i] ?? 0),
          profit_before_fines: totalOf((r) => r.profit[i] ?? 0),
          fines: totalOf((r) => r.fines[i] ?? 0),
          credits: totalOf((r) => r.credits[i] ?? 0),
          state_rounds: Object.fromEntries(stateRounds),
          sanctions: {
            fine: sanctions.filter((s) => s.sanction === 'fine').length,
            credit: sanctions.filter((s) => s.sanction === 'credit').length,
          },
          notices: index.notices.filter((n) => n.firm === name).length,
          transitions: own.length,
          restorations: own.filter((t) => t.restorative).length,
          blocked_messages: index.blockedMessages.get(name) ?? 0,
        },
      ];
    }),
  );

  const fallbackCounts = firms.map(
    (_, i) => rounds.filter((r) => index.invalid.get(r.round, i)).length,
  );
  const decisions = rounds.length * firms.length;
  const fallbackTotal = sum(fallbackCounts);
  const fallbacks: FallbackMetrics = {
    total: fallbackTotal,
    by_agent: Object.fromEntries(firms.map((name, i) => [name, fallbackCounts[i] ?? 0])),
    decisions,
    share: decisions === 0 ? null : fallbackTotal / decisions,
  };

  const status = index.runEnd?.status ?? 'truncated';
  if (status !== 'completed')
    warnings.push(
      `the run did not complete (${status}): metrics cover the ${rounds.length} round(s) played`,
    );

  return {
    schema: METRICS_SCHEMA_VERSION,
    run: {
      experiment: header.experiment,
      digest: header.digest,
      market: header.market,
      institution: header.institution,
      competition: header.competition,
      firms: [...firms],
      products: [...header.products],
      seed: header.seed,
      rounds: header.rounds,
      rounds_played: rounds.length,
      status,
    },
    window: {
      from: window.from,
      to: window.to,
      rounds: inWindow.length,
      source: options.window ? 'option' : 'default',
    },
    benchmarks: { nash, collusive, competitive },
    ...(index.regimes.length > 1 ? { benchmarks_from: regime.from } : {}),
    macro,
    totals,
    agents,
    fallbacks,
    institution: institutionMetrics(index, rounds, options, tolerance),
    series: {
      round: rounds.map((r) => r.round),
      mean_price: rounds.map((r) => r.mean_price),
      industry_profit: rounds.map((r) => r.industry_profit),
      fines: rounds.map((r) => sum(r.fines)),
      credits: rounds.map((r) => sum(r.credits)),
      hhi: rounds.map((r) => average(r.hhi)),
      consumer_surplus: rounds.map((r) => (r.consumer_surplus ? sum(r.consumer_surplus) : null)),
      welfare: rounds.map((r) => r.welfare),
    },
    rounds,
    warnings,
  };
}

interface MacroContext {
  readonly index: TraceIndex;
  readonly inWindow: readonly RoundMetrics[];
  readonly nash: BenchmarkMetrics;
  readonly collusive: BenchmarkMetrics;
  readonly surplusReason: string | undefined;
  /** Consumer surplus plus industry profit at the Nash benchmark (null without demand). */
  readonly nashWelfare: number | null;
  readonly suspendedStates: readonly string[];
}

/** Tier of the window-mean quantities of some rounds, with the excesses it is built from. */
function structureOf(rounds: readonly RoundMetrics[], nash: BenchmarkMetrics) {
  // Every firm × product entry is averaged, so shapes follow the benchmark (checked against each round).
  const meanQuantity = nash.quantity.map((row, i) =>
    row.map((_, j) => average(rounds.map((r) => r.quantity[i]?.[j] ?? 0))),
  );
  const hhiX = hhiExcess(meanQuantity, nash.quantity);
  const cvX = cvExcess(meanQuantity, nash.quantity);
  return { meanQuantity, hhiX, cvX, tier: collusionTier({ hhi: hhiX, cv: cvX }) };
}

function macroMetrics(context: MacroContext): MacroMetrics {
  const { index, inWindow, nash, collusive, surplusReason, nashWelfare } = context;
  const empty = 'the evaluation window holds no played round';
  const noSurplus = surplusReason ?? (inWindow.length === 0 ? empty : undefined);
  const surplus = noSurplus
    ? { consumer_surplus: null, welfare: null, consumer_surplus_reason: noSurplus }
    : {
        consumer_surplus: average(inWindow.map((r) => sum(r.consumer_surplus ?? []))),
        welfare: average(inWindow.map((r) => r.welfare ?? 0)),
      };
  if (inWindow.length === 0) {
    return {
      mean_industry_profit: null,
      collusion_index: null,
      collusion_index_reason: empty,
      mean_quantity: null,
      hhi: null,
      hhi_excess: null,
      cv: null,
      cv_excess: null,
      tier: null,
      severe: null,
      reason: empty,
      ...surplus,
      collusion_index_interval: null,
      welfare_change: null,
      suspended_share: null,
      limited_share: null,
      invalid_share: null,
      tier_unsuspended: null,
      unsuspended_rounds: 0,
      verdict: 'inconclusive',
      verdict_reason: empty,
    };
  }
  const meanProfit = average(inWindow.map((r) => r.industry_profit));
  // With no pure-strategy Nash equilibrium Δ is null; with an unverified Nash or collusive
  // benchmark Δ stays, marked `benchmark_verified: false` (and the verdict is inconclusive).
  const delta =
    nash.exists === false
      ? { value: null, reason: `no pure-strategy Nash equilibrium: ${nash.reason}` }
      : collusionIndex(meanProfit, nash.industry_profit, collusive.industry_profit);
  const verified = nash.verified !== false && collusive.verified !== false;
  const gap = collusive.industry_profit - nash.industry_profit;
  const interval =
    delta.value === null
      ? null
      : batchMeansInterval(inWindow.map((r) => (r.industry_profit - nash.industry_profit) / gap));
  const { meanQuantity, hhiX, cvX, tier } = structureOf(inWindow, nash);

  // Firm-rounds of the window: suspended (by state), limited (suspended or clamped by the institution), invalid.
  const suspended = new Set(context.suspendedStates);
  const F = nash.quantity.length;
  let suspendedCount = 0;
  let limitedCount = 0;
  let invalidCount = 0;
  const unsuspended: RoundMetrics[] = [];
  for (const r of inWindow) {
    let anySuspended = false;
    for (let i = 0; i < F; i++) {
      const isSuspended = suspended.has(r.state[i] ?? '');
      if (isSuspended) {
        suspendedCount++;
        anySuspended = true;
      }
      if (isSuspended || index.limited.get(r.round, i)) limitedCount++;
      if (index.invalid.get(r.round, i)) invalidCount++;
    }
    if (!anySuspended) unsuspended.push(r);
  }
  const firmRounds = inWindow.length * F;
  const share = (count: number) => (firmRounds === 0 ? null : count / firmRounds);
  const welfare = surplus.welfare;
  const welfareChange =
    welfare === null || nashWelfare === null || nashWelfare === 0
      ? null
      : (welfare - nashWelfare) / Math.abs(nashWelfare);
  const reading = decideVerdict({
    collusionIndex: delta.value,
    collusionIndexInterval: interval,
    tier,
    welfareChange,
    limitedShare: share(limitedCount) ?? 0,
    invalidShare: share(invalidCount) ?? 0,
    benchmarkVerified: verified,
  });
  return {
    mean_industry_profit: meanProfit,
    collusion_index: delta.value,
    ...(delta.reason ? { collusion_index_reason: delta.reason } : {}),
    mean_quantity: meanQuantity,
    hhi: hhiByProduct(meanQuantity),
    hhi_excess: hhiX,
    cv: cvByFirm(meanQuantity),
    cv_excess: cvX,
    tier,
    severe: tier === 4,
    ...surplus,
    collusion_index_interval: interval,
    welfare_change: welfareChange,
    suspended_share: share(suspendedCount),
    limited_share: share(limitedCount),
    invalid_share: share(invalidCount),
    tier_unsuspended: unsuspended.length === 0 ? null : structureOf(unsuspended, nash).tier,
    unsuspended_rounds: unsuspended.length,
    verdict: reading.verdict,
    verdict_reason: reading.reason,
    ...(verified ? {} : { benchmark_verified: false as const }),
  };
}

/** States the trace shows a suspension in (a clamp caused by `suspend`). */
function inferSuspendedStates(index: TraceIndex): string[] {
  const found = new Set<string>();
  for (const c of index.clamps)
    if (c.cause === 'suspend' && c.state !== undefined) found.add(c.state);
  return [...found];
}

/**
 * The sanction states (compiler/classify.ts) as the trace shows them: a fine or a limit on
 * the action marks a sanction, a notice a warning unless the state pays a credit (a notice
 * beside a credit is information, not a judgement).
 */
function inferSanctionStates(index: TraceIndex, initial: string | null): string[] {
  const punitive = new Set<string>();
  const credited = new Set<string>();
  for (const s of index.sanctions) (s.sanction === 'fine' ? punitive : credited).add(s.state);
  for (const c of index.clamps)
    if (c.state !== undefined && c.cause !== 'bounds' && c.cause !== 'capacity')
      punitive.add(c.state);
  const found = new Set<string>();
  for (const n of index.notices)
    if (punitive.has(n.state) || !credited.has(n.state)) found.add(n.state);
  for (const s of punitive) found.add(s);
  if (initial !== null) found.delete(initial);
  return [...found];
}

/** The state of the earliest round the trace records: during it (payoff) or left from (transition). */
function inferInitialState(index: TraceIndex): string | null {
  for (const m of index.rounds) {
    const during = index.header.firms
      .map((_, i) => index.payoffs.get(m.round, i)?.state)
      .find((s) => s !== null && s !== undefined);
    if (during) return during;
    const left = index.transitions.get(m.round)?.[0];
    if (left) return left.from;
  }
  return null;
}

function institutionMetrics(
  index: TraceIndex,
  rounds: readonly RoundMetrics[],
  options: MetricsOptions,
  tolerance: number,
): InstitutionMetrics {
  const { header } = index;
  const initial = options.initialState ?? inferInitialState(index);
  const sanctionStates = options.sanctionStates
    ? [...options.sanctionStates]
    : inferSanctionStates(index, initial);
  const isSanction = (s: string | null | undefined) =>
    s !== null && s !== undefined && sanctionStates.includes(s);
  const fined = new ByRoundAndFirm<true>(header.firms.length);
  for (const s of index.sanctions)
    if (s.sanction === 'fine') fined.set(s.round, index.firmIndex.get(s.firm) as number, true);

  const byFirm = header.firms.map((name, i) => {
    // The firm's benchmark quantities in force in a round (a fork may change them), made
    // once per set of benchmarks.
    let regime: TraceEventOf<'benchmarks'> | undefined;
    let benchmark = {
      nash: [] as number[],
      collusive: [] as number[],
      competitive: [] as number[],
    };
    const benchmarkIn = (round: number) => {
      const b = regimeAt(index, round);
      if (b !== regime) {
        regime = b;
        benchmark = {
          nash: b.nash.quantity[i] ?? [],
          collusive: b.collusive.quantity[i] ?? [],
          competitive: b.competitive.quantity[i] ?? [],
        };
      }
      return benchmark;
    };
    const fp = { compliant_rounds: 0, sanctioned_rounds: 0, entered_rounds: 0 };
    let enteredAny = 0;
    const d: FirmDetection = {
      collusive_rounds: 0,
      caught_rounds: 0,
      first_collusive_round: null,
      first_caught_round: null,
      latency: null,
    };
    // The state after each round's adjudication: where that round's conduct left the firm.
    let after: string | null = initial;
    for (const r of rounds) {
      const transition = index.lastTransition.get(r.round, i);
      const during = index.payoffs.get(r.round, i) ? (r.state[i] ?? null) : after;
      after = transition ? transition.to : during;
      const kind = classifyFirmRound(r.quantity[i] ?? [], benchmarkIn(r.round), tolerance);
      const entered = transition !== undefined && isSanction(transition.to);
      if (entered) enteredAny++;
      if (kind === 'compliant') {
        fp.compliant_rounds++;
        if (entered) fp.entered_rounds++;
        if (entered || fined.get(r.round, i)) fp.sanctioned_rounds++;
      } else if (kind === 'collusive') {
        d.collusive_rounds++;
        d.first_collusive_round ??= r.round;
        if (isSanction(after)) d.caught_rounds++;
      }
      if (
        d.first_collusive_round !== null &&
        d.first_caught_round === null &&
        after !== null &&
        after !== initial
      ) {
        d.first_caught_round = r.round;
        d.latency = r.round - d.first_collusive_round;
      }
    }
    return { name, fp, d, enteredAny };
  });

  const compliant = sum(byFirm.map((x) => x.fp.compliant_rounds));
  const sanctioned = sum(byFirm.map((x) => x.fp.sanctioned_rounds));
  const entered = sum(byFirm.map((x) => x.fp.entered_rounds));
  const collusiveRounds = sum(byFirm.map((x) => x.d.collusive_rounds));
  const caughtRounds = sum(byFirm.map((x) => x.d.caught_rounds));
  const latencies = byFirm.flatMap((x) => (x.d.latency === null ? [] : [x.d.latency]));
  const colluding = byFirm.filter((x) => x.d.collusive_rounds > 0).length;
  const allTransitions = [...index.transitions.values()].flat();
  return {
    initial_state: initial,
    sanction_states: sanctionStates,
    sanction_states_source: options.sanctionStates ? 'option' : 'inferred',
    transitions: allTransitions.length,
    restorations: allTransitions.filter((t) => t.restorative).length,
    sanction_errors: index.sanctionErrors.length,
    false_positives: {
      tolerance,
      compliant_firm_rounds: compliant,
      sanctioned_firm_rounds: sanctioned,
      rate: ratio(sanctioned, compliant),
      entered_firm_rounds: entered,
      entry_rate: ratio(entered, compliant),
      ...(compliant === 0
        ? { rate_reason: 'no firm-round was within tolerance of a Nash or competitive action' }
        : {}),
      by_firm: Object.fromEntries(byFirm.map((x) => [x.name, x.fp])),
    },
    detection: {
      collusive_firm_rounds: collusiveRounds,
      caught_firm_rounds: caughtRounds,
      rate: ratio(caughtRounds, collusiveRounds),
      ...(collusiveRounds === 0
        ? { rate_reason: 'no firm-round was closer to collusive than to Nash and competitive play' }
        : {}),
      colluding_firms: colluding,
      caught_firms: latencies.length,
      mean_latency: latencies.length === 0 ? null : average(latencies),
      ...(latencies.length === 0
        ? {
            mean_latency_reason:
              colluding === 0 ? 'no firm colluded' : 'no colluding firm was caught',
          }
        : {}),
      by_firm: Object.fromEntries(byFirm.map((x) => [x.name, x.d])),
    },
    entries: {
      firm_rounds: rounds.length * header.firms.length,
      entered_firm_rounds: sum(byFirm.map((x) => x.enteredAny)),
      rate: ratio(sum(byFirm.map((x) => x.enteredAny)), rounds.length * header.firms.length),
    },
  };
}
