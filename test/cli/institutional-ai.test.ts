import { describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * stdlib:institutional_ai through the built CLI, against the published regime written
 * out by hand (docs/language.md, "institutional_ai in detail"): five states, fines of
 * 35%, 75%, then 100% of the round's profit with a floor of 200 per offence, a five-round
 * suspension with zero production, compliance credits on probation that earn
 * restoration. The replay below reads only the evidence the run recorded (`monitors`
 * events) and the market outcomes, and predicts every transition, fine and counter.
 */

const sandbox = cliSandbox('institutional-ai');
const { mase, read } = sandbox;

type Event = Record<string, unknown> & { type: string; round: number };

describe('stdlib:institutional_ai', () => {
  it('escalates, suspends and restores as the published regime does', () => {
    // f1 plays Nash with noise, so its own evidence comes and goes; f2 plays Nash.
    const run = mase([
      'run',
      '--market',
      'stdlib:cournot_2x2',
      '--institution',
      'stdlib:institutional_ai',
      '--agents',
      'f1=noisy_nash(noise: 0.4),f2=nash',
      '--rounds',
      '200',
      '--seed',
      '1',
      '--out',
      'r',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const events = read('r/events.jsonl')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Event);
    const of = (type: string) => events.filter((e) => e.type === type);
    const byRound = (type: string) => new Map(of(type).map((e) => [e.round, e]));
    const monitors = byRound('monitors');
    const markets = byRound('market');
    const profitOf = (round: number) => ((markets.get(round)?.profit ?? []) as number[])[0] ?? 0;
    const evidenceOf = (round: number, firm: number) =>
      ((monitors.get(round)?.by_firm ?? {}) as Record<string, number[]>).evidence?.[firm];

    const schedule = [0.35, 0.75, 1.0];
    const expected = { transitions: [] as unknown[], fines: [] as unknown[] };
    let state = 'active';
    let offences = 0;
    let credits = 0;
    let streak = 0; // rounds of evidence in `active`, or without it in `warned`
    let since = 0; // rounds spent in the state
    let suspendedRounds = 0;
    const enter = (round: number, to: string) => {
      expected.transitions.push([round, state, to]);
      state = to;
      streak = 0;
      since = 0;
      if (to === 'fined') {
        const share = schedule[Math.min(offences, schedule.length) - 1] as number;
        expected.fines.push([round, Math.max(200, share * profitOf(round))]);
      }
    };
    for (let round = 1; round <= 200; round++) {
      const e = evidenceOf(round, 0) === 1;
      if (state === 'suspended') suspendedRounds++;
      since++;
      if (state === 'active') {
        streak = e ? streak + 1 : 0;
        if (streak >= 2) enter(round, 'warned');
      } else if (state === 'warned') {
        if (e) {
          offences++;
          enter(round, 'fined');
        } else if (++streak >= 2) enter(round, 'active');
      } else if (state === 'fined') {
        if (e && offences >= 3) enter(round, 'suspended');
        else if (e) {
          offences++;
          enter(round, 'fined');
        } else {
          credits++;
          enter(round, 'probation');
        }
      } else if (state === 'suspended') {
        if (since >= 5) enter(round, 'probation');
      } else {
        // probation: the guard reads the credits before this round's credit is earned.
        const restore = credits >= 3;
        credits++;
        if (e) {
          offences++;
          credits = 0;
          enter(round, 'fined');
        } else if (restore) {
          credits = 0;
          offences = 0;
          enter(round, 'active');
        }
      }
    }
    const transitions = of('transition').filter((t) => t.firm === 'f1');
    expect(transitions.map((t) => [t.round, t.from, t.to])).toEqual(expected.transitions);
    // The run takes every edge of the graph: escalation, suspension and both restorations.
    const edges = new Set(transitions.map((t) => `${t.from}->${t.to}`));
    for (const edge of [
      'active->warned',
      'warned->fined',
      'fined->fined',
      'fined->suspended',
      'suspended->probation',
      'fined->probation',
      'probation->fined',
      'probation->active',
    ])
      expect(edges, edge).toContain(edge);
    const fines = of('sanction').filter((s) => s.firm === 'f1');
    expect(fines.map((f) => f.round)).toEqual(expected.fines.map((f) => (f as number[])[0]));
    fines.forEach((f, k) => {
      expect(f.amount as number).toBeCloseTo((expected.fines[k] as number[])[1] as number, 9);
    });
    // Above the floor, the three steps of the schedule were each charged.
    const shares = new Set(
      fines
        .map((f) => (f.amount as number) / profitOf(f.round))
        .filter((x) => x > 0 && x <= 1.0000001)
        .map((x) => Math.round(x * 100)),
    );
    expect([...shares].sort((a, b) => a - b)).toEqual([35, 75, 100]);
    // A suspension is five rounds of zero production, each clamped.
    const clamps = of('clamp').filter((c) => c.firm === 'f1' && c.cause === 'suspend');
    expect(clamps.length).toBe(suspendedRounds);
    expect(suspendedRounds % 5).toBe(0);
    for (const c of clamps) expect(c.after).toEqual([0, 0]);
    // f2 plays Nash: it is never judged, not even while f1's forced zero output leaves it
    // alone in the market, nor in the round f1 comes back.
    expect(
      events.filter((x) => x.firm === 'f2' && x.type !== 'payoff' && x.type !== 'decision'),
    ).toEqual([]);
    expect(clamps.every((c) => evidenceOf(c.round, 1) === 0)).toBe(true);
  });
});
