import { createHash } from 'node:crypto';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { Random } from './agents/agent.js';

/**
 * A seeded random stream. Each consumer (an agent, the monitor noise, the horizon) has
 * its own stream derived from the run's seed and a name, so adding a random draw in one
 * place never shifts the draws of another: runs stay replayable as the code grows.
 */
export function randomStream(seed: number, name: string): Random {
  const digest = createHash('sha256').update(`${seed}:${name}`).digest();
  const rng = xoroshiro128plus(digest.readInt32LE(0));
  return { next: () => uniformFloat64(rng) };
}
