import type { IrState } from '../../compiler/ir.js';
import type { InstitutionRuntime } from '../run/institution.js';
import type { TraceEventOf } from '../trace/events.js';

/**
 * What an institution does to the messages of the talk phase (docs/language.md, Messages):
 * an agent in a `mute` state sends nothing that is delivered, one in a `quarantine` state
 * neither sends nor receives, and a `filter` keeps back each message its condition holds
 * for. Every message kept back, whole or for some recipients, is a `message_blocked` event
 * (and so an entry of the governance log).
 */

export type BlockedMessage = TraceEventOf<'message_blocked'>;

/** A message as the runtime is about to deliver it: its recipients are already allowed by the topology. */
export interface OutgoingDelivery {
  readonly round: number;
  readonly talkRound: number;
  /** The sender's index. */
  readonly from: number;
  readonly to: readonly string[];
  readonly text: string;
}

export interface Delivery {
  /** The recipients the message reaches. */
  readonly reached: readonly string[];
  readonly blocked: readonly BlockedMessage[];
}

type Hold = { readonly cause: 'mute' | 'quarantine'; readonly state: string };

export class MessageGate {
  private readonly holds: ReadonlyMap<string, Hold>;
  /** Agents by name: a text world has thousands, so no message may search the list. */
  private readonly index: ReadonlyMap<string, number>;

  private constructor(
    private readonly institution: InstitutionRuntime,
    private readonly agents: readonly string[],
    private readonly filtering: boolean,
  ) {
    const holds = new Map<string, Hold>();
    for (const s of institution.ir.states) {
      const hold = holdOf(s);
      if (hold) holds.set(s.name, hold);
    }
    this.holds = holds;
    this.index = new Map(agents.map((a, i) => [a, i]));
  }

  /**
   * The gate of a run, or undefined when its institution does nothing to messages. Filters
   * read messages, so they apply only when the talk is visible to the institution.
   */
  static of(
    institution: InstitutionRuntime,
    agents: readonly string[],
    visible: boolean,
  ): MessageGate | undefined {
    const filtering = visible && (institution.ir.filters?.length ?? 0) > 0;
    const holding = institution.ir.states.some((s) => holdOf(s) !== undefined);
    return filtering || holding ? new MessageGate(institution, agents, filtering) : undefined;
  }

  /**
   * Whom a message reaches. In order: the sender's state (the whole message is kept back),
   * the filters in declaration order (the whole message), then each recipient's state (that
   * recipient only); each message kept back is recorded once, under the first that applies.
   */
  deliver(message: OutgoingDelivery): Delivery {
    const { to } = message;
    if (to.length === 0) return { reached: to, blocked: [] };
    const from = this.agents[message.from] as string;
    const blocked = (
      recipients: readonly string[],
      cause: BlockedMessage['cause'],
      agent: string | null,
      state: string | null,
      reason?: string,
    ): BlockedMessage => ({
      type: 'message_blocked',
      round: message.round,
      talk_round: message.talkRound,
      from,
      to: [...recipients],
      cause,
      agent,
      state,
      ...(reason === undefined ? {} : { reason }),
      text: message.text,
    });
    const own = this.holdOf(message.from);
    if (own) return { reached: [], blocked: [blocked(to, own.cause, from, own.state)] };
    const filter = this.filtering
      ? this.institution.caughtBy(message.from, message.text)
      : undefined;
    if (filter) return { reached: [], blocked: [blocked(to, 'filter', null, null, filter.reason)] };
    const reached: string[] = [];
    const kept: BlockedMessage[] = [];
    for (const recipient of to) {
      const hold = this.holdOf(this.index.get(recipient) ?? -1);
      if (hold?.cause === 'quarantine')
        kept.push(blocked([recipient], 'quarantine', recipient, hold.state));
      else reached.push(recipient);
    }
    return { reached, blocked: kept };
  }

  private holdOf(agent: number): Hold | undefined {
    const state = this.institution.stateOf(agent);
    return state === undefined ? undefined : this.holds.get(state);
  }
}

/** What a state does to messages: quarantine includes a mute. */
function holdOf(state: IrState): Hold | undefined {
  if (state.quarantine) return { cause: 'quarantine', state: state.name };
  if (state.mute) return { cause: 'mute', state: state.name };
  return undefined;
}
