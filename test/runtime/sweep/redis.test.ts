/**
 * The distributed sweep executor against a real redis-server: worker processes built from
 * dist/, one of them killed in the middle of a run. redis-server is required (CI installs
 * it); without it these tests fail, they do not skip.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  packageRoot,
  parseQueueUrl,
  planFor,
  QueueError,
  type RunRecord,
  runJob,
  runOnQueue,
  SWEEP_QUEUE,
  type SweepJob,
  startWorker,
  writeRecord,
} from '../../../runtime/index.js';
// The queue's job keys, internal to runOnQueue and startWorker.
import { queueJobId, sweepKey } from '../../../runtime/sweep/redis.js';

const WORKER_MAIN = join(packageRoot(), 'dist', 'runtime', 'sweep', 'worker-main.js');
const TIMING = { lockDurationMs: 2_000, stalledIntervalMs: 1_000, pollIntervalMs: 500 };

/** A sweep of 8 runs; at 1500 rounds a run lasts long enough to kill a worker in it. */
const SWEEP_TEXT = (rounds: number) => `mase 1
experiment base { market cournot_2x2  institution governance_graph  agents qlearning  rounds ${rounds}  seed 1 }
sweep tiny { base base  factor regime: institution = none | governance_graph  replicates 4  seed 5 }
`;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });

/** PING over a raw socket (no client library needed for the test's own checks). */
const ping = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `jobs` through the queue with the tests' clocks; the records, as they arrived. */
async function queued(
  queue: string,
  jobs: readonly SweepJob[],
  dir: string,
  more: { artifacts?: string } = {},
): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  await runOnQueue({
    queue,
    jobs,
    dir,
    ...more,
    timing: TIMING,
    onRecord: (record) => records.push(record),
  });
  return records;
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

let redis: ChildProcess | undefined;
let url = '';
const workers: ChildProcess[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'mase-sweep-redis-'));

function startWorkerProcess(name: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [
      WORKER_MAIN,
      '--queue',
      url,
      '--name',
      name,
      '--lock-ms',
      String(TIMING.lockDurationMs),
      '--stalled-ms',
      String(TIMING.stalledIntervalMs),
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  workers.push(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker ${name} exited (${code}): ${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

/** A sweep of 8 runs written to `scratch/NAME/tiny.mase`, and its jobs. */
function tinySweep(name: string, rounds: number) {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tiny.mase');
  const text = SWEEP_TEXT(rounds);
  writeFileSync(path, text);
  const sources = [{ path, text }];
  const plan = planFor(sources, 'tiny');
  const jobs: SweepJob[] = plan.runs.map((r) => ({ sources, sweep: 'tiny', runId: r.runId }));
  return { dir, sources, plan, jobs };
}

/** The BullMQ states of a sweep's jobs (`unknown`: not in Redis). */
async function statesInRedis(jobs: readonly SweepJob[], dir: string) {
  const queue = new Queue(SWEEP_QUEUE, { connection: parseQueueUrl(url).connection });
  try {
    return await Promise.all(
      jobs.map((j) => queue.getJobState(queueJobId(sweepKey(j, dir), j.runId))),
    );
  } finally {
    await queue.close();
  }
}

/** None of the sweep's jobs is left in Redis. */
async function expectGoneFromRedis(jobs: readonly SweepJob[], dir: string) {
  expect(new Set(await statesInRedis(jobs, dir))).toEqual(new Set(['unknown']));
}

beforeAll(async () => {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.error)
    throw new Error(
      'these tests need redis-server on PATH (Debian/Ubuntu: apt-get install redis-server)',
    );
  if (!existsSync(WORKER_MAIN))
    throw new Error(`${WORKER_MAIN} is missing: run \`npm run build\` before these tests`);
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn(
    'redis-server',
    ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'],
    { stdio: 'ignore' },
  );
  await waitFor('redis-server to answer PING', () => ping(port));
}, 20_000);

afterAll(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  redis?.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

describe('queue URLs and reachability', () => {
  it('reads redis:// URLs', () => {
    expect(parseQueueUrl('redis://10.0.0.5:6380/2')).toEqual({
      connection: { host: '10.0.0.5', port: 6380, db: 2 },
      where: '10.0.0.5:6380',
    });
    expect(parseQueueUrl('rediss://u:p%40ss@cache.example:7000').connection).toEqual({
      host: 'cache.example',
      port: 7000,
      username: 'u',
      password: 'p@ss',
      tls: {},
    });
    expect(parseQueueUrl('redis://localhost').where).toBe('localhost:6379');
  });

  it.each([
    ['not a url', /"not a url" is not a URL; expected redis:\/\/HOST:PORT/],
    ['http://localhost:6379', /is not a redis:\/\/ URL/],
    ['redis://localhost:6379/queue', /database after the host must be a number/],
    ['redis://u:secret@:6379', /names no host|not a URL/],
  ])('refuses %s with a message', (bad, message) => {
    expect(() => parseQueueUrl(bad)).toThrow(QueueError);
    expect(() => parseQueueUrl(bad)).toThrow(message);
    expect(() => parseQueueUrl(bad)).not.toThrow(/secret/);
  });

  // An unreachable Redis is an error, not a hang (a hang would meet the test's timeout).
  it('gives up on an unreachable Redis', async () => {
    const port = await freePort();
    const job: SweepJob = { sources: [], sweep: 'none', runId: 'x' };
    const coordinator = runOnQueue({
      queue: `redis://127.0.0.1:${port}`,
      jobs: [job],
      dir: join(scratch, 'unreachable'),
      onRecord: () => undefined,
    });
    await expect(coordinator).rejects.toThrow(QueueError);
    await expect(coordinator).rejects.toThrow(`cannot reach Redis at 127.0.0.1:${port}`);
    await expect(startWorker({ queue: `redis://127.0.0.1:${port}` })).rejects.toThrow(
      `cannot reach Redis at 127.0.0.1:${port}`,
    );
  });

  it.each([
    ['--lock-ms', '0', /--lock-ms takes a whole number ≥ 1, not `0`/],
    ['--stalled-ms', '0', /--stalled-ms takes a whole number ≥ 1, not `0`/],
    ['--concurrency', '0', /--concurrency takes a whole number ≥ 1, not `0`/],
    ['--concurrency', '1.5', /--concurrency takes a whole number ≥ 1, not `1.5`/],
    ['--max-stalled', '-1', /--max-stalled takes a whole number ≥ 0, not `-1`/],
  ])('the worker script refuses %s %s with a message and exit code 2', (flag, value, message) => {
    const result = spawnSync(process.execPath, [WORKER_MAIN, '--queue', url, `${flag}=${value}`], {
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^worker-main: /);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('keys jobs by sweep and directory', () => {
    const sources = [{ path: 'a.mase', text: 'mase 1' }];
    const key = sweepKey({ sources, sweep: 'tiny' }, '/tmp/out');
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(sweepKey({ sources, sweep: 'other' }, '/tmp/out')).not.toBe(key);
    expect(sweepKey({ sources, sweep: 'tiny' }, '/tmp/elsewhere')).not.toBe(key);
    expect(queueJobId(key, 'abc')).toBe(`${key}-abc`);
  });
});

describe('a sweep on the queue', () => {
  /** Everything but what depends on who ran it, when, and where. */
  const outcome = (r: RunRecord) =>
    JSON.parse(
      JSON.stringify({
        run_id: r.run_id,
        status: r.status,
        cell: r.cell,
        replicate: r.replicate,
        seed: r.seed,
        factors: r.factors,
        metrics: r.metrics,
        series: r.series,
        transitions_by_edge: r.transitions_by_edge,
        artifacts: r.artifacts,
      }),
    );

  it('survives a worker killed mid-run: one record per run, equal to running it here', async () => {
    const { dir, jobs } = tinySweep('sweep', 1500);
    expect(jobs).toHaveLength(8);

    // The reference: every job run here, one by one.
    const local = new Map<string, RunRecord>();
    for (const job of jobs)
      local.set(
        job.runId,
        await runJob(job, { artifacts: join(scratch, 'local'), worker: 'here' }),
      );

    // Two workers; the survivor reaches the shared directory through another path.
    const artifacts = join(dir, 'shared');
    mkdirSync(artifacts);
    symlinkSync(artifacts, join(scratch, 'mounted-elsewhere'));
    const victim = startWorkerProcess('victim');
    const survivor = startWorkerProcess('survivor', [
      '--artifacts',
      join(scratch, 'mounted-elsewhere'),
    ]);
    await Promise.all([victim.ready, survivor.ready]);

    // Watch the queue: who holds what, which job stalled; kill the victim in its second run.
    const connection = parseQueueUrl(url).connection;
    const queue = new Queue(SWEEP_QUEUE, { connection });
    const events = new QueueEvents(SWEEP_QUEUE, { connection });
    await events.waitUntilReady();
    const stalled = new Set<string>();
    let victimStarted = 0;
    let killed: string | undefined;
    events.on('stalled', ({ jobId }) => stalled.add(jobId));
    events.on('active', ({ jobId }) => {
      Job.fromId(queue, jobId).then((job) => {
        if (job?.processedBy !== 'victim' || killed) return;
        victimStarted++;
        if (victimStarted >= 2) {
          killed = jobId;
          victim.child.kill('SIGKILL');
        }
      });
    });

    const records: RunRecord[] = [];
    await runOnQueue({
      queue: url,
      jobs,
      dir,
      artifacts,
      timing: TIMING,
      onRecord: (record) => {
        records.push(record);
        writeRecord(dir, record);
      },
    });
    await events.close();

    // Exactly one record per run, all completed, as if run here.
    expect(records.map((r) => r.run_id).sort()).toEqual(jobs.map((j) => j.runId).sort());
    expect(readdirSync(join(dir, 'records')).sort()).toEqual(
      jobs.map((j) => `${j.runId}.json`).sort(),
    );
    for (const record of records) {
      expect(record.status, record.error ?? '').toBe('completed');
      expect(outcome(record)).toEqual(outcome(local.get(record.run_id) as RunRecord));
      expect(existsSync(join(artifacts, record.artifacts ?? '?', 'metrics.json'))).toBe(true);
    }
    // Both workers ran runs; the victim's interrupted run was finished by the survivor.
    expect(killed, 'the victim was killed in a run').toBeDefined();
    expect(new Set(records.map((r) => r.worker))).toEqual(new Set(['victim', 'survivor']));
    expect(stalled.has(killed as string)).toBe(true);
    const rescued = records.find(
      (r) => queueJobId(sweepKey(jobs[0] as SweepJob, dir), r.run_id) === killed,
    );
    expect(rescued?.worker).toBe('survivor');
    await queue.close();
    // The finished sweep leaves nothing behind in Redis.
    await expectGoneFromRedis(jobs, dir);
    // SIGTERM: the survivor finishes what it holds (nothing) and exits cleanly.
    const exited = new Promise((resolve) => survivor.child.once('exit', resolve));
    survivor.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);

  it('a run the queue gives up on gets a failed record naming the reason', async () => {
    const { dir, plan, jobs } = tinySweep('doomed', 20);
    const run = plan.runs[0];
    // Artifacts under a file: every attempt throws in the worker, none returns a record.
    const artifacts = join(dir, 'not-a-directory');
    writeFileSync(artifacts, '');
    const worker = await startWorker({ queue: url, name: 'doomed', timing: TIMING });
    const records = await queued(url, jobs.slice(0, 1), dir, { artifacts });
    await worker.close();
    // Its record is the result: the failed job does not linger in Redis.
    await expectGoneFromRedis(jobs.slice(0, 1), dir);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      run_id: run?.runId,
      status: 'failed',
      worker: 'doomed',
      cell: run?.cell,
      factors: run?.factors,
      metrics: null,
    });
    expect(records[0]?.error).toMatch(/gave up on this run after 3 attempt\(s\): .*ENOTDIR/);
  }, 30_000);

  it("a job's trace level and run report reach the worker that runs it", async () => {
    const { dir, jobs } = tinySweep('levels', 20);
    const worker = await startWorker({ queue: url, name: 'leveled', timing: TIMING });
    const [asked, plain] = jobs as [SweepJob, SweepJob];
    const records = await queued(
      url,
      [{ ...asked, trace: 'full', runReports: true }, { ...plain }],
      dir,
    );
    await worker.close();
    expect(records.map((r) => r.status)).toEqual(['completed', 'completed']);
    const runDir = (job: SweepJob) =>
      join(dir, records.find((r) => r.run_id === job.runId)?.artifacts ?? '?');
    const level = (job: SweepJob) =>
      JSON.parse(readFileSync(join(runDir(job), 'manifest.json'), 'utf8')).trace ?? 'full';
    expect(level(asked)).toBe('full');
    expect(existsSync(join(runDir(asked), 'report.html'))).toBe(true);
    // A job that says nothing: the sweep's defaults (a summary trace, no page).
    expect(level(plain)).toBe('summary');
    expect(existsSync(join(runDir(plain), 'report.html'))).toBe(false);
  }, 30_000);

  it('stops starting runs once told to (a spent budget), and waits only for those running', async () => {
    const { dir, jobs } = tinySweep('budget', 300);
    const worker = await startWorker({ queue: url, name: 'thrifty', timing: TIMING });
    const records: RunRecord[] = [];
    await runOnQueue({
      queue: url,
      jobs,
      dir,
      timing: TIMING,
      onRecord: (record) => records.push(record),
      shouldStop: () => records.length >= 2,
    });
    await worker.close();
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(records.length).toBeLessThanOrEqual(3);
    expect(new Set(records.map((r) => r.run_id)).size).toBe(records.length);
    await expectGoneFromRedis(jobs, dir);
  }, 30_000);

  it('a coordinator started again collects the runs that finished while it was away', async () => {
    const { dir, jobs } = tinySweep('resumed', 200);
    const worker = await startWorker({ queue: url, name: 'in-process', timing: TIMING });
    const first: RunRecord[] = [];
    const stop = new AbortController();
    await runOnQueue({
      queue: url,
      jobs,
      dir,
      timing: TIMING,
      signal: stop.signal,
      onRecord: (record) => {
        first.push(record);
        stop.abort();
      },
    });
    expect(first).toHaveLength(1);
    // The worker keeps working without a coordinator (the delivered run's job is gone).
    const rest = jobs.filter((j) => j.runId !== first[0]?.run_id);
    await expectGoneFromRedis(
      jobs.filter((j) => !rest.includes(j)),
      dir,
    );
    await waitFor(
      'the queue to finish the sweep',
      async () => (await statesInRedis(rest, dir)).every((s) => s === 'completed'),
      30_000,
    );

    const restart = new Date().toISOString();
    const second = await queued(url, rest, dir);
    expect(second.map((r) => r.run_id).sort()).toEqual(rest.map((j) => j.runId).sort());
    // Collected, not run again.
    for (const record of second) {
      expect(record.finished_at < restart).toBe(true);
      expect(record.worker).toBe('in-process');
    }
    await worker.close();
    await expectGoneFromRedis(jobs, dir);
  }, 60_000);

  it('a run retried after a failed record (--resume --retry-failed) is run again, not collected', async () => {
    const { dir, sources, jobs } = tinySweep('retried', 20);
    // A run this worker's plan lacks: the worker returns a failed record (the job completes).
    const bad: SweepJob = { sources, sweep: 'tiny', runId: 'no-such-run' };
    const good = jobs[0] as SweepJob;
    const ran: string[] = [];
    const worker = await startWorker({
      queue: url,
      name: 'retrier',
      timing: TIMING,
      log: (line) => {
        if (line.startsWith('failed sweep tiny run no-such-run')) ran.push(line);
      },
    });
    // Interrupted once the failed record is written: the sweep is unfinished.
    const first: RunRecord[] = [];
    const stop = new AbortController();
    await runOnQueue({
      queue: url,
      jobs: [bad, good],
      dir,
      timing: TIMING,
      signal: stop.signal,
      onRecord: (record) => {
        first.push(record);
        if (record.run_id === bad.runId) stop.abort();
      },
    });
    const failed = first.find((r) => r.run_id === bad.runId);
    expect(failed).toMatchObject({ status: 'failed', worker: 'retrier' });
    // Its record is written, so its job is gone, though the sweep did not finish.
    await expectGoneFromRedis([bad], dir);

    // --resume --retry-failed: the failed run and the runs without a record, again.
    const again = [bad, ...(first.some((r) => r.run_id === good.runId) ? [] : [good])];
    const second = await queued(url, again, dir);
    expect(second.map((r) => r.run_id).sort()).toEqual(again.map((j) => j.runId).sort());
    const rerun = second.find((r) => r.run_id === bad.runId);
    expect(rerun).toMatchObject({ status: 'failed', worker: 'retrier' });
    // Run again, not the first record collected again.
    expect(rerun?.started_at).not.toBe(failed?.started_at);
    await waitFor('the worker to run the job twice', () => ran.length === 2);
    await worker.close();
    expect(ran).toHaveLength(2);
    await expectGoneFromRedis([bad, good], dir);
  }, 30_000);

  it('a job that failed while no coordinator listened is run again with all its attempts', async () => {
    const { dir, jobs } = tinySweep('abandoned', 20);
    const job = jobs.slice(0, 1);
    const artifacts = join(dir, 'not-a-directory');
    writeFileSync(artifacts, '');
    let attempts = 0;
    const worker = await startWorker({
      queue: url,
      name: 'abandoned',
      timing: TIMING,
      log: (line) => {
        if (line.startsWith('error in sweep tiny')) attempts++;
      },
    });
    // A coordinator that leaves once its job is queued; the queue fails the job meanwhile.
    const stop = new AbortController();
    const records: RunRecord[] = [];
    const leaving = runOnQueue({
      queue: url,
      jobs: job,
      dir,
      artifacts,
      timing: TIMING,
      signal: stop.signal,
      onRecord: (record) => records.push(record),
    });
    await waitFor(
      'the job to be queued',
      async () => (await statesInRedis(job, dir))[0] !== 'unknown',
    );
    stop.abort();
    await leaving;
    await waitFor('the job to fail', async () => (await statesInRedis(job, dir))[0] === 'failed');
    expect(records).toHaveLength(0);
    await waitFor('the worker to report 3 attempts', () => attempts === 3);

    // The next coordinator runs it again, with 3 attempts, and reports that failure.
    records.push(...(await queued(url, job, dir, { artifacts })));
    expect(records).toHaveLength(1);
    expect(records[0]?.error).toMatch(/gave up on this run after 3 attempt\(s\): .*ENOTDIR/);
    await waitFor('the worker to report 3 more attempts', () => attempts === 6);
    await worker.close();
    expect(attempts).toBe(6);
    await expectGoneFromRedis(job, dir);
  }, 30_000);
});
