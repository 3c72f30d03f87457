import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';

/**
 * The key that MACs a run's governance log. It must live outside the run directory: anyone
 * who can edit the directory could otherwise re-chain an edited log with the key sitting
 * next to it, and the MACs would prove nothing.
 *
 * Where it comes from, in order:
 * - `MASE_LOG_KEY`, when set and not empty. Its encoding: a value made only of an even
 *   number of hex digits (`openssl rand -hex 32`) is decoded as hex into those bytes; any
 *   other value is taken as the UTF-8 bytes of the string. Use 32 random bytes in hex.
 * - otherwise a key generated for the run (32 random bytes), stored as 64 hex digits and a
 *   newline in `<data>/keys/<run-id>.key` (file mode 0600, directories created 0700), where
 *   `<data>` is `$MASE_HOME`, else `$XDG_DATA_HOME/mase`, else `~/.local/share/mase`.
 *
 * A key file given on the command line (`mase verify --key-file F`) holds the key in the
 * same encoding as `MASE_LOG_KEY`; a trailing newline is ignored. Nothing here ever prints
 * or logs a key, and no error message quotes one.
 */

export const LOG_KEY_ENV = 'MASE_LOG_KEY';
const KEY_BYTES = 32;

/** A key that cannot be found, read or stored; the message says what to do, never the key. */
export class LogKeyError extends Error {
  override name = 'LogKeyError';
}

export interface ResolvedLogKey {
  key: Buffer;
  source: 'env' | 'file';
  /** The key file, when the key is stored in one. */
  path?: string;
}

// Run ids become file names: one path segment, no leading dot, nothing a shell or a
// filesystem treats specially ('/', '\', NUL, '..').
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$/;

function checkRunId(runId: string): void {
  if (!RUN_ID.test(runId)) {
    throw new LogKeyError(
      `run id ${JSON.stringify(runId)} cannot name a key file: use letters, digits and . _ : + - (not first), at most 200 characters`,
    );
  }
}

/** Decodes a key as `MASE_LOG_KEY` and key files hold it: even-length hex, else UTF-8. */
export function decodeLogKey(text: string): Buffer {
  if (/^(?:[0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, 'hex');
  return Buffer.from(text, 'utf8');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The user's MASE data directory: `$MASE_HOME`, else `$XDG_DATA_HOME/mase`, else `~/.local/share/mase`. */
export function maseDataDirectory(): string {
  const home = nonEmpty(process.env.MASE_HOME);
  if (home !== undefined) return resolve(home);
  // The XDG base directory spec says a relative XDG_DATA_HOME is invalid and is ignored.
  const xdg = nonEmpty(process.env.XDG_DATA_HOME);
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'mase');
  return join(homedir(), '.local', 'share', 'mase');
}

/** Where the generated key of a run is stored (whether or not it exists). */
export function logKeyPath(runId: string): string {
  checkRunId(runId);
  return join(maseDataDirectory(), 'keys', `${runId}.key`);
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function readKeyFile(path: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LogKeyError(
      `cannot read key file ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const body = text.replace(/\r?\n$/, '');
  if (body === '') throw new LogKeyError(`key file ${path} is empty`);
  return decodeLogKey(body);
}

function envKey(): Buffer | undefined {
  const value = nonEmpty(process.env[LOG_KEY_ENV]);
  return value === undefined ? undefined : decodeLogKey(value);
}

/**
 * Stores `key` at `path` unless a key is already there, and returns the key now at `path`.
 * The key is written to a private temporary file and hard-linked into place: the link is
 * atomic and refuses to replace, so a concurrent writer never sees a half-written key and
 * an existing key (an earlier log's) is never overwritten.
 */
function storeKeyOnce(path: string, dir: string, key: Buffer): Buffer {
  const temp = join(dir, `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    // The umask can only remove bits; set exactly 0600 whatever it is.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key.toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const existing = readKeyFile(path);
    if (existing === undefined) throw new LogKeyError(`key file ${path} vanished while storing`);
    return existing;
  } finally {
    unlinkSync(temp);
  }
}

/**
 * The key a run writes its governance log with: `MASE_LOG_KEY`, else the run's stored key,
 * else a new one, stored for the run. When `runDir` is given, a key file that would land
 * inside it (say `MASE_HOME` points into the run directory) is refused.
 */
export function resolveLogKey(runId: string, options: { runDir?: string } = {}): ResolvedLogKey {
  const fromEnv = envKey();
  if (fromEnv !== undefined) return { key: fromEnv, source: 'env' };
  const path = logKeyPath(runId);
  const dir = join(maseDataDirectory(), 'keys');
  if (options.runDir !== undefined && isInside(path, options.runDir)) {
    throw new LogKeyError(
      `the key file ${path} would be inside the run directory ${options.runDir}: point MASE_HOME elsewhere`,
    );
  }
  const existing = readKeyFile(path);
  if (existing !== undefined) return { key: existing, source: 'file', path };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new LogKeyError(
      `cannot create the key directory ${dir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    return { key: storeKeyOnce(path, dir, randomBytes(KEY_BYTES)), source: 'file', path };
  } catch (error) {
    if (error instanceof LogKeyError) throw error;
    throw new LogKeyError(
      `cannot store the log key in ${dir}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

/**
 * Where `readLogKey` would take the key from, and the key; undefined when there is none.
 * Order: `keyFile`, else `MASE_LOG_KEY`, else the run's stored key file. Never generates.
 */
export function locateLogKey(
  runId: string,
  keyFile?: string,
): { key: Buffer; source: 'key-file' | 'env' | 'file'; path?: string } | undefined {
  if (keyFile !== undefined) {
    const key = readKeyFile(keyFile);
    if (key === undefined) throw new LogKeyError(`key file ${keyFile} does not exist`);
    return { key, source: 'key-file', path: keyFile };
  }
  const fromEnv = envKey();
  if (fromEnv !== undefined) return { key: fromEnv, source: 'env' };
  const path = logKeyPath(runId);
  const stored = readKeyFile(path);
  return stored === undefined ? undefined : { key: stored, source: 'file', path };
}

/** The key to verify a run's log with (see `locateLogKey`); undefined when there is none. */
export function readLogKey(runId: string, keyFile?: string): Buffer | undefined {
  return locateLogKey(runId, keyFile)?.key;
}
