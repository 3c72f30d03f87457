import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TRACE_LEVELS, type TraceLevel } from '../trace/events.js';

/**
 * The trace level the run in `dir` recorded in its manifest: absent (a run from before
 * levels) is `full`; a manifest that cannot be read is left to the command's own checks.
 */
export function recordedTraceLevel(dir: string): TraceLevel {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      trace?: unknown;
    };
    const level = manifest?.trace;
    return (TRACE_LEVELS as readonly unknown[]).includes(level) ? (level as TraceLevel) : 'full';
  } catch {
    return 'full';
  }
}

/** Whether a trace at `level` keeps what one at `needed` keeps. */
export const keepsAsMuchAs = (level: TraceLevel, needed: TraceLevel): boolean =>
  TRACE_LEVELS.indexOf(level) <= TRACE_LEVELS.indexOf(needed);

/**
 * Why the run in `dir` cannot be used for `what` (a plain sentence), or undefined when its
 * trace keeps at least `needed`.
 */
export function traceShortfall(dir: string, needed: TraceLevel, what: string): string | undefined {
  const level = recordedTraceLevel(dir);
  if (keepsAsMuchAs(level, needed)) return undefined;
  return `${what} needs the run's trace at --trace ${needed}${needed === 'full' ? '' : ' or full'}; the run in ${dir} kept --trace ${level}${level === 'none' ? ' (no events.jsonl rounds)' : ''}. Run it again with --trace ${needed === 'full' ? 'full' : 'summary'}`;
}
