import { z } from 'zod';
import { reviveInfinity } from './writer.js';

z.config({ jitless: true });

/**
 * The trace: one JSON object per line of `events.jsonl`, first a header with the schema
 * version, then typed events. Every per-round event has an integer `round` (1-based).
 * Arrays follow the firms' and products' declaration order: `number[firm][product]`
 * for firm × product values. Wall-clock values live only in fields ending in `_at` or
 * `_ms`; nothing else depends on the clock, the output directory or per-run randomness.
 */
export const TRACE_SCHEMA_VERSION = 1;

/**
 * A typed array as the plain list of numbers an event holds. `Array.from` walks the typed
 * array's iterator, about 20 times slower for the few entries of a round's arrays (240 ns
 * against 13 ns for one entry, measured on Node 20), and a run builds several a round.
 */
export function numbers(values: ArrayLike<number>): number[] {
  const list = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) list[i] = values[i] as number;
  return list;
}

/**
 * How much of a run its trace keeps (docs/architecture.md, "Trace levels"): `full`, every
 * event; `summary`, every event but the per-agent payoff rows, which it packs into one
 * `payoffs` row a round (read back as the payoff events they hold); `none`, the header and
 * the run's end only. The header of a trace below `full` names its level.
 */
export const TRACE_LEVELS = ['full', 'summary', 'none'] as const;
export type TraceLevel = (typeof TRACE_LEVELS)[number];

const firmProduct = z.array(z.array(z.number()));
const perFirm = z.array(z.number());
const perProduct = z.array(z.number());
const round = z.int().min(1);
/** A monitor value: a number or truth value, per firm or product (arrays), or null (unknown). */
const monitorValue = z.union([z.number(), z.boolean(), z.null(), z.array(z.unknown())]);

export const benchmarkPointSchema = z.object({
  quantity: firmProduct,
  /** Per product (quantity competition) or firm × product (price competition). */
  price: z.union([perProduct, firmProduct]),
  profit: perFirm,
  total: perProduct,
  hhi: perProduct,
  method: z.enum(['closed-form', 'numeric']),
  /**
   * Numeric benchmarks checked for profitable unilateral deviations (Nash: each firm's own
   * profit; collusive: industry profit). Absent for closed forms, which are exact.
   */
  verified: z.boolean().optional(),
  /** When not verified: the most profitable deviation found. */
  deviation: z
    .object({
      firm: z.string(),
      /** The firm's actions, one per product. */
      action: perProduct,
      /** The firm's profit there (industry profit for the collusive benchmark). */
      profit: z.number(),
      /** Its gain over the benchmark. */
      gain: z.number(),
    })
    .optional(),
  /** Nash: `false` when no pure-strategy equilibrium was found; `reason` says why. */
  exists: z.literal(false).optional(),
  reason: z.string().optional(),
});
export type BenchmarkPoint = z.infer<typeof benchmarkPointSchema>;

export const traceEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('header'),
    schema: z.literal(TRACE_SCHEMA_VERSION),
    experiment: z.string(),
    /** sha256 of the resolved experiment (sources, parameters, agents, seed). */
    digest: z.string(),
    /** The world: `market` (with `competition`) or `environment` (with `axis`). */
    market: z.string().optional(),
    environment: z.string().optional(),
    /** An environment's agent axis (`fisher`); its agents are listed under `firms`. */
    axis: z.string().optional(),
    institution: z.string(),
    /** The agents, in order (a market's firms, an environment's fishers, players, …). */
    firms: z.array(z.string()),
    /** A market's products; an environment's one action column, named after the action. */
    products: z.array(z.string()),
    competition: z.enum(['quantity', 'price']).optional(),
    rounds: z.int().min(1),
    seed: z.int(),
    policies: z.record(z.string(), z.string()),
    /** The trace's level (absent: `full`). */
    trace: z.enum(TRACE_LEVELS).optional(),
  }),
  /** An environment's round: every observable (state at the round's start, lets, action, payoff). */
  z.object({
    type: z.literal('environment'),
    round,
    values: z.record(z.string(), z.union([z.number(), z.null(), z.array(z.number().nullable())])),
  }),
  /**
   * An environment's benchmarks: each one's action and the payoff it earns, per agent. A
   * fork that changes the environment's parameters writes its new ones, holding `from` its
   * round on (absent: from round 1).
   */
  z.object({
    type: z.literal('environment_benchmarks'),
    from: round.optional(),
    benchmarks: z.record(z.string(), z.object({ action: perFirm, payoff: perFirm })),
  }),
  /** A market's benchmarks; a fork that changes its parameters writes new ones, as above. */
  z.object({
    type: z.literal('benchmarks'),
    from: round.optional(),
    nash: benchmarkPointSchema,
    collusive: benchmarkPointSchema,
    competitive: benchmarkPointSchema,
  }),
  z.object({
    type: z.literal('decision'),
    round,
    firm: z.string(),
    policy: z.string(),
    action: perProduct,
    rationale: z.string().optional(),
    decided_ms: z.number().optional(),
  }),
  z.object({
    /** A message between firms in the talk phase, as delivered. */
    type: z.literal('message'),
    round,
    /** 0 for a message the world sent before the talk (`from: "world"`). */
    talk_round: z.int().min(0),
    /**
     * `m<round>.<talk_round>.<k>`, k the message's 1-based order in its talk round
     * (runtime/talk/lineage.ts). Absent in traces written before messages had ids.
     */
    id: z.string().optional(),
    from: z.string(),
    /**
     * The firms it reached (those it named that are not neighbours are in `refused`; those an
     * institution kept it from, in the `message_blocked` events after it).
     */
    to: z.array(z.string()),
    /** The messages it answers or was derived from: ids of messages its sender received. */
    parents: z.array(z.string()).optional(),
    /** Parents the sender named but never received: not kept in `parents`. */
    unknown_parents: z.array(z.string()).optional(),
    text: z.string(),
    /** The text was cut to the length limit. */
    truncated: z.boolean().optional(),
    refused: z.array(z.string()).optional(),
  }),
  z.object({
    /**
     * A message, or its part for some recipients, that an institution kept from delivery
     * (runtime/talk/effects.ts): `to` are the recipients it did not reach; `cause` says why:
     * the sender's or a recipient's state (`agent`, `state`: `mute` or `quarantine`), or a
     * filter (`reason`; `agent` and `state` null). The `message` event before it says whom
     * the message did reach.
     */
    type: z.literal('message_blocked'),
    round,
    talk_round: z.int().min(1),
    from: z.string(),
    to: z.array(z.string()),
    cause: z.enum(['mute', 'quarantine', 'filter']),
    agent: z.string().nullable(),
    state: z.string().nullable(),
    reason: z.string().optional(),
    text: z.string(),
    /** The id of the `message` event it belongs to (absent in traces written before ids). */
    id: z.string().optional(),
  }),
  z.object({
    /**
     * A message an institution rewrote before delivery (runtime/talk/effects.ts): its sender
     * was in `state`, which paraphrases. `text` is what the sender wrote (the `message` event
     * before it, with the same `id`), `paraphrase` what `to` received; `paraphraser` names
     * what rewrote it (`synonyms`: the scripted paraphrase of runtime/talk/synonyms.ts).
     */
    type: z.literal('message_paraphrased'),
    round,
    talk_round: z.int().min(1),
    id: z.string(),
    from: z.string(),
    to: z.array(z.string()),
    state: z.string(),
    paraphraser: z.string(),
    text: z.string(),
    paraphrase: z.string(),
  }),
  z.object({
    /** Messages beyond a firm's limit per talk round, not sent. */
    type: z.literal('talk_dropped'),
    round,
    talk_round: z.int().min(1),
    firm: z.string(),
    count: z.int().min(1),
  }),
  z.object({
    /** A text the trace refers to by id (prompt text is stored once per run). */
    type: z.literal('text'),
    round,
    id: z.string(),
    text: z.string(),
  }),
  z.object({
    /** One question to a model and its answer (or the lack of one). */
    type: z.literal('llm_call'),
    round,
    firm: z.string(),
    model: z.string(),
    /**
     * `talk` for a talk turn, `paraphrase` for an institution's model rewriting a message of
     * `firm`'s (runtime/talk/paraphrase.ts); absent for the question of what to do.
     */
    purpose: z.enum(['talk', 'paraphrase']).optional(),
    /** 1 for the round's first question, 2… for re-asks after an unusable answer. */
    attempt: z.int().min(1),
    /** The messages sent, as ids of `text` events. */
    messages: z.array(
      z.object({ role: z.enum(['system', 'user', 'assistant']), text: z.string() }),
    ),
    /** The raw answer; null when none came (every attempt failed). */
    response: z.string().nullable(),
    /** The action parsed from it, when it was usable. */
    action: perProduct.nullable(),
    rationale: z.string().optional(),
    /** Why the answer could not be used. */
    error: z.string().optional(),
    prompt_tokens: z.int().min(0),
    completion_tokens: z.int().min(0),
    /** Transport retries this question took (each an `llm_retry` event). */
    retries: z.int().min(0),
    cache_hit: z.boolean(),
    /** Whether the answer was constrained to the schema (structured output). */
    structured: z.boolean().optional(),
    latency_ms: z.number(),
  }),
  z.object({
    /** A transport fault worth another attempt. */
    type: z.literal('llm_retry'),
    round,
    firm: z.string(),
    model: z.string(),
    /** `bad_body`: a 200 whose body is not a chat completion (not JSON, an HTML page, cut short). */
    cause: z.enum(['429', '5xx', 'timeout', 'reset', 'bad_body']),
    /** The attempt that failed (1 = the first). */
    attempt: z.int().min(1),
    status: z.int().optional(),
    /** The wait before the next attempt. */
    delay_ms: z.number(),
    /** What the endpoint asked for in `Retry-After`, when it did (the wait is at most 30 s). */
    retry_after_ms: z.number().optional(),
  }),
  z.object({
    type: z.literal('invalid_action'),
    round,
    firm: z.string(),
    reason: z.string(),
    fallback: z.string(),
  }),
  z.object({
    type: z.literal('clamp'),
    round,
    firm: z.string(),
    /** What limited the action: the market's bounds or capacity, or the institution. */
    cause: z.enum(['bounds', 'capacity', 'cap', 'floor', 'suspend']),
    state: z.string().optional(),
    before: perProduct,
    after: perProduct,
  }),
  z.object({
    type: z.literal('market'),
    round,
    quantity: firmProduct,
    price: z.union([perProduct, firmProduct]),
    revenue: perFirm,
    cost: perFirm,
    profit: perFirm,
    total: perProduct,
    hhi: perProduct,
  }),
  z.object({
    type: z.literal('monitors'),
    round,
    /** Values of the market's machine, or shared by every firm's machine, by monitor name. */
    values: z.record(z.string(), monitorValue),
    /** The other monitors of per-firm machines: one value per firm, in the firms' order. */
    by_firm: z.record(z.string(), z.array(monitorValue)),
  }),
  z.object({
    type: z.literal('transition'),
    round,
    firm: z.string().nullable(),
    id: z.string(),
    from: z.string(),
    to: z.string(),
    rule: z.string().nullable(),
    restorative: z.boolean(),
  }),
  z.object({
    type: z.literal('sanction'),
    round,
    firm: z.string(),
    state: z.string(),
    sanction: z.enum(['fine', 'credit']),
    timing: z.enum(['entry', 'each_round']),
    amount: z.number(),
  }),
  z.object({
    /** A sanction whose amount is not a finite number (e.g. a fine of `inf`): not applied. */
    type: z.literal('sanction_error'),
    round,
    firm: z.string(),
    state: z.string(),
    sanction: z.enum(['fine', 'credit']),
    timing: z.enum(['entry', 'each_round']),
    amount: z.enum(['inf', '-inf', 'nan']),
  }),
  z.object({
    type: z.literal('notice'),
    round,
    firm: z.string(),
    state: z.string(),
    text: z.string(),
  }),
  z.object({
    /**
     * A counter of an institution changed (`add`, `reset`, `decay`), or a change whose amount
     * was not a finite number and was not made (`from` = `to`). `firm`: whose machine; null
     * for a market-scoped institution. `timing`: on entry into `state`, in a round spent in
     * it, or when `transition` fired out of it.
     */
    type: z.literal('counter'),
    round,
    firm: z.string().nullable(),
    counter: z.string(),
    change: z.enum(['add', 'reset', 'decay']),
    amount: z.union([z.number(), z.enum(['inf', '-inf', 'nan'])]).nullable(),
    from: z.number(),
    to: z.number(),
    timing: z.enum(['entry', 'each_round', 'transition']),
    state: z.string(),
    transition: z.string().optional(),
  }),
  z.object({
    type: z.literal('payoff'),
    round,
    firm: z.string(),
    /** The state the firm was in during the round (null without an institution). */
    state: z.string().nullable(),
    profit: z.number(),
    fines: z.number(),
    credits: z.number(),
    net: z.number(),
  }),
  z.object({
    /**
     * The run is a fork (docs/checkpoints.md): rounds 1..`after` are those of the run
     * `parent` (its run id), made again; from this round on its random streams come from
     * `seed` (null: the parent's streams go on) and `interventions` apply.
     */
    type: z.literal('fork'),
    round,
    parent: z.string(),
    after: z.int().min(0),
    seed: z.int().nullable(),
    interventions: z.array(
      z.discriminatedUnion('kind', [
        z.object({
          kind: z.literal('agents'),
          policies: z.record(
            z.string(),
            z.object({
              name: z.string(),
              args: z.array(z.object({ name: z.string().optional(), value: z.unknown() })),
            }),
          ),
        }),
        z.object({ kind: z.literal('drop_message'), id: z.string() }),
        z.object({ kind: z.literal('replace_message'), id: z.string(), text: z.string() }),
        z.object({ kind: z.literal('reset'), agents: z.array(z.string()) }),
        z.object({ kind: z.literal('benchmark_action'), agent: z.string(), round }),
        z.object({ kind: z.literal('pardon'), agent: z.string(), round }),
        z.object({ kind: z.literal('param'), name: z.string(), value: z.unknown() }),
        z.object({
          kind: z.literal('mute'),
          edges: z.array(z.object({ from: z.string(), to: z.string() })),
        }),
        z.object({
          kind: z.literal('inject_message'),
          from: z.string(),
          to: z.array(z.string()),
          text: z.string(),
        }),
        /** The institution governing from this round on, and its parameters (the manifest holds it whole). */
        z.object({
          kind: z.literal('institution'),
          name: z.string(),
          overrides: z.record(z.string(), z.unknown()),
        }),
      ]),
    ),
  }),
  z.object({
    /**
     * A fork's intervention acting on an action: `firm` chose `action` and plays
     * `replacement`, the `benchmark` (the world's fallback: `nash` in a market).
     */
    type: z.literal('action_replaced'),
    round,
    firm: z.string(),
    action: z.array(z.number()),
    replacement: z.array(z.number()),
    benchmark: z.string(),
  }),
  z.object({
    /**
     * A fork's intervention acting on a message: `id` was delivered with the words of its
     * `message` event instead of `text`, the words its sender said.
     */
    type: z.literal('message_replaced'),
    round,
    talk_round: z.int().min(0),
    id: z.string(),
    from: z.string(),
    text: z.string(),
  }),
  z.object({
    /** A fork's intervention acting on a message: `id` was said and not delivered to `to`. */
    type: z.literal('message_dropped'),
    round,
    talk_round: z.int().min(0),
    id: z.string(),
    from: z.string(),
    to: z.array(z.string()),
    text: z.string(),
  }),
  z.object({
    type: z.literal('run_end'),
    status: z.enum(['completed', 'failed', 'interrupted']),
    rounds_completed: z.int().min(0),
    reason: z.string().optional(),
  }),
]);

export type TraceEvent = z.infer<typeof traceEventSchema>;
export type TraceEventOf<T extends TraceEvent['type']> = Extract<TraceEvent, { type: T }>;

/**
 * The agent a message kept from delivery is on the account of (the governance log's `firm`,
 * metrics' `blocked_messages`): the agent whose state kept it back (the sender, or a
 * quarantined recipient), or for a filter the sender.
 */
export function blockedMessageAgent(e: TraceEventOf<'message_blocked'>): string {
  return e.agent ?? e.from;
}

/**
 * A round's payoff events as a summary trace packs them: one value per agent, in the
 * header's order (`state` null: no agent was in a state). `net` is not written: it is
 * `profit − fines + credits`, as the run computed it.
 */
export const payoffsRowSchema = z.object({
  type: z.literal('payoffs'),
  round,
  state: z.array(z.string().nullable()).nullable(),
  profit: perFirm,
  fines: perFirm,
  credits: perFirm,
});
export type PayoffsRow = z.infer<typeof payoffsRowSchema>;

/** The payoff events a `payoffs` row holds, for the agents named in the trace's header. */
export function unpackPayoffs(row: PayoffsRow, firms: readonly string[]): TraceEventOf<'payoff'>[] {
  if (
    row.profit.length !== firms.length ||
    row.fines.length !== firms.length ||
    row.credits.length !== firms.length ||
    (row.state !== null && row.state.length !== firms.length)
  )
    throw new Error(`a payoffs row of round ${row.round} does not hold one value per agent`);
  return firms.map((firm, i) => {
    const profit = row.profit[i] as number;
    const fines = row.fines[i] as number;
    const credits = row.credits[i] as number;
    return {
      type: 'payoff',
      round: row.round,
      firm,
      state: row.state?.[i] ?? null,
      profit,
      fines,
      credits,
      net: profit - fines + credits,
    };
  });
}

/**
 * What one parsed line of a trace stands for, for readers that check lines: the event, or
 * for a `payoffs` row the payoff events it holds (`firms`: the header's agents). Throws a
 * message for a line that is neither.
 */
export function eventsOfLine(value: unknown, firms: readonly string[]): TraceEvent[] {
  if ((value as { type?: unknown } | null)?.type === 'payoffs') {
    const row = payoffsRowSchema.safeParse(value);
    if (!row.success) throw new Error(row.error.issues[0]?.message ?? 'invalid');
    return unpackPayoffs(row.data, firms);
  }
  const parsed = traceEventSchema.safeParse(value);
  if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid');
  return [parsed.data];
}

/**
 * Reads an events.jsonl text back into typed events; a bad line is an error naming it.
 * A last line with no newline after it is a write cut short (a killed process, a full
 * disk): it is left out, and `torn` says so.
 */
export function parseTraceTolerant(text: string): { events: TraceEvent[]; torn: boolean } {
  const events: TraceEvent[] = [];
  const lines = text.split('\n');
  const torn = lines[lines.length - 1] !== '';
  lines.pop();
  let firms: readonly string[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line, reviveInfinity);
    } catch {
      throw new Error(`events.jsonl line ${i + 1} is not JSON`);
    }
    let read: TraceEvent[];
    try {
      read = eventsOfLine(value, firms);
    } catch (error) {
      throw new Error(`events.jsonl line ${i + 1}: ${(error as Error).message}`);
    }
    for (const event of read) {
      if (event.type === 'header') firms = event.firms;
      events.push(event);
    }
  });
  return { events, torn };
}

/** Reads an events.jsonl text back into typed events (a torn last line is left out). */
export function parseTrace(text: string): TraceEvent[] {
  return parseTraceTolerant(text).events;
}

/** An event that says what became of a message (an institution's paraphrase, a fork's replacement or drop). */
export type MessageNote = TraceEventOf<
  'message_paraphrased' | 'message_replaced' | 'message_dropped'
>;

export const isMessageNote = (e: TraceEvent): e is MessageNote =>
  e.type === 'message_paraphrased' || e.type === 'message_replaced' || e.type === 'message_dropped';
