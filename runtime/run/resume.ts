import { CacheError, ResponseCache } from '../llm/cache.js';
import { paraphrasingModels } from '../talk/paraphrase.js';
import { type RunArtifacts, runToDirectory } from './artifacts.js';
import { ResumeError, readCheckpoint } from './checkpoint.js';
import { experimentFromRun, ReplayError } from './replay.js';
import type { ResolvedExperiment, RunLlmOptions } from './run.js';
import type { Interruption } from './signals.js';

/**
 * `mase run --resume --out DIR`: the run in DIR, continued from its last checkpoint (from
 * round 1 when it has none), with the sources, flags, seed and response cache its manifest
 * records (docs/checkpoints.md).
 */
export async function resumeRun(
  dir: string,
  options: { interruption?: Interruption; onRoundEnd?: (round: number) => void } = {},
): Promise<RunArtifacts> {
  let rebuilt: ReturnType<typeof experimentFromRun>;
  try {
    rebuilt = experimentFromRun(dir, 'resumed');
  } catch (error) {
    if (error instanceof ReplayError) throw new ResumeError(error.message);
    throw error;
  }
  const { experiment, manifest } = rebuilt;
  const status = manifest.status;
  if (status === 'completed' || status === 'degraded')
    throw new ResumeError(
      `${dir} holds a finished run (status ${status}); there is nothing to resume`,
    );
  const stored = manifest as unknown as Record<string, unknown> & {
    run_id: string;
    digest: string;
  };
  const checkpoint = readCheckpoint(dir, stored);
  const llm = resumeLlm(experiment, manifest, dir);
  return runToDirectory(experiment, dir, {
    resume: { manifest: stored, ...(checkpoint ? { checkpoint } : {}) },
    ...(options.interruption ? { interruption: options.interruption } : {}),
    ...(options.onRoundEnd ? { onRoundEnd: options.onRoundEnd } : {}),
    ...(llm ? { llm } : {}),
  });
}

/** The model options a resumed run needs: those it recorded, with its response cache. */
export function resumeLlm(
  experiment: ResolvedExperiment,
  manifest: ReturnType<typeof experimentFromRun>['manifest'],
  dir: string,
): RunLlmOptions | undefined {
  const usesLlm =
    Object.values(experiment.policies).some((p) => p.name === 'llm') ||
    paraphrasingModels(experiment).length > 0;
  if (!usesLlm) return undefined;
  const cache = manifest.llm?.cache;
  if (!cache)
    throw new ResumeError(
      `the run in ${dir} kept no response cache (it ran with --no-cache): its rounds up to the checkpoint cannot be made again without asking the models afresh`,
    );
  try {
    new ResponseCache(cache, 'record').close();
  } catch (error) {
    if (error instanceof CacheError) throw new ResumeError(error.message);
    throw error;
  }
  return {
    cache: { path: cache, mode: 'record' },
    ...(manifest.llm?.default_model ? { defaultModel: manifest.llm.default_model } : {}),
    ...(manifest.llm?.templates ? { templates: manifest.llm.templates } : {}),
    ...(manifest.llm?.budget ? { budget: manifest.llm.budget } : {}),
    ...(manifest.llm?.prices ? { prices: manifest.llm.prices } : {}),
    ...(typeof manifest.llm?.max_fallback_share === 'number'
      ? { maxFallbackShare: manifest.llm.max_fallback_share }
      : {}),
  };
}
