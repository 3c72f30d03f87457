import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { answer, startScriptedServer } from '../../bench/support/openai-server.js';
import { parseTrace } from '../../runtime/index.js';
import { cliSandbox, cournotRun, messageLines } from '../support/cli.js';

/**
 * `mase run --trace full|summary|none` and `mase sweep --trace`, as a user meets them
 * (docs/architecture.md, "Trace levels"): metrics.json is the same at every level; a summary
 * trace reads back as the full one; a run at `none` keeps its header and end; every command
 * that needs more than a run kept says so (exit 2) and writes nothing.
 */

const sandbox = cliSandbox('trace-levels');
const { mase, maseAsync, file, read, json, write } = sandbox;

const sha = (path: string) =>
  createHash('sha256')
    .update(readFileSync(file(path)))
    .digest('hex');
const lines = (out: string) => read(`${out}/events.jsonl`).trimEnd().split('\n');

/** Runs ARGS at each level into PREFIX-full, PREFIX-summary, PREFIX-none. */
function atEveryLevel(prefix: string, args: readonly string[]) {
  for (const level of ['full', 'summary', 'none']) {
    const r = mase([...args, '--trace', level, '--out', `${prefix}-${level}`]);
    expect(r.stderr).toContain('status: completed');
    expect(r.code, r.stderr).toBe(0);
  }
}

/** What a reader of the trace gets: the events, the header's level left out. */
const readBack = (out: string) =>
  parseTrace(read(`${out}/events.jsonl`)).map((e) => {
    if (e.type !== 'header') return e;
    const { trace: _level, ...header } = e;
    return header;
  });

const WORLDS: [string, string[]][] = [
  // Q-learning firms under an institution that changes their states, fines and credits them.
  [
    'market',
    cournotRun('qlearning', 3000, 'stdlib:governance_graph', '--seed', '4', '--param', 'firms=3'),
  ],
  // An environment under a quota with fines.
  [
    'commons',
    [
      ...['run', '--environment', 'stdlib:commons', '--institution', 'harvest_quota'],
      ...['--rounds', '40', '--agents', 'fisher1=constant(15),fisher2=conditional,fisher3=random'],
      ...['--param', 'fishers=3'],
    ],
  ],
  // A text world: messages, quarantine states, blocked messages.
  [
    'infection',
    [
      'run',
      ...['--environment', 'stdlib:infection', '--param', 'hosts=12'],
      ...['--institution', 'quarantine_canary', '--agents', 'susceptible(p: 0.6, r: 0.1)'],
      ...['--talk', 'complete(visible: true)', '--rounds', '30'],
    ],
  ],
];

describe.each(WORLDS)('%s at --trace full, summary and none', (name, args) => {
  it('writes the same metrics.json at every level; the governance log verifies at each', () => {
    atEveryLevel(name, args);
    const metrics = sha(`${name}-full/metrics.json`);
    expect(sha(`${name}-summary/metrics.json`)).toBe(metrics);
    expect(sha(`${name}-none/metrics.json`)).toBe(metrics);
    for (const level of ['full', 'summary', 'none']) {
      const verified = mase(['verify', `${name}-${level}`]);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      expect(json<{ trace: string }>(`${name}-${level}/manifest.json`).trace).toBe(level);
      // The page says what the trace below full keeps.
      const page = read(`${name}-${level}/report.html`);
      expect(page.includes('summary: events.jsonl packs each round’s payoffs in one row')).toBe(
        level === 'summary',
      );
      expect(page.includes('none: events.jsonl holds the header and the end')).toBe(
        level === 'none',
      );
      // The governance log is the same at every level (its MACs are bound to each run's nonce).
      const entries = read(`${name}-${level}/governance-log.jsonl`)
        .trimEnd()
        .split('\n')
        .map((l) => {
          const { mac: _m, prev_mac: _p, events_sha256: _e, ...entry } = JSON.parse(l);
          return entry;
        });
      expect(entries.length).toBeGreaterThan(1);
      if (level === 'full') continue;
      const full = read(`${name}-full/governance-log.jsonl`)
        .trimEnd()
        .split('\n')
        .map((l) => {
          const { mac: _m, prev_mac: _p, events_sha256: _e, ...entry } = JSON.parse(l);
          return entry;
        });
      expect(entries).toEqual(full);
    }
  });

  it('a summary trace packs each round’s payoffs in one row and reads back as the full trace', () => {
    const summary = lines(`${name}-summary`);
    const full = lines(`${name}-full`);
    expect(JSON.parse(summary[0] as string).trace).toBe('summary');
    // No per-agent payoff line is left; one row a round holds them.
    expect(summary.filter((l) => l.startsWith('{"type":"payoff"'))).toEqual([]);
    const rounds = full.filter((l) => /^\{"type":"(market|environment)"/.test(l)).length;
    expect(summary.filter((l) => l.startsWith('{"type":"payoffs"'))).toHaveLength(rounds);
    expect(statSync(file(`${name}-summary/events.jsonl`)).size).toBeLessThan(
      statSync(file(`${name}-full/events.jsonl`)).size,
    );
    // Every other line is the full trace's, in its order.
    const rest = (l: string) => !/^\{"type":"(payoffs?|header)"/.test(l);
    expect(summary.filter(rest)).toEqual(full.filter(rest));
    expect(readBack(`${name}-summary`)).toEqual(readBack(`${name}-full`));
  });

  it('a trace at none holds its header (naming the level) and the run’s end', () => {
    const none = lines(`${name}-none`).map((l) => JSON.parse(l));
    expect(none.map((e) => e.type)).toEqual(['header', 'run_end']);
    expect(none[0].trace).toBe('none');
    expect(none[1]).toEqual(JSON.parse(lines(`${name}-full`).pop() as string));
  });

  it('mase replay of the summary run writes its trace again at its level, byte for byte', () => {
    const r = mase(['replay', `${name}-summary`, '--out', `${name}-summary-replay`]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(`${name}-summary-replay/events.jsonl`)).toBe(sha(`${name}-summary/events.jsonl`));
    expect(sha(`${name}-summary-replay/metrics.json`)).toBe(sha(`${name}-full/metrics.json`));
  });
});

describe('a summary run killed and resumed', () => {
  const market = cournotRun('qlearning', 6000, 'stdlib:governance_graph', '--seed', '5');
  const flags = ['--checkpoint-every', '50', '--trace', 'summary'];

  async function killed(out: string, at: number) {
    let child: ChildProcess | undefined;
    let sent = false;
    const watch = setInterval(() => {
      try {
        if (!sent && statSync(file(`${out}/events.jsonl`)).size >= at) {
          sent = true;
          child?.kill('SIGKILL');
        }
      } catch {
        // not written yet
      }
    }, 1);
    await maseAsync([...market, ...flags, '--out', out], {}, (c) => {
      child = c;
    });
    clearInterval(watch);
    expect(sent, 'the run ended before it was killed').toBe(true);
    expect(json<{ status: string }>(`${out}/manifest.json`).status).toBe('running');
  }

  it('from its saved state, and by playing its rounds again, ends as the run never killed', async () => {
    const whole = mase([...market, ...flags, '--out', 'resume-whole']);
    expect(whole.code, whole.stderr).toBe(0);
    const size = statSync(file('resume-whole/events.jsonl')).size;
    for (const [out, strip] of [
      ['resume-state', false],
      ['resume-replay', true],
    ] as const) {
      await killed(out, Math.floor(size * 0.55));
      if (strip) {
        // A checkpoint without the state: the run plays rounds 1..R again and checks each
        // line it makes (payoff rows included) against the summary trace.
        const { state: _state, ...bare } = json<Record<string, unknown>>(`${out}/checkpoint.json`);
        writeFileSync(file(`${out}/checkpoint.json`), JSON.stringify(bare));
      }
      const resumed = mase(['run', '--resume', '--out', out]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(sha(`${out}/events.jsonl`)).toBe(sha('resume-whole/events.jsonl'));
      expect(sha(`${out}/metrics.json`)).toBe(sha('resume-whole/metrics.json'));
      const manifest = json<{ trace: string; resumed: { from: string }[] }>(`${out}/manifest.json`);
      expect(manifest.trace).toBe('summary');
      expect(manifest.resumed.map((r) => r.from)).toEqual([strip ? 'replay' : 'state']);
    }
  }, 60_000);

  it('a payoff row changed before the checkpoint is found when the rounds are played again', async () => {
    await killed('resume-edited', Math.floor(statSync(file('resume-whole/events.jsonl')).size / 2));
    const path = file('resume-edited/events.jsonl');
    const text = readFileSync(path, 'utf8');
    const at = text.indexOf('{"type":"payoffs","round":7,');
    const line = text.slice(at, text.indexOf('\n', at));
    const edited = line.replace('"fines":[0,', '"fines":[1,');
    expect(edited).not.toBe(line);
    writeFileSync(path, text.replace(line, edited));
    const { state: _state, ...bare } = json<Record<string, unknown>>(
      'resume-edited/checkpoint.json',
    );
    writeFileSync(file('resume-edited/checkpoint.json'), JSON.stringify(bare));
    const r = mase(['run', '--resume', '--out', 'resume-edited']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /the run does not make again the trace it wrote up to its checkpoint \(round \d+\): line \d+ of events.jsonl is \{"type":"payoffs","round":7,.*Nothing was written/,
    );
  }, 60_000);
});

describe('what a level does not keep is said plainly (exit 2), and nothing is written', () => {
  const run = (out: string, level: string) => {
    const r = mase([
      ...cournotRun('qlearning', 200, 'stdlib:governance_graph'),
      '--talk',
      'complete',
      '--trace',
      level,
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
  };
  const refused = (args: readonly string[], message: RegExp) => {
    const r = mase(args);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(messageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  };

  it('forks and explanations need the full trace', () => {
    run('short-summary', 'summary');
    refused(
      ['fork', 'short-summary', '--at', '10', '--out', 'short-fork'],
      /^mase: a fork needs the run's trace at --trace full; the run in short-summary kept --trace summary\. Run it again with --trace full$/m,
    );
    refused(
      ['explain', 'short-summary', '--out', 'short-explain'],
      /^mase: an explanation needs the run's trace at --trace full; the run in short-summary kept --trace summary/m,
    );
    expect(() => statSync(file('short-fork'))).toThrow();
    expect(() => statSync(file('short-explain'))).toThrow();
  });

  it('a run at none: no lineage to follow, no page to draw again, no rounds to replay a killed run to', () => {
    run('short-none', 'none');
    refused(
      ['show', 'short-none', '--message', 'm1.1.1'],
      /following a message's lineage needs the run's trace at --trace summary or full; the run in short-none kept --trace none/,
    );
    const page = sha('short-none/report.html');
    refused(
      ['report', 'short-none'],
      /the run in short-none kept no trace \(--trace none\), so its report cannot be drawn again from its files; report\.html is the page the run wrote/,
    );
    expect(sha('short-none/report.html')).toBe(page);
    // Its numbers are metrics.json's, and `show` says so.
    const shown = mase(['show', 'short-none']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('events.jsonl holds no rounds (--trace none)');
    // A killed run at none (its manifest still says running) has nothing that says where it stopped.
    const manifest = json<Record<string, unknown>>('short-none/manifest.json');
    write('killed-none/manifest.json', JSON.stringify({ ...manifest, status: 'running' }));
    write('killed-none/events.jsonl', read('short-none/events.jsonl'));
    refused(
      ['replay', 'killed-none', '--out', 'killed-none-replay'],
      /never ended and kept no trace \(--trace none\): nothing says how many rounds it played/,
    );
  });

  it('bad levels and checkpoints without a trace are refused before anything is written', () => {
    refused(
      [...cournotRun('nash', 5), '--trace', 'verbose', '--out', 'bad-level'],
      /^mase: --trace takes full, summary, none, not `verbose`$/m,
    );
    refused(
      [...cournotRun('nash', 5), '--trace', 'none', '--checkpoint-every', '2', '--out', 'bad-cp'],
      /^mase: checkpoints \(every 2 rounds\) need a trace to resume from: a run at --trace none keeps no rounds; use --trace summary or full, or --checkpoint-every 0$/m,
    );
    expect(() => statSync(file('bad-level'))).toThrow();
    expect(() => statSync(file('bad-cp'))).toThrow();
    refused(
      [...cournotRun('nash', 5), '--trace', 'summary', '--resume', '--out', 'short-none'],
      /drop .*--trace/,
    );
  });
});

describe('mase sweep --trace', () => {
  it('defaults to summary, which keeps what export sft reads; none keeps transitions counted and refuses export', async () => {
    const server = await startScriptedServer((request) =>
      answer([20 + (request.body.messages?.length ?? 0), 25]),
    );
    try {
      const source = write(
        'llm-sweep.mase',
        `mase 1
experiment base {
  market cournot_2x2
  institution governance_graph
  agents llm(model: "openai-compatible:${server.url}#scripted", memory: 2)
  rounds 4
}
sweep levels {
  base base
  factor regime: institution = none | governance_graph
  replicates 1
}
`,
      );
      const sweeps: Record<string, string> = {};
      for (const level of ['default', 'full', 'none']) {
        const dir = file(`sweep-${level}`);
        const r = await maseAsync([
          'sweep',
          source,
          '--out',
          dir,
          '--workers',
          '1',
          '--cache',
          file('sweep-cache.sqlite'),
          ...(level === 'default' ? [] : ['--trace', level]),
        ]);
        expect(r.code, r.stderr).toBe(0);
        sweeps[level] = dir;
      }
      const runsOf = (dir: string) =>
        readdirSync(join(dir, 'records'))
          .filter((f) => f.endsWith('.json'))
          .map((f) => JSON.parse(readFileSync(join(dir, 'records', f), 'utf8')))
          .sort((a, b) => a.run_id.localeCompare(b.run_id));
      const levelOf = (dir: string, run: { artifacts: string }) =>
        JSON.parse(readFileSync(join(dir, run.artifacts, 'manifest.json'), 'utf8')).trace;
      for (const [level, expected] of [
        ['default', 'summary'],
        ['full', 'full'],
        ['none', 'none'],
      ] as const)
        for (const run of runsOf(sweeps[level] as string))
          expect(levelOf(sweeps[level] as string, run)).toBe(expected);
      // The same numbers and transition counts at every level (counted from the governance log).
      const numbers = (dir: string) =>
        runsOf(dir).map((r) => [r.run_id, r.metrics, r.transitions_by_edge]);
      expect(numbers(sweeps.default as string)).toEqual(numbers(sweeps.full as string));
      expect(numbers(sweeps.none as string)).toEqual(numbers(sweeps.full as string));
      expect(
        runsOf(sweeps.none as string).some((r) => Object.keys(r.transitions_by_edge).length > 0),
      ).toBe(true);
      // export sft reads the model calls: the same records from a summary sweep as from a full one.
      const exported = (dir: string, out: string) =>
        mase(['export', 'sft', dir, '--out', file(out), '--where', "regime = 'governance_graph'"]);
      expect(exported(sweeps.default as string, 'summary.jsonl').code).toBe(0);
      expect(exported(sweeps.full as string, 'full.jsonl').code).toBe(0);
      expect(read('summary.jsonl').trim().split('\n')).toHaveLength(8);
      expect(read('summary.jsonl')).toBe(read('full.jsonl'));
      const none = exported(sweeps.none as string, 'none.jsonl');
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(
        /^mase: run [0-9a-f]+: export sft needs the run's trace at --trace summary or full; the run in .* kept --trace none/m,
      );
      expect(() => statSync(file('none.jsonl'))).toThrow();
      // A sweep's run drew no page, and at none it keeps nothing to draw one from: the
      // refusal says what would give one, and the sweep's page offers no command that fails.
      const [first] = runsOf(sweeps.none as string);
      const runDir = join(sweeps.none as string, first.artifacts);
      const page = mase(['report', runDir]);
      expect(page.code).toBe(2);
      expect(page.stderr).toContain(
        'it drew no page of its own (a sweep draws its runs’ pages with --run-reports): run it again with --trace summary or --run-reports',
      );
      expect(() => statSync(join(runDir, 'report.html'))).toThrow();
      expect(mase(['report', sweeps.none as string]).code).toBe(0);
      const sweepPage = readFileSync(join(sweeps.none as string, 'report.html'), 'utf8');
      expect(sweepPage).not.toContain('<code>mase report');
      expect(sweepPage.match(/<td>none \(--trace none\)<\/td>/g)).toHaveLength(2);
      expect(mase(['report', sweeps.default as string]).code).toBe(0);
      expect(
        readFileSync(join(sweeps.default as string, 'report.html'), 'utf8').match(
          /<code>mase report [^<]+<\/code>/g,
        ),
      ).toHaveLength(2);
    } finally {
      await server.close();
    }
  }, 120_000);

  it('refuses a bad level, and checkpoints with none', () => {
    write(
      'tiny.mase',
      'mase 1\nexperiment base {\n  market cournot\n  agents nash\n  rounds 3\n}\nsweep s {\n  base base\n  replicates 2\n}\n',
    );
    for (const [flags, message] of [
      [['--trace', 'all'], /^mase: --trace takes full, summary, none, not `all`$/m],
      [
        ['--trace', 'none', '--checkpoint-every', '1'],
        /^mase: checkpoints \(every 1 rounds\) need a trace to resume from/m,
      ],
    ] as const) {
      const r = mase(['sweep', 'tiny.mase', '--out', 'tiny-sweep', ...flags]);
      expect(r.code, r.stderr).toBe(2);
      expect(messageLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(() => statSync(file('tiny-sweep'))).toThrow();
    }
  });
});
