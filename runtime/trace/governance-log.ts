import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { blockedMessageAgent, type TraceEvent, type TraceEventOf } from './events.js';
import { LogKeyError, locateLogKey, logKeyPath } from './log-key.js';
import { traceJson } from './writer.js';

/**
 * The governance log: `governance-log.jsonl` in the run directory, one line per institution
 * event (transition, blocked transition, sanction, notice, counter change, message kept from
 * delivery or rewritten before it), each MACed with a key kept
 * outside the run directory (see `log-key.ts`) and chained to the one before it.
 *
 * A line is the canonical JSON (below) of `{ seq, round, kind, firm, …payload,
 * manifest_digest, prev_mac, mac }`, where
 * - `seq` counts entries from 1 (it equals the line number);
 * - `mac` = HMAC-SHA256(key, canonical JSON of the entry without `mac`), lowercase hex;
 * - `prev_mac` is the previous entry's `mac`; the first entry's is the run's genesis MAC,
 *   HMAC-SHA256(key, canonical JSON of `{ format, manifest_digest, run_id }`), so the
 *   front of the log cannot be cut off and the log cannot be passed off as another run's.
 *
 * Canonical JSON: object keys sorted by UTF-16 code units at every depth, no whitespace,
 * strings and finite numbers as `JSON.stringify` writes them (the RFC 8785 choices);
 * infinities are written "inf" and "-inf" and NaN "nan", so no value is silently lost, and
 * undefined object members are left out. The verifier requires each line to be exactly
 * the canonical JSON of what it parses to, so the bytes of a line are fixed by its content
 * and every byte is covered by the MAC: `1e+21` cannot become `1e021`, no space can slip in.
 *
 * What the chain cannot show alone is a cut tail: a prefix of a valid log is a valid log.
 * So a run that ends (completed, degraded, interrupted or failed) closes its log with a
 * `seal` entry naming its status, the rounds played and the sha256 of events.jsonl and
 * metrics.json, and records in manifest.json a `seal` (the entry count, the seal entry's
 * MAC, and a MAC of the whole manifest, seal included). `verifyRunDirectory` checks all of
 * it: the chain, the count, the seal, and the digests of the three files.
 *
 * The key that MACs a log is not the stored (or `MASE_LOG_KEY`) key itself but one derived
 * from it for the run (`runLogKey`): HMAC of the run's fresh random nonce, its run id,
 * experiment digest and model settings (`manifest.log`, `manifest.llm`). Two runs of one
 * experiment share a run id and a stored key, but never a log key, so one's log never
 * verifies in the other's directory. The nonce lives only in manifest.json: events.jsonl
 * stays a function of the inputs.
 */

export const GOVERNANCE_LOG_FILE = 'governance-log.jsonl';
/** Names the format in the genesis MAC, so a future format never verifies as this one. */
export const GOVERNANCE_LOG_FORMAT = 'mase-governance-log/2';

export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** What the runtime appends: one institution event. `firm` is the firm's name. */
export type GovernanceEntryInput =
  | {
      kind: 'transition';
      round: number;
      /** null for a market-scoped institution. */
      firm: string | null;
      id: string;
      from: string;
      to: string;
      rule: string | null;
      restorative: boolean;
    }
  | {
      /** A transition whose condition held but which did not fire. */
      kind: 'blocked';
      round: number;
      firm: string | null;
      id: string;
      from: string;
      to: string;
      /** `streak`: its `for K rounds` count was not complete; `priority`: another fired. */
      reason: 'streak' | 'priority';
      rule?: string | null;
      /** Consecutive rounds the condition has held, counting this one, and rounds needed. */
      held?: number;
      needed?: number;
      /** The transition that fired instead (for `priority`). */
      fired?: string;
    }
  | {
      kind: 'sanction';
      round: number;
      firm: string;
      state: string;
      sanction: 'fine' | 'credit';
      timing: 'entry' | 'each_round';
      amount: number;
    }
  | { kind: 'notice'; round: number; firm: string; state: string; text: string }
  | ({ kind: 'counter' } & Omit<TraceEventOf<'counter'>, 'type'>)
  | ({
      /**
       * A message kept from delivery (trace event `message_blocked`). `firm`: the agent whose
       * state kept it back (the sender, or a quarantined recipient); for a filter, the sender.
       */
      kind: 'message_blocked';
      firm: string;
    } & Omit<TraceEventOf<'message_blocked'>, 'type' | 'agent'>)
  | ({
      /** A message rewritten before delivery (trace event `message_paraphrased`); `firm`: its sender. */
      kind: 'message_paraphrased';
      firm: string;
    } & Omit<TraceEventOf<'message_paraphrased'>, 'type' | 'from'>)
  | {
      /** The last entry of a run that ended: nothing may follow it. */
      kind: 'seal';
      /** The rounds played. */
      round: number;
      firm: null;
      status: RunEndStatus;
      /** sha256 of events.jsonl as written, and of metrics.json (null: none was written). */
      events_sha256: string;
      metrics_sha256: string | null;
    };

/** How a run ended, as its manifest and seal say. */
export type RunEndStatus = 'completed' | 'degraded' | 'interrupted' | 'failed';

export type GovernanceKind = GovernanceEntryInput['kind'];

/** An entry before it is MACed: the input with its place in the run. */
export type UnsealedEntry = GovernanceEntryInput & { seq: number; manifest_digest: string };

/** An entry as written (non-finite numbers appear as "inf", "-inf" or "nan"). */
export type GovernanceLogEntry = UnsealedEntry & { prev_mac: string; mac: string };

const KINDS: ReadonlySet<string> = new Set<GovernanceKind>([
  'transition',
  'blocked',
  'sanction',
  'notice',
  'counter',
  'message_blocked',
  'message_paraphrased',
  'seal',
]);
// Fields the log sets itself; a payload carrying them would forge the entry's place.
const RESERVED = ['seq', 'manifest_digest', 'prev_mac', 'mac'];
const MAC_HEX = /^[0-9a-f]{64}$/;

function toJsonValue(value: unknown, at: string): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => toJsonValue(v === undefined ? null : v, `${at}[${i}]`));
  }
  // Plain objects only (null-prototype ones included): a Map or a Date would lose its content.
  const proto: unknown = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (typeof value === 'object' && (proto === Object.prototype || proto === null)) {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = toJsonValue(v, `${at}.${k}`);
    }
    return out;
  }
  throw new TypeError(`governance log: ${at} is a ${typeof value}, not a JSON value`);
}

/** Canonical JSON of a JSON value: keys sorted at every depth, no whitespace. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}

function hmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** What a run's log key is bound to, besides the stored key: `manifest.log` and `manifest.llm`. */
export interface LogBinding {
  runId: string;
  manifestDigest: string;
  /** The run's fresh random nonce (hex), kept in `manifest.log.nonce`. */
  nonce: string;
  /** The run's model settings (`manifest.llm`), null without LLM firms. */
  llm: JsonValue;
}

/**
 * The key that MACs one run's log: HMAC-SHA256(stored key, canonical JSON of the binding).
 * A fresh nonce per run makes it unique to the run even when the stored key is shared.
 */
export function runLogKey(baseKey: Buffer, binding: LogBinding): Buffer {
  return createHmac('sha256', baseKey)
    .update(
      canonicalJson({
        format: GOVERNANCE_LOG_FORMAT,
        llm: binding.llm,
        manifest_digest: binding.manifestDigest,
        nonce: binding.nonce,
        run_id: binding.runId,
      }),
      'utf8',
    )
    .digest();
}

/** A manifest's JSON value as it reads back from manifest.json (undefined members dropped). */
export function asJsonValue(value: unknown): JsonValue {
  return toJsonValue(value, 'manifest');
}

/**
 * The MAC of a manifest: over its canonical JSON without `seal.mac`, so it covers every
 * field (seed, status, parameters, the seal's count and final MAC) and changes with any.
 */
export function manifestMac(key: Buffer, manifest: JsonValue): string {
  const m = manifest as { [k: string]: JsonValue };
  const seal = m.seal as { [k: string]: JsonValue } | undefined;
  const body: { [k: string]: JsonValue } = { ...m };
  if (seal && typeof seal === 'object') {
    const { mac: _mac, ...rest } = seal;
    body.seal = rest;
  }
  return hmac(key, canonicalJson(body));
}

/** The manifest's record of a sealed log (`manifest.seal`); `mac` covers the whole manifest. */
export interface ManifestSeal {
  status: RunEndStatus;
  rounds_completed: number;
  entries: number;
  final_mac: string;
  mac?: string;
}

/**
 * Records the log's seal in `manifest` (`manifest.seal`) and MACs the manifest as it will
 * read back from manifest.json (written with `traceJson`).
 */
export function sealManifest(
  manifest: { seal?: ManifestSeal | undefined },
  key: Buffer,
  seal: Omit<ManifestSeal, 'mac'>,
): void {
  manifest.seal = { ...seal };
  manifest.seal.mac = manifestMac(key, asJsonValue(JSON.parse(traceJson(manifest))));
}

/** The `prev_mac` of a run's first entry: binds the chain to the run id and manifest. */
export function genesisMac(key: Buffer, runId: string, manifestDigest: string): string {
  return hmac(
    key,
    canonicalJson({
      format: GOVERNANCE_LOG_FORMAT,
      manifest_digest: manifestDigest,
      run_id: runId,
    }),
  );
}

/** Links `entry` after the entry whose MAC is `previousMac` and MACs it. Pure. */
export function chainEntry(
  previousMac: string,
  entry: UnsealedEntry,
  key: Buffer,
): GovernanceLogEntry {
  const { mac: _ignored, ...rest } = { ...entry, prev_mac: previousMac } as Record<string, unknown>;
  const body = toJsonValue(rest, 'entry') as { [key: string]: JsonValue };
  return { ...body, mac: hmac(key, canonicalJson(body)) } as GovernanceLogEntry;
}

function checkInput(entry: GovernanceEntryInput): void {
  const e = entry as Record<string, unknown>;
  if (!KINDS.has(String(e.kind)))
    throw new TypeError(`governance log: unknown kind ${String(e.kind)}`);
  if (!Number.isInteger(e.round) || (e.round as number) < 0) {
    throw new TypeError(`governance log: round must be a whole number ≥ 0, not ${String(e.round)}`);
  }
  if (e.firm !== null && typeof e.firm !== 'string') {
    throw new TypeError('governance log: firm must be a name or null');
  }
  for (const k of RESERVED) {
    if (k in e) throw new TypeError(`governance log: an entry may not set ${k}`);
  }
}

/** The governance entry for a trace event, or undefined for events that are not one. */
export function governanceEntryOf(event: TraceEvent): GovernanceEntryInput | undefined {
  switch (event.type) {
    case 'transition': {
      const { type: _t, ...rest } = event;
      return { kind: 'transition', ...rest };
    }
    case 'sanction': {
      const { type: _t, ...rest } = event;
      return { kind: 'sanction', ...rest };
    }
    case 'notice': {
      const { type: _t, ...rest } = event;
      return { kind: 'notice', ...rest };
    }
    case 'counter': {
      const { type: _t, ...rest } = event;
      return { kind: 'counter', ...rest };
    }
    case 'message_blocked': {
      const { type: _t, agent: _a, ...rest } = event;
      return { kind: 'message_blocked', firm: blockedMessageAgent(event), ...rest };
    }
    case 'message_paraphrased': {
      const { type: _t, from, ...rest } = event;
      return { kind: 'message_paraphrased', firm: from, ...rest };
    }
    default:
      return undefined;
  }
}

export interface GovernanceLogOptions {
  key: Buffer;
  /** The manifest's digest (`digest` in `manifest.json`). */
  manifestDigest: string;
  /** The run id (`run_id` in `manifest.json`). */
  runId: string;
  /** fsync after every line (power-loss safety at a cost per line); default: on close only. */
  syncEachLine?: boolean;
  /**
   * Continue an existing log (a resumed run): its first `bytes` bytes, `entries` entries
   * ending in the MAC `mac`, are kept (checked beforehand), the rest cut off.
   */
  resume?: GovernanceLogPosition;
}

/** Where a log stands: what a run's checkpoint records of it. */
export interface GovernanceLogPosition {
  readonly bytes: number;
  readonly entries: number;
  readonly mac: string;
}

/**
 * Writes `DIR/governance-log.jsonl`. The file is created (never overwritten: an existing log
 * is an error) and opened for append only; each `append` writes one whole line with one
 * synchronous write, so a crash leaves a prefix of whole entries that still verifies. A
 * failed write stops the log: appending after it would leave a torn line mid-chain.
 */
export class GovernanceLog {
  readonly path: string;
  private readonly fd: number;
  private readonly key: Buffer;
  private readonly manifestDigest: string;
  private readonly syncEachLine: boolean;
  private previousMac: string;
  private seq = 0;
  /** Bytes of whole entries written: where a failed write is cut back to. */
  private size = 0;
  private state: 'open' | 'sealed' | 'closed' | 'failed' = 'open';
  private failure: unknown;

  constructor(dir: string, options: GovernanceLogOptions) {
    if (options.key.length === 0) throw new TypeError('governance log: empty key');
    if (options.manifestDigest === '') throw new TypeError('governance log: empty manifest digest');
    if (options.runId === '') throw new TypeError('governance log: empty run id');
    this.path = join(dir, GOVERNANCE_LOG_FILE);
    // Copy the key: the caller's buffer may be reused or zeroed.
    this.key = Buffer.from(options.key);
    this.manifestDigest = options.manifestDigest;
    this.syncEachLine = options.syncEachLine ?? false;
    this.previousMac = genesisMac(this.key, options.runId, options.manifestDigest);
    if (options.resume) {
      truncateSync(this.path, options.resume.bytes);
      this.fd = openSync(this.path, 'a');
      this.size = options.resume.bytes;
      this.seq = options.resume.entries;
      if (options.resume.entries > 0) this.previousMac = options.resume.mac;
    } else this.fd = openSync(this.path, 'ax', 0o644);
  }

  /** Where the log stands now (whole entries written). */
  get position(): GovernanceLogPosition {
    return { bytes: this.size, entries: this.seq, mac: this.previousMac };
  }

  /** Syncs the entries written to disk now. */
  sync(): void {
    if (this.state === 'open') fsyncSync(this.fd);
  }

  /** Entries written so far. */
  get entries(): number {
    return this.seq;
  }

  /** Appends one entry and returns it as written. */
  append(entry: GovernanceEntryInput): GovernanceLogEntry {
    // A failed write fails every later one the same way (a full disk stays full).
    if (this.state === 'failed') throw this.failure;
    if (this.state !== 'open') throw new Error(`governance log ${this.path} is ${this.state}`);
    checkInput(entry);
    const sealed = chainEntry(
      this.previousMac,
      { ...entry, seq: this.seq + 1, manifest_digest: this.manifestDigest },
      this.key,
    );
    const bytes = Buffer.from(`${canonicalJson(sealed as unknown as JsonValue)}\n`, 'utf8');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
      if (this.syncEachLine) fsyncSync(this.fd);
    } catch (error) {
      this.state = 'failed';
      this.failure = error;
      const e = error as NodeJS.ErrnoException;
      if (e && typeof e === 'object' && e.path === undefined) e.path = this.path;
      // A full disk can take half a line: cut it off, so the file stays whole entries.
      try {
        ftruncateSync(this.fd, this.size);
      } catch {
        // nothing more can be done; readers ignore a torn last line
      }
      throw error;
    }
    this.size += bytes.length;
    this.seq += 1;
    this.previousMac = sealed.mac;
    if (entry.kind === 'seal') this.state = 'sealed';
    return sealed;
  }

  /**
   * Closes the log with its seal entry; returns the entry count (the seal included) and
   * the seal's MAC, which the manifest records. Nothing can be appended after it.
   */
  seal(entry: Omit<Extract<GovernanceEntryInput, { kind: 'seal' }>, 'kind' | 'firm'>): {
    entries: number;
    final_mac: string;
  } {
    const written = this.append({ kind: 'seal', firm: null, ...entry });
    return { entries: this.seq, final_mac: written.mac };
  }

  close(): void {
    if (this.state === 'closed') return;
    const failed = this.state === 'failed';
    this.state = 'closed';
    try {
      if (!failed) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}

export type VerifyResult =
  | { ok: true; entries: number }
  | { ok: false; line: number; reason: string };

function macMatches(key: Buffer, entry: Record<string, JsonValue>): boolean {
  const { mac, ...body } = entry;
  if (typeof mac !== 'string' || !MAC_HEX.test(mac)) return false;
  return timingSafeEqual(
    Buffer.from(hmac(key, canonicalJson(body)), 'hex'),
    Buffer.from(mac, 'hex'),
  );
}

function parseLine(line: string): Record<string, JsonValue> | string {
  if (line === '') return 'empty line';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'not a JSON object';
  if (canonicalJson(value as JsonValue) !== line) {
    return 'not in canonical form (keys sorted, no whitespace)';
  }
  return value as Record<string, JsonValue>;
}

/**
 * Checks a governance log's text line by line and names the first bad line (1-based). The
 * checks, in order: a whole line (ends in a newline), canonical JSON, the MAC under `key`,
 * `seq` = the line number, the manifest digest, and `prev_mac` = the previous line's MAC
 * (for line 1, the run's genesis MAC). An authentic entry in the wrong place thus fails on
 * `seq` or `prev_mac`, an edited one or a wrong key on the MAC.
 */
export function verifyGovernanceLog(
  text: string,
  key: Buffer,
  expected: { runId: string; manifestDigest: string; entries?: number },
): VerifyResult {
  const lines = text.split('\n');
  // The text ends in a newline when every write completed: drop the empty piece after it.
  const complete = lines[lines.length - 1] === '';
  if (complete) lines.pop();
  let previous = genesisMac(key, expected.runId, expected.manifestDigest);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const fail = (reason: string): VerifyResult => ({ ok: false, line, reason });
    if (!complete && i === lines.length - 1) {
      return fail('incomplete line (no newline at the end): the last write was cut off');
    }
    const entry = parseLine(lines[i] as string);
    if (typeof entry === 'string') return fail(entry);
    if (typeof entry.mac !== 'string' || !MAC_HEX.test(entry.mac)) {
      return fail('no mac (64 lowercase hex digits)');
    }
    if (!macMatches(key, entry)) {
      // A log none of whose entries verifies was MACed with another key: say so, rather
      // than blame line 1's content.
      const others = lines.slice(1, complete ? undefined : -1).map(parseLine);
      const noneVerifies =
        i === 0 &&
        others.length > 0 &&
        others.every((o) => typeof o === 'string' || !macMatches(key, o));
      return fail(
        noneVerifies
          ? 'MAC mismatch on every entry: a wrong key, a log from another run, or a log re-chained with another key'
          : 'MAC mismatch: the entry was altered, or the key is wrong',
      );
    }
    if (entry.seq !== line) {
      return fail(
        `seq ${JSON.stringify(entry.seq)} where ${line} was expected: an entry was removed, reordered or inserted`,
      );
    }
    if (entry.manifest_digest !== expected.manifestDigest) {
      return fail(
        `manifest_digest ${JSON.stringify(entry.manifest_digest)} is not the run's ${JSON.stringify(expected.manifestDigest)}`,
      );
    }
    if (entry.prev_mac !== previous) {
      return fail(
        i === 0
          ? "prev_mac is not the start of this run's chain: entries were cut from the front, or the log belongs to another run"
          : `prev_mac is not line ${line - 1}'s mac: an entry was removed, reordered or inserted`,
      );
    }
    previous = entry.mac;
  }
  const count = lines.length;
  if (expected.entries !== undefined && count < expected.entries) {
    return {
      ok: false,
      line: count + 1,
      reason: `truncated: ${count} entries, ${expected.entries} expected`,
    };
  }
  if (expected.entries !== undefined && count > expected.entries) {
    return {
      ok: false,
      line: expected.entries + 1,
      reason: `${count} entries, only ${expected.entries} expected`,
    };
  }
  return { ok: true, entries: count };
}

interface SealRecord {
  status: string;
  rounds_completed: number;
  entries: number;
  final_mac: string;
  mac: string;
}

interface VerifiableManifest {
  runId: string;
  digest: string;
  nonce: string;
  llm: JsonValue;
  status: string;
  roundsCompleted: unknown;
  reason: unknown;
  seal: SealRecord | undefined;
  raw: JsonValue;
}

function readManifest(dir: string): VerifiableManifest | string {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? 'no manifest.json'
      : `manifest.json is unreadable (${code ?? 'not JSON'})`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'manifest.json is not a JSON object';
  const m = value as {
    run_id?: unknown;
    digest?: unknown;
    log?: { nonce?: unknown; format?: unknown };
    llm?: unknown;
    status?: unknown;
    rounds_completed?: unknown;
    reason?: unknown;
    seal?: unknown;
  };
  if (typeof m.run_id !== 'string' || m.run_id === '') return 'manifest.json has no run_id';
  if (typeof m.digest !== 'string' || m.digest === '') return 'manifest.json has no digest';
  if (typeof m.log?.nonce !== 'string' || m.log.nonce === '')
    return `manifest.json has no log nonce: the run was written before log format ${GOVERNANCE_LOG_FORMAT}, or the manifest was edited`;
  if (m.log.format !== GOVERNANCE_LOG_FORMAT)
    return `its log format is ${JSON.stringify(m.log.format)}; this version verifies ${GOVERNANCE_LOG_FORMAT}`;
  const seal = m.seal as Partial<SealRecord> | undefined | null;
  const sealOk =
    seal !== undefined &&
    seal !== null &&
    typeof seal === 'object' &&
    Number.isInteger(seal.entries) &&
    typeof seal.final_mac === 'string' &&
    typeof seal.mac === 'string';
  if (seal !== undefined && seal !== null && !sealOk)
    return 'manifest.json has a malformed seal (entries, final_mac, mac)';
  return {
    runId: m.run_id,
    digest: m.digest,
    nonce: m.log.nonce,
    llm: m.llm === undefined ? null : (m.llm as JsonValue),
    status: typeof m.status === 'string' ? m.status : '?',
    roundsCompleted: m.rounds_completed,
    reason: m.reason,
    seal: sealOk ? (seal as SealRecord) : undefined,
    raw: value as JsonValue,
  };
}

/** sha256 of a file's bytes, read in chunks; undefined when it does not exist. */
export function fileSha256(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Verifies a run directory for `mase verify DIR [--key-file F]`: reads manifest.json and
 * governance-log.jsonl, takes the stored key from `keyFile`, else `MASE_LOG_KEY`, else the
 * run's stored key file, derives the run's log key (`runLogKey`), and checks, in order:
 * the chain of every entry; that the run ended and sealed its log (a run killed or
 * crashed has no seal); the entry count and final MAC the manifest records; the
 * manifest's own MAC (any edit of manifest.json); and the sha256 of events.jsonl and
 * metrics.json against the seal. `ok` is true only for an intact log of a run that ran
 * to its end (completed, or degraded); an interrupted or failed run is authentic but
 * incomplete, and says so. Problems come back as messages, never as exceptions.
 */
export function verifyRunDirectory(
  dir: string,
  keyFile?: string,
): { ok: boolean; message: string } {
  const cannot = (why: string) => ({ ok: false, message: `cannot verify ${dir}: ${why}` });
  const manifest = readManifest(dir);
  if (typeof manifest === 'string') return cannot(manifest);
  let text: string;
  try {
    text = readFileSync(join(dir, GOVERNANCE_LOG_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return cannot(
      code === 'ENOENT'
        ? `no ${GOVERNANCE_LOG_FILE}`
        : `cannot read ${GOVERNANCE_LOG_FILE} (${code})`,
    );
  }
  let located: ReturnType<typeof locateLogKey>;
  try {
    located = locateLogKey(manifest.runId, keyFile);
  } catch (error) {
    if (error instanceof LogKeyError) return cannot(error.message);
    throw error;
  }
  if (located === undefined) {
    return cannot(
      `no log key for run ${manifest.runId}: pass --key-file, set MASE_LOG_KEY, or restore ${logKeyPath(manifest.runId)}`,
    );
  }
  const from =
    located.source === 'env'
      ? 'MASE_LOG_KEY'
      : `${located.source === 'file' ? 'stored key ' : ''}${located.path}`;
  const broken = (why: string) => ({ ok: false, message: `${why} (key from ${from})` });
  const key = runLogKey(located.key, {
    runId: manifest.runId,
    manifestDigest: manifest.digest,
    nonce: manifest.nonce,
    llm: manifest.llm,
  });
  const seal = manifest.seal;
  const result = verifyGovernanceLog(text, key, {
    runId: manifest.runId,
    manifestDigest: manifest.digest,
    ...(seal ? { entries: seal.entries } : {}),
  });
  if (!result.ok) return broken(`governance log broken at line ${result.line}: ${result.reason}`);
  if (!seal) {
    const why =
      manifest.status === 'running'
        ? 'the run never ended — manifest.json says running (the process was killed or crashed, or it is still running)'
        : `the run stopped without sealing its log — manifest.json says ${manifest.status}${typeof manifest.reason === 'string' ? ` (${manifest.reason})` : ''}`;
    return {
      ok: false,
      message: `incomplete: ${why}; the ${result.entries} entries present chain correctly, but entries after them may be missing`,
    };
  }
  if (manifestMac(key, manifest.raw) !== seal.mac)
    return broken('manifest.json was changed after the run ended: its MAC does not match');
  const lines = text.split('\n');
  const last = JSON.parse(lines[lines.length - 2] ?? 'null') as Record<string, unknown> | null;
  if (last?.kind !== 'seal' || last.mac !== seal.final_mac)
    return broken(
      `governance log broken at line ${result.entries}: it is not the seal the manifest records`,
    );
  if (last.status !== manifest.status || last.round !== manifest.roundsCompleted)
    return broken('the seal and manifest.json disagree on the status or the rounds played');
  const events = fileSha256(join(dir, 'events.jsonl'));
  if (events === undefined) return broken('events.jsonl is missing');
  if (events !== last.events_sha256)
    return broken("events.jsonl was changed after the run ended: its sha256 is not the seal's");
  const metrics = fileSha256(join(dir, 'metrics.json'));
  if (last.metrics_sha256 === null && metrics !== undefined)
    return broken('metrics.json was added after the run ended: the seal records none');
  if (last.metrics_sha256 !== null && metrics === undefined)
    return broken('metrics.json is missing');
  if (last.metrics_sha256 !== null && metrics !== last.metrics_sha256)
    return broken("metrics.json was changed after the run ended: its sha256 is not the seal's");
  const rounds = `${manifest.roundsCompleted} rounds`;
  const covered = `${result.entries} ${result.entries === 1 ? 'entry' : 'entries'} (seal included), manifest.json, events.jsonl${metrics === undefined ? '' : ' and metrics.json'} are as the run wrote them`;
  if (manifest.status === 'completed')
    return { ok: true, message: `intact: ${covered}; the run completed ${rounds}` };
  if (manifest.status === 'degraded')
    return {
      ok: true,
      message: `intact: ${covered}; the run played ${rounds} but is degraded${typeof manifest.reason === 'string' ? ` (${manifest.reason})` : ''}`,
    };
  return {
    ok: false,
    message: `incomplete: the run ${manifest.status === 'failed' ? 'failed' : `was ${manifest.status}`} after ${rounds}${typeof manifest.reason === 'string' ? ` (${manifest.reason})` : ''}; its ${covered}`,
  };
}
