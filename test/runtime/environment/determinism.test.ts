import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IrPolicy } from '../../../compiler/index.js';
import { parseTrace } from '../../../runtime/index.js';
import { environmentRunner } from '../../support/environment-run.js';

/**
 * An environment's run is a function of its experiment: the same commons experiment (seed,
 * parameters, policies) written twice gives byte-identical traces and metrics, and a
 * different seed gives random fishers different requests.
 */

const random: IrPolicy = { name: 'random', args: [] };
const conditional: IrPolicy = { name: 'conditional', args: [] };

const runEnvironment = environmentRunner('environment-determinism');

/** Random fishers and conditional cooperators, so both the seed and the history matter. */
const commonsRun = (name: string, seed: number) =>
  runEnvironment(
    'commons',
    { fisher1: random, fisher2: random, fisher3: conditional, fisher4: conditional },
    {
      name,
      seed,
      rounds: 12,
      institution: 'harvest_quota',
      // Never collapses: all 12 rounds are played, whatever the random fishers take.
      params: { fishers: 4, growth: 3, collapse: -1 },
    },
  );

describe('commons runs are replayable', () => {
  it('the same experiment twice: byte-identical events.jsonl and metrics.json', async () => {
    const first = await commonsRun('first', 7);
    const second = await commonsRun('second', 7);
    expect(second.events).toBe(first.events);
    const metricsText = (run: { dir: string }) =>
      readFileSync(join(run.dir, 'metrics.json'), 'utf8');
    expect(metricsText(second)).toBe(metricsText(first));
    const decisions = parseTrace(first.events).filter((e) => e.type === 'decision');
    expect(decisions).toHaveLength(4 * 12);
  });

  it('another seed: the random fishers ask for other amounts', async () => {
    const requests = (events: string) =>
      parseTrace(events)
        .filter((e) => e.type === 'decision' && e.policy === 'random')
        .map((e) => (e.type === 'decision' ? e.action : []));
    const seven = requests((await commonsRun('seed7', 7)).events);
    const eight = requests((await commonsRun('seed8', 8)).events);
    expect(seven.length).toBeGreaterThan(0);
    expect(eight.length).toBeGreaterThan(0);
    expect(eight[0]).not.toEqual(seven[0]);
  });
});
