/**
 * The task each thread of the local pool runs: one sweep job. A thread keeps its compiled
 * sweep between jobs (`planFor` caches it), so only the first job of a thread compiles.
 */
import { threadId } from 'node:worker_threads';
import { type ExecuteOptions, runJob, type SweepJob } from './execute.js';
import type { RunRecord } from './record.js';

export default function task(input: {
  job: SweepJob;
  options: ExecuteOptions;
}): Promise<RunRecord> {
  return runJob(input.job, { ...input.options, worker: `${input.options.worker}/${threadId}` });
}
