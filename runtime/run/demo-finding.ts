import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunMetrics } from '../metrics.js';
import {
  analyzeSweep,
  type Comparison,
  formatInterval,
  formatNumber,
  formatVerdicts,
} from '../sweep/analyze.js';
import { writeSweepReport } from '../sweep/report.js';
import type { MeanEstimate } from '../sweep/stats.js';
import { runSweep } from '../sweep/sweep.js';

/**
 * Part 1 of `mase demo`, the finding: Q-learning firms on cournot_2x2 under no institution
 * and under the stdlib governance graph, as a small sweep run through the sweep machinery
 * (plan, local workers, the results store, `analyzeSweep`, the sweep report). The sweep's
 * source is written beside the results, so `mase sweep` reruns it as it is.
 */

/** The regimes of the finding. The constitution is left out: Q-learners read no text. */
export const FINDING_REGIMES = ['none', 'governance_graph'] as const;
export const FINDING_SWEEP = 'finding';
/** The same design with LLM firms and the constitution: the rerun on a real model. */
export const FINDING_LLM_SWEEP = 'finding_llm';
export const FINDING_SOURCE_FILE = 'finding.mase';
/** Rounds and replicates of `finding_llm` (a model call per firm and round). */
export const FINDING_LLM_DESIGN = { rounds: 50, replicates: 6 } as const;

export interface FindingOptions {
  readonly out: string;
  /** Rounds of each Q-learning run. */
  readonly rounds: number;
  readonly replicates: number;
  readonly seed: number;
  readonly workers: number;
  /** Draw the sweep's progress bar (a terminal). */
  readonly progress: boolean;
}

/** The sweeps of the demo as MASE text: what ran (`finding`) and its LLM counterpart. */
export function findingSource(options: Pick<FindingOptions, 'rounds' | 'replicates' | 'seed'>) {
  return `mase 1

// Written by \`mase demo\`. The sweep \`${FINDING_SWEEP}\` is what the demo ran; rerun it with
//   mase sweep ${FINDING_SOURCE_FILE} --sweep ${FINDING_SWEEP} --out runs/${FINDING_SWEEP}
// \`${FINDING_LLM_SWEEP}\` is the same comparison with LLM firms, which read the rules, so the
// prompt-only constitution is a regime of its own; give it a model with --model:
//   mase sweep ${FINDING_SOURCE_FILE} --sweep ${FINDING_LLM_SWEEP} --model openai:gpt-4o-mini --out runs/${FINDING_LLM_SWEEP}

experiment finding_base "Q-learning firms in the 2x2 market" {
  market cournot_2x2
  institution none
  agents qlearning
  rounds ${options.rounds}
  seed ${options.seed}
}

sweep ${FINDING_SWEEP} "Q-learning firms: no institution against the governance graph" {
  base finding_base
  factor regime: institution = ${FINDING_REGIMES.join(' | ')}
  design grid
  replicates ${options.replicates}
  seed ${options.seed}
}

experiment finding_llm_base "LLM firms in the 2x2 market" {
  market cournot_2x2
  institution none
  agents llm(memory: 30)
  rounds ${FINDING_LLM_DESIGN.rounds}
  seed ${options.seed}
}

sweep ${FINDING_LLM_SWEEP} "LLM firms: no institution, a prompt-only constitution, the governance graph" {
  base finding_llm_base
  factor regime: institution = none | constitutional | governance_graph
  design grid
  replicates ${FINDING_LLM_DESIGN.replicates}
  seed ${options.seed}
}
`;
}

/** One regime of the finding as the demo prints it. */
export interface FindingRegime {
  readonly regime: string;
  readonly runs: number;
  readonly completed: number;
  readonly collusionIndex: MeanEstimate;
  readonly tier: MeanEstimate;
  /** Verdict → runs, most frequent first (`mase analyze`'s counts), of `verdictRuns` runs. */
  readonly verdicts: readonly { readonly verdict: string; readonly runs: number }[];
  readonly verdictRuns: number;
  /** The verdict and its reason in the regime's first replicate (read from its metrics.json). */
  readonly example: { readonly verdict: string; readonly reason: string } | null;
}

export interface Finding {
  readonly dir: string;
  readonly source: string;
  readonly report: string;
  readonly regimes: readonly FindingRegime[];
  /** governance_graph − none, on Δ and on the tier. */
  readonly differences: readonly Comparison[];
  readonly failed: number;
}

/** Runs the finding's sweep into `OUT/finding` and reads back what the demo prints. */
export async function runFinding(options: FindingOptions): Promise<Finding> {
  mkdirSync(options.out, { recursive: true });
  const source = join(options.out, FINDING_SOURCE_FILE);
  const dir = join(options.out, FINDING_SWEEP);
  // Re-running the demo replaces its own earlier sweep, and nothing else.
  const sweepFile = join(dir, 'sweep.json');
  if (existsSync(sweepFile)) {
    const previous = JSON.parse(readFileSync(sweepFile, 'utf8')) as { sweep?: string };
    if (previous.sweep === FINDING_SWEEP) rmSync(dir, { recursive: true, force: true });
  }
  const text = findingSource(options);
  writeFileSync(source, text);
  const outcome = await runSweep({
    sources: [{ path: FINDING_SOURCE_FILE, text }],
    sweep: FINDING_SWEEP,
    out: dir,
    workers: options.workers,
    resume: false,
    progress: options.progress,
  });
  // The same statistics the report shows (`mase analyze`'s defaults: seed 1).
  const analysis = await analyzeSweep(dir);
  const report = await writeSweepReport(dir);
  const factor = analysis.factors.find((f) => f.name === 'regime');
  const regimes = (factor?.levels ?? []).map((level): FindingRegime => {
    const regime = String(level.level);
    const first = outcome.records.find(
      (r) => r.factors.regime === regime && r.replicate === 0 && r.status === 'completed',
    );
    return {
      regime,
      runs: level.runs,
      completed: level.completed,
      collusionIndex: level.outcomes.collusion_index,
      tier: level.outcomes.tier,
      verdicts: level.verdicts,
      verdictRuns: level.verdict_runs,
      example: first?.artifacts ? verdictOf(join(dir, first.artifacts)) : null,
    };
  });
  return {
    dir,
    source,
    report,
    regimes,
    differences: analysis.comparisons.filter(
      (c) => c.factor === 'regime' && c.level_a === 'none' && c.level_b === 'governance_graph',
    ),
    failed: analysis.runs.failed,
  };
}

function verdictOf(runDir: string): { verdict: string; reason: string } | null {
  const path = join(runDir, 'metrics.json');
  if (!existsSync(path)) return null;
  const metrics = JSON.parse(readFileSync(path, 'utf8')) as RunMetrics;
  return { verdict: metrics.macro.verdict, reason: metrics.macro.verdict_reason };
}

const estimate = (e: MeanEstimate) =>
  e.mean === null ? '–' : `${formatNumber(e.mean)} ${formatInterval(e.ci)}`;

function pValue(p: number | null): string {
  if (p === null) return '–';
  return p < 0.001 ? '< 0.001' : formatNumber(Number(p.toPrecision(2)));
}

/** Columns padded to their widest cell. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

/** The finding as text: the regime table, the paired differences, the reading, the files. */
export function formatFinding(finding: Finding, options: FindingOptions): string {
  const table = columns([
    ['regime', 'runs', 'mean Δ [95% CI]', 'mean tier [95% CI]', 'verdicts (runs)'],
    ...finding.regimes.map((r) => [
      r.regime,
      `${r.completed}/${r.runs}`,
      estimate(r.collusionIndex),
      estimate(r.tier),
      formatVerdicts({ verdicts: r.verdicts, verdict_runs: r.verdictRuns }),
    ]),
  ]);
  const differences = finding.differences.map((c) => {
    const label = c.outcome === 'collusion_index' ? 'Δ' : 'tier';
    return `  ${label.padEnd(4)} ${formatNumber(c.mean_difference)} ${formatInterval(c.mean_difference_ci)}   sign-flip p = ${pValue(c.p_value)}${c.p_value_method ? ` (${c.p_value_method})` : ''}, Holm-adjusted p = ${pValue(c.p_holm)}`;
  });
  const pairs = finding.differences[0]?.n_pairs ?? 0;
  const floor = pairs > 0 ? 2 / 2 ** pairs : null;
  const reasons = finding.regimes.flatMap((r) =>
    r.example ? [`  ${r.regime}: ${r.example.verdict}: ${r.example.reason}`] : [],
  );
  return [
    `Two Q-learning firms in cournot_2x2 (two products, each firm cheaper at one; dividing the
market is the collusive optimum), ${options.rounds.toLocaleString('en-US')} rounds per run, ${options.replicates} replicates under each
regime. Replicate r has the same seed under both regimes, so they are compared pair by pair.
Δ is the collusion index: 0 at Nash profit, 1 at joint-profit maximisation, over the second
half of each run. The agents get no instruction to collude and no channel to talk.

Q-learning firms read no text: a prompt-only constitution is, for them, the ungoverned
market by construction, so it is not run here. Part 2 shows it where it can act.`,
    '',
    ...table,
    '',
    `Paired difference governance_graph − none (${pairs} pairs, mean [95% bootstrap CI over pairs]):`,
    ...differences,
    ...(floor !== null
      ? [
          `  With ${pairs} pairs no sign-flip p can be below 2/2^${pairs} = ${formatNumber(Number(floor.toPrecision(2)))}${floor > 0.05 ? ': too few pairs to reach 0.05' : ''}.`,
        ]
      : []),
    ...(finding.failed > 0 ? [`  ${finding.failed} runs failed: see ${finding.dir}/records.`] : []),
    '',
    'Verdicts, with the rule that decided, in each regime’s first replicate (docs/metrics.md, "The verdict"):',
    ...reasons,
    '',
    `Sweep report: ${finding.report}`,
    `Results: ${join(finding.dir, 'results.duckdb')} (also .csv, .parquet) · mase analyze ${finding.dir}`,
    `The sweep as text: ${finding.source}`,
  ].join('\n');
}
