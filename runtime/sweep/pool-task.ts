/**
 * The task each thread of the local pool runs: one sweep job. A thread keeps its compiled
 * sweep between jobs (`planFor` caches it), so only the first job of a thread compiles.
 */
import { threadId } from 'node:worker_threads';
import { registerKindFolders } from '../environment/kinds.js';
import { type ExecuteOptions, runJob, type SweepJob } from './execute.js';
import type { RunRecord } from './record.js';

export default async function task(input: {
  job: SweepJob;
  options: ExecuteOptions;
}): Promise<RunRecord> {
  // A thread starts with the coordinator's kind folders (registering one twice is a no-op).
  await registerKindFolders(input.options.kinds ?? []);
  return runJob(input.job, { ...input.options, worker: `${input.options.worker}/${threadId}` });
}
