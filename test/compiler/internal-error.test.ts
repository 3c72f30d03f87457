import { describe, expect, it } from 'vitest';
import { compileSources, type SourceText } from '../../compiler/index.js';

/** A source whose text cannot be read: the only way to make MASE itself fail from outside. */
function brokenSource(path: string): SourceText {
  return {
    path,
    get text(): string {
      throw new Error('the text getter exploded');
    },
  };
}

describe('E_INTERNAL', () => {
  it('turns an exception inside the compiler into exactly one E_INTERNAL diagnostic', () => {
    let result: ReturnType<typeof compileSources> | undefined;
    expect(() => {
      result = compileSources([brokenSource('broken.mase')]);
    }).not.toThrow();
    expect(result?.ok).toBe(false);
    expect(result?.diagnostics).toHaveLength(1);
    const [d] = result?.diagnostics ?? [];
    expect(d?.code).toBe('E_INTERNAL');
    expect(d?.severity).toBe('error');
    expect(d?.path).toBe('broken.mase');
    expect(d?.message).toContain('the text getter exploded');
    expect(result?.program).toEqual({
      markets: [],
      environments: [],
      institutions: [],
      experiments: [],
      sweeps: [],
      interventions: [],
    });
  });

  it('does the same when the failing source is in the library', () => {
    const fine: SourceText = { path: 'fine.mase', text: 'mase 1\n' };
    const result = compileSources([fine], [brokenSource('stdlib/broken.mase')]);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E_INTERNAL']);
    expect(result.ok).toBe(false);
  });
});
