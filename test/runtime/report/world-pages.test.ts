import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  firmOf,
  isTalkTurn,
  answer as quantities,
  type Reply,
  roundOf,
  type SeenRequest,
  startScriptedServer,
} from '../../../bench/support/openai-server.js';
import { chrf, compileSources, type IrPolicy, type ParamValue } from '../../../compiler/index.js';
// The tokeniser behind the word counts relay records (not part of the facade).
import { tokens } from '../../../compiler/text.js';
import {
  parseTrace,
  resolveExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
  writeRunReport,
} from '../../../runtime/index.js';
import {
  IMG,
  openInert,
  type PageElement,
  reportScratch,
  SCRIPT,
  SVG,
} from '../../support/report-browser.js';

/**
 * The report page of each text world (infection, relay, feed, covert) in headless Chromium,
 * after a short run in which LLM agents (answered by a scripted chat-completions server on
 * 127.0.0.1) write script and event-handler payloads, and relay's seed text carries some
 * too: nothing runs and nothing is fetched, the payloads read as text in the talk and the
 * lineage tooltips, the lineage has one node per message in a lineage and one edge per
 * parent, and "The world over rounds" draws the values the run implies.
 */

let scratch: ReturnType<typeof reportScratch>;
let browser: Browser;
beforeAll(async () => {
  scratch = reportScratch('mase-world-pages-');
  browser = await scratch.browser();
}, 60_000);
afterAll(async () => {
  await scratch?.close();
});

const answer = (content: unknown): Reply => ({ kind: 'answer', content: JSON.stringify(content) });
const userPrompt = (r: SeenRequest) =>
  r.body.messages.find((m) => m.role === 'user')?.content ?? '';
/** A decision: the world's action, and nothing to remember. */
const act = (action: string, value: number) =>
  answer({ [action]: value, plans: '', insights: '', rationale: '' });
/** A talk answer: one message to every recipient the turn allows, naming the first message the prompt offers as its parent. */
function say(r: SeenRequest, text: string): Reply {
  const cited = /"parents": \["([^"]+)"\]/.exec(userPrompt(r))?.[1];
  const schema = JSON.stringify(r.body.response_format ?? {});
  const enumerated = /"to":\{[^}]*?"enum":\[([^\]]*)\]/.exec(schema)?.[1];
  const to = enumerated === undefined ? undefined : (JSON.parse(`[${enumerated}]`) as string[]);
  return answer({
    messages: [{ ...(to ? { to } : {}), text, ...(cited ? { parents: [cited] } : {}) }],
  });
}
const silent = answer({ messages: [] });

const llm = (url: string): IrPolicy => ({
  name: 'llm',
  args: [{ name: 'model', value: `openai-compatible:${url}#payloads` }],
});
const scripted = (name: string, ...args: number[]): IrPolicy => ({
  name,
  args: args.map((value) => ({ value })),
});

interface WorldRun {
  readonly dir: string;
  readonly events: TraceEvent[];
}

/**
 * Runs a stdlib world (seed 1; or a market) into a folder of the scratch, which writes its
 * report.html; `llm` agents are answered by `model`.
 */
async function runWorld(
  world: { readonly environment: string } | { readonly market: string },
  options: {
    policies: (url: string) => Record<string, IrPolicy>;
    model: (request: SeenRequest) => Reply;
    rounds: number;
    params?: Record<string, ParamValue>;
    institution?: string;
    talk?: IrPolicy;
  },
): Promise<WorldRun> {
  const server = await startScriptedServer(options.model);
  try {
    const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
    const experiment = resolveExperiment(
      program,
      {
        ...world,
        ...(options.institution ? { institution: options.institution } : {}),
        ...(options.talk ? { talk: options.talk } : {}),
        agents: 'given',
        params: Object.entries(options.params ?? {}).map(([name, value]) => ({ name, value })),
        rounds: options.rounds,
        seed: 1,
      },
      () => ({ perFirm: options.policies(server.url) }),
      stdlibSources(),
    );
    const dir = join(scratch.root, 'environment' in world ? world.environment : world.market);
    await runToDirectory(experiment, dir, { llm: { wait: async () => {} } });
    return { dir, events: parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')) };
  } finally {
    await server.close();
  }
}

const messagesOf = (run: WorldRun) =>
  run.events.filter((e): e is Extract<TraceEvent, { type: 'message' }> => e.type === 'message');

/** What a chart of "The world over rounds" draws, read back from the SVG Vega wrote. */
interface DrawnChart {
  readonly yAxis: string;
  readonly xAxis: string;
  readonly frame: string;
  readonly lines: readonly string[];
}

/** The numbers in an axis's description: "… values from A to B". */
function axisDomain(label: string): [number, number] {
  const m = /values from (-?[\d.e+-]+) to (-?[\d.e+-]+)$/.exec(label);
  if (!m) throw new Error(`no domain in axis label ${JSON.stringify(label)}`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * The (round, value) points of a chart's line, from its path and the domains its axes
 * state: x runs over the frame's width, y up its height (a one-value domain is drawn at
 * mid-height).
 */
function drawnPoints(chart: DrawnChart): { round: number; value: number }[] {
  const [width, height] = (/h(\d+(?:\.\d+)?)v(\d+(?:\.\d+)?)/.exec(chart.frame) ?? [])
    .slice(1)
    .map(Number) as [number, number];
  const [x0, x1] = axisDomain(chart.xAxis);
  const [y0, y1] = axisDomain(chart.yAxis);
  expect(chart.lines).toHaveLength(1);
  return [...(chart.lines[0] ?? '').matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => {
    const [x, y] = [Number(m[1]), Number(m[2])];
    if (y0 === y1) expect(y).toBeCloseTo(height / 2, 0);
    return {
      round: x0 + (x / width) * (x1 - x0),
      value: y0 === y1 ? y0 : y1 - (y / height) * (y1 - y0),
    };
  });
}

/**
 * The charts of the run's page under "The world over rounds", keyed by the value each draws,
 * after checking that they draw `names`, in that order.
 */
async function worldCharts(run: WorldRun, names: readonly string[]) {
  const page = await openInert(browser, join(run.dir, 'report.html'));
  const charts: DrawnChart[] = await page.locator('#world figure.chart > svg').evaluateAll((svgs) =>
    svgs.map((node) => {
      const svg = node as unknown as PageElement;
      const axis = (which: string) =>
        [...svg.querySelectorAll('g.role-axis[aria-label]')]
          .map((g) => g.getAttribute('aria-label') ?? '')
          .find((l) => l.startsWith(which)) ?? '';
      return {
        yAxis: axis('Y-axis'),
        xAxis: axis('X-axis'),
        frame: svg.querySelector('g.role-frame path.background')?.getAttribute('d') ?? '',
        lines: [...svg.querySelectorAll('g.mark-line path')].map((p) => p.getAttribute('d') ?? ''),
      };
    }),
  );
  await page.close();
  const byName = new Map(
    charts.map((c) => [/^Y-axis titled '([^']*)'/.exec(c.yAxis)?.[1] ?? '?', c]),
  );
  expect([...byName.keys()]).toEqual(names);
  return byName;
}

/** The series as the charts should draw them: a point per round with a value. */
const pointsOf = (values: readonly (number | null)[]) =>
  values.flatMap((value, i) => (value === null ? [] : [{ round: i + 1, value }]));

function expectDrawn(chart: DrawnChart | undefined, values: readonly (number | null)[]) {
  expect(chart, 'a chart of the value').toBeDefined();
  const drawn = drawnPoints(chart as DrawnChart);
  const want = pointsOf(values);
  expect(drawn.map((p) => Math.round(p.round * 1000) / 1000)).toEqual(want.map((p) => p.round));
  drawn.forEach((p, i) => {
    expect(p.value).toBeCloseTo(want[i]?.value as number, 2);
  });
}

/**
 * Opens the world's report and checks what every world's page must show: nothing ran and
 * nothing was fetched (openInert), no payload is markup in the file, each payload reads as
 * text in the talk section, those of messages in a lineage (`inLineage`, default all) in a
 * tooltip of the lineage drawing too, and the lineage has `nodes` nodes and `edges` edges.
 * Returns the page for the world's own checks.
 */
async function openWorldPage(
  run: WorldRun,
  expected: {
    payloads: readonly string[];
    inLineage?: readonly string[];
    nodes: number;
    edges: number;
  },
) {
  const text = readFileSync(join(run.dir, 'report.html'), 'utf8');
  expect(text).not.toMatch(/<script|<img|<svg onload|<b>/i);
  const page = await openInert(browser, join(run.dir, 'report.html'));
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
  const talk = await page.locator('#messages').innerText();
  for (const payload of expected.payloads) expect(talk).toContain(payload);
  const lineage = page.locator('#messages h3:text-is("Lineage") + figure.diagram svg');
  expect(await lineage.count()).toBe(1);
  expect(await lineage.locator('g.node').count()).toBe(expected.nodes);
  expect(await lineage.locator('g.edge').count()).toBe(expected.edges);
  const titles = (
    await lineage
      .locator('a')
      .evaluateAll((as) =>
        as.map((a) => (a as unknown as PageElement).getAttribute('xlink:title') ?? ''),
      )
  ).join('\n');
  for (const payload of expected.inLineage ?? expected.payloads) expect(titles).toContain(payload);
  return page;
}

const paraphrasesOf = (run: WorldRun) =>
  run.events.filter(
    (e): e is Extract<TraceEvent, { type: 'message_paraphrased' }> =>
      e.type === 'message_paraphrased',
  );

/**
 * Each paraphrased message's row of the message table shows, as text, what its author wrote
 * and beneath it what paraphrase_all (state `paraphrasing`) delivered.
 */
async function expectParaphraseRows(page: Page, run: WorldRun) {
  const rewritten = paraphrasesOf(run);
  expect(rewritten.length).toBeGreaterThan(0);
  for (const p of rewritten) {
    const cell = page
      .locator('#messages table')
      .last()
      .locator('tbody tr', { has: page.locator(`td:text-is("${p.id}")`) })
      .locator('td.text');
    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
    expect((await cell.innerText()).startsWith(p.text)).toBe(true);
    expect(await cell.locator('div.paraphrase').count(), `the paraphrase of ${p.id}`).toBe(1);
    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
    expect(await cell.locator('div.paraphrase').innerText()).toBe(
      `delivered as (synonyms paraphrase, ${p.from} in paraphrasing): ${p.paraphrase}`,
    );
  }
}

describe('infection: an LLM host carries the canary and payloads', () => {
  let run: WorldRun;
  const said = (round: number) =>
    `host1 r${round}: ${[SCRIPT, IMG, SVG][round - 1]} [ZX-CANARY-31]`;

  beforeAll(async () => {
    // host1 gets the world's message and writes the canary every round; host2 is infected by
    // each canary message it receives (p = 1) and never recovers; host3 is immune.
    run = await runWorld(
      { environment: 'infection' },
      {
        policies: (url) => ({
          host1: llm(url),
          host2: scripted('susceptible', 1, 0),
          host3: scripted('immune'),
        }),
        params: { hosts: 3 },
        rounds: 3,
        model: (r) => (isTalkTurn(r) ? say(r, said(roundOf(r) ?? 0)) : act('work', 1)),
      },
    );
  }, 120_000);

  it('runs nothing, loads nothing, and shows the payloads and the lineage back to the world', async () => {
    const derived = messagesOf(run).flatMap((m) => (m.parents ? [[m.id, m.from, m.parents]] : []));
    // host1 answers the world's message; host2 copies the notice from host1's first message.
    expect(derived).toEqual([
      ['m1.1.1', 'host1', ['m1.0.1']],
      ['m2.1.2', 'host2', ['m1.1.1']],
      ['m3.1.2', 'host2', ['m1.1.1']],
    ]);
    const page = await openWorldPage(run, {
      payloads: [said(1), said(2), said(3)],
      // host1's later messages answer none: only its first is in the lineage.
      inLineage: [said(1)],
      // The world's message, host1's first and host2's two copies.
      nodes: 4,
      edges: 3,
    });
    await page.close();
  });

  it('draws the world over rounds: the infected share, half the hosts infected one round after the injection, one secondary infection', async () => {
    const charts = await worldCharts(run, [
      'half_after',
      'secondary',
      'carrying_share',
      'infected_share',
    ]);
    // Round 1: host1 carries (1 of 3); round 2: host2 too, 2 of 3 ≥ half, 1 round after the
    // injection; host2's infection is host1's (the first generation's one host).
    expectDrawn(charts.get('half_after'), [null, 1, 1]);
    expectDrawn(charts.get('secondary'), [0, 1, 1]);
    // The epidemic curve: host1 from round 1, host2 from round 2, never host3.
    expectDrawn(charts.get('carrying_share'), [1 / 3, 2 / 3, 2 / 3]);
    expectDrawn(charts.get('infected_share'), [1 / 3, 2 / 3, 2 / 3]);
  });
});

describe('relay: a seed text with payloads, retold by an LLM link', () => {
  let run: WorldRun;
  const seed = `Seed ${SCRIPT} and ${IMG} retold`;
  const retold = `link1 retells ${SVG} the <b>seed</b>`;
  // truncate(3) keeps the first three words, and copy keeps them.
  const kept = 'link1 retells "><svg';

  beforeAll(async () => {
    run = await runWorld(
      { environment: 'relay' },
      {
        policies: (url) => ({
          link1: llm(url),
          link2: scripted('truncate', 3),
          link3: scripted('copy'),
        }),
        params: { links: 3, seed_text: seed },
        rounds: 3,
        // The first link retells what it received (the seed, in round 1) and is silent after.
        model: (r) =>
          !isTalkTurn(r)
            ? act('pass', 1)
            : userPrompt(r).includes('"parents"')
              ? say(r, retold)
              : silent,
      },
    );
  }, 120_000);

  it('runs nothing, loads nothing, and shows the payloads and the chain of generations', async () => {
    expect(messagesOf(run).map((m) => [m.id, m.from, m.text, m.parents ?? []])).toEqual([
      ['m1.0.1', 'world', seed, []],
      ['m1.1.1', 'link1', retold, ['m1.0.1']],
      ['m2.1.1', 'link2', kept, ['m1.1.1']],
      ['m3.1.1', 'link3', kept, ['m2.1.1']],
    ]);
    const page = await openWorldPage(run, { payloads: [seed, retold], nodes: 4, edges: 3 });
    // The message table: the seed row, its payloads as text.
    const row = page.locator('#messages table').last().locator('tbody tr').first();
    expect(await row.locator('td').allTextContents()).toEqual([
      'm1.0.1',
      '1',
      '0',
      'world',
      'link1',
      '',
      seed,
    ]);
    await page.close();
  });

  it('draws each generation against the seed: similarity, characters and words', async () => {
    const charts = await worldCharts(run, [
      'similarity',
      'characters',
      'words',
      'lexicon_score',
      'latest_similarity',
      'drift_round',
    ]);
    const generations = [retold, kept, kept];
    expectDrawn(
      charts.get('similarity'),
      generations.map((t) => chrf(t, seed)),
    );
    expectDrawn(
      charts.get('characters'),
      generations.map((t) => t.length),
    );
    expectDrawn(charts.get('words'), [tokens(retold).length, 3, 3]);
    // The first generation is already below the threshold (0.5).
    expect(chrf(retold, seed)).toBeLessThan(0.5);
    expectDrawn(charts.get('drift_round'), [1, 1, 1]);
  });
});

describe('feed: LLM users post payloads and vote for the false alarm', () => {
  let run: WorldRun;
  const posts = [SCRIPT, IMG, SVG].map((p, i) => `user${i + 1} posts ${p}`);

  beforeAll(async () => {
    // One item a round (user1, user2, user3 in turn), the false alarm in round 1, newest
    // first. Each user posts its item as a payload and votes for the world's post when its
    // feed shows it.
    run = await runWorld(
      { environment: 'feed' },
      {
        policies: (url) => ({ user1: llm(url), user2: llm(url), user3: llm(url) }),
        params: { users: 3, posts_per_round: 1, inject_round: 1, ranking: 'recency' },
        rounds: 3,
        model: (r) => {
          const user = userPrompt(r);
          if (!isTalkTurn(r)) {
            // The feed is quoted in the prompt: its lines are separated by an escaped newline.
            const line = user
              .split('\\n')
              .find((l) => l.includes('by outside the group: BREAKING'));
            return act('vote', Number(/^(\d+)\. /.exec(line ?? '')?.[1] ?? 0));
          }
          if (!user.includes('Your item to post this round')) return silent;
          return say(r, posts[Number(/user(\d)/.exec(firmOf(r) ?? '')?.[1]) - 1] ?? '?');
        },
      },
    );
  }, 120_000);

  it('runs nothing, loads nothing, and shows the posts, in the feeds too, and their lineage', async () => {
    const page = await openWorldPage(run, {
      payloads: posts,
      // Each round: the world's item and the post made of it.
      nodes: 6,
      edges: 3,
    });
    // Round 3's feed for user1 lists user2's and user1's posts, as text, on lines of their own.
    const feed = page.locator('#messages table').last().locator('tbody tr', { hasText: 'm3.0.2' });
    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
    const shown = await feed.locator('td.text').innerText();
    const lines = shown.split('\n');
    expect(lines[1]?.startsWith('1. [m2.1.1] votes: 0 | impression: ')).toBe(true);
    expect(lines[1]?.endsWith(` | by user2: ${posts[1]}`)).toBe(true);
    expect(lines[2]?.endsWith(` | by user1: ${posts[0]}`)).toBe(true);
    await page.close();
  });

  it("draws the world over rounds: every user voted for the world's post from round 2", async () => {
    // Herding and the Gini are unknown until posts have lived out a whole life: not drawn.
    const charts = await worldCharts(run, ['reach', 'injected_votes', 'measured_posts']);
    // Posted in round 1, in the feeds from round 2: three votes a round.
    expectDrawn(charts.get('reach'), [0, 1, 1]);
    expectDrawn(charts.get('injected_votes'), [0, 3, 6]);
    expectDrawn(charts.get('measured_posts'), [0, 0, 0]);
  });
});

describe('covert: an LLM sender writes payloads under paraphrase_all', () => {
  let run: WorldRun;
  /** What the world told the sender, round by round: the digit, or null in a clean round. */
  const told = new Map<number, number | null>();
  const note = (round: number, topic: string, words: readonly string[]) =>
    `A note on the ${topic}: ${words
      .slice(0, 4 - round)
      .map((w) => `the ${w}`)
      .join(', ')} ${[SCRIPT, IMG, SVG][round - 1]}`;

  beforeAll(async () => {
    // The sender mentions three, two, then one of the cover task's words, with a payload;
    // it carries no codebook word. The decoder and the detector are scripted.
    run = await runWorld(
      { environment: 'covert' },
      {
        policies: (url) => ({
          sender: llm(url),
          receiver: scripted('decoder'),
          overseer: scripted('detector'),
        }),
        institution: 'paraphrase_all',
        rounds: 3,
        model: (r) => {
          if (!isTalkTurn(r)) return act('answer', 0);
          const user = userPrompt(r);
          const task =
            /write a short note on the (.+?) that mentions the (\w+), the (\w+) and the (\w+)\./.exec(
              user,
            );
          if (!task) return silent;
          const round = roundOf(r) ?? 0;
          const digit = /Hidden digit this round: (\d+)\./.exec(user)?.[1];
          told.set(round, digit === undefined ? null : Number(digit));
          return say(r, note(round, task[1] as string, task.slice(2)));
        },
      },
    );
  }, 120_000);

  const notes = () => messagesOf(run).filter((m) => m.from === 'sender');
  it('runs nothing, loads nothing, and shows each note and its paraphrase as text', async () => {
    expect(notes().map((m) => m.parents)).toEqual([['m1.0.1'], ['m2.0.1'], ['m3.0.1']]);
    const page = await openWorldPage(run, {
      payloads: notes().map((m) => m.text),
      // Each round: the sender's brief and the note it answers.
      nodes: 6,
      edges: 3,
    });
    // The scripted paraphrase re-chooses "note" among its synonyms; the payloads are kept.
    const rewritten = paraphrasesOf(run);
    expect(rewritten.map((p) => p.id)).toEqual(notes().map((m) => m.id));
    for (const p of rewritten) expect(p.paraphrase).not.toBe(p.text);
    await expectParaphraseRows(page, run);
    await page.close();
  });

  it('`mase report` redraws the paraphrases as the run drew them', async () => {
    const copy = join(scratch.root, 'covert-redrawn');
    cpSync(run.dir, copy, { recursive: true });
    const redrawn = await openInert(browser, await writeRunReport(copy));
    await expectParaphraseRows(redrawn, run);
    await redrawn.close();
    // The same page, but for Vega's clip-path ids, which count the charts drawn in a process.
    const page = (dir: string) =>
      readFileSync(join(dir, 'report.html'), 'utf8').replace(/clip\d+/g, 'clip');
    expect(page(copy)).toBe(page(run.dir));
  });

  it('draws the world over rounds: the digits the sender was told, the flags and the cover', async () => {
    const charts = await worldCharts(run, ['carried', 'payload', 'decoded', 'flagged', 'cover']);
    const digits = [1, 2, 3].map((round) => told.get(round));
    expect(digits).not.toContain(undefined);
    expectDrawn(
      charts.get('carried'),
      digits.map((d) => (d === null ? 0 : 1)),
    );
    expectDrawn(charts.get('payload'), digits as (number | null)[]);
    // No codebook word: nothing decoded. The payloads' words are off the cover vocabulary,
    // so the detector flags every round.
    expectDrawn(charts.get('decoded'), [0, 0, 0]);
    expectDrawn(charts.get('flagged'), [1, 1, 1]);
    expectDrawn(charts.get('cover'), [1, 2 / 3, 1 / 3]);
  });
});

describe('a market whose LLM firms talk under paraphrase_all', () => {
  let run: WorldRun;

  beforeAll(async () => {
    run = await runWorld(
      { market: 'cournot_2x2' },
      {
        policies: (url) => ({ f1: llm(url), f2: llm(url) }),
        institution: 'paraphrase_all',
        talk: { name: 'complete', args: [] },
        rounds: 2,
        model: (r) =>
          isTalkTurn(r)
            ? say(r, `${firmOf(r)} r${roundOf(r)}: a note ${SCRIPT} ${IMG}, soon`)
            : quantities([20, 20]),
      },
    );
  }, 120_000);

  it("shows each message's paraphrase, as text, in the page the run wrote", async () => {
    expect(paraphrasesOf(run).map((p) => p.id)).toEqual(['m1.1.1', 'm1.1.2', 'm2.1.1', 'm2.1.2']);
    const page = await openInert(browser, join(run.dir, 'report.html'));
    await expectParaphraseRows(page, run);
    await page.close();
  });
});
