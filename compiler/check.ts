import type { SourceFile } from '../grammar/ast.js';
import type { Diagnostic, PhaseResult } from '../grammar/diagnostics.js';
import { Reporter } from './check/common.js';

export { literalValue, valueFits } from './check/common.js';

import { checkEnvironment } from './check/environment.js';
import { checkExperiment } from './check/experiment.js';
import { checkImports, type UnreadableImport } from './check/imports.js';
import { checkInstitution, standaloneContext } from './check/institution.js';
import { checkIntervention } from './check/intervention.js';
import { checkMarket } from './check/market.js';
import { institutionPairings, pairedContext } from './check/pairings.js';
import type { RuntimePolicies } from './check/policies.js';
import { checkSweep } from './check/sweep.js';
import { buildSymbols } from './check/symbols.js';
import type {
  IrEnvironment,
  IrExperiment,
  IrInstitution,
  IrIntervention,
  IrMarket,
  IrProgram,
  IrSweep,
  IrWorld,
} from './ir.js';

export type { ImportSite, UnreadableImport } from './check/imports.js';
export { checkInstitution } from './check/institution.js';
export type { MarketContext } from './check/market.js';
export type { RuntimePolicies, RuntimePolicy } from './check/policies.js';
export type { Worlds } from './check/symbols.js';
export { buildSymbols, type Declared, type SymbolTable } from './check/symbols.js';

export interface CheckOptions {
  /** Check the library's institutions too and include its declarations in the program. */
  readonly includeLibrary?: boolean;
  /** The runtime's generic policies: given, every policy an experiment or sweep names is resolved. */
  readonly policies?: RuntimePolicies;
  /** Imported files the loader could not read: reported at the imports naming them. */
  readonly unreadable?: readonly UnreadableImport[];
}

/**
 * Phase 2: resolve and check every declaration of the user's files (the library's
 * declarations are in scope and checked only as far as the user's files use them).
 */
export function checkProgram(
  files: readonly SourceFile[],
  library: readonly SourceFile[] = [],
  options: CheckOptions = {},
): PhaseResult<IrProgram> {
  const reporter = new Reporter();
  const importSites = checkImports(files, library, options.unreadable ?? [], reporter);
  const symbols = buildSymbols(files, library, reporter, importSites);
  const userPaths = new Set(files.map((f) => f.path));
  const markets = new Map<string, IrWorld>();
  const institutions: IrInstitution[] = [];
  const experiments: IrExperiment[] = [];
  const silent = new Reporter();
  for (const [name, { decl, path }] of symbols.markets) {
    const target = userPaths.has(path) ? reporter : silent;
    const ir = alone(target, (r) => checkMarket(decl, path, r));
    if (ir) markets.set(name, ir);
  }
  for (const [name, { decl, path }] of symbols.environments) {
    const target = userPaths.has(path) ? reporter : silent;
    const ir = alone(target, (r) => checkEnvironment(decl, path, r));
    if (ir) markets.set(name, ir);
  }
  // Every experiment of the user's files, by name: a sweep may vary only these.
  const userExperiments = new Map<string, IrExperiment | undefined>();
  for (const { decl, path } of symbols.experiments.values()) {
    if (!userPaths.has(path)) continue;
    const ir = alone(reporter, (r) =>
      checkExperiment(decl, path, symbols, markets, r, options.policies),
    );
    userExperiments.set(decl.name.name, ir);
    if (ir) experiments.push(ir);
  }
  const sweeps: IrSweep[] = [];
  for (const { decl, path } of symbols.sweeps.values()) {
    if (!userPaths.has(path)) continue;
    const ir = alone(reporter, (r) =>
      checkSweep(decl, path, userExperiments, symbols, markets, r, options.policies),
    );
    if (ir) sweeps.push(ir);
  }
  // Institutions last: one the user's experiments or sweeps pair with worlds is checked
  // against them, so the names of their agents and products can be its indices.
  const pairings = institutionPairings(experiments, sweeps, markets);
  for (const { decl, path } of symbols.institutions.values()) {
    if (!userPaths.has(path) && !options.includeLibrary) continue;
    const paired = userPaths.has(path)
      ? pairedContext(pairings.get(decl.name.name) ?? [])
      : undefined;
    const ir = alone(userPaths.has(path) ? reporter : silent, (r) =>
      checkInstitution(decl, path, paired ?? standaloneContext(decl, path, markets), r),
    );
    if (ir) institutions.push(ir);
  }
  const interventions: IrIntervention[] = [];
  for (const { decl, path } of symbols.interventions.values()) {
    if (!userPaths.has(path)) continue;
    const ir = alone(reporter, (r) => checkIntervention(decl, path, symbols, markets, r));
    if (ir) interventions.push(ir);
  }
  return {
    value: {
      // The library's declarations are included when a runner needs what experiments name.
      markets: [...markets.values()].filter(
        (m): m is IrMarket =>
          m.kind === 'market' && (options.includeLibrary === true || userPaths.has(m.path)),
      ),
      environments: [...markets.values()].filter(
        (m): m is IrEnvironment =>
          m.kind === 'environment' && (options.includeLibrary === true || userPaths.has(m.path)),
      ),
      institutions,
      experiments,
      sweeps,
      interventions,
    },
    diagnostics: dedupe(reporter.diagnostics),
  };
}

/**
 * Checks one declaration. When it has errors its warnings are dropped: what looks unused or
 * unreachable in a declaration with errors mostly echoes them (W_UNUSED, the graph lints).
 */
function alone<T>(target: Reporter, check: (reporter: Reporter) => T): T {
  const own = new Reporter();
  const value = check(own);
  const failed = own.diagnostics.some((d) => d.severity === 'error');
  target.diagnostics.push(...own.diagnostics.filter((d) => !failed || d.severity === 'error'));
  return value;
}

function dedupe(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const key = `${d.path}:${d.range.start.offset}:${d.code}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export { Reporter };
