import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TraceWriter, traceJson } from '../../../runtime/index.js';

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
