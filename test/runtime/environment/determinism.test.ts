import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  parseTrace,
  resolveExperiment,
  runToDirectory,
  stdlibSources,
} from '../../../runtime/index.js';

/**
 * An environment's run is a function of its experiment: the same commons experiment (seed,
 * parameters, policies) written twice gives byte-identical traces and metrics, and a
 * different seed gives random fishers different requests.
 */

const root = mkdtempSync(join(tmpdir(), 'mase-environment-determinism-'));
process.env.MASE_HOME = join(root, 'home');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
const random: IrPolicy = { name: 'random', args: [] };
const conditional: IrPolicy = { name: 'conditional', args: [] };

async function commonsRun(
  name: string,
  seed: number,
): Promise<{ events: string; metrics: string }> {
  const experiment = resolveExperiment(
    program,
    {
      environment: 'commons',
      institution: 'harvest_quota',
      agents: 'given',
      params: [
        { name: 'fishers', value: 4 },
        { name: 'growth', value: 3 },
        // Never collapses: all 12 rounds are played, whatever the random fishers take.
        { name: 'collapse', value: -1 },
      ],
      rounds: 12,
      seed,
    },
    // Random fishers and conditional cooperators, so both the seed and the history matter.
    () => ({
      perFirm: { fisher1: random, fisher2: random, fisher3: conditional, fisher4: conditional },
    }),
    stdlibSources(),
  );
  const dir = join(root, name);
  await runToDirectory(experiment, dir);
  return {
    events: readFileSync(join(dir, 'events.jsonl'), 'utf8'),
    metrics: readFileSync(join(dir, 'metrics.json'), 'utf8'),
  };
}

describe('commons runs are replayable', () => {
  it('the same experiment twice: byte-identical events.jsonl and metrics.json', async () => {
    const first = await commonsRun('first', 7);
    const second = await commonsRun('second', 7);
    expect(second.events).toBe(first.events);
    expect(second.metrics).toBe(first.metrics);
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
