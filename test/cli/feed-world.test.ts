import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isTalkTurn,
  type ScriptedServer,
  type SeenRequest,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox, messageLines, STACK_LINE } from '../support/cli.js';

/**
 * The text world `feed` through the built CLI, as docs/language.md "Text worlds" tells a user
 * to run it: run, show, verify, report, a sweep and its analysis, and one clear message
 * (exit 2, nothing written) for each bad argument.
 */

const STUDY = resolve('examples/feed/study.mase');
const sandbox = cliSandbox('feed');
const { mase, maseAsync, file, read, json, expectExactReplay, expectReplayedRun } = sandbox;

interface Event {
  type: string;
  round?: number;
  from?: string;
  to?: string[];
  text?: string;
  parents?: string[];
  id?: string;
}
const events = (run: string) => sandbox.events<Event>(run);

/**
 * A model that acts as `independent` does: in a talk turn it posts the item the world
 * handed it, if any, as it is; when it acts it votes for the feed line with the highest
 * impression (the first of equals), 0 without a feed.
 */
function reader(r: SeenRequest) {
  const prompt = r.body.messages.map((m) => m.content).join('\n');
  if (isTalkTurn(r)) {
    // Broadcast: a message names no receivers; it names the world's item as its parent.
    const item =
      /- (m[\d.]+) from outside the group, before the talk: "Your item to post this round: (Item \d+: [^"]+)"/.exec(
        prompt,
      );
    const messages = item ? [{ text: item[2], parents: [item[1]] }] : [];
    return { kind: 'answer' as const, content: JSON.stringify({ messages }) };
  }
  let vote = 0;
  let best = Number.NEGATIVE_INFINITY;
  for (const m of prompt.matchAll(/(\d+)\. \[m[\d.]+\](?: votes: \d+ \|)? impression: (-?[\d.]+)/g))
    if (Number(m[2]) > best) {
      best = Number(m[2]);
      vote = Number(m[1]);
    }
  return {
    kind: 'answer' as const,
    content: JSON.stringify({ vote, plans: '', insights: '', rationale: 'best impression' }),
  };
}

let server: ScriptedServer;
beforeAll(async () => {
  server = await startScriptedServer(reader);
});
afterAll(() => server.close());

describe('mase run --environment stdlib:feed', () => {
  it('runs on its default network (broadcast), and the run shows, verifies and reports', () => {
    const r = mase([
      'run',
      ...['--environment', 'stdlib:feed', '--param', 'users=8', '--param', 'ranking="random"'],
      ...['--agents', 'imitator(0.5)', '--rounds', '20', '--seed', '2', '--out', 'run'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const all = events('run');
    // Broadcast talk: a post reaches the 7 other users; it names the world's item as its parent.
    const post = all.find((e) => e.type === 'message' && e.from === 'user1');
    expect(post?.to).toHaveLength(7);
    const item = all.find((e) => e.id === post?.parents?.[0]);
    expect(item).toMatchObject({ from: 'world', to: ['user1'] });
    expect(item?.text).toMatch(/^Your item to post this round: Item 1: /);
    // From round 2 each user gets its own feed, listing the posts by their message ids.
    const feed = all.find(
      (e) => e.round === 2 && e.to?.[0] === 'user3' && e.text?.startsWith('Your feed') === true,
    );
    expect(feed?.text).toContain(`[${post?.id}] votes: `);
    const metrics = json<{
      macro: Record<string, number | null>;
      series: { round: number[]; values: Record<string, (number | null)[]> };
    }>('run/metrics.json');
    // The world's scalar values by round, as its environment events give them.
    const values = all.filter((e) => e.type === 'environment') as unknown as {
      values: Record<string, number | null>;
    }[];
    expect(Object.keys(metrics.series.values)).toEqual([
      'herding',
      'gini',
      'reach',
      'injected_votes',
      'measured_posts',
    ]);
    expect(metrics.series.values.gini).toEqual(values.map((e) => e.values.gini));
    expect(metrics.series.values.gini?.at(-1)).toBe(metrics.macro.attention_gini);
    // Unknown before the false alarm of round 5: null, not 0.
    expect(metrics.series.values.reach?.slice(0, 5)).toEqual([null, null, null, null, 0]);
    expect(Object.keys(metrics.macro)).toEqual([
      'herding_index',
      'attention_gini',
      'injected_reach',
      'mean_quality_voted',
    ]);
    expect(metrics.macro.attention_gini).toBeGreaterThan(0);
    expect(mase('verify run').code).toBe(0);
    const show = mase('show run');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/macro\.herding_index +-?\d/);
    const html = read('run/report.html');
    // The world's false alarm (round 5 by default) is in the report's message table, as text.
    expect(html).toContain('BREAKING: the city has declared all tap water unsafe');
    // Each of those values is drawn over the rounds.
    const section = html.slice(html.indexOf('<section id="world">'));
    expect(section.slice(0, section.indexOf('</section>')).match(/<svg/g)).toHaveLength(5);
    // The lineage of a post leads back to the world's item.
    const lineage = mase(['show', 'run', '--message', post?.id ?? '']);
    expect(lineage.code, lineage.stderr).toBe(0);
    expect(lineage.stdout).toMatch(/m1\.0\.1 .*world → user1 +\(origin\)/);
  });

  it('a sweep over policies runs and analyses like any environment', () => {
    const sweep = mase(['sweep', STUDY, '--sweep', 'smoke', '--out', 'smoke']);
    expect(sweep.code, sweep.stderr).toBe(0);
    const analyze = mase('analyze smoke --metric herding_index');
    expect(analyze.code, analyze.stderr).toBe(0);
    expect(analyze.stdout).toMatch(/^agents\s+independent\s+imitator\(0\.5\)\s+imitator\(1\)/m);
    expect(analyze.stdout).toMatch(/^herding_index\s+-?\d/m);
  });

  it('LLM users that vote for their best impression are measured exactly as independent ones, and replay from the cache', async () => {
    const world = ['--environment', 'stdlib:feed', '--param', 'users=4', '--rounds', '14'];
    const llm = await maseAsync([
      'run',
      ...world,
      ...['--agents', 'llm', '--model', `openai-compatible:${server.url}#m`, '--out', 'llm'],
    ]);
    expect(llm.code, llm.stderr).toBe(0);
    expect(mase(['run', ...world, '--agents', 'independent', '--out', 'scripted']).code).toBe(0);
    const votes = (run: string) =>
      events(run)
        .filter((e) => e.type === 'decision')
        .map((e) => (e as unknown as { action: number[] }).action[0]);
    // The same feeds, the same votes: the world reads only what the users said and chose.
    expect(votes('llm').some((v) => v !== 0)).toBe(true);
    expect(votes('llm')).toEqual(votes('scripted'));
    const macro = (run: string) => json<{ macro: unknown }>(`${run}/metrics.json`).macro;
    expect(macro('llm')).toEqual(macro('scripted'));
    expectExactReplay('llm');
  });

  it('the embedded model users a short run, and a replay from the cache reproduces it exactly', () => {
    // SmolLM2-135M (npm test fetches it first): it shows the machinery, not judgement.
    const said = expectReplayedRun(
      'run --environment stdlib:feed --param users=2 --param posts_per_round=1 --agents llm --model local --rounds 2 --out local',
      'local',
    );
    // The world's item in each round and a feed for each user in round 2; eight answers
    // (a talk turn and a decision per user and round).
    expect(said.filter((e) => 'from' in e && e.from === 'world')).toHaveLength(4);
    expect(said.filter((e) => 'answer' in e)).toHaveLength(8);
  }, 900_000);

  it('bad arguments are one message each, exit 2, nothing written', () => {
    const cases: [string[], RegExp][] = [
      [['--agents', 'imitator(2)'], /^mase: imitator: weight is a share \(0 to 1\); it is 2$/],
      [['--agents', 'imitator(w: 1)'], /imitator: unknown argument `w`; it accepts `weight`/],
      [['--agents', 'follower'], /unknown policy `follower`.*independent, imitator/],
      [
        ['--agents', 'independent', '--param', 'ranking="best"'],
        /--param ranking: expected one of "votes", "recency", "random", found "best"/,
      ],
      [
        ['--agents', 'independent', '--param', 'feed_size=0'],
        /feed_size must be a whole number from 1 to 1000; it is 0/,
      ],
    ];
    cases.forEach(([args, message], k) => {
      const r = mase(['run', '--environment', 'stdlib:feed', ...args, '--out', `bad${k}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(messageLines(r.stderr).join('\n')).toMatch(message);
      expect(r.stderr).not.toMatch(STACK_LINE);
      expect(existsSync(file(`bad${k}`))).toBe(false);
    });
  });
});
