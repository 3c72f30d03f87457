import PQueue from 'p-queue';
import type { Random } from '../agents/agent.js';
import { type FaultCause, TransportError } from './client.js';

/**
 * The layers every model call goes through, each small and tested on its own:
 * `withRetries` (exponential backoff with jitter, honouring `Retry-After`),
 * `AdaptiveConcurrency` (a limit per endpoint that halves on a 429 and recovers), and
 * `Usage` (tokens and cost per agent and per run, and the budgets that stop a run).
 * The per-request timeout is the client's (`OpenAIChatClient`'s `timeoutMs`).
 */

export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  /** The longest single wait. */
  readonly maxDelayMs: number;
  /**
   * The longest a question waits in all, over its retries (`--max-retry-wait`): a wait that
   * would pass it — a long `Retry-After` above all — is not taken, and the question ends
   * without an answer. Absent: no limit beyond the attempts.
   */
  readonly maxTotalWaitMs?: number;
}

/** The default of `--max-retry-wait`: a minute of waiting per question, in all. */
export const DEFAULT_MAX_RETRY_WAIT_MS = 60_000;

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  maxTotalWaitMs: DEFAULT_MAX_RETRY_WAIT_MS,
};

export interface RetryEvent {
  readonly cause: FaultCause;
  /** The attempt that failed (1 = the first). */
  readonly attempt: number;
  readonly status?: number;
  readonly delayMs: number;
  /** What the endpoint asked for (`Retry-After`), when it did. */
  readonly retryAfterMs?: number;
  readonly message: string;
}

export const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms);
  });

/**
 * The delay before attempt `attempt + 1`: what `Retry-After` asked for (capped), else
 * exponential backoff with "equal jitter" — half the backoff fixed, half drawn.
 */
export function retryDelay(
  attempt: number,
  options: RetryOptions,
  random: Random,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined) return Math.min(options.maxDelayMs, retryAfterMs);
  const backoff = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return backoff / 2 + (random.next() * backoff) / 2;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

/**
 * Calls `call` until it succeeds, a fault is not worth retrying, the attempts run out, or
 * the next wait would pass the question's wait limit (`maxTotalWaitMs`): an endpoint that
 * asks, in `Retry-After`, for more than is left is not waited for at all.
 */
export async function withRetries<T>(
  call: () => Promise<T>,
  options: RetryOptions,
  random: Random,
  onRetry: (event: RetryEvent) => void,
  wait: (ms: number) => Promise<void> = sleep,
): Promise<T> {
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const fault =
        error instanceof TransportError
          ? error
          : new TransportError(error instanceof Error ? error.message : String(error), 'fatal');
      if (fault.fault === 'fatal' || attempt >= options.maxAttempts) throw fault;
      const delayMs = retryDelay(attempt, options, random, fault.retryAfterMs);
      const limit = options.maxTotalWaitMs ?? Number.POSITIVE_INFINITY;
      const wanted = fault.retryAfterMs ?? delayMs;
      if (waited + wanted > limit)
        throw new TransportError(
          `${fault.message}; not retried: ${
            fault.retryAfterMs !== undefined
              ? `the endpoint asked to wait ${seconds(fault.retryAfterMs)}`
              : `the next wait would be ${seconds(delayMs)}`
          }, more than the ${seconds(limit - waited)} left of the retry wait limit (${seconds(limit)})`,
          fault.fault,
          fault.status,
        );
      waited += delayMs;
      onRetry({
        cause: fault.fault,
        attempt,
        ...(fault.status !== undefined ? { status: fault.status } : {}),
        delayMs,
        ...(fault.retryAfterMs !== undefined ? { retryAfterMs: fault.retryAfterMs } : {}),
        message: fault.message,
      });
      await wait(delayMs);
    }
  }
}

/**
 * Requests in flight to one endpoint. It starts at the limit (an endpoint that can take
 * them all should get them all at once); a 429 halves it; after as many successes in a row
 * as the current limit, it grows by one again, up to the limit.
 */
export class AdaptiveConcurrency {
  private readonly queue: PQueue;
  private successes = 0;

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1))
      throw new RangeError(`concurrency must be a whole number ≥ 1, not ${limit}`);
    this.queue = new PQueue({ concurrency: limit });
  }

  get current(): number {
    return this.queue.concurrency;
  }

  /** Requests running now. */
  get running(): number {
    return this.queue.pending;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.add(task) as Promise<T>;
  }

  rateLimited(): void {
    this.queue.concurrency = Math.max(1, Math.floor(this.queue.concurrency / 2));
    this.successes = 0;
  }

  succeeded(): void {
    if (this.queue.concurrency >= this.limit) return;
    if (++this.successes >= this.queue.concurrency) {
      this.queue.concurrency += 1;
      this.successes = 0;
    }
  }
}

/** Prices in some currency per million tokens, for cost accounting. */
export interface Prices {
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
}

export interface Budget {
  readonly maxTokens?: number;
  readonly maxCost?: number;
}

export interface UsageCounts {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  retries: number;
  invalidAnswers: number;
  cacheHits: number;
  cost: number;
}

const zero = (): UsageCounts => ({
  calls: 0,
  promptTokens: 0,
  completionTokens: 0,
  retries: 0,
  invalidAnswers: 0,
  cacheHits: 0,
  cost: 0,
});

/** Token and cost accounting per agent and for the run, and the budget check. */
export class Usage {
  readonly total: UsageCounts = zero();
  private readonly agents = new Map<string, UsageCounts>();

  constructor(
    private readonly budget: Budget = {},
    private readonly prices?: Prices,
  ) {}

  of(agent: string): UsageCounts {
    let counts = this.agents.get(agent);
    if (!counts) {
      counts = zero();
      this.agents.set(agent, counts);
    }
    return counts;
  }

  byAgent(): Record<string, UsageCounts> {
    return Object.fromEntries([...this.agents].map(([k, v]) => [k, { ...v }]));
  }

  /**
   * Counts one answer on AGENT's account. Tokens count whether or not it came from the cache
   * (a run that reuses cached answers still spends its token budget); cost is only charged
   * for answers from the model.
   */
  addAnswer(
    agent: string,
    response: {
      readonly promptTokens: number;
      readonly completionTokens: number;
      readonly cacheHit?: boolean;
    },
  ): void {
    this.add(
      agent,
      {
        calls: 1,
        promptTokens: response.promptTokens,
        completionTokens: response.completionTokens,
        ...(response.cacheHit ? { cacheHits: 1 } : {}),
      },
      response.cacheHit === true,
    );
  }

  /** Adds to an agent's counts and the run's; `free` answers (from the cache) cost nothing. */
  add(agent: string, change: Partial<Omit<UsageCounts, 'cost'>>, free = false): void {
    const cost =
      this.prices && !free
        ? ((change.promptTokens ?? 0) * this.prices.inputPerMillion +
            (change.completionTokens ?? 0) * this.prices.outputPerMillion) /
          1e6
        : 0;
    for (const counts of [this.total, this.of(agent)]) {
      for (const [key, value] of Object.entries(change) as [keyof UsageCounts, number][])
        counts[key] += value;
      counts.cost += cost;
    }
  }

  /** The counts, for a checkpoint: a resumed run goes on counting (and spending its budget) from them. */
  save(): { total: UsageCounts; agents: [string, UsageCounts][] } {
    return {
      total: { ...this.total },
      agents: [...this.agents].map(([agent, counts]) => [agent, { ...counts }]),
    };
  }

  restore(saved: {
    total: UsageCounts;
    agents: readonly (readonly [string, UsageCounts])[];
  }): void {
    Object.assign(this.total, saved.total);
    this.agents.clear();
    for (const [agent, counts] of saved.agents) this.agents.set(agent, { ...counts });
  }

  /** Why the run must stop, when a budget is spent. */
  exceeded(): string | undefined {
    const tokens = this.total.promptTokens + this.total.completionTokens;
    if (this.budget.maxTokens !== undefined && tokens >= this.budget.maxTokens)
      return `the token budget (${this.budget.maxTokens}) is spent: ${tokens} tokens used`;
    if (this.budget.maxCost !== undefined && this.total.cost >= this.budget.maxCost)
      return `the cost budget (${this.budget.maxCost}) is spent: ${this.total.cost.toFixed(4)} used`;
    return undefined;
  }
}
