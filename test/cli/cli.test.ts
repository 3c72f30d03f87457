import { existsSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * The `mase` CLI end to end, as a user meets it: the built binary (`npm test` builds
 * `dist/` first), run in a scratch folder, one transcript per test. Every invocation is
 * also checked for JavaScript stack traces, which no input may ever produce.
 */

const sandbox = cliSandbox('cli');
const { file, read, write } = sandbox;
const mase = (command: string | readonly string[], nodeArgs: readonly string[] = []) =>
  sandbox.mase(command, { nodeArgs });

const lines = (text: string) => text.trimEnd().split('\n');

const BROKEN = `mase 1

institution broken {
  scope per firm
  initial state a {
    when maen(profit) > 10 -> nowhere
  }
}
`;

const MESSY = `mase 1
institution   messy   "Messy"{
scope per firm
      initial state a { when profit[self]>0 -> b }
  state b {after 2 rounds -> a}
}
`;

const MESSY_FORMATTED = `mase 1

institution messy "Messy" {
  scope per firm
  initial state a {
    when profit[self] > 0 -> b
  }
  state b {
    after 2 rounds -> a
  }
}
`;

const TWO = `mase 1

institution first {
  initial state a {
  }
}

institution second {
  initial state b {
  }
}
`;

const GOVERNANCE_STATES = ['active', 'warning', 'fined', 'suspended', 'credited'];

beforeAll(() => {
  write('broken.mase', BROKEN);
  write('messy.mase', MESSY);
  write('two.mase', TWO);
});

describe('help and usage', () => {
  it('mase --help → exit 0, usage on stdout', () => {
    const r = mase('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: mase');
    for (const command of ['check', 'compile', 'draw', 'manifest', 'fmt'])
      expect(r.stdout).toContain(command);
  });

  it('mase frob → exit 2 (unknown command)', () => {
    const r = mase('frob');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("unknown command 'frob'");
  });

  it('mase check → exit 2 (missing argument)', () => {
    const r = mase('check');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('missing required argument');
  });

  it('mase check broken.mase --format yaml → exit 2 (bad option value)', () => {
    const r = mase('check broken.mase --format yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("'yaml' is invalid");
  });

  it('mase check nope.mase → exit 2, one line, no stack', () => {
    const r = mase('check nope.mase');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual(['mase: no such file: nope.mase']);
  });

  it('mase compile nope.mase → exit 2 as well', () => {
    const r = mase('compile nope.mase');
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual(['mase: no such file: nope.mase']);
  });
});

describe('check', () => {
  it('mase check stdlib:governance_graph → exit 0', () => {
    const r = mase('check stdlib:governance_graph');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no problems');
  });

  it('mase check broken.mase → exit 1, located diagnostics with carets and hints on stderr', () => {
    const r = mase('check broken.mase');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // `maen` starts at column 10 of line 6, `nowhere` at column 31.
    expect(r.stderr).toMatch(/^broken\.mase:6:10: error E_UNKNOWN_NAME /m);
    expect(r.stderr).toContain(
      [
        'broken.mase:6:31: error E_UNKNOWN_STATE no state `nowhere` in institution `broken`',
        '  |',
        '6 |     when maen(profit) > 10 -> nowhere',
        '  |                               ^^^^^^^',
        '  hint: states: a',
      ].join('\n'),
    );
    expect(lines(r.stderr).at(-1)).toBe('2 errors, 0 warnings');
  });

  it('mase check broken.mase --format json → JSON on stdout only', () => {
    const r = mase('check broken.mase --format json');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    const diagnostics = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(diagnostics).toHaveLength(2);
    expect(diagnostics[0]).toMatchObject({
      path: 'broken.mase',
      line: 6,
      column: 10,
      severity: 'error',
      code: 'E_UNKNOWN_NAME',
    });
    expect(diagnostics[1]).toMatchObject({
      path: 'broken.mase',
      line: 6,
      column: 31,
      endLine: 6,
      endColumn: 38,
      severity: 'error',
      code: 'E_UNKNOWN_STATE',
      hint: 'states: a',
    });
  });

  it('mase check stdlib:governance_graph --format json → an empty list', () => {
    const r = mase('check stdlib:governance_graph --format json');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([]);
  });
});

describe('compile', () => {
  it('mase compile stdlib:governance_graph → the machine as JSON on stdout', () => {
    const r = mase('compile stdlib:governance_graph');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const config = JSON.parse(r.stdout) as { id: string; initial: string; states: object };
    expect(config.id).toBe('governance_graph');
    expect(config.initial).toBe('active');
    expect(Object.keys(config.states)).toEqual(GOVERNANCE_STATES);
  });

  it('mase compile stdlib:governance_graph --format ts → a module that calls setup()', () => {
    const r = mase('compile stdlib:governance_graph --format ts');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("from 'xstate'");
    expect(r.stdout).toContain('setup(');
  });

  it('mase compile stdlib:governance_graph -o machine.json → the same JSON in the file', () => {
    const r = mase('compile stdlib:governance_graph -o machine.json');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('wrote machine.json');
    const written = JSON.parse(read('machine.json'));
    expect(written).toEqual(JSON.parse(mase('compile stdlib:governance_graph').stdout));
  });

  it('mase compile two.mase → exit 2 naming the institutions; --institution picks one', () => {
    const r = mase('compile two.mase');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('first, second');
    expect(r.stderr).toContain('--institution');

    const picked = mase('compile two.mase --institution second');
    expect(picked.code).toBe(0);
    expect(Object.keys(JSON.parse(picked.stdout).states)).toEqual(['b']);
  });

  it('mase compile broken.mase → exit 1 and no machine', () => {
    const r = mase('compile broken.mase');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error E_UNKNOWN_STATE');
  });

  it('an internal failure → exit 3, E_INTERNAL, no stack trace', () => {
    // Breaks a builtin the compile path needs, from outside: no hook in MASE itself.
    const breakStringify =
      'data:text/javascript,JSON.stringify=()=>{throw new Error("stringify is broken")}';
    const r = mase('compile stdlib:governance_graph', ['--import', breakStringify]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('E_INTERNAL');
    expect(r.stderr).toContain('stringify is broken');
  });
});

describe('draw', () => {
  it('mase draw stdlib:governance_graph -o graph.svg → an SVG', () => {
    const r = mase('draw stdlib:governance_graph -o graph.svg');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const svg = read('graph.svg');
    expect(svg).toContain('<svg');
    for (const state of GOVERNANCE_STATES) expect(svg).toContain(state);
  });

  it('mase draw stdlib:governance_graph -o graph.dot → DOT text', () => {
    const r = mase('draw stdlib:governance_graph -o graph.dot');
    expect(r.code).toBe(0);
    const dot = read('graph.dot');
    expect(dot).toMatch(/^digraph /);
    for (const state of GOVERNANCE_STATES) expect(dot).toContain(state);
  });

  it('mase draw stdlib:governance_graph -o graph.png → a PNG', () => {
    const r = mase('draw stdlib:governance_graph -o graph.png');
    expect(r.code).toBe(0);
    const png = readFileSync(file('graph.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('mase draw stdlib:governance_graph -o graph.txt → exit 2, nothing written', () => {
    const r = mase('draw stdlib:governance_graph -o graph.txt');
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('.svg, .png or .dot');
    expect(existsSync(file('graph.txt'))).toBe(false);
  });

  it('mase draw stdlib:commons -o commons.dot → the environment: its state, quantities and payoff', () => {
    const r = mase('draw stdlib:commons -o commons.dot');
    expect(r.code).toBe(0);
    const dot = read('commons.dot');
    expect(dot).toMatch(/^digraph /);
    expect(dot).toContain('requested = sum(harvest, over: fisher)');
    expect(dot).toContain('payoff = caught');
  });

  it('mase draw with --market and --environment → exit 2, nothing written', () => {
    const r = mase('draw stdlib:commons --market cournot --environment commons -o both.dot');
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual(['mase: draw one thing: --market or --environment, not both']);
    expect(existsSync(file('both.dot'))).toBe(false);
    const unknown = mase('draw stdlib:commons --environment fishery -o none.dot');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('declares no environment `fishery`; it declares: commons');
  });
});

describe('manifest', () => {
  it('mase manifest stdlib:governance_graph → names every state', () => {
    const r = mase('manifest stdlib:governance_graph');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('governance_graph');
    for (const state of GOVERNANCE_STATES) expect(r.stdout).toContain(state);
  });
});

describe('fmt', () => {
  it('mase fmt messy.mase → the canonical text on stdout, the file untouched', () => {
    const r = mase('fmt messy.mase');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(MESSY_FORMATTED);
    expect(read('messy.mase')).toBe(MESSY);
  });

  it('mase fmt --check → exit 1 on an unformatted file, 0 on a formatted one', () => {
    const r = mase('fmt --check messy.mase');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('messy.mase is not formatted');
    expect(read('messy.mase')).toBe(MESSY);

    write('tidy.mase', MESSY_FORMATTED);
    expect(mase('fmt --check tidy.mase').code).toBe(0);
  });

  it('mase fmt --write → rewrites the file, which then passes --check', () => {
    write('rewrite.mase', MESSY);
    const r = mase('fmt --write rewrite.mase');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(read('rewrite.mase')).toBe(MESSY_FORMATTED);
    expect(mase('fmt --check rewrite.mase').code).toBe(0);
  });

  it('mase fmt on a file with syntax errors → exit 1, file untouched', () => {
    const text = 'mase 1\ninstitution x { initial state a { when ( -> a } }\n';
    write('syntax.mase', text);
    const r = mase('fmt --write syntax.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_SYNTAX');
    expect(read('syntax.mase')).toBe(text);
  });
});

// Redundant parentheses, written for the reader; printing must keep every one of them.
const PARENTHESIZED = `mase 1
institution readable {
  scope per firm
  param limit = 0.8
  monitor cv_x = mean(cv(quantity, over: product))
  monitor hhi_x = mean(hhi) / 10000
  initial state calm {
    when cv_x > 1.5 or hhi_x > limit or ( cv_x > 1 and hhi_x > 0.5 ) -> fined
  }
  state fined {
    fine (2 * (profit[self]))
    after 2 rounds -> calm
  }
}
`;

describe("printing keeps the user's parentheses", () => {
  beforeAll(() => write('readable.mase', PARENTHESIZED));

  it('mase fmt → the parentheses stay, only the spacing inside them changes', () => {
    const r = mase('fmt readable.mase');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '    when cv_x > 1.5 or hhi_x > limit or (cv_x > 1 and hhi_x > 0.5) -> fined\n',
    );
    expect(r.stdout).toContain('    fine (2 * (profit[self]))\n');
  });

  it('mase manifest → the rule firms read has them, with the parameter written in', () => {
    const r = mase('manifest readable.mase');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      '-> fined when `cv_x > 1.5 or hhi_x > 0.8 or (cv_x > 1 and hhi_x > 0.5)` holds',
    );
    expect(r.stdout).toContain('on entry: fine (2 * (profit[self]))');
  });

  it('mase draw → the diagram labels have them', () => {
    expect(mase('draw readable.mase -o readable.dot').code).toBe(0);
    const dot = read('readable.dot');
    expect(dot).toContain('when cv_x > 1.5 or hhi_x >\\n0.8 or (cv_x > 1 and hhi_x >\\n0.5)');
    expect(dot).toContain('on entry: fine (2 * (profit[self]))');
  });
});

describe('bad input never shows a stack trace', () => {
  // `mase()` itself fails the test on any stack frame; these only pin the exit codes.
  it.each([
    ['a directory', 'check .', 2],
    ['an unknown stdlib entry', 'check stdlib:nope', 2],
    ['an unknown institution', 'compile stdlib:governance_graph --institution nope', 2],
    ['a market where an institution is needed', 'manifest stdlib:cournot_2x2', 2],
    ['fmt on a stdlib entry', 'fmt stdlib:governance_graph', 2],
    [
      'draw with two targets',
      'draw stdlib:governance_graph --institution a --market b -o g.svg',
      2,
    ],
    ['a missing option value', 'check broken.mase --format', 2],
  ])('%s: mase %s → exit %i', (_what, command, code) => {
    const r = mase(command);
    expect(r.code).toBe(code);
    expect(r.stderr.trim()).not.toBe('');
  });

  it('binary garbage → exit 1 with diagnostics', () => {
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256));
    write('garbage.mase', bytes);
    const r = mase('check garbage.mase');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^garbage\.mase:\d+:\d+: error E_/m);
  });

  it('an output path in a missing folder fails with a message', () => {
    const r = mase('compile stdlib:governance_graph -o missing/folder/machine.json');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('missing/folder/machine.json');
  });
});
