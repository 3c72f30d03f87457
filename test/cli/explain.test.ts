import { renameSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cliSandbox, cournotRun } from '../support/cli.js';

/**
 * `mase explain RUN`, as a researcher uses it: the run's macro change is found, the messages
 * before it are removed one at a time in forks, and the planted cause is ranked first with
 * the effect the scripted agents imply, the decoys after it with none.
 */

const sandbox = cliSandbox('explain');
const { mase } = sandbox;

interface Explanation {
  metric: string;
  shift: { series: string; round: number; from: number; to: number };
  window: [number, number];
  candidates: {
    event: { id: string; round: number; text: string };
    effect: number;
    pairs: number;
    interval: [number, number] | null;
    p: number | null;
  }[];
}

// f1 tells the others "collude" in round 12 and f2, cued by that word, colludes from then
// on; f3 and f4 send decoys in rounds 10 and 11 that no one is cued by.
const planted = cournotRun(
  'f1=cued(say: 12),f2=cued,f3=cued(word: "ping", say: 10),f4=cued(word: "pong", say: 11)',
  30,
  'none',
  '--param',
  'firms=4',
  '--talk',
  'complete',
);

describe('mase explain', () => {
  it('finds the planted cause among decoys, with the effect the agents imply', () => {
    expect(mase([...planted, '--out', 'tipped']).code).toBe(0);
    const r = mase(['explain', 'tipped', '--replicates', '3', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout) as Explanation;
    // One firm of four colluding: industry profit a quarter... of the way? The run's own
    // collusion index says how far; the shift goes from 0 to it, in round 12.
    const index = sandbox.json<{ macro: { collusion_index: { value: number } } }>(
      'tipped/metrics.json',
    );
    expect(e.shift).toMatchObject({ series: 'collusion level', round: 12, from: 0 });
    expect(e.shift.to).toBeCloseTo(0.4375, 10);
    expect(e.window).toEqual([7, 12]);
    expect(e.metric).toBe('collusion_index');
    // The messages of rounds 7–12 and f2's collusive action in round 12: the symptom, which
    // changes nothing when undone (f2 has read the message and colludes from round 13).
    expect(e.candidates.map((c) => c.event.id)).toEqual(['m12.1.1', 'm10.1.1', 'm11.1.1', 'f2@12']);
    const [cause, ...decoys] = e.candidates;
    expect(cause?.effect).toBeCloseTo(-e.shift.to, 10);
    expect(cause?.pairs).toBe(3);
    expect(cause?.p).toBe(0.25);
    for (const d of decoys) expect(d.effect).toBe(0);
    expect(index.macro.collusion_index).toBeCloseTo(0.4375, 10);
    // The text table names the same ranking, and each candidate's forks are a sweep directory.
    const table = mase(['explain', 'tipped', '--out', 'tipped-again']);
    expect(table.stdout).toMatch(/collusion level of tipped: 0 → 0\.4375, changed from round 12/);
    expect(table.stdout).toMatch(/1\s+m12\.1\.1\s+12\s+f1 → f2, f3, f4: "collude"\s+-0\.4375/);
    expect(table.stdout).toMatch(/4\s+f2@12\s+12\s+f2 played 11\.25 \(Nash 18\)\s+0/);
    const analyzed = mase(['analyze', 'tipped-again/m12.1.1']);
    expect(analyzed.code, analyzed.stderr).toBe(0);
    expect(analyzed.stdout).toContain('drop_message(m12.1.1)');
    // The page: each candidate by rank, with the series at its round and its fork's own page.
    expect(table.stderr).toBe(
      'wrote tipped-again (a fork directory per candidate, explain.json, report.html)\n',
    );
    const page = sandbox.read('tipped-again/report.html');
    expect(page).toContain('<h1>Why the collusion level of tipped changed</h1>');
    expect(page).toMatch(
      /<tr id="event-m12\.1\.1"><td>1<\/td><td><code>m12\.1\.1<\/code><\/td><td>12<\/td><td>0\.438<\/td>/,
    );
    expect(page).toMatch(
      /<tr id="event-m10\.1\.1"><td>2<\/td><td><code>m10\.1\.1<\/code><\/td><td>10<\/td><td>0<\/td>/,
    );
    expect(page).toContain('<a href="m12.1.1/report.html">fork</a>');
    expect(sandbox.read('tipped-again/m12.1.1/report.html')).toContain(
      'drop_message(m12.1.1)</h1>',
    );
    const again = mase(['report', 'tipped-again']);
    expect(again.stderr).toBe('wrote tipped-again/report.html\n');
    expect(sandbox.read('tipped-again/report.html')).toBe(page);
  }, 90_000); // a run and an explanation of 3 replicates: a guard against a hang

  it("finds an environment's planted deviation from its benchmark among a harmless one", () => {
    // player1 strays to effort 1 in round 5, which the trigger players punish for 100 rounds:
    // the group minimum falls to 1 for good. player2's stray to 6 in round 3 is within the
    // triggers' tolerance (0.2 · 7): it lowers that round's minimum only.
    const run = mase([
      'run',
      '--environment',
      'stdlib:minimum_effort',
      '--agents',
      'player1=stray(round: 5, x: 1),player2=stray(round: 3, x: 6),player3=trigger(k: 100, tolerance: 0.2),player4=trigger(k: 100, tolerance: 0.2)',
      '--rounds',
      '20',
      '--out',
      'effort',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const r = mase(['explain', 'effort', '--series', 'group_min', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.shift).toMatchObject({ series: 'group_min', round: 5, to: 1 });
    expect(e.metric).toBe('min_effort');
    expect(e.candidates.map((c) => [c.event.id, c.effect])).toEqual([
      // Without it the minimum stays 7: min_effort (its mean over 20 rounds) 7 instead of 2.2.
      ['player1@5', expect.closeTo(4.8, 10)],
      // Without it round 3's minimum is 7, not 6: 1/20 more.
      ['player2@3', expect.closeTo(0.05, 10)],
    ]);
    const table = mase(['explain', 'effort', '--series', 'group_min', '--out', 'effort-again']);
    expect(table.stdout).toContain(
      'candidates: 2 actions away from payoff_dominant in rounds 1–5, each undone in a fork',
    );
    expect(table.stdout).toMatch(
      /1\s+player1@5\s+5\s+player1 played 1 \(payoff_dominant 7\)\s+4\.8/,
    );
  });

  it("finds the institution's transition that caused the change among a harmless one and the actions", () => {
    // f1 is suspended in round 3 whatever it does (from round 4 it produces nothing: the
    // collusion level falls); f2 is warned in round 2 (a notice, nothing more).
    sandbox.write(
      'arbitrary.mase',
      `mase 1
institution arbitrary "Acts on the calendar, not on evidence" {
  scope per firm
  param target: per firm = [1, 0] "1: suspended in round 3; 0: warned in round 2"
  initial state ok "In good standing" {
    when round == 3 and target[self] > 0 -> suspended
    when round == 2 and target[self] == 0 -> warned
  }
  state warned "Warned" {
    notice "You have been warned."
    after 100 rounds -> ok
  }
  state suspended "Suspended" {
    suspend
    after 100 rounds -> ok
  }
}
`,
    );
    expect(
      mase([...cournotRun('collusive', 20, 'arbitrary.mase'), '--out', 'suspended']).code,
    ).toBe(0);
    const r = mase(['explain', 'suspended', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.shift).toMatchObject({ series: 'collusion level', round: 4 });
    // Without the suspension f2's and f1's collusive output goes on (collusion level 1);
    // with it, f2 alone at 22.5 earns (77.5 − 10) · 22.5 = 1518.75: (1518.75 − 1800) / 225.
    expect(e.shift.to).toBeCloseTo(-1.25, 10);
    const [first, ...rest] = e.candidates;
    expect(first?.event.id).toBe('f1@3-suspended');
    expect(first?.effect).toBeCloseTo(2.25, 10);
    expect(rest.map((c) => c.effect)).toEqual(rest.map(() => 0));
    expect(rest.map((c) => c.event.id)).toContain('f2@2-warned');
    const table = mase(['explain', 'suspended', '--out', 'suspended-again']);
    expect(table.stdout).toContain(
      'candidates: 8 actions away from Nash and 2 transitions of the institution on evidence in rounds 1–4',
    );
    expect(table.stdout).toMatch(/1\s+f1@3-suspended\s+3\s+f1: ok → suspended\s+2\.25/);
  });

  it("the page escapes the agents' messages", () => {
    const word = '<img src=x onerror=alert(1)>';
    const run = cournotRun(
      `f1=cued(word: "${word}", say: 5),f2=cued(word: "${word}")`,
      12,
      'none',
      '--talk',
      'complete',
    );
    expect(mase([...run, '--out', 'marked']).code).toBe(0);
    const r = mase(['explain', 'marked']);
    expect(r.code, r.stderr).toBe(0);
    const page = sandbox.read('marked-explain/report.html');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('<img');
    // The page is drawn from the run's trace: a run moved away is named, not a stack trace.
    renameSync(sandbox.file('marked'), sandbox.file('marked-moved'));
    const moved = mase(['report', 'marked-explain']);
    expect(moved.stderr).toBe(
      'mase: marked-explain explains the run in marked, whose trace (marked/events.jsonl) is not there from here: run mase report from the directory mase explain ran in\n',
    );
    expect(moved.code).toBe(2);
  });

  it('a run with no change, bad flags and an environment without --series say so', () => {
    expect(mase([...cournotRun('nash', 20), '--out', 'flat']).code).toBe(0);
    const flat = mase(['explain', 'flat']);
    expect(flat.stderr).toContain(
      'the collusion level starts and ends at 0: there is no change to explain',
    );
    expect(flat.code).toBe(2);
    const format = mase(['explain', 'flat', '--format', 'yaml']);
    expect(format.stderr).toContain('--format takes text or json, not `yaml`');
    expect(format.code).toBe(2);
    const series = mase(['explain', 'flat', '--series', 'price']);
    expect(series.stderr).toContain(
      '--series is for environments; a market is explained by its collusion level',
    );
    expect(series.code).toBe(2);
    expect(
      mase([
        'run',
        '--environment',
        'stdlib:infection',
        '--param',
        'hosts=12',
        '--agents',
        'susceptible(0.5, 0.1)',
        '--talk',
        'ring',
        '--rounds',
        '10',
        '--out',
        'world',
      ]).code,
    ).toBe(0);
    const world = mase(['explain', 'world']);
    expect(world.stderr).toMatch(
      /name the environment's per-round value to find the change in with --series \(one of: .*infected_share/,
    );
    expect(world.code).toBe(2);
    const quiet = mase([...cournotRun('collusive', 20), '--out', 'always']);
    expect(quiet.code).toBe(0);
    const none = mase(['explain', 'always']);
    expect(none.stderr).toContain('there is no change to explain');
  });
});
