import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  firmOf,
  roundOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox } from '../support/cli.js';
import { promptOf, type TraceLine } from '../support/trace-events.js';

/**
 * The commons with LLM fishers and talk, end to end through the built CLI and a scripted
 * chat-completions server: each round after the first goes report → talk → harvest. The
 * previous round's public report (every fisher's harvest and catch, the stock left) is in
 * the talk prompt, the messages are traced and quoted in the harvest prompt, and with
 * `visible: true` the institution of examples/commons/talk.mase reads them.
 */

const { maseAsync: mase, read, events: eventsOf } = cliSandbox('commons-talk');
let server: ScriptedServer;
const root = join(__dirname, '../..');

const isTalk = (r: SeenRequest) =>
  r.body.messages.find((m) => m.role === 'user')?.content.includes('before anyone acts') ?? false;

/** fisher1 promises restraint every round and breaks it in round 2 (asks 40); the others ask 10. */
function script(r: SeenRequest) {
  const firm = firmOf(r) ?? '?';
  const round = roundOf(r) ?? 0;
  if (isTalk(r)) {
    // Complete topology: every other fisher may be written to; the schema lists them.
    const schema = JSON.stringify(r.body.response_format);
    const others = [...schema.matchAll(/"(fisher\d+)"/g)].map((m) => m[1] as string);
    const text =
      firm === 'fisher1'
        ? `${firm}, round ${round}: I promise to take 10.`
        : `${firm}, round ${round}: agreed.`;
    return {
      kind: 'answer' as const,
      content: JSON.stringify({ messages: [{ to: [...new Set(others)], text }] }),
    };
  }
  const ask = firm === 'fisher1' && round === 2 ? 40 : 10;
  return {
    kind: 'answer' as const,
    content: JSON.stringify({ harvest: ask, plans: '', insights: '', rationale: 'steady' }),
  };
}

beforeAll(async () => {
  server = await startScriptedServer(script);
});
afterAll(() => server.close());

type Event = TraceLine;

describe('mase run --environment stdlib:commons --agents llm --talk complete', () => {
  it('each round after the first: the report, then talk, then the harvest', async () => {
    const model = `openai-compatible:${server.url}#m`;
    const r = await mase(
      `run --environment stdlib:commons --agents llm --model ${model} --talk complete --param fishers=3 --rounds 3 --out talk`.split(
        ' ',
      ),
    );
    expect(r.stderr).toContain('status: completed');
    expect(r.code).toBe(0);
    const events = eventsOf('talk');
    const at = (pick: (e: Event) => boolean) => events.findIndex(pick);
    const lastAt = (pick: (e: Event) => boolean) => events.findLastIndex(pick);
    for (const round of [1, 2, 3]) {
      const talks = (e: Event) =>
        e.type === 'llm_call' && e.round === round && e.purpose === 'talk';
      const asks = (e: Event) => e.type === 'llm_call' && e.round === round && !e.purpose;
      const message = (e: Event) => e.type === 'message' && e.round === round;
      const cleared = at((e) => e.type === 'environment' && e.round === round);
      // Talk, then every message, then the questions of what to ask for, then the harvest.
      expect(lastAt(talks)).toBeLessThan(at(message));
      expect(lastAt(message)).toBeLessThan(at(asks));
      expect(lastAt(asks)).toBeLessThan(cleared);
      if (round > 1)
        expect(at((e) => e.type === 'environment' && e.round === round - 1)).toBeLessThan(
          at(talks),
        );
      // Every fisher wrote to both others, and the trace records it.
      expect(events.filter(message).map((m) => [m.from, (m.to as string[]).join(' ')])).toEqual([
        ['fisher1', 'fisher2 fisher3'],
        ['fisher2', 'fisher1 fisher3'],
        ['fisher3', 'fisher1 fisher2'],
      ]);
    }

    // The report of round 2 is public: fisher3 talks in round 3 knowing fisher1 took 40.
    // Round 1: 30 of 100 taken, 70 left, regrown to 100; round 2: 60 taken, 40 left.
    const talk3 = events.find(
      (e) => e.type === 'llm_call' && e.round === 3 && e.purpose === 'talk' && e.firm === 'fisher3',
    );
    const talkPrompt = promptOf(events, talk3, 'user');
    expect(talkPrompt).toContain(
      'round 1: fish 100; harvest fisher1 10, fisher2 10, fisher3 10; caught fisher1 10, fisher2 10, fisher3 10; left 70',
    );
    expect(talkPrompt).toContain(
      'round 2: fish 100; harvest fisher1 40, fisher2 10, fisher3 10; caught fisher1 40, fisher2 10, fisher3 10; left 40',
    );
    // The harvest question of round 2 quotes what the others said in round 2's talk.
    const ask2 = events.find(
      (e) => e.type === 'llm_call' && e.round === 2 && !e.purpose && e.firm === 'fisher2',
    );
    expect(promptOf(events, ask2, 'user')).toContain('"fisher1, round 2: I promise to take 10."');
    // The report page draws the talk and lists the messages.
    const report = read('talk/report.html');
    expect(report).toContain('<section id="messages">');
    expect(report).toContain('fisher1, round 2: I promise to take 10.');
  });

  it('examples/commons/talk.mase: the institution reads the talk and fines a broken promise', async () => {
    const example = join(root, 'examples/commons/talk.mase');
    const model = `openai-compatible:${server.url}#m`;
    const r = await mase([
      'run',
      example,
      ...`--experiment talk_quota --model ${model} --rounds 3 --out quota`.split(' '),
    ]);
    expect(r.code).toBe(0);
    const events = eventsOf('quota');
    // Every fisher wrote once a round; only fisher1 wrote "promise".
    const monitors = events.filter((e) => e.type === 'monitors');
    expect(monitors.map((m) => (m.values as Record<string, unknown>).promised)).toEqual([
      [1, 0, 0, 0],
      [1, 0, 0, 0],
      [1, 0, 0, 0],
    ]);
    // Round 2: fisher1 promised and asked 40 > 12.5 (100 · (1 − 1/2) / 4): fined half its
    // catch. Stock 100, 40 + 3 · 10 = 70 asked, all served: caught 40, fine 20.
    expect(
      events
        .filter((e) => e.type === 'transition' && e.to === 'broke_word')
        .map((e) => [e.round, e.firm]),
    ).toEqual([[2, 'fisher1']]);
    expect(
      events.filter((e) => e.type === 'sanction').map((e) => [e.round, e.firm, e.amount]),
    ).toEqual([[2, 'fisher1', 20]]);
  });
});
