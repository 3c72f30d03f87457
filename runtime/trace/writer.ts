import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { TraceEvent } from './events.js';

/** JSON for traces: infinities as "inf" (JSON has none), NaN as null. */
export function traceJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    typeof v === 'number' && !Number.isFinite(v)
      ? Number.isNaN(v)
        ? null
        : v > 0
          ? 'inf'
          : '-inf'
      : v,
  );
}

/**
 * Appends events to `events.jsonl` as the run goes. Lines are written synchronously and
 * the file is synced once per round, so a crash leaves a readable prefix of whole lines.
 */
export class TraceWriter {
  private readonly fd: number;
  private closed = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  write(event: TraceEvent): void {
    writeSync(this.fd, `${traceJson(event)}\n`);
  }

  flush(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}
