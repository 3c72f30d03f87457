import { join } from 'node:path';
import { localModelPath } from '../llm/model-files.js';
import {
  FINDING_LLM_SWEEP,
  FINDING_SOURCE_FILE,
  formatFinding,
  runFinding,
} from './demo-finding.js';
import { runMachinery } from './demo-machinery.js';
import type { RunLlmOptions } from './run.js';

/**
 * `mase demo`: part 1, the finding (Q-learning firms, no institution against the
 * governance graph, as a small sweep with replicates); part 2, the machinery (LLM firms for
 * a few rounds under the constitution and the graph); then how to rerun both on a real
 * model. Each part prints as soon as it is done.
 */

/** The defaults: Δ ≈ 0.2 needs about 20,000 rounds; 6 pairs are the fewest that can reach p < 0.05. */
export const DEMO_DEFAULTS = {
  rounds: 20_000,
  replicates: 6,
  llmRounds: 3,
  seed: 1,
  model: 'local',
} as const;

export type DemoPart = 'finding' | 'machinery';

export interface DemoOptions {
  readonly out: string;
  /** Which parts to run (both by default). */
  readonly parts: readonly DemoPart[];
  readonly rounds: number;
  readonly replicates: number;
  readonly llmRounds: number;
  readonly seed: number;
  readonly workers: number;
  readonly model: string;
  /** Model options (cache, timeouts) for part 2. */
  readonly llm: RunLlmOptions;
  readonly progress: (total: number) => { onRoundEnd?: (round: number) => void };
  /** Draw the sweep's progress bar. */
  readonly progressBar: boolean;
  /** Where each finished part goes (stdout). */
  readonly write: (text: string) => void;
}

const rule = (title: string) =>
  `${'='.repeat(3)} ${title} ${'='.repeat(Math.max(3, 86 - title.length))}`;

export async function runDemo(options: DemoOptions): Promise<void> {
  // A model file named with MASE_MODEL must be there (this looks, it never downloads): a
  // missing one is a ModelFileError naming it before anything is written. With none named,
  // the first model call fetches the default model.
  if (options.parts.includes('machinery') && options.model === 'local') localModelPath();
  if (options.parts.includes('finding')) {
    process.stderr.write(
      `part 1: ${2 * options.replicates} runs of ${options.rounds} rounds on ${options.workers} worker${options.workers === 1 ? '' : 's'}\n`,
    );
    const findingOptions = {
      out: options.out,
      rounds: options.rounds,
      replicates: options.replicates,
      seed: options.seed,
      workers: options.workers,
      progress: options.progressBar,
    };
    const finding = await runFinding(findingOptions);
    options.write(
      `${rule('Part 1 of 2 — the finding: learning firms collude, and a governance graph against it')}\n\n${formatFinding(finding, findingOptions)}\n\n`,
    );
  }
  if (options.parts.includes('machinery')) {
    const machinery = await runMachinery({
      out: options.out,
      rounds: options.llmRounds,
      seed: options.seed,
      model: options.model,
      llm: options.llm,
      progress: options.progress,
    });
    const model =
      options.model === 'local'
        ? 'the embedded model (SmolLM2-135M-Instruct, in-process on the CPU)'
        : options.model;
    options.write(
      `${rule('Part 2 of 2 — the machinery with an LLM (it shows machinery, not strategy)')}

LLM firms on ${model}, for a few rounds.
A handful of rounds of one model is no evidence about collusion: this part shows what MASE
does around a model — the institution's text in the prompt, the answers and rationales,
notices, sanctions and transitions, and the verdict, which says "inconclusive" where so
few rounds cannot decide.

${machinery}

`,
    );
  }
  options.write(rerun(options));
}

/** How to run both parts on a real model. */
function rerun(options: Pick<DemoOptions, 'out' | 'parts'>): string {
  const source = join(options.out, FINDING_SOURCE_FILE);
  return `${rule('Rerun on a real model')}

OpenAI: --model openai:gpt-4o-mini (key in OPENAI_API_KEY). An OpenAI-compatible server:
--model openai-compatible:http://127.0.0.1:8000/v1#qwen2.5-7b (vLLM),
--model openai-compatible:http://127.0.0.1:11434/v1#llama3.2 (Ollama).

Part 2, longer, on that model (the constitution and the governance graph):
  npx mase demo --only machinery --model openai:gpt-4o-mini --llm-rounds 30
Part 1 with LLM firms in place of the Q-learners, in the three regimes (the constitution
is a regime of its own for firms that read), 50 rounds × 6 replicates, 1,800 model calls:
  ${options.parts.includes('finding') ? '' : `npx mase demo --only finding   # writes ${source}\n  `}npx mase sweep ${source} --sweep ${FINDING_LLM_SWEEP} --model openai:gpt-4o-mini --out runs/${FINDING_LLM_SWEEP}
  npx mase report runs/${FINDING_LLM_SWEEP}    # the sweep report: regime table, paired differences
`;
}
