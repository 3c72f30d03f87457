import { renameSync, writeFileSync } from 'node:fs';

/**
 * Writes a file atomically: written aside (under a name of this process's own), then
 * renamed over the target, so a reader — or a process killed half-way — never sees half
 * of it.
 */
export function writeFileAtomic(path: string, text: string): void {
  const aside = `${path}.partial-${process.pid}`;
  writeFileSync(aside, text);
  renameSync(aside, path);
}
