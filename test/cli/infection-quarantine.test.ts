import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';
import type { TraceLine } from '../support/trace-events.js';

/**
 * Institutions on messages in the text world they were made for: stdlib `infection` with
 * scripted `susceptible(p: 1, r: 0)` hosts on a complete network the institution may read.
 * `quarantine_canary` cuts each host that carried the canary out of the talk; a filter on
 * the canary keeps every infected message back, so only the host the world itself
 * infected is ever infected. The expectations come from the documented rules, applied to
 * the states the trace's payoff events record.
 */

const { mase, read, json, write, events } = cliSandbox('infection-quarantine');

const FILTER = `mase 1

institution canary_filter "Keeps back every message that carries the canary" {
  scope per host
  filter when mentions("CANARY") > 0 "carries the canary"
}
`;

const HOSTS = ['host1', 'host2', 'host3', 'host4', 'host5', 'host6'];

function run(institution: string, out: string): TraceLine[] {
  const r = mase([
    'run',
    ...(institution === 'canary_filter' ? ['filter.mase'] : []),
    ...['--environment', 'stdlib:infection', '--param', `hosts=${HOSTS.length}`],
    ...['--institution', institution, '--agents', 'susceptible(p: 1, r: 0)'],
    ...['--talk', 'complete(visible: true)', '--rounds', '5', '--out', out],
  ]);
  expect(r.stderr).toContain('status: completed');
  expect(r.code).toBe(0);
  return events(out);
}

const metricsOf = (out: string) =>
  json<{
    macro: Record<string, number | null>;
    agents: Record<string, { blocked_messages: number }>;
  }>(`${out}/metrics.json`);

beforeAll(() => {
  write('filter.mase', FILTER);
});

describe('quarantine_canary on stdlib:infection', () => {
  let events: TraceLine[] = [];
  beforeAll(() => {
    events = run('quarantine_canary', 'quarantine');
  });

  it('delivers nothing from or to a host in quarantine, and records every message kept back', () => {
    const quarantined = (round: number, host: string) =>
      events.some(
        (e) =>
          e.type === 'payoff' && e.round === round && e.firm === host && e.state === 'quarantined',
      );
    const expected = { reached: [] as unknown[], kept: [] as unknown[] };
    for (const m of events.filter((e) => e.type === 'message' && e.from !== 'world')) {
      const round = m.round as number;
      const from = String(m.from);
      const others = HOSTS.filter((h) => h !== from);
      if (quarantined(round, from)) {
        expected.reached.push([round, from, []]);
        expected.kept.push([round, from, others, from]);
        continue;
      }
      expected.reached.push([round, from, others.filter((h) => !quarantined(round, h))]);
      for (const h of others.filter((x) => quarantined(round, x)))
        expected.kept.push([round, from, [h], h]);
    }
    expect(
      events
        .filter((e) => e.type === 'message' && e.from !== 'world')
        .map((e) => [e.round, e.from, e.to]),
    ).toEqual(expected.reached);
    const kept = events.filter((e) => e.type === 'message_blocked');
    expect(kept.map((e) => [e.round, e.from, e.to, e.agent])).toEqual(expected.kept);
    // Every host is quarantined for a while: host1 after the round it first carried the
    // canary, the others after the round its message reached them.
    expect(kept.length).toBeGreaterThan(10);
    expect(new Set(kept.map((e) => e.cause))).toEqual(new Set(['quarantine']));
    const perHost = metricsOf('quarantine').agents;
    expect(HOSTS.reduce((n, h) => n + (perHost[h]?.blocked_messages ?? 0), 0)).toBe(kept.length);
  });

  it('verifies, and a rerun writes the same bytes', () => {
    const verify = mase(['verify', 'quarantine']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    run('quarantine_canary', 'quarantine-again');
    for (const file of ['events.jsonl', 'metrics.json'])
      expect(read(`quarantine-again/${file}`)).toBe(read(`quarantine/${file}`));
  });
});

describe('a canary filter on stdlib:infection', () => {
  it('keeps every carrying message back: only the host the world infected is infected', () => {
    const events = run('canary_filter', 'filtered');
    const kept = events.filter((e) => e.type === 'message_blocked');
    // host1 carries from the round after the injection on; nothing it says is delivered.
    expect(kept.map((e) => [e.round, e.from, e.cause, e.reason])).toEqual(
      [2, 3, 4, 5].map((round) => [round, 'host1', 'filter', 'carries the canary']),
    );
    for (const e of kept) expect(String(e.text)).toContain('CANARY');
    // Each kept-back message names the message event it belongs to: same sender, round, text.
    const messages = new Map(events.filter((e) => e.type === 'message').map((e) => [e.id, e]));
    for (const e of kept)
      expect(messages.get(e.id), String(e.id)).toMatchObject({
        from: e.from,
        round: e.round,
        text: e.text,
        to: [],
      });
    const metrics = metricsOf('filtered');
    expect(metrics.macro.infected_final).toBeCloseTo(1 / HOSTS.length, 12);
    expect(metrics.agents.host1?.blocked_messages).toBe(4);
    expect(mase(['verify', 'filtered']).code).toBe(0);
  });
});
