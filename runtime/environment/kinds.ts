/**
 * Environment kinds written in code: dynamics the expression language cannot say. A kind is
 * one folder: `index.js` (its code, exporting an `EnvironmentKind`) beside `.mase` files
 * that declare the environments it computes (`kind NAME`, `computed NAME per AXIS`, and
 * benchmarks without a value), with their parameters, action, payoff, observables,
 * policies and metrics in the language. The checker, the round loop, the agents, the
 * metrics, the report and the sweeps see such an environment as any other; only
 * runtime/environment/instance.ts asks the kind for its `computed` values and benchmarks.
 *
 * MASE's own text worlds (runtime/worlds/, declared in stdlib/) are kinds too, always
 * registered. A folder is registered with `--kind FOLDER` (every command), `mase worker --kind FOLDER`
 * for queue workers, or `registerKindFolder` from code. Registering runs the folder's code
 * as MASE's own, as `node FILE` would: MASE never loads code named by a source file, a
 * sweep job or a model answer. docs/architecture.md walks through adding a kind.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SourceText } from '../../compiler/index.js';
import type { IrPolicy, ParamValue } from '../../compiler/ir.js';
import { FILE_EXTENSION } from '../../grammar/language.js';
import type { Random } from '../agents/agent.js';
import { EXIT, MaseUserError } from '../errors.js';
import { randomStream, type Seed } from '../random.js';
import { addLibrarySources, clearAddedLibrary, loadSource } from '../sources.js';
import { BUILTIN_KINDS } from '../worlds/index.js';

/** What a kind is told when an environment of its kind starts a run. */
export interface KindContext {
  /** The environment's name (its declaration may not be the only one of this kind). */
  readonly environment: string;
  /** The agents, in order. */
  readonly agents: readonly string[];
  /** Every parameter's value, defaults and overrides applied. */
  readonly params: ReadonlyMap<string, ParamValue>;
  /** A seeded stream of the run, by name: the same seed and name give the same numbers. */
  random(name: string): Random;
}

/** One number, or one per agent in agent order. */
export type KindValue = number | readonly number[] | Float64Array;

/**
 * A message of the round, as a text world's kind reads it: agents by index (`from` is -1 for
 * a message the world itself sent, `inject`), in the order the talk delivered them.
 */
export interface KindMessage {
  readonly id?: string;
  readonly from: number;
  /** The talk round it was sent in (0: the world's, before the talk). */
  readonly talkRound: number;
  /** The agents it reached. */
  readonly to: readonly number[];
  readonly text: string;
}

/** A message the world sends before the round's talk (an injected instruction, a seed text). */
export interface KindInjection {
  /** The agents it is delivered to, by index. */
  readonly to: readonly number[];
  readonly text: string;
}

/** A round as the kind computes it. */
export interface KindRound {
  /** Each `computed` value the declaration names. */
  readonly values: Readonly<Record<string, KindValue>>;
  /** Handed back to `advance` when this round is the one played (absent: nothing to keep). */
  readonly state?: unknown;
}

/** An environment of the kind, for one run. */
export interface KindInstance {
  /** The action of each benchmark declared without a value, before round 1. */
  readonly benchmarks?: Readonly<Record<string, KindValue>>;
  /**
   * The round's `computed` values from the actions. Pure: best responses and institutions'
   * look-aheads ask for rounds that are never played, so the kind's state changes only in
   * `advance`. `value(name)` reads the round's state variables, draws and `round`.
   */
  round(input: {
    readonly action: Float64Array;
    readonly round: number;
    value(name: string): number | Float64Array | undefined;
    /** The round's messages (its talk, and what the world sent): empty without talk. */
    readonly messages: readonly KindMessage[];
  }): KindRound;
  /** Messages the world sends in `round`, delivered before anyone talks (absent: none). */
  inject?(round: number): readonly KindInjection[];
  /** The round played was the one whose `state` this is. */
  advance?(state: unknown): void;
}

/** A message as a kind's scripted agent receives it. */
export interface KindInboxMessage {
  readonly id?: string;
  /** The sender's name, or `world`. */
  readonly from: string;
  readonly text: string;
}

/** A message a kind's scripted agent sends: to named agents, or to every agent it may write to. */
export interface KindOutgoing {
  readonly text: string;
  readonly to?: readonly string[];
  /** Ids of the messages it answers or was derived from. */
  readonly parents?: readonly string[];
}

/** A scripted agent a kind provides (text worlds' agents talk). */
export interface KindAgent {
  /** What it says in a talk round; `inbox` holds what it received so far this round. */
  talk?(turn: {
    readonly round: number;
    readonly talkRound: number;
    readonly inbox: readonly KindInboxMessage[];
    readonly neighbours: readonly string[];
  }): readonly KindOutgoing[];
  /** Its action this round, after the talk; `inbox` holds every message it received this round. */
  decide(turn: { readonly round: number; readonly inbox: readonly KindInboxMessage[] }): number;
  /**
   * What it holds between rounds, as plain data (numbers, strings, arrays, typed arrays,
   * plain objects, Maps), for a checkpoint; null when it holds nothing (its random stream is
   * the run's and is saved by the run). Absent: runs of this kind resume by replaying rounds.
   */
  save?(): unknown;
  /** Takes back what `save` gave, in an agent freshly made with the same arguments. */
  restore?(state: unknown): void;
}

/** What a kind's scripted agent is built with. */
export interface KindAgentContext {
  readonly environment: string;
  /** Its index in `agents`. */
  readonly agent: number;
  readonly agents: readonly string[];
  readonly params: ReadonlyMap<string, ParamValue>;
  /** The agent's own seeded stream. */
  readonly random: Random;
}

/** A policy a kind provides, named in `--agents` like any other. */
export interface KindPolicy {
  readonly name: string;
  /** Argument names in positional order; each takes a number. */
  readonly arguments: readonly string[];
  readonly summary: string;
  create(args: Readonly<Record<string, number | undefined>>, context: KindAgentContext): KindAgent;
}

export interface EnvironmentKind {
  /** What `kind NAME` names: a name of the language (letters, digits, `_`). */
  readonly name: string;
  /** One line for `--help`-like listings and errors. */
  readonly description?: string;
  /**
   * The talk a run has when neither `--talk` nor the experiment gives one, as the `talk`
   * item's IR (`{ name: 'complete', args: [] }`): a text world's network.
   */
  readonly talk?: IrPolicy;
  /** Scripted policies of the kind's agents, beside the generic ones. */
  readonly policies?: readonly KindPolicy[];
  create(context: KindContext): KindInstance;
}

/** A kind folder or module that cannot be used: exit 2. */
export class KindError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

interface Registered {
  readonly kind: EnvironmentKind;
  /** The folder it came from (absolute), when it came from one. */
  readonly folder?: string;
  /** sha256 (hex) of the folder's index.js as it was loaded. */
  readonly sha256?: string;
  readonly sources: readonly SourceText[];
}

const registry = new Map<string, Registered>();

/** The kinds MASE itself provides (the text worlds of the stdlib), always registered. */
const builtins = new Map<string, EnvironmentKind>(BUILTIN_KINDS.map((k) => [k.name, k]));

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Registers a kind; the same name twice is refused unless it is the same folder again. */
export function registerEnvironmentKind(
  kind: EnvironmentKind,
  sources: readonly SourceText[] = [],
  folder?: string,
  sha256?: string,
): void {
  const where = folder ?? 'code';
  if (typeof kind?.name !== 'string' || !NAME.test(kind.name) || typeof kind.create !== 'function')
    throw new KindError(
      `${where} does not give an environment kind: it needs \`export default { name: 'NAME', create(context) { … } }\` (docs/architecture.md)`,
    );
  if (builtins.has(kind.name))
    throw new KindError(
      `${where} gives the environment kind \`${kind.name}\`, which is one of MASE's own; choose another name`,
    );
  const previous = registry.get(kind.name);
  if (previous) {
    if (folder !== undefined && previous.folder === folder) return;
    throw new KindError(
      `the environment kind \`${kind.name}\` is registered twice (${previous.folder ?? 'from code'} and ${where})`,
    );
  }
  registry.set(kind.name, {
    kind,
    sources,
    ...(folder !== undefined ? { folder } : {}),
    ...(sha256 !== undefined ? { sha256 } : {}),
  });
  addLibrarySources(sources);
}

/** Forgets every registered kind (tests). */
export function clearEnvironmentKinds(): void {
  registry.clear();
  clearAddedLibrary();
}

/**
 * Registers the kind in FOLDER: imports `FOLDER/index.js` (its default export) and reads the
 * folder's `.mase` files into the library every command compiles with.
 */
export async function registerKindFolder(folder: string): Promise<EnvironmentKind> {
  const dir = resolve(folder);
  const stats = statSync(dir, { throwIfNoEntry: false });
  if (!stats) throw new KindError(`--kind ${folder}: no such folder`);
  if (!stats.isDirectory())
    throw new KindError(`--kind ${folder}: not a folder (a kind is a folder holding index.js)`);
  const main = join(dir, 'index.js');
  if (!statSync(main, { throwIfNoEntry: false })?.isFile())
    throw new KindError(`--kind ${folder}: the folder has no index.js (the kind's code)`);
  const existing = [...registry.values()].find((r) => r.folder === dir);
  if (existing) return existing.kind;
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(main).href)) as { default?: unknown };
  } catch (error) {
    throw new KindError(
      `--kind ${folder}: index.js cannot be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const sources = readdirSync(dir)
    .filter((f) => f.endsWith(FILE_EXTENSION))
    .sort()
    .map((f) => loadSource(join(dir, f)));
  const sha256 = createHash('sha256').update(readFileSync(main)).digest('hex');
  registerEnvironmentKind(module.default as EnvironmentKind, sources, dir, sha256);
  return module.default as EnvironmentKind;
}

/** The kind `kind NAME` names, if it is registered. */
export function environmentKind(name: string): EnvironmentKind | undefined {
  return registry.get(name)?.kind ?? builtins.get(name);
}

/**
 * What a run's manifest records of the code that computed it: the kind, its folder (relative
 * to the working directory when below it) and the sha256 of its index.js.
 */
export function kindProvenance(name: string): {
  name: string;
  folder: string | null;
  sha256: string | null;
} {
  const r = registry.get(name);
  const shown = r?.folder ? relative(process.cwd(), r.folder) : undefined;
  return {
    name,
    folder: r?.folder ? (shown && !shown.startsWith('..') ? shown : r.folder) : null,
    sha256: r?.sha256 ?? null,
  };
}

/** Whether NAME is one of MASE's own kinds (a stdlib text world), registered without a folder. */
export function isBuiltinKind(name: string): boolean {
  return builtins.has(name) && !registry.has(name);
}

/** Every registered kind's name. */
export function environmentKindNames(): string[] {
  return [...builtins.keys(), ...registry.keys()].sort();
}

/** Every kind's scripted policies, by kind name (the checker resolves policy names with them). */
export function kindPolicies(): Record<string, readonly KindPolicy[]> {
  const all: Record<string, readonly KindPolicy[]> = {};
  for (const name of environmentKindNames()) all[name] = environmentKind(name)?.policies ?? [];
  return all;
}

/** The folders kinds were registered from: sweep threads register the same ones. */
export function kindFolders(): string[] {
  return [...registry.values()].flatMap((r) => (r.folder ? [r.folder] : []));
}

/** Registers every folder in order (a thread or a worker starting with the coordinator's kinds). */
export async function registerKindFolders(folders: readonly string[]): Promise<void> {
  for (const folder of folders) await registerKindFolder(folder);
}

/** The context a kind's `create` receives: streams are `kind:NAME:STREAM` of the run's seed. */
export function kindContext(
  kind: string,
  environment: string,
  agents: readonly string[],
  params: ReadonlyMap<string, ParamValue>,
  seed: Seed,
): KindContext {
  return {
    environment,
    agents,
    params,
    random: (name) => randomStream(seed, `kind:${kind}:${name}`),
  };
}
