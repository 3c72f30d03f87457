import os from 'node:os';
import { Tinypool } from 'tinypool';
import type { ExecuteOptions, SweepJob } from './execute.js';
import type { RunRecord } from './record.js';

/**
 * Runs jobs on a pool of worker threads (tinypool), `workers` at a time, and hands each
 * record to `onRecord` as it arrives. Every thread runs `runJob` exactly as a single
 * process would: a run's result depends only on the run, never on the thread or the
 * order. `shouldStop` is asked before each job starts (a spent budget, an interrupt):
 * jobs not yet started are then left alone.
 */
export async function runOnPool(options: {
  jobs: readonly SweepJob[];
  workers: number;
  execute: Omit<ExecuteOptions, 'worker'>;
  onRecord: (record: RunRecord) => void;
  shouldStop?: () => boolean;
}): Promise<void> {
  const { jobs, workers } = options;
  const pool = new Tinypool({
    filename: new URL('./pool-task.js', import.meta.url).href,
    minThreads: Math.min(workers, jobs.length) || 1,
    maxThreads: workers,
    // A thread keeps its compiled sweep between jobs.
    isolateWorkers: false,
  });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length && !options.shouldStop?.()) {
      const job = jobs[next++] as SweepJob;
      const record = (await pool.run({
        job,
        options: { ...options.execute, worker: `local:${os.hostname()}:${process.pid}` },
      })) as RunRecord;
      options.onRecord(record);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, () => lane()));
  } finally {
    await pool.destroy();
  }
}
