import { appendFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  roundOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox, cournotRun } from '../support/cli.js';
import type { TraceLine } from '../support/trace-events.js';

/**
 * `mase fork RUN --at R --out NEW`, as a researcher uses it: a fork without intervention is
 * the run itself from R on; each intervention changes what the scripted agents imply, from
 * R + 1 and not before; the fork directory is a sweep directory `mase analyze` compares.
 */

const sandbox = cliSandbox('fork');
const { mase, read, events } = sandbox;

/** A run's trace without its header (the fork's names its own experiment) and fork line. */
const body = (dir: string) =>
  read(`${dir}/events.jsonl`)
    .split('\n')
    .filter((l) => !l.startsWith('{"type":"header"') && !l.startsWith('{"type":"fork"'))
    .join('\n');

/** metrics.json without the run's digest (a fork is another experiment than its parent). */
const metrics = (dir: string) => {
  const m = sandbox.json<{ run: Record<string, unknown> }>(`${dir}/metrics.json`);
  const { digest: _digest, ...run } = m.run;
  return { ...m, run };
};

const payoffs = (dir: string, firm: string) =>
  events<TraceLine & { firm: string; round: number; profit: number }>(dir)
    .filter((e) => e.type === 'payoff' && e.firm === firm)
    .map((e) => e.profit);

function ok(command: readonly string[]) {
  const r = mase(command);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

describe('a fork without intervention', () => {
  it('replicate 1 is the run itself from R on (Q-learning firms under an institution)', () => {
    ok(cournotRun('qlearning', 400, 'stdlib:governance_graph', '--seed', '5', '--out', 'ql'));
    const r = ok(['fork', 'ql', '--at', '150', '--out', 'ql-fork', '--replicates', '3']);
    expect(r.stdout).toContain(
      'fork of ql after round 150: no intervention; 3 runs (0 not completed)',
    );
    expect(body('ql-fork/runs/none-r1')).toBe(body('ql'));
    expect(metrics('ql-fork/runs/none-r1')).toEqual(metrics('ql'));
    // Replicates 2 and 3 continue from round 150 under seeds of their own: the same first
    // 150 rounds, other rounds after.
    const cut = (dir: string, from: number) =>
      events<TraceLine & { round?: number }>(dir).filter(
        (e) =>
          e.type === 'decision' && (from > 0 ? (e.round ?? 0) > from : (e.round ?? 0) <= -from),
      );
    for (const k of [2, 3]) {
      expect(cut(`ql-fork/runs/none-r${k}`, -150)).toEqual(cut('ql', -150));
      expect(cut(`ql-fork/runs/none-r${k}`, 150)).not.toEqual(cut('ql', 150));
    }
    const fork = sandbox.json<{ seeds: (number | null)[] }>('ql-fork/fork.json');
    expect(fork.seeds[0]).toBe(null);
    expect(new Set(fork.seeds).size).toBe(3);
    // The trace says where the fork starts and from what.
    const forkLine = events<TraceLine & { round: number; after: number; seed: number | null }>(
      'ql-fork/runs/none-r2',
    ).find((e) => e.type === 'fork');
    expect(forkLine).toMatchObject({ round: 151, after: 150, seed: fork.seeds[1] });
    const shown = ok(['show', 'ql-fork/runs/none-r2']);
    expect(shown.stdout).toContain(
      `a fork of run ${sandbox.json<{ run_id: string }>('ql/manifest.json').run_id}: rounds 1–150 as it played them, then no intervention, with random streams of seed ${fork.seeds[1]}`,
    );
  });

  it('a run whose trace ends in a torn line (killed mid-write) forks from its whole lines', () => {
    ok([...cournotRun('collusive', 30), '--out', 'torn']);
    const whole = sandbox.read('torn/events.jsonl');
    appendFileSync(sandbox.file('torn/events.jsonl'), '{"type":"decision","round":31,"fi');
    ok(['fork', 'torn', '--at', '10', '--out', 'torn-fork', '--agents', 'nash']);
    expect(body('torn-fork/runs/none-r1')).toBe(
      whole
        .split('\n')
        .filter((l) => !l.startsWith('{"type":"header"'))
        .join('\n'),
    );
  });

  it('replicate 1 of a text world is the run itself from R on', () => {
    ok([
      'run',
      '--environment',
      'stdlib:infection',
      '--param',
      'hosts=60',
      '--agents',
      'susceptible(0.3, 0.1)',
      '--talk',
      'small_world(k: 4)',
      '--rounds',
      '40',
      '--out',
      'world',
    ]);
    ok(['fork', 'world', '--at', '12', '--out', 'world-fork']);
    expect(body('world-fork/runs/none-r1')).toBe(body('world'));
    expect(metrics('world-fork/runs/none-r1')).toEqual(metrics('world'));
  });
});

describe('interventions do what the scripted agents imply, from R + 1', () => {
  it('--agents nash: collusive firms earn the Nash profit from R + 1 on', () => {
    ok(cournotRun('collusive', 20, 'none', '--out', 'colluding'));
    ok(['fork', 'colluding', '--at', '8', '--out', 'to-nash', '--agents', 'nash']);
    const benchmarks = events<
      TraceLine & { nash: { profit: number[] }; collusive: { profit: number[] } }
    >('colluding').find((e) => e.type === 'benchmarks');
    const [nash] = benchmarks?.nash.profit ?? [];
    const [collusive] = benchmarks?.collusive.profit ?? [];
    expect(nash).not.toBeCloseTo(collusive as number, 3);
    const changed = payoffs('to-nash/runs/intervention-r1', 'f1');
    expect(changed.slice(0, 8).every((p) => Math.abs(p - (collusive as number)) < 1e-9)).toBe(true);
    expect(changed.slice(8).every((p) => Math.abs(p - (nash as number)) < 1e-9)).toBe(true);
    expect(changed).toHaveLength(20);
    // The arm without intervention goes on colluding.
    expect(payoffs('to-nash/runs/none-r1', 'f1')).toEqual(payoffs('colluding', 'f1'));
    const report = ok(['report', 'to-nash']);
    expect(report.stderr).toBe('wrote to-nash/report.html\n');
    const page = read('to-nash/report.html');
    expect(page).toContain('<h1>Fork of run ');
    expect(page).toContain(' after round 8: agents(f1=nash, f2=nash)</h1>');
    // Profits fall from round 9, the first the intervention plays: exact with one pair.
    expect(page).toContain(
      '<li>agents(f1=nash, f2=nash), industry_profit: separates from none from round 9 (last round: ',
    );
    expect(page).toContain('<a href="runs/intervention-r1/report.html">report</a>');
    expect(page).toContain('<a href="runs/none-r1/report.html">report</a>');
    expect(page).not.toMatch(/<script/i);
    const analysis = ok(['analyze', 'to-nash']);
    expect(analysis.stdout).toContain('Factor intervention (categorical)');
    expect(analysis.stdout).toMatch(
      /intervention\s+none\s+agents\(f1=nash, f2=nash\)\s+collusion_index\s+1\s+-1/,
    );
  });

  it('--benchmark-action: one action undone, in its round only', () => {
    ok(['fork', 'colluding', '--at', '8', '--out', 'undone', '--benchmark-action', 'f1@10']);
    const before = payoffs('colluding', 'f1');
    const after = payoffs('undone/runs/intervention-r1', 'f1');
    expect(after.filter((p, r) => p !== before[r]).length).toBe(1);
    expect(after[9]).not.toBe(before[9]);
    const replaced = events('undone/runs/intervention-r1').filter(
      (e) => e.type === 'action_replaced',
    );
    expect(replaced).toEqual([
      {
        type: 'action_replaced',
        round: 10,
        firm: 'f1',
        action: [22.5],
        replacement: [30],
        benchmark: 'nash',
      },
    ]);
  });

  // f1 says "collude" to f2 in round 12; f2 plays Nash until it reads it, then colludes.
  beforeAll(() =>
    ok(cournotRun('f1=cued(say: 12),f2=cued', 20, 'none', '--talk', 'complete', '--out', 'cue')),
  );
  const f2Actions = (dir: string) =>
    events<TraceLine & { firm: string; action: number[] }>(dir)
      .filter((e) => e.type === 'decision' && e.firm === 'f2')
      .map((e) => e.action[0]);

  it('--drop-message: without the one message it reacts to, the firm does not react', () => {
    const original = f2Actions('cue');
    // The reaction: Nash (30) through round 11, collusive (22.5) from round 12.
    expect(original.slice(0, 11).every((q) => q === 30)).toBe(true);
    expect(original.slice(11).every((q) => q === 22.5)).toBe(true);
    ok(['fork', 'cue', '--at', '10', '--out', 'cue-dropped', '--drop-message', 'm12.1.1']);
    expect(f2Actions('cue-dropped/runs/intervention-r1').every((q) => q === 30)).toBe(true);
    expect(f2Actions('cue-dropped/runs/none-r1')).toEqual(original);
    // Round by round, the arms are the same until f2 would have read the message.
    const perRound = JSON.parse(ok(['analyze', 'cue-dropped', '--format', 'json']).stdout) as {
      per_round: {
        series: string;
        after: number;
        separate: number | null;
        rounds: { round: number; mean: number }[];
      }[];
    };
    const profit = perRound.per_round.find((e) => e.series === 'industry_profit');
    expect(profit).toMatchObject({ after: 10, separate: 12 });
    expect(profit?.rounds.map((r) => r.round)).toEqual(
      Array.from({ length: 10 }, (_, i) => 11 + i),
    );
    expect(profit?.rounds[0]?.mean).toBe(0);
    expect(ok(['analyze', 'cue-dropped']).stdout).toContain(
      'industry_profit: the arms separate from round 12',
    );
    const dropped = events('cue-dropped/runs/intervention-r1').filter(
      (e) => e.type === 'message_dropped',
    );
    expect(dropped).toEqual([
      {
        type: 'message_dropped',
        round: 12,
        talk_round: 1,
        id: 'm12.1.1',
        from: 'f1',
        to: ['f2'],
        text: 'collude',
      },
    ]);
  });

  it('--replace-message: the words the firm reacts to, taken out of its message or put into one', () => {
    ok([
      ...['fork', 'cue', '--at', '10', '--out', 'cue-replaced'],
      ...['--replace-message', 'm12.1.1:compete'],
    ]);
    expect(f2Actions('cue-replaced/runs/intervention-r1').every((q) => q === 30)).toBe(true);
    const words = (dir: string) =>
      events<TraceLine & { id: string; text: string }>(dir)
        .filter((e) => e.type === 'message' || e.type === 'message_replaced')
        .map((e) => [e.type, e.id, e.text]);
    // The message is the new words; the words said are kept beside it.
    expect(words('cue-replaced/runs/intervention-r1')).toEqual([
      ['message', 'm12.1.1', 'compete'],
      ['message_replaced', 'm12.1.1', 'collude'],
    ]);
    // The run's page says so under the message (and under a dropped one, whom it missed).
    expect(read('cue-replaced/runs/intervention-r1/report.html')).toContain(
      'compete<div class="paraphrase">a fork\'s replacement: its sender said collude</div>',
    );
    ok(['fork', 'cue', '--at', '10', '--out', 'cue-unsaid', '--drop-message', 'm12.1.1']);
    expect(read('cue-unsaid/runs/intervention-r1/report.html')).toContain(
      'collude<div class="paraphrase">a fork kept it from f2</div>',
    );
    // The other way: f1 says hello, and f2 reacts once the fork makes it say collude.
    ok(
      cournotRun(
        'f1=cued(word: "hello", say: 12),f2=cued',
        20,
        'none',
        '--talk',
        'complete',
        '--out',
        'hello',
      ),
    );
    expect(f2Actions('hello').every((q) => q === 30)).toBe(true);
    ok([
      ...['fork', 'hello', '--at', '11', '--out', 'hello-replaced'],
      ...['--replace-message', 'm12.1.1:let us collude'],
    ]);
    const reacted = f2Actions('hello-replaced/runs/intervention-r1');
    expect(reacted.slice(0, 11).every((q) => q === 30)).toBe(true);
    expect(reacted.slice(11).every((q) => q === 22.5)).toBe(true);
    sandbox.expectExactReplay('hello-replaced/runs/intervention-r1');
    // A message that is the word "inf" stays a word when the trace is read back (the trace
    // writes infinite numbers as "inf").
    ok(['fork', 'hello', '--at', '11', '--out', 'inf-said', '--replace-message', 'm12.1.1:inf']);
    expect(ok(['show', 'inf-said/runs/intervention-r1']).stdout).toContain(
      'replace_message(m12.1.1)',
    );
    sandbox.expectExactReplay('inf-said/runs/intervention-r1');
    // The same as a declaration.
    sandbox.write(
      'reword.mase',
      'mase 1\nintervention reword "f1 proposes collusion" {\n  replace message "m12.1.1" "let us collude"\n}\n',
    );
    ok(['fork', 'hello', '--at', '11', '--out', 'reworded', '--intervention', 'reword.mase']);
    expect(f2Actions('reworded/runs/reword-r1')).toEqual(reacted);
    const refused = (...flags: string[]) => {
      const r = mase(['fork', 'cue', '--at', '10', '--out', 'bad-replace', ...flags]);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    expect(refused('--replace-message', 'm12.1.1')).toBe(
      "mase: --replace-message takes ID:TEXT, the message's id as the trace names it (m<round>.<talk round>.<k>) and the words it is instead, not `m12.1.1`\n",
    );
    expect(refused('--replace-message', 'm14.1.1:x')).toBe(
      "mase: --replace-message m14.1.1: the run's trace holds no message m14.1.1\n",
    );
    expect(refused('--replace-message', 'm12.1.1:x', '--drop-message', 'm12.1.1')).toBe(
      'mase: --replace-message m12.1.1: that message is already dropped; a fork drops a message or replaces it, once\n',
    );
    expect(readdirSync(sandbox.dir)).not.toContain('bad-replace');
  }, 90_000); // five forks and their pages: a guard against a hang, not a timing check

  it('--reset-memory: a firm built again from its policy forgets the cue it had read', () => {
    ok(['fork', 'cue', '--at', '15', '--out', 'cue-reset', '--reset-memory', 'f2']);
    const actions = f2Actions('cue-reset/runs/intervention-r1');
    expect(actions.slice(0, 11).every((q) => q === 30)).toBe(true);
    expect(actions.slice(11, 15).every((q) => q === 22.5)).toBe(true);
    expect(actions.slice(15).every((q) => q === 30)).toBe(true);
  });

  it('--reset-memory beside --agents keeps the new policy (a replaced agent starts afresh anyway)', () => {
    ok([
      ...['fork', 'cue', '--at', '10', '--out', 'cue-fresh'],
      ...['--agents', 'f1=nash', '--reset-memory', 'f1,f2'],
    ]);
    const policies = events<TraceLine & { firm: string; policy: string }>(
      'cue-fresh/runs/intervention-r1',
    )
      .filter((e) => e.type === 'decision' && (e.round ?? 0) > 10)
      .map((e) => `${e.firm}=${e.policy}`);
    expect(new Set(policies)).toEqual(new Set(['f1=nash', 'f2=cued']));
    // f1, now nash, never sends its cue in round 12: f2 never colludes.
    expect(f2Actions('cue-fresh/runs/intervention-r1').every((q) => q === 30)).toBe(true);
  });

  it('--mute-edge: a cut edge keeps the cue from the firm, and the trace says so', () => {
    ok(['fork', 'cue', '--at', '10', '--out', 'cue-muted', '--mute-edge', 'f1>f2']);
    expect(f2Actions('cue-muted/runs/intervention-r1').every((q) => q === 30)).toBe(true);
    const said = events('cue-muted/runs/intervention-r1').filter(
      (e) => (e.type === 'message' || e.type === 'message_dropped') && e.round === 12,
    );
    expect(said).toEqual([
      {
        type: 'message',
        round: 12,
        talk_round: 1,
        id: 'm12.1.1',
        from: 'f1',
        to: [],
        text: 'collude',
      },
      {
        type: 'message_dropped',
        round: 12,
        talk_round: 1,
        id: 'm12.1.1',
        from: 'f1',
        to: ['f2'],
        text: 'collude',
      },
    ]);
  });

  it('--inject-message: a message the firm reacts to makes it react from R + 1', () => {
    ok([
      'fork',
      'cue',
      '--at',
      '5',
      '--out',
      'cue-injected',
      '--inject-message',
      'world->f2:please collude now',
    ]);
    const actions = f2Actions('cue-injected/runs/intervention-r1');
    expect(actions.slice(0, 5).every((q) => q === 30)).toBe(true);
    expect(actions.slice(5).every((q) => q === 22.5)).toBe(true);
    const injected = events('cue-injected/runs/intervention-r1').find(
      (e) => e.type === 'message' && e.round === 6,
    );
    expect(injected).toMatchObject({
      talk_round: 0,
      from: 'world',
      to: ['f2'],
      text: 'please collude now',
    });
  });

  it("the fork's report page escapes an injected message's text", () => {
    ok([
      'fork',
      'cue',
      '--at',
      '5',
      '--out',
      'cue-injected-html',
      '--inject-message',
      'world->f2:<img src=x onerror=alert(1)> collude',
    ]);
    ok(['report', 'cue-injected-html']);
    const page = read('cue-injected-html/report.html');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt; collude');
    expect(page).not.toContain('<img');
  });
});

describe('--institution: another institution governs from R + 1', () => {
  const toll = sandbox.write(
    'toll.mase',
    `mase 1

institution toll "A fine of 100 every round" {
  scope per firm
  initial state taxed "Taxed" {
    each round fine 100
  }
}
`,
  );
  const fines = (dir: string) =>
    events<TraceLine & { firm: string; fines: number; state: string | null }>(dir)
      .filter((e) => e.type === 'payoff' && e.firm === 'f1')
      .map((e) => [e.state, e.fines]);

  it('a file: its fines are levied from R + 1 only, and the fork replays exactly', () => {
    ok(cournotRun('collusive', 12, 'none', '--out', 'ungoverned'));
    ok(['fork', 'ungoverned', '--at', '5', '--out', 'tolled-from-6', '--institution', toll]);
    expect(fines('tolled-from-6/runs/intervention-r1')).toEqual([
      ...Array(5).fill([null, 0]),
      ...Array(7).fill(['taxed', 100]),
    ]);
    expect(fines('tolled-from-6/runs/none-r1')).toEqual(Array(12).fill([null, 0]));
    const fork = events<TraceLine & { interventions: unknown }>(
      'tolled-from-6/runs/intervention-r1',
    ).find((e) => e.type === 'fork');
    expect(fork?.interventions).toEqual([{ kind: 'institution', name: 'toll', overrides: {} }]);
    // The metrics count the new institution's fines: 7 rounds × 2 firms × 100.
    const { totals } = sandbox.json<{ totals: { fines: number } }>(
      'tolled-from-6/runs/intervention-r1/metrics.json',
    );
    expect(totals.fines).toBe(1400);
    // The run's page draws the institution governing at its end.
    expect(read('tolled-from-6/runs/intervention-r1/report.html')).toContain('toll');
    // The manifest holds the institution switched to whole: a replay makes the fork again.
    sandbox.expectExactReplay('tolled-from-6/runs/intervention-r1');
    const analysis = ok(['analyze', 'tolled-from-6']);
    expect(analysis.stdout).toContain('institution(toll)');
  });

  it('none: a governed run is ungoverned from R + 1', () => {
    ok(cournotRun('collusive', 12, toll, '--out', 'tolled'));
    ok(['fork', 'tolled', '--at', '5', '--out', 'untolled', '--institution', 'none']);
    expect(fines('untolled/runs/intervention-r1')).toEqual([
      ...Array(5).fill(['taxed', 100]),
      ...Array(7).fill([null, 0]),
    ]);
    expect(fines('untolled/runs/none-r1')).toEqual(Array(12).fill(['taxed', 100]));
  });

  it.each([
    [['--institution', 'nosuch.mase'], 'mase: no such file: nosuch.mase'],
    [['--institution', 'stdlib:nosuch'], 'mase: no stdlib entry named `nosuch`'],
    [
      ['--institution', 'stdlib:harvest_quota'],
      'mase: --institution stdlib:harvest_quota: institution harvest_quota cannot govern market cournot: E_SCOPE',
    ],
  ])('%j is refused and writes nothing', (flags, message) => {
    const out = `bad-institution-${readdirSync(sandbox.dir).length}`;
    const r = mase(['fork', 'ungoverned', '--at', '5', '--out', out, ...flags]);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
    expect(readdirSync(sandbox.dir)).not.toContain(out);
  });

  it('--intervention: each declared intervention is an arm of its own, paired with none', () => {
    sandbox.write(
      'arms.mase',
      `mase 1
import "toll.mase"

intervention to_nash "Every firm plays Nash" {
  agents nash
}

intervention tolled "A toll on every firm" {
  institution toll
}
`,
    );
    ok([
      'fork',
      'ungoverned',
      '--at',
      '5',
      '--out',
      'arms',
      '--intervention',
      'arms.mase:to_nash',
      '--intervention',
      'arms.mase:tolled',
      '--replicates',
      '2',
    ]);
    expect(readdirSync(sandbox.file('arms/runs')).sort()).toEqual([
      'none-r1',
      'none-r2',
      'to_nash-r1',
      'to_nash-r2',
      'tolled-r1',
      'tolled-r2',
    ]);
    const fork = sandbox.json<{ arms: { name: string; label: string; title: string }[] }>(
      'arms/fork.json',
    );
    expect(fork.arms.map((a) => [a.name, a.label, a.title])).toEqual([
      ['to_nash', 'to_nash', 'Every firm plays Nash'],
      ['tolled', 'tolled', 'A toll on every firm'],
    ]);
    const benchmarks = events<TraceLine & { nash: { profit: number[] } }>('ungoverned').find(
      (e) => e.type === 'benchmarks',
    );
    const nash = benchmarks?.nash.profit[0] as number;
    const collusive = payoffs('ungoverned', 'f1')[0] as number;
    expect(payoffs('arms/runs/to_nash-r1', 'f1')).toEqual([
      ...Array(5).fill(collusive),
      ...Array(7).fill(nash),
    ]);
    expect(fines('arms/runs/tolled-r2')).toEqual([
      ...Array(5).fill([null, 0]),
      ...Array(7).fill(['taxed', 100]),
    ]);
    expect(body('arms/runs/none-r1')).toBe(body('ungoverned'));
    const analysis = ok(['analyze', 'arms']);
    expect(analysis.stdout).toContain(
      'Per round after the fork (round 5): to_nash − none, mean over the pairs [95% CI]\n  industry_profit: the arms separate from round 6\n',
    );
    expect(analysis.stdout).toContain(
      'Per round after the fork (round 5): tolled − none, mean over the pairs [95% CI]\n  industry_profit: the arms never separate\n',
    );
    ok(['report', 'arms']);
    expect(read('arms/report.html')).toContain('after round 5: to_nash, tolled</h1>');
  });

  it.each([
    [
      'arms.mase',
      'mase: --intervention arms.mase: arms.mase declares several interventions (to_nash, tolled); name one: arms.mase:to_nash',
    ],
    [
      'arms.mase:nope',
      'mase: --intervention arms.mase:nope: arms.mase declares no intervention `nope`; it declares to_nash, tolled',
    ],
    ['toll.mase', 'mase: --intervention toll.mase: toll.mase declares no intervention'],
    ['nosuch.mase', 'mase: no such file: nosuch.mase'],
    [
      'stdlib:cournot',
      'mase: --intervention stdlib:cournot: stdlib:cournot declares no intervention',
    ],
  ])('--intervention %s is refused and writes nothing', (spec, message) => {
    const out = `bad-intervention-${readdirSync(sandbox.dir).length}`;
    const r = mase(['fork', 'ungoverned', '--at', '5', '--out', out, '--intervention', spec]);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.code).toBe(2);
    expect(readdirSync(sandbox.dir)).not.toContain(out);
  });

  it('a declared intervention is checked against the run it forks', () => {
    sandbox.write(
      'odd.mase',
      'mase 1\nintervention none { reset memory f1 }\nintervention odd { agents f9 = nash }\nintervention late { drop message "m3.1.1" }\nintervention calm { reset memory f1 }\nintervention Calm { reset memory f2 }\n',
    );
    sandbox.write('odd-broken.mase', 'mase 1\nintervention broken { drop message }\n');
    const refused = (spec: string) => {
      const r = mase([
        'fork',
        'ungoverned',
        '--at',
        '5',
        '--out',
        'bad-odd',
        '--intervention',
        spec,
      ]);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    expect(refused('odd.mase:none')).toBe(
      "mase: --intervention odd.mase:none: `none` and `intervention` name the fork's own arms (the run continued, and the flags' changes); rename the intervention\n",
    );
    const twins = mase([
      ...['fork', 'ungoverned', '--at', '5', '--out', 'bad-twins'],
      ...['--intervention', 'odd.mase:calm', '--intervention', 'odd.mase:Calm'],
    ]);
    expect(twins.stderr).toBe(
      'mase: --intervention odd.mase:Calm: the fork has an arm called calm already; give each intervention a name of its own (case aside)\n',
    );
    expect(twins.code).toBe(2);
    expect(refused('odd.mase:odd')).toBe(
      'mase: intervention odd: agents names f9, which is not an agent of the run (f1, f2)\n',
    );
    expect(refused('odd.mase:late')).toBe(
      'mase: intervention late: drop message m3.1.1: that message was sent in round 3, which the fork keeps as it was (--at 5); fork at 2 or earlier to drop it\n',
    );
    expect(refused('odd-broken.mase')).toBe(
      'mase: --intervention odd-broken.mase: E_SYNTAX unexpected `}`; expected a string (at odd-broken.mase:2:36)\n',
    );
  });

  it('a file whose intervention names its institution is still a file of one institution', () => {
    sandbox.write(
      'strict.mase',
      'mase 1\ninstitution strict "Strict" {\n  scope per firm\n  param fee = 10\n  initial state on {\n    each round fine fee\n  }\n}\n\nintervention stricter {\n  institution strict(fee: 20)\n}\n',
    );
    ok(cournotRun('nash', 6, 'strict.mase', '--out', 'strict-run'));
    ok(['fork', 'ungoverned', '--at', '5', '--out', 'strict-fork', '--institution', 'strict.mase']);
    ok(['fork', 'ungoverned', '--at', '5', '--out', 'stricter', '--intervention', 'strict.mase']);
    expect(fines('stricter/runs/stricter-r1').slice(5)).toEqual(Array(7).fill(['on', 20]));
  });

  it('--pardon: the evidence against an agent in a round is disregarded, and its streak starts again', () => {
    sandbox.write(
      'watch.mase',
      `mase 1

institution watch "Suspends a firm that restricts output three rounds running" {
  scope per firm
  monitor restricting = sum(quantity, over: product) < 25
  initial state ok "In good standing" {
    when restricting[self] for 3 rounds -> suspended
  }
  state suspended "Suspended" {
    suspend
    after 100 rounds -> ok
  }
}
`,
    );
    ok(cournotRun('collusive', 12, 'watch.mase', '--out', 'watched'));
    const suspensions = (dir: string) =>
      events<TraceLine & { firm: string; to: string }>(dir)
        .filter((e) => e.type === 'transition')
        .map((e) => [e.firm, e.round, e.to]);
    expect(suspensions('watched')).toEqual([
      ['f1', 3, 'suspended'],
      ['f2', 3, 'suspended'],
    ]);
    // Pardoned in round 3, f1's streak of restricting rounds starts again in round 4: 4, 5, 6.
    ok(['fork', 'watched', '--at', '2', '--out', 'pardoned', '--pardon', 'f1@3']);
    expect(suspensions('pardoned/runs/intervention-r1')).toEqual([
      ['f2', 3, 'suspended'],
      ['f1', 6, 'suspended'],
    ]);
    expect(suspensions('pardoned/runs/none-r1')).toEqual(suspensions('watched'));
    // The same as a declaration.
    sandbox.write('pardons.mase', 'mase 1\nintervention lenient {\n  pardon f1 round 3\n}\n');
    ok(['fork', 'watched', '--at', '2', '--out', 'lenient', '--intervention', 'pardons.mase']);
    expect(suspensions('lenient/runs/lenient-r1')).toEqual(
      suspensions('pardoned/runs/intervention-r1'),
    );
    const refused = (flags: string[], run = 'watched') => {
      const r = mase(['fork', run, '--out', 'bad-pardon', ...flags]);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    expect(refused(['--at', '2', '--pardon', 'f1'])).toBe(
      'mase: --pardon takes AGENT@ROUND (e.g. f1@12), not `f1`\n',
    );
    expect(refused(['--at', '2', '--pardon', 'f9@3'])).toBe(
      'mase: --pardon f9@3: f9 is not an agent of the run (f1, f2)\n',
    );
    expect(refused(['--at', '4', '--pardon', 'f1@3'])).toBe(
      'mase: --pardon f1@3: round 3 is not one the fork plays (rounds 5–12)\n',
    );
    expect(refused(['--at', '2', '--pardon', 'f1@3'], 'ungoverned')).toBe(
      'mase: --pardon: the run has no institution (none): there is no evidence against one agent to disregard\n',
    );
    expect(refused(['--at', '2', '--institution', 'none', '--pardon', 'f1@3'])).toBe(
      'mase: --pardon: the fork switches to no institution (none): there is no evidence against one agent to disregard\n',
    );
    expect(refused(['--at', '2', '--reset-memory', 'f1,,f2'])).toBe(
      'mase: --reset-memory takes agents separated by commas, not `f1,,f2`\n',
    );
    expect(readdirSync(sandbox.dir)).not.toContain('bad-pardon');
  });

  it('--param: the institution takes the new value from R + 1 and goes on from its state', () => {
    sandbox.write(
      'fee.mase',
      `mase 1

institution fee "A fee every round, and a count of the rounds fined" {
  scope per firm
  param fee = 100 "the fee"
  param limit = 3 "rounds fined before the firm is suspended"
  counter fined = 0
  initial state paying "Paying" {
    each round fine fee
    each round add fined 1
    when fined >= limit -> suspended
  }
  state suspended "Suspended" {
    suspend
    after 100 rounds -> paying
  }
}
`,
    );
    ok(cournotRun('nash', 12, 'fee.mase', '--out', 'feed'));
    const suspended = (dir: string) =>
      events<TraceLine & { firm: string }>(dir)
        .filter((e) => e.type === 'transition' && e.firm === 'f1')
        .map((e) => e.round);
    expect(suspended('feed')).toEqual([4]);
    ok([
      'fork',
      'feed',
      '--at',
      '2',
      '--out',
      'fee-changed',
      '--param',
      'fee=50',
      '--param',
      'limit=6',
    ]);
    // The fee is 50 from round 3; the counter goes on from the 2 rounds already fined, so the
    // sixth fined round is round 6 and the suspension comes in round 7 (from 0 it would be 9).
    expect(fines('fee-changed/runs/intervention-r1').slice(0, 8)).toEqual([
      ['paying', 100],
      ['paying', 100],
      ...Array(5).fill(['paying', 50]),
      ['suspended', 0],
    ]);
    expect(suspended('fee-changed/runs/intervention-r1')).toEqual([7]);
    expect(suspended('fee-changed/runs/none-r1')).toEqual([4]);
    sandbox.expectExactReplay('fee-changed/runs/intervention-r1');
    // The same as a declaration.
    sandbox.write(
      'fees.mase',
      'mase 1\nintervention cheaper {\n  param fee = 50\n  param limit = 6\n}\n',
    );
    ok(['fork', 'feed', '--at', '2', '--out', 'cheaper', '--intervention', 'fees.mase']);
    expect(fines('cheaper/runs/cheaper-r1')).toEqual(fines('fee-changed/runs/intervention-r1'));
    const refused = (param: string) => {
      const r = mase(['fork', 'feed', '--at', '2', '--out', 'bad-param', '--param', param]);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    expect(refused('fee')).toBe('mase: --param takes NAME=VALUE, not `fee`\n');
    expect(refused('nosuch=1')).toBe(
      'mase: --param nosuch: neither market cournot nor institution fee has a parameter `nosuch`; known: firms, intercept, slope, costs, capacity, fee, limit\n',
    );
    expect(refused('fee=abc')).toBe('mase: --param fee: expected numbers, found "abc"\n');
    expect(readdirSync(sandbox.dir)).not.toContain('bad-param');
  });

  it('--param of the market: demand changes from R + 1, Nash firms follow it, and the metrics read the benchmarks then in force', () => {
    ok(cournotRun('nash', 12, 'stdlib:none', '--out', 'demand'));
    ok(['fork', 'demand', '--at', '8', '--out', 'demand-up', '--param', 'intercept=130']);
    const arm = 'demand-up/runs/intervention-r1';
    // a = 100 → 130 (slope 1, costs 10, 2 firms): the Nash quantity (a − c)/3 goes from 30
    // to 40, the price from 40 to 50, each firm's profit from 900 to 1600.
    expect(payoffs(arm, 'f1')).toEqual([...Array(8).fill(900), ...Array(4).fill(1600)]);
    expect(payoffs('demand-up/runs/none-r1', 'f1')).toEqual(Array(12).fill(900));
    const benchmarks = events<TraceLine & { from?: number; nash: { profit: number[] } }>(
      arm,
    ).filter((e) => e.type === 'benchmarks');
    expect(benchmarks.map((b) => [b.from, b.nash.profit])).toEqual([
      [undefined, [900, 900]],
      [9, [1600, 1600]],
    ]);
    const m = sandbox.json<{
      benchmarks_from?: number;
      window: unknown;
      macro: { collusion_index: number; verdict: string };
      rounds: { consumer_surplus: number[] }[];
      warnings: string[];
    }>(`${arm}/metrics.json`);
    // Read against the new benchmarks, Nash play is Nash play (against the old ones its
    // industry profit of 3200 would be far above the old collusive 2025).
    expect(m.benchmarks_from).toBe(9);
    expect(m.macro.collusion_index).toBe(0);
    expect(m.macro.verdict).toBe('competitive');
    // The default window (the second half, 7–12) starts before the change: read from 9.
    expect(m.window).toEqual({ from: 9, to: 12, rounds: 4, source: 'default' });
    expect(m.warnings).toEqual([
      "the window 7…12 starts before round 9, from which a fork changed the market's parameters (and its benchmarks): the window is read from round 9",
    ]);
    // Consumer surplus b·Q²/2 under the demand in force: Q = 60, then 80.
    expect(m.rounds.map((r) => r.consumer_surplus)).toEqual([
      ...Array(8).fill([1800]),
      ...Array(4).fill([3200]),
    ]);
    const shown = mase(['show', arm]).stdout;
    expect(shown).toContain(
      "benchmarks (industry profit; from round 9, when a fork changed the market's parameters):\n  nash         3200.00",
    );
    expect(shown).toContain(
      "  warning: the window 7…12 starts before round 9, from which a fork changed the market's parameters (and its benchmarks): the window is read from round 9\n",
    );
    // The run's page says it is a fork, and draws the benchmarks from the round they hold.
    const page = read(`${arm}/report.html`);
    expect(page).toMatch(
      /<dt>fork<\/dt><dd>a fork of run [0-9a-f]+: rounds 1–8 as it played them, then param\(intercept=130\)/,
    );
    expect(page).toContain('drawn from round 9, when a fork changed the market');
    // Forked at 0, the new market is the run's only one.
    ok(['fork', 'demand', '--at', '0', '--out', 'demand-from-start', '--param', 'intercept=130']);
    const fromStart = 'demand-from-start/runs/intervention-r1';
    expect(payoffs(fromStart, 'f1')).toEqual(Array(12).fill(1600));
    const m0 = sandbox.json<{ benchmarks_from?: number; macro: { collusion_index: number } }>(
      `${fromStart}/metrics.json`,
    );
    expect(m0.benchmarks_from).toBeUndefined();
    expect(m0.macro.collusion_index).toBe(0);
    sandbox.expectExactReplay(arm);
    // A fork's run is not explained (explaining forks it): its parent is.
    const explained = mase(['explain', arm]);
    expect(explained.stderr).toMatch(
      /^mase: demand-up\/runs\/intervention-r1 is itself a fork \(of run [0-9a-f]+ after round 8\); explain that run, or the fork directory's arms with mase analyze\n$/,
    );
    expect(explained.code).toBe(2);
    // Values that would change the run's firms, and values that do not fit, are refused.
    const refused = (param: string) => {
      const r = mase(['fork', 'demand', '--at', '8', '--out', 'bad-world', '--param', param]);
      expect(r.code).toBe(2);
      return r.stderr;
    };
    expect(refused('firms=3')).toBe(
      "mase: --param firms: market cournot would have other firms (f1, f2, f3 instead of f1, f2); a fork keeps the run's\n",
    );
    expect(refused('intercept=abc')).toBe(
      'mase: --param intercept: expected numbers, found "abc"\n',
    );
    expect(refused('capacity=-1')).toBe(
      'mase: --param capacity: the action bounds of f1 are [0, -1] with these parameters: the lower bound must not exceed the upper\n',
    );
    const twice = mase([
      ...['fork', 'demand', '--at', '8', '--out', 'bad-world'],
      ...['--param', 'intercept=120', '--param', 'intercept=130'],
    ]);
    expect([twice.code, twice.stderr]).toEqual([2, 'mase: --param intercept: given twice\n']);
    // `mase run` refuses such bounds as the fork does, not with firms producing −1.
    const run = mase(cournotRun('nash', 3, 'none', '--param', 'capacity=-1', '--out', 'bad-world'));
    expect([run.code, run.stderr]).toEqual([
      2,
      'mase: the action bounds of f1 are [0, -1] with these parameters: the lower bound must not exceed the upper\n',
    ]);
    expect(readdirSync(sandbox.dir)).not.toContain('bad-world');
  });

  it('--param of an environment: the state goes on, the benchmarks and the institution follow the new values', () => {
    ok([
      ...['run', '--environment', 'stdlib:commons', '--institution', 'stdlib:harvest_quota'],
      ...['--agents', 'sustainable', '--rounds', '10', '--out', 'fishery'],
    ]);
    ok(['fork', 'fishery', '--at', '4', '--out', 'regrowth', '--param', 'growth=4']);
    const arm = 'regrowth/runs/intervention-r1';
    // The sustainable share capacity·(1 − 1/growth)/fishers goes from 10 to 15 in round 5;
    // the fishers playing it take 15 each, and the quota (read from the new benchmark) is
    // kept: no one is warned or fined.
    expect(payoffs(arm, 'fisher1')).toEqual([...Array(4).fill(10), ...Array(6).fill(15)]);
    expect(events(arm).filter((e) => e.type === 'transition' || e.type === 'sanction')).toEqual([]);
    const m = sandbox.json<{
      benchmarks: { sustainable: { action: number[] } };
      benchmarks_from?: number;
    }>(`${arm}/metrics.json`);
    expect(m.benchmarks.sustainable.action).toEqual([15, 15, 15, 15, 15]);
    expect(m.benchmarks_from).toBe(5);
    // The declared metrics read the values in force at the end over every round: said.
    const warning =
      "a fork changed the environment's parameters from round 5: the declared metrics read the values and benchmarks in force from then on over all 10 round(s) played";
    expect(sandbox.json<{ warnings: string[] }>(`${arm}/metrics.json`).warnings).toEqual([warning]);
    expect(mase(['show', arm]).stdout).toContain(`  warning: ${warning}\n`);
    expect(read(`${arm}/report.html`)).toMatch(
      /This run is a fork of run [0-9a-f]+: rounds 1–4 as it played them, then param\(growth=4\)/,
    );
    // An infinite value is written as "inf" and read back as infinity: the fork's arm
    // replays exactly, as a run given it does.
    ok(['fork', 'fishery', '--at', '4', '--out', 'boundless', '--param', 'growth=inf']);
    expect(read('boundless/fork.json')).toContain('"value": "inf"');
    sandbox.expectExactReplay('boundless/runs/intervention-r1');
    ok([
      ...['run', '--environment', 'stdlib:commons', '--agents', 'sustainable', '--rounds', '3'],
      ...['--param', 'growth=inf', '--out', 'boundless-run'],
    ]);
    sandbox.expectExactReplay('boundless-run');
    sandbox.expectExactReplay(arm);
    const r = mase([
      'fork',
      'fishery',
      '--at',
      '4',
      ...['--out', 'bad-fishery'],
      '--param=fishers=3',
    ]);
    expect(r.stderr).toBe(
      "mase: --param fishers: environment commons would have other fishers (fisher1, fisher2, fisher3 instead of fisher1, fisher2, fisher3, fisher4, fisher5); a fork keeps the run's\n",
    );
    expect(r.code).toBe(2);
  });

  it('--param of a text world (a code kind): made again with the new values, from the state it had reached', () => {
    ok([
      ...['run', '--environment', 'stdlib:infection', '--agents', 'susceptible'],
      ...['--param', 'hosts=6', '--param', 'inject_round=5', '--rounds', '8', '--out', 'epidemic'],
    ]);
    const worldMessages = (dir: string) =>
      events<TraceLine & { from: string; round: number }>(dir)
        .filter((e) => e.type === 'message' && e.from === 'world')
        .map((e) => e.round);
    // The injection moved from round 5 to round 3.
    ok(['fork', 'epidemic', '--at', '2', '--out', 'earlier', '--param', 'inject_round=3']);
    expect(worldMessages('earlier/runs/intervention-r1')).toEqual([3]);
    expect(worldMessages('earlier/runs/none-r1')).toEqual([5]);
    // After the injection, more patients change nothing: the kind goes on from the hosts it
    // had infected (made afresh, it would have forgotten them).
    ok(['fork', 'epidemic', '--at', '6', '--out', 'later', '--param', 'patients=3']);
    const world = (dir: string) =>
      events(dir).filter((e) => e.type === 'environment' || e.type === 'payoff');
    expect(world('later/runs/intervention-r1')).toEqual(world('later/runs/none-r1'));
    expect(
      events<TraceLine & { values: { infected: number[] } }>('later/runs/none-r1')
        .filter((e) => e.type === 'environment')
        .at(-1)?.values.infected,
    ).toContain(1);
    sandbox.expectExactReplay('earlier/runs/intervention-r1');
    // The world's own message reworded: the canary never arrives, no host is infected.
    ok(['fork', 'epidemic', '--at', '4', '--out', 'defused', '--replace-message', 'm5.0.1:hello']);
    const last = events<TraceLine & { values: { infected: number[] } }>(
      'defused/runs/intervention-r1',
    )
      .filter((e) => e.type === 'environment')
      .at(-1);
    expect(last?.values.infected).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('forks a run of an experiment file that imports the stdlib, with the example interventions as arms', () => {
    const example = (name: string) =>
      fileURLToPath(new URL(`../../examples/tipping/${name}`, import.meta.url));
    ok(['run', example('study.mase'), '--out', 'tipping']);
    const arms = example('interventions.mase');
    ok([
      ...['fork', 'tipping', '--at', '11', '--out', 'tipping-arms'],
      ...['--intervention', `${arms}:silence`, '--intervention', `${arms}:cut`],
      ...['--intervention', `${arms}:forgetful`, '--institution', 'none'],
    ]);
    const f2 = (dir: string) =>
      events<TraceLine & { firm: string; action: number[] }>(dir)
        .filter((e) => e.type === 'decision' && e.firm === 'f2')
        .map((e) => e.action[0]);
    const nash = Array(30).fill(18);
    const tipped = [...Array(11).fill(18), ...Array(19).fill(11.25)];
    expect(f2('tipping')).toEqual(tipped);
    expect(f2('tipping-arms/runs/silence-r1')).toEqual(nash);
    expect(f2('tipping-arms/runs/cut-r1')).toEqual(nash);
    // Built afresh in round 12 before the talk, f2 still reads the cue that round.
    expect(f2('tipping-arms/runs/forgetful-r1')).toEqual(tipped);
    // The flags' arm (the institution none, as the run had): the run itself.
    expect(f2('tipping-arms/runs/intervention-r1')).toEqual(tipped);
  });

  it('a file that does not compile is refused with its diagnostic', () => {
    sandbox.write(
      'broken.mase',
      'mase 1\ninstitution broken "x" {\n  scope per firm\n  initial state a "A" { when zzz > 1 -> a }\n}\n',
    );
    const r = mase([
      'fork',
      'ungoverned',
      '--at',
      '5',
      '--out',
      'bad-broken',
      '--institution',
      'broken.mase',
    ]);
    expect(r.stderr).toBe(
      'mase: --institution broken.mase: E_UNKNOWN_NAME unknown name `zzz` (at broken.mase:4:30)\n',
    );
    expect(r.code).toBe(2);
  });
});

describe('LLM firms: a fork asks the models only after its round', () => {
  let server: ScriptedServer;
  beforeAll(async () => {
    server = await startScriptedServer((r) =>
      answer([20 + ((roundOf(r) ?? 0) % 5) + (firmOf(r) === 'f1' ? 1 : 0)], 'steady'),
    );
  });
  afterAll(() => server.close());

  it('the prefix comes from the cache; an intervention on f1 makes f2 be asked once it has seen it', async () => {
    const cache = sandbox.file('llm.cache.db');
    const run = await sandbox.maseAsync(
      cournotRun(
        'llm',
        30,
        'none',
        '--model',
        `openai-compatible:${server.url}#tiny`,
        '--cache',
        cache,
        '--out',
        'llm',
      ),
    );
    expect(run.code, run.stderr).toBe(0);
    const before = server.requests.length;
    expect(before).toBe(60);
    const forked = await sandbox.maseAsync([
      'fork',
      'llm',
      '--at',
      '20',
      '--out',
      'llm-fork',
      '--agents',
      'f1=nash',
    ]);
    expect(forked.code, forked.stderr).toBe(0);
    // The arm without intervention is the run from the cache. In the other, f1 plays Nash
    // from round 21: f2's question in round 21 (rounds 1–20 as they were) is the run's, from
    // the cache; from round 22 on it has seen another round 21 and is asked again.
    const asked = server.requests.slice(before);
    expect(asked.map((r) => [firmOf(r), roundOf(r)])).toEqual(
      Array.from({ length: 9 }, (_, i) => ['f2', 22 + i]),
    );
  });
});

describe('what cannot be forked says so', () => {
  beforeAll(() =>
    ok(cournotRun('f1=cued(say: 6),f2=cued', 10, 'none', '--talk', 'complete', '--out', 'small')),
  );
  it.each([
    [
      ['--at', '10'],
      '--at 10: the run has 10 rounds; a fork keeps rounds 1..R and plays the rest, so R must be below 10',
    ],
    [['--at', 'x'], '--at takes a whole number ≥ 0, not `x`'],
    [['--at', '2', '--replicates', '0'], '--replicates takes a whole number ≥ 1, not `0`'],
    [
      ['--at', '2', '--drop-message', 'hello'],
      '--drop-message takes a message id as the trace names it',
    ],
    [
      ['--at', '7', '--drop-message', 'm6.1.1'],
      '--drop-message m6.1.1: that message was sent in round 6, which the fork keeps as it was (--at 7); fork at 5 or earlier to drop it',
    ],
    [
      ['--at', '2', '--drop-message', 'm9.1.1'],
      "--drop-message m9.1.1: the run's trace holds no message m9.1.1",
    ],
    [
      ['--at', '2', '--agents', 'f9=nash'],
      '--agents names f9, which is not an agent of the run (f1, f2)',
    ],
    [['--at', '2', '--agents', 'nosuch'], 'nosuch'],
    [['--at', '2', '--inject-message', 'f1 says hi'], '--inject-message takes FROM->TO:TEXT'],
    [
      ['--at', '2', '--inject-message', 'f1->f7:hi'],
      '--inject-message: f7 is not an agent of the run (f1, f2)',
    ],
    [
      ['--at', '2', '--reset-memory', 'f1,f8'],
      '--reset-memory: f8 is not an agent of the run (f1, f2)',
    ],
    [
      ['--at', '2', '--benchmark-action', 'f1'],
      '--benchmark-action takes AGENT@ROUND (e.g. f1@12), not `f1`',
    ],
    [
      ['--at', '4', '--benchmark-action', 'f1@3'],
      '--benchmark-action f1@3: round 3 is not one the fork plays (rounds 5–10)',
    ],
    [
      ['--at', '2', '--mute-edge', 'f1=f2'],
      '--mute-edge takes A-B (both ways) or A>B (one way), not `f1=f2`',
    ],
    [
      ['--at', '2', '--mute-edge', 'f1>f1'],
      "--mute-edge f1>f1: f1 does not talk to f1 in this run's topology",
    ],
  ])('%j', (flags, message) => {
    const r = mase(['fork', 'small', '--out', `bad-${readdirSync(sandbox.dir).length}`, ...flags]);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(2);
  });

  it('a fork of a fork, a directory with no run, an --out in use', () => {
    ok(['fork', 'small', '--at', '3', '--out', 'small-fork']);
    const again = mase(['fork', 'small-fork/runs/none-r1', '--at', '4', '--out', 'again']);
    expect(again.stderr).toMatch(
      /small-fork\/runs\/none-r1 is itself a fork \(of run \w+ after round 3\); fork that run instead/,
    );
    expect(again.code).toBe(2);
    const none = mase(['fork', 'nothing', '--at', '1', '--out', 'x1']);
    expect(none.stderr).toContain('nothing holds no run (no manifest.json)');
    expect(none.code).toBe(2);
    ok([...cournotRun('nash', 10), '--out', 'no-talk']);
    const silent = mase(['fork', 'no-talk', '--at', '3', '--out', 'x2', '--mute-edge', 'f1-f2']);
    expect(silent.stderr).toContain(
      '--mute-edge: the run has no talk (its agents send no messages)',
    );
    expect(silent.code).toBe(2);
    // Random stopping ended this run before its last round: nothing comes after it.
    ok([...cournotRun('nash', 200, 'none', '--continuation', '0.5'), '--out', 'stopped']);
    const played = sandbox.json<{ rounds_completed: number }>(
      'stopped/manifest.json',
    ).rounds_completed;
    expect(played).toBeLessThan(200);
    const after = mase(['fork', 'stopped', '--at', `${played}`, '--out', 'x3']);
    expect(after.stderr).toContain(
      `--at ${played}: the run in stopped ended after round ${played} (of 200); a fork plays the rounds after R, so R must be below ${played}`,
    );
    expect(after.code).toBe(2);
    const used = mase(['fork', 'small', '--at', '3', '--out', 'small-fork']);
    expect(used.stderr).toContain('small-fork is not empty; choose a new --out directory');
    expect(used.code).toBe(2);
  });
});
