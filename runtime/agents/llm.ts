import { z } from 'zod';
import type { ChatMessage, ChatRequest, ChatResponse } from '../llm/client.js';
import { TransportError } from '../llm/client.js';
import type { RetryEvent } from '../llm/layers.js';
import {
  DEFAULT_TEMPLATES,
  fill,
  type Memory,
  type Placeholder,
  type PromptTemplates,
  promptValues,
  type TalkPrompt,
} from '../llm/prompts.js';
import type { Endpoint } from '../llm/services.js';
import {
  DEFAULT_API_KEY_ENV,
  type GenerationSettings,
  type ModelSpec,
  parseModelSpec,
} from '../llm/spec.js';
import type { TraceEvent } from '../trace/events.js';
import type {
  Action,
  Agent,
  CommonObservation,
  Decision,
  Observation,
  OutgoingMessage,
  TalkTurn,
} from './agent.js';
import { type AgentContext, type PolicyArgument, PolicyArguments, PolicyError } from './policy.js';

/**
 * An LLM firm: each round it is shown the market's rules, the institution's public
 * manifest and its own status when the institution is public, its history window and its
 * PLANS / INSIGHTS scratchpads, and answers with JSON: its action per product, rewritten
 * scratchpads and a short rationale. An unusable answer is re-asked, quoting what was
 * wrong, up to `reasks` times; then the fallback applies (its previous action, or a
 * policy's), recorded as an `invalid_action` event. A run never stops on a bad answer.
 */

export const LLM_ARGUMENTS = [
  'model',
  'temperature',
  'max_tokens',
  'seed',
  'memory',
  'reasks',
  'fallback',
  'api_key_env',
] as const;

/** A transport failure that no retry can mend (a refused key, an unknown model): the run fails. */
export class LlmFatalError extends Error {
  override name = 'LlmFatalError';
}

export interface LlmAgentConfig {
  readonly spec: ModelSpec;
  readonly settings: GenerationSettings;
  readonly memory: Memory;
  readonly reasks: number;
  /** `previous` (the agent's last valid action; the world's fallback in round 1), or the world's fallback (`nash` in markets). */
  readonly fallback: string;
  /** Templates from `--prompts`; absent: the world's defaults. */
  readonly templates?: PromptTemplates;
  /**
   * The run's seed in force when the model is asked, for a policy that names no seed: a
   * fork continued under another seed asks with that seed after its round.
   */
  readonly seedNow?: () => number;
}

/** A parsed answer: the action per product under the market's key, scratchpads, rationale. */
export interface Answer {
  readonly values: number[];
  readonly plans: string;
  readonly insights: string;
  readonly rationale: string;
}

/** The answer's shape for a market: the action per product, scratchpads, rationale. */
export function answerSchema(key: string, products: readonly string[]) {
  return z.strictObject({
    [key]: z
      .array(z.number())
      .length(products.length, `give one number per product (${products.join(', ')})`),
    plans: z.string(),
    insights: z.string(),
    rationale: z.string(),
  });
}

/**
 * What an LLM agent needs of its world: the answer it gives (a number per product in a
 * market; one number, or one of named options, in an environment), the bounds it must
 * keep, the prompt's values, and the action that replaces an unusable answer.
 */
export interface LlmWorld<O> {
  /** The agent's name (`f1`, `fisher1`). */
  readonly agent: string;
  /** The answer's key: `quantity`, `price`, or an environment's action variable. */
  readonly key: string;
  /** `numbers`: one per entry (`entries`); `number`: one; `option`: one of `options`, by name. */
  readonly answer:
    | { readonly kind: 'numbers'; readonly entries: readonly string[] }
    | { readonly kind: 'number' }
    | { readonly kind: 'option'; readonly options: readonly string[] };
  /** Bounds per entry (one entry outside markets). */
  readonly low: readonly number[];
  readonly high: readonly number[];
  /** Spacing of lawful actions (an environment's `step`). */
  readonly step?: number;
  /** The fallback's name (`nash`, an environment's first benchmark) and its action. */
  readonly fallbackName: string;
  fallback(observation: O): Float64Array;
  /** The default prompt templates of this world (replaced by `--prompts`). */
  readonly templates: PromptTemplates;
  values(
    observation: O,
    scratchpads: { plans: string; insights: string },
    memory: Memory,
    answerFormat: string,
    talk?: TalkPrompt,
  ): Record<Placeholder, string>;
}

/** The zod schema of a world's answers and its one-line format for the prompt. */
function worldAnswer(world: LlmWorld<unknown>): { schema: z.ZodType; format: string } {
  const rest = { plans: z.string(), insights: z.string(), rationale: z.string() };
  const tail = '"plans": "...", "insights": "...", "rationale": "..."';
  const { key, answer } = world;
  switch (answer.kind) {
    case 'numbers':
      return {
        schema: answerSchema(key, answer.entries),
        format: `{"${key}": [${answer.entries.map((p) => `<${p}>`).join(', ')}], ${tail}}`,
      };
    case 'number':
      return {
        schema: z.strictObject({ [key]: z.number(), ...rest }),
        format: `{"${key}": <${key}>, ${tail}}`,
      };
    case 'option':
      return {
        schema: z.strictObject({ [key]: z.enum(answer.options as [string, ...string[]]), ...rest }),
        format: `{"${key}": "<${answer.options.join(' | ')}>", ${tail}}`,
      };
  }
}

/** The most parent ids one message of a talk answer may name. */
const MAX_PARENTS = 10;
const PARENTS_HINT =
  '\n"parents" (optional) lists the ids of the messages above that yours answers or is derived from.';

/** Why an answer above the size limit cannot be used (only its start was kept). */
const oversizeProblem = (response: ChatResponse): string | undefined =>
  response.oversizeBytes === undefined
    ? undefined
    : `the answer was ${response.oversizeBytes} bytes, more than the answer size limit; answer with one short JSON object`;

/** Whether `v` is `low` plus a whole number of `step`s (to a relative tolerance). */
const onGrid = (v: number, low: number, step: number): boolean => {
  const k = (v - low) / step;
  return Math.abs(k - Math.round(k)) <= 1e-9 * Math.max(1, Math.abs(k));
};

const firstJsonObject = (text: string): string => {
  // Models wrap JSON in code fences or a sentence; take the outermost object.
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  return start >= 0 && end > start ? text.slice(start, end + 1) : text;
};

/** What an LLM agent needs of the run: where it records, and the model services' usage. */
export interface LlmAgentContext {
  readonly emit?: (event: TraceEvent) => void;
  readonly llm?: AgentContext['llm'];
}

export class LlmAgent<O extends CommonObservation = Observation> implements Agent<O, unknown> {
  readonly policy: string;
  private plans = '';
  private insights = '';
  private previous: Float64Array | undefined;
  private readonly key: string;
  private readonly schema: z.ZodType;
  private readonly jsonSchema: Record<string, unknown>;
  private readonly answerFormat: string;
  /** The range of this agent's actions over all entries. */
  private readonly range: { min: number; max: number };

  /** Its memory between rounds (its plans, insights and last action), for a checkpoint. */
  save(): unknown {
    return { plans: this.plans, insights: this.insights, previous: this.previous };
  }

  restore(state: unknown): void {
    ({
      plans: this.plans,
      insights: this.insights,
      previous: this.previous,
    } = state as { plans: string; insights: string; previous: Float64Array | undefined });
  }

  /** The settings a question is asked with: the policy's, with the run's seed in force. */
  private settings(): GenerationSettings {
    const { settings, seedNow } = this.config;
    return seedNow ? { ...settings, seed: seedNow() } : settings;
  }

  constructor(
    private readonly config: LlmAgentConfig,
    private readonly endpoint: Endpoint,
    private readonly context: LlmAgentContext,
    private readonly world: LlmWorld<O>,
  ) {
    this.policy = `llm(${config.spec.text})`;
    this.key = world.key;
    const answer = worldAnswer(world as LlmWorld<unknown>);
    this.schema = answer.schema;
    this.jsonSchema = z.toJSONSchema(this.schema) as Record<string, unknown>;
    this.answerFormat = answer.format;
    this.range = { min: Math.min(...world.low), max: Math.max(...world.high) };
  }

  /** `--prompts` templates, or the world's own. */
  private get templates(): PromptTemplates {
    return this.config.templates ?? this.world.templates;
  }

  private emit(event: TraceEvent): void {
    this.context.emit?.(event);
  }

  /** Checks a parsed answer against the world's action space; the message is for the model. */
  private validate(response: ChatResponse): { action: Float64Array; answer: Answer } | string {
    const raw = response.content;
    const tooLarge = oversizeProblem(response);
    if (tooLarge) return tooLarge;
    if (raw.trim() === '') return 'the answer was empty';
    let json: unknown;
    try {
      json = JSON.parse(firstJsonObject(raw));
    } catch {
      return 'the answer was not valid JSON';
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success)
      return parsed.error.issues
        .map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`)
        .join('; ');
    const data = parsed.data as Record<string, unknown>;
    const { world } = this;
    const given = data[this.key];
    const values =
      world.answer.kind === 'numbers'
        ? (given as number[])
        : world.answer.kind === 'number'
          ? [given as number]
          : [world.answer.options.indexOf(given as string)];
    const entries = world.answer.kind === 'numbers' ? world.answer.entries : [this.key];
    const problems: string[] = [];
    values.forEach((v, j) => {
      const low = world.low[j] ?? 0;
      const high = world.high[j] ?? 0;
      const name = world.answer.kind === 'numbers' ? `${entries[j]} ` : '';
      if (!Number.isFinite(v) || v < low || v > high)
        problems.push(`${name}must be between ${low} and ${high}, not ${v}`);
      else if (world.step !== undefined && !onGrid(v, low, world.step))
        problems.push(
          `${name}must be ${low} plus a whole number of steps of ${world.step}, not ${v}`,
        );
    });
    if (problems.length > 0) return `${this.key}: ${problems.join('; ')}`;
    return {
      action: Float64Array.from(values),
      answer: {
        values,
        plans: data.plans as string,
        insights: data.insights as string,
        rationale: data.rationale as string,
      },
    };
  }

  async decide(observation: O): Promise<Decision> {
    const { round } = observation;
    const firm = this.world.agent;
    const values = this.world.values(
      observation,
      { plans: this.plans, insights: this.insights },
      this.config.memory,
      this.answerFormat,
    );
    const messages: ChatMessage[] = [
      { role: 'system', content: fill(this.templates.system, values) },
      { role: 'user', content: fill(this.templates.round, values) },
    ];
    let problem = '';
    for (let attempt = 1; attempt <= this.config.reasks + 1; attempt++) {
      const request: ChatRequest = {
        messages,
        settings: this.settings(),
        schema: { name: `${this.key}_decision`, schema: this.jsonSchema, range: this.range },
      };
      let answer: Awaited<ReturnType<Endpoint['ask']>>;
      try {
        answer = await this.endpoint.ask(request, this.retries(round, firm));
      } catch (error) {
        const fault = this.transportFault(error, round, firm);
        // Every attempt failed: nothing to re-ask; fall back.
        this.record(round, firm, attempt, messages, null, null, `no answer: ${fault.message}`);
        problem = `no answer from the model: ${fault.message}`;
        break;
      }
      const { response } = answer;
      this.count(firm, response);
      const checked = this.validate(response);
      if (typeof checked !== 'string') {
        this.plans = checked.answer.plans;
        this.insights = checked.answer.insights;
        this.previous = checked.action;
        this.record(round, firm, attempt, messages, response.content, answer, undefined, checked);
        return { action: checked.action, rationale: checked.answer.rationale };
      }
      problem = checked;
      this.context.llm?.services.usage.add(firm, { invalidAnswers: 1 });
      this.record(round, firm, attempt, messages, response.content, answer, checked);
      // Re-ask, quoting the answer and what was wrong with it.
      messages.push(
        { role: 'assistant', content: response.content },
        {
          role: 'user',
          content: `That answer cannot be used: ${checked}. Answer again with one JSON object: ${this.answerFormat}`,
        },
      );
    }
    const fallback =
      this.config.fallback === 'previous' && this.previous ? 'previous' : this.world.fallbackName;
    const action =
      fallback === 'previous' && this.previous
        ? Float64Array.from(this.previous)
        : this.world.fallback(observation);
    this.emit({ type: 'invalid_action', round, firm, reason: problem, fallback });
    return { action };
  }

  /**
   * A talk turn: the model is asked what to send (structured output with the firm's
   * neighbours as the only recipients and the length limit in the schema). An unusable
   * answer sends nothing and is recorded; talk is never re-asked.
   */
  async talk(turn: TalkTurn<O>): Promise<readonly OutgoingMessage[]> {
    const { observation } = turn;
    const { round } = observation;
    const firm = this.world.agent;
    if (turn.neighbours.length === 0) return [];
    const values = this.world.values(
      observation,
      { plans: this.plans, insights: this.insights },
      this.config.memory,
      this.answerFormat,
      turn,
    );
    const recipients = turn.broadcast
      ? {}
      : { to: z.array(z.enum(turn.neighbours as [string, ...string[]])).min(1) };
    // `parents` is free text here: the runtime keeps the ids the firm received and records
    // the others, rather than losing the whole answer to one wrong id.
    const schema = z.strictObject({
      messages: z
        .array(
          z.strictObject({
            ...recipients,
            text: z.string().max(turn.maxChars),
            parents: z.array(z.string()).max(MAX_PARENTS).optional(),
          }),
        )
        .max(turn.maxMessages),
    });
    // With messages to answer, the format shows how to name one as a parent.
    const cited = turn.inbox[0]?.id;
    const fields = [
      ...(turn.broadcast ? [] : [`"to": ["${turn.neighbours[0]}"]`]),
      '"text": "..."',
      ...(cited ? [`"parents": ["${cited}"]`] : []),
    ];
    const format = `{"messages": [{${fields.join(', ')}}]}${cited ? PARENTS_HINT : ''}`;
    const messages: ChatMessage[] = [
      { role: 'system', content: fill(this.templates.system, values) },
      {
        role: 'user',
        content: `${fill(this.templates.talk, values)}\nAnswer with one JSON object: ${format}`,
      },
    ];
    let answer: Awaited<ReturnType<Endpoint['ask']>>;
    try {
      answer = await this.endpoint.ask(
        {
          messages,
          settings: this.settings(),
          schema: { name: 'talk', schema: z.toJSONSchema(schema) as Record<string, unknown> },
        },
        this.retries(round, firm),
      );
    } catch (error) {
      const fault = this.transportFault(error, round, firm);
      this.record(
        round,
        firm,
        1,
        messages,
        null,
        null,
        `no answer: ${fault.message}`,
        undefined,
        'talk',
      );
      return [];
    }
    const { response } = answer;
    this.count(firm, response);
    let parsed: z.infer<typeof schema> | undefined;
    let problem: string | undefined = oversizeProblem(response);
    if (!problem)
      try {
        const result = schema.safeParse(JSON.parse(firstJsonObject(response.content)));
        if (result.success) parsed = result.data;
        else
          problem = result.error.issues
            .map((i) => `${i.path.join('.') || 'answer'}: ${i.message}`)
            .join('; ');
      } catch {
        problem =
          response.content.trim() === '' ? 'the answer was empty' : 'the answer was not valid JSON';
      }
    this.record(round, firm, 1, messages, response.content, answer, problem, undefined, 'talk');
    if (!parsed) return [];
    return parsed.messages.map((m) => ({
      text: m.text,
      ...('to' in m && Array.isArray(m.to) ? { to: m.to as string[] } : {}),
      ...(m.parents && m.parents.length > 0 ? { parents: m.parents } : {}),
    }));
  }

  /** Reports each transport retry as an `llm_retry` event and counts it. */
  private retries(round: number, firm: string): (retry: RetryEvent) => void {
    return (retry) => {
      this.context.llm?.services.usage.add(firm, { retries: 1 });
      this.emit({
        type: 'llm_retry',
        round,
        firm,
        model: this.config.spec.text,
        cause: retry.cause,
        attempt: retry.attempt,
        ...(retry.status !== undefined ? { status: retry.status } : {}),
        delay_ms: retry.delayMs,
        ...(retry.retryAfterMs !== undefined ? { retry_after_ms: retry.retryAfterMs } : {}),
      });
    };
  }

  /** A fault every retry failed on; anything else (a refused key, a replay miss) fails the run. */
  private transportFault(error: unknown, round: number, firm: string): TransportError {
    if (error instanceof TransportError && error.fault !== 'fatal') return error;
    throw new LlmFatalError(
      `${firm} in round ${round} (${this.config.spec.text}): ${error instanceof Error ? error.message : String(error)}`,
    );
  }

  /**
   * Counts an answer. Tokens count whether or not it came from the cache (a run that
   * reuses cached answers still spends its token budget); cost is only charged for answers
   * from the model. A replay has no budget: it stops where the recorded run stopped.
   */
  private count(firm: string, response: ChatResponse): void {
    this.context.llm?.services.usage.addAnswer(firm, response);
  }

  private record(
    round: number,
    firm: string,
    attempt: number,
    messages: readonly ChatMessage[],
    response: string | null,
    answer: Awaited<ReturnType<Endpoint['ask']>> | null,
    error?: string,
    valid?: { action: Float64Array; answer: { rationale: string } },
    purpose: 'decide' | 'talk' = 'decide',
  ): void {
    this.emit({
      type: 'llm_call',
      round,
      firm,
      model: this.config.spec.text,
      ...(purpose === 'talk' ? { purpose } : {}),
      attempt,
      // Full texts here; the round loop stores each text once and puts its id instead.
      messages: messages.map((m) => ({ role: m.role, text: m.content })),
      response,
      action: valid ? Array.from(valid.action) : null,
      ...(valid ? { rationale: valid.answer.rationale } : {}),
      ...(error !== undefined ? { error } : {}),
      prompt_tokens: answer?.response.promptTokens ?? 0,
      completion_tokens: answer?.response.completionTokens ?? 0,
      retries: answer?.retries ?? 0,
      cache_hit: answer?.response.cacheHit === true,
      ...(answer ? { structured: answer.response.structured } : {}),
      latency_ms: answer?.latencyMs ?? 0,
    });
  }
}

/**
 * Reads `llm(model: "openai:gpt-4o-mini", temperature: 0.7, memory: 5, …)` for any world:
 * the configuration and the model endpoint. `fallback` is `previous` or the world's own
 * (`nash` in markets).
 */
export function llmAgentConfig(
  args: readonly PolicyArgument[],
  llm: AgentContext['llm'],
  fallbackName: string,
): { config: LlmAgentConfig; endpoint: Endpoint } {
  const a = PolicyArguments.read('llm', args, LLM_ARGUMENTS);
  const services = llm?.services;
  if (!services) throw new PolicyError('llm: this run has no model services');
  const modelText = a.string('model', llm?.defaultModel ?? '');
  if (modelText === '')
    throw new PolicyError('llm: no model; give llm(model: "…") or --model SPEC');
  let spec: ModelSpec;
  try {
    spec = parseModelSpec(modelText);
  } catch (error) {
    throw new PolicyError(`llm: ${error instanceof Error ? error.message : String(error)}`);
  }
  const memoryArg = a.raw('memory');
  const memory: Memory =
    memoryArg === undefined || memoryArg === 'all'
      ? 'all'
      : a.number('memory', undefined, { integer: true, atLeast: 0 });
  const settings: GenerationSettings = {
    ...(a.has('temperature')
      ? { temperature: a.number('temperature', undefined, { atLeast: 0, atMost: 2 }) }
      : {}),
    ...(a.has('max_tokens')
      ? { maxTokens: a.number('max_tokens', undefined, { integer: true, atLeast: 1 }) }
      : {}),
    seed: a.number('seed', llm?.seed ?? 0, { integer: true }),
  };
  const config: LlmAgentConfig = {
    spec,
    settings,
    memory,
    reasks: a.number('reasks', 2, { integer: true, atLeast: 0, atMost: 10 }),
    fallback: a.string('fallback', 'previous', ['previous', fallbackName]),
    ...(llm?.templates ? { templates: llm.templates } : {}),
    ...(llm?.seedNow && !a.has('seed') ? { seedNow: llm.seedNow } : {}),
  };
  let endpoint: Endpoint;
  try {
    endpoint = services.endpoint(spec, a.string('api_key_env', DEFAULT_API_KEY_ENV));
  } catch (error) {
    throw new PolicyError(`llm: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { config, endpoint };
}

/** A market as an LLM firm sees it: a number per product, the market's rules, Nash as fallback. */
function marketWorld(context: AgentContext): LlmWorld<Observation> {
  const { market, firm } = context;
  const P = market.dims.products;
  const own = (data: Float64Array) => Array.from(data.subarray(firm * P, (firm + 1) * P));
  return {
    agent: market.firms[firm] as string,
    key: market.competition,
    answer: { kind: 'numbers', entries: market.products },
    low: own(market.low),
    high: own(market.high),
    fallbackName: 'nash',
    fallback: (observation) =>
      Float64Array.from(observation.benchmarks.nash.action.subarray(firm * P, (firm + 1) * P)),
    templates: DEFAULT_TEMPLATES,
    values: promptValues,
  };
}

/** `llm(model: "openai:gpt-4o-mini", temperature: 0.7, memory: 5, …)`. */
export function llm(args: readonly PolicyArgument[], context: AgentContext): Agent {
  const { config, endpoint } = llmAgentConfig(args, context.llm, 'nash');
  return new LlmAgent(config, endpoint, context, marketWorld(context)) as Agent;
}

export type { Action };
