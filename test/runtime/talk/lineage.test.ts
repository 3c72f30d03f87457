import { describe, expect, it } from 'vitest';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  type Agent,
  resolveExperiment,
  runExperiment,
  stdlibSources,
  type TalkTurn,
  type TraceEvent,
  type TraceEventOf,
} from '../../../runtime/index.js';
import {
  lineageOf,
  MessageLedger,
  messageId,
  messagesById,
} from '../../../runtime/talk/lineage.js';

/**
 * Messages have ids and lineage: each `message` event's id is `m<round>.<talk round>.<k>`
 * in emission order; the parents a sender names are kept only when it received them (in any
 * earlier talk round of the run); the others are recorded as `unknown_parents`.
 */

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;

function experiment(talk: IrPolicy, rounds = 2) {
  return resolveExperiment(
    program,
    {
      market: 'cournot',
      institution: 'none',
      agents: 'nash',
      params: [{ name: 'firms', value: 3 }],
      rounds,
      seed: 5,
      talk,
    },
    () => ({ all: { name: 'nash', args: [] }, perFirm: {} }),
    stdlibSources(),
  );
}

/** A firm that plays nothing and, each talk turn, says what `say` gives for the turn. */
function talker(say: (turn: TalkTurn) => ReturnType<NonNullable<Agent['talk']>>): Agent {
  return {
    policy: 'talker',
    decide: (o) => new Float64Array(o.market.dims.products),
    talk: say,
  };
}

async function messagesOf(
  talk: IrPolicy,
  agent: (firm: number) => Agent,
  rounds = 2,
): Promise<TraceEvent[]> {
  const events: TraceEvent[] = [];
  await runExperiment(experiment(talk, rounds), {
    onEvent: (e) => events.push(e),
    agentFor: agent,
  });
  return events;
}

/** Two talk turns a round along the chain f1 → f2 → f3. */
const chain: IrPolicy = { name: 'chain', args: [{ name: 'rounds', value: 2 }] };

describe('message ids', () => {
  it('are m<round>.<talk round>.<k>, k counting the talk round’s messages in emission order', async () => {
    const events = await messagesOf(chain, () =>
      talker((turn) =>
        turn.neighbours.length > 0
          ? [
              { to: turn.neighbours, text: 'one' },
              { to: turn.neighbours, text: 'two' },
            ]
          : [],
      ),
    );
    const ids = events.flatMap((e) => (e.type === 'message' ? [[e.id, e.from, e.text]] : []));
    // max_messages is 1: each firm's second message is dropped before it gets an id.
    expect(ids).toEqual([
      ['m1.1.1', 'f1', 'one'],
      ['m1.1.2', 'f2', 'one'],
      ['m1.2.1', 'f1', 'one'],
      ['m1.2.2', 'f2', 'one'],
      ['m2.1.1', 'f1', 'one'],
      ['m2.1.2', 'f2', 'one'],
      ['m2.2.1', 'f1', 'one'],
      ['m2.2.2', 'f2', 'one'],
    ]);
    expect(messageId(12, 3, 7)).toBe('m12.3.7');
  });

  it('reach the inbox: an agent reads the id of each message it received', async () => {
    const inboxes: string[][] = [];
    await messagesOf(chain, (firm) =>
      talker((turn) => {
        if (firm === 2) inboxes.push(turn.inbox.map((m) => `${m.id} ${m.from}`));
        return turn.neighbours.length > 0 ? [{ to: turn.neighbours, text: 'hi' }] : [];
      }),
    );
    expect(inboxes).toEqual([[], ['m1.1.2 f2'], [], ['m2.1.2 f2']]);
  });
});

describe('message parents', () => {
  /** f2 and f3 name as parents everything they were sent, plus ids they never received. */
  const citing = (firm: number) =>
    talker((turn) => {
      if (turn.neighbours.length === 0) return [];
      const received = turn.inbox.map((m) => m.id);
      const parents =
        firm === 0
          ? // f1 names the message f2 is about to send this very turn: not received yet.
            [messageId(turn.observation.round, turn.talkRound, 2)]
          : [...received, 'm1.1.1', 'not-an-id', 'm99.1.1', ...received];
      return [{ to: turn.neighbours, text: `from f${firm + 1}`, parents }];
    });

  it('keeps the parents a sender received, in any earlier talk round, and records the rest', async () => {
    const events = await messagesOf(chain, citing);
    const rows = events.flatMap((e) =>
      e.type === 'message' ? [[e.id, e.from, e.parents, e.unknown_parents]] : [],
    );
    expect(rows).toEqual([
      // Round 1, turn 1: nobody has received anything yet.
      ['m1.1.1', 'f1', undefined, ['m1.1.2']],
      ['m1.1.2', 'f2', undefined, ['m1.1.1', 'not-an-id', 'm99.1.1']],
      // Turn 2: f2 received m1.1.1 (f1's); repeats are named once.
      ['m1.2.1', 'f1', undefined, ['m1.2.2']],
      ['m1.2.2', 'f2', ['m1.1.1'], ['not-an-id', 'm99.1.1']],
      // Round 2: the inbox is new, but m1.1.1 was received in round 1 and is still kept.
      ['m2.1.1', 'f1', undefined, ['m2.1.2']],
      ['m2.1.2', 'f2', ['m1.1.1'], ['not-an-id', 'm99.1.1']],
      ['m2.2.1', 'f1', undefined, ['m2.2.2']],
      ['m2.2.2', 'f2', ['m2.1.1', 'm1.1.1'], ['not-an-id', 'm99.1.1']],
    ]);
  });

  it('f3 cannot claim a message sent to f2 only', async () => {
    // f3 hears from f2 alone: it names f1's m1.1.1 (never sent to it) and f2's m1.1.2.
    const events = await messagesOf(
      { name: 'edges', args: [{ name: 'pairs', value: 'f1>f2, f2>f3, f3>f1' }] },
      (firm) =>
        talker((turn) => [
          {
            to: turn.neighbours,
            text: 'x',
            ...(firm === 2 && turn.observation.round === 2
              ? { parents: ['m1.1.1', 'm1.1.2'] }
              : {}),
          },
        ]),
    );
    const f3 = events.find((e) => e.type === 'message' && e.id === 'm2.1.3');
    expect(f3).toMatchObject({ from: 'f3', parents: ['m1.1.2'], unknown_parents: ['m1.1.1'] });
  });

  it('leave a run without them as it was: no parents field, and the same trace twice', async () => {
    const plain = (firm: number) =>
      talker((turn) => [{ to: turn.neighbours, text: `f${firm + 1}` }]);
    const ring: IrPolicy = { name: 'ring', args: [] };
    const first = await messagesOf(ring, plain, 3);
    const messages = first.filter((e) => e.type === 'message');
    expect(messages).toHaveLength(9);
    expect(messages.every((m) => !('parents' in m) && !('unknown_parents' in m))).toBe(true);
    const again = await messagesOf(ring, plain, 3);
    expect(again.map((e) => JSON.stringify(e))).toEqual(first.map((e) => JSON.stringify(e)));
    const cited = await messagesOf(chain, citing, 3);
    const citedAgain = await messagesOf(chain, citing, 3);
    expect(citedAgain.map((e) => JSON.stringify(e))).toEqual(cited.map((e) => JSON.stringify(e)));
  });
});

describe('messages a world sends', () => {
  it('have ids of talk round 0, before the agents’ own, and count as received', async () => {
    const experiment = resolveExperiment(
      program,
      {
        environment: 'infection',
        agents: 'immune',
        params: [{ name: 'hosts', value: 3 }],
        rounds: 2,
        seed: 1,
      },
      () => ({ all: { name: 'immune', args: [] }, perFirm: {} }),
      stdlibSources(),
    );
    const events: TraceEvent[] = [];
    await runExperiment(experiment, { onEvent: (e) => events.push(e) });
    const rows = events.flatMap((e) => (e.type === 'message' ? [[e.id, e.from]] : []));
    expect(rows.slice(0, 4)).toEqual([
      ['m1.0.1', 'world'],
      ['m1.1.1', 'host1'],
      ['m1.1.2', 'host2'],
      ['m1.1.3', 'host3'],
    ]);
    const ledger = new MessageLedger(2);
    const injected = ledger.next(4, 0);
    ledger.receive([1], injected);
    expect([injected, ledger.next(4, 1)]).toEqual(['m4.0.1', 'm4.1.1']);
    expect(ledger.parents(1, [injected]).kept).toEqual(['m4.0.1']);
    expect(ledger.parents(0, [injected]).unknown).toEqual(['m4.0.1']);
  });
});

describe('the ledger and lineage, alone', () => {
  it('gives ids in order and knows who received what', () => {
    const ledger = new MessageLedger(2);
    expect([ledger.next(1, 1), ledger.next(1, 1), ledger.next(1, 2), ledger.next(2, 1)]).toEqual([
      'm1.1.1',
      'm1.1.2',
      'm1.2.1',
      'm2.1.1',
    ]);
    // Out of order receipt (a message delivered before an older one) is still found.
    ledger.receive([0], 'm1.2.1');
    ledger.receive([0], 'm1.1.1');
    ledger.receive([0], 'm1.1.1');
    expect(ledger.parents(0, ['m1.1.1', 'm1.2.1', 'm1.1.2', 'm1.1.3', 'm2.1.1'])).toEqual({
      kept: ['m1.1.1', 'm1.2.1'],
      unknown: ['m1.1.2', 'm1.1.3', 'm2.1.1'],
    });
    expect(ledger.parents(1, ['m1.1.1'])).toEqual({ kept: [], unknown: ['m1.1.1'] });
    // Many receipts, newest first: every one is found, none twice.
    const many = new MessageLedger(1);
    const ids = Array.from({ length: 40 }, () => many.next(7, 1));
    for (const id of [...ids].reverse()) many.receive([0], id);
    for (const id of ids) many.receive([0], id);
    expect(many.parents(0, [...ids, 'm7.1.41']).kept).toEqual(ids);
    expect(many.parents(0, [...ids, 'm7.1.41']).unknown).toEqual(['m7.1.41']);
    expect(ledger.parents(1, 'm1.1.1')).toEqual({ kept: [], unknown: [] });
  });

  it('follows parents back to every origin, origin first', () => {
    const m = (id: string, parents?: string[]): TraceEventOf<'message'> => ({
      type: 'message',
      round: 1,
      talk_round: 1,
      id,
      from: 'a',
      to: ['b'],
      text: id,
      ...(parents ? { parents } : {}),
    });
    const byId = messagesById([
      m('m1.1.1'),
      m('m1.1.2'),
      m('m1.2.1', ['m1.1.2']),
      m('m1.3.1', ['m1.2.1', 'm1.1.1', 'm0.0.0']),
      m('m1.3.2', ['m1.1.1']),
    ]);
    const lineage = lineageOf(byId, 'm1.3.1');
    expect(lineage.messages.map((x) => x.id)).toEqual(['m1.1.1', 'm1.1.2', 'm1.2.1', 'm1.3.1']);
    expect(lineage.missing).toEqual(['m0.0.0']);
    expect(lineageOf(byId, 'm1.1.2').messages.map((x) => x.id)).toEqual(['m1.1.2']);
  });
});
