import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * `mase check` resolves the policies experiments and sweeps name, per world, with the
 * names the runtime registers; `mase run` and `mase sweep` refuse a typo before running.
 */

const sandbox = cliSandbox('policy-names');
const { mase, file, write } = sandbox;

const FILES: Record<string, string> = {
  'market-typo.mase': `mase 1
experiment e {
  market cournot_2x2
  agents nahs
  rounds 3
}
`,
  'per-firm-typo.mase': `mase 1
experiment e {
  market cournot_2x2
  agents f1 = qlearning(memory: 1), f2 = colusive
  rounds 3
}
`,
  'environment-typo.mase': `mase 1
experiment e {
  environment commons
  agents sustainble
  rounds 3
}
`,
  'environment-ok.mase': `mase 1
experiment e {
  environment commons
  agents fisher1 = sustainable, fisher2 = conditional, fisher3 = greedy, fisher4 = trigger, fisher5 = llm(model: "local")
  rounds 3
}
`,
  'market-policy-on-environment.mase': `mase 1
experiment e {
  environment commons
  agents nash
  rounds 3
}
`,
  'sweep-typo.mase': `mase 1
experiment e {
  environment auction
  agents truthful
  rounds 3
}
sweep s {
  base e
  factor agents = truthful | shade(0.8) | typo
}
`,
  'arguments.mase': `mase 1
experiment e {
  market cournot_2x2
  agents f1 = qlearning(memry: 1), f2 = nash(3)
  rounds 3
}
experiment g {
  environment auction
  agents bidder1 = shade(f: 0.7), bidder2 = shade(0.7, 2), bidder3 = trigger(k: 3, punsh: "x")
  rounds 3
}
`,
  'sweep-worlds.mase': `mase 1
experiment e {
  environment commons
  agents sustainable
  rounds 3
}
sweep s {
  base e
  factor environment = commons | minimum_effort
}
sweep t {
  base e
  factor environment = commons | minimum_effort
  factor agents = random | greedy
}
`,
  'sweep-per-firm-typo.mase': `mase 1
experiment e {
  market cournot_2x2
  agents nash
  rounds 3
}
sweep s {
  base e
  factor agents.f1 = nash | qlearnin
}
`,
};

beforeAll(() => {
  for (const [name, text] of Object.entries(FILES)) write(name, text);
});

describe('mase check resolves policy names', () => {
  it('a market policy typo: exit 1, at the name, did-you-mean and the market policies', () => {
    const r = mase('check market-typo.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'market-typo.mase:4:10: error E_UNKNOWN_NAME no policy `nahs` for market `cournot_2x2`',
    );
    expect(r.stderr).toContain('did you mean `nash`?');
    expect(r.stderr).toContain(
      'policies: nash, collusive, competitive, constant, random, noisy_nash, best_response, trigger, evader, cued, qlearning, llm',
    );
  });

  it('a per-firm typo is reported at that policy only', () => {
    const r = mase('check per-firm-typo.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'per-firm-typo.mase:4:42: error E_UNKNOWN_NAME no policy `colusive`',
    );
    expect(r.stderr).toContain('did you mean `collusive`?');
    expect(r.stderr).toContain('1 error');
  });

  it("an environment's policies are its generic ones, its benchmarks and its declared policies", () => {
    const r = mase('check environment-typo.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'environment-typo.mase:4:10: error E_UNKNOWN_NAME no policy `sustainble` for environment `commons`',
    );
    expect(r.stderr).toContain('did you mean `sustainable`?');
    expect(r.stderr).toContain(
      'policies: constant, random, best_response, trigger, stray, llm, qlearning, sustainable, greedy, conditional',
    );
    expect(mase('check environment-ok.mase').code).toBe(0);
  });

  it('a market policy is not one of an environment’s', () => {
    const r = mase('check market-policy-on-environment.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no policy `nash` for environment `commons`');
  });

  it('a sweep level naming no policy is reported at the level', () => {
    const r = mase('check sweep-typo.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'sweep-typo.mase:9:43: error E_UNKNOWN_NAME no policy `typo` for environment `auction`',
    );
    expect(r.stderr).toContain('1 error');
    const perFirm = mase('check sweep-per-firm-typo.mase');
    expect(perFirm.code).toBe(1);
    expect(perFirm.stderr).toContain('no policy `qlearnin` for market `cournot_2x2`');
    expect(perFirm.stderr).toContain('did you mean `qlearning`?');
  });
});

describe('a sweep that varies the world', () => {
  it("needs each level's world to offer the policies its runs use", () => {
    const r = mase('check sweep-worlds.mase');
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.includes(' error '));
    expect(errors).toEqual([
      'sweep-worlds.mase:9:34: error E_UNKNOWN_NAME environment `minimum_effort` has no policy `sustainable`, which experiment `e` gives its agents',
      'sweep-worlds.mase:14:28: error E_UNKNOWN_NAME no policy `greedy` for environment `minimum_effort`',
    ]);
  });
});

describe('mase check knows the arguments of the policies it resolves', () => {
  it('an argument a policy does not take, or one too many: E_ARITY at the argument', () => {
    const r = mase('check arguments.mase');
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.includes(' error '));
    expect(errors).toEqual([
      'arguments.mase:4:25: error E_ARITY `qlearning` has no argument `memry`',
      'arguments.mase:4:46: error E_ARITY `nash` takes no arguments',
      'arguments.mase:9:56: error E_ARITY `shade` takes at most 1 positional argument',
      'arguments.mase:9:84: error E_ARITY `trigger` has no argument `punsh`',
    ]);
    expect(r.stderr).toContain('hint: did you mean `memory`?');
    expect(r.stderr).toContain('hint: it accepts `f`');
    expect(r.stderr).toContain('hint: did you mean `punish`?');
  });
});

describe('mase run and mase sweep refuse an unknown policy before running anything', () => {
  it('mase run: the same diagnostic, exit 1, no run directory', () => {
    const r = mase('run market-typo.mase --out run-typo');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error E_UNKNOWN_NAME no policy `nahs` for market `cournot_2x2`');
    expect(existsSync(file('run-typo'))).toBe(false);
  });

  it('mase sweep: the same diagnostic, exit 1, no run recorded', () => {
    const r = mase('sweep sweep-typo.mase --out sweep-typo --workers 1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error E_UNKNOWN_NAME no policy `typo` for environment `auction`');
    expect(r.stdout).toBe('');
    expect(existsSync(file('sweep-typo/results.csv'))).toBe(false);
  });
});
