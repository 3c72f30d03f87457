// Phase 2's imports: every `import` of the user's files leads to a file the loader handed
// in (or to a stdlib entry), and no chain of imports returns to where it started. The loader
// (runtime/sources.ts) does the reading; what it could not read arrives as `unreadable`.
import type { ImportItem, Range, SourceFile } from '../../grammar/ast.js';
import { importTarget } from '../../grammar/imports.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { Reporter } from './common.js';

/** An imported file the loader could not read, and why (it is missing, a directory, too large, …). */
export interface UnreadableImport {
  readonly path: string;
  readonly reason: string;
}

/** Where a file was imported: the first import item that leads to it. */
export interface ImportSite {
  readonly path: string;
  readonly range: Range;
}

/**
 * Reports imports that lead nowhere and cycles; returns, for each imported file, the import
 * that first brought it in (a name clash between two files is reported there).
 */
export function checkImports(
  files: readonly SourceFile[],
  library: readonly SourceFile[],
  unreadable: readonly UnreadableImport[],
  reporter: Reporter,
): ReadonlyMap<string, ImportSite> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const reasons = new Map(unreadable.map((u) => [u.path, u.reason]));
  const libraryNames = library.flatMap((f) => f.declarations.map((d) => d.name.name));
  const sites = new Map<string, ImportSite>();
  // Each file's imports that lead to a file handed in: the edges the cycle search walks.
  const edges = new Map<string, { item: ImportItem; to: string }[]>();
  for (const file of files) {
    const out: { item: ImportItem; to: string }[] = [];
    for (const item of file.imports ?? []) {
      const target = importTarget(file.path, item.spec);
      if (target.kind === 'refused') {
        reporter.report('E_IMPORT', file.path, item.range, target.message, target.hint);
      } else if (target.kind === 'stdlib') {
        if (!libraryNames.includes(target.name))
          reporter.report(
            'E_IMPORT',
            file.path,
            item.range,
            `the stdlib has no entry \`${target.name}\``,
            didYouMean(target.name, libraryNames) ??
              `stdlib entries: ${[...new Set(libraryNames)].sort().join(', ')}`,
          );
      } else if (byPath.has(target.path)) {
        out.push({ item, to: target.path });
        if (!sites.has(target.path)) sites.set(target.path, { path: file.path, range: item.range });
      } else {
        reporter.report(
          'E_IMPORT',
          file.path,
          item.range,
          reasons.get(target.path) ??
            `cannot import ${target.path}: it is not among the files compiled`,
          `the path is relative to ${file.path}`,
        );
      }
    }
    edges.set(file.path, out);
  }
  reportCycles(files, edges, reporter);
  return sites;
}

/** One diagnostic per cycle, at the import that closes it, naming the whole chain. */
function reportCycles(
  files: readonly SourceFile[],
  edges: ReadonlyMap<string, readonly { item: ImportItem; to: string }[]>,
  reporter: Reporter,
): void {
  const done = new Set<string>();
  const chain: string[] = [];
  const visit = (path: string): void => {
    chain.push(path);
    for (const { item, to } of edges.get(path) ?? []) {
      const start = chain.indexOf(to);
      if (start >= 0) {
        reporter.report(
          'E_IMPORT',
          path,
          item.range,
          `this import closes a cycle: ${[...chain.slice(start), to].join(' → ')}`,
          'files may not import each other in a circle; move what both need into a third file that both import',
        );
      } else if (!done.has(to)) visit(to);
    }
    chain.pop();
    done.add(path);
  };
  for (const file of files) if (!done.has(file.path)) visit(file.path);
}
