import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  type Reply,
  roundOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../../bench/support/openai-server.js';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  type ChatClient,
  LlmFatalError,
  PolicyError,
  parseTrace,
  type ResolvedExperiment,
  type RunLlmOptions,
  resolveExperiment,
  runExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
} from '../../../runtime/index.js';

/**
 * LLM firms against a real HTTP server on 127.0.0.1 that speaks the chat-completions
 * protocol and misbehaves on purpose: every fault must be visible in the trace, every
 * round must be played, and unusable answers must end in the declared fallback.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
const home = mkdtempSync(join(tmpdir(), 'mase-llm-home-'));
process.env.MASE_HOME = home;
const dirs: string[] = [];
const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

async function server(
  script: (request: SeenRequest, index: number) => Reply | Promise<Reply>,
): Promise<ScriptedServer> {
  const s = await startScriptedServer(script);
  servers.push(s);
  return s;
}

function experiment(
  policies: Record<string, IrPolicy>,
  rounds: number,
  institution = 'governance_graph',
): ResolvedExperiment {
  return resolveExperiment(
    program,
    { market: 'cournot_2x2', institution, agents: 'given', params: [], rounds, seed: 5 },
    () => ({ perFirm: policies }),
    stdlibSources(),
  );
}

const llm = (url: string, ...args: IrPolicy['args']): IrPolicy => ({
  name: 'llm',
  args: [{ name: 'model', value: `openai-compatible:${url}#test-model` }, ...args],
});

const noWait: RunLlmOptions = { wait: async () => {}, timeoutMs: 300 };

async function trace(e: ResolvedExperiment, options: RunLlmOptions = noWait) {
  const events: TraceEvent[] = [];
  const result = await runExperiment(e, { onEvent: (x) => events.push(x), llm: options });
  return { events, result };
}

const of = <T extends TraceEvent['type']>(events: readonly TraceEvent[], type: T) =>
  events.filter((e): e is Extract<TraceEvent, { type: T }> => e.type === type);

/** Counts requests per firm and round, so a script can misbehave on the first try only. */
function attempts() {
  const seen = new Map<string, number>();
  const count = (r: SeenRequest) => {
    const key = `${firmOf(r)}@${roundOf(r)}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return { firm: firmOf(r), round: roundOf(r) ?? 0, n };
  };
  return Object.assign(count, { reset: () => seen.clear() });
}

describe('LLM firms against a misbehaving endpoint', () => {
  it('plays every round, records every fault, and falls back where answers are unusable', async () => {
    const count = attempts();
    const s = await server((r) => {
      const { firm, round, n } = count(r);
      const good = answer(firm === 'f1' ? [60, 0] : [0, 60], `round ${round} as planned`);
      if (firm === 'f2') {
        // f2's answers in round 2 are never usable: the fallback applies.
        if (round === 2) return { kind: 'answer', content: '{"quantity": [500, 0]}' };
        return good;
      }
      if (n > 1) return good;
      switch (round) {
        case 1:
          return { kind: 'answer', content: 'I think 60 and 0.' };
        case 2:
          return { kind: 'status', status: 429, retryAfter: '0' };
        case 3:
          return { kind: 'status', status: 500 };
        case 4:
          return { kind: 'hang' };
        case 5:
          return { kind: 'drop' };
        case 6:
          return { kind: 'empty' };
        default:
          return good;
      }
    });
    const e = experiment({ f1: llm(s.url), f2: llm(s.url, { name: 'reasks', value: 1 }) }, 7);
    const { events, result } = await trace(e);
    expect(result.status).toBe('completed');
    expect(of(events, 'market').map((m) => m.round)).toEqual([1, 2, 3, 4, 5, 6, 7]);

    const retries = of(events, 'llm_retry').map((x) => `${x.firm}@${x.round}:${x.cause}`);
    expect(retries).toEqual(['f1@2:429', 'f1@3:5xx', 'f1@4:timeout', 'f1@5:reset']);

    // Unusable answers are re-asked with the reason quoted, then pass or fall back.
    const calls = of(events, 'llm_call');
    const f1r1 = calls.filter((c) => c.firm === 'f1' && c.round === 1);
    expect(f1r1.map((c) => [c.attempt, c.error ?? 'ok'])).toEqual([
      [1, 'the answer was not valid JSON'],
      [2, 'ok'],
    ]);
    const f1r6 = calls.filter((c) => c.firm === 'f1' && c.round === 6);
    expect(f1r6.map((c) => c.error ?? 'ok')).toEqual(['the answer was empty', 'ok']);
    const f2r2 = calls.filter((c) => c.firm === 'f2' && c.round === 2);
    expect(f2r2).toHaveLength(2);
    expect(f2r2[0]?.error).toMatch(/plans|insights|rationale|quantity/);
    expect(of(events, 'invalid_action')).toEqual([
      expect.objectContaining({ round: 2, firm: 'f2', fallback: 'previous' }),
    ]);
    // The fallback is f2's previous action, and the decision says so.
    const f2decisions = of(events, 'decision').filter((d) => d.firm === 'f2');
    expect(f2decisions[1]?.action).toEqual(f2decisions[0]?.action);
    expect(f2decisions[1]?.rationale).toBeUndefined();
    expect(f2decisions[0]?.rationale).toBe('round 1 as planned');

    // Every message is stored once as text and referred to by id.
    const texts = new Map(of(events, 'text').map((t) => [t.id, t.text]));
    for (const c of calls) for (const m of c.messages) expect(texts.has(m.text)).toBe(true);
    expect(of(events, 'text').length).toBe(texts.size);
    const systemOfF1 = texts.get(calls.find((c) => c.firm === 'f1')?.messages[0]?.text ?? '');
    expect(systemOfF1).toContain('You are f1');
    expect(systemOfF1).toContain('max(0, 100 - 0.5 * sum(quantity, over: firm))');
    expect(systemOfF1).toContain('governed by a public institution');
  });

  it('asks for structured output, and stops asking when the endpoint refuses it', async () => {
    const s = await server((r) =>
      r.body.response_format
        ? { kind: 'status', status: 400, message: "response_format 'json_schema' is not supported" }
        : answer([30, 30]),
    );
    const { events, result } = await trace(experiment({ f1: llm(s.url), f2: llm(s.url) }, 3));
    expect(result.status).toBe('completed');
    expect(s.requests[0]?.body.response_format).toMatchObject({ type: 'json_schema' });
    expect(s.requests.slice(-4).every((r) => r.body.response_format === undefined)).toBe(true);
    expect(of(events, 'llm_call').every((c) => c.structured === false)).toBe(true);
    expect(of(events, 'llm_retry')).toEqual([]);
    expect(result.llm?.provenance()[0]?.structured_output).toBe(false);
  });

  it('gives the same trace for the same answers, whatever order they arrive in', async () => {
    // Answers come back after a random delay, so firms' calls finish in a different order
    // each time; f1's first try in round 2 fails once.
    const count = attempts();
    const s = await server(async (r) => {
      await new Promise((done) => setTimeout(done, Math.random() * 30));
      const { firm, round, n } = count(r);
      if (firm === 'f1' && round === 2 && n === 1) return { kind: 'status', status: 503 };
      return answer([20 + round, firm === 'f1' ? 10 : 12]);
    });
    const firms = Object.fromEntries(['f1', 'f2', 'f3', 'f4'].map((f) => [f, llm(s.url)]));
    const runOnce = async () => {
      const { events } = await trace(
        resolveExperiment(
          program,
          {
            market: 'cournot',
            institution: 'governance_graph',
            agents: 'given',
            params: [{ name: 'firms', value: 4 }],
            rounds: 4,
            seed: 5,
          },
          () => ({ perFirm: firms }),
          stdlibSources(),
        ),
      );
      expect(of(events, 'llm_retry')).toHaveLength(1);
      return JSON.stringify(events, (k, v) => (k.endsWith('_ms') ? 0 : v));
    };
    const first = await runOnce();
    count.reset();
    expect(await runOnce()).toBe(first);
  });

  it('fails the run with the reason when the endpoint refuses the key', async () => {
    const s = await server(() => ({ kind: 'status', status: 401, message: 'invalid api key' }));
    await expect(
      trace(experiment({ f1: llm(s.url), f2: { name: 'nash', args: [] } }, 3)),
    ).rejects.toThrow(LlmFatalError);
  });

  it('stops cleanly when the token budget is spent, keeping the rounds played', async () => {
    const s = await server(() => answer([30, 30]));
    const { events, result } = await trace(experiment({ f1: llm(s.url), f2: llm(s.url) }, 50), {
      ...noWait,
      budget: { maxTokens: 3000 },
    });
    expect(result.status).toBe('interrupted');
    expect(result.reason).toMatch(/token budget/);
    expect(result.roundsCompleted).toBeGreaterThan(0);
    expect(result.roundsCompleted).toBeLessThan(50);
    expect(of(events, 'market')).toHaveLength(result.roundsCompleted);
  });
});

describe('a run that fails', () => {
  /** Runs until it fails, and keeps what the run reports after it has failed. */
  async function failing(e: ResolvedExperiment, options: RunLlmOptions) {
    const events: TraceEvent[] = [];
    const late: TraceEvent[] = [];
    let ended = false;
    let error: unknown;
    try {
      await runExperiment(e, { onEvent: (x) => (ended ? late : events).push(x), llm: options });
    } catch (caught) {
      error = caught;
    }
    ended = true;
    return { events, late, error };
  }

  it('waits for every firm: nothing is reported after the failure', async () => {
    // f1 is refused at once; f2 meets a 503 and waits to try again, so it is still asking
    // (with no request in flight) when f1's failure is known.
    const count = attempts();
    const s = await server((r) => {
      const { firm, n } = count(r);
      if (firm === 'f1') return { kind: 'status', status: 401, message: 'invalid api key' };
      return n === 1 ? { kind: 'status', status: 503 } : answer([30, 30], 'slow but sure');
    });
    const { events, late, error } = await failing(
      experiment({ f1: llm(s.url), f2: llm(s.url) }, 3),
      { timeoutMs: 10_000, retry: { maxAttempts: 3, baseDelayMs: 300, maxDelayMs: 300 } },
    );
    expect(error).toBeInstanceOf(LlmFatalError);
    expect((error as Error).message).toMatch(/^f1 in round 1 .*401/);
    // Time enough for f2 to have tried again; what it got is in the trace, before the end.
    await new Promise((done) => setTimeout(done, 800));
    expect(late).toEqual([]);
    expect(s.requests.filter((r) => firmOf(r) === 'f2')).toHaveLength(2);
    expect(of(events, 'llm_retry').map((x) => [x.firm, x.cause])).toEqual([['f2', '5xx']]);
    expect(of(events, 'llm_call').map((c) => [c.firm, c.rationale])).toEqual([
      ['f2', 'slow but sure'],
    ]);
  });

  it("reports the first firm's failure, whichever model refused first", async () => {
    const s = await server(async (r) => {
      // f1 is refused last; its failure is the one reported all the same.
      if (firmOf(r) === 'f1') await new Promise((done) => setTimeout(done, 300));
      return { kind: 'status', status: 401, message: `no key for ${firmOf(r)}` };
    });
    const { error, late } = await failing(experiment({ f1: llm(s.url), f2: llm(s.url) }, 3), {
      wait: async () => {},
      timeoutMs: 10_000,
    });
    expect(error).toBeInstanceOf(LlmFatalError);
    expect((error as Error).message).toMatch(/^f1 in round 1 .*no key for f1/);
    expect(late).toEqual([]);
  });

  it('closes the clients and the cache when it fails before its first round', async () => {
    let closed = 0;
    const client: ChatClient = {
      id: 'fake',
      complete: () => Promise.reject(new Error('never asked')),
      close: async () => {
        closed++;
      },
    };
    const cache = join(home, 'cache', 'setup-failure.sqlite');
    // f1's endpoint is made, then f2's arguments are refused while the agents are made.
    const e = experiment(
      {
        f1: llm('http://127.0.0.1:9/v1'),
        f2: llm('http://127.0.0.1:9/v1', { name: 'reasks', value: 99 }),
      },
      3,
    );
    await expect(
      runExperiment(e, {
        llm: { clientFor: () => client, cache: { path: cache, mode: 'record' } },
      }),
    ).rejects.toThrow(PolicyError);
    expect(closed).toBe(1);
    // SQLite removes the write-ahead log when the last connection to the file closes.
    expect(existsSync(cache)).toBe(true);
    expect(existsSync(`${cache}-wal`)).toBe(false);
  });
});

describe('the response cache in a run', () => {
  it('asks again where it holds a failure: a transient fault is not kept for good', async () => {
    const cache = join(home, 'cache', 'transient.sqlite');
    const options: RunLlmOptions = {
      ...noWait,
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      cache: { path: cache, mode: 'record' },
    };
    // The same endpoint (so the same cache keys): down for the first run, up for the second.
    let healthy = false;
    const s = await server(() =>
      healthy ? answer([20, 20], 'up again') : { kind: 'status', status: 503 },
    );
    const e = experiment({ f1: llm(s.url), f2: { name: 'nash', args: [] } }, 1);
    const first = await trace(e, options);
    expect(s.requests).toHaveLength(2);
    expect(of(first.events, 'llm_call')).toEqual([
      expect.objectContaining({ firm: 'f1', response: null, error: expect.stringMatching(/503/) }),
    ]);
    healthy = true;
    const second = await trace(e, options);
    expect(s.requests).toHaveLength(3);
    expect(of(second.events, 'invalid_action')).toEqual([]);
    expect(of(second.events, 'llm_call')).toEqual([
      expect.objectContaining({ firm: 'f1', cache_hit: false, rationale: 'up again' }),
    ]);
    // The answer replaced the failure: a third run takes it from the cache.
    const third = await trace(e, options);
    expect(s.requests).toHaveLength(3);
    expect(of(third.events, 'llm_call')).toEqual([
      expect.objectContaining({ firm: 'f1', cache_hit: true, rationale: 'up again' }),
    ]);
  });
});

describe('the API key', () => {
  it('is sent to the endpoint and written to no file', async () => {
    const key = 'sk-mase-test-KEY-8c1f0e77d2';
    const s = await server(() => answer([25, 25], 'fine'));
    const out = mkdtempSync(join(tmpdir(), 'mase-llm-run-'));
    dirs.push(out);
    const dir = join(out, 'run');
    const { result } = await runToDirectory(
      experiment({ f1: llm(s.url), f2: llm(s.url) }, 3),
      dir,
      {
        llm: {
          ...noWait,
          env: { OPENAI_API_KEY: key },
          // The response cache is searched too (it lives under MASE_HOME).
          cache: { path: join(home, 'cache', 'responses.sqlite'), mode: 'record' },
        },
      },
    );
    expect(result.status).toBe('completed');
    expect(s.requests[0]?.authorization).toBe(`Bearer ${key}`);
    const files = (root: string): string[] =>
      readdirSync(root).flatMap((name) => {
        const path = join(root, name);
        return statSync(path).isDirectory() ? files(path) : [path];
      });
    const written = [...files(dir), ...files(home)];
    expect(written.some((f) => f.endsWith('responses.sqlite'))).toBe(true);
    expect(written.length).toBeGreaterThan(4);
    for (const file of written) expect(readFileSync(file, 'latin1'), file).not.toContain(key);
    // The manifest names where the key came from, and the model's provenance.
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.models[0]).toMatchObject({
      spec: `openai-compatible:${s.url}#test-model`,
      provider: 'openai-compatible',
      model: 'test-model',
      endpoint_host: new URL(s.url).host,
      api_key_env: 'OPENAI_API_KEY',
    });
    expect(manifest.llm_usage.total.calls).toBe(6);
    // The report shows the rationales the firms gave.
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('fine');
    expect(parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')).length).toBeGreaterThan(10);
  });

  it('is not sent when none is set', async () => {
    const s = await server(() => answer([25, 25]));
    await trace(experiment({ f1: llm(s.url), f2: llm(s.url) }, 1), { ...noWait, env: {} });
    expect(s.requests.every((r) => r.authorization === undefined)).toBe(true);
  });
});
