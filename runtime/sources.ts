import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceText, UnreadableImport } from '../compiler/index.js';
import { importTarget, STDLIB_PREFIX } from '../grammar/imports.js';
import { FILE_EXTENSION } from '../grammar/language.js';
import { EXIT, MaseUserError } from './errors.js';

/** The package root: the nearest folder above this module holding MASE's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
        if (pkg.name === 'mase') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the MASE package root');
    dir = parent;
  }
}

export function stdlibDirectory(): string {
  return join(packageRoot(), 'stdlib');
}

/** Every stdlib source, with paths shown as `stdlib/NAME.mase`. */
export function stdlibSources(): SourceText[] {
  const dir = stdlibDirectory();
  return readdirSync(dir)
    .filter((f) => f.endsWith(FILE_EXTENSION))
    .sort()
    .map((f) => ({ path: `stdlib/${f}`, text: readFileSync(join(dir, f), 'utf8') }));
}

/** Sources compiled beside the stdlib: the `.mase` files of registered kind folders. */
const addedLibrary = new Map<string, SourceText>();

/** Adds sources to the library every command compiles with (runtime/environment/kinds.ts). */
export function addLibrarySources(sources: readonly SourceText[]): void {
  for (const s of sources) addedLibrary.set(s.path, s);
}

/** Removes what `addLibrarySources` added (tests). */
export function clearAddedLibrary(): void {
  addedLibrary.clear();
}

/** The library: the stdlib, then the sources of registered kind folders. */
export function librarySources(): SourceText[] {
  return [...stdlibSources(), ...addedLibrary.values()];
}

const declarationPattern =
  /^\s*(?:market|environment|institution|experiment)\s+([A-Za-z_][A-Za-z0-9_]*)/gm;

/** Declaration names of the stdlib, mapped to their files. */
export function stdlibIndex(): Map<string, SourceText> {
  const index = new Map<string, SourceText>();
  for (const source of stdlibSources()) {
    for (const match of source.text.matchAll(declarationPattern)) {
      if (match[1]) index.set(match[1], source);
    }
  }
  return index;
}

/** A source the user named that cannot be read as one: exit 2. */
export class SourceError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The largest source file MASE reads: larger ones are refused before they are read. */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

/** What a file that is not a regular file is, for the message refusing it. */
function fileKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The file's status, following links. A missing file, a dangling link and a link loop are
 * SourceErrors; any other failure (permission, I/O) goes up with its errno code.
 */
function statSource(path: string, spec: string): Stats {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      throw new SourceError(
        `${spec} is a symlink loop: following its links never reaches a file (ELOOP)`,
      );
    if (code === 'ENOENT') {
      const dangling = lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink();
      throw new SourceError(
        dangling ? `${spec} is a symlink to a file that does not exist` : `no such file: ${spec}`,
      );
    }
    throw error;
  }
}

/** Reads `FILE` or `stdlib:NAME`. Problems are SourceErrors with a message for the user. */
export function loadSource(spec: string): SourceText {
  if (spec.startsWith(STDLIB_PREFIX)) {
    const name = spec.slice(STDLIB_PREFIX.length);
    const index = stdlibIndex();
    const found = index.get(name);
    if (!found) {
      throw new SourceError(
        `no stdlib entry named \`${name}\`; available: ${[...index.keys()].sort().join(', ')}`,
      );
    }
    return found;
  }
  const path = resolve(spec);
  const shown = relative(process.cwd(), path);
  return readSourceFile(path, spec, shown.startsWith('..') ? path : shown);
}

/**
 * Reads the file at `path` (absolute), named `spec` in messages and `shown` in the result.
 * Problems are SourceErrors with a message for the user.
 */
function readSourceFile(path: string, spec: string, shown: string): SourceText {
  // Status first, and nothing opened that is not a regular file: a FIFO or a device would
  // block the read or never end it.
  const stats = statSource(path, spec);
  if (!stats.isFile()) throw new SourceError(`${spec} is ${fileKind(stats)}, not a source file`);
  const tooLarge = (size: number) =>
    new SourceError(
      `${spec} is ${(size / 1024 / 1024).toFixed(1)} MiB; a source file is at most ${MAX_SOURCE_BYTES / 1024 / 1024} MiB`,
    );
  if (stats.size > MAX_SOURCE_BYTES) throw tooLarge(stats.size);
  const bytes = readFileSync(path);
  if (bytes.length > MAX_SOURCE_BYTES) throw tooLarge(bytes.length);
  // Bytes that are not UTF-8 become U+FFFD, which the parser reports as E_BAD_CHAR where
  // it stands; the manifest's digest is of the bytes, not of this text.
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return {
    path: shown,
    text,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** The most files one command compiles through imports: a runaway import chain stops here. */
export const MAX_IMPORTED_FILES = 1000;

/** What a command compiles: the files it was given and every file they import, transitively. */
export interface LoadedProgram {
  /** The named files first, then imported files in the order their imports are met. */
  readonly sources: SourceText[];
  /** Imported files that could not be read, for the checker to report at their imports. */
  readonly unreadable: UnreadableImport[];
}

/**
 * Reads `FILE`s and `stdlib:NAME`s and follows their imports. A named file that cannot be
 * read is a SourceError (exit 2); an imported one is reported by the checker at its import.
 * An imported file is named by `importTarget` (its path joined to its importer's), so the
 * compiler finds it by the spec alone; each records the paths it imports (`imports`).
 */
export async function loadProgram(specs: readonly string[]): Promise<LoadedProgram> {
  const roots = [...new Set(specs)].map((spec) => ({
    source: loadSource(spec),
    // A stdlib entry imports nothing; a file's imports are relative to where it is on disk.
    location: spec.startsWith(STDLIB_PREFIX) ? undefined : resolve(spec),
  }));
  // The parser loads only when a command compiles, as the compiler does.
  const { parse } = await import('../grammar/index.js');
  const sources: SourceText[] = [];
  const unreadable: UnreadableImport[] = [];
  const seen = new Set(roots.map((r) => r.source.path));
  const visit = (source: SourceText, location: string | undefined): void => {
    const imports = location ? (parse(source.path, source.text).value.imports ?? []) : [];
    const files = imports.flatMap((item) => {
      const target = importTarget(source.path, item.spec);
      return target.kind === 'file' ? [{ path: target.path, spec: item.spec }] : [];
    });
    sources.push(files.length > 0 ? { ...source, imports: files.map((f) => f.path) } : source);
    if (!location) return;
    for (const { path, spec } of files) {
      if (seen.has(path)) continue;
      seen.add(path);
      if (seen.size > MAX_IMPORTED_FILES) {
        unreadable.push({
          path,
          reason: `more than ${MAX_IMPORTED_FILES} files are imported; this one is not read`,
        });
        continue;
      }
      const real = resolve(dirname(location), spec);
      let imported: SourceText;
      try {
        imported = readSourceFile(real, path, path);
      } catch (error) {
        if (!(error instanceof SourceError)) throw error;
        unreadable.push({ path, reason: error.message });
        continue;
      }
      visit(imported, real);
    }
  };
  for (const { source, location } of roots) visit(source, location);
  return { sources, unreadable };
}
