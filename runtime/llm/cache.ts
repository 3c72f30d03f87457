import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { EXIT, MaseUserError } from '../errors.js';
import { maseDataDirectory } from '../trace/log-key.js';
import type { ChatClient, ChatRequest, ChatResponse, FaultCause } from './client.js';
import { localModelFileName } from './model-files.js';
import type { Scrubber } from './secrets.js';
import type { ModelSpec } from './spec.js';

/**
 * The response cache: what each request came to — the answer, or the transport failure
 * that outlasted every retry — is stored in SQLite under a hash of what determines it: the
 * endpoint, the model, the messages, the generation settings, the schema asked for, and the
 * sample index (the how-many-th identical request this is in the run, so asking the same
 * thing twice in a run can get two different answers). A run reads and writes it (the
 * endpoint layer in services.ts, above the retries), asking again where it holds a failure;
 * `mase replay` only reads it — a file it opens read-only and must find — with a client
 * that refuses the network, and gives back failures as they were. API keys are not part of
 * anything stored: what is written passes through the run's scrubber first. The file (and
 * SQLite's -wal and -shm beside it) is readable by its owner only (0600), and the directory
 * made for it too (0700): answers are the user's data.
 */

export const CACHE_FILE = 'responses.sqlite';

/** `$MASE_HOME/cache/responses.sqlite` (or under the XDG data directory). */
export function defaultCachePath(): string {
  return join(maseDataDirectory(), 'cache', CACHE_FILE);
}

export const CACHE_FILE_MODE = 0o600;
export const CACHE_DIRECTORY_MODE = 0o700;

/**
 * Makes the cache file (and its directory) private before SQLite opens it, and makes an
 * existing one private again (a cache written before modes were set was world-readable).
 * A directory the user named with `--cache` is theirs and left as it is; the default
 * directory, MASE's own, is made 0700.
 */
function makePrivate(path: string): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true, mode: CACHE_DIRECTORY_MODE });
  if (directory === dirname(defaultCachePath())) chmodSync(directory, CACHE_DIRECTORY_MODE);
  closeSync(openSync(path, 'a', CACHE_FILE_MODE));
  for (const file of [path, `${path}-wal`, `${path}-shm`])
    if (existsSync(file)) chmodSync(file, CACHE_FILE_MODE);
}

interface Row {
  response: string;
}

/** What a request came to: an answer, or a transport failure that outlasted every retry. */
export type CachedOutcome =
  | { readonly answer: ChatResponse }
  | { readonly failure: { readonly message: string; readonly fault: FaultCause } };

/** A cache file that cannot be opened (or, for replay, is not there): the message names it, exit 2. */
export class CacheError extends MaseUserError {
  override name = 'CacheError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export class ResponseCache {
  private readonly db: Database.Database;
  private readonly getStatement: Database.Statement<[string], Row>;
  private readonly putStatement: Database.Statement<[string, string, string, string]> | undefined;

  /**
   * `record` opens the file (creating it and its directory) for reading and writing;
   * `replay` opens an existing file read-only and changes nothing, not even its journal.
   */
  constructor(
    readonly path: string,
    readonly mode: 'record' | 'replay' = 'record',
  ) {
    let db: Database.Database | undefined;
    try {
      if (mode === 'replay') {
        if (!existsSync(path)) throw new Error('there is no such file');
        db = new Database(path, { readonly: true, fileMustExist: true });
      } else {
        makePrivate(path);
        db = new Database(path);
        db.pragma('journal_mode = WAL');
        // SQLite gives -wal and -shm the database file's mode, less the umask; say it outright.
        for (const file of [`${path}-wal`, `${path}-shm`])
          if (existsSync(file)) chmodSync(file, CACHE_FILE_MODE);
        db.exec(
          `CREATE TABLE IF NOT EXISTS responses (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            request TEXT NOT NULL,
            response TEXT NOT NULL
          )`,
        );
      }
      this.getStatement = db.prepare('SELECT response FROM responses WHERE key = ?');
      this.putStatement =
        mode === 'record'
          ? db.prepare(
              'INSERT OR REPLACE INTO responses (key, model, request, response) VALUES (?, ?, ?, ?)',
            )
          : undefined;
    } catch (error) {
      db?.close();
      const message = error instanceof Error ? error.message : String(error);
      throw new CacheError(
        `cannot ${mode === 'replay' ? 'read' : 'open'} the response cache ${path}: ${message}`,
      );
    }
    this.db = db;
  }

  get(key: string): CachedOutcome | undefined {
    const row = this.getStatement.get(key);
    return row ? (JSON.parse(row.response) as CachedOutcome) : undefined;
  }

  /** Stores what a request came to; with a scrubber, no key reaches the file. */
  put(
    key: string,
    model: string,
    request: unknown,
    outcome: CachedOutcome,
    scrubber?: Scrubber,
  ): void {
    if (!this.putStatement) throw new CacheError(`the response cache ${this.path} is read-only`);
    const clean = (text: string) => (scrubber ? scrubber.scrub(text) : text);
    this.putStatement.run(
      key,
      model,
      clean(JSON.stringify(request)),
      clean(JSON.stringify(outcome)),
    );
  }

  close(): void {
    this.db.close();
  }
}

/**
 * What identifies a request: everything that can change the answer, and nothing else. For
 * the embedded model that is the model file's name — from the spec's path, `MASE_MODEL` or
 * the default file, worked out without looking for the file or downloading it — so `local`
 * under two `MASE_MODEL`s is two models, and a cache moves between machines whose files sit
 * in different directories.
 */
export function requestIdentity(spec: ModelSpec, request: ChatRequest, sample: number) {
  const local = spec.provider === 'local';
  return {
    endpoint: local ? 'local' : (spec.baseURL ?? spec.provider),
    model: local ? localModelFileName(spec.path) : spec.model,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    settings: {
      temperature: request.settings.temperature ?? null,
      max_tokens: request.settings.maxTokens ?? null,
      seed: request.settings.seed ?? null,
    },
    schema: request.schema ?? null,
    sample,
  };
}

/** The hash of a request without its sample index, and the key of its `sample`-th answer. */
export function requestHash(identity: ReturnType<typeof requestIdentity>): string {
  const { sample: _sample, ...request } = identity;
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

export function cacheKey(request: string, sample: number): string {
  return createHash('sha256').update(`${request}#${sample}`).digest('hex');
}

/** A cache miss during replay: the message names the request's round and firm when known. */
export class ReplayMissError extends Error {
  override name = 'ReplayMissError';
}

/** A client for replay: any attempt to reach a model is an error. */
export class NoNetworkClient implements ChatClient {
  constructor(readonly id: string) {}

  complete(): Promise<ChatResponse> {
    return Promise.reject(new ReplayMissError(`replay may not call ${this.id}`));
  }
}
