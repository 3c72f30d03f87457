import { createHash, type Hash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { z } from 'zod';
import { UsageProblem } from '../errors.js';
import {
  eventsOfLine,
  type PayoffsRow,
  type TraceEvent,
  type TraceLevel,
} from '../trace/events.js';
import { reviveInfinity, TraceEncoder, TracePrefix } from '../trace/writer.js';
import type { RunState } from './run.js';

/**
 * Checkpoints and resume (docs/checkpoints.md). A checkpoint is where a run's files stood
 * after a whole round: the round, the bytes of events.jsonl and their sha256, and the
 * governance log's bytes, entries and last MAC; and, when every part of the run can save
 * it, the run's state then (`RunState`), from which a resumed run goes on. A run is a
 * function of its sources, parameters, seed and model answers, so for a run without a
 * saved state the state after round R is rebuilt by running rounds 1..R again (model
 * answers from the response cache) and checking that they make the trace the file holds;
 * either way the run then goes on writing from the checkpoint.
 */

export const CHECKPOINT_FILE = 'checkpoint.json';

/**
 * Rounds between checkpoints: those `asked` (a flag, else the experiment's `checkpoint
 * every`), else every round for a run that asks models (a round costs seconds, a checkpoint
 * about a millisecond) and none for a scripted run (a round costs microseconds, and the run
 * is quickly made again from its seed). A run with no trace writes none: a resume reads the
 * trace's rounds for the metrics, so asking for them at `--trace none` is refused.
 */
export function checkpointsAt(
  level: TraceLevel,
  asked: number | undefined,
  asksModels: boolean,
): number {
  if (level !== 'none') return asked ?? (asksModels ? 1 : 0);
  if (asked !== undefined && asked > 0)
    throw new UsageProblem(
      `checkpoints (every ${asked} rounds) need a trace to resume from: a run at --trace none keeps no rounds; use --trace summary or full, or --checkpoint-every 0`,
    );
  return 0;
}
export const CHECKPOINT_FORMAT = 'mase-checkpoint/2';
/** The format before states were saved: still read (such a checkpoint resumes by replay). */
const CHECKPOINT_FORMAT_1 = 'mase-checkpoint/1';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);

const checkpointSchema = z
  .object({
    format: z.enum([CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_1]),
    run_id: z.string(),
    digest: hex64,
    round: z.number().int().min(1),
    events: z.object({ bytes: count, sha256: hex64 }).strict(),
    log: z.object({ bytes: count, entries: count, mac: hex64 }).strict(),
    /**
     * The run's state after `round` (absent: the run resumes by playing its rounds again):
     * Node's structured serialisation (node:v8) of a `RunState`, in base64, with the sha256 of
     * its bytes and the Node version that wrote it.
     */
    state: z
      .object({ encoding: z.literal('v8'), node: z.string(), sha256: hex64, data: z.string() })
      .strict()
      .optional(),
  })
  .strict();

export type Checkpoint = z.infer<typeof checkpointSchema>;

/** A checkpoint's `state` field for a run's state. */
export function savedState(state: RunState): NonNullable<Checkpoint['state']> {
  const bytes = serialize(state);
  return {
    encoding: 'v8',
    node: process.version,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    data: bytes.toString('base64'),
  };
}

/** The run's state a checkpoint holds, checked; a damaged one is refused (exit 2). */
export function stateOf(checkpoint: Checkpoint, path: string): RunState | undefined {
  const saved = checkpoint.state;
  if (!saved) return undefined;
  const bytes = Buffer.from(saved.data, 'base64');
  if (createHash('sha256').update(bytes).digest('hex') !== saved.sha256)
    throw new ResumeError(
      `${path} is damaged (its state does not match its sha256); delete it to resume from round 1`,
    );
  let state: RunState;
  try {
    state = deserialize(bytes) as RunState;
  } catch (error) {
    throw new ResumeError(
      `${path} holds a state Node ${process.version} cannot read (written by Node ${saved.node}: ${error instanceof Error ? error.message : String(error)}); delete it to resume from round 1`,
    );
  }
  if (state?.round !== checkpoint.round || !Array.isArray(state.agents))
    throw new ResumeError(
      `${path} holds the state of another round than its own (${state?.round}, not ${checkpoint.round}); delete it to resume from round 1`,
    );
  return state;
}

/** A run that cannot be resumed (finished, foreign or damaged checkpoint, changed code): exit 2. */
export class ResumeError extends UsageProblem {
  override name = 'ResumeError';
}

/**
 * The checkpoint in `dir`, checked against the run it should belong to; undefined when
 * there is none (the run was killed before its first checkpoint).
 */
export function readCheckpoint(
  dir: string,
  run: { readonly run_id: string; readonly digest: string },
): Checkpoint | undefined {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ResumeError(
      `${path} is damaged (${error instanceof SyntaxError ? 'not JSON' : String(error)}); delete it to resume from round 1`,
    );
  }
  const format = (value as { format?: unknown } | null)?.format;
  if (
    typeof format === 'string' &&
    format !== CHECKPOINT_FORMAT &&
    format !== CHECKPOINT_FORMAT_1 &&
    format.startsWith('mase-checkpoint/')
  )
    throw new ResumeError(
      `${path} was written in format ${format}; this version of MASE reads ${CHECKPOINT_FORMAT}`,
    );
  const parsed = checkpointSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ResumeError(
      `${path} is not a checkpoint MASE wrote (${issue?.path.join('.') || 'the file'}: ${issue?.message ?? 'invalid'}); delete it to resume from round 1`,
    );
  }
  const checkpoint = parsed.data;
  if (checkpoint.run_id !== run.run_id || checkpoint.digest !== run.digest)
    throw new ResumeError(
      `${path} belongs to another run (run ${checkpoint.run_id}; the run in ${dir} is ${run.run_id})`,
    );
  return checkpoint;
}

/**
 * A read of the trace up to a checkpoint, its failure (a file cut, changed or gone) said as
 * a refusal.
 */
function readingTrace<T>(checkpoint: Checkpoint, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw traceRefused(
      checkpoint,
      error instanceof RangeError
        ? error.message
        : `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
    );
  }
}

const traceRefused = (checkpoint: Checkpoint, why: string) =>
  new ResumeError(
    `events.jsonl is not the trace the checkpoint (round ${checkpoint.round}) names: ${why}; nothing was written`,
  );

/**
 * Gives `feed` every event of the trace up to a checkpoint, checked to be the bytes the
 * checkpoint names (a run resumed from its saved state reads its rounds, it does not play
 * them); gives the prefix's hash, to go on writing after it.
 */
export function readPrefix(
  path: string,
  checkpoint: Checkpoint,
  feed: (event: TraceEvent) => void,
): Hash {
  const prefix = readingTrace(checkpoint, () => new TracePrefix(path, checkpoint.events.bytes));
  let firms: readonly string[] = [];
  try {
    for (
      let line = readingTrace(checkpoint, () => prefix.next());
      line !== undefined;
      line = readingTrace(checkpoint, () => prefix.next())
    ) {
      let event: TraceEvent | PayoffsRow;
      try {
        // The reviver only for a line that may hold an infinity (it costs most of a parse).
        event = (line.includes('inf"') ? JSON.parse(line, reviveInfinity) : JSON.parse(line)) as
          | TraceEvent
          | PayoffsRow;
      } catch {
        throw traceRefused(checkpoint, `line ${prefix.line} is not JSON`);
      }
      if (event.type === 'header') firms = event.firms;
      if (event.type !== 'payoffs') feed(event);
      else
        try {
          for (const payoff of eventsOfLine(event, firms)) feed(payoff);
        } catch (error) {
          throw traceRefused(checkpoint, `line ${prefix.line}: ${(error as Error).message}`);
        }
    }
  } finally {
    prefix.close();
  }
  if (prefix.hash.copy().digest('hex') !== checkpoint.events.sha256)
    throw traceRefused(checkpoint, 'it was changed before the checkpoint');
  return prefix.hash;
}

/** Fields that differ when a model's answer comes from the cache: they are not compared. */
const TRANSPORT_FIELDS = new Set(['cache_hit', 'retries']);

/** An event as far as running it again must reproduce it (no timings, no transport retries). */
function reproducible(event: Record<string, unknown>): string {
  return JSON.stringify(event, (key, value) =>
    key.endsWith('_ms') || TRANSPORT_FIELDS.has(key) ? undefined : value,
  );
}

/** Whether two events are the same, as far as making a run again must reproduce them. */
export const sameEvent = (a: Record<string, unknown>, b: Record<string, unknown>): boolean =>
  reproducible(a) === reproducible(b);

/** Events that only say how a model was reached (a retry): a run again need not repeat them. */
const transportOnly = (type: unknown) => type === 'llm_retry';

/**
 * The trace up to a checkpoint, matched against the events the run makes again. `check`
 * takes each event made again and gives the run's readers (`feed`) the events of the file,
 * in its order; `end` checks that nothing of the file is left over at the checkpoint.
 */
export class PrefixReplay {
  private readonly prefix: TracePrefix;

  /** The events made again as the lines of the trace's level. */
  private readonly encoder: TraceEncoder;

  constructor(
    path: string,
    readonly checkpoint: Checkpoint,
    private readonly feed: (event: TraceEvent) => void,
    level: TraceLevel = 'full',
  ) {
    this.encoder = new TraceEncoder(level);
    this.prefix = this.reading(() => new TracePrefix(path, checkpoint.events.bytes));
  }

  /** A read of the trace, its failure said as a refusal. */
  private reading<T>(read: () => T): T {
    return readingTrace(this.checkpoint, read);
  }

  /** The file's event on a line, or an error naming the line. */
  private parse(line: string): Record<string, unknown> {
    try {
      return JSON.parse(line, reviveInfinity) as Record<string, unknown>;
    } catch {
      throw this.diverged(`line ${this.prefix.line} of events.jsonl is not JSON`);
    }
  }

  /** The file's next line that is not transport only (those are fed on the way). */
  private nextStored(): string | undefined {
    for (;;) {
      const line = this.reading(() => this.prefix.next());
      if (line === undefined || !line.startsWith('{"type":"llm_retry"')) return line;
      this.feed(this.parse(line) as unknown as TraceEvent);
    }
  }

  private diverged(what: string): ResumeError {
    this.prefix.close();
    return new ResumeError(
      `the run does not make again the trace it wrote up to its checkpoint (round ${this.checkpoint.round}): ${what}. Were its code or a model's cached answers changed? Nothing was written`,
    );
  }

  /**
   * Takes an event the run makes again: the file's line must be its line (or, for a model
   * call, differ only in timings and cache marks). The readers get what the run wrote.
   */
  check(event: TraceEvent): void {
    if (transportOnly(event.type)) return;
    // Below the full level an event may make no line of its own (a payoff held back for
    // its round's row, an event a trace of none leaves out): the readers get it as made,
    // and the lines it does make (a row of held payoffs) must be the file's.
    const lines: string[] = [];
    this.encoder.lines(event, (l) => lines.push(l));
    const own = event.type !== 'payoff' && lines.length > 0 ? lines.pop() : undefined;
    for (const l of lines) this.same(l);
    if (own === undefined) this.feed(event);
    else this.matched(event, own);
  }

  /** A line the run makes again that the readers already had: the file's line must be it. */
  private same(line: string): void {
    const stored = this.nextStored();
    if (stored !== line)
      throw this.diverged(
        stored === undefined
          ? `the file ends where the run makes ${line.slice(0, 160)}`
          : `line ${this.prefix.line} of events.jsonl is ${stored.slice(0, 160)}, the run makes ${line.slice(0, 160)}`,
      );
  }

  private matched(event: TraceEvent, line: string): void {
    const stored = this.nextStored();
    if (stored === undefined)
      throw this.diverged(`the file ends where the run makes ${line.slice(0, 160)}`);
    // The same line: the same event (the common case: no parsing).
    if (stored === line) {
      this.feed(event);
      return;
    }
    const written = this.parse(stored);
    if (!sameEvent(written, JSON.parse(line, reviveInfinity)))
      throw this.diverged(
        `line ${this.prefix.line} of events.jsonl is ${stored.slice(0, 160)}, the run makes ${line.slice(0, 160)}`,
      );
    this.feed(written as unknown as TraceEvent);
  }

  /** Feeds what the file holds after the last event made again; gives the prefix's hash. */
  end(): Hash {
    const held: string[] = [];
    this.encoder.release((l) => held.push(l));
    for (const l of held) this.same(l);
    const left = this.nextStored();
    if (left !== undefined)
      throw this.diverged(
        `the run reached its checkpoint before line ${this.prefix.line} of events.jsonl (${left.slice(0, 160)})`,
      );
    const digest = this.prefix.hash.copy().digest('hex');
    if (digest !== this.checkpoint.events.sha256)
      throw this.diverged('events.jsonl was changed after the checkpoint was written');
    return this.prefix.hash;
  }

  close(): void {
    this.prefix.close();
  }
}
