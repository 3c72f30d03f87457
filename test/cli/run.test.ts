import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, cliSandbox, messageLines } from '../support/cli.js';

/**
 * `mase run`, `verify` and `show` end to end (`mase demo`: demo.test.ts), as a user meets them: the built
 * binary (`npm test` builds `dist/` first), run in a scratch folder, one transcript per
 * test. Log keys go to a scratch `MASE_HOME`, never the user's data directory. Every
 * invocation is also checked for JavaScript stack traces, which no input may produce.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sandbox = cliSandbox('run');
const { mase, file, read, json, write } = sandbox;

const lines = (text: string) => text.trimEnd().split('\n');
const jsonl = <T = Record<string, unknown>>(path: string) =>
  lines(read(path)).map((l) => JSON.parse(l) as T);

/** A run directory a reader would take for a finished run: a manifest saying completed. */
function looksComplete(out: string): boolean {
  const manifest = file(join(out, 'manifest.json'));
  if (!existsSync(manifest)) return false;
  try {
    return (
      (JSON.parse(readFileSync(manifest, 'utf8')) as { status?: string }).status === 'completed'
    );
  } catch {
    return false;
  }
}

interface Manifest {
  run_id: string;
  digest: string;
  experiment: string;
  status: string;
  rounds: number;
  rounds_completed: number;
  seed: number;
  market: { name: string; params: Record<string, unknown> };
  institution: { name: string; params: Record<string, unknown> };
  policies: Record<string, { name: string; args: { value: unknown }[] }>;
  sources: { path: string; sha256: string; text: string }[];
}

interface Event {
  type: string;
  round?: number;
  firm?: string | null;
  [key: string]: unknown;
}

const GOVERNED = 'run --market stdlib:cournot_2x2 --institution stdlib:governance_graph';

const TWO_EXPERIMENTS = `mase 1

experiment ungoverned {
  market cournot_2x2
  institution none
  agents nash
  rounds 5
}

experiment governed {
  market cournot_2x2
  institution governance_graph
  agents collusive
  rounds 6
}
`;

const BAD_EXPERIMENT = `mase 1

experiment bad {
  market cournot_2x2
  institution nope
  agents nash
}
`;

// A market of the user's, with firms named other than f1, f2, …
const DUO = `mase 1

market duo "Two named firms" {
  firms alpha, beta
  cost = 10
  action quantity in [0, 100]
  price = max(0, 100 - sum(quantity, over: firm))
  observe price
}
`;

const UNKNOWN_POLICY = `mase 1

experiment typo {
  market cournot_2x2
  institution none
  agents nsah
}
`;

beforeAll(() => {
  write('two.mase', TWO_EXPERIMENTS);
  write('bad.mase', BAD_EXPERIMENT);
  write('duo.mase', DUO);
  write('typo.mase', UNKNOWN_POLICY);
  cpSync(join(root, 'test/support/markets/bertrand-edgeworth.mase'), file('edgeworth.mase'));
});

describe('the verdict beside the tier', () => {
  it('calls two firms flooding product B ruin, not severe collusion (tier 4, Δ −16.7)', () => {
    const r = mase([
      'run',
      '--market',
      'stdlib:cournot_2x2',
      '--agents',
      'f1=constant([0,100]),f2=constant([0,100])',
      '--rounds',
      '20',
      '--out',
      'ruin',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const row = lines(r.stdout)[2] ?? '';
    expect(row).toMatch(/\s-16\.719\s+4\s+concentrated_unprofitable\s/);
    const macro = json<{ macro: Record<string, unknown> }>('ruin/metrics.json').macro;
    expect(macro).toMatchObject({ tier: 4, verdict: 'concentrated_unprofitable' });
    expect(macro.verdict_reason).toMatch(/not collusion/);
  });

  it('calls a market shaped by suspensions enforcement, and scores the tier without them', () => {
    // Two collusive firms under the governance graph are suspended again and again.
    const r = mase(`${GOVERNED} --agents collusive --rounds 200 --out enforced`);
    expect(r.code, r.stderr).toBe(0);
    const macro = json<{ macro: Record<string, number | string | null> }>(
      'enforced/metrics.json',
    ).macro;
    expect(macro.suspended_share).toBeGreaterThan(0.05);
    expect(macro.verdict).toBe('enforcement_distorted');
    expect(lines(r.stdout)[2]).toMatch(/\senforcement_distorted\s/);
  });
});

describe('a governed run: run, verify, show', () => {
  let r: CliResult;
  beforeAll(() => {
    r = mase(`${GOVERNED} --agents collusive --rounds 20 --out governed`);
  });

  it('mase run … --agents collusive --rounds 20 --out governed → exit 0, a summary table on stdout', () => {
    expect(r.code, r.stderr).toBe(0);
    const table = lines(r.stdout);
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(
      /^run\s+status\s+rounds\s+collusion index\s+tier\s+verdict\s+mean price\s+fines\s+fallbacks\s+report$/,
    );
    expect(table[1]).toMatch(/^-+( +-+)+$/);
    expect(table[2]).toMatch(
      /^cournot_2x2-governance_graph\s+completed\s+20\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+0%\s+governed$/,
    );
    expect(r.stderr).toContain('wrote governed (status: completed; open governed/report.html)');
    // Closed-form benchmarks: nothing to warn about.
    expect(r.stderr).not.toContain('warning');
  });

  it('writes manifest.json, events.jsonl, governance-log.jsonl, metrics.json, report.html and sanctions.csv', () => {
    expect(readdirSync(file('governed')).sort()).toEqual([
      'events.jsonl',
      'governance-log.jsonl',
      'manifest.json',
      'metrics.json',
      'report.html',
      'sanctions.csv',
    ]);
    const manifest = json<Manifest>('governed/manifest.json');
    expect(manifest).toMatchObject({
      status: 'completed',
      rounds: 20,
      rounds_completed: 20,
      seed: 1,
      market: { name: 'cournot_2x2' },
      institution: { name: 'governance_graph' },
    });
    expect(manifest.policies).toEqual({
      f1: { name: 'collusive', args: [] },
      f2: { name: 'collusive', args: [] },
    });
    // Every source the run used, with its text and that text's sha256.
    const paths = manifest.sources.map((s) => s.path);
    expect(paths).toEqual(
      expect.arrayContaining(['stdlib/cournot-2x2.mase', 'stdlib/governance-graph.mase']),
    );
    for (const s of manifest.sources) {
      expect(s.sha256).toBe(createHash('sha256').update(s.text).digest('hex'));
      expect(s.text).toBe(readFileSync(join(root, s.path), 'utf8'));
    }
  });

  it('lists each source once in the manifest', () => {
    const paths = json<Manifest>('governed/manifest.json').sources.map((s) => s.path);
    expect(paths).toEqual([...new Set(paths)]);
  });

  it('events.jsonl: a header, benchmarks, then 20 rounds of market events', () => {
    const events = jsonl<Event>('governed/events.jsonl');
    expect(events[0]).toMatchObject({
      type: 'header',
      market: 'cournot_2x2',
      institution: 'governance_graph',
      firms: ['f1', 'f2'],
      products: ['A', 'B'],
      rounds: 20,
      policies: { f1: 'collusive', f2: 'collusive' },
      digest: json<Manifest>('governed/manifest.json').digest,
    });
    expect(events[1]?.type).toBe('benchmarks');
    expect(events.filter((e) => e.type === 'market').map((e) => e.round)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    // Collusive firms are caught: warned, then fined.
    const transitions = events.filter((e) => e.type === 'transition' && e.firm === 'f1');
    expect(transitions.slice(0, 2).map((e) => [e.round, e.from, e.to])).toEqual([
      [2, 'active', 'warning'],
      [3, 'warning', 'fined'],
    ]);
  });

  it('governance-log.jsonl: MAC-chained entries; the key is stored in MASE_HOME, not the run', () => {
    const entries = jsonl<{ seq: number; mac: string; prev_mac: string }>(
      'governed/governance-log.jsonl',
    );
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    for (let i = 1; i < entries.length; i++) expect(entries[i]?.prev_mac).toBe(entries[i - 1]?.mac);
    const { run_id } = json<Manifest>('governed/manifest.json');
    expect(existsSync(file(`home/keys/${run_id}.key`))).toBe(true);
    expect(read('governed/manifest.json')).not.toContain(read(`home/keys/${run_id}.key`).trim());
  });

  it('metrics.json: the run as played', () => {
    const metrics = json<{ run: { rounds_played: number }; benchmarks: object; macro: object }>(
      'governed/metrics.json',
    );
    expect(metrics.run.rounds_played).toBe(20);
    expect(Object.keys(metrics.benchmarks)).toEqual(
      expect.arrayContaining(['nash', 'collusive', 'competitive']),
    );
  });

  it('mase verify governed → exit 0, every entry intact', () => {
    const v = mase('verify governed');
    expect(v.code, v.stderr).toBe(0);
    const count = lines(read('governed/governance-log.jsonl')).length;
    expect(lines(v.stdout)).toEqual([
      `intact: ${count} entries (seal included), manifest.json, events.jsonl and metrics.json are as the run wrote them; the run completed 20 rounds`,
    ]);
  });

  it('mase verify on a copy with one line of the log altered → exit 1 naming that line', () => {
    cpSync(file('governed'), file('tampered'), { recursive: true });
    const log = lines(read('tampered/governance-log.jsonl'));
    const entry = JSON.parse(log[2] ?? '{}') as { round: number };
    log[2] = JSON.stringify({ ...entry, round: entry.round + 1 });
    write('tampered/governance-log.jsonl', `${log.join('\n')}\n`);

    const v = mase('verify tampered');
    expect(v.code).toBe(1);
    expect(v.stdout).toBe('');
    expect(lines(v.stderr)).toHaveLength(1);
    expect(v.stderr).toMatch(/^governance log broken at line 3: /);
    // The original is untouched and still verifies.
    expect(mase('verify governed').code).toBe(0);
  });

  it('mase show governed → benchmarks, outcome, the institution summary; --timeline adds the timeline', () => {
    const s = mase('show governed');
    expect(s.code, s.stderr).toBe(0);
    const out = lines(s.stdout);
    expect(out[0]).toBe(
      'cournot_2x2-governance_graph: cournot_2x2 under governance_graph, seed 1 — completed, 20 of 20 rounds',
    );
    expect(s.stdout).toContain('benchmarks (industry profit):');
    expect(s.stdout).toMatch(/^ {2}nash +2888\.89$/m);
    expect(s.stdout).toMatch(/^ {2}collusive +3600\.00$/m);
    expect(s.stdout).toMatch(/^ {2}competitive +2000\.00$/m);
    expect(s.stdout).toMatch(/^ {2}tier +\d/m);
    const transitions = jsonl<Event>('governed/events.jsonl').filter(
      (e) => e.type === 'transition',
    );
    expect(s.stdout).not.toContain('institution timeline');
    expect(s.stdout).toContain(
      `timeline: ${transitions.length} transitions; \`mase show governed --timeline\` lists them`,
    );

    const t = mase('show governed --timeline');
    expect(t.code, t.stderr).toBe(0);
    const all = lines(t.stdout);
    expect(all.slice(0, out.length - 2)).toEqual(out.slice(0, -2));
    const timeline = all.slice(all.indexOf('institution timeline:') + 1);
    expect(timeline.slice(0, 4)).toEqual([
      '  round 2: f1 active -> warning [P1]',
      '  round 2: f2 active -> warning [P1]',
      '  round 3: f1 warning -> fined [P2]',
      '  round 3: f2 warning -> fined [P2]',
    ]);
    expect(timeline).toHaveLength(transitions.length);
  });
});

describe('mase show on a long run', () => {
  let transitions: Event[];
  beforeAll(() => {
    const r = mase(`${GOVERNED} --agents qlearning --rounds 2000 --seed 7 --out long`);
    expect(r.code, r.stderr).toBe(0);
    transitions = jsonl<Event>('long/events.jsonl').filter((e) => e.type === 'transition');
    // The case a per-event listing cannot serve: hundreds of transitions.
    expect(transitions.length).toBeGreaterThan(500);
  }, 120_000);

  it('mase show long → a summary of a few dozen lines, whatever the number of rounds', () => {
    const s = mase('show long');
    expect(s.code, s.stderr).toBe(0);
    const out = lines(s.stdout);
    expect(out.length).toBeLessThanOrEqual(45);
    expect(out[0]).toContain('completed, 2,000 of 2,000 rounds');
    // Time in each state: a header of the states, then one row per firm summing to the run.
    const header = out.indexOf('  rounds in each state:');
    expect(out[header + 1]?.trim().split(/\s+/)).toEqual([
      'active',
      'warning',
      'fined',
      'suspended',
      'credited',
    ]);
    for (const row of out.slice(header + 2, header + 4)) {
      const rounds = [...(row.matchAll(/([\d,]+) \(\d+%\)/g) ?? [])].map((m) =>
        Number((m[1] as string).replaceAll(',', '')),
      );
      expect(rounds.reduce((a, b) => a + b, 0)).toBe(2000);
    }
    // Transitions per edge add up to all of them.
    const edges = out.filter((l) => /^ {4}\S+ -> \S+/.test(l));
    expect(edges.length).toBeGreaterThan(0);
    expect(
      edges.map((l) => Number((l.trim().split(/\s+/).at(-1) as string).replaceAll(',', ''))),
    ).toSatisfy((counts: number[]) => counts.reduce((a, b) => a + b, 0) === transitions.length);
    const fines = jsonl<Event & { sanction?: string }>('long/events.jsonl').filter(
      (e) => e.type === 'sanction' && e.sanction === 'fine',
    );
    expect(s.stdout).toContain(`sanctions: ${fines.length.toLocaleString('en-US')} fines`);
    expect(s.stdout).not.toMatch(/^ {2}round \d+:/m);
  });

  it('mase show long --timeline → every transition; --timeline 1-10 → those of rounds 1 to 10', () => {
    const all = lines(mase('show long --timeline').stdout);
    expect(all.filter((l) => /^ {2}round \d+: /.test(l))).toHaveLength(transitions.length);
    const some = mase('show long --timeline 1-10');
    expect(some.code, some.stderr).toBe(0);
    const listed = lines(some.stdout).filter((l) => /^ {2}round \d+: /.test(l));
    expect(listed).toHaveLength(transitions.filter((e) => (e.round ?? 0) <= 10).length);
    expect(some.stdout).toContain('institution timeline rounds 1–10:');
    // The flag before the directory reads as meant.
    expect(mase('show --timeline long').stdout).toBe(mase('show long --timeline').stdout);
  });

  it.each(['abc', '10-2', '0'])(
    'mase show long --timeline %s → exit 2, one line naming the value',
    (value) => {
      const r = mase(['show', 'long', '--timeline', value]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(messageLines(r.stderr)).toEqual([
        `mase: --timeline takes nothing (every transition), a round N or a range FROM-TO such as 1-100, not \`${value}\``,
      ]);
    },
  );
});

describe('choosing what to run', () => {
  it('mase run two.mase → exit 2 naming the experiments; --experiment picks one', () => {
    const r = mase('run two.mase --out two-unpicked');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('ungoverned, governed');
    expect(r.stderr).toContain('--experiment');
    expect(existsSync(file('two-unpicked'))).toBe(false);

    const picked = mase('run two.mase --experiment governed --out two-governed');
    expect(picked.code, picked.stderr).toBe(0);
    const manifest = json<Manifest>('two-governed/manifest.json');
    expect(manifest).toMatchObject({ experiment: 'governed', status: 'completed', rounds: 6 });
    expect(manifest.sources.map((s) => s.path)).toContain('two.mase');
    expect(lines(picked.stdout)[2]).toMatch(/^governed\s+completed\s+6\s/);
  });

  it('--agents f1=nash,f2=constant(30) → each firm plays its own policy', () => {
    const r = mase(`${GOVERNED} --agents f1=nash,f2=constant(30) --rounds 5 --out mixed`);
    expect(r.code, r.stderr).toBe(0);
    const events = jsonl<Event>('mixed/events.jsonl');
    expect(events[0]?.policies).toEqual({ f1: 'nash', f2: 'constant' });
    expect(json<Manifest>('mixed/manifest.json').policies).toEqual({
      f1: { name: 'nash', args: [] },
      f2: { name: 'constant', args: [{ value: 30 }] },
    });
    const decisions = events.filter((e) => e.type === 'decision');
    expect(decisions).toHaveLength(10);
    for (const d of decisions.filter((e) => e.firm === 'f2')) expect(d.action).toEqual([30, 30]);
    // The Nash quantities of cournot_2x2, by hand: q_own = 140/3, q_other = 80/3.
    const f1 = decisions.find((e) => e.firm === 'f1')?.action as number[];
    expect(f1[0]).toBeCloseTo(140 / 3, 9);
    expect(f1[1]).toBeCloseTo(80 / 3, 9);
  });

  it('--market stdlib:cournot --param costs=[40,45,50] --param firms=3 → three firms at those costs', () => {
    const r = mase(
      'run --market stdlib:cournot --institution none --agents nash --param costs=[40,45,50] --param firms=3 --rounds 3 --out three',
    );
    expect(r.code, r.stderr).toBe(0);
    const manifest = json<Manifest>('three/manifest.json');
    expect(manifest.market.params).toMatchObject({ firms: 3, costs: [40, 45, 50] });
    const events = jsonl<Event>('three/events.jsonl');
    expect(events[0]?.firms).toEqual(['f1', 'f2', 'f3']);
    // Cournot–Nash by hand: q_i = (100 + Σc - 4 c_i) / 4 = 18.75, 13.75, 8.75.
    const benchmarks = events[1] as unknown as { nash: { quantity: number[][] } };
    const nash = benchmarks.nash.quantity.map((q) => q[0]);
    expect(nash).toEqual([18.75, 13.75, 8.75].map((q) => expect.closeTo(q, 9)));
  });

  it('naming a market stdlib:cournot_2x2 or cournot_2x2 is the same experiment (same digest)', () => {
    const a = mase(
      'run --market stdlib:cournot_2x2 --institution none --agents nash --rounds 2 --out by-spec',
    );
    const b = mase(
      'run --market cournot_2x2 --institution none --agents nash --rounds 2 --out by-name',
    );
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(json<Manifest>('by-spec/manifest.json').digest).toBe(
      json<Manifest>('by-name/manifest.json').digest,
    );
  });
});

describe('bad flags: exit 2, one line, no stack, nothing that looks like a finished run', () => {
  const AGENTS = '--agents collusive --rounds 5';
  it.each([
    ['an unknown policy', `${GOVERNED} --agents nope --rounds 5 --out bad-policy`, 'nope'],
    ['an unknown --param name', `${GOVERNED} ${AGENTS} --param nope=1 --out bad-param`, 'nope'],
    [
      'a --param of the wrong type',
      `${GOVERNED} ${AGENTS} --param intercept=abc --out bad-type`,
      'intercept',
    ],
    [
      'a --param list of the wrong length',
      `${GOVERNED} ${AGENTS} --param costs=[[40,50]] --out bad-length`,
      'costs',
    ],
    [
      'a --param list of the wrong length for the firms',
      'run --market stdlib:cournot --institution none --agents nash --param firms=3 --param costs=[40,45] --out bad-firms',
      'costs',
    ],
    [
      'a non-integer --rounds',
      `${GOVERNED} --agents collusive --rounds 2.5 --out bad-rounds`,
      '--rounds',
    ],
    [
      'a non-numeric --rounds',
      `${GOVERNED} --agents collusive --rounds ten --out bad-ten`,
      '--rounds',
    ],
    ['zero --rounds', `${GOVERNED} --agents collusive --rounds 0 --out bad-zero`, '--rounds'],
    ['a missing --out', `${GOVERNED} ${AGENTS}`, '--out'],
    [
      'an unknown market by name',
      `run --market nope --institution none ${AGENTS} --out bad-market`,
      'nope',
    ],
    [
      'an unknown stdlib market',
      `run --market stdlib:nope --institution none ${AGENTS} --out bad-stdlib`,
      'nope',
    ],
  ])('%s', (_what, command, mentions) => {
    const before = new Set(readdirSync(sandbox.dir));
    const r = mase(command);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const message = messageLines(r.stderr);
    expect(message).toHaveLength(1);
    expect(message[0]).toContain(mentions);
    expect(message[0]).not.toContain('E_INTERNAL');
    const out = /--out (\S+)/.exec(command)?.[1];
    if (out) expect(looksComplete(out)).toBe(false);
    for (const entry of readdirSync(sandbox.dir)) {
      if (!before.has(entry)) expect(looksComplete(entry), `${entry} looks complete`).toBe(false);
    }
  });

  it('--out pointing at a non-empty directory → exit 2, the directory untouched', () => {
    mkdirSync(file('occupied'));
    write('occupied/notes.txt', 'mine\n');
    const r = mase(`${GOVERNED} --agents collusive --rounds 5 --out occupied`);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(messageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('occupied');
    expect(r.stderr).not.toContain('E_INTERNAL');
    expect(readdirSync(file('occupied'))).toEqual(['notes.txt']);
    expect(read('occupied/notes.txt')).toBe('mine\n');
  });

  it('--out pointing at a finished run → exit 2, that run untouched', () => {
    const r1 = mase(`${GOVERNED} --agents nash --rounds 2 --out finished`);
    expect(r1.code, r1.stderr).toBe(0);
    const before = read('finished/events.jsonl');
    const r2 = mase(`${GOVERNED} --agents collusive --rounds 3 --out finished`);
    expect(r2.code, r2.stderr).toBe(2);
    expect(messageLines(r2.stderr)).toHaveLength(1);
    expect(read('finished/events.jsonl')).toBe(before);
    expect(json<Manifest>('finished/manifest.json').rounds).toBe(2);
  });

  it('a source file with errors → exit 1 with located diagnostics, nothing written', () => {
    const r = mase('run bad.mase --out bad-source');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      [
        'bad.mase:5:15: error E_UNKNOWN_NAME no institution `nope`',
        '  |',
        '5 |   institution nope',
        '  |               ^^^^',
      ].join('\n'),
    );
    expect(lines(r.stderr).at(-1)).toBe('1 error, 0 warnings');
    expect(existsSync(file('bad-source'))).toBe(false);
  });
});

describe('markets from files, firms by name', () => {
  it('mase run --market duo.mase → the market the file declares', () => {
    const r = mase(
      'run --market duo.mase --institution none --agents nash --rounds 2 --out duo-by-file',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(json<Manifest>('duo-by-file/manifest.json').market.name).toBe('duo');
  });

  it('mase run duo.mase --market duo --agents alpha=nash,beta=collusive → per-firm policies by firm name', () => {
    const r = mase(
      'run duo.mase --market duo --institution none --agents alpha=nash,beta=collusive --rounds 2 --out duo-named',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl<Event>('duo-named/events.jsonl')[0]?.policies).toEqual({
      alpha: 'nash',
      beta: 'collusive',
    });
  });

  it('--param firms=3 --agents f1=…,f2=…,f3=… → a policy for the third firm too', () => {
    const r = mase(
      'run --market stdlib:cournot --param firms=3 --institution none --agents f1=nash,f2=nash,f3=collusive --rounds 2 --out three-named',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(jsonl<Event>('three-named/events.jsonl')[0]?.policies).toEqual({
      f1: 'nash',
      f2: 'nash',
      f3: 'collusive',
    });
  });

  it('--agents naming a firm the market lacks → exit 2 naming it', () => {
    const r = mase(
      'run --market stdlib:cournot --institution none --agents f1=nash,f2=nash,f9=nash --rounds 2 --out no-f9',
    );
    expect(r.code).toBe(2);
    expect(messageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('f9');
    expect(looksComplete('no-f9')).toBe(false);
  });

  it('--agents constant(1,2) (a bad policy argument) → exit 2, not an internal error', () => {
    const r = mase(`${GOVERNED} --agents constant(1,2) --rounds 2 --out bad-args`);
    expect(r.code, r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('constant');
    expect(looksComplete('bad-args')).toBe(false);
  });

  it('an experiment file naming an unknown policy → a user error (exit 1 or 2), not E_INTERNAL', () => {
    const r = mase('run typo.mase --out typo');
    expect([1, 2]).toContain(r.code);
    expect(r.stderr).toContain('nsah');
    expect(r.stderr).not.toContain('E_INTERNAL');
    expect(looksComplete('typo')).toBe(false);
  });
});

describe('a market with no pure-strategy equilibrium (Bertrand–Edgeworth)', () => {
  let r: CliResult;
  beforeAll(() => {
    r = mase(
      'run --market edgeworth.mase --institution none --agents nash --rounds 4 --out edgeworth',
    );
  });

  it('mase run warns on stderr that the Nash benchmark is no equilibrium, and why', () => {
    expect(r.code, r.stderr).toBe(0);
    const warnings = lines(r.stderr).filter((l) => l.startsWith('mase: warning: '));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^mase: warning: the nash benchmark is not an equilibrium, as no pure-strategy equilibrium was found \(best responses cycle \(an Edgeworth cycle\) from each of 4 starts, and every profile visited has a profitable deviation\): f1 earns 812\.499 there but 999\.99\d by deviating to \[34\.9999\d+\]\. The collusion index is null/,
      ),
    ]);
    // The summary table shows no collusion index.
    expect(lines(r.stdout)[2]).toMatch(/^bertrand_edgeworth-none\s+completed\s+4\s+—\s/);
  });

  it('records the check in the trace and metrics.json', () => {
    const benchmarks = jsonl<Event>('edgeworth/events.jsonl')[1];
    expect(benchmarks).toMatchObject({
      type: 'benchmarks',
      nash: { method: 'numeric', verified: false, exists: false, deviation: { firm: 'f1' } },
      collusive: { method: 'numeric', verified: true },
      competitive: { method: 'closed-form' },
    });
    expect(Object.keys((benchmarks?.competitive ?? {}) as object)).not.toContain('verified');
    const metrics = json<{ macro: Record<string, unknown> }>('edgeworth/metrics.json');
    expect(metrics.macro).toMatchObject({ collusion_index: null, benchmark_verified: false });
  });

  it('mase show marks the benchmark and repeats the warning', () => {
    const s = mase('show edgeworth');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^ {2}nash +1625\.00 {2}\(no pure equilibrium\)$/m);
    expect(s.stdout).toMatch(/^ {2}collusive +2025\.00$/m);
    expect(s.stdout).toMatch(/^ {2}warning: the nash benchmark is not an equilibrium/m);
  });
});

describe('show and verify on directories that are not finished runs', () => {
  it('mase show nope → exit 2, one line, not an internal error', () => {
    const r = mase('show nope');
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('nope');
    expect(r.stderr).not.toContain('E_INTERNAL');
  });

  it('mase verify nope → exit 1, one line', () => {
    const r = mase('verify nope');
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual(['cannot verify nope: no manifest.json']);
  });

  it('mase show on a run that failed (no metrics.json) → no internal error', () => {
    mase(`${GOVERNED} --agents nash --rounds 3 --out to-fail`);
    const manifest = json<Manifest>('to-fail/manifest.json');
    write('to-fail/manifest.json', JSON.stringify({ ...manifest, status: 'failed' }));
    rmSync(file('to-fail/metrics.json'));
    const r = mase('show to-fail');
    expect(r.code).not.toBe(3);
    expect(r.stderr).not.toContain('E_INTERNAL');
  });
});

describe('replays', () => {
  it('the same inputs run twice into two directories → byte-identical events.jsonl', () => {
    const command = `${GOVERNED} --agents qlearning --rounds 40 --seed 7`;
    expect(mase(`${command} --out replay-1`).code).toBe(0);
    expect(mase(`${command} --out replay-2`).code).toBe(0);
    const first = read('replay-1/events.jsonl');
    expect(read('replay-2/events.jsonl')).toBe(first);
    expect(json<Manifest>('replay-2/manifest.json').digest).toBe(
      json<Manifest>('replay-1/manifest.json').digest,
    );
    // Not vacuous: another seed plays differently.
    expect(mase(`${GOVERNED} --agents qlearning --rounds 40 --seed 8 --out replay-3`).code).toBe(0);
    const decisions = (text: string) => lines(text).filter((l) => l.includes('"type":"decision"'));
    expect(decisions(read('replay-3/events.jsonl'))).not.toEqual(decisions(first));
  });
});
