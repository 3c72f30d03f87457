import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { valueFits } from '../../compiler/check.js';
import type { IrInstitution, IrPolicy, ParamValue } from '../../compiler/ir.js';
import { overrideProblems } from '../../compiler/param-values.js';
import { PolicyError } from '../agents/policy.js';
import { EnvironmentError, instantiateEnvironment } from '../environment/instance.js';
import { MaseUserError, UsageProblem } from '../errors.js';
import { claimDirectory, writeFileAtomic } from '../files.js';
import { instantiateMarket } from '../market/instance.js';
import { randomStream } from '../random.js';
import { sameEvent } from '../run/checkpoint.js';
import {
  checkPolicies,
  type ForkIntervention,
  forkInstitution,
  forkIntervention,
  llmOptions,
  policyParser,
} from '../run/cli-run.js';
import { experimentFromRun, ReplayError, recordedLlm, roundsInTrace } from '../run/replay.js';
import { parseParam, ResolveError } from '../run/resolve.js';
import {
  type Intervention,
  interventionLabel,
  type ResolvedExperiment,
  type RunLlmOptions,
} from '../run/run.js';
import type { Interruption } from '../run/signals.js';
import { traceShortfall } from '../run/trace-level.js';
import { loadProgram } from '../sources.js';
import { talkSettings } from '../talk/topology.js';
import { replaceNonFinite, reviveInfinity, TracePrefix } from '../trace/writer.js';
import { executeRun, localWorkerName, writeRecord } from './execute.js';
import { replicateSeed, type SweepRun } from './plan.js';
import type { RunRecord } from './record.js';
import { bootstrapPaired } from './stats.js';
import { buildResultsStore, type StoreWorld } from './store.js';
import { readRecords } from './sweep.js';

/**
 * `mase fork RUN --at R --out NEW` (docs/checkpoints.md): the run in RUN continued from
 * round R + 1, with and without an intervention, in K replicates each. Every fork makes
 * rounds 1..R again (model answers from the cache), checked against RUN's trace, so it
 * starts from RUN's state after round R; replicate 1 keeps RUN's random streams, replicate
 * k > 1 continues them from a seed of its own, the same in both arms (the pairs of
 * `mase analyze`). NEW is laid out as a sweep directory with one factor, `intervention`.
 */

/** A fork that cannot be made (a bad flag, a run that cannot be forked there): exit 2. */
export class ForkError extends UsageProblem {
  override name = 'ForkError';
}

export interface ForkRequest {
  /** The last round kept as it was. */
  readonly at: number;
  readonly out: string;
  readonly replicates: number;
  /** The seed replicates 2..K derive their streams from (default: the run's seed). */
  readonly seed?: number;
  /** `--agents`: policies that replace the agents' from R + 1. */
  readonly agents?: string;
  readonly dropMessages: readonly string[];
  /** `--replace-message ID:TEXT`: the message is TEXT instead. */
  readonly replaceMessages?: readonly string[];
  /** `FROM->TO:TEXT` (FROM an agent or `world`, TO agents separated by commas, or `*`). */
  readonly injectMessages: readonly string[];
  /** `--reset-memory`: agents built again from their own policies. */
  readonly resetAgents?: readonly string[];
  /** `--mute-edge`: `a-b` (both ways) or `a>b` (one way). */
  readonly muteEdges?: readonly string[];
  /** `--benchmark-action AGENT@ROUND`: the agent plays the benchmark in that round. */
  readonly benchmarkActions?: readonly string[];
  /** `--pardon AGENT@ROUND`: the institution disregards the evidence against the agent then. */
  readonly pardons?: readonly string[];
  /** `--param NAME=VALUE`: a parameter of the world or the institution takes VALUE from R + 1. */
  readonly params?: readonly string[];
  /** `--institution FILE|stdlib:NAME|none`: the institution governing from R + 1. */
  readonly institution?: string;
  /** `--intervention FILE[:NAME]`: declared interventions, an arm each. */
  readonly interventions?: readonly string[];
}

export interface ForkOutcome {
  readonly label: string;
  readonly records: readonly RunRecord[];
}

/**
 * One arm of a fork: its runs are `runs/NAME-rK`, its level of the `intervention` factor is
 * LABEL. `intervention` is the arm of the flags; a declared intervention's arm has its name.
 */
export interface ForkArm {
  readonly name: string;
  readonly label: string;
  /** A declared intervention's title. */
  readonly title?: string;
  readonly interventions: readonly Intervention[];
}

/** What `NEW/fork.json` holds: where the forks come from and what each arm changes. */
export interface ForkFile {
  readonly schema: 2;
  readonly parent: { readonly dir: string; readonly run_id: string };
  readonly at: number;
  readonly replicates: number;
  readonly seeds: readonly (number | null)[];
  /** The arms besides `none` (the run continued), in order. */
  readonly arms: readonly ForkArm[];
}

export const FORK_FILE = 'fork.json';

/**
 * `DIR/fork.json`. One written before forks had several arms (schema 1: `intervention`
 * and `interventions`, the one arm `intervention`) is read as the arms it describes.
 */
export function readForkFile(dir: string): ForkFile {
  const file = JSON.parse(readFileSync(join(dir, FORK_FILE), 'utf8'), reviveInfinity) as Omit<
    ForkFile,
    'schema' | 'arms'
  > & {
    schema: 1 | 2;
    arms?: ForkArm[];
    intervention?: string;
    interventions?: Intervention[];
  };
  if (file.arms) return { ...file, schema: 2, arms: file.arms };
  const one = file.interventions ?? [];
  return {
    ...file,
    schema: 2,
    arms:
      one.length > 0
        ? [{ name: 'intervention', label: file.intervention ?? 'intervention', interventions: one }]
        : [],
  };
}

const MESSAGE_ID = /^m(\d+)\.(\d+)\.(\d+)$/;

/** Whether RUN's trace holds a `message` event with this id. */
function traceHoldsMessage(trace: string, id: string): boolean {
  const reader = new TracePrefix(trace);
  const needle = `"id":${JSON.stringify(id)}`;
  try {
    for (let line = reader.next(); line !== undefined; line = reader.next())
      if (line.startsWith('{"type":"message",') && line.includes(needle)) return true;
    return false;
  } finally {
    reader.close();
  }
}

/**
 * What one arm of a fork changes, before it is checked against the run: read from the
 * flags or from an `intervention` declaration. `where` names each kind of change in
 * messages as it was asked for (`--drop-message`, `intervention silence: drop message`).
 */
interface ArmChanges {
  readonly where: Readonly<
    Record<
      | 'agents'
      | 'drop'
      | 'replace'
      | 'benchmark'
      | 'reset'
      | 'mute'
      | 'inject'
      | 'pardon'
      | 'param',
      string
    >
  >;
  readonly agents?: {
    readonly all?: IrPolicy;
    readonly perFirm: Readonly<Record<string, IrPolicy>>;
  };
  readonly drop: readonly string[];
  /** Messages delivered with other words. */
  readonly replace: readonly { readonly id: string; readonly text: string }[];
  readonly benchmark: readonly {
    readonly spec: string;
    readonly agent: string;
    readonly round: number;
  }[];
  readonly reset: readonly string[];
  readonly pardon: readonly {
    readonly spec: string;
    readonly agent: string;
    readonly round: number;
  }[];
  readonly mute: readonly {
    readonly spec: string;
    readonly from: string;
    readonly to: string;
    readonly both: boolean;
  }[];
  readonly inject: readonly {
    readonly from: string;
    /** Absent: every agent. */
    readonly to?: readonly string[];
    readonly text: string;
  }[];
  readonly institution?: {
    readonly institution: IrInstitution;
    readonly overrides: Readonly<Record<string, ParamValue>>;
  };
  /** Parameters given new values (`--param NAME=VALUE`, `param NAME = VALUE`). */
  readonly params: readonly { readonly name: string; readonly value: ParamValue }[];
}

/** The flags' changes, read (a flag that does not parse is an error naming it). */
async function flagChanges(
  request: ForkRequest,
  experiment: ResolvedExperiment,
): Promise<ArmChanges> {
  const dropped = request.dropMessages.map((id) => {
    if (!MESSAGE_ID.test(id))
      throw new ForkError(
        `--drop-message takes a message id as the trace names it (m<round>.<talk round>.<k>, e.g. m3.1.2), not \`${id}\``,
      );
    return id;
  });
  const replaced = (request.replaceMessages ?? []).map((spec) => {
    const match = /^\s*([^\s:]+)\s*:([\s\S]*)$/.exec(spec);
    if (!match || !MESSAGE_ID.test(match[1] as string))
      throw new ForkError(
        `--replace-message takes ID:TEXT, the message's id as the trace names it (m<round>.<talk round>.<k>) and the words it is instead, not \`${spec}\``,
      );
    return { id: match[1] as string, text: match[2] as string };
  });
  const agentAt = (flag: string) => (spec: string) => {
    const match = /^\s*([^\s@]+)\s*@\s*(\d+)\s*$/.exec(spec);
    if (!match) throw new ForkError(`${flag} takes AGENT@ROUND (e.g. f1@12), not \`${spec}\``);
    return { spec, agent: match[1] as string, round: Number(match[2]) };
  };
  const benchmark = (request.benchmarkActions ?? []).map(agentAt('--benchmark-action'));
  const pardon = (request.pardons ?? []).map(agentAt('--pardon'));
  const mute = (request.muteEdges ?? []).map((spec) => {
    const match = /^\s*([^\s>-]+)\s*([->])\s*([^\s>-]+)\s*$/.exec(spec);
    if (!match)
      throw new ForkError(`--mute-edge takes A-B (both ways) or A>B (one way), not \`${spec}\``);
    return { spec, from: match[1] as string, to: match[3] as string, both: match[2] === '-' };
  });
  const inject = request.injectMessages.map((spec) => {
    const match = /^([^\s>-][^>]*?)->([^:]+):([\s\S]+)$/.exec(spec);
    if (!match)
      throw new ForkError(
        `--inject-message takes FROM->TO:TEXT (FROM an agent or world, TO agents separated by commas or *), not \`${spec}\``,
      );
    const to = (match[2] as string).trim();
    return {
      from: (match[1] as string).trim(),
      ...(to === '*' ? {} : { to: to.split(',').map((a) => a.trim()) }),
      text: match[3] as string,
    };
  });
  return {
    where: {
      agents: '--agents',
      drop: '--drop-message',
      replace: '--replace-message',
      benchmark: '--benchmark-action',
      reset: '--reset-memory',
      mute: '--mute-edge',
      inject: '--inject-message',
      pardon: '--pardon',
      param: '--param',
    },
    ...(request.agents !== undefined ? { agents: policyParser(request.agents) } : {}),
    params: (request.params ?? []).map((text) => {
      try {
        return parseParam(text);
      } catch (error) {
        if (error instanceof ResolveError) throw new ForkError(error.message);
        throw error;
      }
    }),
    drop: dropped,
    replace: replaced,
    benchmark,
    reset: request.resetAgents ?? [],
    pardon,
    mute,
    inject,
    ...(request.institution !== undefined
      ? {
          institution: {
            institution: await forkInstitution(request.institution, experiment, loadProgram),
            overrides: {},
          },
        }
      : {}),
  };
}

/** An `intervention` declaration's changes (checked by the compiler as far as it can). */
function declaredChanges(declared: ForkIntervention): ArmChanges {
  const { intervention, institution } = declared;
  const at = (what: string) => `intervention ${intervention.name}: ${what}`;
  const changes = intervention.changes;
  const agents = changes.find((c) => c.kind === 'agents');
  const switched = changes.find((c) => c.kind === 'institution');
  return {
    where: {
      agents: at('agents'),
      drop: at('drop message'),
      replace: at('replace message'),
      benchmark: at('benchmark action'),
      reset: at('reset memory'),
      mute: at('mute'),
      inject: at('inject message'),
      pardon: at('pardon'),
      param: at('param'),
    },
    ...(agents
      ? { agents: { ...(agents.all ? { all: agents.all } : {}), perFirm: agents.perFirm } }
      : {}),
    params: changes.flatMap((c) => (c.kind === 'param' ? [{ name: c.name, value: c.value }] : [])),
    drop: changes.flatMap((c) => (c.kind === 'drop_message' ? [c.id] : [])),
    replace: changes.flatMap((c) =>
      c.kind === 'replace_message' ? [{ id: c.id, text: c.text }] : [],
    ),
    benchmark: changes.flatMap((c) =>
      c.kind === 'benchmark_action'
        ? [{ spec: `${c.agent} round ${c.round}`, agent: c.agent, round: c.round }]
        : [],
    ),
    reset: changes.flatMap((c) => (c.kind === 'reset' ? c.agents : [])),
    pardon: changes.flatMap((c) =>
      c.kind === 'pardon'
        ? [{ spec: `${c.agent} round ${c.round}`, agent: c.agent, round: c.round }]
        : [],
    ),
    mute: changes.flatMap((c) =>
      c.kind === 'mute'
        ? [
            {
              spec: `${c.from} ${c.both ? '-' : '->'} ${c.to}`,
              from: c.from,
              to: c.to,
              both: c.both,
            },
          ]
        : [],
    ),
    inject: changes.flatMap((c) =>
      c.kind === 'inject_message'
        ? [{ from: c.from, ...(c.to ? { to: c.to } : {}), text: c.text }]
        : [],
    ),
    ...(switched && institution
      ? { institution: { institution, overrides: switched.overrides } }
      : {}),
  };
}

/** One arm's changes checked against the run: the interventions it makes. */
async function checkedInterventions(
  arm: ArmChanges,
  at: number,
  experiment: ResolvedExperiment,
  agents: readonly string[],
  trace: string,
  llm: RunLlmOptions,
): Promise<Intervention[]> {
  const { where } = arm;
  const changes: Intervention[] = [];
  const known = new Set(agents);
  const agentList = () => agents.slice(0, 12).join(', ') + (agents.length > 12 ? ', …' : '');
  if (arm.agents) {
    const policies: Record<string, IrPolicy> = {};
    const { all, perFirm } = arm.agents;
    for (const agent of agents) if (all) policies[agent] = all;
    for (const [agent, policy] of Object.entries(perFirm)) {
      if (!known.has(agent))
        throw new ForkError(
          `${where.agents} names ${agent}, which is not an agent of the run (${agentList()})`,
        );
      policies[agent] = policy;
    }
    await checkPolicies(experiment, policies, llm);
    changes.push({ kind: 'agents', policies });
  }
  /** A message of the run's trace sent in a round the fork plays, or an error naming FLAG. */
  const messageInFork = (flag: string, id: string, verb: string) => {
    const round = Number(MESSAGE_ID.exec(id)?.[1]);
    if (round <= at)
      throw new ForkError(
        `${flag} ${id}: that message was sent in round ${round}, which the fork keeps as it was (--at ${at}); fork at ${round - 1} or earlier to ${verb} it`,
      );
    if (!traceHoldsMessage(trace, id))
      throw new ForkError(`${flag} ${id}: the run's trace holds no message ${id}`);
  };
  for (const id of arm.drop) {
    messageInFork(where.drop, id, 'drop');
    changes.push({ kind: 'drop_message', id });
  }
  const replacedIds = new Set<string>();
  for (const { id, text } of arm.replace) {
    messageInFork(where.replace, id, 'replace');
    if (arm.drop.includes(id) || replacedIds.has(id))
      throw new ForkError(
        `${where.replace} ${id}: that message is already ${arm.drop.includes(id) ? 'dropped' : 'replaced'}; a fork drops a message or replaces it, once`,
      );
    replacedIds.add(id);
    changes.push({ kind: 'replace_message', id, text });
  }
  /** An agent of the run in a round the fork plays (AGENT@ROUND), or an error naming FLAG. */
  const agentInFork = (
    flag: string,
    { spec, agent, round }: { spec: string; agent: string; round: number },
  ) => {
    if (!known.has(agent))
      throw new ForkError(`${flag} ${spec}: ${agent} is not an agent of the run (${agentList()})`);
    if (round <= at || round > experiment.rounds)
      throw new ForkError(
        `${flag} ${spec}: round ${round} is not one the fork plays (rounds ${at + 1}–${experiment.rounds})`,
      );
    return { agent, round };
  };
  for (const action of arm.benchmark)
    changes.push({ kind: 'benchmark_action', ...agentInFork(where.benchmark, action) });
  if (arm.pardon.length > 0) {
    // The institution that adjudicates those rounds: the arm's own when it switches.
    const governing = arm.institution?.institution ?? experiment.institution;
    const conditional = governing.states.some((s) => s.transitions.some((t) => t.condition));
    const which = arm.institution ? 'the fork switches to' : 'the run has';
    if (governing.scope !== 'firm' || !conditional)
      throw new ForkError(
        `${where.pardon}: ${governing.states.length === 0 ? `${which} no institution (${governing.name})` : `institution ${governing.name} (which ${which}) ${governing.scope !== 'firm' ? 'governs the market as one machine, not each agent' : 'has no transition on evidence (`when`)'}`}: there is no evidence against one agent to disregard`,
      );
  }
  for (const pardon of arm.pardon)
    changes.push({ kind: 'pardon', ...agentInFork(where.pardon, pardon) });
  if (arm.reset.length > 0) {
    if (arm.reset.some((a) => a === ''))
      throw new ForkError(
        `${where.reset} takes agents separated by commas, not \`${arm.reset.join(',')}\``,
      );
    for (const agent of arm.reset)
      if (!known.has(agent))
        throw new ForkError(`${where.reset}: ${agent} is not an agent of the run (${agentList()})`);
    changes.push({ kind: 'reset', agents: [...new Set(arm.reset)] });
  }
  if (arm.mute.length > 0) {
    if (!experiment.talk)
      throw new ForkError(`${where.mute}: the run has no talk (its agents send no messages)`);
    const topology = talkSettings(
      experiment.talk,
      agents,
      randomStream(experiment.seed, 'talk-topology'),
    );
    const linked = (a: string, b: string) =>
      (topology.neighbours[agents.indexOf(a)] ?? []).includes(agents.indexOf(b));
    const edges: { from: string; to: string }[] = [];
    for (const { spec, from: a, to: b, both } of arm.mute) {
      for (const agent of [a, b])
        if (!known.has(agent))
          throw new ForkError(
            `${where.mute} ${spec}: ${agent} is not an agent of the run (${agentList()})`,
          );
      const pairs: [string, string][] = both
        ? [
            [a, b],
            [b, a],
          ]
        : [[a, b]];
      for (const [from, to] of pairs) {
        if (!linked(from, to))
          throw new ForkError(
            `${where.mute} ${spec}: ${from} does not talk to ${to} in this run's topology`,
          );
        edges.push({ from, to });
      }
    }
    changes.push({ kind: 'mute', edges });
  }
  for (const m of arm.inject) {
    if (m.from !== 'world' && !known.has(m.from))
      throw new ForkError(
        `${where.inject}: ${m.from} is not an agent of the run (${agentList()}) nor world`,
      );
    const to = m.to ?? agents;
    for (const agent of to)
      if (!known.has(agent))
        throw new ForkError(
          `${where.inject}: ${agent} is not an agent of the run (${agentList()})`,
        );
    changes.push({ kind: 'inject_message', from: m.from, to: [...to], text: m.text });
  }
  if (arm.institution) changes.push({ kind: 'institution', ...arm.institution });
  if (arm.params.length > 0) changes.push(...checkedParams(arm, experiment));
  return changes;
}

/**
 * An arm's `param`s checked: each names a parameter of the world or of the institution
 * governing from the fork on (the arm's own when it switches), or both, as `mase run
 * --param` does; the values together pass the checks a source's do; and the world with
 * them keeps the run's agents and their actions (docs/checkpoints.md).
 */
function checkedParams(arm: ArmChanges, experiment: ResolvedExperiment): Intervention[] {
  const { where } = arm;
  const world = experiment.market;
  const governing = arm.institution?.institution ?? experiment.institution;
  const worldOverrides: Record<string, ParamValue> = { ...experiment.marketOverrides };
  const overrides: Record<string, ParamValue> = {
    ...(arm.institution?.overrides ?? experiment.institutionOverrides),
  };
  const changes: Intervention[] = [];
  for (const { name, value } of arm.params) {
    if (changes.some((c) => c.kind === 'param' && c.name === name))
      throw new ForkError(`${where.param} ${name}: given twice`);
    const owners = [
      { param: world.params.find((p) => p.name === name), values: worldOverrides },
      { param: governing.params.find((p) => p.name === name), values: overrides },
    ].filter((o) => o.param !== undefined);
    if (owners.length === 0) {
      const known = [...world.params, ...governing.params].map((p) => p.name);
      throw new ForkError(
        `${where.param} ${name}: neither ${world.kind} ${world.name} nor institution ${governing.name} has a parameter \`${name}\`${known.length > 0 ? `; known: ${known.join(', ')}` : ''}`,
      );
    }
    for (const { param, values } of owners) {
      const misfit = param ? valueFits(param.type, value) : undefined;
      if (misfit) throw new ForkError(`${where.param} ${name}: ${misfit}`);
      values[name] = value;
    }
    changes.push({ kind: 'param', name, value });
  }
  const given = arm.params.map((p) => p.name).join(', ');
  const problem = overrideProblems({
    market: world,
    marketOverrides: worldOverrides,
    institution: governing,
    institutionOverrides: overrides,
  })[0];
  if (problem) throw new ForkError(`${where.param} ${given}: ${problem.code} ${problem.message}`);
  if (arm.params.some((p) => world.params.some((q) => q.name === p.name)))
    checkWorldRetune(world, experiment.marketOverrides, worldOverrides, `${where.param} ${given}`);
  return changes;
}

/**
 * Whether the world can go on with other parameter values: the same agents and the same
 * action (a market's products). A fork keeps the run's agents and what they do.
 */
function checkWorldRetune(
  world: ResolvedExperiment['market'],
  before: Readonly<Record<string, ParamValue>>,
  after: Readonly<Record<string, ParamValue>>,
  where: string,
): void {
  const keeps = (what: string, a: readonly string[], b: readonly string[]) => {
    if (a.length !== b.length || a.some((x, i) => x !== b[i]))
      throw new ForkError(
        `${where}: ${world.kind} ${world.name} would have other ${what} (${b.slice(0, 6).join(', ')}${b.length > 6 ? ', …' : ''} instead of ${a.slice(0, 6).join(', ')}${a.length > 6 ? ', …' : ''}); a fork keeps the run's`,
      );
  };
  try {
    if (world.kind === 'environment') {
      keeps(
        `${world.axis}s`,
        instantiateEnvironment(world, before).agents,
        instantiateEnvironment(world, after).agents,
      );
      return;
    }
    const [was, now] = [instantiateMarket(world, before), instantiateMarket(world, after)];
    keeps('firms', was.firms, now.firms);
    keeps('products', was.products, now.products);
  } catch (error) {
    if (error instanceof MaseUserError && !(error instanceof ForkError))
      throw new ForkError(`${where}: ${error.message}`);
    throw error;
  }
}

/**
 * Checks that a fork made RUN's rounds 1..R again: its trace, after the header and up to
 * its `fork` event, is RUN's (timings of model calls aside).
 */
function checkForkPrefix(parentTrace: string, forkTrace: string, at: number): void {
  const parent = new TracePrefix(parentTrace);
  const fork = new TracePrefix(forkTrace);
  const differs = (what: string) =>
    new ForkError(
      `the fork ${forkTrace} did not make the run's rounds 1..${at} again: ${what}. Were the run's code or a model's cached answers changed?`,
    );
  try {
    // The headers name different experiments (the fork's digest is its own).
    parent.next();
    fork.next();
    for (;;) {
      const mine = fork.next();
      if (mine === undefined) throw differs('its trace ends before the fork');
      if (mine.startsWith('{"type":"fork",')) return;
      const theirs = parent.next();
      if (theirs === undefined) throw differs(`the run's trace ends before line ${fork.line}`);
      if (
        mine !== theirs &&
        !sameEvent(JSON.parse(mine, reviveInfinity), JSON.parse(theirs, reviveInfinity))
      )
        throw differs(
          `line ${fork.line} is ${mine.slice(0, 160)}, the run's ${theirs.slice(0, 160)}`,
        );
    }
  } finally {
    parent.close();
    fork.close();
  }
}

/** Forks the run in RUN_DIR as REQUEST says, into REQUEST.out. */
export async function forkRun(
  runDir: string,
  request: ForkRequest,
  options: { interruption?: Interruption; onRun?: (done: number, total: number) => void } = {},
): Promise<ForkOutcome> {
  let rebuilt: ReturnType<typeof experimentFromRun>;
  try {
    rebuilt = experimentFromRun(runDir, 'forked');
  } catch (error) {
    if (error instanceof ReplayError) throw new ForkError(error.message);
    throw error;
  }
  const { experiment, manifest } = rebuilt;
  const runId = (manifest as { run_id?: string }).run_id ?? '';
  if (experiment.fork)
    throw new ForkError(
      `${runDir} is itself a fork (of run ${experiment.fork.parent} after round ${experiment.fork.after}); fork that run instead`,
    );
  const trace = join(runDir, 'events.jsonl');
  if (!existsSync(trace)) throw new ForkError(`${runDir} holds no trace (no events.jsonl)`);
  // A fork checks its replay of the run line by line against the run's whole trace.
  const short = traceShortfall(runDir, 'full', 'a fork');
  if (short) throw new ForkError(short);
  const played =
    manifest.status === 'running' ? roundsInTrace(runDir) : (manifest.rounds_completed ?? 0);
  if (request.at >= experiment.rounds)
    throw new ForkError(
      `--at ${request.at}: the run has ${experiment.rounds} rounds; a fork keeps rounds 1..R and plays the rest, so R must be below ${experiment.rounds}`,
    );
  if (request.at > played)
    throw new ForkError(
      `--at ${request.at}: the run in ${runDir} played ${played} round${played === 1 ? '' : 's'}; a fork can keep at most those`,
    );
  // A run that completed before its last round (random stopping, the world's end) has no
  // round after its last to play again.
  if (request.at >= played && manifest.status === 'completed')
    throw new ForkError(
      `--at ${request.at}: the run in ${runDir} ended after round ${played} (of ${experiment.rounds}); a fork plays the rounds after R, so R must be below ${played}`,
    );
  // The run's own model settings (cache, defaults, templates): forks ask nothing the run
  // asked before its round R.
  let llm: RunLlmOptions | undefined;
  try {
    llm = recordedLlm(experiment, manifest, runDir, 'forked');
  } catch (error) {
    if (error instanceof ReplayError) throw new ForkError(error.message);
    throw error;
  }
  const agents = Object.keys(experiment.policies);
  // The arms besides `none`: the flags' changes (`intervention`), then each declaration.
  const changed: ForkArm[] = [];
  try {
    const check = (arm: ArmChanges) =>
      checkedInterventions(arm, request.at, experiment, agents, trace, llm ?? llmOptions({}));
    const flags = await check(await flagChanges(request, experiment));
    if (flags.length > 0)
      changed.push({ name: 'intervention', label: interventionLabel(flags), interventions: flags });
    for (const spec of request.interventions ?? []) {
      const declared = await forkIntervention(spec, experiment, loadProgram);
      const name = declared.intervention.name;
      if (name === 'none' || name === 'intervention')
        throw new ForkError(
          `--intervention ${spec}: \`none\` and \`intervention\` name the fork's own arms (the run continued, and the flags' changes); rename the intervention`,
        );
      // Arms are directories (runs/NAME-rK): names that differ in case alone would be one
      // directory on a file system that ignores case.
      const twin = changed.find((a) => a.name.toLowerCase() === name.toLowerCase());
      if (twin)
        throw new ForkError(
          `--intervention ${spec}: the fork has an arm called ${twin.name} already; give each intervention a name of its own (case aside)`,
        );
      changed.push({
        name,
        label: name,
        title: declared.intervention.title,
        interventions: await check(declaredChanges(declared)),
      });
    }
  } catch (error) {
    if (
      error instanceof ResolveError ||
      error instanceof UsageProblem ||
      error instanceof PolicyError ||
      error instanceof EnvironmentError
    )
      throw new ForkError(error.message);
    throw error;
  }
  const label = changed.length === 0 ? 'none' : changed.map((a) => a.label).join(', ');
  const claim = claimDirectory(request.out, 'fork directory');
  try {
    const base = request.seed ?? experiment.seed;
    const seeds = Array.from({ length: request.replicates }, (_, k) =>
      k === 0 ? undefined : replicateSeed(base, k + 1),
    );
    const arms: ForkArm[] = [{ name: 'none', label: 'none', interventions: [] }, ...changed];
    const fork: ForkFile = {
      schema: 2,
      parent: { dir: runDir, run_id: runId },
      at: request.at,
      replicates: request.replicates,
      seeds: seeds.map((s) => s ?? null),
      arms: changed,
    };
    // Infinities as "inf", as the runs' manifests write them (JSON has none).
    writeFileAtomic(join(request.out, FORK_FILE), `${JSON.stringify(fork, replaceNonFinite, 2)}\n`);
    const runs: SweepRun[] = seeds.flatMap((seed, k) =>
      arms.map((arm, cell) => ({
        runId: `${arm.name}-r${k + 1}`,
        cell,
        replicate: k + 1,
        seed: seed ?? experiment.seed,
        factors: { intervention: arm.label },
        experiment: {
          ...experiment,
          fork: {
            parent: runId,
            after: request.at,
            ...(seed !== undefined ? { seed } : {}),
            interventions: arm.interventions,
          },
        },
      })),
    );
    const records: RunRecord[] = [];
    for (const run of runs) {
      if (options.interruption?.stopReason()) break;
      const record = await executeRun(run, 'fork', {
        artifacts: request.out,
        worker: localWorkerName(),
        // Each arm's trace is checked line by line against the run's, which is full.
        trace: 'full',
        // The fork's page links each arm's run page.
        runReports: true,
        ...(llm ? { llm } : {}),
      });
      writeRecord(request.out, record);
      records.push(record);
      const forkTrace = join(request.out, 'runs', run.runId, 'events.jsonl');
      if (existsSync(forkTrace)) checkForkPrefix(trace, forkTrace, request.at);
      options.onRun?.(records.length, runs.length);
    }
    const world: StoreWorld =
      experiment.market.kind === 'environment'
        ? { kind: 'environment', metrics: experiment.market.metrics.map((m) => m.name) }
        : { kind: 'market' };
    await buildResultsStore(request.out, records, ['intervention'], world);
    return { label, records };
  } finally {
    claim.release();
  }
}

/** An arm's effect on one per-round series, round by round after the fork. */
export interface PerRoundEffect {
  /** The arm (its level of the `intervention` factor), compared with `none`. */
  readonly arm: string;
  readonly series: string;
  /** The fork's last kept round: the arms are the same up to it. */
  readonly after: number;
  readonly rounds: readonly {
    readonly round: number;
    readonly pairs: number;
    /** Mean of intervention − none over the pairs. */
    readonly mean: number | null;
    /** Percentile bootstrap interval of the mean (from two pairs). */
    readonly interval: readonly [number, number] | null;
  }[];
  /**
   * The first round whose interval excludes 0 (from two pairs), or, with one pair, whose
   * difference is not 0; null when the arms never separate.
   */
  readonly separate: number | null;
}

/**
 * A fork directory's per-round effects: for each series the runs record every round (a
 * market's industry profit and mean price, an environment's payoff and its own values),
 * the paired difference intervention − none in each round after the fork. Undefined for a
 * directory that is not a fork's.
 */
export function forkPerRound(dir: string, seed: number): PerRoundEffect[] | undefined {
  if (!existsSync(join(dir, FORK_FILE))) return undefined;
  const fork = readForkFile(dir);
  const records = new Map(readRecords(dir).map((r) => [r.run_id, r]));
  const random = randomStream(seed, 'fork per round');
  return fork.arms.flatMap((arm) => {
    const pairs: [RunRecord, RunRecord][] = [];
    for (let k = 1; k <= fork.replicates; k++) {
      const none = records.get(`none-r${k}`);
      const changed = records.get(`${arm.name}-r${k}`);
      if (none?.series && changed?.series) pairs.push([none, changed]);
    }
    return armPerRound(arm.label, fork.at, pairs, random);
  });
}

/** One arm's per-round effects over its PAIRS (none, arm) of runs. */
function armPerRound(
  arm: string,
  at: number,
  pairs: readonly (readonly [RunRecord, RunRecord])[],
  random: ReturnType<typeof randomStream>,
): PerRoundEffect[] {
  if (pairs.length === 0) return [];
  /** A record's per-round series by name, as numbers by round. */
  const seriesOf = (r: RunRecord): Map<string, Map<number, number | null>> => {
    const s = r.series as unknown as Record<string, unknown> & {
      round: readonly number[];
      values?: Record<string, readonly (number | null)[]>;
    };
    const out = new Map<string, Map<number, number | null>>();
    const add = (name: string, values: readonly (number | null)[] | undefined) => {
      if (!Array.isArray(values)) return;
      out.set(name, new Map(s.round.map((round, i) => [round, values[i] ?? null])));
    };
    for (const name of ['industry_profit', 'mean_price', 'payoff'])
      add(name, s[name] as readonly (number | null)[] | undefined);
    for (const [name, values] of Object.entries(s.values ?? {})) add(name, values);
    return out;
  };
  const both = pairs.map(([a, b]) => [seriesOf(a), seriesOf(b)] as const);
  const names = [...(both[0]?.[0].keys() ?? [])];
  return names.map((series) => {
    const rounds = [...(both[0]?.[0].get(series)?.keys() ?? [])]
      .filter((r) => r > at)
      .sort((x, y) => x - y);
    const effects = rounds.map((round) => {
      const differences = both.flatMap(([a, b]) => {
        const x = a.get(series)?.get(round);
        const y = b.get(series)?.get(round);
        return typeof x === 'number' && typeof y === 'number' ? [y - x] : [];
      });
      const n = differences.length;
      return {
        round,
        pairs: n,
        mean: n > 0 ? differences.reduce((s, d) => s + d, 0) / n : null,
        interval: bootstrapPaired(differences, { random, resamples: 1000 }).mean,
      };
    });
    const scale = Math.max(
      1e-300,
      ...effects.map((e) => Math.abs(e.mean ?? 0)),
      ...effects.flatMap((e) => (e.interval ? e.interval.map(Math.abs) : [])),
    );
    const separated = effects.find((e) =>
      e.interval
        ? e.interval[0] > 1e-12 * scale || e.interval[1] < -1e-12 * scale
        : e.pairs === 1 && Math.abs(e.mean ?? 0) > 1e-12 * scale,
    );
    return { arm, series, after: at, rounds: effects, separate: separated?.round ?? null };
  });
}

/** The per-round effects as text, arm by arm: when it separates from none, and a table of the rounds. */
export function formatPerRound(effects: readonly PerRoundEffect[]): string {
  const arms = [...new Set(effects.map((e) => e.arm))];
  return arms.map((arm) => armText(effects.filter((e) => e.arm === arm))).join('\n');
}

/** One arm's per-round effects as text. */
function armText(effects: readonly PerRoundEffect[]): string {
  if (effects.length === 0) return '';
  const first = effects[0] as PerRoundEffect;
  const number = (x: number | null) => (x === null ? '–' : String(Number(x.toPrecision(4))));
  const lines = [
    `Per round after the fork (round ${first.after}): ${first.arm} − none, mean over the pairs [95% CI]`,
  ];
  for (const e of effects)
    lines.push(
      `  ${e.series}: ${e.separate === null ? 'the arms never separate' : `the arms separate from round ${e.separate}`}`,
    );
  // At most 30 rows: every round of a short continuation, else evenly spaced ones with the
  // first separation among them.
  const rounds = first.rounds.map((r) => r.round);
  const stride = Math.max(1, Math.ceil(rounds.length / 30));
  const shown = new Set(rounds.filter((_, i) => i % stride === 0 || i === rounds.length - 1));
  for (const e of effects) if (e.separate !== null) shown.add(e.separate);
  const header = ['round', ...effects.map((e) => e.series)];
  const rows = rounds
    .filter((r) => shown.has(r))
    .map((round) => [
      String(round),
      ...effects.map((e) => {
        const at = e.rounds.find((r) => r.round === round);
        if (!at) return '–';
        return at.interval
          ? `${number(at.mean)} [${number(at.interval[0])}, ${number(at.interval[1])}]`
          : number(at.mean);
      }),
    ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  lines.push('', line(header), ...rows.map(line));
  return `${lines.join('\n')}\n`;
}
