import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceText } from '../compiler/index.js';
import { FILE_EXTENSION } from '../grammar/language.js';

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

const declarationPattern = /^\s*(?:market|institution|experiment)\s+([A-Za-z_][A-Za-z0-9_]*)/gm;

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

export class SourceError extends Error {}

/** Reads `FILE` or `stdlib:NAME`. Problems are SourceErrors with a message for the user. */
export function loadSource(spec: string): SourceText {
  if (spec.startsWith('stdlib:')) {
    const name = spec.slice('stdlib:'.length);
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
  if (!existsSync(path)) throw new SourceError(`no such file: ${spec}`);
  if (statSync(path).isDirectory())
    throw new SourceError(`${spec} is a directory, not a source file`);
  const bytes = readFileSync(path);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const shown = relative(process.cwd(), path);
  return { path: shown.startsWith('..') ? path : shown, text };
}
