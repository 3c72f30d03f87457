import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  roundOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../../bench/support/openai-server.js';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  parseTrace,
  ReplayError,
  replayRun,
  resolveExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
} from '../../../runtime/index.js';

/**
 * A run with LLM firms writes every answer to the response cache; `replayRun` runs it
 * again from its manifest and that cache with no network, and must reproduce every
 * decision, market, institution and message event. Transport-only fields (latency,
 * retries, cache hits, wall-clock times) and `llm_retry` events are all that may differ.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;

/** Two LLM firms on the endpoint at `url` in cournot_2x2 under the governance graph. */
function llmExperiment(url: string, rounds: number, seed: number) {
  const model: IrPolicy = {
    name: 'llm',
    args: [{ name: 'model', value: `openai-compatible:${url}#m` }],
  };
  return resolveExperiment(
    program,
    {
      market: 'cournot_2x2',
      institution: 'governance_graph',
      agents: 'given',
      params: [],
      rounds,
      seed,
    },
    () => ({ perFirm: { f1: model, f2: model } }),
    stdlibSources(),
  );
}
const root = mkdtempSync(join(tmpdir(), 'mase-replay-'));
process.env.MASE_HOME = join(root, 'home');
const cachePath = join(root, 'cache', 'responses.sqlite');
const original = join(root, 'original');
let server: ScriptedServer;

/** The trace without what only the transport decides. */
function content(dir: string): TraceEvent[] {
  const events = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8'));
  const transport = new Set(['retries', 'cache_hit', 'latency_ms']);
  return JSON.parse(
    JSON.stringify(
      events.filter((e) => e.type !== 'llm_retry'),
      (k, v) => (transport.has(k) || k.endsWith('_ms') || k.endsWith('_at') ? undefined : v),
    ),
  );
}

const byRound = (events: readonly TraceEvent[], round: number) =>
  events.filter((e) => 'round' in e && e.round === round);

beforeAll(async () => {
  const tries = new Map<string, number>();
  server = await startScriptedServer((r) => {
    const key = `${firmOf(r)}@${roundOf(r)}`;
    const n = (tries.get(key) ?? 0) + 1;
    tries.set(key, n);
    const round = roundOf(r) ?? 0;
    if (firmOf(r) === 'f1' && round === 2 && n === 1) return { kind: 'status', status: 503 };
    if (firmOf(r) === 'f2' && round === 3 && n === 1)
      return { kind: 'answer', content: 'not json' };
    if (firmOf(r) === 'f2' && round === 4) return { kind: 'status', status: 500 };
    return answer(firmOf(r) === 'f1' ? [50 + round, 5] : [5, 50 + round], `plan ${round}`);
  });
  const experiment = llmExperiment(server.url, 6, 3);
  await runToDirectory(experiment, original, {
    llm: {
      wait: async () => {},
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
      cache: { path: cachePath, mode: 'record' },
    },
  });
  // Replay must not need the server.
  await server.close();
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('replay', () => {
  it('the original run met every fault the script planned', () => {
    const events = parseTrace(readFileSync(join(original, 'events.jsonl'), 'utf8'));
    expect(events.filter((e) => e.type === 'llm_retry').length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.type === 'invalid_action')).toEqual([
      expect.objectContaining({ round: 4, firm: 'f2' }),
    ]);
  });

  it('reproduces every decision, market, institution and message event with no network', async () => {
    const out = join(root, 'replayed');
    const { result } = await replayRun(original, out);
    expect(result.status).toBe('completed');
    expect(content(out)).toEqual(content(original));
    const calls = parseTrace(readFileSync(join(out, 'events.jsonl'), 'utf8')).filter(
      (e) => e.type === 'llm_call',
    );
    expect(calls.length).toBeGreaterThan(12);
    // Every answer came from the cache (a request that never got one replays its failure).
    expect(calls.every((c) => c.type === 'llm_call' && (c.response === null || c.cache_hit))).toBe(
      true,
    );
  });

  it('follows an altered cached answer from its round on, and only from there, until the cache runs out', async () => {
    const copy = join(root, 'altered-cache.sqlite');
    writeFileSync(copy, readFileSync(cachePath));
    const db = new Database(copy);
    const rows = db.prepare('SELECT key, request, response FROM responses').all() as {
      key: string;
      request: string;
      response: string;
    }[];
    const target = rows.find((row) => {
      const request = JSON.parse(row.request) as { messages: { content: string }[] };
      return (
        request.messages[0]?.content.includes('You are f1') &&
        request.messages[1]?.content.startsWith('Round 3 ')
      );
    });
    expect(target).toBeDefined();
    const changed = JSON.parse(target?.response ?? '{}');
    changed.answer.content = JSON.stringify({
      quantity: [10, 10],
      plans: 'changed',
      insights: 'changed',
      rationale: 'changed',
    });
    db.prepare('UPDATE responses SET response = ? WHERE key = ?').run(
      JSON.stringify(changed),
      target?.key,
    );
    db.close();
    const out = join(root, 'altered');
    // Round 4's questions quote round 3's outcome, which changed: the cache holds no answer
    // to them, so the replay stops there, naming the round; what it played is kept.
    await expect(replayRun(original, out, { cache: copy })).rejects.toThrow(
      /in round 4 .*the cache holds no answer/,
    );
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).status).toBe('failed');
    const before = content(original);
    const after = content(out);
    for (const round of [1, 2]) expect(byRound(after, round)).toEqual(byRound(before, round));
    expect(byRound(after, 3)).not.toEqual(byRound(before, 3));
    const decision = byRound(after, 3).find((e) => e.type === 'decision' && e.firm === 'f1');
    expect(decision).toMatchObject({ action: [10, 10], rationale: 'changed' });
  });

  it('names the round and the firm of an answer the cache does not hold', async () => {
    const copy = join(root, 'holed-cache.sqlite');
    writeFileSync(copy, readFileSync(cachePath));
    const db = new Database(copy);
    const rows = db.prepare('SELECT key, request FROM responses').all() as {
      key: string;
      request: string;
    }[];
    const hole = rows.find((row) => {
      const request = JSON.parse(row.request) as { messages: { content: string }[] };
      return (
        request.messages[0]?.content.includes('You are f2') &&
        request.messages[1]?.content.startsWith('Round 5 ')
      );
    });
    db.prepare('DELETE FROM responses WHERE key = ?').run(hole?.key);
    db.close();
    await expect(replayRun(original, join(root, 'holed'), { cache: copy })).rejects.toThrow(
      /f2 in round 5 .*the cache holds no answer for this request/,
    );
  });

  it('refuses a manifest that no longer describes the run', async () => {
    const edited = join(root, 'edited');
    rmSync(edited, { recursive: true, force: true });
    const manifest = JSON.parse(readFileSync(join(original, 'manifest.json'), 'utf8'));
    manifest.rounds = 7;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(edited, { recursive: true });
    writeFileSync(join(edited, 'manifest.json'), JSON.stringify(manifest));
    await expect(replayRun(edited, join(root, 'never'))).rejects.toThrow(ReplayError);
    await expect(replayRun(edited, join(root, 'never'))).rejects.toThrow(/digest differs/);
  });
});

describe('replaying a run that stopped early', () => {
  const recorded = join(root, 'budgeted');
  const budgetCache = join(root, 'cache', 'budgeted.sqlite');
  let budgetServer: ScriptedServer;

  beforeAll(async () => {
    budgetServer = await startScriptedServer((r) => ({
      ...answer(firmOf(r) === 'f1' ? [40, 10] : [10, 40], `plan ${roundOf(r)}`),
      fingerprint: 'fp-budget',
    }));
    const experiment = llmExperiment(budgetServer.url, 30, 4);
    // `--prices 1000,1000 --max-cost 2`: a few rounds of answers spend it.
    await runToDirectory(experiment, recorded, {
      llm: {
        wait: async () => {},
        cache: { path: budgetCache, mode: 'record' },
        prices: { inputPerMillion: 1000, outputPerMillion: 1000 },
        budget: { maxCost: 2 },
      },
    });
    await budgetServer.close();
  });

  it('stops where the run stopped, for its reason, though cached answers cost nothing', async () => {
    const manifest = JSON.parse(readFileSync(join(recorded, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.reason).toMatch(/cost budget \(2\) is spent/);
    expect(manifest.rounds_completed).toBeGreaterThan(0);
    expect(manifest.rounds_completed).toBeLessThan(30);
    const out = join(root, 'budgeted-replay');
    const { result } = await replayRun(recorded, out);
    expect(result.status).toBe('interrupted');
    expect(result.roundsCompleted).toBe(manifest.rounds_completed);
    expect(result.reason).toBe(manifest.reason);
    expect(content(out)).toEqual(content(recorded));
    const replayed = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(replayed).toMatchObject({
      status: 'interrupted',
      rounds_completed: manifest.rounds_completed,
      reason: manifest.reason,
    });
  });

  it('records the same model provenance from cached answers as from the model', async () => {
    const out = join(root, 'budgeted-provenance');
    await replayRun(recorded, out);
    const provenance = (dir: string) =>
      (
        JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).models as {
          reported_models: string[];
          system_fingerprints: string[];
          structured_output: boolean | null;
        }[]
      ).map((m) => ({
        reported_models: m.reported_models,
        system_fingerprints: m.system_fingerprints,
        structured_output: m.structured_output,
      }));
    expect(provenance(recorded)).toEqual([
      { reported_models: ['m'], system_fingerprints: ['fp-budget'], structured_output: true },
    ]);
    expect(provenance(out)).toEqual(provenance(recorded));
  });
});
