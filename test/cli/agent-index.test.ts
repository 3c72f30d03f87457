import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * Agent names as indices in institutions: `quantity[f1, A]` in an institution an
 * experiment runs on cournot_2x2, `harvest[fisher1]` on commons. Where no experiment says
 * which world an institution governs, a name that cannot be an agent there is an error.
 */

const sandbox = cliSandbox('agent-index');
const { mase, read, write } = sandbox;

// Nash in cournot_2x2, product A (P = 100 − 0.5 Q, costs 40 for f1 and 50 for f2):
// q1 = (100 − 2·40 + 50) / 1.5 = 46.67, q2 = (100 − 2·50 + 40) / 1.5 = 26.67.
// Only f1's output of A is above 40, so every firm takes the second edge.
const MARKET = `mase 1
institution watch_f1 {
  initial state active {
    when quantity[f2, A] > 40 -> wrong
    when quantity[f1, A] > 40 -> right
  }
  state wrong {
  }
  state right {
  }
}
experiment e {
  market cournot_2x2
  institution watch_f1
  agents nash
  rounds 2
}
`;

// Commons with 5 fishers: the sustainable harvest is 100 · (1 − 1/2) / 5 = 10; greedy asks
// for the whole capacity, 100. Only fisher1 is greedy.
const COMMONS = `mase 1
institution watch_fisher1 {
  scope per fisher
  initial state fishing {
    when harvest[fisher2] > 50 -> wrong
    when harvest[fisher1] > 50 -> right
  }
  state wrong {
  }
  state right {
  }
}
experiment e {
  environment commons
  institution watch_fisher1
  agents fisher1 = greedy, fisher2 = sustainable, fisher3 = sustainable, fisher4 = sustainable, fisher5 = sustainable
  rounds 1
}
`;

const STANDALONE_TYPO = `mase 1
institution watch {
  scope per fisher
  monitor typo = harvest[fishr2] > 10
  initial state fishing {
    when typo -> fishing
  }
}
`;

const STANDALONE_MARKET = `mase 1
institution watch {
  monitor big = quantity[f1] > 10
  initial state active {
    when any(big) -> active
  }
}
`;

beforeAll(() => {
  write('market.mase', MARKET);
  write('commons.mase', COMMONS);
  write('standalone-typo.mase', STANDALONE_TYPO);
  write('standalone-market.mase', STANDALONE_MARKET);
});

const transitions = (out: string) =>
  read(`${out}/governance-log.jsonl`)
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { kind: string; firm: string; round: number; to?: string })
    .filter((e) => e.kind === 'transition')
    .map((e) => `${e.round} ${e.firm} → ${e.to}`);

describe('agent names as indices in institutions', () => {
  it('quantity[f1, A] in an institution run on cournot_2x2: checks and reads firm f1', () => {
    const check = mase('check market.mase');
    expect(check.code, check.stderr).toBe(0);
    const run = mase('run market.mase --out market-run');
    expect(run.code, run.stderr).toBe(0);
    expect(transitions('market-run')).toEqual(['1 f1 → right', '1 f2 → right']);
  });

  it('harvest[fisher1] in an institution run on commons reads fisher1', () => {
    const check = mase('check commons.mase');
    expect(check.code, check.stderr).toBe(0);
    const run = mase('run commons.mase --out commons-run');
    expect(run.code, run.stderr).toBe(0);
    expect(transitions('commons-run')).toEqual([
      '1 fisher1 → right',
      '1 fisher2 → right',
      '1 fisher3 → right',
      '1 fisher4 → right',
      '1 fisher5 → right',
    ]);
  });

  it('on its own, an institution naming what cannot be an agent of its world: exit 1, at the name', () => {
    const r = mase('check standalone-typo.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'standalone-typo.mase:4:26: error E_UNKNOWN_NAME `fishr2` cannot be a fisher of environment `commons`',
    );
    expect(r.stderr).toContain('hint: its fishers are fisher1, fisher2, … (as many as `fishers`)');
  });

  it('on its own, a market institution cannot tell a firm from a product in a firm × product value', () => {
    const r = mase('check standalone-market.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'error E_SHAPE without a market, `f1` could be a firm or a product of a firm × product number',
    );
    expect(r.stderr).toContain('name the institution in an experiment with its market');
  });
});
