// Phase 2's symbol table: every declaration by kind and name, user files first, the
// library filling the gaps; and the checked worlds experiments run in.
import type {
  Declaration,
  EnvironmentDecl,
  ExperimentDecl,
  InstitutionDecl,
  InterventionDecl,
  MarketDecl,
  Range,
  SourceFile,
  SweepDecl,
} from '../../grammar/ast.js';
import type { IrWorld } from '../ir.js';
import type { Reporter } from './common.js';
import type { ImportSite } from './imports.js';

export interface Declared<D extends Declaration> {
  readonly decl: D;
  readonly path: string;
}

/** All declarations by kind and name, user files first; stdlib entries fill the gaps. */
export interface SymbolTable {
  readonly markets: ReadonlyMap<string, Declared<MarketDecl>>;
  readonly environments: ReadonlyMap<string, Declared<EnvironmentDecl>>;
  readonly institutions: ReadonlyMap<string, Declared<InstitutionDecl>>;
  readonly experiments: ReadonlyMap<string, Declared<ExperimentDecl>>;
  readonly sweeps: ReadonlyMap<string, Declared<SweepDecl>>;
  readonly interventions: ReadonlyMap<string, Declared<InterventionDecl>>;
}

export function buildSymbols(
  files: readonly SourceFile[],
  library: readonly SourceFile[],
  reporter: Reporter,
  importSites: ReadonlyMap<string, ImportSite> = new Map(),
): SymbolTable {
  const markets = new Map<string, Declared<MarketDecl>>();
  const environments = new Map<string, Declared<EnvironmentDecl>>();
  const institutions = new Map<string, Declared<InstitutionDecl>>();
  const experiments = new Map<string, Declared<ExperimentDecl>>();
  const sweeps = new Map<string, Declared<SweepDecl>>();
  const interventions = new Map<string, Declared<InterventionDecl>>();
  const tables = {
    market: markets,
    environment: environments,
    institution: institutions,
    experiment: experiments,
    sweep: sweeps,
    intervention: interventions,
  };
  const firstSeen = new Map<string, { path: string; range: Range }>();
  const add = (file: SourceFile, decl: Declaration, fromLibrary: boolean) => {
    const table = tables[decl.kind] as Map<string, Declared<Declaration>>;
    // Markets and environments are both worlds an experiment runs in: one name, one world.
    const key = `${decl.kind === 'environment' ? 'market' : decl.kind}:${decl.name.name}`;
    const previous = firstSeen.get(key);
    if (previous) {
      const site = previous.path === file.path ? undefined : importSites.get(file.path);
      if (!fromLibrary && site) {
        // Two files of one program: said at the import that brought the second one in.
        const at = (p: string, r: Range) => `${p}:${r.start.line}:${r.start.column}`;
        reporter.report(
          'E_DUPLICATE',
          site.path,
          site.range,
          `${decl.kind} \`${decl.name.name}\` is declared in two files: at ${at(previous.path, previous.range)} and at ${at(file.path, decl.name.range)}`,
          'rename one of them, or keep one and delete the other',
        );
      } else if (!fromLibrary) {
        reporter.report(
          'E_DUPLICATE',
          file.path,
          decl.name.range,
          `${decl.kind} \`${decl.name.name}\` is declared twice (first${decl.kind === 'environment' || decl.kind === 'market' ? ' as a world' : ''} at ${previous.path}:${previous.range.start.line}:${previous.range.start.column})`,
          'rename one of them',
        );
      }
      return;
    }
    firstSeen.set(key, { path: file.path, range: decl.name.range });
    table.set(decl.name.name, { decl, path: file.path });
  };
  for (const file of files) for (const decl of file.declarations) add(file, decl, false);
  for (const file of library) for (const decl of file.declarations) add(file, decl, true);
  return { markets, environments, institutions, experiments, sweeps, interventions };
}

/** Markets and environments by name, once checked: the worlds experiments run in. */
export type Worlds = ReadonlyMap<string, IrWorld>;
