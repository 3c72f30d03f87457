import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * `each round fine E` leaves the round a state is entered in free. Through the built CLI:
 * `mase check` warns where that is easy to miss and exits 0 (a warning does not fail a
 * check); `each round after entry fine E` says the choice and is silent; fmt keeps the
 * form as written; and a run charges exactly the same rounds with either form.
 */

const sandbox = cliSandbox('each-round');
const { mase, read, write } = sandbox;

const BARE = `mase 1

institution levy "A levy while output is high" {
  scope per firm
  monitor high = any(quantity[self] > 30, over: product)
  initial state ok {
    when high -> levied
  }
  state levied {
    each round fine 5
    after 2 rounds while not high -> ok
  }
}

experiment e {
  market cournot
  institution levy
  agents nash
  rounds 4
}
`;
const EXPLICIT = BARE.replace('each round fine 5', 'each round after entry fine 5');

beforeAll(() => {
  write('bare.mase', BARE);
  write('explicit.mase', EXPLICIT);
});

describe('each round and the round of entry', () => {
  it('mase check warns on a bare `each round fine` with no entry fine, with both choices in the hint, and exits 0', () => {
    const check = mase('check bare.mase');
    expect(check.code).toBe(0);
    expect(check.stdout).toBe('');
    expect(check.stderr).toBe(
      [
        'bare.mase:10:5: warning W_EACH_ROUND_SKIPS_ENTRY the round state `levied` is entered in carries no fine from this item: `each round` starts in the round after entry',
        '   |',
        '10 |     each round fine 5',
        '   |     ^^^^^^^^^^^^^^^^^',
        '  hint: write `fine 5` as well to charge the round of entry too, or `each round after entry fine 5` to say that the round of entry is meant to be free',
        '',
        '0 errors, 1 warning',
        '',
      ].join('\n'),
    );
  });

  it('is silent on `each round after entry fine` and on a state that also fines on entry', () => {
    const explicit = mase('check explicit.mase');
    expect(explicit.code).toBe(0);
    expect(`${explicit.stdout}${explicit.stderr}`).toBe('explicit.mase: no problems\n');
    write('both.mase', BARE.replace('each round fine 5', 'fine 5\n    each round fine 5'));
    const both = mase('check both.mase');
    expect(both.code).toBe(0);
    expect(`${both.stdout}${both.stderr}`).toBe('both.mase: no problems\n');
  });

  it('is not reported in an institution with errors, as no warning is', () => {
    write('broken.mase', BARE.replace('-> ok', '-> okay'));
    const check = mase('check broken.mase');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('error E_UNKNOWN_STATE');
    expect(check.stderr).not.toContain('W_EACH_ROUND_SKIPS_ENTRY');
    expect(check.stderr.trimEnd().split('\n').at(-1)).toBe('1 error, 0 warnings');
  });

  it('mase fmt keeps `each round after entry` as written', () => {
    write(
      'spread.mase',
      EXPLICIT.replace('each round after entry fine 5', 'each  round after\n    entry   fine 5'),
    );
    const fmt = mase('fmt spread.mase');
    expect(fmt.code, fmt.stderr).toBe(0);
    expect(fmt.stdout).toBe(mase('fmt explicit.mase').stdout);
    expect(fmt.stdout).toContain('    each round after entry fine 5\n');
    expect(mase('fmt --check explicit.mase').code).toBe(0);
  });

  it('charges the same rounds with either form: the round of entry is free', () => {
    const sanctions = (file: string, out: string) => {
      const run = mase(['run', file, '--agents', 'f1=constant(40),f2=nash', '--out', out]);
      expect(run.code, run.stderr).toBe(0);
      return read(`${out}/events.jsonl`)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((e) => e.type === 'sanction' || e.type === 'transition')
        .map((e) => [e.type, e.round, e.firm, e.timing ?? e.to, e.amount ?? null]);
    };
    const bare = sanctions('bare.mase', 'bare-run');
    // f1 enters `levied` in round 1 (over 30) and is fined in rounds 2, 3 and 4 only.
    expect(bare.filter(([type]) => type === 'sanction')).toEqual([
      ['sanction', 2, 'f1', 'each_round', 5],
      ['sanction', 3, 'f1', 'each_round', 5],
      ['sanction', 4, 'f1', 'each_round', 5],
    ]);
    expect(sanctions('explicit.mase', 'explicit-run')).toEqual(bare);
  });
});
