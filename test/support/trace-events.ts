import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One event of a run's events.jsonl, loosely typed for CLI tests. */
export type TraceLine = { type: string; round?: number; [k: string]: unknown };

/** The events of the run directory `out` under `dir`. */
export const traceEvents = (dir: string, out: string): TraceLine[] =>
  readFileSync(join(dir, out, 'events.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as TraceLine);

/** The text of a prompt message of an `llm_call` (the trace stores each text once, by id). */
export const promptOf = (
  events: readonly TraceLine[],
  call: TraceLine | undefined,
  role: string,
): string => {
  const id = (call?.messages as { role: string; text: string }[] | undefined)?.find(
    (m) => m.role === role,
  )?.text;
  return String(events.find((e) => e.type === 'text' && e.id === id)?.text ?? '');
};
