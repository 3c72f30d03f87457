import type { IrState } from '../../compiler/ir.js';
import type { SavableRandom } from '../random.js';
import type { InstitutionRuntime } from '../run/institution.js';
import type { TraceEventOf } from '../trace/events.js';
import { paraphraseWithSynonyms } from './synonyms.js';

/**
 * What an institution does to the messages of the talk phase (docs/language.md, Messages):
 * an agent in a `mute` state sends nothing that is delivered, one in a `quarantine` state
 * neither sends nor receives, and a `filter` keeps back each message its condition holds
 * for. Every message kept back, whole or for some recipients, is a `message_blocked` event
 * (and so an entry of the governance log). An agent in a `paraphrase` state has each message
 * it sends rewritten before delivery, recorded as `message_paraphrased` (both texts).
 */

export type BlockedMessage = TraceEventOf<'message_blocked'>;
/** A paraphrase as the gate reports it; the runtime adds the message's id. */
export type ParaphrasedMessage = Omit<TraceEventOf<'message_paraphrased'>, 'id'>;

/** The name the trace gives the scripted paraphrase (runtime/talk/synonyms.ts). */
export const SCRIPTED_PARAPHRASER = 'synonyms';

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
  /** The text they receive: the message's own, or its paraphrase. */
  readonly text: string;
  readonly paraphrased?: ParaphrasedMessage;
  /** A rewrite the runtime must ask MODEL for: the recipients read the answer instead of `text`. */
  readonly byModel?: {
    readonly model: string;
    readonly paraphrased: Omit<ParaphrasedMessage, 'paraphraser' | 'text' | 'paraphrase'>;
  };
}

type Hold = { readonly cause: 'mute' | 'quarantine'; readonly state: string };

export class MessageGate {
  private readonly holds: ReadonlyMap<string, Hold>;
  /** States whose agents' messages are paraphrased, with the model that rewrites them (undefined: the scripted paraphrase). */
  private readonly paraphrasing: ReadonlyMap<string, string | undefined>;
  private paraphraseRandom: SavableRandom | undefined;
  /** Agents by name: a text world has thousands, so no message may search the list. */
  private readonly index: ReadonlyMap<string, number>;

  private constructor(
    private readonly institution: InstitutionRuntime,
    private readonly agents: readonly string[],
    private readonly filtering: boolean,
    private readonly random: () => SavableRandom,
  ) {
    const holds = new Map<string, Hold>();
    for (const s of institution.ir.states) {
      const hold = holdOf(s);
      if (hold) holds.set(s.name, hold);
    }
    this.holds = holds;
    this.paraphrasing = new Map(
      institution.ir.states.filter((s) => s.paraphrase).map((s) => [s.name, s.paraphraser]),
    );
    this.index = new Map(agents.map((a, i) => [a, i]));
  }

  /**
   * The gate of a run, or undefined when its institution does nothing to messages. Filters
   * read messages, so they apply only when the talk is visible to the institution. `random`
   * gives the scripted paraphrase its stream (asked for once, at the first paraphrase).
   */
  static of(
    institution: InstitutionRuntime,
    agents: readonly string[],
    visible: boolean,
    random: () => SavableRandom = () => {
      throw new Error('a paraphrasing institution needs a random stream');
    },
  ): MessageGate | undefined {
    const filtering = visible && (institution.ir.filters?.length ?? 0) > 0;
    const acting = institution.ir.states.some((s) => holdOf(s) !== undefined || s.paraphrase);
    return filtering || acting
      ? new MessageGate(institution, agents, filtering, random)
      : undefined;
  }

  /**
   * Whom a message reaches. In order: the sender's state (the whole message is kept back),
   * the filters in declaration order (the whole message), then each recipient's state (that
   * recipient only); each message kept back is recorded once, under the first that applies.
   * A message that reaches anyone is then paraphrased if its sender's state says so.
   */
  deliver(message: OutgoingDelivery): Delivery {
    const { to, text } = message;
    if (to.length === 0) return { reached: to, blocked: [], text };
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
    if (own) return { reached: [], blocked: [blocked(to, own.cause, from, own.state)], text };
    const filter = this.filtering
      ? this.institution.caughtBy(message.from, message.text)
      : undefined;
    if (filter)
      return { reached: [], blocked: [blocked(to, 'filter', null, null, filter.reason)], text };
    const reached: string[] = [];
    const kept: BlockedMessage[] = [];
    for (const recipient of to) {
      const hold = this.holdOf(this.index.get(recipient) ?? -1);
      if (hold?.cause === 'quarantine')
        kept.push(blocked([recipient], 'quarantine', recipient, hold.state));
      else reached.push(recipient);
    }
    const state = this.institution.stateOf(message.from);
    if (reached.length === 0 || state === undefined || !this.paraphrasing.has(state))
      return { reached, blocked: kept, text };
    const paraphrased = {
      type: 'message_paraphrased' as const,
      round: message.round,
      talk_round: message.talkRound,
      from,
      to: [...reached],
      state,
    };
    const model = this.paraphrasing.get(state);
    // A model's rewrite is asked for by the runtime, which awaits it (runtime/talk/paraphrase.ts).
    if (model !== undefined)
      return { reached, blocked: kept, text, byModel: { model, paraphrased } };
    this.paraphraseRandom ??= this.random();
    const random = this.paraphraseRandom;
    const paraphrase = paraphraseWithSynonyms(text, () => random.next());
    return {
      reached,
      blocked: kept,
      text: paraphrase,
      paraphrased: { ...paraphrased, paraphraser: SCRIPTED_PARAPHRASER, text, paraphrase },
    };
  }

  /** Its state between rounds (the scripted paraphrase's stream, once drawn from), for a checkpoint. */
  save(): number[][] | null {
    return this.paraphraseRandom?.save() ?? null;
  }

  restore(state: number[][] | null): void {
    if (!state) return;
    this.paraphraseRandom = this.random();
    this.paraphraseRandom.restore(state);
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
