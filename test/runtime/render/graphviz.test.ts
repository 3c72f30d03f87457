import { describe, expect, it } from 'vitest';
import { compileSources, institutionDot } from '../../../compiler/index.js';
import { dotAvailable, RenderError, renderDot, stdlibSources } from '../../../runtime/index.js';
import { ESCALATING_CREDIT, escalatingCredit } from '../../support/escalating-credit.js';

const GRAPH = 'digraph G { proposer -> voter [label="ballot"]; voter -> tally; }';
const BROKEN = 'digraph G { proposer -> ';
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function expectLabels(svg: string): void {
  expect(svg).toContain('<svg');
  for (const label of ['proposer', 'voter', 'tally', 'ballot']) expect(svg).toContain(label);
}

describe('renderDot', () => {
  // test/support/ensure-system.mjs installs graphviz before the suite, so this is not optional.
  it('finds the system dot program', () => {
    expect(dotAvailable()).toBe(true);
  });

  it('renders SVG with the system dot', async () => {
    const { output, renderer } = await renderDot(GRAPH, 'svg');
    expect(renderer).toBe('graphviz-dot');
    expect(typeof output).toBe('string');
    expectLabels(output as string);
  });

  it('renders SVG with wasm when asked to', async () => {
    const { output, renderer } = await renderDot(GRAPH, 'svg', { preferWasm: true });
    expect(renderer).toBe('wasm');
    expect(typeof output).toBe('string');
    expectLabels(output as string);
  });

  it('renders PNG with the system dot', async () => {
    const { output, renderer } = await renderDot(GRAPH, 'png');
    expect(renderer).toBe('graphviz-dot');
    expect(output).toBeInstanceOf(Uint8Array);
    expect(Array.from((output as Uint8Array).subarray(0, 8))).toEqual(PNG_MAGIC);
  });

  it('refuses PNG without dot, pointing at the package', async () => {
    const attempt = renderDot(GRAPH, 'png', { preferWasm: true });
    await expect(attempt).rejects.toBeInstanceOf(RenderError);
    await expect(attempt).rejects.toThrow(
      'PNG needs the Graphviz "dot" program (apt-get install graphviz); SVG works without it',
    );
  });

  it('reports broken DOT from dot as a RenderError carrying its message', async () => {
    const attempt = renderDot(BROKEN, 'svg');
    await expect(attempt).rejects.toBeInstanceOf(RenderError);
    await expect(attempt).rejects.toThrow(/syntax error/);
    await expect(attempt).rejects.toMatchObject({ renderer: 'graphviz-dot' });
  });

  it('reports broken DOT from wasm as a RenderError carrying its message', async () => {
    const attempt = renderDot(BROKEN, 'svg', { preferWasm: true });
    await expect(attempt).rejects.toBeInstanceOf(RenderError);
    await expect(attempt).rejects.toThrow(/syntax error/);
    await expect(attempt).rejects.toMatchObject({ renderer: 'wasm' });
  });

  it('keeps the wasm renderer usable after a syntax error', async () => {
    await expect(renderDot(BROKEN, 'svg', { preferWasm: true })).rejects.toThrow(RenderError);
    const { output } = await renderDot(GRAPH, 'svg', { preferWasm: true });
    expectLabels(output as string);
  });
});

/** Width and height in pixels, from the PNG header (IHDR, right after the signature). */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

describe('the institution diagram at a page width', () => {
  const program = compileSources([escalatingCredit()], stdlibSources(), {
    includeLibrary: true,
  }).program;

  // A 5-state graduated graph drawn left to right was a 3,076 × 239 px strip.
  it.each(['governance_graph', ESCALATING_CREDIT])(
    'renders %s at most 1,000 px wide and not as a strip',
    async (name) => {
      const institution = program.institutions.find((i) => i.name === name);
      if (!institution) throw new Error(`no institution ${name}`);
      const { output } = await renderDot(institutionDot(institution), 'png');
      const { width, height } = pngSize(output as Uint8Array);
      expect(width).toBeLessThanOrEqual(1000);
      expect(width / height).toBeGreaterThan(0.5);
      expect(width / height).toBeLessThan(2);
    },
  );
});
