import type { Random } from '../agents/agent.js';
import {
  cacheKey,
  NoNetworkClient,
  ReplayMissError,
  ResponseCache,
  requestHash,
  requestIdentity,
} from './cache.js';
import { type ChatClient, type ChatRequest, type ChatResponse, TransportError } from './client.js';
import {
  AdaptiveConcurrency,
  type Budget,
  DEFAULT_RETRY,
  type Prices,
  type RetryEvent,
  type RetryOptions,
  sleep,
  Usage,
  withRetries,
} from './layers.js';
import { LocalChatClient, type LocalOptions } from './local-client.js';
import { DEFAULT_TIMEOUT_MS, OpenAIChatClient } from './openai-client.js';
import { Scrubber } from './secrets.js';
import { DEFAULT_API_KEY_ENV, endpointHost, type ModelSpec, ModelSpecError } from './spec.js';

/** Requests in flight per OpenAI-compatible endpoint unless `--concurrency` says otherwise. */
export const DEFAULT_CONCURRENCY = 64;

/** The largest answer kept, in UTF-8 bytes, unless `--max-answer-bytes` says otherwise. */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

/** How much of an answer above the size limit is kept, in characters: enough to see what it was. */
export const OVERSIZE_PREVIEW_CHARS = 200;

export interface LlmOptions {
  /** Requests in flight per endpoint (default 64). */
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  readonly retry?: RetryOptions;
  /**
   * The largest answer kept, in UTF-8 bytes (default 64 KiB): a larger one is an unusable
   * answer, and only its start is kept (in the trace and the cache) or quoted back.
   */
  readonly maxAnswerBytes?: number;
  readonly budget?: Budget;
  readonly prices?: Prices;
  /** Where API keys are read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Builds the client for a spec instead of the default (tests; the embedded model). */
  readonly clientFor?: (spec: ModelSpec, apiKey: string | undefined) => ChatClient;
  /** How retries wait (tests pass a fake clock). */
  readonly wait?: (ms: number) => Promise<void>;
  /** The embedded model's sequences and threads. */
  readonly local?: LocalOptions;
  /**
   * The response cache: `record` (read, and store what is new) or `replay` (read only; a
   * request it does not hold is an error, and no model is ever called). Absent: no cache.
   */
  readonly cache?: { readonly path: string; readonly mode: 'record' | 'replay' };
}

/** Where a model's answers came from, for the run manifest. */
export interface ModelProvenance {
  readonly spec: string;
  readonly provider: ModelSpec['provider'];
  readonly model: string;
  readonly endpoint_host: string | null;
  /** Model ids the endpoint reported answering with. */
  readonly reported_models: string[];
  readonly system_fingerprints: string[];
  readonly api_key_env: string | null;
  readonly structured_output: boolean | null;
  /** The embedded model: its architecture, size and quantisation (e.g. "llama 256M Q4_1"). */
  readonly quantisation?: string;
  readonly first_used_at: string;
}

export interface Answer {
  readonly response: ChatResponse;
  readonly retries: number;
  readonly latencyMs: number;
}

/**
 * What every answer goes through before anything keeps it (the trace, the cache, later
 * prompts): the scrubber, then the size limit.
 */
export interface AnswerScreen {
  readonly scrubber: Scrubber;
  readonly maxAnswerBytes: number;
}

/** An answer as it may be kept: keys taken out; above the size limit, only its start. */
export function screenAnswer(response: ChatResponse, screen: AnswerScreen): ChatResponse {
  const { scrubber } = screen;
  const bytes = Buffer.byteLength(response.content, 'utf8');
  const scrubbed = scrubber.scrub(response.content);
  const oversize = bytes > screen.maxAnswerBytes;
  return {
    ...response,
    content: oversize ? `${scrubbed.slice(0, OVERSIZE_PREVIEW_CHARS)}…` : scrubbed,
    ...(oversize ? { oversizeBytes: bytes } : {}),
    ...(response.model !== undefined ? { model: scrubber.scrub(response.model) } : {}),
    ...(response.systemFingerprint !== undefined
      ? { systemFingerprint: scrubber.scrub(response.systemFingerprint) }
      : {}),
  };
}

/** A transport error with its message scrubbed (endpoints quote what they were sent). */
function scrubbedError(error: unknown, scrubber: Scrubber): unknown {
  if (!(error instanceof TransportError)) return error;
  const message = scrubber.scrub(error.message);
  return message === error.message
    ? error
    : new TransportError(message, error.fault, error.status, error.retryAfterMs);
}

/** An endpoint's state between rounds, as `Endpoint.save` gives it. */
export interface EndpointState {
  readonly samples: readonly (readonly [string, number])[];
  readonly reportedModels: readonly string[];
  readonly fingerprints: readonly string[];
  readonly structured: boolean | null;
  readonly firstUsedAt: string;
}

/** The model services' state between rounds (a checkpoint's), as `LlmServices.save` gives it. */
export interface LlmServicesState {
  readonly usage: ReturnType<Usage['save']>;
  /** By endpoint key (the spec's text and the API key's variable name; never a key). */
  readonly endpoints: readonly (readonly [string, EndpointState])[];
}

/** One endpoint: its client behind the retry and concurrency layers. */
export class Endpoint {
  readonly limiter: AdaptiveConcurrency;
  readonly reportedModels = new Set<string>();
  readonly fingerprints = new Set<string>();
  structured: boolean | null = null;
  firstUsedAt = new Date().toISOString();

  private readonly samples = new Map<string, number>();

  /**
   * What it holds that a resumed run must go on from: how many times each question was
   * asked (the sample index of the next identical one, which names its cached answer), and
   * what it learnt of the model (for the manifest's provenance).
   */
  save(): EndpointState {
    return {
      samples: [...this.samples],
      reportedModels: [...this.reportedModels],
      fingerprints: [...this.fingerprints],
      structured: this.structured,
      firstUsedAt: this.firstUsedAt,
    };
  }

  restore(saved: EndpointState): void {
    this.samples.clear();
    for (const [base, count] of saved.samples) this.samples.set(base, count);
    for (const m of saved.reportedModels) this.reportedModels.add(m);
    for (const f of saved.fingerprints) this.fingerprints.add(f);
    this.structured = saved.structured;
    this.firstUsedAt = saved.firstUsedAt;
  }

  constructor(
    readonly spec: ModelSpec,
    readonly client: ChatClient,
    readonly apiKeyEnv: string | null,
    concurrency: number,
    private readonly retry: RetryOptions,
    private readonly random: Random,
    private readonly wait: (ms: number) => Promise<void>,
    private readonly screen: AnswerScreen,
    private readonly cache?: { store: ResponseCache; mode: 'record' | 'replay' },
  ) {
    this.limiter = new AdaptiveConcurrency(concurrency);
  }

  /**
   * Asks the model — or the cache, which holds what each request came to. Each attempt
   * takes a slot of the endpoint's limit, and a fault worth retrying is reported through
   * `onRetry` before the wait.
   */
  async ask(request: ChatRequest, onRetry: (event: RetryEvent) => void): Promise<Answer> {
    const started = performance.now();
    if (!this.cache) {
      const { response, retries } = await this.attempts(request, onRetry);
      return { response, retries, latencyMs: performance.now() - started };
    }
    const { scrubber } = this.screen;
    // The sample index is taken when the question is asked, so concurrent identical
    // questions get distinct samples, and retries of one question share its index.
    const identity = requestIdentity(this.spec, request, 0);
    const base = requestHash(identity);
    const sample = this.samples.get(base) ?? 0;
    this.samples.set(base, sample + 1);
    const key = cacheKey(base, sample);
    {
      const cached = this.cache.store.get(key);
      if (cached && 'answer' in cached) {
        // A replay gives back what the run got; a run screens what it reads (keys or a
        // limit may have changed since the answer was stored).
        const answer =
          this.cache.mode === 'replay' ? cached.answer : screenAnswer(cached.answer, this.screen);
        const response: ChatResponse = { ...answer, cacheHit: true };
        this.observe(request, response);
        return { response, retries: 0, latencyMs: performance.now() - started };
      }
      if (this.cache.mode === 'replay') {
        // A replay gives back what the run got, a failure included; a run (below) asks
        // again instead, since a failure that outlasted the retries once may not again.
        if (cached) throw new TransportError(cached.failure.message, cached.failure.fault);
        throw new ReplayMissError(
          `the cache holds no answer for this request (${this.spec.text}, sample ${sample}): replay needs the cache the run wrote`,
        );
      }
    }
    let response: ChatResponse;
    let retries: number;
    try {
      ({ response, retries } = await this.attempts(request, onRetry));
    } catch (error) {
      if (error instanceof TransportError && error.fault !== 'fatal') {
        this.cache.store.put(
          key,
          this.spec.text,
          { ...identity, sample },
          {
            failure: { message: error.message, fault: error.fault },
          },
          scrubber,
        );
      }
      throw error;
    }
    this.cache.store.put(
      key,
      this.spec.text,
      { ...identity, sample },
      { answer: response },
      scrubber,
    );
    return { response, retries, latencyMs: performance.now() - started };
  }

  private async attempts(
    request: ChatRequest,
    onRetry: (event: RetryEvent) => void,
  ): Promise<{ response: ChatResponse; retries: number }> {
    let retries = 0;
    let response: ChatResponse;
    try {
      response = await withRetries(
        () =>
          this.limiter.run(async () => {
            const answer = await this.client.complete(request);
            this.limiter.succeeded();
            return answer;
          }),
        this.retry,
        this.random,
        (event) => {
          retries++;
          if (event.cause === '429') this.limiter.rateLimited();
          onRetry({ ...event, message: this.screen.scrubber.scrub(event.message) });
        },
        this.wait,
      );
    } catch (error) {
      throw scrubbedError(error, this.screen.scrubber);
    }
    // Nothing keeps an answer before this: the trace, the cache and later prompts get it
    // scrubbed and, above the size limit, cut.
    response = screenAnswer(response, this.screen);
    this.observe(request, response);
    return { response, retries };
  }

  /** Provenance: what the endpoint said answered, from the model or from the cache. */
  private observe(request: ChatRequest, response: ChatResponse): void {
    if (response.model) this.reportedModels.add(response.model);
    if (response.systemFingerprint) this.fingerprints.add(response.systemFingerprint);
    if (request.schema) this.structured = response.structured;
  }
}

/**
 * The model services of one run: one endpoint per model spec and key variable (so the
 * concurrency limit is per endpoint, shared by every firm on it), and the run's usage.
 */
export class LlmServices {
  readonly usage: Usage;
  /** Takes the run's API keys out of every text on its way to a file (secrets.ts). */
  readonly scrubber: Scrubber;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly cache: { store: ResponseCache; mode: 'record' | 'replay' } | undefined;
  /** Saved states of endpoints not made yet (a resumed run's): each is set when it is made. */
  private readonly restoring = new Map<string, EndpointState>();

  constructor(
    private readonly options: LlmOptions,
    private readonly random: Random,
  ) {
    this.usage = new Usage(options.budget, options.prices);
    // The default key is taken out even when no endpoint uses it: a model may have seen it.
    this.scrubber = new Scrubber([(options.env ?? process.env)[DEFAULT_API_KEY_ENV]]);
    this.cache = options.cache
      ? {
          store: new ResponseCache(options.cache.path, options.cache.mode),
          mode: options.cache.mode,
        }
      : undefined;
  }

  /**
   * Releases the clients (connections, the embedded model's memory), then closes the
   * response cache, once nothing can answer into it any more; the cache is closed even if
   * a client fails to close.
   */
  async close(): Promise<void> {
    const closed = await Promise.allSettled(
      [...this.endpoints.values()].map(async (e) => e.client.close?.()),
    );
    this.cache?.store.close();
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason;
  }

  endpoint(spec: ModelSpec, apiKeyEnv = DEFAULT_API_KEY_ENV): Endpoint {
    const key = `${spec.text}\u0000${apiKeyEnv}`;
    let endpoint = this.endpoints.get(key);
    if (!endpoint) {
      const env = this.options.env ?? process.env;
      const apiKey = spec.provider === 'local' ? undefined : env[apiKeyEnv] || undefined;
      this.scrubber.add(env[apiKeyEnv]);
      if (
        spec.provider === 'openai' &&
        !apiKey &&
        !this.options.clientFor &&
        this.options.cache?.mode !== 'replay'
      )
        throw new ModelSpecError(`${spec.text} needs an API key: set ${apiKeyEnv}`);
      const client =
        this.cache?.mode === 'replay'
          ? new NoNetworkClient(spec.text)
          : this.options.clientFor
            ? this.options.clientFor(spec, apiKey)
            : defaultClient(spec, apiKey, this.options);
      endpoint = new Endpoint(
        spec,
        client,
        spec.provider === 'local' ? null : apiKeyEnv,
        // The embedded model runs as many requests as its context has sequences.
        client instanceof LocalChatClient
          ? client.sequences
          : (this.options.concurrency ?? DEFAULT_CONCURRENCY),
        this.options.retry ?? DEFAULT_RETRY,
        this.random,
        this.options.wait ?? sleep,
        {
          scrubber: this.scrubber,
          maxAnswerBytes: this.options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
        },
        this.cache,
      );
      this.endpoints.set(key, endpoint);
      const saved = this.restoring.get(key);
      if (saved) {
        endpoint.restore(saved);
        this.restoring.delete(key);
      }
    }
    return endpoint;
  }

  /** The usage so far and each endpoint's state, for a checkpoint (docs/checkpoints.md). */
  save(): LlmServicesState {
    return {
      usage: this.usage.save(),
      endpoints: [...this.endpoints].map(([key, e]) => [key, e.save()]),
    };
  }

  /** Goes on from a saved state: the usage, and each endpoint's (now or when it is made). */
  restore(saved: LlmServicesState): void {
    this.usage.restore(saved.usage);
    for (const [key, state] of saved.endpoints) {
      const endpoint = this.endpoints.get(key);
      if (endpoint) endpoint.restore(state);
      else this.restoring.set(key, state);
    }
  }

  provenance(): ModelProvenance[] {
    return [...this.endpoints.values()].map((e) => ({
      spec: e.spec.text,
      provider: e.spec.provider,
      model: e.spec.model,
      endpoint_host: endpointHost(e.spec),
      reported_models: [...e.reportedModels],
      system_fingerprints: [...e.fingerprints],
      api_key_env: e.apiKeyEnv,
      structured_output: e.structured,
      ...(e.client.description ? { quantisation: e.client.description } : {}),
      first_used_at: e.firstUsedAt,
    }));
  }
}

function defaultClient(
  spec: ModelSpec,
  apiKey: string | undefined,
  options: LlmOptions,
): ChatClient {
  if (spec.provider === 'local') return new LocalChatClient(spec, options.local ?? {});
  return new OpenAIChatClient(spec, {
    ...(apiKey ? { apiKey } : {}),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
}
