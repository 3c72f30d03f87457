import type { Random } from '../agents/agent.js';
import type { ChatClient, ChatRequest, ChatResponse } from './client.js';
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
import { DEFAULT_TIMEOUT_MS, OpenAIChatClient } from './openai-client.js';
import { DEFAULT_API_KEY_ENV, endpointHost, type ModelSpec, ModelSpecError } from './spec.js';

/** Requests in flight per OpenAI-compatible endpoint unless `--concurrency` says otherwise. */
export const DEFAULT_CONCURRENCY = 64;

export interface LlmOptions {
  /** Requests in flight per endpoint (default 64). */
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  readonly retry?: RetryOptions;
  readonly budget?: Budget;
  readonly prices?: Prices;
  /** Where API keys are read from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Builds the client for a spec instead of the default (tests; the embedded model). */
  readonly clientFor?: (spec: ModelSpec, apiKey: string | undefined) => ChatClient;
  /** How retries wait (tests pass a fake clock). */
  readonly wait?: (ms: number) => Promise<void>;
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
  readonly first_used_at: string;
}

export interface Answer {
  readonly response: ChatResponse;
  readonly retries: number;
  readonly latencyMs: number;
}

/** One endpoint: its client behind the retry and concurrency layers. */
export class Endpoint {
  readonly limiter: AdaptiveConcurrency;
  readonly reportedModels = new Set<string>();
  readonly fingerprints = new Set<string>();
  structured: boolean | null = null;
  readonly firstUsedAt = new Date().toISOString();

  constructor(
    readonly spec: ModelSpec,
    readonly client: ChatClient,
    readonly apiKeyEnv: string | null,
    concurrency: number,
    private readonly retry: RetryOptions,
    private readonly random: Random,
    private readonly wait: (ms: number) => Promise<void>,
  ) {
    this.limiter = new AdaptiveConcurrency(concurrency);
  }

  /**
   * Asks the model; each attempt takes a slot of the endpoint's limit, and a fault
   * worth retrying is reported through `onRetry` before the wait.
   */
  async ask(request: ChatRequest, onRetry: (event: RetryEvent) => void): Promise<Answer> {
    let retries = 0;
    const started = performance.now();
    const response = await withRetries(
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
        onRetry(event);
      },
      this.wait,
    );
    if (response.model) this.reportedModels.add(response.model);
    if (response.systemFingerprint) this.fingerprints.add(response.systemFingerprint);
    if (request.schema) this.structured = response.structured;
    return { response, retries, latencyMs: performance.now() - started };
  }
}

/**
 * The model services of one run: one endpoint per model spec and key variable (so the
 * concurrency limit is per endpoint, shared by every firm on it), and the run's usage.
 */
export class LlmServices {
  readonly usage: Usage;
  private readonly endpoints = new Map<string, Endpoint>();

  constructor(
    private readonly options: LlmOptions,
    private readonly random: Random,
  ) {
    this.usage = new Usage(options.budget, options.prices);
  }

  endpoint(spec: ModelSpec, apiKeyEnv = DEFAULT_API_KEY_ENV): Endpoint {
    const key = `${spec.text}\u0000${apiKeyEnv}`;
    let endpoint = this.endpoints.get(key);
    if (!endpoint) {
      const env = this.options.env ?? process.env;
      const apiKey = spec.provider === 'local' ? undefined : env[apiKeyEnv] || undefined;
      if (spec.provider === 'openai' && !apiKey && !this.options.clientFor)
        throw new ModelSpecError(`${spec.text} needs an API key: set ${apiKeyEnv}`);
      const client = this.options.clientFor
        ? this.options.clientFor(spec, apiKey)
        : defaultClient(spec, apiKey, this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      endpoint = new Endpoint(
        spec,
        client,
        spec.provider === 'local' ? null : apiKeyEnv,
        this.options.concurrency ?? DEFAULT_CONCURRENCY,
        this.options.retry ?? DEFAULT_RETRY,
        this.random,
        this.options.wait ?? sleep,
      );
      this.endpoints.set(key, endpoint);
    }
    return endpoint;
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
      first_used_at: e.firstUsedAt,
    }));
  }
}

function defaultClient(spec: ModelSpec, apiKey: string | undefined, timeoutMs: number): ChatClient {
  if (spec.provider === 'local')
    throw new ModelSpecError(
      'the embedded model (`local`) is not available in this build yet; use openai: or openai-compatible:',
    );
  return new OpenAIChatClient(spec, { ...(apiKey ? { apiKey } : {}), timeoutMs });
}
