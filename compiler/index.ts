import type { Range, SourceFile } from '../grammar/ast.js';
import { type Diagnostic, diagnostic, hasErrors } from '../grammar/diagnostics.js';
import { parse } from '../grammar/index.js';
import { type CheckOptions, checkProgram } from './check.js';
import type { IrProgram } from './ir.js';
import { sortDiagnostics } from './render-diagnostics.js';

export interface SourceText {
  readonly path: string;
  readonly text: string;
  /** sha256 (hex) of the bytes the text was read from, when it was read from a file. */
  readonly sha256?: string;
  /** The paths of the files it imports, when a loader followed them (runtime/sources.ts). */
  readonly imports?: readonly string[];
}

export interface Compilation {
  readonly files: readonly SourceFile[];
  readonly program: IrProgram;
  readonly diagnostics: readonly Diagnostic[];
  readonly ok: boolean;
}

/**
 * The front of the pipeline: parse every source, then resolve and check them together
 * with the library (the stdlib) in scope. Pure: text in, values out. A failure inside
 * MASE becomes one E_INTERNAL diagnostic instead of an exception.
 */
export function compileSources(
  sources: readonly SourceText[],
  library: readonly SourceText[] = [],
  options: CheckOptions = {},
): Compilation {
  try {
    const parsed = sources.map((s) => parse(s.path, s.text));
    const userPaths = new Set(sources.map((s) => s.path));
    const libraryFiles = library
      .filter((l) => !userPaths.has(l.path))
      .map((l) => parse(l.path, l.text).value);
    const files = parsed.map((p) => p.value);
    const checked = checkProgram(files, libraryFiles, options);
    const parseDiagnostics = parsed.flatMap((p) => p.diagnostics);
    // A refused name is reported once; what the checker then says about it adds nothing.
    const refused = new Set(
      parseDiagnostics
        .filter((d) => d.code === 'E_RESERVED_NAME')
        .map((d) => `${d.path}:${d.range.start.offset}`),
    );
    const broken = brokenDeclarations(parsed);
    const diagnostics = sortDiagnostics([
      ...parseDiagnostics,
      ...checked.diagnostics.filter(
        (d) =>
          !refused.has(`${d.path}:${d.range.start.offset}`) &&
          !(d.severity === 'warning' && broken.some((b) => within(d, b))),
      ),
    ]);
    return { files, program: checked.value, diagnostics, ok: !hasErrors(diagnostics) };
  } catch (error) {
    const where = sources[0]?.path ?? '<input>';
    const origin = { line: 1, column: 1, offset: 0 };
    const message = error instanceof Error ? error.message : String(error);
    return {
      files: [],
      program: {
        markets: [],
        environments: [],
        institutions: [],
        experiments: [],
        sweeps: [],
        interventions: [],
      },
      diagnostics: [
        diagnostic(
          'E_INTERNAL',
          where,
          { start: origin, end: origin },
          `internal compiler error: ${message}`,
          'this is a bug in MASE, not in your source; please report it with the file',
        ),
      ],
      ok: false,
    };
  }
}

/**
 * Where a declaration has syntax errors, recovery dropped part of it: what looks unused or
 * unreachable may be used by the dropped text, so its warnings (W_UNUSED, the graph lints)
 * would only distract from the error. The checker skips them for its own errors the same way.
 */
function brokenDeclarations(
  parsed: readonly { readonly value: SourceFile; readonly diagnostics: readonly Diagnostic[] }[],
): { readonly path: string; readonly range: Range }[] {
  return parsed.flatMap(({ value, diagnostics }) => {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    return value.declarations
      .filter((decl) => errors.some((e) => within(e, decl)))
      .map((decl) => ({ path: value.path, range: decl.range }));
  });
}

const within = (
  d: { readonly path: string; readonly range: Range },
  outer: { readonly path?: string; readonly range: Range },
) =>
  (outer.path === undefined || d.path === outer.path) &&
  d.range.start.offset >= outer.range.start.offset &&
  d.range.start.offset <= outer.range.end.offset;

// The compiler's public API, beside compileSources: the IR, diagnostics, the backends that
// turn checked IR into artifacts, and the evaluation of IR expressions that the runtime uses.
export { dotText, environmentDot, institutionDot, marketDot } from './backends/dot.js';
export { environmentRules } from './backends/environment-rules.js';
export { formatSource } from './backends/format.js';
export { manifestText } from './backends/manifest.js';
export { formatParamValue, policyText, renderExpr } from './backends/render-expr.js';
export {
  createInstitutionMachine,
  type InstitutionContext,
  type InstitutionEvent,
  type InstitutionMachine,
  type MachineConfigJson,
  machineConfig,
  machineModule,
  type QuietEvent,
  type RoundEvent,
} from './backends/xstate.js';
export {
  type CheckOptions,
  checkProgram,
  type RuntimePolicies,
  type UnreadableImport,
} from './check.js';
export {
  type CompiledExpression,
  type CompiledPerFirm,
  type CompiledScalar,
  type CompileOptions,
  compileExpression,
  compilePerFirm,
  compileScalar,
  type EvaluationEnvironment,
  paramTensor,
} from './evaluate.js';
export { agentNames, firmNames, paramValues } from './instantiate.js';
export * from './ir.js';
export { type NativeFunction, natives } from './natives.js';
export { benchmarkValuesFor, observableMeanings, observablesFor } from './observables.js';
export {
  diagnosticsJson,
  renderDiagnostic,
  renderDiagnostics,
  sortDiagnostics,
  summary,
} from './render-diagnostics.js';
export {
  type Dimensions,
  gini,
  scalarTensor,
  secondMax,
  select,
  sizeOf,
  sumBefore,
  type Tensor,
  tensorFrom,
  toPlain,
  truthy,
} from './tensor.js';
export { chrf, chrfAgainst } from './text.js';
