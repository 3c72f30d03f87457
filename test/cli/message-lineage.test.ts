import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox } from '../support/cli.js';
import { promptOf, type TraceLine } from '../support/trace-events.js';

/**
 * Message lineage through the built CLI: LLM firms on a chain, answered by a scripted server
 * that names as parents every message id its talk prompt shows (and one it never saw); the
 * trace keeps the real parents, and `mase show RUN --message ID` prints the lineage, origin
 * first, with agent text that cannot act on the terminal.
 */

const sandbox = cliSandbox('lineage');
const { maseAsync: mase, read, write } = sandbox;
let server: ScriptedServer;

const userPrompt = (r: SeenRequest) =>
  r.body.messages.find((m) => m.role === 'user')?.content ?? '';

beforeAll(async () => {
  server = await startScriptedServer((r) => {
    const prompt = userPrompt(r);
    if (!prompt.includes('before anyone acts')) return answer([20]);
    const to = /characters to: (\w+)\./.exec(prompt)?.[1] ?? '';
    const turn = /talk turn (\d+) of/.exec(prompt)?.[1];
    const shown = [...prompt.matchAll(/^- (m\d+\.\d+\.\d+) from /gm)].map((m) => m[1] as string);
    return {
      kind: 'answer',
      content: JSON.stringify({
        messages: [
          {
            to: [to],
            // An escape sequence that would turn a terminal red, and a line break.
            text: `${firmOf(r)} turn ${turn} \u001b[31mred\u001b[0m\nnext line`,
            parents: [...shown, 'm9.9.9'],
          },
        ],
      }),
    };
  });
  const r = await mase([
    'run',
    '--market',
    'stdlib:cournot',
    '--param',
    'firms=4',
    '--agents',
    `llm:openai-compatible:${server.url}#m`,
    '--talk',
    'chain(rounds: 3)',
    '--rounds',
    '1',
    '--out',
    'talked',
  ]);
  expect(r.stderr).toContain('status: completed');
  const quiet = await mase([
    'run',
    '--market',
    'stdlib:cournot',
    '--agents',
    'nash',
    '--rounds',
    '2',
    '--out',
    'quiet',
  ]);
  expect(quiet.code).toBe(0);
});
afterAll(() => server.close());

describe('message lineage in the trace', () => {
  it('keeps the parents each firm was shown and records the id it never received', () => {
    const messages = sandbox.events('talked').filter((e) => e.type === 'message');
    const rows = messages.map((m: TraceLine) => [m.id, m.from, m.parents, m.unknown_parents]);
    expect(rows).toEqual([
      ['m1.1.1', 'f1', undefined, ['m9.9.9']],
      ['m1.1.2', 'f2', undefined, ['m9.9.9']],
      ['m1.1.3', 'f3', undefined, ['m9.9.9']],
      ['m1.2.1', 'f1', undefined, ['m9.9.9']],
      ['m1.2.2', 'f2', ['m1.1.1'], ['m9.9.9']],
      ['m1.2.3', 'f3', ['m1.1.2'], ['m9.9.9']],
      ['m1.3.1', 'f1', undefined, ['m9.9.9']],
      ['m1.3.2', 'f2', ['m1.1.1', 'm1.2.1'], ['m9.9.9']],
      ['m1.3.3', 'f3', ['m1.1.2', 'm1.2.2'], ['m9.9.9']],
    ]);
  });
});

describe('the talk prompt', () => {
  it('shows each message with its id and how to name it as a parent', () => {
    const events = sandbox.events('talked');
    const talks = events.filter(
      (e) => e.type === 'llm_call' && e.purpose === 'talk' && e.firm === 'f2',
    );
    const second = promptOf(events, talks[1], 'user');
    expect(second).toContain(
      '- m1.1.1 from f1 (talk turn 1): "f1 turn 1 \\u001b[31mred\\u001b[0m\\nnext line"',
    );
    expect(second).toContain(
      'Answer with one JSON object: {"messages": [{"to": ["f3"], "text": "...", "parents": ["m1.1.1"]}]}\n"parents" (optional) lists the ids of the messages above that yours answers or is derived from.',
    );
    // With nothing received yet, the format names no parents.
    expect(promptOf(events, talks[0], 'user')).toContain(
      'Answer with one JSON object: {"messages": [{"to": ["f3"], "text": "..."}]}',
    );
    expect(promptOf(events, talks[0], 'user')).not.toContain('"parents"');
  });
});

describe('mase show --message', () => {
  it('prints the lineage origin first, with control characters escaped', async () => {
    const r = await mase(['show', 'talked', '--message', 'm1.3.3']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const text = (firm: string, turn: number) =>
      `      "${firm} turn ${turn} \\u001b[31mred\\u001b[0m\\nnext line"`;
    const never = (firm: string) =>
      `      also named "m9.9.9", which ${firm} never received (not kept)`;
    expect(r.stdout).toBe(
      [
        'message m1.3.3: 4 messages in its lineage from 2 origins, origin first',
        '  m1.1.1  round 1, turn 1  f1 → f2  (origin)',
        text('f1', 1),
        never('f1'),
        '  m1.1.2  round 1, turn 1  f2 → f3  (origin)',
        text('f2', 1),
        never('f2'),
        '  m1.2.2  round 1, turn 2  f2 → f3  from m1.1.1',
        text('f2', 2),
        never('f2'),
        '  m1.3.3  round 1, turn 3  f3 → f4  from m1.1.2, m1.2.2',
        text('f3', 3),
        never('f3'),
        '',
      ].join('\n'),
    );
    // Nothing the agents wrote reaches the terminal raw.
    expect(r.stdout).not.toContain('\u001b');
  });

  it('an origin is its own lineage', async () => {
    const r = await mase(['show', 'talked', '--message', 'm1.1.1']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('message m1.1.1: an origin (it names no parents)');
  });

  it('an unknown id, a run without talk and a trace without ids are errors (exit 2)', async () => {
    const unknown = await mase(['show', 'talked', '--message', 'm7.7.7']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'talked has no message "m7.7.7"; its messages are m1.1.1 to m1.3.3',
    );
    const hostile = await mase(['show', 'talked', '--message', 'm1\u001b[2J']);
    expect(hostile.code).toBe(2);
    expect(hostile.stderr).toContain('has no message "m1\\u001b[2J"');
    const quiet = await mase(['show', 'quiet', '--message', 'm1.1.1']);
    expect(quiet.code).toBe(2);
    expect(quiet.stderr).toContain('quiet has no messages: its run had no talk (--talk)');
    // A trace written before messages had ids: the same messages, without id and parents.
    const lines = read('talked/events.jsonl')
      .trimEnd()
      .split('\n')
      .map((line) => {
        const event = JSON.parse(line);
        if (event.type !== 'message') return line;
        const { id: _id, parents: _p, unknown_parents: _u, ...rest } = event;
        return JSON.stringify(rest);
      });
    write('old/events.jsonl', `${lines.join('\n')}\n`);
    const old = await mase(['show', 'old', '--message', 'm1.1.1']);
    expect(old.code).toBe(2);
    expect(old.stderr).toContain(
      'old records its messages without ids (a trace written before messages had ids)',
    );
    const both = await mase(['show', 'talked', '--timeline', '--message', 'm1.1.1']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--timeline or --message, not both');
  });
});
