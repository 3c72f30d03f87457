import type { TraceEventOf } from '../trace/events.js';

/**
 * Messages are first-class: each has an id, `m<round>.<talk round>.<k>` with k the 1-based
 * order of the message within its talk round, in emission order, and may name the ids of
 * the messages it answers or was derived from (its parents). Ids are a function of the
 * round loop alone, so the same run gives the same ids.
 */
export function messageId(round: number, talkRound: number, k: number): string {
  return `m${round}.${talkRound}.${k}`;
}

// Talk round 0 holds the messages a world sends before the agents talk.
const ID = /^m([1-9]\d*)\.(0|[1-9]\d*)\.([1-9]\d*)$/;

/**
 * Messages a run's report keeps in memory (metrics do not read them): a text world of
 * 10,000 hosts sends 10,000 a round, and keeping them all would exhaust memory long before
 * its thousandth round. The report says when it shows only the first ones.
 */
export const MESSAGES_KEPT = 200_000;

/** Where a talk round's messages start in the run's emission order, and how many it has. */
interface TalkRoundSpan {
  readonly first: number;
  count: number;
}

/**
 * A run's messages as the talk phase sees them: it gives each message its id, remembers
 * which agent received which message (in any talk round of the run), and keeps of the
 * parents an agent names only those it received. A message is stored as its serial number
 * in emission order: per agent, an ascending array of 32-bit numbers, so a long run with
 * many agents keeps 4 bytes per delivery (8 with the array's spare room) and no strings.
 */
export class MessageLedger {
  private readonly spans = new Map<string, TalkRoundSpan>();
  private readonly received: SerialSet[];
  private serials = 0;
  /** The latest talk round's ids: deliveries look them up without parsing. */
  private readonly latest = new Map<string, number>();
  private latestSpan: TalkRoundSpan | undefined;
  private latestRound = 0;
  private latestTalkRound = -1;

  constructor(agents: number) {
    this.received = Array.from({ length: agents }, () => new SerialSet());
  }

  /** The id of the next message of this talk round (rounds and talk rounds only move forward). */
  next(round: number, talkRound: number): string {
    let span = this.latestSpan;
    if (!span || round !== this.latestRound || talkRound !== this.latestTalkRound) {
      const key = `${round}.${talkRound}`;
      span = this.spans.get(key);
      if (!span) {
        span = { first: this.serials, count: 0 };
        this.spans.set(key, span);
      }
      this.latest.clear();
      this.latestSpan = span;
      this.latestRound = round;
      this.latestTalkRound = talkRound;
    }
    span.count++;
    const id = messageId(round, talkRound, span.count);
    this.latest.set(id, this.serials++);
    return id;
  }

  /** Records that `agents` received message `id` (an id this ledger gave). */
  receive(agents: readonly number[], id: string): void {
    const serial = this.serialOf(id);
    if (serial !== undefined) for (const agent of agents) this.received[agent]?.add(serial);
  }

  /**
   * The parents `agent` named, split into those it received (kept, in the order named,
   * without repeats) and the others (dropped: an agent cannot derive from what it never saw).
   */
  parents(agent: number, named: unknown): { kept: string[]; unknown: string[] } {
    const kept: string[] = [];
    const unknown: string[] = [];
    if (!Array.isArray(named)) return { kept, unknown };
    const received = this.received[agent];
    for (const value of new Set(named.map(String))) {
      const serial = this.serialOf(value);
      if (serial !== undefined && received?.has(serial)) kept.push(value);
      else unknown.push(value);
    }
    return { kept, unknown };
  }

  /** Its state between rounds, as plain data a checkpoint stores (docs/checkpoints.md). */
  save(): LedgerState {
    return {
      spans: [...this.spans].map(([key, span]) => [key, span.first, span.count]),
      received: this.received.map((r) => r.save()),
      serials: this.serials,
      latest: [...this.latest],
      latestRound: this.latestRound,
      latestTalkRound: this.latestTalkRound,
    };
  }

  /** Holds what `save` gave (a fresh ledger of the same agents). */
  restore(state: LedgerState): void {
    this.spans.clear();
    for (const [key, first, count] of state.spans) this.spans.set(key, { first, count });
    state.received.forEach((items, agent) => {
      this.received[agent]?.restore(items);
    });
    this.serials = state.serials;
    this.latest.clear();
    for (const [id, serial] of state.latest) this.latest.set(id, serial);
    this.latestRound = state.latestRound;
    this.latestTalkRound = state.latestTalkRound;
    this.latestSpan = this.spans.get(`${state.latestRound}.${state.latestTalkRound}`);
  }

  private serialOf(id: string): number | undefined {
    const latest = this.latest.get(id);
    if (latest !== undefined) return latest;
    const match = ID.exec(id);
    if (!match) return undefined;
    const span = this.spans.get(`${match[1]}.${match[2]}`);
    const k = Number(match[3]);
    return span && k <= span.count ? span.first + k - 1 : undefined;
  }
}

/** A message ledger's state, as `MessageLedger.save` gives it. */
export interface LedgerState {
  readonly spans: readonly (readonly [string, number, number])[];
  readonly received: readonly Uint32Array[];
  readonly serials: number;
  readonly latest: readonly (readonly [string, number])[];
  readonly latestRound: number;
  readonly latestTalkRound: number;
}

/** A set of message serial numbers kept as an ascending typed array (binary search). */
class SerialSet {
  private items = new Uint32Array(4);
  private size = 0;

  save(): Uint32Array {
    return this.items.slice(0, this.size);
  }

  restore(items: Uint32Array): void {
    this.items = Uint32Array.from(items.length > 0 ? items : [0]);
    this.size = items.length;
  }

  add(serial: number): void {
    // Deliveries come in emission order, so this is almost always an append.
    const at =
      this.size === 0 || (this.items[this.size - 1] as number) < serial
        ? this.size
        : this.insertionPoint(serial);
    if (at < this.size && this.items[at] === serial) return;
    if (this.size === this.items.length) {
      const grown = new Uint32Array(this.items.length * 2);
      grown.set(this.items);
      this.items = grown;
    }
    if (at < this.size) this.items.copyWithin(at + 1, at, this.size);
    this.items[at] = serial;
    this.size++;
  }

  has(serial: number): boolean {
    const at = this.insertionPoint(serial);
    return at < this.size && this.items[at] === serial;
  }

  /** The first index whose serial is not below `serial`. */
  private insertionPoint(serial: number): number {
    let low = 0;
    let high = this.size;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.items[middle] as number) < serial) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** The trace's fields for a message's parents: the kept ones, and the dropped ones, when any. */
export function parentFields(parents: { kept: readonly string[]; unknown: readonly string[] }): {
  parents?: string[];
  unknown_parents?: string[];
} {
  return {
    ...(parents.kept.length > 0 ? { parents: [...parents.kept] } : {}),
    ...(parents.unknown.length > 0 ? { unknown_parents: [...parents.unknown] } : {}),
  };
}

type MessageEvent = TraceEventOf<'message'>;

/** A trace's messages by id (messages of old traces, which have none, are left out). */
export function messagesById(messages: readonly MessageEvent[]): Map<string, MessageEvent> {
  const byId = new Map<string, MessageEvent>();
  for (const m of messages) if (m.id !== undefined) byId.set(m.id, m);
  return byId;
}

/**
 * A message and every message it descends from, origin first: all its ancestors through
 * `parents`, in trace order (a parent is always emitted in an earlier talk round than its
 * child, so trace order puts every ancestor before its descendants), then the message.
 */
export function lineageOf(
  byId: ReadonlyMap<string, MessageEvent>,
  id: string,
): { messages: MessageEvent[]; missing: string[] } {
  const seen = new Set<string>([id]);
  const missing: string[] = [];
  const stack = [id];
  while (stack.length > 0) {
    const message = byId.get(stack.pop() as string);
    for (const parent of message?.parents ?? []) {
      if (seen.has(parent)) continue;
      seen.add(parent);
      if (byId.has(parent)) stack.push(parent);
      else missing.push(parent);
    }
  }
  const order = new Map([...byId.keys()].map((key, i) => [key, i]));
  const messages = [...seen]
    .filter((key) => byId.has(key))
    .sort((a, b) => (order.get(a) as number) - (order.get(b) as number))
    .map((key) => byId.get(key) as MessageEvent);
  return { messages, missing };
}

/**
 * A message's origin: following each message's first parent back until a message that
 * has none (the root of the path through first parents; a message without parents is its
 * own origin).
 */
export function originOf(byId: ReadonlyMap<string, MessageEvent>, id: string): MessageEvent {
  let message = byId.get(id) as MessageEvent;
  // A trace the runtime wrote has no cycles; one edited by hand may.
  const seen = new Set<string>([id]);
  for (;;) {
    const parent = message.parents?.[0];
    const next = parent === undefined || seen.has(parent) ? undefined : byId.get(parent);
    if (!next) return message;
    seen.add(parent as string);
    message = next;
  }
}

// What JSON.stringify leaves as it is but a terminal or a drawing would act on: DEL, the
// C1 controls (which include CSI), line and paragraph separators, bidirectional overrides.
const UNSAFE = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A message's text as one inert line, in double quotes: every control character escaped
 * (`\n`, `\u001b`, …), so agent-written text cannot move a terminal's cursor, colour it or
 * reorder what follows it.
 */
export function quotedText(text: string): string {
  return JSON.stringify(text).replace(
    UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * A message's text for a drawing, on one line and inert: each C0 control as its Unicode
 * control picture (␛ for ESC, ␊ for a line feed), DEL as ␡, and the other characters
 * `quotedText` escapes as U+XXXX.
 */
export function picturedText(text: string): string {
  return text.replace(/\p{Cc}/gu, picture).replace(UNSAFE, picture);
}

function picture(c: string): string {
  const code = c.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
