import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { compileSources } from '../../compiler/index.js';
import { stdlibSources } from '../sources.js';
import { runToDirectory } from './artifacts.js';
import { resolveExperiment } from './resolve.js';
import { summaryTable } from './summary.js';

const REGIMES = ['none', 'constitutional', 'governance_graph'] as const;

/**
 * `mase demo`: the governance comparison on cournot_2x2 — the same Q-learning firms and
 * seed under no institution, a prompt-only constitution and the governance graph.
 */
export async function runDemo(options: {
  rounds: number;
  seed: number;
  out: string;
  progress: (total: number) => { onRoundEnd?: (round: number) => void };
}): Promise<string> {
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
          agents: 'qlearning',
          params: [],
          rounds: options.rounds,
          seed: options.seed,
        },
        () => ({ all: { name: 'qlearning', args: [] }, perFirm: {} }),
        library,
      ),
      name: `demo-${regime}`,
    };
    process.stderr.write(`running ${regime} (${options.rounds} rounds)\n`);
    const artifacts = await runToDirectory(experiment, dir, options.progress(options.rounds));
    rows.push({ label: regime, artifacts });
  }
  return `${summaryTable(rows)}

Firms are Q-learning agents: they read no text, so for them the constitutional regime is
the same as no institution (the LLM milestone makes the difference visible).
Inspect a run with \`mase show ${join(options.out, 'governance_graph')}\`; check its log with \`mase verify\`.
`;
}
