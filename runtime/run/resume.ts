import { type RunArtifacts, runToDirectory } from './artifacts.js';
import { ResumeError, readCheckpoint } from './checkpoint.js';
import { experimentFromRun, ReplayError, recordedLlm } from './replay.js';
import type { RunLlmOptions } from './run.js';
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
  let llm: RunLlmOptions | undefined;
  try {
    rebuilt = experimentFromRun(dir, 'resumed');
    llm = recordedLlm(rebuilt.experiment, rebuilt.manifest, dir, 'resumed');
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
  return runToDirectory(experiment, dir, {
    resume: { manifest: stored, ...(checkpoint ? { checkpoint } : {}) },
    ...(options.interruption ? { interruption: options.interruption } : {}),
    ...(options.onRoundEnd ? { onRoundEnd: options.onRoundEnd } : {}),
    ...(llm ? { llm } : {}),
  });
}
