/**
 * Distributed sweeps on BullMQ and Redis: the coordinator side of `mase sweep --queue`
 * (`runOnQueue`) and the engine of `mase worker` (`startWorker`). Layout, job ids and the
 * exactly-once argument: docs/architecture.md, "Distributed sweeps".
 *
 * - One BullMQ queue, `mase-sweeps`, serves every sweep, so a worker needs no discovery.
 * - A job's id is `<sweep key>-<run id>`; the sweep key hashes the sweep's sources, its
 *   name and the coordinator's directory, so two sweeps never share a job, and a resumed
 *   coordinator re-adding a job adds nothing (BullMQ keeps one job per id).
 * - A worker runs each job in a worker thread (a BullMQ sandboxed processor: this module's
 *   default export), so a long run never starves the lock renewals of the main thread.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workerData } from 'node:worker_threads';
import {
  Job,
  type JobState,
  Queue,
  QueueEvents,
  type RedisOptions,
  type SandboxedJob,
  Worker,
} from 'bullmq';
import type { RunLlmOptions } from '../run/run.js';
import { packageRoot } from '../sources.js';
import { SweepProblem } from './errors.js';
import {
  failedRecord as failedRecordOf,
  planFor,
  runJob,
  type SweepJob,
  sweepDigest,
} from './execute.js';
import type { RunRecord } from './record.js';

/** The one BullMQ queue every MASE sweep's jobs go to. */
export const SWEEP_QUEUE = 'mase-sweeps';

/** How many times a job is started before it counts as failed (a worker error, not a failed run). */
const ATTEMPTS = 3;

/**
 * The clocks of the queue. Workers use the first three: a job's lock lives `lockDurationMs`
 * unless its worker renews it (every half of that), and every `stalledIntervalMs` each
 * worker moves the jobs whose lock expired (their worker died) back to the wait list; a
 * job that stalls more than `maxStalledCount` times fails. A dead worker's job is thus
 * retried after about `lockDurationMs + 2 × stalledIntervalMs`.
 */
export interface QueueTiming {
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  /** How long to wait for Redis before giving up (start of a coordinator or worker). */
  readonly connectTimeoutMs: number;
  /** How often the coordinator checks its unfinished jobs itself (events can be missed). */
  readonly pollIntervalMs: number;
}

export const DEFAULT_QUEUE_TIMING: QueueTiming = {
  lockDurationMs: 30_000,
  stalledIntervalMs: 30_000,
  maxStalledCount: 2,
  connectTimeoutMs: 5_000,
  pollIntervalMs: 5_000,
};

/** The queue cannot be used (a bad URL, Redis unreachable, a bad worker option): a message for the user. */
export class QueueError extends SweepProblem {}

/** A job's data: the sweep job and where its coordinator wants run directories. */
export interface QueuedJob extends SweepJob {
  /** Absolute, as the coordinator sees it; a worker started with `--artifacts` uses its own. */
  readonly artifacts: string;
}

/** Connection options for a `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://`) URL. */
export function parseQueueUrl(url: string): { connection: RedisOptions; where: string } {
  const shown = JSON.stringify(url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@'));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new QueueError(`--queue ${shown} is not a URL; expected redis://HOST:PORT`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new QueueError(`--queue ${shown} is not a redis:// URL; expected redis://HOST:PORT`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new QueueError(`--queue ${shown} names no host; expected redis://HOST:PORT`);
  const database = parsed.pathname.replace(/^\//, '');
  if (database !== '' && !/^\d+$/.test(database))
    throw new QueueError(`--queue ${shown}: the database after the host must be a number`);
  if (parsed.search || parsed.hash)
    throw new QueueError(`--queue ${shown}: a queue URL takes no query or fragment`);
  const port = parsed.port ? Number(parsed.port) : 6379;
  const connection: RedisOptions = {
    host,
    port,
    ...(database ? { db: Number(database) } : {}),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { connection, where: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

/** Connects once without retrying, so an unreachable Redis is an error in seconds, not a hang. */
async function reachRedis(connection: RedisOptions, where: string, timeoutMs: number) {
  const probe = new Queue(SWEEP_QUEUE, {
    connection: { ...connection, connectTimeout: timeoutMs, retryStrategy: () => null },
  });
  probe.on('error', () => {
    // The rejection of waitUntilReady carries the reason.
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.waitUntilReady(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    throw new QueueError(
      `cannot reach Redis at ${where} (${error instanceof Error ? error.message : String(error)})`,
    );
  } finally {
    clearTimeout(timer);
    await probe.close().catch(() => undefined);
  }
}

/**
 * A sweep's key: its sources, its name and its coordinator's directory. The same sweep
 * written to another directory is another sweep (its runs are run again, into it).
 */
export function sweepKey(job: Pick<SweepJob, 'sources' | 'sweep'>, dir: string): string {
  return createHash('sha256')
    .update(`${sweepDigest(job.sources, job.sweep)}:${resolve(dir)}`)
    .digest('hex')
    .slice(0, 16);
}

/** The BullMQ job id of a run (BullMQ ids cannot contain `:`). */
export function queueJobId(key: string, runId: string): string {
  return `${key}-${runId}`;
}

export interface QueueRunOptions {
  /** `redis://HOST:PORT` */
  readonly queue: string;
  readonly jobs: readonly SweepJob[];
  /** The sweep's directory (`--out`); part of the sweep's key. */
  readonly dir: string;
  /** Where workers put run directories (`--artifacts`; default `dir`). */
  readonly artifacts?: string;
  /**
   * Called once per run id, in the order results arrive; the caller writes the record.
   * Once it returns, the run's job is removed from Redis: the record is the result.
   */
  readonly onRecord: (record: RunRecord) => void;
  /**
   * Asked after each record (a spent budget): when true, the sweep's jobs no worker has
   * started are taken off the queue, and only the runs in progress are waited for.
   */
  readonly shouldStop?: () => boolean;
  /** Stops waiting (jobs stay queued and workers keep running them: `--resume` collects them). */
  readonly signal?: AbortSignal;
  readonly timing?: Partial<QueueTiming>;
}

/**
 * Queues a sweep's jobs (all of one sweep: the same sources and sweep name) and collects
 * one record per run: from QueueEvents as jobs finish, and by checking the unfinished jobs
 * at the start (a resumed coordinator collects what finished while it was down) and every
 * `pollIntervalMs`. Each job is removed from Redis once `onRecord` has taken its record, so
 * a later coordinator of the same run (`--resume --retry-failed`) runs it again. Resolves
 * when every job has a record (or the signal aborts).
 */
export async function runOnQueue(options: QueueRunOptions): Promise<void> {
  const timing = { ...DEFAULT_QUEUE_TIMING, ...options.timing };
  const { connection, where } = parseQueueUrl(options.queue);
  if (options.jobs.length === 0 || options.signal?.aborted) return;
  const [first] = options.jobs as [SweepJob, ...SweepJob[]];
  if (options.jobs.some((job) => job.sources !== first.sources || job.sweep !== first.sweep))
    throw new Error('runOnQueue takes the jobs of one sweep (the same sources and sweep name)');
  await reachRedis(connection, where, timing.connectTimeoutMs);

  const artifacts = resolve(options.artifacts ?? options.dir);
  const key = sweepKey(first, options.dir);
  /** Job id → job, for the jobs without a record yet. */
  const pending = new Map<string, SweepJob>();
  for (const job of options.jobs) pending.set(queueJobId(key, job.runId), job);
  const all = [...pending.keys()];
  /** Removals of delivered jobs still on their way to Redis (awaited before disconnecting). */
  const removals = new Set<Promise<unknown>>();
  /** When this coordinator started, by the clock of Redis (set once connected). */
  let since = 0;

  const queue = new Queue<QueuedJob, RunRecord>(SWEEP_QUEUE, { connection });
  const events = new QueueEvents(SWEEP_QUEUE, { connection });
  // Connection trouble is retried by ioredis; the jobs wait in Redis meanwhile.
  queue.on('error', () => undefined);
  events.on('error', () => undefined);

  let settle: (error?: unknown) => void = () => undefined;
  const finished = new Promise<void>((resolvePromise, rejectPromise) => {
    settle = (error) => (error === undefined ? resolvePromise() : rejectPromise(error));
  });
  // Awaited below, once the jobs are queued; a failure before then must not go unhandled.
  finished.catch(() => undefined);
  let stopping = false;
  const deliver = (jobId: string, record: RunRecord) => {
    if (!pending.delete(jobId)) return;
    try {
      options.onRecord(record);
      // The record is with the caller (on disk): the job need not stay in Redis, and must
      // not, or a later coordinator of this run would collect it instead of running it.
      const removal = queue.remove(jobId).catch(() => 0);
      removals.add(removal);
      removal.finally(() => removals.delete(removal));
      if (!stopping && options.shouldStop?.()) {
        stopping = true;
        unqueue().catch(settle);
      }
    } catch (error) {
      settle(error);
      return;
    }
    if (pending.size === 0) settle();
  };
  /** Takes the jobs no worker has started off the queue (a job being started stays: remove fails on its lock). */
  const unqueue = async () => {
    for (const jobId of [...pending.keys()]) {
      const state = await queue.getJobState(jobId);
      if (state === 'active' || state === 'completed' || state === 'failed') continue;
      if ((await queue.remove(jobId)) === 1) pending.delete(jobId);
    }
    if (pending.size === 0) settle();
  };
  const completed = (jobId: string, value: unknown) => {
    const job = pending.get(jobId);
    if (!job) return;
    let record: RunRecord | null = null;
    try {
      record = (typeof value === 'string' ? JSON.parse(value) : value) as RunRecord | null;
    } catch {
      // Not JSON: reported below as a run without a record.
    }
    deliver(
      jobId,
      record && typeof record === 'object' && record.run_id === job.runId
        ? record
        : failedRecord(job, 'unknown', 'the worker returned no record for this run'),
    );
  };
  const failed = async (jobId: string, job?: Job<QueuedJob, RunRecord>) => {
    const sweepJob = pending.get(jobId);
    const found = job ?? (await Job.fromId<QueuedJob, RunRecord>(queue, jobId));
    if (!sweepJob || !found) return;
    const attempts = `${found.attemptsStarted || found.attemptsMade} attempt(s)`;
    deliver(
      jobId,
      failedRecord(
        sweepJob,
        found.processedBy ?? 'unknown',
        `the queue gave up on this run after ${attempts}: ${found.failedReason || 'no reason given'}`,
      ),
    );
  };
  /** Looks at the unfinished jobs themselves: the events of a finished job can be missed. */
  const check = async (jobId: string, state: JobState | 'unknown') => {
    if (!pending.has(jobId)) return;
    if (state === 'completed') {
      const job = await Job.fromId<QueuedJob, RunRecord>(queue, jobId);
      if (job) completed(jobId, job.returnvalue);
    } else if (state === 'failed') {
      const job = await Job.fromId<QueuedJob, RunRecord>(queue, jobId);
      // A job that failed before this coordinator started is run again (with all its
      // attempts), not reported.
      if (job && (job.finishedOn ?? 0) < since)
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      else if (job) await failed(jobId, job);
    } else if (state === 'unknown' && !stopping) {
      // Removed from Redis (by hand, or by another coordinator of the same sweep): add it again.
      await enqueue([jobId]);
    }
  };
  const enqueue = async (jobIds: readonly string[]) => {
    for (let i = 0; i < jobIds.length; i += 500) {
      const chunk = jobIds.slice(i, i + 500).flatMap((jobId) => {
        const job = pending.get(jobId);
        if (!job) return [];
        const data: QueuedJob = {
          sources: job.sources,
          sweep: job.sweep,
          runId: job.runId,
          // What each run keeps and draws travels with it: a worker has no flags of its own for them.
          ...(job.trace ? { trace: job.trace } : {}),
          ...(job.runReports ? { runReports: true } : {}),
          artifacts,
        };
        return [
          {
            name: job.sweep,
            data,
            opts: {
              jobId,
              attempts: ATTEMPTS,
              backoff: { type: 'fixed', delay: 1_000 },
              removeOnComplete: false,
              removeOnFail: false,
            },
          },
        ];
      });
      await queue.addBulk(chunk);
    }
  };
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const ids = [...pending.keys()];
      for (let i = 0; i < ids.length && pending.size > 0; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const states = await Promise.all(chunk.map((id) => queue.getJobState(id)));
        await Promise.all(chunk.map((id, j) => check(id, states[j] ?? 'unknown')));
      }
    } finally {
      polling = false;
    }
  };

  events.on('completed', ({ jobId, returnvalue }) => completed(jobId, returnvalue));
  events.on('failed', ({ jobId }) => {
    if (pending.has(jobId)) failed(jobId).catch(() => undefined);
  });
  const abort = () => settle();
  options.signal?.addEventListener('abort', abort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    since = await redisNow(queue);
    await events.waitUntilReady();
    await enqueue(all);
    await poll().catch(() => undefined);
    timer = setInterval(() => {
      poll().catch(() => undefined);
    }, timing.pollIntervalMs);
    await finished;
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', abort);
    await Promise.all(removals);
    await Promise.all([events.close(), queue.close()]).catch(() => undefined);
  }
}

/**
 * Now by the clock of Redis, in ms: one clock for every coordinator (BullMQ's client
 * interface has no TIME, but runs Lua on every adapter).
 */
async function redisNow(queue: Queue<QueuedJob, RunRecord>): Promise<number> {
  const client = await queue.client;
  client.defineCommand('maseTime', { numberOfKeys: 0, lua: "return redis.call('TIME')" });
  const [seconds, micros] = (await client.runCommand('maseTime', [])) as [unknown, unknown];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** The record of a run the queue gave up on (its workers kept dying or erring). */
function failedRecord(job: SweepJob, worker: string, error: string): RunRecord {
  let run: ReturnType<typeof planFor>['runs'][number] | undefined;
  try {
    run = planFor(job.sources, job.sweep).runs.find((r) => r.runId === job.runId);
  } catch {
    // Without a plan the record keeps only the run id.
  }
  const now = new Date().toISOString();
  return failedRecordOf(job, worker, error, now, now, 0, run);
}

export interface WorkerOptions {
  /** `redis://HOST:PORT` */
  readonly queue: string;
  /** Where this machine puts run directories; overrides the coordinator's path (mounts differ). */
  readonly artifacts?: string;
  /** Recorded in every record it produces (default `HOST:PID`); no spaces. */
  readonly name?: string;
  /** Runs at once, each in its own thread (default 1). */
  readonly concurrency?: number;
  /** Sent to the run threads, so plain data only (no functions). */
  readonly llm?: RunLlmOptions;
  readonly timing?: Partial<QueueTiming>;
  /** Progress and trouble, one line each (default: none). */
  readonly log?: (line: string) => void;
}

export interface SweepWorker {
  readonly name: string;
  /** Finishes the runs in progress, then disconnects. */
  close(): Promise<void>;
}

/** What a run thread is told when it starts (BullMQ passes it as `workerData`). */
interface ThreadData {
  readonly name: string;
  readonly artifacts?: string;
  readonly llm?: RunLlmOptions;
}

/** Takes jobs of every MASE sweep from the queue and runs each in a worker thread. */
export async function startWorker(options: WorkerOptions): Promise<SweepWorker> {
  const timing = { ...DEFAULT_QUEUE_TIMING, ...options.timing };
  const { connection, where } = parseQueueUrl(options.queue);
  const name = options.name ?? `${os.hostname()}:${process.pid}`;
  if (!/^[^\s]+$/.test(name))
    throw new QueueError(`worker name ${JSON.stringify(name)}: no spaces`);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new QueueError(`--concurrency must be a whole number ≥ 1, got ${concurrency}`);
  try {
    structuredClone(options.llm);
  } catch {
    throw new QueueError("a worker's LLM options must be plain data (they go to the run threads)");
  }
  await reachRedis(connection, where, timing.connectTimeoutMs);

  const thread: ThreadData = {
    name,
    ...(options.artifacts ? { artifacts: resolve(options.artifacts) } : {}),
    ...(options.llm ? { llm: options.llm } : {}),
  };
  const log = options.log ?? (() => undefined);
  const worker = new Worker<QueuedJob, RunRecord>(SWEEP_QUEUE, processorFile(), {
    connection,
    name,
    concurrency,
    lockDuration: timing.lockDurationMs,
    stalledInterval: timing.stalledIntervalMs,
    maxStalledCount: timing.maxStalledCount,
    useWorkerThreads: true,
    workerThreadsOptions: { workerData: thread },
  });
  const label = (job: Job<QueuedJob, RunRecord>) => `sweep ${job.data.sweep} run ${job.data.runId}`;
  worker.on('active', (job) => log(`running ${label(job)}`));
  worker.on('completed', (job, record) =>
    log(`${record.status} ${label(job)} in ${record.duration_ms} ms`),
  );
  worker.on('failed', (job, error) => {
    if (job) log(`error in ${label(job)}: ${error.message}`);
  });
  worker.on('error', (error) => log(`queue error: ${error.message}`));
  try {
    await worker.waitUntilReady();
  } catch (error) {
    await worker.close().catch(() => undefined);
    throw error;
  }
  return { name, close: () => worker.close() };
}

/**
 * The module a run thread loads: this one, built. (Run from TypeScript sources, as in
 * tests, the threads still need JavaScript: the build's copy.)
 */
function processorFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return here;
  const built = join(packageRoot(), 'dist', 'runtime', 'sweep', 'redis.js');
  if (!existsSync(built)) throw new QueueError(`${built} is missing: run \`npm run build\``);
  return built;
}

/** Runs one job in a worker's run thread (BullMQ's sandboxed processor). */
export default async function processSweepJob(
  job: SandboxedJob<QueuedJob, RunRecord>,
): Promise<RunRecord> {
  const thread = workerData as ThreadData;
  const { sources, sweep, runId, trace, runReports } = job.data;
  return runJob(
    { sources, sweep, runId, ...(trace ? { trace } : {}), ...(runReports ? { runReports } : {}) },
    {
      artifacts: thread.artifacts ?? job.data.artifacts,
      worker: thread.name,
      ...(thread.llm ? { llm: thread.llm } : {}),
    },
  );
}
