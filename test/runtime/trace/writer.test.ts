import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseTrace,
  type TraceEvent,
  type TraceEventOf,
  TraceWriter,
  traceJson,
} from '../../../runtime/index.js';
// The writer's internal line encoders, checked against traceJson (not part of the facade).
import { eventLine, perAgentLine } from '../../../runtime/trace/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'mase-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trace JSON', () => {
  it('writes infinities as "inf" and "-inf" and NaN as null, at any depth', () => {
    expect(traceJson({ a: [1, Infinity], b: { c: [[-Infinity, Number.NaN]] } })).toBe(
      '{"a":[1,"inf"],"b":{"c":[["-inf",null]]}}',
    );
  });

  it('is plain JSON for values without infinities', () => {
    const value = { type: 'x', round: 3, q: [[1.5, 2]], nan: Number.NaN, s: 'inf', n: null };
    expect(traceJson(value)).toBe(JSON.stringify(value));
  });
});

describe('the lines of per-agent events', () => {
  const number = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constantFrom(Infinity, -Infinity, Number.NaN, -0, 1e21, 5e-324),
  );
  const text = fc.string({ unit: 'binary' });
  // Now and then a field of another kind, so the fast path must notice and step aside.
  const odd = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.array(number));
  const maybe = <T>(usual: fc.Arbitrary<T>, other: fc.Arbitrary<unknown> = odd) =>
    fc.oneof({ arbitrary: usual, weight: 9 }, { arbitrary: other, weight: 1 });
  const fields: Record<string, fc.Arbitrary<unknown>> = {
    round: maybe(number),
    firm: maybe(text),
    state: fc.oneof(fc.constant(null), text, odd),
    profit: maybe(number),
    fines: maybe(number),
    credits: maybe(number),
    net: maybe(number),
    policy: maybe(text),
    action: maybe(fc.array(number), fc.array(fc.oneof(number, text))),
    talk_round: maybe(number),
    id: maybe(text),
    from: maybe(text),
    to: maybe(fc.array(text), fc.array(fc.oneof(number, text))),
    text: maybe(text),
    parents: fc.array(text),
    rationale: text,
  };
  const shapes: Record<string, string[]> = {
    payoff: ['round', 'firm', 'state', 'profit', 'fines', 'credits', 'net'],
    decision: ['round', 'firm', 'policy', 'action'],
    message: ['round', 'talk_round', 'id', 'from', 'to', 'text'],
  };
  const event = fc
    .record({
      type: fc.constantFrom('payoff', 'decision', 'message', 'clamp'),
      shape: fc.constantFrom('payoff', 'decision', 'message'),
      // Sometimes an extra field, a missing one or the fields in another order.
      extra: fc.option(fc.constantFrom('parents', 'rationale', 'firm')),
      drop: fc.option(fc.nat(6)),
      shuffle: fc.boolean(),
      values: fc.record(fields),
    })
    .map(({ type, shape, extra, drop, shuffle, values }) => {
      let keys = [...(shapes[shape] ?? [])];
      if (drop !== null) keys.splice(drop % keys.length, 1);
      if (extra !== null) keys.splice(keys.length - 1, 0, extra);
      if (shuffle) keys = [...keys].reverse();
      return Object.fromEntries([['type', type], ...keys.map((k) => [k, values[k]])]);
    });

  it('are the text of traceJson for any event, usual or not', () => {
    fc.assert(
      fc.property(event, (e) => {
        const line = traceJson(e);
        expect(eventLine(e as unknown as TraceEvent)).toBe(line);
        expect([undefined, line]).toContain(perAgentLine(e as unknown as TraceEvent));
      }),
      { numRuns: 5000 },
    );
  });

  it('take the fast path for every usual event', () => {
    const usual = fc.oneof(
      fc.record({
        type: fc.constant('payoff'),
        round: number,
        firm: text,
        state: fc.oneof(fc.constant(null), text),
        profit: number,
        fines: number,
        credits: number,
        net: number,
      }),
      fc.record({
        type: fc.constant('decision'),
        round: number,
        firm: text,
        policy: text,
        action: fc.array(number),
      }),
      fc.record({
        type: fc.constant('message'),
        round: number,
        talk_round: number,
        id: text,
        from: text,
        to: fc.array(text),
        text,
      }),
    );
    fc.assert(
      fc.property(usual, (e) => {
        expect(perAgentLine(e as unknown as TraceEvent)).toBe(traceJson(e));
      }),
      { numRuns: 3000 },
    );
  });

  it('write each usual event as JSON.stringify does', () => {
    const payoff = {
      type: 'payoff',
      round: 3,
      firm: 'h"1',
      state: null,
      profit: 1.5,
      fines: 0,
      credits: -0,
      net: 1.5,
    };
    const decision = { type: 'decision', round: 3, firm: 'h1', policy: 'p', action: [0.1, 2e-7] };
    const message = {
      type: 'message',
      round: 3,
      talk_round: 1,
      id: 'm3.1.1',
      from: 'h1',
      to: ['h2'],
      text: '\u2028<b>',
    };
    for (const e of [payoff, decision, message])
      expect(eventLine(e as unknown as TraceEvent)).toBe(JSON.stringify(e));
  });
});

describe('the trace writer', () => {
  it('writes lines longer than its buffer and characters of several bytes intact', () => {
    const path = join(dir, 'long.jsonl');
    const writer = new TraceWriter(path);
    const texts = ['😀 é ✓', 'x'.repeat(70_000), '\u2028 \ud800 end'];
    for (const [i, text] of texts.entries())
      writer.write({ type: 'text', round: i + 1, id: `t${i}`, text });
    writer.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines).toHaveLength(texts.length + 1);
    // JSON writes a lone surrogate as an escape, so even that comes back as it was.
    const read = lines.slice(0, -1).map((l) => (JSON.parse(l) as { text: string }).text);
    expect(read.map((t) => t.length)).toEqual(texts.map((t) => t.length));
    expect(read.every((t, i) => t === texts[i])).toBe(true);
  });

  it('hands lines to the file at each flush, and the rest on close', () => {
    const path = join(dir, 'events.jsonl');
    const writer = new TraceWriter(path, 2);
    const event = (round: number) =>
      ({ type: 'run_end', status: 'completed', rounds_completed: round }) as const;
    writer.write(event(1));
    expect(readFileSync(path, 'utf8')).toBe('');
    writer.flush();
    expect(readFileSync(path, 'utf8')).toBe(`${traceJson(event(1))}\n`);
    writer.write(event(2));
    writer.write(event(3));
    writer.close();
    writer.close();
    expect(readFileSync(path, 'utf8').split('\n')).toEqual([
      traceJson(event(1)),
      traceJson(event(2)),
      traceJson(event(3)),
      '',
    ]);
  });
});

describe('a summary trace', () => {
  const firms = ['f1', 'f2', 'f3'];
  const header = {
    type: 'header',
    schema: 1,
    experiment: 'x',
    digest: 'd',
    market: 'm',
    institution: 'none',
    firms,
    products: ['good'],
    rounds: 3,
    seed: 1,
    policies: { f1: 'nash', f2: 'nash', f3: 'nash' },
  } as TraceEvent;
  const finite = fc.oneof(fc.double({ min: -1e12, max: 1e12, noNaN: true }), fc.integer());
  const payoff = fc.record({
    firm: fc.constantFrom(...firms),
    state: fc.oneof(fc.constant(null), fc.constantFrom('active', 'fined', 'a "quoted" state')),
    profit: finite,
    fines: finite,
    credits: finite,
  });
  // A round's payoffs: usually one per agent in order, now and then not (a firm missing,
  // repeated or out of order), so the writer must fall back to their own lines.
  const round = fc.oneof(
    {
      arbitrary: fc
        .tuple(payoff, payoff, payoff)
        .map((ps) => ps.map((p, i) => ({ ...p, firm: firms[i] as string }))),
      weight: 4,
    },
    { arbitrary: fc.array(payoff, { maxLength: 4 }), weight: 1 },
  );

  it('reads back as the events written, whether a round is packed in one row or not', () => {
    fc.assert(
      fc.property(fc.array(round, { minLength: 1, maxLength: 5 }), (rounds) => {
        const events: TraceEvent[] = [header];
        rounds.forEach((payoffs, r) => {
          for (const p of payoffs)
            events.push({
              type: 'payoff',
              round: r + 1,
              ...p,
              net: p.profit - p.fines + p.credits,
            } as TraceEvent);
          events.push({
            type: 'run_end',
            status: 'completed',
            rounds_completed: r + 1,
          } as TraceEvent);
        });
        const path = join(dir, 'summary.jsonl');
        const writer = new TraceWriter(path, 64, undefined, { level: 'summary' });
        for (const e of events) writer.write(e);
        writer.close();
        const text = readFileSync(path, 'utf8');
        const { trace: level, ...read } = parseTrace(text)[0] as TraceEventOf<'header'>;
        expect(level).toBe('summary');
        // As JSON holds them (-0 is written 0 at every level).
        expect([read, ...parseTrace(text).slice(1)]).toEqual(JSON.parse(JSON.stringify(events)));
        // Every round of one finite payoff per agent, in order, is one row.
        const packed = rounds.filter(
          (ps) => ps.length === 3 && ps.every((p, i) => p.firm === firms[i]),
        ).length;
        expect(text.split('\n').filter((l) => l.startsWith('{"type":"payoffs"'))).toHaveLength(
          packed,
        );
      }),
    );
  });
});
