import { describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import {
  computeBenchmarks,
  InstitutionRuntime,
  instantiateMarket,
  MessageGate,
  stdlibSources,
} from '../../../runtime/index.js';

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
    expect(gate?.deliver(message(0, [], 'the secret'))).toEqual({ reached: [], blocked: [] });
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
