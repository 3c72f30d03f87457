import { readdirSync, rmSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox, messageLines } from '../support/cli.js';

/**
 * `mase run --environment` end to end through the built binary (`npm test` builds `dist/`
 * first): the stdlib environments run, their run directories show and verify, and every
 * bad input is one line on stderr, exit 2, with nothing written. `runCli` also fails the
 * test on any JavaScript stack trace.
 */

const sandbox = cliSandbox('environment');
const { mase, file, read, json, write } = sandbox;

interface Metrics {
  run: { environment: string; institution: string; agents: string[]; rounds_played: number };
  macro: Record<string, number | null>;
  agents: Record<string, { payoff: number; payoff_before_fines: number; fines: number }>;
}

const COMMONS = 'run --environment stdlib:commons --agents sustainable --rounds 5';

// An experiment that pairs commons with its own institution; `--institution` may replace it.
const FISHING = `mase 1

experiment fishing {
  environment commons
  institution harvest_quota
  agents sustainable
  rounds 3
}
`;

// Bounds that no action fits: the checker reports them where they are single numbers.
const UPSIDE_DOWN = `mase 1

environment upside_down "Bounds the wrong way round" {
  param players = 2 "players"
  agents player = players
  action effort in [2, 1]
  payoff = effort
}
`;

beforeAll(() => {
  write('fishing.mase', FISHING);
  write('upside-down.mase', UPSIDE_DOWN);
});

describe('mase run --environment stdlib:commons', () => {
  it('sustainable fishers: exit 0, the declared metrics and each fisher’s payoff', () => {
    const r = mase(`${COMMONS} --out commons`);
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('commons/metrics.json');
    expect(m.run.environment).toBe('commons');
    expect(m.run.rounds_played).toBe(5);
    expect(Object.keys(m.macro).sort()).toEqual([
      'efficiency',
      'equality',
      'overuse_rate',
      'survival_rounds',
    ]);
    // Each of 5 fishers takes 100·(1 − 1/2)/5 = 10 a round; the stock regrows to 100.
    expect(m.macro).toEqual({ survival_rounds: 5, efficiency: 1, equality: 1, overuse_rate: 0 });
    expect(m.run.agents).toEqual(['fisher1', 'fisher2', 'fisher3', 'fisher4', 'fisher5']);
    for (const name of m.run.agents) expect(m.agents[name]?.payoff).toBe(50);
  });

  it('mase show and mase verify read its run directory', () => {
    const show = mase('show commons');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('environment commons');
    expect(show.stdout).toMatch(/macro\.survival_rounds\s+5\.000/);
    expect(show.stdout).toContain('fisher5: payoff 50.00');
    const verify = mase('verify commons');
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^intact/);
  });

  // Once an internal error (the market report writer read market-only fields).
  it('mase report redraws its report.html from metrics.json', () => {
    rmSync(file('commons/report.html'));
    const report = mase('report commons');
    expect(report.code, report.stderr).toBe(0);
    const page = read('commons/report.html');
    expect(page).toContain('macro.survival_rounds');
    expect(page).toContain('fisher5');
  });

  it('--institution harvest_quota fines the fisher who asks for more than its quota', () => {
    const r = mase([
      ...'run --environment stdlib:commons --institution harvest_quota --rounds 6 --out quota'.split(
        ' ',
      ),
      '--agents',
      'fisher1=constant(15),fisher2=sustainable,fisher3=sustainable,fisher4=sustainable,fisher5=sustainable',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('quota/metrics.json');
    expect(m.run.institution).toBe('harvest_quota');
    // Over quota in round 1 (warned), again in round 2 (fined): fisher1 pays, no one else does.
    expect(m.agents.fisher1?.fines).toBeGreaterThan(0);
    for (const name of ['fisher2', 'fisher3', 'fisher4', 'fisher5'])
      expect(m.agents[name]?.fines).toBe(0);
    const f1 = m.agents.fisher1;
    expect(f1?.payoff).toBeCloseTo((f1?.payoff_before_fines ?? 0) - (f1?.fines ?? 0), 9);
  });
});

describe('mase run --environment stdlib:minimum_effort', () => {
  it('best responders start at the payoff-dominant level and stay there', () => {
    const r = mase(
      'run --environment stdlib:minimum_effort --agents best_response --rounds 4 --out effort',
    );
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('effort/metrics.json');
    expect(Object.keys(m.macro).sort()).toEqual([
      'convergence_round',
      'coordination_failure',
      'efficiency_loss',
      'min_effort',
    ]);
    expect(m.macro.min_effort).toBe(7);
    expect(m.macro.coordination_failure).toBe(0);
    // The minimum is 7 from round 1 on: it never changed after the first round.
    expect(m.macro.convergence_round).toBe(1);
    // 0.6 + 0.2·7 − 0.1·7 = 1.3 a round for each of 4 players.
    for (const name of m.run.agents) expect(m.agents[name]?.payoff).toBeCloseTo(4 * 1.3, 9);
  });

  it('a metric that rounds to zero prints as 0.000, never -0.000', () => {
    // With c = 0.3 everyone at level 7 earns 0.6 + 1.4 − 2.1 = −0.1: the efficiency loss is
    // 0 up to rounding, and came out as −2e-15.
    const r = mase(
      'run --environment stdlib:minimum_effort --agents constant(7) --param c=0.3 --rounds 3 --out costly',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('-0.000');
    expect(mase('show costly').stdout).not.toContain('-0.000');
    expect(read('costly/report.html')).not.toContain('-0.000');
  });
});

describe('mase run --environment stdlib:auction', () => {
  it('truthful bidders in a second-price auction: the macro metrics, revenue_ratio exactly 1', () => {
    const r = mase(
      'run --environment stdlib:auction --agents truthful --param payment=second --param bidders=4 --rounds 8 --seed 3 --out auction',
    );
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('auction/metrics.json');
    expect(m.run.environment).toBe('auction');
    expect(m.run.agents).toEqual(['bidder1', 'bidder2', 'bidder3', 'bidder4']);
    expect(Object.keys(m.macro).sort()).toEqual([
      'revenue',
      'revenue_ratio',
      'rotation_index',
      'shading',
    ]);
    expect(m.macro.revenue_ratio).toBe(1);
    expect(m.macro.revenue).toBeGreaterThan(0);
    expect(r.stdout).toContain('revenue_ratio');
    // The same command again draws the same values: the same metrics, byte for byte.
    expect(
      mase(
        'run --environment stdlib:auction --agents truthful --param payment=second --param bidders=4 --rounds 8 --seed 3 --out again',
      ).code,
    ).toBe(0);
    expect(read('again/metrics.json')).toBe(read('auction/metrics.json'));
  });
});

describe('mase run --environment stdlib:auction --param payment=…', () => {
  /** Each round's drawn values, from the run's trace. */
  const drawn = (run: string) =>
    read(`${run}/events.jsonl`)
      .split('\n')
      .filter((line) => line.includes('"type":"environment"'))
      .map((line) => (JSON.parse(line) as { values: { value: number[] } }).values.value);
  const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => b - a);

  it('first price takes the highest values, second price the second-highest, on the same draws', () => {
    const base = 'run --environment stdlib:auction --agents truthful --rounds 4 --seed 3';
    for (const [out, payment] of [
      ['pay-first', 'payment=first'],
      // JSON quotes are read as the string itself, as for any string parameter.
      ['pay-second', 'payment="second"'],
    ]) {
      const r = mase([...base.split(' '), '--param', payment as string, '--out', out as string]);
      expect(r.code, r.stderr).toBe(0);
    }
    const values = drawn('pay-first');
    expect(values).toHaveLength(4);
    expect(drawn('pay-second')).toEqual(values);
    // Truthful bidders bid their values: the winner pays the top value or the runner-up's.
    const highest = values.reduce((s, v) => s + (sorted(v)[0] ?? 0), 0);
    const runnerUp = values.reduce((s, v) => s + (sorted(v)[1] ?? 0), 0);
    const first = json<Metrics>('pay-first/metrics.json').macro;
    const second = json<Metrics>('pay-second/metrics.json').macro;
    expect(first.revenue).toBeCloseTo(highest, 9);
    expect(second.revenue).toBeCloseTo(runnerUp, 9);
    expect(second.revenue_ratio).toBe(1);
    expect(first.revenue).toBeGreaterThan(second.revenue ?? Number.POSITIVE_INFINITY);
    // The run's manifest records the option as written, not its index.
    expect(read('pay-second/manifest.json')).toContain('"payment":"second"');
  });
});

describe('bad input: exit 2, one line, nothing written', () => {
  it.each([
    [
      '--market and --environment together',
      `run --market stdlib:cournot --environment stdlib:commons --agents sustainable --out both`,
      '--market or --environment',
    ],
    [
      'an unknown stdlib environment',
      'run --environment stdlib:nope --agents sustainable --out nope',
      'nope',
    ],
    [
      'an unknown policy',
      'run --environment stdlib:commons --agents nonsense --out nonsense',
      '`nonsense`',
    ],
    ['no fishers', `${COMMONS} --param fishers=0 --out no-fishers`, 'fishers'],
    [
      'a payment that is not one of the options',
      'run --environment stdlib:auction --agents truthful --param payment=third --out third',
      '--param payment: expected one of "first", "second", found "third"',
    ],
    [
      'a payment given as a number',
      'run --environment stdlib:auction --agents truthful --param payment=1 --out one',
      '--param payment: expected one of "first", "second", found 1',
    ],
    ['a growth that is not a number', `${COMMONS} --param growth=abc --out abc`, 'growth'],
    [
      'a market institution (scope per firm, reads quantity) on commons',
      `${COMMONS} --institution governance_graph --out graph`,
      'governance_graph',
    ],
    [
      'the commons institution on a market',
      'run --market stdlib:cournot --institution harvest_quota --agents nash --out quota-market',
      'harvest_quota',
    ],
    [
      'the commons institution on minimum_effort',
      'run --environment stdlib:minimum_effort --institution harvest_quota --agents random --out quota-effort',
      'harvest_quota',
    ],
    [
      'an experiment file whose institution --institution replaces with a market one',
      'run fishing.mase --institution governance_graph --out fishing-graph',
      'governance_graph',
    ],
    [
      'a parameter that turns the action bounds the wrong way round',
      'run --environment stdlib:commons --param capacity=-5 --agents sustainable --out upside-down',
      '--param capacity: E_VALUE the lower bound of `harvest` (0) is above its upper bound (-5)',
    ],
  ])('%s', (_what, command, mentions) => {
    const before = new Set(readdirSync(sandbox.dir));
    const r = mase(command);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const message = messageLines(r.stderr);
    expect(message).toHaveLength(1);
    expect(message[0]).toMatch(/^mase: /);
    expect(message[0]).toContain(mentions);
    expect(message[0]).not.toContain('E_INTERNAL');
    expect(readdirSync(sandbox.dir).filter((entry) => !before.has(entry))).toEqual([]);
  });

  it('a market institution on commons names the observable commons lacks', () => {
    const r = mase(`${COMMONS} --institution governance_graph --out graph-message`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('commons');
    expect(r.stderr).toContain('`quantity`');
  });
});

describe('the stdlib institutions of minimum_effort and auction', () => {
  it('effort_standard warns, then fines 0.15 per level short, only the player below the highest effort', () => {
    const r = mase([
      ...'run --environment stdlib:minimum_effort --institution effort_standard --rounds 5 --out standard'.split(
        ' ',
      ),
      '--agents',
      'player1=constant(3),player2=constant(7),player3=constant(7),player4=constant(7)',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('standard/metrics.json');
    // Round 1 warned; fined on entry in round 2 and each round after: 4 × 0.15 × (7 − 3).
    expect(m.agents.player1?.fines).toBeCloseTo(4 * 0.6, 9);
    // Before fines, 0.6 + 0.2 · 3 − 0.1 · 3 = 0.9 a round; the others 0.6 + 0.6 − 0.7 = 0.5.
    expect(m.agents.player1?.payoff).toBeCloseTo(5 * 0.9 - 2.4, 9);
    for (const name of ['player2', 'player3', 'player4']) {
      expect(m.agents[name]?.fines).toBe(0);
      expect(m.agents[name]?.payoff).toBeCloseTo(5 * 0.5, 9);
    }
  });

  it('bid_audit leaves competitive shading alone and fines half the value a suppressed bid hides', () => {
    const agents = 'bidder1=shade(0.4),bidder2=shade(0.6667),bidder3=truthful';
    const r = mase([
      ...'run --environment stdlib:auction --institution bid_audit --rounds 6 --seed 3 --out audit'.split(
        ' ',
      ),
      '--agents',
      agents,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const m = json<Metrics>('audit/metrics.json');
    expect(m.agents.bidder2?.fines).toBe(0);
    expect(m.agents.bidder3?.fines).toBe(0);
    const events = read('audit/events.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const values = new Map<number, number[]>();
    for (const e of events) if (e.type === 'environment') values.set(e.round, e.values.value);
    const fines = events.filter((e) => e.type === 'sanction' && e.firm === 'bidder1');
    expect(fines.length).toBeGreaterThan(0);
    // Each fine is 0.5 × (value − 0.4 · value) of bidder1's value that round.
    for (const f of fines) expect(f.amount).toBeCloseTo(0.3 * (values.get(f.round)?.[0] ?? 0), 9);
    expect(m.agents.bidder1?.fines).toBeCloseTo(
      fines.reduce((t: number, f: { amount: number }) => t + f.amount, 0),
      9,
    );
    // Excluded after two more flagged rounds: its bid is clamped to 0.
    expect(
      events.some((e) => e.type === 'clamp' && e.firm === 'bidder1' && e.cause === 'suspend'),
    ).toBe(true);
  });
});

describe('an institution beside its own environment', () => {
  // Once checked against the stdlib's minimum_effort, the first environment with `player`s.
  it('`scope per player` is checked against the environment of its own file', () => {
    write(
      'pledge.mase',
      `mase 1

environment giving "Players give" {
  param players = 3 "players"
  agents player = players
  action gift in [0, 10]
  payoff = sum(gift, over: player) / players - gift
}

institution pledge "Give at least 5" {
  scope per player
  monitor low = gift[self] < 5
  initial state ok "In good standing" { when low -> warned }
  state warned "Warned" { notice "give at least 5"  when not low -> ok }
}
`,
    );
    const check = mase('check pledge.mase');
    expect(check.stderr).toBe('pledge.mase: no problems\n');
    expect(check.code).toBe(0);
  });
});

describe('bad sources: exit 1, the diagnostic, nothing written', () => {
  it('action bounds the wrong way round are E_VALUE at the declaration', () => {
    const before = new Set(readdirSync(sandbox.dir));
    const r = mase('run --environment upside-down.mase --agents constant(1) --out upside-down');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(
      'error E_VALUE the lower bound of `effort` (2) is above its upper bound (1)',
    );
    expect(r.stderr).not.toContain('    at ');
    expect(readdirSync(sandbox.dir).filter((entry) => !before.has(entry))).toEqual([]);
  });
});
