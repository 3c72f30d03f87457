import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * Live notices through the built CLI: `{…}` in a notice is a value read when the notice is
 * given (after the transition, as sanction amounts are), written into the trace's notice
 * and so into what an LLM firm is told. Once, the braces were shown as written.
 */

const sandbox = cliSandbox('notices');
const { mase, read, write } = sandbox;

const LIVE = `mase 1

institution owe "Fines with live notices" {
  scope per firm
  param rate = 0.5 "share of profit fined"
  monitor high = any(quantity[self] > 30, over: product)
  initial state ok "Fine" {
    when high -> fined
  }
  state fined "Fined" {
    notice "You are fined {rate * profit[self]} this round ({{rate}} = {rate}); over 30: {high}."
    fine rate * profit[self]
    when not high -> ok
  }
}

experiment live {
  market cournot
  institution owe
  agents nash
  rounds 3
}
`;

beforeAll(() => {
  write('live.mase', LIVE);
});

describe('live notices', () => {
  it('write the values of the round into the notice each firm is given', () => {
    const run = mase(['run', 'live.mase', '--agents', 'f1=constant(40),f2=nash', '--out', 'r']);
    expect(run.code, run.stderr).toBe(0);
    const events = read('r/events.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const notices = events.filter((e) => e.type === 'notice');
    expect(notices.map((n) => [n.round, n.firm])).toEqual([[1, 'f1']]);
    // The fine of the same round is 0.5 × f1's profit; the notice shows it to 2 decimals.
    const market = events.find((e) => e.type === 'market' && e.round === 1);
    const fine = events.find((e) => e.type === 'sanction' && e.round === 1);
    expect(fine.amount).toBeCloseTo(0.5 * market.profit[0], 9);
    const shown = String(Math.round(fine.amount * 100) / 100);
    expect(notices[0].text).toBe(`You are fined ${shown} this round ({rate} = 0.5); over 30: yes.`);
  });

  it('a notice with braces but no value shows each doubled brace once', () => {
    write(
      'plain.mase',
      LIVE.replace(/notice "[^"]*"/, 'notice "Keep output in {{20, 30}}; the rate is {{rate}}."'),
    );
    const run = mase(['run', 'plain.mase', '--agents', 'f1=constant(40),f2=nash', '--out', 'p']);
    expect(run.code, run.stderr).toBe(0);
    const notices = read('p/events.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'notice');
    expect(notices.map((n) => n.text)).toEqual(['Keep output in {20, 30}; the rate is {rate}.']);
  });

  it('each round notice: told in every round that ends in the state, with rounds_in_state as completed', () => {
    write(
      'left.mase',
      `mase 1

institution told "Rounds left in a suspension" {
  scope per firm
  param suspension_rounds = 3 "rounds a suspension lasts"
  monitor high = any(quantity[self] > 30, over: product)
  initial state ok {
    when high -> suspended
  }
  state suspended {
    notice "Suspended for {suspension_rounds} rounds (now {rounds_in_state})."
    each round notice "Round {rounds_in_state} of the suspension; {suspension_rounds - rounds_in_state} left."
    each round fine 10 * rounds_in_state
    suspend
    after suspension_rounds rounds -> ok
  }
}

experiment left {
  market cournot
  institution told
  agents f1 = constant(40), f2 = nash
  rounds 6
}
`,
    );
    const run = mase(['run', 'left.mase', '--out', 'left']);
    expect(run.code, run.stderr).toBe(0);
    const events = read('left/events.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Suspended after round 1, for rounds 2–4; left after round 4; suspended again after 5.
    expect(events.filter((e) => e.type === 'notice').map((n) => [n.round, n.firm, n.text])).toEqual(
      [
        [1, 'f1', 'Suspended for 3 rounds (now 0).'],
        [2, 'f1', 'Round 1 of the suspension; 2 left.'],
        [3, 'f1', 'Round 2 of the suspension; 1 left.'],
        [5, 'f1', 'Suspended for 3 rounds (now 0).'],
        [6, 'f1', 'Round 1 of the suspension; 2 left.'],
      ],
    );
    // Each-round fines read the same count; in the round the state is left they read the
    // state entered, whose count is 0 (amounts read the record after the transition).
    expect(events.filter((e) => e.type === 'sanction').map((s) => [s.round, s.amount])).toEqual([
      [2, 10],
      [3, 20],
      [4, 0],
      [6, 10],
    ]);
  });

  it('a value that names nothing is a diagnostic where it stands in the string', () => {
    write('bad.mase', LIVE.replace('{rate * profit[self]}', '{rate * proft[self]}'));
    const check = mase('check bad.mase');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('bad.mase:11:35: error E_UNKNOWN_OBSERVABLE');
  });
});
