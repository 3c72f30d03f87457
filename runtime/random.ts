import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus, xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { Random } from './agents/agent.js';

/** A random stream whose position can be saved in a checkpoint and set again (docs/checkpoints.md). */
export interface SavableRandom extends Random {
  /** Where the stream is: the generators' states (plain numbers). */
  save(): number[][];
  /** Puts the stream where `save` found it. */
  restore(state: readonly (readonly number[])[]): void;
}

/**
 * Where a run's random streams come from: its seed, or, for a fork continued under another
 * seed (docs/checkpoints.md), the run's seed up to the fork's round and the fork's seed
 * after it. `round` is the run's current round.
 */
export type Seed =
  | number
  | {
      readonly seed: number;
      readonly fork: { readonly after: number; readonly seed: number };
      readonly round: () => number;
    };

/** The seed in force now (what a model call is given). */
export function seedNow(seed: Seed): number {
  return typeof seed === 'number'
    ? seed
    : seed.round() > seed.fork.after
      ? seed.fork.seed
      : seed.seed;
}

function stream(seed: number, name: string): SavableRandom {
  const digest = createHash('sha256').update(`${seed}:${name}`).digest();
  let rng = xoroshiro128plus(digest.readInt32LE(0));
  return {
    next: () => uniformFloat64(rng),
    save: () => [[...rng.getState()]],
    restore: ([state]) => {
      if (!state) throw new Error('a random stream restored from nothing');
      rng = xoroshiro128plusFromState(state);
    },
  };
}

/**
 * A seeded random stream. Each consumer (an agent, the monitor noise, the horizon) has
 * its own stream derived from the run's seed and a name, so adding a random draw in one
 * place never shifts the draws of another: runs stay replayable as the code grows. After a
 * fork's round, the stream of the same name of the fork's seed takes over.
 */
export function randomStream(seed: Seed, name: string): SavableRandom {
  if (typeof seed === 'number') return stream(seed, name);
  const before = stream(seed.seed, name);
  let after: SavableRandom | undefined;
  const { fork, round } = seed;
  return {
    next: () => {
      if (round() <= fork.after) return before.next();
      after ??= stream(fork.seed, name);
      return after.next();
    },
    // The stream before the fork's round, then (once drawn from) the one after it.
    save: () => [...before.save(), ...(after ? after.save() : [])],
    restore: ([first, second]) => {
      before.restore(first ? [first] : []);
      if (second) {
        after ??= stream(fork.seed, name);
        after.restore([second]);
      }
    },
  };
}
