// What an `import` names, worked out from text alone: the runtime's loader reads the files,
// the checker reports on the items, and both resolve a spec here so they agree on every path.
import { FILE_EXTENSION } from './language.js';

export const STDLIB_PREFIX = 'stdlib:';

/** Where an import leads: a file (its path as the importing file's path names it), a stdlib entry, or nowhere. */
export type ImportTarget =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stdlib'; readonly name: string }
  | { readonly kind: 'refused'; readonly message: string; readonly hint: string };

/**
 * The target of `import "SPEC"` written in the file at `from`. A file path is relative to
 * the importing file and joined to its path with `/`, so the loader and the checker name
 * an imported file alike (and a sweep's sources, moved as a folder, still find each other).
 */
export function importTarget(from: string, spec: string): ImportTarget {
  if (spec.startsWith(STDLIB_PREFIX)) {
    const name = spec.slice(STDLIB_PREFIX.length);
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return { kind: 'stdlib', name };
    return {
      kind: 'refused',
      message: `\`${spec}\` names no stdlib entry: after \`stdlib:\` comes a declaration's name`,
      hint: 'write `import "stdlib:NAME"`, e.g. `import "stdlib:governance_graph"`',
    };
  }
  if (spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec) || spec.includes('\\')) {
    return {
      kind: 'refused',
      message: `\`${spec}\` is not a relative path with \`/\` between its folders`,
      hint: 'write the path relative to this file, with `/`: `import "institutions/fines.mase"`',
    };
  }
  if (spec.endsWith('/') || !spec.endsWith(FILE_EXTENSION)) {
    return {
      kind: 'refused',
      message: `\`${spec}\` is not a MASE source: an import names a \`${FILE_EXTENSION}\` file or a \`stdlib:NAME\``,
      hint: spec.endsWith('/')
        ? 'import the files of the folder one by one'
        : /\.[A-Za-z0-9]+$/.test(spec)
          ? `only MASE sources can be imported, and their names end in \`${FILE_EXTENSION}\``
          : `name the file with its extension: \`import "${spec}${FILE_EXTENSION}"\``,
    };
  }
  return { kind: 'file', path: joinPath(directoryOf(from), spec) };
}

function directoryOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash + 1);
}

/** `dir/` + `relative`, with `.` and `..` segments folded (a leading `..` stays). */
function joinPath(directory: string, relative: string): string {
  const absolute = directory.startsWith('/');
  const out: string[] = [];
  for (const segment of `${directory}${relative}`.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (segment === '..' && absolute) continue;
    else out.push(segment);
  }
  return `${absolute ? '/' : ''}${out.join('/')}`;
}
