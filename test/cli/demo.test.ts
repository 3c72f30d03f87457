import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { VERDICTS } from '../../runtime/index.js';
import { cliSandbox } from '../support/cli.js';

/**
 * `mase demo` end to end, as a user reads it: part 1 (a small Q-learning sweep, here with
 * few rounds), part 2 (LLM firms on a scripted OpenAI-compatible server in this process,
 * or the embedded model), the closing instructions, and the files it leaves.
 */

const sandbox = cliSandbox('demo');
const { maseAsync: mase, file, read } = sandbox;
let server: ScriptedServer;

const verdict = `(?:${VERDICTS.join('|')})`;

beforeAll(async () => {
  // Firms that divide the market every round: evidence from round 1, so the graph escalates.
  server = await startScriptedServer((r) =>
    answer(firmOf(r) === 'f1' ? [60, 0] : [0, 60], 'you take B, I take A'),
  );
});
afterAll(() => server.close());

describe('mase demo', () => {
  let stdout = '';
  let model = '';
  beforeAll(async () => {
    model = `openai-compatible:${server.url}#tiny`;
    const r = await mase([
      'demo',
      '--rounds',
      '300',
      '--replicates',
      '6',
      '--llm-rounds',
      '3',
      '--workers',
      '2',
      '--model',
      model,
      '--out',
      'demo',
    ]);
    expect(r.code, r.stderr).toBe(0);
    stdout = r.stdout;
  }, 300_000);

  it('prints part 1, part 2 and the rerun instructions, in that order, each labelled', () => {
    const finding = stdout.indexOf('Part 1 of 2 — the finding');
    const machinery = stdout.indexOf(
      'Part 2 of 2 — the machinery with an LLM (it shows machinery, not strategy)',
    );
    const rerun = stdout.indexOf('Rerun on a real model');
    expect(finding).toBeGreaterThanOrEqual(0);
    expect(machinery).toBeGreaterThan(finding);
    expect(rerun).toBeGreaterThan(machinery);
  });

  it('part 1: says learning agents read no text, and gives Δ, tier and verdicts per regime', () => {
    expect(stdout).toMatch(
      /Q-learning firms read no text: a prompt-only constitution is, for them, the ungoverned\s+market by construction/,
    );
    const number = '-?\\d+(?:\\.\\d+)?';
    const ci = `${number} \\[${number}, ${number}\\]`;
    for (const regime of ['none', 'governance_graph'])
      expect(stdout).toMatch(
        new RegExp(
          `^${regime}\\s+6/6\\s+${ci}\\s+${ci}\\s+${verdict} \\d/6(, ${verdict} \\d/6)*$`,
          'm',
        ),
      );
    expect(stdout).not.toMatch(/^constitutional\s+\d/m);
    // Each regime's verdict with the rule that decided it.
    expect(stdout).toMatch(new RegExp(`^  none: ${verdict}: \\S`, 'm'));
    expect(stdout).toMatch(new RegExp(`^  governance_graph: ${verdict}: \\S`, 'm'));
  });

  it('part 1: the paired difference with its interval, exact p and Holm p, and the floor of p', () => {
    expect(stdout).toContain('Paired difference governance_graph − none (6 pairs');
    expect(stdout).toMatch(
      /^ {2}Δ {4}-?[\d.]+ \[-?[\d.]+, -?[\d.]+\] {3}sign-flip p = [\d.]+ \(exact\), Holm-adjusted p = [\d.]+$/m,
    );
    expect(stdout).toContain('With 6 pairs no sign-flip p can be below 2/2^6 = 0.031.');
  });

  it('part 1 went through the sweep machinery: records, store, report, rerunnable source', () => {
    expect(stdout).toContain('Sweep report: demo/finding/report.html');
    const report = read('demo/finding/report.html');
    expect(report).toContain('Intervals: 95% bootstrap over the pairs');
    for (const name of ['results.duckdb', 'results.csv', 'sweep.json'])
      expect(existsSync(file(`demo/finding/${name}`))).toBe(true);
    const csv = read('demo/finding/results.csv').trim().split('\n');
    expect(csv).toHaveLength(13);
    expect(csv[0]?.split(',')).toContain('verdict');
    // The sweep it wrote is valid MASE and declares the LLM rerun too.
    const check = sandbox.mase(['check', 'demo/finding.mase']);
    expect(check.code, check.stderr).toBe(0);
    expect(read('demo/finding.mase')).toMatch(/sweep finding_llm /);
  });

  it('part 2: the institution text in the prompt, answers, notices, a fine and the verdicts', () => {
    const part2 = stdout.slice(
      stdout.indexOf('Part 2 of 2'),
      stdout.indexOf('Rerun on a real model'),
    );
    // The constitution and the manifest, as the prompt carried them to the model.
    expect(part2).toMatch(/\| .*Set your quantities independently/);
    expect(part2).toMatch(/\| {3}P1 Independent decisions/);
    const prompts = server.requests.map((r) => r.body.messages[0]?.content ?? '');
    expect(prompts.some((p) => p.includes('Set your quantities independently'))).toBe(true);
    expect(prompts.some((p) => p.includes('P1 Independent decisions'))).toBe(true);
    expect(part2).toMatch(/round 1 f1 \[active\]: \[60, 0\] "you take B, I take A"/);
    expect(part2).toMatch(/transition f1: active → warning \(rule P1\)/);
    expect(part2).toMatch(/notice to f1: "Evidence of coordinated conduct has been recorded/);
    expect(part2).toMatch(/^ {4}fine f1: \d+/m);
    expect(part2).toMatch(
      /What f1 read in round 3: "Your standing with the institution: \w+\. Notices to you:/,
    );
    // Three rounds (one for the constitution) are too few to decide: both say so.
    expect(part2.match(/^Verdict: inconclusive — /gm)).toHaveLength(2);
    expect(existsSync(file('demo/machinery/prompt-governance_graph-f1-round1.txt'))).toBe(true);
  });

  it('ends with how to rerun both parts on a real model', () => {
    const rerun = stdout.slice(stdout.indexOf('Rerun on a real model'));
    expect(rerun).toContain('npx mase demo --only machinery --model openai:gpt-4o-mini');
    expect(rerun).toContain(
      'npx mase sweep demo/finding.mase --sweep finding_llm --model openai:gpt-4o-mini --out runs/finding_llm',
    );
    expect(rerun).toContain('openai-compatible:http://127.0.0.1:8000/v1#qwen2.5-7b');
  });

  it('runs again into the same directory, replacing its own sweep', async () => {
    const again = await mase([
      'demo',
      '--only',
      'finding',
      '--rounds',
      '100',
      '--replicates',
      '2',
      '--out',
      'demo',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('Part 2 of 2');
    expect(again.stdout).toContain(
      'With 2 pairs no sign-flip p can be below 2/2^2 = 0.5: too few pairs to reach 0.05.',
    );
    expect(read('demo/finding/results.csv').trim().split('\n')).toHaveLength(5);
  }, 120_000);
});

describe('mase demo: bad flags', () => {
  it.each([
    [['--only', 'both'], '--only takes finding or machinery, not `both`'],
    [['--replicates', '0'], '--replicates takes a whole number ≥ 1, not `0`'],
    [['--rounds', 'many'], '--rounds takes a whole number ≥ 2, not `many`'],
    [['--llm-rounds', '2.5'], '--llm-rounds takes a whole number ≥ 1, not `2.5`'],
    [['--workers', '-1'], '--workers takes a whole number ≥ 1, not `-1`'],
    [['--seed', 'x'], '--seed takes a whole number ≥ 0, not `x`'],
    [['--model', 'gpt'], '--model: '],
    [
      ['--agents', 'qlearning'],
      '--agents is gone: `mase demo` runs Q-learning firms (part 1) and LLM firms (part 2); `--only finding` runs part 1 alone',
    ],
  ])('mase demo %j → exit 2, a message, nothing written', async (flags, message) => {
    const r = await mase(['demo', ...flags, '--out', 'bad']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`mase: ${message}`);
    expect(existsSync(file('bad'))).toBe(false);
  });
});

describe('mase demo on the embedded model', () => {
  it('part 2 runs LLM firms in-process on the default model', async () => {
    const r = await mase([
      'demo',
      '--only',
      'machinery',
      '--llm-rounds',
      '1',
      '--no-cache',
      '--out',
      'local',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('LLM firms on the embedded model (SmolLM2-135M-Instruct');
    expect(r.stdout).not.toContain('Part 1 of 2');
    const manifest = JSON.parse(read('local/machinery/governance_graph/manifest.json')) as {
      models: { provider: string }[];
    };
    expect(manifest.models[0]?.provider).toBe('local');
    expect(r.stdout).toMatch(/round 1 f1 \[active\]: \[\d+(\.\d)?, \d+(\.\d)?\] /);
    expect(r.stdout.match(/^Verdict: inconclusive — /gm)).toHaveLength(2);
    // Two one-round runs of two firms: four calls to a model on a CPU shared with the suite.
  }, 480_000);
});
