import { describe, expect, it } from 'vitest';
import { compileSources, type IrEnvironment, type IrPolicy } from '../../../compiler/index.js';
import {
  environmentPromptValues,
  instantiateEnvironment,
  parseTrace,
  stdlibSources,
} from '../../../runtime/index.js';
import { environmentRunner } from '../../support/environment-run.js';

/**
 * stdlib/commons.mase with `random_order`, worked out by hand. Three fishers ask for 50, 40
 * and 20 from a stock of 90 (110 asked, 20 too many). In proportion each gets 90/110 of its
 * request; in random order the fishers are served one by one, lowest `order` draw first,
 * and each gets its request or what is left, whichever is less.
 */

const runEnvironment = environmentRunner('commons-rationing');
const constant = (x: number): IrPolicy => ({ name: 'constant', args: [{ value: x }] });
const asking = { fisher1: constant(50), fisher2: constant(40), fisher3: constant(20) };

async function firstRound(seed: number, randomOrder: boolean) {
  const { events, metrics } = await runEnvironment('commons', asking, {
    rounds: 3,
    seed,
    params: { fishers: 3, stock: 90, random_order: randomOrder },
  });
  const round = parseTrace(events).find((e) => e.type === 'environment');
  if (round?.type !== 'environment') throw new Error('no environment event');
  return { values: round.values, metrics };
}

describe('commons: random-order rationing, by hand', () => {
  it('seed 7 draws the order fisher3, fisher2, fisher1: they catch 20, 40 and the last 30', async () => {
    const { values, metrics } = await firstRound(7, true);
    // The trace's draws: order = 0.767 (fisher1), 0.653 (fisher2), 0.047 (fisher3).
    const order = values.order as number[];
    expect(order[2]).toBeLessThan(order[1] as number);
    expect(order[1]).toBeLessThan(order[0] as number);
    // fisher3 first: asks 20 of 90, gets 20 (70 left); fisher2: 40 of 70, gets 40 (30
    // left); fisher1: 50 of 30, gets 30. What was asked before each: 60, 20, 0.
    expect(values.asked_before).toEqual([60, 20, 0]);
    expect(values.caught).toEqual([30, 40, 20]);
    expect(values.payoff).toEqual([30, 40, 20]);
    // Nothing is left, below the collapse threshold of 5: the run ends after round 1.
    expect(values.left).toBe(0);
    expect(metrics.macro.survival_rounds).toBe(1);
  });

  it('seed 2 draws the order fisher1, fisher2, fisher3: the last gets nothing', async () => {
    const { values } = await firstRound(2, true);
    // The trace's draws: order = 0.012 (fisher1), 0.784 (fisher2), 0.966 (fisher3).
    const order = values.order as number[];
    expect(order[0]).toBeLessThan(order[1] as number);
    expect(order[1]).toBeLessThan(order[2] as number);
    // fisher1: 50 of 90 (40 left); fisher2: 40 of 40 (0 left); fisher3: 20 of 0, gets 0.
    expect(values.asked_before).toEqual([0, 50, 90]);
    expect(values.caught).toEqual([50, 40, 0]);
  });

  it('without random_order (the default) the same requests are cut in proportion: 90/110 each', async () => {
    const { values } = await firstRound(7, false);
    const caught = values.caught as number[];
    // 50·90/110 = 40.909…, 40·90/110 = 32.727…, 20·90/110 = 16.363…
    expect(caught[0]).toBeCloseTo(40.909090909, 8);
    expect(caught[1]).toBeCloseTo(32.727272727, 8);
    expect(caught[2]).toBeCloseTo(16.363636364, 8);
  });
});

describe('commons: the rationing order is not told to the fishers', () => {
  const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
  const commons = program.environments.find((e) => e.name === 'commons') as IrEnvironment;

  it('an LLM fisher is not told its order before it asks (commons does not observe it)', () => {
    const env = instantiateEnvironment(commons, { random_order: true }, 7);
    const prompt = environmentPromptValues(
      { round: 2, firm: 0, environment: env, history: [], messages: [] },
      { plans: '', insights: '' },
      5,
      '{"harvest": <number>}',
    );
    expect(prompt.status).not.toContain('order');
    // The rules say the order is drawn and that no one is told it.
    expect(prompt.rules).toContain(
      "before anyone acts, each fisher's own order is drawn afresh, uniformly from [0, 1]; no fisher is told it",
    );
  });
});
