import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { basename, dirname, join } from 'node:path';
import { EXIT, MaseUserError } from './errors.js';

/** The part of an aside file's name after the target's: `results.csv.partial-PID-NONCE`. */
const PARTIAL = '.partial-';

/**
 * Writes a file atomically and durably: written aside (under a name no other writer uses),
 * flushed to the disk, renamed over the target, and the directory flushed too, so a reader
 * — or a machine that loses power half-way — sees the old file or the new one, never half
 * of one. Aside files of the same target that a crashed process left are removed.
 */
export function writeFileAtomic(path: string, text: string | Uint8Array): void {
  const aside = `${path}${PARTIAL}${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = openSync(aside, 'w');
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(aside, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(aside, path);
  } catch (error) {
    rmSync(aside, { force: true });
    throw error;
  }
  const dir = dirname(path);
  syncDirectory(dir);
  // A directory is swept once per process: a scan per write would make writing n records
  // into one directory cost n².
  if (!swept.has(dir)) {
    swept.add(dir);
    removeStalePartials(dir, basename(path));
  }
}

/** Directories whose stale aside files this process has removed. */
const swept = new Set<string>();

/** Flushes a directory's entries (a rename or a new file) to the disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Whether a process with this id runs on this machine (EPERM: it does, as another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the aside files (`NAME.partial-PID…`) in `dir` that no running process is still
 * writing: those of processes that are gone, and this process's own of `target` (it writes
 * one target at a time). Without `target` the caller holds the directory's lock, and every
 * aside file of this process is stale as well. Returns the names removed.
 */
export function removeStalePartials(dir: string, target?: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const entry of entries) {
    const at = entry.indexOf(PARTIAL);
    if (at <= 0) continue;
    const pid = Number.parseInt(entry.slice(at + PARTIAL.length), 10);
    const stale =
      pid === process.pid
        ? target === undefined || entry.slice(0, at) === target
        : !Number.isInteger(pid) || !processAlive(pid);
    if (!stale) continue;
    rmSync(join(dir, entry), { force: true, recursive: true });
    removed.push(entry);
  }
  return removed;
}

/**
 * `mkdir -p`, with the cause a user can act on: Node's recursive mkdir reports ENOENT for a
 * parent it cannot write in (a read-only filesystem, say), and EEXIST for a file in the
 * way; making the last part alone, or reading the file as a directory (ENOTDIR), then
 * shows the real cause.
 */
export function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') readdirSync(dir);
    if (code !== 'ENOENT' || !existsSync(dirname(dir))) throw error;
    mkdirSync(dir);
  }
}

/** The lock file of a locked directory. */
export const LOCK_FILE = '.mase-lock';

/** Who holds a directory's lock: enough to find the process and tell the user. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly started_at: string;
  readonly command: string;
  /** Tells this holder's lock from a later one of a process with the same id. */
  readonly token: string;
}

/** A directory another process holds (`holder`), or whose lock cannot be read: exit 2. */
export class DirectoryLockedError extends MaseUserError {
  constructor(
    message: string,
    readonly holder: LockHolder | null,
  ) {
    super(message, EXIT.usage);
    this.name = 'DirectoryLockedError';
  }
}

/** A directory claimed for a new run that already holds something: exit 2. */
export class DirectoryNotEmptyError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
    this.name = 'DirectoryNotEmptyError';
  }
}

export interface DirectoryLock {
  readonly dir: string;
  /** Removes the lock (once; later calls do nothing). */
  release(): void;
}

/** How a lock taken over from a dead process is told by default: on stderr. */
function warnOnStderr(message: string): void {
  process.stderr.write(`mase: warning: ${message}\n`);
}

/** Locks this process holds, removed if it exits without releasing them. */
const held = new Map<string, LockHolder>();
let exitHookInstalled = false;

function describe(holder: LockHolder): string {
  return `process ${holder.pid} on ${holder.host}, since ${holder.started_at}: ${holder.command}`;
}

function readHolder(path: string): LockHolder | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.started_at === 'string' &&
      typeof value.command === 'string' &&
      typeof value.token === 'string'
    )
      return value as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw error;
  }
  return null;
}

function sameHolder(a: LockHolder | null, b: LockHolder | null): boolean {
  return a !== null && b !== null && a.token === b.token;
}

/** Whether the holder (on this host) still runs: its pid is alive, and is not this process's reused. */
function holderAlive(holder: LockHolder): boolean {
  if (holder.pid !== process.pid) return processAlive(holder.pid);
  if ([...held.values()].some((h) => h.token === holder.token)) return true;
  // The same pid but before this process started: a process that died, its pid reused.
  return Date.parse(holder.started_at) >= Date.now() - process.uptime() * 1000 - 1000;
}

/** Releases on exit the locks a process did not release (an error, `process.exit`). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [path, holder] of held) {
      try {
        if (sameHolder(readHolder(path), holder)) unlinkSync(path);
      } catch {
        // gone already: nothing to release
      }
    }
  });
}

/**
 * Locks `dir` (created if missing) for this process: `DIR/.mase-lock` names the holder (pid,
 * host, start time, command). The lock file appears whole or not at all (written aside, then
 * hard-linked into place, which fails if it exists), so two processes cannot both take it.
 * A lock of a process that no longer runs on this machine is taken over, and `notify` told;
 * a live holder, or one on another host, is refused with a `DirectoryLockedError` naming it.
 * `what` names the directory in messages ("sweep directory", "run directory").
 */
export function lockDirectory(
  dir: string,
  what: string,
  notify: (message: string) => void = warnOnStderr,
): DirectoryLock {
  makeDirectory(dir);
  const path = join(dir, LOCK_FILE);
  const me: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    started_at: new Date().toISOString(),
    command: ['mase', ...process.argv.slice(2)].join(' '),
    token: randomBytes(8).toString('hex'),
  };
  const pending = `${path}.pending-${process.pid}-${me.token}`;
  writeFileAtomic(pending, `${JSON.stringify(me)}\n`);
  let tookOverFrom: LockHolder | null = null;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(pending, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      let holder: LockHolder | null;
      try {
        holder = readHolder(path);
      } catch {
        continue; // released between the link and the read: try again
      }
      const where = `${what} ${dir}`;
      // Another process locked the directory in the moment this one had moved a dead holder's
      // lock aside: every refusal says so, the only place that removal is reported.
      const removed = tookOverFrom
        ? ` (it locked the directory after this process removed the lock of ${describe(tookOverFrom)}, which was no longer running)`
        : '';
      if (holder === null)
        throw new DirectoryLockedError(
          `the ${where} is locked by ${path}, which cannot be read${removed}; if no other mase uses the directory, remove that file`,
          null,
        );
      if (holder.host !== me.host)
        throw new DirectoryLockedError(
          `the ${where} is in use by ${describe(holder)}${removed}; if that process is gone, remove ${path}`,
          holder,
        );
      if (holderAlive(holder) || attempt > 2)
        throw new DirectoryLockedError(
          `the ${where} is in use by ${describe(holder)}${removed}`,
          holder,
        );
      // A dead holder's lock: move it aside and check what was moved, since another process
      // may have taken the lock over in between (then it goes back).
      const aside = `${path}.stale-${me.token}`;
      try {
        renameSync(path, aside);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      const moved = readHolder(aside);
      if (sameHolder(moved, holder)) {
        unlinkSync(aside);
        tookOverFrom = holder;
        continue;
      }
      try {
        linkSync(aside, path);
      } catch (error) {
        // A third process has locked it since: it is in use either way.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        unlinkSync(aside);
      }
      throw new DirectoryLockedError(
        `the ${where} is in use by ${moved ? describe(moved) : 'another process'}${removed}`,
        moved,
      );
    }
  } finally {
    rmSync(pending, { force: true });
  }
  syncDirectory(dir);
  held.set(path, me);
  installExitHook();
  if (tookOverFrom)
    notify(
      `took over the lock of the ${what} ${dir} from ${describe(tookOverFrom)}, which is no longer running`,
    );
  let released = false;
  return {
    dir,
    release() {
      if (released) return;
      released = true;
      held.delete(path);
      try {
        if (sameHolder(readHolder(path), me)) unlinkSync(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    },
  };
}

/** What a locked directory holds besides its lock (and a lock being taken). */
export function entriesBesideLock(dir: string): string[] {
  return readdirSync(dir).filter((e) => e !== LOCK_FILE && !e.startsWith(`${LOCK_FILE}.`));
}

/**
 * Claims `dir` for a new run: locks it (see `lockDirectory`), then checks that it is empty,
 * in that order, so two processes given the same fresh directory cannot both write there.
 * Release the lock when the run ends.
 */
export function claimDirectory(
  dir: string,
  what: string,
  notify?: (message: string) => void,
): DirectoryLock {
  const lock = lockDirectory(dir, what, notify);
  if (entriesBesideLock(dir).length > 0) {
    lock.release();
    throw new DirectoryNotEmptyError(`${dir} is not empty; choose a new --out directory`);
  }
  return lock;
}
