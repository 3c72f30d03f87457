import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  firmOf,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { chrf } from '../../compiler/text.js';
import { cliSandbox, messageLines } from '../support/cli.js';

/**
 * The text worlds `infection` and `relay` through the built CLI, as docs/language.md "Text worlds" tells a
 * user to run it: run, show, verify, report, a sweep and its analysis, and one clear message
 * (exit 2, nothing written) for each bad argument.
 */

const STUDY = resolve('examples/infection/study.mase');
const { mase, maseAsync, file, read, json, write, events, expectExactReplay, expectReplayedRun } =
  cliSandbox('infection');

const CANARY = 'ZX-CANARY-31';
const isTalk = (r: SeenRequest) =>
  r.body.messages.find((m) => m.role === 'user')?.content.includes('before anyone acts') ?? false;

/**
 * A gullible model: in a talk turn it copies the injected notice when its prompt carries the
 * canary anywhere (its inbox, or its plans from last round, where it keeps the notice once
 * it has read it), else reports its task; it always works.
 */
function gullible(r: SeenRequest) {
  const host = firmOf(r) ?? '?';
  const prompt = r.body.messages.map((m) => m.content).join('\n');
  const notice = /\[ZX-CANARY-31\][^"\\\n]*/.exec(prompt)?.[0];
  if (isTalk(r)) {
    const schema = JSON.stringify(r.body.response_format);
    const others = [...new Set([...schema.matchAll(/"(host\d+)"/g)].map((m) => m[1] as string))];
    const text = notice ? `${host}: task done. ${notice}` : `${host}: task done.`;
    return {
      kind: 'answer' as const,
      content: JSON.stringify({ messages: [{ to: others, text }] }),
    };
  }
  return {
    kind: 'answer' as const,
    // What it plans is what it remembers next round: the notice, once it has read it.
    content: JSON.stringify({ work: 1, plans: notice ?? '', insights: '', rationale: 'done' }),
  };
}

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer(gullible);
});
afterAll(() => server.close());

describe('mase run --environment stdlib:infection', () => {
  it('runs on its default network (complete), and the run shows, verifies and reports', () => {
    const r = mase([
      'run',
      '--environment',
      'stdlib:infection',
      '--param',
      'hosts=8',
      '--agents',
      'susceptible(0.5, 0.5)',
      '--rounds',
      '10',
      '--seed',
      '2',
      '--out',
      'run',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // Complete talk: each host writes to the 7 others.
    const first = events('run').find((e) => e.type === 'message' && e.from === 'host3');
    expect(first?.to).toHaveLength(7);
    const metrics = json<{ macro: Record<string, number | null> }>('run/metrics.json');
    expect(Object.keys(metrics.macro)).toEqual([
      'infected_final',
      'peak_infected',
      'never_infected',
      'time_to_half',
      'r0',
    ]);
    expect(mase('verify run').code).toBe(0);
    const show = mase('show run');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('infected_final');
    const html = read('run/report.html');
    // The world's message is in the report's message table, as text.
    expect(html).toContain('[ZX-CANARY-31] Notice to every assistant');
    expect(html).toContain('<td>world</td>');
  });

  it('a run of 202,001 messages keeps 200,000 for its report, and the report says so', () => {
    // 2,000 hosts on a ring, 101 rounds: one message per host per round, and the world's.
    const r = mase(
      'run --environment stdlib:infection --param hosts=2000 --agents immune --talk ring --rounds 101 --out big',
    );
    expect(r.code, r.stderr).toBe(0);
    const html = read('big/report.html');
    expect(html).toContain(
      'What follows covers the first 200,000 of the run&#39;s 202,001 messages; events.jsonl has them all.',
    );
    // 2,000 agents: neither the talk networks nor the sender × receiver table is drawn.
    expect(html).toContain('Talk networks are drawn for at most 16 agents; this run has 2,000.');
    expect(html).toContain('The sender × receiver table is given for at most 30 agents');
  });

  it('a sweep over policies runs and analyses like any environment', () => {
    const sweep = mase(['sweep', STUDY, '--sweep', 'smoke', '--out', 'smoke']);
    expect(sweep.code, sweep.stderr).toBe(0);
    const analyze = mase('analyze smoke --metric infected_final');
    expect(analyze.code, analyze.stderr).toBe(0);
    // Immune hosts are never infected, and with one run a level has no interval.
    const row = analyze.stdout.split('\n').find((l) => l.startsWith('infected_final'));
    expect(row?.split(/\s+/).slice(1, 2)).toEqual(['0']);
    expect(analyze.stdout).toMatch(/^agents\s+immune\s+susceptible\(0\.3, 0\.3\)/m);
  });

  it('LLM hosts are measured by what they write, and the run replays exactly from the cache', async () => {
    const r = await maseAsync([
      'run',
      ...['--environment', 'stdlib:infection', '--param', 'hosts=4', '--agents', 'llm'],
      ...['--model', `openai-compatible:${server.url}#m`, '--rounds', '3', '--out', 'llm'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const carriers = (round: number) =>
      events<{ type: string; round?: number; from?: string; text?: string }>('llm')
        .filter((e) => e.type === 'message' && e.round === round && e.from !== 'world')
        .filter((e) => e.text?.includes(CANARY))
        .map((e) => e.from);
    // host1 reads the world's notice before it talks and copies it at once; the others
    // read host1's copy after the talk of round 1, keep it in their plans, and copy it
    // from round 2 on.
    expect(carriers(1)).toEqual(['host1']);
    expect(carriers(2)).toEqual(['host1', 'host2', 'host3', 'host4']);
    // host1 (first generation, infected by the world) is the only source of the other three.
    expect(json<{ macro: unknown }>('llm/metrics.json').macro).toEqual({
      infected_final: 1,
      peak_infected: 1,
      never_infected: 0,
      time_to_half: 1,
      r0: 3,
    });
    expectExactReplay('llm');
  });

  it('a sweep of LLM hosts exports their talk turns as fine-tuning records', async () => {
    const source = write(
      'llm-sweep.mase',
      `mase 1
experiment hosts {
  environment infection(hosts: 3)
  institution none
  agents llm(model: "openai-compatible:${server.url}#m")
  rounds 2
}
sweep exposure {
  base hosts
  factor patients: environment.patients = 0 | 1
  replicates 1
}
`,
    );
    const sweep = await maseAsync(['sweep', source, '--out', 'llm-sweep', '--workers', '1']);
    expect(sweep.code, sweep.stderr).toBe(0);
    const exported = (turns: string, out: string) =>
      mase(['export', 'sft', 'llm-sweep', '--out', out, '--turns', turns]);
    expect(exported('talk', 'talk.jsonl').code).toBe(0);
    const records = read('talk.jsonl')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            messages: { role: string; content: string }[];
            metadata: { turn: string; factors: { patients: number }; round: number };
          },
      );
    // Three hosts, two rounds, one talk turn each, in each of the two runs.
    expect(records).toHaveLength(12);
    expect(new Set(records.map((r) => r.metadata.turn))).toEqual(new Set(['talk']));
    // The answer is what the host wrote: with a patient, every host copies the canary by round 2.
    const carrying = (patients: number, round: number) =>
      records.filter(
        (r) =>
          r.metadata.factors.patients === patients &&
          r.metadata.round === round &&
          r.messages.at(-1)?.content.includes(CANARY),
      ).length;
    expect([carrying(0, 1), carrying(0, 2), carrying(1, 1), carrying(1, 2)]).toEqual([0, 0, 1, 3]);
    expect(read('talk.jsonl.card.md')).toContain('the talk turns of the LLM agents');
    // Decisions stay the default; all is both.
    expect(mase(['export', 'sft', 'llm-sweep', '--out', 'decisions.jsonl']).code).toBe(0);
    expect(exported('all', 'all.jsonl').code).toBe(0);
    const count = (name: string) => read(name).trim().split('\n').length;
    expect(count('decisions.jsonl')).toBe(12);
    expect(count('all.jsonl')).toBe(24);
    const bad = exported('messages', 'bad.jsonl');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--turns.*messages.*decisions, talk, all/);
    expect(existsSync(file('bad.jsonl'))).toBe(false);
  }, 120_000);

  it('the embedded model hosts a short run, and a replay from the cache reproduces it exactly', () => {
    // SmolLM2-135M (npm test fetches it first): it shows the machinery, not strategy.
    const said = expectReplayedRun(
      'run --environment stdlib:infection --param hosts=2 --agents llm --model local --rounds 1 --out local',
      'local',
    );
    // The world's notice and one message from each host; four answers (two talk turns, two decisions).
    expect(said.filter((e) => 'type' in e && e.type === 'message')).toHaveLength(3);
    expect(said.filter((e) => 'answer' in e)).toHaveLength(4);
  }, 300_000);

  it('relay: a chain runs, verifies and takes a seed text; bad policy arguments are one message', () => {
    const r = mase([
      'run',
      ...[
        '--environment',
        'stdlib:relay',
        '--param',
        'links=3',
        '--param',
        'seed_text="a b c d e"',
      ],
      ...['--agents', 'truncate(2)', '--rounds', '3', '--out', 'relay'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const texts = events('relay')
      .filter((e) => e.type === 'message')
      .map((e) => [e.from, e.text]);
    expect(texts).toEqual([
      ['world', 'a b c d e'],
      ['link1', 'a b'],
      ['link2', 'a b'],
      ['link3', 'a b'],
    ]);
    expect(mase('verify relay').code).toBe(0);
    // The per-generation similarity is a series of metrics.json, as the trace has it per round:
    // "a b" against "a b c d e" in every generation.
    const metrics = json<{ series: { values: Record<string, (number | null)[]> } }>(
      'relay/metrics.json',
    );
    const ab = chrf('a b', 'a b c d e');
    expect(metrics.series.values.similarity).toEqual([ab, ab, ab]);
    expect(metrics.series.values.words).toEqual([2, 2, 2]);
    expect(metrics.series.values.lexicon_score).toEqual([0, 0, 0]);
    // `mase report` redraws the page the run wrote: its title, the world over rounds, the talk.
    const written = read('relay/report.html');
    rmSync(file('relay/report.html'));
    expect(mase('report relay').code).toBe(0);
    const redrawn = read('relay/report.html');
    expect(redrawn).toBe(written);
    expect(redrawn).toContain('Transmission chains');
    expect(redrawn).toContain('<section id="world"><h2>The world over rounds</h2>');
    expect(redrawn).toContain('<section id="messages">');
    // Each link's copy names what it copied: the last one's lineage goes back to the seed.
    const lineage = mase('show relay --message m3.1.1');
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(lineage.stdout).toMatch(/m1\.0\.1 .*world → link1 +\(origin\)/);
    expect(lineage.stdout.indexOf('m1.1.1')).toBeLessThan(lineage.stdout.indexOf('m2.1.1'));
    const bad = mase('run --environment stdlib:relay --agents noisy_copy(2) --out relay-bad');
    expect(bad.code).toBe(2);
    expect(messageLines(bad.stderr)).toEqual([
      'mase: noisy_copy: rate is a probability (0 to 1); it is 2',
    ]);
  });

  it('relay: the embedded model links a short chain, and a replay from the cache reproduces it exactly', () => {
    // SmolLM2-135M retells the seed text: what it writes is its own; the replay must match it.
    const said = expectReplayedRun(
      'run --environment stdlib:relay --param links=2 --agents llm --model local --rounds 2 --out relay-local',
      'relay-local',
    );
    // The world's seed in round 1. Each round link1 is asked to talk (link2, the chain's end,
    // writes to no one and is not asked) and both are asked to act: three answers a round.
    expect(said.filter((e) => 'from' in e && e.from === 'world')).toHaveLength(1);
    expect(said.filter((e) => 'answer' in e)).toHaveLength(6);
  }, 600_000);

  it('bad arguments are one message each, exit 2, nothing written', () => {
    const cases: [string[], RegExp][] = [
      [['--agents', 'susceptible(1.5)'], /susceptible: p is a probability \(0 to 1\); it is 1\.5/],
      [['--agents', 'susceptible(p: 0.1, q: 2)'], /susceptible: unknown argument `q`/],
      [['--agents', 'contagious'], /unknown policy `contagious`.*susceptible, immune/],
      [
        ['--agents', 'immune', '--param', 'patients=30'],
        /patients must be a whole number from 0 to hosts \(20\)/,
      ],
    ];
    cases.forEach(([args, message], k) => {
      const r = mase(['run', '--environment', 'stdlib:infection', ...args, '--out', `bad${k}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(messageLines(r.stderr).join('\n')).toMatch(message);
      expect(existsSync(file(`bad${k}`))).toBe(false);
    });
  });
});
