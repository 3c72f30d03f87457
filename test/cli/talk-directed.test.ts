import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox, STACK_LINE } from '../support/cli.js';
import { promptOf } from '../support/trace-events.js';

/**
 * One-way talk through the built CLI: `--talk chain`, `tree(branching)` and `edges` with
 * `a>b` pairs, LLM firms answered by a scripted server that writes to every recipient its
 * talk schema allows. The trace shows who wrote to whom; a firm with no one to write to is
 * never asked to talk; a firm that hears from one it cannot answer is told so.
 */

const sandbox = cliSandbox('talk-directed');
const { maseAsync: mase, read } = sandbox;
let server: ScriptedServer;

const isTalk = (r: SeenRequest) =>
  r.body.messages.find((m) => m.role === 'user')?.content.includes('before anyone acts') ?? false;

beforeAll(async () => {
  server = await startScriptedServer((r) => {
    if (!isTalk(r)) return answer([20]);
    // The schema's recipients are exactly the firms this one may write to.
    const allowed = /"enum":\[([^\]]*)\]/.exec(JSON.stringify(r.body.response_format))?.[1] ?? '';
    const to = [...allowed.matchAll(/"(\w+)"/g)].map((m) => m[1] as string);
    return {
      kind: 'answer',
      content: JSON.stringify({ messages: [{ to, text: `hello from ${firmOf(r)}` }] }),
    };
  });
});
afterAll(() => server.close());

/** A one-round Cournot run of `firms` LLM firms with the given talk; its trace. */
async function talkRun(talk: string, firms: number, out: string) {
  const r = await mase([
    'run',
    '--market',
    'stdlib:cournot',
    '--param',
    `firms=${firms}`,
    '--agents',
    `llm:openai-compatible:${server.url}#m`,
    '--talk',
    talk,
    '--rounds',
    '1',
    '--out',
    out,
  ]);
  expect(r.stderr).toContain('status: completed');
  expect(r.code).toBe(0);
  const events = sandbox.events(out);
  return {
    events,
    said: events.filter((e) => e.type === 'message').map((m) => [m.from, m.to, m.refused]),
    talkers: events
      .filter((e) => e.type === 'llm_call' && e.purpose === 'talk')
      .map((e) => e.firm)
      .sort(),
    /** The user prompt of `firm`'s first talk turn (`purpose: "talk"`) or decision. */
    prompt: (purpose: 'talk' | 'decide', firm: string) =>
      promptOf(
        events,
        events.find(
          (e) =>
            e.type === 'llm_call' &&
            e.firm === firm &&
            (purpose === 'talk' ? e.purpose === 'talk' : !e.purpose),
        ),
        'user',
      ),
  };
}

describe('mase run --talk with one-way links', () => {
  it('chain: each firm writes to the next only; the last is not asked to talk', async () => {
    const run = await talkRun('chain', 4, 'chain');
    expect(run.said).toEqual([
      ['f1', ['f2'], undefined],
      ['f2', ['f3'], undefined],
      ['f3', ['f4'], undefined],
    ]);
    expect(run.talkers).toEqual(['f1', 'f2', 'f3']);
    // f2 hears from f1 but may only write to f3, and is told so in its talk prompt.
    expect(run.prompt('talk', 'f2')).toContain(
      'characters to: f3. Other firms read them as text; they change nothing by themselves. Send none if you have nothing to say. Links here run one way: f1 may write to you, but you cannot write to them; f3 cannot write back to you.',
    );
    expect(run.prompt('talk', 'f1')).toContain(
      'Send none if you have nothing to say. Links here run one way: f2 cannot write back to you.',
    );
    // The last firm reads what it was sent when it decides.
    expect(run.prompt('decide', 'f4')).toContain('- m1.1.3 from f3 (talk turn 1): "hello from f3"');
    expect(run.prompt('decide', 'f1')).not.toContain('hello from');
  });

  it('tree(branching: 3): each parent writes to its three children, one way', async () => {
    const run = await talkRun('tree(branching: 3)', 6, 'tree');
    expect(run.said).toEqual([
      ['f1', ['f2', 'f3', 'f4'], undefined],
      ['f2', ['f5', 'f6'], undefined],
    ]);
    expect(run.talkers).toEqual(['f1', 'f2']);
    expect(run.prompt('decide', 'f6')).toContain('- m1.1.2 from f2 (talk turn 1): "hello from f2"');
  });

  it('edges(pairs: "f1>f2"): f1 writes to f2, f2 cannot answer; two-way prompts are unchanged', async () => {
    const run = await talkRun('edges(pairs: "f1>f2, f2-f3")', 3, 'edges');
    expect(run.said).toEqual([
      ['f1', ['f2'], undefined],
      ['f2', ['f3'], undefined],
      ['f3', ['f2'], undefined],
    ]);
    expect(run.prompt('talk', 'f2')).toContain(
      'Links here run one way: f1 may write to you, but you cannot write to them.',
    );
    // f3's only link is two-way: its prompt says nothing of one-way links.
    expect(run.prompt('talk', 'f3')).toContain(
      'Send none if you have nothing to say.\nAnswer with',
    );
    const report = read('edges/report.html');
    expect(report).toContain('Who wrote to whom (messages over the run)');
  });

  it('a bad chain, tree or edges argument is a clear message and exit 2', async () => {
    const cases: [string, RegExp][] = [
      ['chain(branching: 2)', /talk chain: unknown argument `branching`/],
      ['tree(branching: 0)', /talk tree: argument `branching` must be a whole number ≥ 1; got 0/],
      ['tree(branching: 2.5)', /talk tree: argument `branching` must be a whole number ≥ 1/],
      ['edges(pairs: "f1>f9")', /talk edges: `f1>f9` is not a link between two firms/],
      ['edges(pairs: "f1>f2>f3")', /`f1>f2>f3` is not a link .*"f1>f2" for one way/],
    ];
    for (const [talk, message] of cases) {
      const r = await mase([
        'run',
        '--market',
        'stdlib:cournot',
        '--param',
        'firms=3',
        '--agents',
        'nash',
        '--talk',
        talk,
        '--out',
        `bad-${cases.findIndex((c) => c[0] === talk)}`,
      ]);
      expect(r.code, talk).toBe(2);
      expect(r.stderr, talk).toMatch(message);
      expect(r.stderr, talk).not.toMatch(STACK_LINE);
    }
  });
});
