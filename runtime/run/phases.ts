import { createMachine, initialTransition, type SnapshotFrom, transition } from 'xstate';

/**
 * The round loop as a state machine: each round walks observe → talk → act → enforce →
 * clear → adjudicate → record, then either starts the next round or stops. The driver
 * (run.ts) performs the work of each phase and sends `done`; `stop` ends the run from any
 * phase (a budget, an interruption). `talk` delivers the world's own messages (a text
 * world's) and the agents' talk, through the institution's message gate; without talk or
 * world messages it passes straight through.
 */
export const roundLoop = createMachine({
  id: 'round-loop',
  initial: 'observe',
  context: { round: 1 },
  states: {
    observe: { on: { done: 'talk', stop: 'stopped' } },
    talk: { on: { done: 'act', stop: 'stopped' } },
    act: { on: { done: 'enforce', stop: 'stopped' } },
    enforce: { on: { done: 'clear', stop: 'stopped' } },
    clear: { on: { done: 'adjudicate', stop: 'stopped' } },
    adjudicate: { on: { done: 'record', stop: 'stopped' } },
    record: { on: { next: 'observe', last: 'finished', stop: 'stopped' } },
    finished: { type: 'final' },
    stopped: { type: 'final' },
  },
});

export type Phase =
  | 'observe'
  | 'talk'
  | 'act'
  | 'enforce'
  | 'clear'
  | 'adjudicate'
  | 'record'
  | 'finished'
  | 'stopped';
export type LoopSnapshot = SnapshotFrom<typeof roundLoop>;

export function startLoop(): LoopSnapshot {
  return initialTransition(roundLoop)[0];
}

// The loop's context never changes, so a (phase, event) pair always leads to the same
// snapshot: XState computes it once, then it is reused (a pure step costs more than a
// round's own bookkeeping with scripted agents).
const successors = new Map<string, LoopSnapshot>();

export function step(
  snapshot: LoopSnapshot,
  event: 'done' | 'next' | 'last' | 'stop',
): LoopSnapshot {
  const key = `${String(snapshot.value)}:${event}`;
  let next = successors.get(key);
  if (!next) {
    next = transition(roundLoop, snapshot, { type: event })[0];
    successors.set(key, next);
  }
  return next;
}

export function phaseOf(snapshot: LoopSnapshot): Phase {
  return String(snapshot.value) as Phase;
}
