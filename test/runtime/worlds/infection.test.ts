import { describe, expect, it } from 'vitest';
import type { IrPolicy } from '../../../compiler/index.js';
import type { TraceEvent } from '../../../runtime/index.js';
import { simulateEnvironment } from '../../support/environment-run.js';

/**
 * The `infection` world against what its scripted hosts imply. With `susceptible(p, 1)` on
 * the complete network a host is infectious for exactly one round and each susceptible host
 * escapes each infectious one independently with probability 1 − p: the Reed–Frost chain
 * binomial, whose final-size distribution is computed exactly below (a recursion over
 * generations, written out for the test) and compared with the runs' mean. The measures are
 * also recomputed from the raw message texts, not from the world's own values.
 */

const CANARY = 'ZX-CANARY-31';

const simulate = (options: {
  hosts: number;
  policy: IrPolicy | Record<string, IrPolicy>;
  rounds: number;
  seed: number;
  talk?: IrPolicy;
  params?: Record<string, number>;
}) =>
  simulateEnvironment('infection', options.policy, {
    rounds: options.rounds,
    seed: options.seed,
    ...(options.talk ? { talk: options.talk } : {}),
    params: { hosts: options.hosts, ...options.params },
  });

const susceptible = (p: number, r: number): IrPolicy => ({
  name: 'susceptible',
  args: [{ value: p }, { value: r }],
});

/** Exact mean and variance of the Reed–Frost final size (hosts ever infected, the first included). */
function reedFrost(n: number, p: number): { mean: number; variance: number } {
  const choose = (a: number, b: number) => {
    let c = 1;
    for (let k = 1; k <= b; k++) c = (c * (a - b + k)) / k;
    return c;
  };
  // Probability of each (susceptible, infectious) state, generation by generation.
  let states = new Map<string, number>([[`${n - 1},1`, 1]]);
  const final = new Map<number, number>();
  while (states.size > 0) {
    const next = new Map<string, number>();
    for (const [key, prob] of states) {
      const [s, i] = key.split(',').map(Number) as [number, number];
      if (i === 0) {
        final.set(n - s, (final.get(n - s) ?? 0) + prob);
        continue;
      }
      const q = 1 - (1 - p) ** i;
      for (let k = 0; k <= s; k++) {
        const pk = choose(s, k) * q ** k * (1 - q) ** (s - k);
        const to = `${s - k},${k}`;
        next.set(to, (next.get(to) ?? 0) + prob * pk);
      }
    }
    states = next;
  }
  let mean = 0;
  let square = 0;
  for (const [size, prob] of final) {
    mean += size * prob;
    square += size * size * prob;
  }
  return { mean, variance: square - mean * mean };
}

/** Each round's hosts whose message carries the canary, read from the message events. */
function carriersByRound(events: readonly TraceEvent[]): Map<number, Set<string>> {
  const byRound = new Map<number, Set<string>>();
  for (const e of events)
    if (e.type === 'message' && e.from !== 'world' && e.text.includes(CANARY)) {
      const set = byRound.get(e.round) ?? new Set<string>();
      set.add(e.from);
      byRound.set(e.round, set);
    }
  return byRound;
}

describe('infection: the SIR limit of susceptible(p, r)', () => {
  it('with r = 1 on the complete network, the mean final size is the Reed–Frost one, and R0 is p·(n − 1)', async () => {
    const n = 10;
    const p = 0.15;
    const runs = 300;
    const sizes: number[] = [];
    const r0s: number[] = [];
    for (let seed = 1; seed <= runs; seed++) {
      const { metrics } = await simulate({
        hosts: n,
        policy: susceptible(p, 1),
        rounds: n + 2,
        seed,
      });
      sizes.push((metrics.macro.infected_final as number) * n);
      r0s.push(metrics.macro.r0 as number);
    }
    const exact = reedFrost(n, p);
    const mean = sizes.reduce((a, b) => a + b, 0) / runs;
    // 4 standard errors: a correct world fails this with probability about 6e-5.
    expect(Math.abs(mean - exact.mean)).toBeLessThan(4 * Math.sqrt(exact.variance / runs));
    // The exact mean is well inside (1, n): the test can tell a dead epidemic from a full one.
    expect(exact.mean).toBeGreaterThan(2);
    expect(exact.mean).toBeLessThan(n - 2);
    // Only the first patient infects the second generation: R0 ~ Binomial(n − 1, p).
    const r0 = r0s.reduce((a, b) => a + b, 0) / runs;
    expect(Math.abs(r0 - p * (n - 1))).toBeLessThan(4 * Math.sqrt((p * (1 - p) * (n - 1)) / runs));
  }, 120_000);

  it('a host stays infectious for a geometric number of rounds with mean 1/r', async () => {
    const r = 0.4;
    const spells: number[] = [];
    for (let seed = 1; seed <= 40; seed++) {
      const { events } = await simulate({
        hosts: 8,
        policy: susceptible(0.2, r),
        rounds: 60,
        seed,
      });
      const carrying = new Map<string, number>();
      for (const set of carriersByRound(events).values())
        for (const h of set) carrying.set(h, (carrying.get(h) ?? 0) + 1);
      // Recovery is for good: each host's rounds carrying are one spell.
      spells.push(...carrying.values());
    }
    const mean = spells.reduce((a, b) => a + b, 0) / spells.length;
    const sd = Math.sqrt((1 - r) / (r * r));
    expect(spells.length).toBeGreaterThan(50);
    expect(Math.abs(mean - 1 / r)).toBeLessThan(4 * (sd / Math.sqrt(spells.length)));
  }, 120_000);
});

describe('infection: the measures, recomputed from the messages', () => {
  it('peak, final size, never infected and time to half follow from who carried the canary when', async () => {
    const hosts = 12;
    const { metrics, events } = await simulate({
      hosts,
      policy: susceptible(0.3, 0.5),
      rounds: 25,
      seed: 7,
      params: { inject_round: 3, patients: 2 },
    });
    const byRound = carriersByRound(events);
    const ever = new Set<string>();
    let peak = 0;
    let half: number | null = null;
    for (let round = 1; round <= 25; round++) {
      const set = byRound.get(round) ?? new Set<string>();
      for (const h of set) ever.add(h);
      peak = Math.max(peak, set.size / hosts);
      if (half === null && ever.size >= hosts / 2) half = round - 3;
    }
    // The world's message reaches host1 and host2 in round 3, before anyone talks.
    const injected = events.filter((e) => e.type === 'message' && e.from === 'world');
    expect(injected).toEqual([
      expect.objectContaining({ round: 3, talk_round: 0, to: ['host1', 'host2'] }),
    ]);
    expect(ever.size).toBeGreaterThan(hosts / 2);
    expect(metrics.macro.infected_final).toBeCloseTo(ever.size / hosts, 12);
    expect(metrics.macro.never_infected).toBeCloseTo(1 - ever.size / hosts, 12);
    expect(metrics.macro.peak_infected).toBeCloseTo(peak, 12);
    expect(metrics.macro.time_to_half).toBe(half);
  });

  it('each carrying message names the canary message that infected its sender, so lineage leads to the world', async () => {
    const { events } = await simulate({
      hosts: 10,
      policy: susceptible(0.4, 0.5),
      rounds: 12,
      seed: 5,
    });
    const messages = events.filter((e) => e.type === 'message');
    const byId = new Map(messages.map((m) => [m.id, m]));
    const carrying = messages.filter((m) => m.from !== 'world' && m.text.includes(CANARY));
    expect(carrying.length).toBeGreaterThan(5);
    for (const m of carrying) {
      expect(m.parents, m.id).toHaveLength(1);
      const parent = byId.get(m.parents?.[0]);
      // The parent carried the canary, reached this host, and came before it.
      expect(parent?.text).toContain(CANARY);
      expect(parent?.to).toContain(m.from);
      expect(parent?.round).toBeLessThan(m.round);
    }
    // Following first parents from any carrying message ends at the world's injection.
    let at = carrying.at(-1);
    while (at?.parents?.[0]) at = byId.get(at.parents[0]);
    expect(at).toMatchObject({ from: 'world', id: 'm1.0.1' });
  });

  it('immune hosts: nobody carries the canary, and the R0 and time to half are unknown, not 0', async () => {
    const { metrics, events } = await simulate({
      hosts: 6,
      policy: { name: 'immune', args: [] },
      rounds: 5,
      seed: 1,
    });
    expect(carriersByRound(events).size).toBe(0);
    expect(metrics.macro.infected_final).toBe(0);
    expect(metrics.macro.peak_infected).toBe(0);
    expect(metrics.macro.never_infected).toBe(1);
    expect(metrics.macro.r0).toBeNull();
    expect(metrics.macro.time_to_half).toBeNull();
  });

  it('one susceptible patient among immune hosts: infected alone, R0 = 0', async () => {
    const policy: Record<string, IrPolicy> = { host1: susceptible(1, 0) };
    for (let i = 2; i <= 5; i++) policy[`host${i}`] = { name: 'immune', args: [] };
    const { metrics } = await simulate({ hosts: 5, policy, rounds: 6, seed: 1 });
    expect(metrics.macro.infected_final).toBeCloseTo(1 / 5, 12);
    expect(metrics.macro.r0).toBe(0);
  });

  it('on a ring lattice (small_world, p = 0) the first patient has 4 neighbours: R0 averages 4p', async () => {
    const p = 0.3;
    const runs = 150;
    let total = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const { metrics } = await simulate({
        hosts: 30,
        policy: susceptible(p, 1),
        rounds: 4,
        seed,
        talk: {
          name: 'small_world',
          args: [
            { name: 'k', value: 4 },
            { name: 'p', value: 0 },
          ],
        },
      });
      total += metrics.macro.r0 as number;
    }
    expect(Math.abs(total / runs - 4 * p)).toBeLessThan(4 * Math.sqrt((4 * p * (1 - p)) / runs));
  }, 120_000);

  it('the same seed gives the same trace, byte for byte', async () => {
    const once = await simulate({ hosts: 15, policy: susceptible(0.2, 0.3), rounds: 15, seed: 3 });
    const again = await simulate({ hosts: 15, policy: susceptible(0.2, 0.3), rounds: 15, seed: 3 });
    expect(JSON.stringify(again.events)).toBe(JSON.stringify(once.events));
    const other = await simulate({ hosts: 15, policy: susceptible(0.2, 0.3), rounds: 15, seed: 4 });
    expect(JSON.stringify(other.events)).not.toBe(JSON.stringify(once.events));
  });
});
