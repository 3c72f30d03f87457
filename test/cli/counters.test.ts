import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * Counters through the built CLI: declared per machine, changed by state effects (on entry
 * and each round) and by transitions, read in guards, fines and notices, written to the
 * trace and the governance log. The run is checked against the documented semantics
 * replayed by hand from the trace's market outcomes (below), not against the runtime's code.
 */

const sandbox = cliSandbox('counters');
const { mase, read, write } = sandbox;

const LADDER = `mase 1

institution ladder "Escalating fines, forgiven by compliant rounds" {
  scope per firm
  param schedule: list = [0.35, 0.75, 1.0] "share of profit fined at the k-th offence"
  param limit = 33 "output that counts as an offence"
  counter offences "offences, fading by a tenth in each round of good standing"
  counter credits = 0 "compliant rounds while fined"
  monitor high = any(quantity[self] > limit, over: product)
  initial state ok "In good standing" {
    each round decay offences 0.1
    when high -> fined then add offences 1
  }
  state fined "Fined" {
    notice "Offence {offences}: {schedule[offences] * 100}% of profit, at least 200."
    fine max(200, schedule[offences] * profit[self])
    each round add credits if high then 0 else 1
    when credits >= 2 -> ok restore then reset credits
  }
}

experiment ladder_run {
  market cournot
  institution ladder
  agents noisy_nash(noise: 0.3)
  rounds 40
  seed 3
}
`;

type Event = Record<string, unknown> & { type: string; round: number };
const events = (run: string): Event[] =>
  read(`${run}/events.jsonl`)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Event);

/** schedule[k]: from 1, a fraction rounded down, clamped to the list (docs/language.md, Lists). */
const at = (list: readonly number[], k: number) =>
  list[Math.min(list.length, Math.max(1, Math.floor(k))) - 1] as number;

beforeAll(() => {
  write('ladder.mase', LADDER);
});

describe('counters', () => {
  it('change as documented, and fines, notices and guards read them', () => {
    const run = mase(['run', 'ladder.mase', '--out', 'r']);
    expect(run.code, run.stderr).toBe(0);
    const trace = events('r');
    const firms = ['f1', 'f2'];
    const schedule = [0.35, 0.75, 1.0];
    // The semantics by hand: guards read counters as they were; then the old state's
    // each-round changes, the transition's, the new state's entry changes; then amounts.
    const expected = {
      counters: [] as unknown[],
      fines: [] as unknown[],
      notices: [] as unknown[],
    };
    const machine = firms.map(() => ({ state: 'ok', offences: 0, credits: 0 }));
    const record = (round: number, firm: string, counter: string, from: number, to: number) => {
      if (to !== from) expected.counters.push([round, firm, counter, from, to]);
    };
    for (const market of trace.filter((e) => e.type === 'market')) {
      const quantity = market.quantity as number[][];
      const profit = market.profit as number[];
      firms.forEach((firm, i) => {
        const m = machine[i] as (typeof machine)[number];
        const high = (quantity[i] as number[]).some((q) => q > 33);
        const r = market.round;
        if (m.state === 'ok') {
          const before = m.offences;
          m.offences *= 0.9;
          record(r, firm, 'offences', before, m.offences);
          if (high) {
            const from = m.offences;
            m.offences += 1;
            record(r, firm, 'offences', from, m.offences);
            m.state = 'fined';
            const share = at(schedule, m.offences);
            expected.fines.push([r, firm, Math.max(200, share * (profit[i] as number))]);
            expected.notices.push([r, firm, m.offences, share * 100]);
          }
        } else {
          const fire = m.credits >= 2;
          const before = m.credits;
          m.credits += high ? 0 : 1;
          record(r, firm, 'credits', before, m.credits);
          if (fire) {
            record(r, firm, 'credits', m.credits, 0);
            m.credits = 0;
            m.state = 'ok';
          }
        }
      });
    }
    const counters = trace
      .filter((e) => e.type === 'counter')
      .map((e) => [e.round, e.firm, e.counter, e.from, e.to]);
    expect(counters.length).toBeGreaterThan(10);
    expect(counters).toEqual(expected.counters);
    const fines = trace
      .filter((e) => e.type === 'sanction')
      .map((e) => [e.round, e.firm, e.amount as number]);
    expect(fines.length).toBeGreaterThan(2);
    expect(fines.map(([r, f]) => [r, f])).toEqual(
      expected.fines.map((x) => (x as unknown[]).slice(0, 2)),
    );
    fines.forEach((f, k) => {
      expect(f[2]).toBeCloseTo((expected.fines[k] as number[])[2] as number, 9);
    });
    // Offences decay between offences, so the schedule is read at fractional positions too.
    expect(new Set(expected.notices.map((n) => (n as number[])[3])).size).toBeGreaterThan(1);
    const notices = trace.filter((e) => e.type === 'notice');
    expect(notices.map((n) => n.text)).toEqual(
      expected.notices.map((n) => {
        const [, , offences, percent] = n as number[];
        const two = (x: number) => String(Math.round((x as number) * 100) / 100);
        return `Offence ${two(offences as number)}: ${two(percent as number)}% of profit, at least 200.`;
      }),
    );
    // The governance log holds every change, and verifies.
    const log = read('r/governance-log.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.filter((e) => e.kind === 'counter').length).toBe(counters.length);
    const verify = mase('verify r');
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('are a function of the inputs: the same run twice gives the same trace', () => {
    const again = mase(['run', 'ladder.mase', '--out', 'r2']);
    expect(again.code, again.stderr).toBe(0);
    expect(read('r2/events.jsonl')).toBe(read('r/events.jsonl'));
  });

  it('are shown in the manifest and the diagram, and fmt keeps them', () => {
    const manifest = mase('manifest ladder.mase');
    expect(manifest.code, manifest.stderr).toBe(0);
    expect(manifest.stdout).toContain('COUNTERS (each firm has its own');
    expect(manifest.stdout).toContain(
      'offences, starting at 0 — offences, fading by a tenth in each round of good standing',
    );
    expect(manifest.stdout).toContain('each round: decay offences 0.1');
    expect(manifest.stdout).toContain('(restoration), then reset credits');
    const draw = mase('draw ladder.mase -o ladder.dot');
    expect(draw.code, draw.stderr).toBe(0);
    const dot = read('ladder.dot');
    expect(dot).toContain('counters (start value)');
    // Edge labels are wrapped: compare with the line breaks taken out.
    expect(dot.replace(/\\n/g, ' ')).toContain('when high then add offences 1');
    const fmt = mase('fmt ladder.mase');
    expect(fmt.code, fmt.stderr).toBe(0);
    expect(fmt.stdout).toBe(LADDER);
  });

  it('a market-scoped counter is one for the market, logged without a firm', () => {
    write(
      'market.mase',
      `mase 1

institution tally "Rounds of high concentration, counted for the market" {
  scope market
  counter concentrated "rounds of high concentration"
  monitor high = mean(hhi) > 4000
  initial state open {
    when high -> watch then add concentrated 1
  }
  state watch {
    notice "Concentrated rounds so far: {concentrated}."
    after 1 round -> open
  }
}

experiment tally_run {
  market cournot
  institution tally
  agents nash
  rounds 4
}
`,
    );
    const run = mase(['run', 'market.mase', '--out', 'm']);
    expect(run.code, run.stderr).toBe(0);
    const trace = events('m');
    // HHI is 5000 every round: the market enters `watch` in rounds 1 and 3.
    expect(
      trace.filter((e) => e.type === 'counter').map((e) => [e.round, e.firm, e.from, e.to]),
    ).toEqual([
      [1, null, 0, 1],
      [3, null, 1, 2],
    ]);
    expect(trace.filter((e) => e.type === 'notice').map((e) => [e.round, e.firm, e.text])).toEqual([
      [1, 'f1', 'Concentrated rounds so far: 1.'],
      [1, 'f2', 'Concentrated rounds so far: 1.'],
      [3, 'f1', 'Concentrated rounds so far: 2.'],
      [3, 'f2', 'Concentrated rounds so far: 2.'],
    ]);
  });

  it('starting in the initial state is not an entry: its entry changes wait for one', () => {
    write(
      'start.mase',
      `mase 1

institution start "Entry effects of the initial state" {
  scope per firm
  counter entries "entries into ok"
  counter rounds_ok "rounds adjudicated in ok"
  monitor high = mean(hhi) > 4000
  initial state ok {
    add entries 1
    each round add rounds_ok 1
    when high -> away
  }
  state away {
    after 1 round -> ok
  }
}

experiment start_run {
  market cournot
  institution start
  agents nash
  rounds 3
}
`,
    );
    const run = mase(['run', 'start.mase', '--out', 's']);
    expect(run.code, run.stderr).toBe(0);
    // Round 1: in ok since the start (each round applies), leaves for away. Round 2: away
    // -> ok, an entry. Round 3: in ok again, leaves.
    expect(
      events('s')
        .filter((e) => e.type === 'counter' && e.firm === 'f1')
        .map((e) => [e.round, e.counter, e.timing, e.to]),
    ).toEqual([
      [1, 'rounds_ok', 'each_round', 1],
      [2, 'entries', 'entry', 1],
      [3, 'rounds_ok', 'each_round', 2],
    ]);
  });

  it('a change to an undeclared counter is a diagnostic at its name', () => {
    write('typo.mase', LADDER.replace('then add offences 1', 'then add ofences 1'));
    const check = mase('check typo.mase');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('typo.mase:12:33: error E_UNKNOWN_NAME no counter `ofences`');
    expect(check.stderr).toContain('did you mean `offences`?');
  });
});
