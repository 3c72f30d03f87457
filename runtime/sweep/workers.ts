import os from 'node:os';

/** The default number of local workers: one per core. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/** The most worker threads MASE starts, even when told to pass the cores: each holds a run. */
export const MAX_WORKERS = 256;

/**
 * The worker threads to start when `--workers` asks for `requested` (a whole number ≥ 1;
 * undefined: one per core): at most one per core, with a warning saying so, unless `force`
 * (`--force-workers`); never more than `MAX_WORKERS`. A thread past the cores only waits for
 * one and adds its memory: `--workers 1000` would start 1,000 threads.
 */
export function workerCount(
  requested: number | undefined,
  force: boolean,
  cores: number = defaultWorkers(),
): { readonly workers: number; readonly warning?: string } | { readonly problem: string } {
  if (requested === undefined || requested <= cores) return { workers: requested ?? cores };
  if (!force)
    return {
      workers: cores,
      warning: `--workers ${requested} is more than the ${cores} core${cores === 1 ? '' : 's'} of this machine: using ${cores} (add --force-workers to start ${requested})`,
    };
  if (requested > MAX_WORKERS)
    return {
      problem: `--workers takes at most ${MAX_WORKERS}, even with --force-workers, not \`${requested}\``,
    };
  return { workers: requested };
}
