import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { TraceEvent } from './events.js';

const replaceNonFinite = (_key: string, v: unknown) =>
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

/** Rounds between two fsyncs of events.jsonl (and one at the end). */
export const SYNC_EVERY_ROUNDS = 64;

/**
 * Appends events to `events.jsonl` as the run goes. A round's lines are collected and
 * handed to the operating system in one write when the round ends (`flush`), so a crash
 * of the process leaves a readable prefix of whole rounds; the file is synced to disk every
 * `SYNC_EVERY_ROUNDS` flushes and on close, so a crash of the machine loses at most those
 * rounds.
 */
export class TraceWriter {
  private readonly fd: number;
  private closed = false;
  private pending: string[] = [];
  private unsynced = 0;

  constructor(
    readonly path: string,
    private readonly syncEvery = SYNC_EVERY_ROUNDS,
  ) {
    this.fd = openSync(path, 'w');
  }

  write(event: TraceEvent): void {
    this.pending.push(traceJson(event));
  }

  /** Writes the collected lines; syncs when `syncEvery` flushes have passed since the last sync. */
  flush(): void {
    if (this.pending.length > 0) {
      const bytes = Buffer.from(`${this.pending.join('\n')}\n`, 'utf8');
      this.pending = [];
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    }
    if (++this.unsynced >= this.syncEvery) {
      fsyncSync(this.fd);
      this.unsynced = 0;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.unsynced = this.syncEvery;
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}
