import { describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import {
  computeBenchmarks,
  InstitutionRuntime,
  instantiateMarket,
  MessageGate,
  randomStream,
  stdlibSources,
} from '../../../runtime/index.js';
import { synonymGroup } from '../../../runtime/talk/synonyms.js';

/**
 * Whom a message reaches under an institution's quarantine and filters, in the order
 * docs/language.md gives (Messages): the sender's state, then the filters, then each
 * recipient's state; a message kept back is recorded once, under the first that applies.
 * f2 is put in quarantine by its output in round 1 (a market rule, so no talk is needed).
 */

const source = `mase 1
institution gate "Quarantines a firm that over-produces; filters a secret" {
  scope per firm
  param word = "secret"
  filter when mentions(word) > 0 "names the secret"
  monitor over = any(quantity[self] > 25, over: product)
  initial state ok {
    when over -> isolated
  }
  state isolated {
    quarantine
    after 9 rounds -> ok
  }
}
`;

function gateAfterRound1(visible: boolean) {
  const compiled = compileSources([{ path: 'gate.mase', text: source }], stdlibSources());
  expect(compiled.diagnostics).toEqual([]);
  const ir = compiled.program.institutions.find((i) => i.name === 'gate');
  const library = compileSources([], stdlibSources(), { includeLibrary: true }).program;
  const marketIr = library.markets.find((m) => m.name === 'cournot');
  if (!ir || !marketIr) throw new Error('gate or stdlib cournot is missing');
  const market = instantiateMarket(marketIr, { firms: 3 });
  const runtime = new InstitutionRuntime(ir, market, computeBenchmarks(market), {}, 1);
  runtime.adjudicate(market.clear(Float64Array.from([10, 30, 10])), 1);
  expect([0, 1, 2].map((i) => runtime.stateOf(i))).toEqual(['ok', 'isolated', 'ok']);
  return MessageGate.of(runtime, market.firms, visible);
}

const message = (from: number, to: string[], text: string) => ({
  round: 2,
  talkRound: 1,
  from,
  to,
  text,
});
/** [to, cause, agent, state, reason] of each part kept back. */
const parts = (d: ReturnType<MessageGate['deliver']>) =>
  d.blocked.map((b) => [b.to, b.cause, b.agent, b.state, b.reason ?? null]);

describe('MessageGate', () => {
  const gate = gateAfterRound1(true);

  it('keeps a message from a quarantined recipient only', () => {
    const d = gate?.deliver(message(0, ['f2', 'f3'], 'hello'));
    expect(d?.reached).toEqual(['f3']);
    expect(d && parts(d)).toEqual([[['f2'], 'quarantine', 'f2', 'isolated', null]]);
  });

  it('keeps everything a quarantined sender says, before any filter', () => {
    const d = gate?.deliver(message(1, ['f1', 'f3'], 'the secret'));
    expect(d?.reached).toEqual([]);
    expect(d && parts(d)).toEqual([[['f1', 'f3'], 'quarantine', 'f2', 'isolated', null]]);
  });

  it('a filter keeps back the whole message, recorded once, before a recipient’s quarantine', () => {
    const d = gate?.deliver(message(0, ['f2', 'f3'], 'The SECRET is out'));
    expect(d?.reached).toEqual([]);
    expect(d && parts(d)).toEqual([[['f2', 'f3'], 'filter', null, null, 'names the secret']]);
    expect(d?.blocked[0]).toMatchObject({ round: 2, talk_round: 1, from: 'f1' });
  });

  it('checks nothing of a message with no recipient', () => {
    expect(gate?.deliver(message(0, [], 'the secret'))).toEqual({
      reached: [],
      blocked: [],
      text: 'the secret',
    });
  });

  it('applies no filter when the talk is not visible to the institution', () => {
    const d = gateAfterRound1(false)?.deliver(message(0, ['f2', 'f3'], 'the secret'));
    expect(d?.reached).toEqual(['f3']);
    expect(d && parts(d)).toEqual([[['f2'], 'quarantine', 'f2', 'isolated', null]]);
  });

  it('is absent for an institution that does nothing to messages', () => {
    const library = compileSources([], stdlibSources(), { includeLibrary: true }).program;
    const ir = library.institutions.find((i) => i.name === 'governance_graph');
    const marketIr = library.markets.find((m) => m.name === 'cournot');
    if (!ir || !marketIr) throw new Error('stdlib governance_graph or cournot is missing');
    const market = instantiateMarket(marketIr, {});
    const runtime = new InstitutionRuntime(ir, market, computeBenchmarks(market), {}, 1);
    expect(MessageGate.of(runtime, market.firms, true)).toBeUndefined();
  });
});

const rewriting = `mase 1
institution rewrite "Paraphrases a firm that over-produces; mutes one that over-produces more" {
  scope per firm
  monitor over = any(quantity[self] > 25, over: product)
  monitor far_over = any(quantity[self] > 35, over: product)
  initial state ok {
    when far_over -> silenced priority 1
    when over -> watched priority 0
  }
  state watched {
    paraphrase
    after 9 rounds -> ok
  }
  state silenced {
    mute
    paraphrase
    after 9 rounds -> ok
  }
}
`;

/** f2 is in `watched` (paraphrased), f3 in `silenced` (muted and paraphrased) after round 1. */
function paraphrasingGate(seed: number) {
  const compiled = compileSources([{ path: 'rewrite.mase', text: rewriting }], stdlibSources());
  expect(compiled.diagnostics).toEqual([]);
  const ir = compiled.program.institutions.find((i) => i.name === 'rewrite');
  const library = compileSources([], stdlibSources(), { includeLibrary: true }).program;
  const marketIr = library.markets.find((m) => m.name === 'cournot');
  if (!ir || !marketIr) throw new Error('rewrite or stdlib cournot is missing');
  const market = instantiateMarket(marketIr, { firms: 3 });
  const runtime = new InstitutionRuntime(ir, market, computeBenchmarks(market), {}, 1);
  runtime.adjudicate(market.clear(Float64Array.from([10, 30, 40])), 1);
  expect([0, 1, 2].map((i) => runtime.stateOf(i))).toEqual(['ok', 'watched', 'silenced']);
  let streams = 0;
  const gate = MessageGate.of(runtime, market.firms, false, () => {
    streams++;
    return randomStream(seed, 'institution:paraphrase');
  });
  return { gate, streams: () => streams };
}

const NOTE = 'Good news, Team: the report looks GOOD and the crew will check the pumps soon.';

describe('MessageGate: paraphrase', () => {
  it('rewrites what a sender in a paraphrase state says: each word of the synonym table becomes one of its group, the rest is kept', () => {
    const { gate } = paraphrasingGate(1);
    const d = gate?.deliver(message(1, ['f1', 'f3'], NOTE));
    expect(d?.reached).toEqual(['f1', 'f3']);
    expect(d?.blocked).toEqual([]);
    expect(d?.paraphrased).toEqual({
      type: 'message_paraphrased',
      round: 2,
      talk_round: 1,
      from: 'f2',
      to: ['f1', 'f3'],
      state: 'watched',
      paraphraser: 'synonyms',
      text: NOTE,
      paraphrase: d?.text,
    });
    const before = NOTE.split(/\b/);
    const after = (d?.text ?? '').split(/\b/);
    expect(after).toHaveLength(before.length);
    let changed = 0;
    before.forEach((word, k) => {
      const now = after[k] as string;
      const group = synonymGroup(word);
      if (!group) expect(now).toBe(word);
      else {
        expect(group).toContain(now.toLowerCase());
        // The case is kept: GOOD stays in capitals, Team capitalised, report lower-case.
        if (word === word.toUpperCase()) expect(now).toBe(now.toUpperCase());
        else if (word[0] === word[0]?.toUpperCase()) expect(now[0]).toBe(now[0]?.toUpperCase());
        else expect(now).toBe(now.toLowerCase());
        if (now.toLowerCase() !== word.toLowerCase()) changed++;
      }
    });
    // Seven words of the table, each kept with probability 1/10: most change.
    expect(changed).toBeGreaterThan(3);
  });

  it('leaves a sender in good standing alone, and draws nothing for it', () => {
    const { gate, streams } = paraphrasingGate(1);
    const d = gate?.deliver(message(0, ['f2', 'f3'], NOTE));
    expect(d).toEqual({ reached: ['f2', 'f3'], blocked: [], text: NOTE });
    expect(streams()).toBe(0);
  });

  it('a mute in the same state wins: a message kept back is not paraphrased', () => {
    const { gate, streams } = paraphrasingGate(1);
    const d = gate?.deliver(message(2, ['f1'], NOTE));
    expect(d?.reached).toEqual([]);
    expect(d?.paraphrased).toBeUndefined();
    expect(d?.blocked.map((b) => b.cause)).toEqual(['mute']);
    expect(streams()).toBe(0);
  });

  it('the same stream gives the same paraphrases; another seed, others', () => {
    const texts = (seed: number) => {
      const { gate, streams } = paraphrasingGate(seed);
      const out = [1, 2, 3].map(() => gate?.deliver(message(1, ['f1'], NOTE)).text);
      // One stream for the run, asked for once.
      expect(streams()).toBe(1);
      return out;
    };
    expect(texts(5)).toEqual(texts(5));
    expect(texts(6)).not.toEqual(texts(5));
  });
});
