#!/usr/bin/env node
/**
 * A sweep worker as a bare script (tests spawn it; `mase worker` does the same through the
 * CLI): `node dist/runtime/sweep/worker-main.js --queue redis://HOST:PORT [--artifacts DIR]
 * [--name NAME] [--concurrency N] [--lock-ms N] [--stalled-ms N] [--max-stalled N]
 * [--kind FOLDER]…` (`--kind` registers an environment kind written in code, as `mase --kind` does).
 * Prints `ready` on stdout once it takes jobs; progress goes to stderr. SIGINT or SIGTERM
 * finishes the runs in progress and exits; a second one exits at once.
 */
import { parseArgs } from 'node:util';
import { registerKindFolders } from '../environment/kinds.js';
import { MaseUserError } from '../errors.js';
import { positive, wholeNumber } from '../run/cli-run.js';
import { QueueError, type QueueTiming, startWorker } from './redis.js';

/** A whole number ≥ 0 (`--max-stalled 0`: a job whose worker dies once fails). */
const whole = (flag: string, text: string | undefined): number | undefined =>
  text === undefined ? undefined : wholeNumber(flag, text);

async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      queue: { type: 'string' },
      artifacts: { type: 'string' },
      name: { type: 'string' },
      concurrency: { type: 'string' },
      'lock-ms': { type: 'string' },
      'stalled-ms': { type: 'string' },
      'max-stalled': { type: 'string' },
      kind: { type: 'string', multiple: true },
    },
    strict: true,
  });
  if (!values.queue) throw new QueueError('--queue redis://HOST:PORT is required');
  await registerKindFolders(values.kind ?? []);
  const timing: Partial<Record<keyof QueueTiming, number>> = {};
  const lock = positive('--lock-ms', values['lock-ms']);
  const stalled = positive('--stalled-ms', values['stalled-ms']);
  const maxStalled = whole('--max-stalled', values['max-stalled']);
  if (lock !== undefined) timing.lockDurationMs = lock;
  if (stalled !== undefined) timing.stalledIntervalMs = stalled;
  if (maxStalled !== undefined) timing.maxStalledCount = maxStalled;
  const concurrency = positive('--concurrency', values.concurrency);
  const prefix = values.name ? `worker ${values.name}` : 'worker';
  const worker = await startWorker({
    queue: values.queue,
    ...(values.artifacts ? { artifacts: values.artifacts } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    timing,
    log: (line) => process.stderr.write(`${prefix}: ${line}\n`),
  });
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(130);
    stopping = true;
    worker.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write('ready\n');
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`worker-main: ${error instanceof Error ? error.message : String(error)}\n`);
  if (error instanceof MaseUserError) process.exit(error.exitCode);
  process.exit((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 3);
});
