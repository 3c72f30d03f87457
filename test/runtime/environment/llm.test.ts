import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  firmOf,
  type Reply,
  roundOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../../bench/support/openai-server.js';
import { compileSources, type IrPolicy, type SourceText } from '../../../compiler/index.js';
import {
  ENVIRONMENT_TEMPLATES,
  type ResolvedExperiment,
  type RunLlmOptions,
  resolveExperiment,
  runExperiment,
  stdlibSources,
  type TraceEvent,
} from '../../../runtime/index.js';

/**
 * LLM agents in environments written in the language, against a real HTTP server on
 * 127.0.0.1 that speaks the chat-completions protocol: they are told the environment's
 * generated rules and past rounds as its `observe` items show them, their answers are
 * checked against the bounds, the grid and the options, and unusable answers end in the
 * environment's fallback (its first benchmark), recorded.
 */

const home = mkdtempSync(join(tmpdir(), 'mase-env-llm-home-'));
process.env.MASE_HOME = home;
const servers: ScriptedServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

async function server(script: (request: SeenRequest) => Reply): Promise<ScriptedServer> {
  const s = await startScriptedServer(script);
  servers.push(s);
  return s;
}

const llm = (url: string, ...args: IrPolicy['args']): IrPolicy => ({
  name: 'llm',
  args: [{ name: 'model', value: `openai-compatible:${url}#test-model` }, ...args],
});

const noWait: RunLlmOptions = { wait: async () => {}, timeoutMs: 300 };

function experiment(
  environment: string,
  policies: Record<string, IrPolicy>,
  rounds: number,
  params: { name: string; value: number }[] = [],
  extra: readonly SourceText[] = [],
): ResolvedExperiment {
  const sources = [...extra, ...stdlibSources()];
  const program = compileSources(extra, stdlibSources(), { includeLibrary: true }).program;
  return resolveExperiment(
    program,
    { environment, institution: 'none', agents: 'given', params, rounds, seed: 3 },
    () => ({ perFirm: policies }),
    sources,
  );
}

async function trace(e: ResolvedExperiment) {
  const events: TraceEvent[] = [];
  const result = await runExperiment(e, { onEvent: (x) => events.push(x), llm: noWait });
  return { events, result };
}

const of = <T extends TraceEvent['type']>(events: readonly TraceEvent[], type: T) =>
  events.filter((e): e is Extract<TraceEvent, { type: T }> => e.type === type);

/** The full text of a recorded prompt message (the trace stores each text once, by id). */
const textOf = (events: readonly TraceEvent[], id: string) =>
  of(events, 'text').find((t) => t.id === id)?.text ?? '';

describe('LLM agents in the commons', () => {
  it('are told the rules and past rounds, and bad answers fall back to the sustainable share', async () => {
    const seen: SeenRequest[] = [];
    const s = await server((r) => {
      seen.push(r);
      const firm = firmOf(r);
      const round = roundOf(r) ?? 0;
      const reasked = r.body.messages.length > 2;
      if (firm === 'fisher1') return { kind: 'answer', content: harvest(10, `round ${round}`) };
      // fisher2 asks for more than the capacity first; re-asked, it answers lawfully.
      if (firm === 'fisher2')
        return { kind: 'answer', content: harvest(reasked ? 20 : 500, 'more') };
      // fisher3 never answers usably in round 1, then answers 5.
      if (round === 1) return { kind: 'answer', content: 'I would take a few fish.' };
      return { kind: 'answer', content: harvest(5, 'few') };
    });
    const e = experiment(
      'commons',
      { fisher1: llm(s.url), fisher2: llm(s.url), fisher3: llm(s.url) },
      2,
      [{ name: 'fishers', value: 3 }],
    );
    const { events, result } = await trace(e);
    expect(result.status).toBe('completed');

    // Round 1: fisher3 fell back to the first benchmark, sustainable = 100·(1 − 1/2)/3.
    const rounds = of(events, 'environment');
    expect(rounds.map((r) => r.values.harvest)).toEqual([
      [10, 20, 50 / 3],
      [10, 20, 5],
    ]);
    expect(of(events, 'invalid_action')).toEqual([
      {
        type: 'invalid_action',
        round: 1,
        firm: 'fisher3',
        reason: 'the answer was not valid JSON',
        fallback: 'sustainable',
      },
    ]);
    const fisher2 = of(events, 'llm_call').filter((c) => c.firm === 'fisher2' && c.round === 1);
    expect(fisher2.map((c) => c.error ?? 'ok')).toEqual([
      'harvest: must be between 0 and 100, not 500',
      'ok',
    ]);

    // The system prompt carries the rules generated from the declaration, with the
    // environment's own axis name; round 2's prompt shows round 1 as `observe` says.
    const call = of(events, 'llm_call').find((c) => c.firm === 'fisher1' && c.round === 2);
    const system = textOf(events, call?.messages[0]?.text ?? '');
    const user = textOf(events, call?.messages[1]?.text ?? '');
    expect(system).toContain('You are fisher1, one of 3 fishers');
    expect(system).toContain('- requested = sum(harvest, over: fisher)');
    expect(system).toContain('{"harvest": <harvest>, "plans"');
    // The report is public: each fisher's request and catch (fisher3's fallback 50/3).
    expect(user).toContain(
      'round 1: fish 100; harvest fisher1 10, fisher2 20, fisher3 16.6667; caught fisher1 10, fisher2 20, fisher3 16.6667; left 53.3333',
    );
    // The request's schema asks for one number under the action's name.
    const schema = JSON.stringify(seen[0]?.body.response_format);
    expect(schema).toContain('"harvest":{"type":"number"}');
  });
});

const harvest = (x: number, rationale: string) =>
  JSON.stringify({ harvest: x, plans: '', insights: '', rationale });

describe('LLM agents on a grid and among options', () => {
  it('refuses an effort off the grid of minimum_effort, and re-asks', async () => {
    const s = await server((r) => {
      const reasked = r.body.messages.length > 2;
      return { kind: 'answer', content: answerOf('effort', reasked ? 3 : 2.5) };
    });
    const e = experiment('minimum_effort', { player1: llm(s.url), player2: llm(s.url) }, 1, [
      { name: 'players', value: 2 },
    ]);
    const { events } = await trace(e);
    const calls = of(events, 'llm_call').filter((c) => c.firm === 'player1');
    expect(calls.map((c) => c.error ?? 'ok')).toEqual([
      'effort: must be 1 plus a whole number of steps of 1, not 2.5',
      'ok',
    ]);
    expect(of(events, 'environment')[0]?.values.effort).toEqual([3, 3]);
  });

  it('answers an option by name', async () => {
    const source: SourceText = {
      path: 'hunt.mase',
      text: `mase 1
environment hunt {
  agents hunter = 2
  action choice one of hare, stag
  let stags = min(choice, over: hunter)
  payoff = if choice == 1 then 4 * stags else 1
  observe choice
  benchmark safe = 0 "hare"
}
`,
    };
    const s = await server((r) => {
      const firm = firmOf(r);
      return {
        kind: 'answer',
        content:
          firm === 'hunter1'
            ? JSON.stringify({ choice: 'stag', plans: '', insights: '', rationale: '' })
            : JSON.stringify({ choice: 'boar', plans: '', insights: '', rationale: '' }),
      };
    });
    const e = experiment('hunt', { hunter1: llm(s.url), hunter2: llm(s.url) }, 1, [], [source]);
    const { events } = await trace(e);
    expect(of(events, 'environment')[0]?.values.choice).toEqual([1, 0]);
    const hunter2 = of(events, 'llm_call').filter((c) => c.firm === 'hunter2');
    expect(hunter2[0]?.error).toMatch(/^choice: Invalid option: expected one of "hare"\|"stag"/);
    expect(of(events, 'invalid_action').map((x) => `${x.firm}:${x.fallback}`)).toEqual([
      'hunter2:safe',
    ]);
  });
});

const answerOf = (key: string, x: number) =>
  JSON.stringify({ [key]: x, plans: '', insights: '', rationale: '' });

describe('the environment templates', () => {
  it('speak of the others, not of firms', () => {
    // Placeholders keep their names (`{{firm}}` is the agent's name everywhere).
    for (const [name, template] of Object.entries(ENVIRONMENT_TEMPLATES))
      expect(template.replace(/\{\{\w+\}\}/g, ''), name).not.toMatch(/firm|market|product/i);
  });
});
