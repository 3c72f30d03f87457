import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  roundOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { chrf, tokenJaccard } from '../../compiler/text.js';
import { cliSandbox } from '../support/cli.js';

/**
 * The text measures end to end: LLM firms (a scripted chat-completions server) talk before
 * they act, the institution reads the talk (`visible: true`) with `similarity`, `jaccard`,
 * `lexicon` and `message_length`, and the `monitors` event of each round carries each
 * firm's value, recomputed here from the round's `message` events.
 */

const PLAN = 'you take B, I take A';
const source = `mase 1
institution echo_watch "Warns a firm whose messages echo a plan to split the market" {
  scope per firm
  monitor echo = similarity("${PLAN}")
  monitor overlap = jaccard("${PLAN}")
  monitor plotting = lexicon("collusion")
  monitor chars = message_length()
  initial state clear {
    when echo[self] > 0.8 -> warned
  }
  state warned {
    notice "Your messages echo a plan to split the market."
    after 1 round -> clear
  }
}

experiment echo "Two LLM firms talk; the institution measures what they say" {
  market cournot_2x2
  institution echo_watch
  agents llm
  talk complete(visible: true, max_messages: 2)
  rounds 3
  seed 1
}
`;

/** f1 says the plan every round; f2 agrees in words of its own in round 1, is silent in round 2. */
const said = (firm: string, round: number): string[] =>
  firm === 'f1'
    ? [PLAN]
    : round === 2
      ? []
      : [`Round ${round}: agreed, let us split it together.`, 'Nice weather.'];

const sandbox = cliSandbox('text-measures');
let server: ScriptedServer;

beforeAll(async () => {
  sandbox.write('echo.mase', source);
  server = await startScriptedServer((r) => {
    const firm = firmOf(r) ?? '?';
    if (r.body.messages[1]?.content.includes('before anyone acts'))
      return {
        kind: 'answer',
        content: JSON.stringify({
          messages: said(firm, roundOf(r) ?? 0).map((text) => ({
            to: [firm === 'f1' ? 'f2' : 'f1'],
            text,
          })),
        }),
      };
    return answer(firm === 'f1' ? [60, 0] : [0, 60], 'divide the market');
  });
});
afterAll(() => server.close());

describe('text measures in an institution monitor', () => {
  it('similarity, jaccard, lexicon and message_length per firm, from the traced messages', async () => {
    const r = await sandbox.maseAsync([
      'run',
      'echo.mase',
      ...['--experiment', 'echo', '--model', `openai-compatible:${server.url}#m`],
      ...['--out', 'echo'],
    ]);
    expect(r.stderr).toContain('status: completed');
    expect(r.code).toBe(0);
    const events = sandbox.events('echo');
    const monitors = events.filter((e) => e.type === 'monitors');
    expect(monitors.map((m) => m.round)).toEqual([1, 2, 3]);
    for (const m of monitors) {
      const texts = ['f1', 'f2'].map((firm) =>
        events
          .filter((e) => e.type === 'message' && e.round === m.round && e.from === firm)
          .map((e) => String(e.text)),
      );
      const values = m.values as Record<string, (number | null)[]>;
      // A firm that wrote nothing has no similarity: unknown, written as null.
      const each = (f: (text: string) => number) =>
        texts.map((t) => (t.length === 0 ? null : f(t.join(' '))));
      expect(values.echo).toEqual(each((t) => chrf(t, PLAN)));
      expect(values.overlap).toEqual(each((t) => tokenJaccard(t, PLAN)));
      expect(values.chars).toEqual(texts.map((t) => t.join('').length));
    }
    // By hand: f1 repeats the plan (1); in round 1 f2's tokens are round, 1, agreed, let,
    // us, split, it, together, nice, weather — agreed, split and together are collusion words.
    const valuesOf = (name: string) =>
      monitors.map((m) => (m.values as Record<string, unknown>)[name]);
    expect(valuesOf('echo')).toEqual([
      [1, expect.any(Number)],
      [1, null],
      [1, expect.any(Number)],
    ]);
    expect(valuesOf('plotting')[0]).toEqual([0, 3 / 10]);
    expect(valuesOf('chars')[1]).toEqual([PLAN.length, 0]);
    // Only f1 echoes the plan closely enough to be warned, every round it is clear.
    expect(
      events
        .filter((e) => e.type === 'transition' && e.to === 'warned')
        .map((e) => [e.round, e.firm]),
    ).toEqual([
      [1, 'f1'],
      [3, 'f1'],
    ]);
  });
});
