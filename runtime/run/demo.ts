import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileSources } from '../../compiler/index.js';
import { localModelPath } from '../llm/model-files.js';
import { stdlibSources } from '../sources.js';
import { runToDirectory } from './artifacts.js';
import { resolveExperiment } from './resolve.js';
import { summaryTable } from './summary.js';

const REGIMES = ['none', 'constitutional', 'governance_graph'] as const;

/** Rounds of the demo: a few for LLM firms (each a model call), many for Q-learners. */
export const DEMO_ROUNDS = { local: 12, qlearning: 2000 } as const;

/**
 * `mase demo`: the governance comparison on cournot_2x2 — the same firms and seed under
 * no institution, a prompt-only constitution and the governance graph. By default the
 * firms are LLM firms on the embedded model (fetched on first use); `agents: 'qlearning'`
 * is the fast learning-agent variant.
 */
export async function runDemo(options: {
  rounds: number;
  seed: number;
  out: string;
  agents: 'local' | 'qlearning';
  progress: (total: number) => { onRoundEnd?: (round: number) => void };
  /** The response cache (absent: none). */
  cache?: string;
}): Promise<string> {
  const policy =
    options.agents === 'local'
      ? {
          name: 'llm',
          args: [
            { name: 'model', value: 'local' },
            { name: 'memory', value: 3 },
          ],
        }
      : { name: 'qlearning', args: [] };
  // A model file named with MASE_MODEL must be there (this looks, it never downloads): a
  // missing one is a ModelFileError naming it before any run is written. With none named,
  // the first model call fetches the default model.
  if (options.agents === 'local') localModelPath();
  const library = stdlibSources();
  const compiled = compileSources([], library, { includeLibrary: true });
  const rows = [];
  for (const regime of REGIMES) {
    const dir = join(options.out, regime);
    // Re-running the demo replaces its own earlier runs, and nothing else.
    if (existsSync(join(dir, 'manifest.json'))) {
      const previous = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
        experiment?: string;
      };
      if (previous.experiment === `demo-${regime}`) rmSync(dir, { recursive: true, force: true });
    }
    const experiment = {
      ...resolveExperiment(
        compiled.program,
        {
          market: 'cournot_2x2',
          institution: regime,
          agents: options.agents,
          params: [],
          rounds: options.rounds,
          seed: options.seed,
        },
        () => ({ all: policy, perFirm: {} }),
        library,
      ),
      name: `demo-${regime}`,
    };
    process.stderr.write(`running ${regime} (${options.rounds} rounds)\n`);
    const artifacts = await runToDirectory(experiment, dir, {
      ...options.progress(options.rounds),
      ...(options.agents === 'local'
        ? { llm: options.cache ? { cache: { path: options.cache, mode: 'record' } } : {} }
        : {}),
    });
    rows.push({ label: regime, artifacts });
  }
  const firms =
    options.agents === 'local'
      ? `Firms are LLM firms on the embedded model (SmolLM2-135M-Instruct, in-process on the CPU):
small and fast, not a strong strategist. Point the same comparison at a stronger model with
  mase run --market stdlib:cournot_2x2 --institution stdlib:governance_graph \\
    --agents llm --model openai:gpt-4o-mini --rounds ${options.rounds} --out runs/gpt
or a local server: --model openai-compatible:http://127.0.0.1:8000/v1#qwen2.5-7b (vLLM),
--model openai-compatible:http://127.0.0.1:11434/v1#llama3.2 (Ollama).
\`mase demo --agents qlearning\` runs the fast learning-agent variant.`
      : `Firms are Q-learning agents: they read no text, so for them the constitutional regime is
the same as no institution; \`mase demo\` (LLM firms) makes the difference visible.`;
  return `${summaryTable(rows)}

${firms}
Inspect a run with \`mase show ${join(options.out, 'governance_graph')}\`; check its log with \`mase verify\`.
`;
}
