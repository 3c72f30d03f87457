import { assign, setup } from 'xstate';
import { constantValue } from '../constant.js';
import { paramValues } from '../instantiate.js';
import type { IrCounterChange, IrInstitution, IrState, ParamValue } from '../ir.js';
import { changeLabel, formatParamValue, renderExpr } from './render-expr.js';

/**
 * Backend 1: the institution as an XState v5 machine.
 *
 * Round time is the event stream itself: the runtime sends one `round` event per firm
 * machine after each market round, carrying which transition conditions held. Counters
 * in the context implement `for k rounds` and `after k rounds` (no wall clock, no
 * timers), so `transition(machine, snapshot, event)` is a pure step that returns the
 * round's sanctions as actions.
 *
 * A `quiet` event stands for `rounds` consecutive rounds, the last being `round`, in which
 * none of the current state's conditions held: it has exactly the effect of that many
 * `round` events whose `holds` are all false, provided none of them would fire a
 * transition (no unconditional `after k rounds` comes due) and the state has no
 * each-round item (sanction, counter change or notice). The runtime sends one instead of
 * many such rounds.
 */
export interface InstitutionContext {
  /** The last round the machine was told about (0 before the first). */
  round: number;
  /** Completed rounds since the current state was entered. */
  roundsInState: number;
  /** For each transition of the current state: consecutive rounds its condition has held. */
  streaks: Record<string, number>;
  /** Offence history: entries into each state, and the round of the latest entry. */
  visits: Record<string, number>;
  lastEntered: Record<string, number>;
}

export interface RoundEvent {
  type: 'round';
  round: number;
  /** Truth of each transition's condition this round, by transition id. */
  holds: Record<string, boolean>;
}

/** `rounds` rounds, ending with `round`, in which no condition held and nothing fired. */
export interface QuietEvent {
  type: 'quiet';
  round: number;
  rounds: number;
}

export type InstitutionEvent = RoundEvent | QuietEvent;

export interface HoldsParams {
  transition: string;
  rounds: number;
  /** The condition's source text, or null for an unconditional `after`. */
  condition: string | null;
}
export interface TickParams {
  transitions: { id: string; always: boolean }[];
}
export interface EnterParams {
  state: string;
}
export interface SanctionParams {
  state: string;
  index: number;
  sanction: 'fine' | 'credit';
  timing: 'entry' | 'each_round';
  amount: string;
}
/** A counter change: on entry or each round in `state`, or when `transition` fires. */
export interface CountParams {
  /** `STATE#INDEX` (the change's index among the state's) or `TRANSITION#INDEX`. */
  key: string;
  counter: string;
  change: 'add' | 'reset' | 'decay';
  /** The amount as text (null for `reset`). */
  amount: string | null;
  timing: 'entry' | 'each_round' | 'transition';
  /** The state whose item it is, or the state a transition leaves. */
  state: string;
  /** The transition's id, for a change made by a transition. */
  transition?: string;
}
export interface NoticeParams {
  state: string;
  /** The notice's index in its state: a live notice's values are found by it. */
  index: number;
  text: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface MachineConfigJson {
  [key: string]: Json;
}

export const initialContext = (): InstitutionContext => ({
  round: 0,
  roundsInState: 0,
  streaks: {},
  visits: {},
  lastEntered: {},
});

function roundsOf(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) ? value : 1;
}

function countAction(
  c: IrCounterChange,
  params: ReadonlyMap<string, ParamValue>,
  where: Omit<CountParams, 'counter' | 'change' | 'amount'>,
): Json {
  return {
    type: 'mase.count',
    params: {
      ...where,
      counter: c.counter,
      change: c.change,
      amount: c.amount ? renderExpr(c.amount, params) : null,
    },
  };
}

function stateNode(state: IrState, params: ReadonlyMap<string, ParamValue>): Json {
  const stateChanges = (timing: 'entry' | 'each_round') =>
    (state.changes ?? [])
      .map((c, index) => ({ c, index }))
      .filter(({ c }) => c.timing === timing)
      .map(({ c, index }) =>
        countAction(c, params, { key: `${state.name}#${index}`, timing, state: state.name }),
      );
  const eachRound = new Set(state.eachRoundNotices ?? []);
  const notices = (given: 'entry' | 'each_round'): Json[] =>
    state.notices
      .map((text, index) => ({ text, index }))
      .filter(({ index }) => eachRound.has(index) === (given === 'each_round'))
      .map(({ text, index }) => ({
        type: 'mase.notice',
        params: { state: state.name, index, text },
      }));
  // In every round spent in the state, the one it is left in included: counter changes,
  // then sanctions. Each-round notices go only to rounds that end in the state (below).
  const sanctions = (timing: 'entry' | 'each_round'): Json[] =>
    state.sanctions
      .map((s, index) => ({ s, index }))
      .filter(({ s }) => s.timing === timing)
      .map(({ s, index }) => ({
        type: 'mase.sanction',
        params: {
          state: state.name,
          index,
          sanction: s.sanction,
          timing: s.timing,
          amount: renderExpr(s.amount, params),
        },
      }));
  const perRound: Json[] = [...stateChanges('each_round'), ...sanctions('each_round')];
  const onEntry = [
    { type: 'mase.enter', params: { state: state.name } },
    ...stateChanges('entry'),
    ...notices('entry'),
    ...sanctions('entry'),
  ];
  const tick = {
    type: 'mase.tick',
    params: {
      transitions: state.transitions.map((t) => ({ id: t.id, always: t.condition === undefined })),
    },
  };
  const transitions: Json[] = state.transitions.map((t) => ({
    target: t.target,
    ...(t.target === state.name ? { reenter: true } : {}),
    guard: {
      type: 'mase.holds',
      params: {
        transition: t.id,
        rounds: roundsOf(constantValue(t.rounds, params)),
        condition: t.condition ? renderExpr(t.condition, params) : null,
      },
    },
    actions: [
      ...perRound,
      ...(t.changes ?? []).map((c, index) =>
        countAction(c, params, {
          key: `${t.id}#${index}`,
          timing: 'transition',
          state: state.name,
          transition: t.id,
        }),
      ),
    ],
    meta: {
      kind: t.kind,
      rule: t.rule ?? null,
      priority: t.priority,
      restorative: t.restorative,
      ...(t.changes ? { changes: t.changes.map((c) => changeLabel(c, params)) } : {}),
    },
  }));
  transitions.push({ actions: [...perRound, tick, ...notices('each_round')] });
  return {
    entry: onEntry,
    on: { round: transitions, quiet: { actions: [{ ...tick, type: 'mase.quiet' }] } },
    meta: {
      kind: state.kind,
      title: state.title ?? null,
      notices: [...state.notices],
      ...(state.eachRoundNotices ? { eachRoundNotices: [...state.eachRoundNotices] } : {}),
      sanctions: state.sanctions.map((s) => ({
        sanction: s.sanction,
        timing: s.timing,
        ...(s.afterEntry ? { afterEntry: true } : {}),
        amount: renderExpr(s.amount, params),
      })),
      cap: state.cap ? renderExpr(state.cap, params) : null,
      floor: state.floor ? renderExpr(state.floor, params) : null,
      suspend: state.suspend,
      ...(state.mute ? { mute: true } : {}),
      ...(state.quarantine ? { quarantine: true } : {}),
      ...(state.paraphrase ? { paraphrase: true } : {}),
      ...(state.paraphraser !== undefined ? { paraphraser: state.paraphraser } : {}),
      ...(state.changes
        ? {
            changes: state.changes.map(
              (c) => `${c.timing === 'each_round' ? 'each round ' : ''}${changeLabel(c, params)}`,
            ),
          }
        : {}),
    },
  };
}

/**
 * The machine as plain JSON config (Stately's tools load it): guards and actions are
 * referenced by name with params; `createInstitutionMachine` joins the implementations.
 * State keys are exactly the declared state names.
 */
export function machineConfig(
  institution: IrInstitution,
  overrides?: ReadonlyMap<string, ParamValue>,
): MachineConfigJson {
  const params = paramValues(institution.params, overrides);
  const states: Record<string, Json> = {};
  for (const s of institution.states) states[s.name] = stateNode(s, params);
  const initial = institution.initial ?? null;
  return {
    id: institution.name,
    meta: {
      title: institution.title,
      scope: institution.scope,
      public: institution.public,
      directive: institution.directive ?? null,
      params: Object.fromEntries(
        institution.params.map((p) => [p.name, formatParamValue(params.get(p.name) ?? p.value)]),
      ),
      monitors: Object.fromEntries(
        institution.monitors.map((m) => [m.name, renderExpr(m.expr, params)]),
      ),
      rules: Object.fromEntries(
        institution.rules.map((r) => [r.id, `${r.attribute} ${r.deontic} ${r.aim}`]),
      ),
      ...(institution.counters
        ? {
            counters: Object.fromEntries(
              institution.counters.map((c) => [c.name, renderExpr(c.initial, params)]),
            ),
          }
        : {}),
      ...(institution.filters
        ? {
            filters: institution.filters.map((f) => ({
              condition: renderExpr(f.condition, params),
              reason: f.reason,
            })),
          }
        : {}),
    },
    ...(initial === null ? {} : { initial }),
    context: initialContext() as unknown as Json,
    // A stateless institution (a directive, or nothing) is an atomic machine: it exists so
    // every run drives a machine, and it has no states because none were declared.
    ...(initial === null ? {} : { states }),
  };
}

/** The executable machine: the JSON config joined to pure guard and action implementations. */
export function createInstitutionMachine(
  institution: IrInstitution,
  params?: ReadonlyMap<string, ParamValue>,
) {
  const config = machineConfig(institution, params);
  return setup({
    types: {
      context: {} as InstitutionContext,
      events: {} as InstitutionEvent,
    },
    guards: {
      'mase.holds': ({ context, event }, p: HoldsParams) => {
        if (event.type !== 'round') return false;
        const holds = p.condition === null ? true : event.holds[p.transition] === true;
        return holds && (context.streaks[p.transition] ?? 0) + 1 >= p.rounds;
      },
    },
    actions: {
      'mase.enter': assign(({ context, event }, p: EnterParams) => ({
        round: event?.type === 'round' ? event.round : context.round,
        roundsInState: 0,
        streaks: {},
        visits: { ...context.visits, [p.state]: (context.visits[p.state] ?? 0) + 1 },
        lastEntered: {
          ...context.lastEntered,
          [p.state]: event?.type === 'round' ? event.round : 0,
        },
      })),
      'mase.tick': assign(({ context, event }, p: TickParams) => {
        const streaks: Record<string, number> = {};
        for (const t of p.transitions) {
          const holds = t.always || (event.type === 'round' && event.holds[t.id] === true);
          streaks[t.id] = holds ? (context.streaks[t.id] ?? 0) + 1 : 0;
        }
        return { round: event.round, roundsInState: context.roundsInState + 1, streaks };
      }),
      'mase.quiet': assign(({ context, event }, p: TickParams) => {
        const rounds = event.type === 'quiet' ? event.rounds : 1;
        const streaks: Record<string, number> = {};
        for (const t of p.transitions)
          streaks[t.id] = t.always ? (context.streaks[t.id] ?? 0) + rounds : 0;
        return { round: event.round, roundsInState: context.roundsInState + rounds, streaks };
      }),
      // Effects are returned by `transition()` for the runtime to apply; nothing runs here.
      'mase.sanction': (_args, _p: SanctionParams) => {},
      'mase.notice': (_args, _p: NoticeParams) => {},
      'mase.count': (_args, _p: CountParams) => {},
    },
  }).createMachine(config as never);
}

export type InstitutionMachine = ReturnType<typeof createInstitutionMachine>;

/**
 * U+2028 and U+2029 are line terminators to JavaScript and TypeScript before ES2019 and in
 * comments; JSON leaves them raw. Written as escapes, they cannot end anything.
 */
function escapeLineSeparators(json: string): string {
  return json.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Any text as a JavaScript string literal: quotes, backslashes and line breaks escaped. */
function stringLiteral(text: string): string {
  return escapeLineSeparators(JSON.stringify(text));
}

/** `--format ts`: a TypeScript module that rebuilds the machine with `setup()`. */
export function machineModule(
  institution: IrInstitution,
  params?: ReadonlyMap<string, ParamValue>,
): string {
  const config = JSON.stringify(machineConfig(institution, params), null, 2);
  // User text (the path, and every name and text in the config) goes in only as string
  // literals, never into a comment, so no input can end one and become code.
  return `// Generated by \`mase compile --format ts\` from the source named in \`sourcePath\`. Do not edit.
import { assign, setup } from 'xstate';

/** The source file this module was compiled from. */
export const sourcePath = ${stringLiteral(institution.path)};

export interface InstitutionContext {
  round: number;
  roundsInState: number;
  streaks: Record<string, number>;
  visits: Record<string, number>;
  lastEntered: Record<string, number>;
}
export interface RoundEvent {
  type: 'round';
  round: number;
  holds: Record<string, boolean>;
}
/** \`rounds\` rounds ending with \`round\` in which no condition held and nothing fired. */
export interface QuietEvent {
  type: 'quiet';
  round: number;
  rounds: number;
}

export const config = ${escapeLineSeparators(config)} as const;

export const machine = setup({
  types: { context: {} as InstitutionContext, events: {} as RoundEvent | QuietEvent },
  guards: {
    'mase.holds': ({ context, event }, p: { transition: string; rounds: number; condition: string | null }) =>
      event.type === 'round' &&
      (p.condition === null || event.holds[p.transition] === true) &&
      (context.streaks[p.transition] ?? 0) + 1 >= p.rounds,
  },
  actions: {
    'mase.enter': assign(({ context, event }, p: { state: string }) => ({
      round: event?.type === 'round' ? event.round : context.round,
      roundsInState: 0,
      streaks: {},
      visits: { ...context.visits, [p.state]: (context.visits[p.state] ?? 0) + 1 },
      lastEntered: { ...context.lastEntered, [p.state]: event?.type === 'round' ? event.round : 0 },
    })),
    'mase.tick': assign(({ context, event }, p: { transitions: { id: string; always: boolean }[] }) => {
      const streaks: Record<string, number> = {};
      for (const t of p.transitions) {
        streaks[t.id] = t.always || (event.type === 'round' && event.holds[t.id] === true) ? (context.streaks[t.id] ?? 0) + 1 : 0;
      }
      return { round: event.round, roundsInState: context.roundsInState + 1, streaks };
    }),
    'mase.quiet': assign(({ context, event }, p: { transitions: { id: string; always: boolean }[] }) => {
      const rounds = event.type === 'quiet' ? event.rounds : 1;
      const streaks: Record<string, number> = {};
      for (const t of p.transitions) streaks[t.id] = t.always ? (context.streaks[t.id] ?? 0) + rounds : 0;
      return { round: event.round, roundsInState: context.roundsInState + rounds, streaks };
    }),
    'mase.sanction': () => {},
    'mase.notice': () => {},
    'mase.count': () => {},
  },
}).createMachine(config as never);
`;
}
