import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import type { TraceEvent, TraceEventOf, TraceLevel } from './events.js';

/** JSON.stringify replacer of `traceJson`: infinities as "inf" and "-inf", NaN as null. */
export const replaceNonFinite = (_key: string, v: unknown) =>
  typeof v === 'number' && !Number.isFinite(v)
    ? Number.isNaN(v)
      ? null
      : v > 0
        ? 'inf'
        : '-inf'
    : v;

/** Whether a JSON-like value holds ±Infinity anywhere (NaN is written as null either way). */
function holdsInfinity(value: unknown): boolean {
  if (typeof value === 'number') return value === Infinity || value === -Infinity;
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (holdsInfinity(item)) return true;
    return false;
  }
  for (const key in value) if (holdsInfinity((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * JSON for traces: infinities as "inf" and "-inf" (JSON has none), NaN as null. Almost no
 * value holds an infinity, so the slow replacer runs only for those that do.
 */
export function traceJson(value: unknown): string {
  return holdsInfinity(value)
    ? JSON.stringify(value, replaceNonFinite)
    : (JSON.stringify(value) as string);
}

/** A number as `traceJson` writes it. */
const numberJson = (v: number): string =>
  Number.isFinite(v) ? `${v}` : Number.isNaN(v) ? 'null' : v > 0 ? '"inf"' : '"-inf"';

/** Whether `value` has exactly these keys, in this order (the order JSON writes them in). */
function keysAre(value: object, keys: readonly string[]): boolean {
  let k = 0;
  for (const key in value) if (key !== keys[k++]) return false;
  return k === keys.length;
}

const PAYOFF = ['type', 'round', 'firm', 'state', 'profit', 'fines', 'credits', 'net'];
const DECISION = ['type', 'round', 'firm', 'policy', 'action'];
const MESSAGE = ['type', 'round', 'talk_round', 'id', 'from', 'to', 'text'];

const isNumberList = (v: unknown): v is number[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'number');
const isStringList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The line of one of the events a run writes once per agent and round (a payoff, a decision,
 * a message), written field by field when the event has exactly its usual fields; undefined
 * otherwise. The same text as `traceJson` (tested on arbitrary events) without its walk of
 * the value for infinities: a 10,000-agent text world writes 30,000 of them a round.
 */
export function perAgentLine(event: TraceEvent): string | undefined {
  const e = event as unknown as Record<string, unknown>;
  const { type, round } = e;
  if (typeof round !== 'number') return undefined;
  if (type === 'payoff' && keysAre(e, PAYOFF)) {
    const { firm, state, profit, fines, credits, net } = e;
    if (
      typeof firm !== 'string' ||
      (state !== null && typeof state !== 'string') ||
      typeof profit !== 'number' ||
      typeof fines !== 'number' ||
      typeof credits !== 'number' ||
      typeof net !== 'number'
    )
      return undefined;
    return `{"type":"payoff","round":${numberJson(round)},"firm":${JSON.stringify(firm)},"state":${state === null ? 'null' : JSON.stringify(state)},"profit":${numberJson(profit)},"fines":${numberJson(fines)},"credits":${numberJson(credits)},"net":${numberJson(net)}}`;
  }
  if (type === 'decision' && keysAre(e, DECISION)) {
    const { firm, policy, action } = e;
    if (typeof firm !== 'string' || typeof policy !== 'string' || !isNumberList(action))
      return undefined;
    return `{"type":"decision","round":${numberJson(round)},"firm":${JSON.stringify(firm)},"policy":${JSON.stringify(policy)},"action":[${action.map(numberJson).join(',')}]}`;
  }
  if (type === 'message' && keysAre(e, MESSAGE)) {
    const { talk_round, id, from, to, text } = e;
    if (
      typeof talk_round !== 'number' ||
      typeof id !== 'string' ||
      typeof from !== 'string' ||
      !isStringList(to) ||
      typeof text !== 'string'
    )
      return undefined;
    return `{"type":"message","round":${numberJson(round)},"talk_round":${numberJson(talk_round)},"id":${JSON.stringify(id)},"from":${JSON.stringify(from)},"to":${JSON.stringify(to)},"text":${JSON.stringify(text)}}`;
  }
  return undefined;
}

/** An event's line in events.jsonl: `traceJson`, with the per-agent events' fast path. */
export function eventLine(event: TraceEvent): string {
  return perAgentLine(event) ?? traceJson(event);
}

type PayoffEvent = TraceEventOf<'payoff'>;

/**
 * A run's events as the lines of its trace at a level (`TraceLevel`). At `full` each event
 * is its line. At `summary` a round's payoff events, which the run makes one per agent in
 * the header's order, are held back and written as one `payoffs` row when the next event
 * comes (or `release` is called at the round's end); a group that is not exactly that (or
 * holds a value JSON cannot carry as a number) is written as its events' own lines. At
 * `none` only the header and the run's end are written. The header of a trace below `full`
 * names its level.
 */
export class TraceEncoder {
  private held: PayoffEvent[] = [];

  /** `firms`: the agents, for a trace resumed after its header. */
  constructor(
    readonly level: TraceLevel,
    private firms: readonly string[] = [],
  ) {}

  /** Gives `out` the lines `event` makes now (after those of events held back). */
  lines(event: TraceEvent, out: (line: string) => void): void {
    if (this.level === 'full') {
      out(eventLine(event));
      return;
    }
    if (event.type === 'header') {
      this.firms = event.firms;
      out(traceJson({ ...event, trace: this.level }));
      return;
    }
    if (this.level === 'none') {
      if (event.type === 'run_end') out(eventLine(event));
      return;
    }
    if (event.type === 'payoff') {
      if (this.held.length > 0 && (this.held[0] as PayoffEvent).round !== event.round)
        this.release(out);
      this.held.push(event);
      return;
    }
    this.release(out);
    out(eventLine(event));
  }

  /** Writes the events held back. */
  release(out: (line: string) => void): void {
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    const row = packedPayoffs(held, this.firms);
    if (row !== undefined) out(row);
    else for (const e of held) out(eventLine(e));
  }
}

/** A round's payoff events as one `payoffs` row, or undefined when they are not exactly one per agent, in order, with finite numbers and `net` as computed. */
function packedPayoffs(held: readonly PayoffEvent[], firms: readonly string[]): string | undefined {
  if (held.length !== firms.length) return undefined;
  const round = (held[0] as PayoffEvent).round;
  let anyState = false;
  for (let i = 0; i < held.length; i++) {
    const e = held[i] as PayoffEvent;
    if (
      e.round !== round ||
      e.firm !== firms[i] ||
      !keysAre(e, PAYOFF) ||
      !Number.isFinite(e.profit) ||
      !Number.isFinite(e.fines) ||
      !Number.isFinite(e.credits) ||
      !Number.isFinite(e.net) ||
      !Object.is(e.net, e.profit - e.fines + e.credits)
    )
      return undefined;
    if (e.state !== null) anyState = true;
  }
  const column = (pick: (e: PayoffEvent) => number) => held.map((e) => `${pick(e)}`).join(',');
  const state = anyState
    ? `[${held.map((e) => (e.state === null ? 'null' : JSON.stringify(e.state))).join(',')}]`
    : 'null';
  return `{"type":"payoffs","round":${round},"state":${state},"profit":[${column((e) => e.profit)}],"fines":[${column((e) => e.fines)}],"credits":[${column((e) => e.credits)}]}`;
}

/**
 * Keys whose values are words, never numbers: a message, rationale or model answer that is
 * the word "inf" stays that word.
 */
const WORDS = new Set(['text', 'rationale', 'paraphrase', 'response', 'error', 'reason']);

/** The inverse of `traceJson` for JSON.parse: "inf" and "-inf" back to infinities (words aside). */
export const reviveInfinity = (key: string, v: unknown): unknown =>
  v === 'inf'
    ? WORDS.has(key)
      ? v
      : Number.POSITIVE_INFINITY
    : v === '-inf'
      ? WORDS.has(key)
        ? v
        : Number.NEGATIVE_INFINITY
      : v;

/** Rounds between two fsyncs of events.jsonl (and one at the end). */
export const SYNC_EVERY_ROUNDS = 64;

/**
 * Appends events to `events.jsonl` as the run goes. A round's lines are collected and
 * handed to the operating system in one write when the round ends (`flush`), so a crash
 * of the process leaves a readable prefix of whole rounds; the file is synced to disk every
 * `SYNC_EVERY_ROUNDS` flushes and on close, so a crash of the machine loses at most those
 * rounds. A write that fails (a full disk) is cut back to the last whole round, so the file
 * never ends in half a line, and the writer refuses further writes. The sha256 of the bytes
 * written is kept as they go, for the governance log's seal.
 */
export class TraceWriter {
  private readonly fd: number;
  private closed = false;
  /** The error of the write that failed; later writes fail with it. */
  private failure: unknown;
  /** The round's lines so far, UTF-8, each ending in a newline: `pending[0, used)`. */
  private pending = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  private unsynced = 0;
  private size = 0;
  private readonly hash: Hash = createHash('sha256');

  /**
   * A new `path`, or, with `resume`, the first `resume.bytes` bytes of an existing one kept
   * (the rest cut off) and written after, `resume.hash` being their sha256 so far
   * (`TracePrefix.hash`).
   */
  private readonly encoder: TraceEncoder;
  private readonly append = (line: string) => this.appendLine(line);

  constructor(
    readonly path: string,
    private readonly syncEvery = SYNC_EVERY_ROUNDS,
    resume?: { readonly bytes: number; readonly hash: Hash },
    /** The trace's level, and for a trace resumed after its header the agents it names. */
    level: { readonly level: TraceLevel; readonly firms?: readonly string[] } = { level: 'full' },
  ) {
    this.encoder = new TraceEncoder(level.level, level.firms);
    if (resume) {
      truncateSync(path, resume.bytes);
      this.fd = openSync(path, 'a');
      this.size = resume.bytes;
      this.hash = resume.hash;
    } else this.fd = openSync(path, 'w');
  }

  write(event: TraceEvent): void {
    this.encoder.lines(event, this.append);
  }

  private appendLine(line: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8; the newline is one more.
    const most = 3 * line.length + 1;
    if (this.used + most > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.pending.length, this.used + most));
      this.pending.copy(grown, 0, 0, this.used);
      this.pending = grown;
    }
    this.used += this.pending.write(line, this.used, 'utf8');
    this.pending[this.used++] = 0x0a;
  }

  /** Writes the collected lines; syncs when `syncEvery` flushes have passed since the last sync. */
  flush(): void {
    if (this.failure !== undefined) throw this.failure;
    this.encoder.release(this.append);
    try {
      if (this.used > 0) {
        const bytes = this.pending.subarray(0, this.used);
        this.used = 0;
        let done = 0;
        while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
        this.size += bytes.length;
        this.hash.update(bytes);
      }
      if (++this.unsynced >= this.syncEvery) {
        fsyncSync(this.fd);
        this.unsynced = 0;
      }
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e && typeof e === 'object' && e.path === undefined) e.path = this.path;
      this.failure = error;
      this.used = 0;
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // nothing more can be done; readers ignore a torn last line
      }
      throw error;
    }
  }

  /** Syncs what is written to disk now (a checkpoint's files must be on disk before it is). */
  sync(): void {
    fsyncSync(this.fd);
    this.unsynced = 0;
  }

  /** Whether a write failed (nothing more can be written). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** sha256 (hex) of the bytes written so far; read it after `close`. */
  sha256(): string {
    return this.hash.copy().digest('hex');
  }

  /** Bytes of whole rounds written. */
  get bytes(): number {
    return this.size;
  }

  /** Flushes what is pending (unless a write failed) and closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.failure === undefined) {
        this.unsynced = this.syncEvery;
        this.flush();
      }
    } finally {
      closeSync(this.fd);
    }
  }
}

/**
 * The first `bytes` bytes of a trace a run wrote, read back line by line (`next`), with
 * their sha256 (`hash`, whole once every line is read). A resumed run reads the trace up to
 * its checkpoint with one of these: to check it, and to give the run's readers (metrics,
 * report) the events they would have seen. Without `bytes`, the whole file, but for a torn
 * last line (a run killed mid-write), which is left out as every reader of a trace does.
 */
export class TracePrefix {
  readonly hash: Hash = createHash('sha256');
  private readonly fd: number;
  private readonly chunk = Buffer.allocUnsafe(1 << 20);
  /** The bytes after the last newline read: the start of the next line. */
  private carry: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private taken = 0;
  private read = 0;
  private closed = false;
  /** 1-based number of the last line `next` gave. */
  line = 0;

  readonly bytes: number;
  private readonly tornEnd: 'refuse' | 'leave out';

  constructor(
    readonly path: string,
    bytes?: number,
  ) {
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    this.bytes = bytes ?? size;
    this.tornEnd = bytes === undefined ? 'leave out' : 'refuse';
    if (bytes !== undefined && size < bytes) {
      closeSync(this.fd);
      throw new RangeError(`${path} holds ${size} bytes, fewer than the ${bytes} expected`);
    }
  }

  /** The next whole line (without its newline), or undefined after the last. */
  next(): string | undefined {
    while (this.taken >= this.lines.length) {
      if (this.read >= this.bytes) {
        this.close();
        return undefined;
      }
      const want = Math.min(this.chunk.length, this.bytes - this.read);
      const got = readSync(this.fd, this.chunk, 0, want, this.read);
      if (got <= 0) throw new RangeError(`${this.path} ended early`);
      this.read += got;
      const piece = this.chunk.subarray(0, got);
      this.hash.update(piece);
      // A line is split only at a newline byte, which no other UTF-8 character contains.
      const last = piece.lastIndexOf(0x0a);
      const text = Buffer.concat([this.carry, piece.subarray(0, last + 1)]).toString('utf8');
      // Copied: the chunk is read into again.
      this.carry = Buffer.concat([
        last < 0 ? this.carry : Buffer.alloc(0),
        piece.subarray(last + 1),
      ]);
      this.lines = last < 0 ? [] : text.slice(0, -1).split('\n');
      this.taken = 0;
      if (this.read >= this.bytes && this.carry.length > 0 && this.tornEnd === 'refuse')
        throw new RangeError(`${this.path} does not end in a whole line at byte ${this.bytes}`);
    }
    this.line++;
    return this.lines[this.taken++];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
