import { describe, expect, it } from 'vitest';
import {
  ModelSpecError,
  PromptTemplateError,
  parseModelSpec,
  parseTemplates,
  randomStream,
  TransportError,
} from '../../../runtime/index.js';
// The retry, concurrency and usage layers inside LlmServices, tested one by one.
import {
  AdaptiveConcurrency,
  retryDelay,
  Usage,
  withRetries,
} from '../../../runtime/llm/layers.js';

const random = randomStream(1, 'test');
const options = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };

describe('model specs', () => {
  it('reads the three providers', () => {
    expect(parseModelSpec('openai:gpt-4o-mini')).toMatchObject({
      provider: 'openai',
      model: 'gpt-4o-mini',
      baseURL: 'https://api.openai.com/v1',
    });
    expect(parseModelSpec('openai-compatible:http://127.0.0.1:8000/v1/#qwen2.5-7b')).toMatchObject({
      provider: 'openai-compatible',
      model: 'qwen2.5-7b',
      baseURL: 'http://127.0.0.1:8000/v1',
    });
    expect(parseModelSpec('local')).toMatchObject({ provider: 'local' });
    expect(parseModelSpec('local:/models/x.gguf')).toMatchObject({
      provider: 'local',
      model: 'x.gguf',
      path: '/models/x.gguf',
    });
  });

  it('says what is wrong with a bad spec', () => {
    const message = (spec: string) => {
      try {
        parseModelSpec(spec);
        return 'accepted';
      } catch (error) {
        expect(error).toBeInstanceOf(ModelSpecError);
        return (error as Error).message;
      }
    };
    expect(message('gpt-4o')).toMatch(/unknown model `gpt-4o`; expected openai:/);
    expect(message('openai:')).toMatch(/needs a model id/);
    expect(message('openai-compatible:http://x/v1')).toMatch(/needs a URL and a model id/);
    expect(message('openai-compatible:nota url#m')).toMatch(/is not a URL/);
    expect(message('openai-compatible:ftp://x/v1#m')).toMatch(/http or https/);
    expect(message('openai-compatible:http://u:secret@x/v1#m')).toMatch(/no credentials/);
  });
});

describe('retries', () => {
  it('backs off exponentially with jitter, and honours Retry-After', () => {
    for (let attempt = 1; attempt <= 6; attempt++) {
      const backoff = Math.min(1000, 100 * 2 ** (attempt - 1));
      const delay = retryDelay(attempt, options, random);
      expect(delay).toBeGreaterThanOrEqual(backoff / 2);
      expect(delay).toBeLessThanOrEqual(backoff);
    }
    expect(retryDelay(1, options, random, 250)).toBe(250);
    expect(retryDelay(1, options, random, 60_000)).toBe(1000);
  });

  it('retries 429, 5xx, timeouts and resets, reporting each, until an answer', async () => {
    const faults = [
      new TransportError('rate limited', '429', 429, 0),
      new TransportError('boom', '5xx', 503),
      new TransportError('slow', 'timeout'),
      new TransportError('gone', 'reset'),
    ];
    const seen: string[] = [];
    const waits: number[] = [];
    let calls = 0;
    const result = await withRetries(
      async () => {
        const fault = faults[calls++];
        if (fault) throw fault;
        return 'ok';
      },
      { ...options, maxAttempts: 5 },
      random,
      (e) => seen.push(`${e.cause}@${e.attempt}`),
      async (ms) => {
        waits.push(ms);
      },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual(['429@1', '5xx@2', 'timeout@3', 'reset@4']);
    expect(waits[0]).toBe(0);
    expect(waits).toHaveLength(4);
  });

  it('does not retry a fatal fault, and gives up after the last attempt', async () => {
    let calls = 0;
    const fatal = withRetries(
      async () => {
        calls++;
        throw new TransportError('refused', 'fatal', 401);
      },
      options,
      random,
      () => {},
      async () => {},
    );
    await expect(fatal).rejects.toMatchObject({ fault: 'fatal', status: 401 });
    expect(calls).toBe(1);
    calls = 0;
    const exhausted = withRetries(
      async () => {
        calls++;
        throw new TransportError('boom', '5xx', 500);
      },
      options,
      random,
      () => {},
      async () => {},
    );
    await expect(exhausted).rejects.toMatchObject({ fault: '5xx' });
    expect(calls).toBe(options.maxAttempts);
  });

  it('waits at most maxTotalWaitMs per question: a longer Retry-After is not waited for at all', async () => {
    const waits: number[] = [];
    const seen: { delayMs: number; retryAfterMs?: number }[] = [];
    let calls = 0;
    const asked = [2_000, 3_000, 100_000_000];
    const limited = withRetries(
      async () => {
        throw new TransportError('rate limited (429)', '429', 429, asked[calls++]);
      },
      { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 30_000, maxTotalWaitMs: 10_000 },
      random,
      (e) =>
        seen.push({
          delayMs: e.delayMs,
          ...(e.retryAfterMs ? { retryAfterMs: e.retryAfterMs } : {}),
        }),
      async (ms) => {
        waits.push(ms);
      },
    );
    await expect(limited).rejects.toMatchObject({
      fault: '429',
      message:
        'rate limited (429); not retried: the endpoint asked to wait 100000 s, more than the 5 s left of the retry wait limit (10 s)',
    });
    expect(calls).toBe(3);
    expect(waits).toEqual([2_000, 3_000]);
    expect(seen).toEqual([
      { delayMs: 2_000, retryAfterMs: 2_000 },
      { delayMs: 3_000, retryAfterMs: 3_000 },
    ]);
    // A limit of 0 never waits: the first fault ends the question.
    calls = 0;
    const never = withRetries(
      async () => {
        calls++;
        throw new TransportError('gone', 'reset');
      },
      { ...options, maxTotalWaitMs: 0 },
      random,
      () => {},
      async () => {},
    );
    await expect(never).rejects.toMatchObject({ fault: 'reset' });
    expect(calls).toBe(1);
  });
});

describe('adaptive concurrency', () => {
  it('never runs more than its current limit at once', async () => {
    const limiter = new AdaptiveConcurrency(3);
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        limiter.run(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        }),
      ),
    );
    expect(most).toBe(3);
  });

  it('halves on a 429 and recovers one step per run of successes', () => {
    const limiter = new AdaptiveConcurrency(64);
    expect(limiter.current).toBe(64);
    limiter.rateLimited();
    limiter.rateLimited();
    expect(limiter.current).toBe(16);
    for (let i = 0; i < 16; i++) limiter.succeeded();
    expect(limiter.current).toBe(17);
    // One step per `current` successes: from 17 back to 64 takes 17 + 18 + … + 63 of them.
    for (let i = 0; i < 1880; i++) limiter.succeeded();
    expect(limiter.current).toBe(64);
    for (let i = 0; i < 10; i++) limiter.rateLimited();
    expect(limiter.current).toBe(1);
    expect(() => new AdaptiveConcurrency(0)).toThrow(RangeError);
  });
});

describe('usage and budgets', () => {
  it('counts tokens and cost per agent and for the run', () => {
    const usage = new Usage({}, { inputPerMillion: 1, outputPerMillion: 4 });
    usage.add('f1', { calls: 1, promptTokens: 1000, completionTokens: 100 });
    usage.add('f2', { calls: 1, promptTokens: 500, completionTokens: 50 });
    usage.add('f1', { retries: 1 });
    expect(usage.total).toMatchObject({ calls: 2, promptTokens: 1500, completionTokens: 150 });
    expect(usage.total.cost).toBeCloseTo(0.0021, 10);
    expect(usage.of('f1')).toMatchObject({ calls: 1, retries: 1, promptTokens: 1000 });
    expect(usage.byAgent().f2?.cost).toBeCloseTo(0.0007, 10);
  });

  it('says when a budget is spent', () => {
    const usage = new Usage({ maxTokens: 1000 });
    usage.add('f1', { promptTokens: 900 });
    expect(usage.exceeded()).toBeUndefined();
    usage.add('f1', { completionTokens: 100 });
    expect(usage.exceeded()).toMatch(/token budget \(1000\) is spent/);
    const costly = new Usage({ maxCost: 0.01 }, { inputPerMillion: 10, outputPerMillion: 10 });
    costly.add('f1', { promptTokens: 1000 });
    expect(costly.exceeded()).toMatch(/cost budget/);
  });
});

describe('prompt templates', () => {
  it('replaces the sections a file gives and keeps the others', () => {
    const t = parseTemplates('[round]\nRound {{round}}: choose {{action}}.\n');
    expect(t.round).toBe('Round {{round}}: choose {{action}}.');
    expect(t.system).toContain('{{market_rules}}');
  });

  it('refuses unknown placeholders and sections, naming them', () => {
    expect(() => parseTemplates('[system]\nYou are {{firm}} and {{secret}}')).toThrow(
      /\{\{secret\}\}; placeholders: firm/,
    );
    expect(() => parseTemplates('[sytem]\nx')).toThrow(/unknown section \[sytem\]/);
    expect(() => parseTemplates('hello\n[system]\nx')).toThrow(PromptTemplateError);
  });
});
