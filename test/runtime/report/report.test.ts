import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSources, renderDiagnostics } from '../../../compiler/index.js';
import {
  type Agent,
  parseTrace,
  ReportError,
  resolveExperiment,
  runExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
  writeRunReport,
} from '../../../runtime/index.js';
// The report's building blocks (charts, CSV, escaped HTML, figures), internal to writeRunReport.
import {
  downsampleExtremes,
  lineChartSpec,
  MAX_CELLS,
  MAX_POINTS,
  OKABE_ITO,
  renderChart,
  rollingMean,
  rollingWindow,
  type SeriesPoint,
  stateColors,
  stateSegments,
} from '../../../runtime/report/charts.js';
import { csvDocument } from '../../../runtime/report/csv.js';
import { escapeHtml, html, inlineSvg, svgProblem } from '../../../runtime/report/html.js';
import {
  LINEAGE_BINS,
  lineageFigure,
  lineageScores,
} from '../../../runtime/report/lineage-view.js';
import { diagramFigure } from '../../../runtime/report/run-report.js';
import {
  IMG,
  openInert,
  type PageDocument,
  type PageElement,
  reportScratch,
  SCRIPT,
  SVG,
} from '../../support/report-browser.js';

const dsl = (text: string) => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

// A per-firm institution whose every free text is a payload: the title, a state title, a
// rule title and a notice. Collusive firms are fined from round 3 on and stay fined.
const SOURCE = {
  path: 'pwned.mase',
  text: `mase 1

institution pwned "${dsl(`Payload institution ${IMG}`)}" {
  scope per firm
  public

  param fine_share = 0.35 "share of the round's profit taken by a fine"

  monitor hhi_excess = mean(excess(hhi, nash.hhi))
  monitor specialisation = excess(cv(quantity, over: product), cv(nash.quantity, over: product))[self]
  monitor evidence = hhi_excess > 0.5 or specialisation > 1.0

  rule P1 "${dsl(SCRIPT)}": firm must not "coordinate output" or else "a fine"

  initial state active "${dsl(SCRIPT)}" {
    when evidence for 2 rounds -> fined rule P1
  }
  state fined "${dsl(IMG)}" {
    notice "${dsl(`${SCRIPT} and ${IMG}`)}"
    each round fine max(200, fine_share * profit[self])
    after 2 rounds while not evidence -> active restore
  }
}
`,
};

describe('escapeHtml and html', () => {
  it('escapes the five characters that matter in content and attributes', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('escapes every interpolation, including inside lists, and keeps nested markup', () => {
    const inner = html`<b>${SCRIPT}</b>`;
    const page = html`<p title="${IMG}">${inner}${[SCRIPT, 1, null]}</p>`.toString();
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).toContain('<b>&lt;script&gt;');
    expect(page).toContain('title="&lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;"');
  });
});

describe('inlined SVG', () => {
  const svg = (body: string) => `<svg xmlns="http://www.w3.org/2000/svg">${body}</svg>`;

  it('accepts plain drawings and strips the XML prolog and comments', () => {
    const result = inlineSvg(
      `<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x.dtd">\n<!-- g -->${svg('<g id="a"><text x="1">&lt;script&gt;</text><path d="M0,0" clip-path="url(#c)"/></g>')}`,
    );
    expect('markup' in result && result.markup.toString().startsWith('<svg')).toBe(true);
  });

  it.each([
    ['<script>alert(1)</script>', 'element <script>'],
    ['<foreignObject><div/></foreignObject>', 'element <foreignobject>'],
    ['<g onload="alert(1)"/>', 'event handler'],
    ['<a href="https://example.com"><text>x</text></a>', 'link attribute href'],
    ['<use xlink:href="https://example.com/x.svg#a"/>', 'element <use>'],
    ['<rect fill="url(https://example.com/p)"/>', 'external url()'],
    ['<rect x=1/>', 'unparsable'],
  ])('refuses %s', (body, why) => {
    expect(svgProblem(svg(body))).toContain(why);
    expect('problem' in inlineSvg(svg(body))).toBe(true);
  });

  it('lets through payload text in aria labels, where it is inert', () => {
    expect(svgProblem(svg('<g aria-label="onerror=x url(https://e.com)"/>'))).toBeUndefined();
  });

  it('gets text escaped by Vega: series names become entities, never tags', async () => {
    const out = await renderChart(
      lineChartSpec({
        title: `title ${SCRIPT}`,
        yTitle: IMG,
        rounds: 3,
        series: [
          {
            name: SCRIPT,
            color: '#000000',
            points: [1, 2, 3].map((round) => ({ round, value: round })),
          },
        ],
        lines: [{ name: IMG, color: '#ff0000', value: 2 }],
      }),
    );
    expect(out).not.toMatch(/<script|<img/i);
    expect(out).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(svgProblem(out)).toBeUndefined();
  });
});

describe('downsampling', () => {
  const roundsOf = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('keeps a run of at most MAX_POINTS rounds whole', () => {
    const rounds = roundsOf(MAX_POINTS);
    const values = rounds.map((r) => Math.sin(r));
    expect(downsampleExtremes(rounds, values)).toEqual({
      bucket: 1,
      points: rounds.map((round, i) => ({ round, value: values[i] })),
    });
  });

  it('keeps a single spike round and a single dip of a long run', () => {
    const rounds = roundsOf(10_000);
    const values = rounds.map((r) => (r === 7_777 ? 1_000 : r === 1_234 ? -50 : 5));
    const { points, bucket } = downsampleExtremes(rounds, values);
    expect(bucket).toBe(20);
    expect(points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(points).toContainEqual({ round: 7_777, value: 1_000 });
    expect(points).toContainEqual({ round: 1_234, value: -50 });
  });

  it('draws a series that flickers between two values as both, not their mean', () => {
    const rounds = roundsOf(10_000);
    const { points } = downsampleExtremes(
      rounds,
      rounds.map((r) => (r % 2 === 0 ? 10 : 0)),
    );
    expect(new Set(points.map((p) => p.value))).toEqual(new Set([0, 10]));
  });

  it("bounds the points, keeps each bucket's extremes, in round order, and draws only rounds played", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant(null)), {
          maxLength: 3_000,
        }),
        fc.integer({ min: 2, max: 400 }),
        (values, max) => {
          const rounds = roundsOf(values.length);
          const { points, bucket } = downsampleExtremes(rounds, values, max);
          expect(points.length).toBeLessThanOrEqual(Math.max(max, 0));
          for (let i = 1; i < points.length; i++)
            expect((points[i] as SeriesPoint).round).toBeGreaterThan(
              (points[i - 1] as SeriesPoint).round,
            );
          for (const p of points) expect(values[p.round - 1]).toBe(p.value);
          for (let start = 0; start < values.length; start += bucket) {
            const of = values.slice(start, start + bucket).filter((v) => v !== null);
            if (of.length === 0) continue;
            const inBucket = points.filter((p) => p.round > start && p.round <= start + bucket);
            expect(inBucket.map((p) => p.value)).toContain(Math.max(...of));
            expect(inBucket.map((p) => p.value)).toContain(Math.min(...of));
          }
        },
      ),
    );
  });

  it('skips values that are not numbers', () => {
    expect(downsampleExtremes([1, 2, 3, 4], [1, null, Number.NaN, 3]).points).toEqual([
      { round: 1, value: 1 },
      { round: 4, value: 3 },
    ]);
  });

  it('averages the trailing window, over the rounds there are at the start', () => {
    expect(rollingMean([1, 2, 3, 4, 5], 2)).toEqual([1, 1.5, 2.5, 3.5, 4.5]);
    expect(rollingMean([4, null, 8, null, null, 2], 3)).toEqual([4, 4, 6, 8, 8, 2]);
    expect(rollingMean([null, 1], 1)).toEqual([null, 1]);
    // 1/50 of the run: 40 rounds of 2,000; no smoothing for the shortest runs.
    expect([rollingWindow(2_000), rollingWindow(20_000), rollingWindow(20)]).toEqual([40, 400, 1]);
  });

  it('agrees with the mean computed window by window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constant(null)), {
          maxLength: 300,
        }),
        fc.integer({ min: 1, max: 60 }),
        (values, window) => {
          const got = rollingMean(values, window);
          values.forEach((_, k) => {
            const of = values.slice(Math.max(0, k - window + 1), k + 1).filter((v) => v !== null);
            const want = of.length === 0 ? null : of.reduce((a, b) => a + b, 0) / of.length;
            if (want === null) expect(got[k]).toBeNull();
            else expect(got[k]).toBeCloseTo(want, 9);
          });
        },
      ),
    );
  });

  it('draws state runs exactly when they fit, else the state of most of each bucket', () => {
    const steady = Array.from({ length: 10_000 }, (_, i) => ({
      round: i + 1,
      state: [i < 100 ? 'active' : 'fined', null],
    }));
    expect(stateSegments(['f1', 'f2'], steady)).toEqual({
      bucket: 1,
      segments: [
        { firm: 'f1', state: 'active', first: 1, last: 100 },
        { firm: 'f1', state: 'fined', first: 101, last: 10_000 },
      ],
    });
    const flicker = Array.from({ length: 10_000 }, (_, i) => ({
      round: i + 1,
      state: [i % 3 === 0 ? 'fined' : 'active', 'active'],
    }));
    const { segments, bucket } = stateSegments(['f1', 'f2'], flicker);
    expect(bucket).toBe(10);
    expect(segments.length).toBeLessThanOrEqual(MAX_CELLS);
    expect(segments.filter((s) => s.firm === 'f2')).toEqual([
      { firm: 'f2', state: 'active', first: 1, last: 10_000 },
    ]);
  });
});

describe('state colours', () => {
  const hex = (r: number, g: number, b: number) =>
    `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0').toUpperCase()).join('')}`;

  it('are the Okabe–Ito palette as published (Okabe & Ito 2008, RGB 0–255)', () => {
    expect(new Set(Object.values(OKABE_ITO))).toEqual(
      new Set([
        hex(0, 0, 0),
        hex(230, 159, 0),
        hex(86, 180, 233),
        hex(0, 158, 115),
        hex(240, 228, 66),
        hex(0, 114, 178),
        hex(213, 94, 0),
        hex(204, 121, 167),
      ]),
    );
  });

  it('give distinct states distinct colours, from Okabe–Ito while it lasts', () => {
    const kind = fc.constantFrom('initial', 'normal', 'sanction', 'credit' as const);
    fc.assert(
      fc.property(fc.array(kind, { minLength: 1, maxLength: 17 }), (kinds) => {
        const colors = stateColors(kinds.map((k, i) => ({ name: `s${i}`, kind: k }))).map(
          (s) => s.color,
        );
        expect(new Set(colors).size).toBe(kinds.length);
        if (kinds.length <= 8)
          for (const c of colors) expect(Object.values<string>(OKABE_ITO)).toContain(c);
      }),
    );
  });

  it('keep warm colours for sanctions and green for credit', () => {
    expect(
      stateColors([
        { name: 'active', kind: 'initial' },
        { name: 'warning', kind: 'sanction' },
        { name: 'fined', kind: 'sanction' },
        { name: 'suspended', kind: 'sanction' },
        { name: 'credited', kind: 'credit' },
      ]),
    ).toEqual([
      { name: 'active', color: OKABE_ITO.skyBlue },
      { name: 'warning', color: OKABE_ITO.yellow },
      { name: 'fined', color: OKABE_ITO.vermillion },
      { name: 'suspended', color: OKABE_ITO.reddishPurple },
      { name: 'credited', color: OKABE_ITO.bluishGreen },
    ]);
  });
});

describe('csvDocument', () => {
  it('quotes what RFC 4180 says to, ends lines with CRLF, and defuses formulas', () => {
    expect(
      csvDocument(
        ['round', 'text'],
        [
          [1, 'plain'],
          [2, 'a, "quoted" one'],
          [3, 'two\nlines'],
          [-4.5, '=HYPERLINK("x")'],
          [5, null],
        ],
      ),
    ).toBe(
      'round,text\r\n1,plain\r\n2,"a, ""quoted"" one"\r\n3,"two\nlines"\r\n-4.5,"\'=HYPERLINK(""x"")"\r\n5,\r\n',
    );
  });
});

describe('report.html', () => {
  let scratch: ReturnType<typeof reportScratch>;
  let dir: string;
  let home: string;
  let root: string;
  let browser: Browser;
  let text: string;
  let sanctions: number;

  beforeAll(async () => {
    scratch = reportScratch('mase-report-');
    ({ home, root } = scratch);
    dir = join(root, 'run');
    const library = stdlibSources();
    const compilation = compileSources([SOURCE], library, { includeLibrary: true });
    expect(
      compilation.ok,
      renderDiagnostics(compilation.diagnostics, new Map([[SOURCE.path, SOURCE.text]])),
    ).toBe(true);
    const experiment = resolveExperiment(
      compilation.program,
      {
        market: 'cournot_2x2',
        institution: 'pwned',
        agents: 'given',
        params: [],
        rounds: 20,
        seed: 1,
      },
      () => ({ all: { name: 'collusive', args: [] }, perFirm: {} }),
      [SOURCE, ...library],
    );
    await runToDirectory(experiment, dir);
    // The round loop does not record agents' rationales yet (scripted agents have none),
    // so the payload goes into f1's decision events here, as an LLM agent's would.
    const events = join(dir, 'events.jsonl');
    const lines = readFileSync(events, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((line) => {
        const e = JSON.parse(line) as { type: string; firm?: string; round?: number };
        return e.type === 'decision' && e.firm === 'f1' && (e.round ?? 0) <= 3
          ? JSON.stringify({ ...e, rationale: `I will collude ${SCRIPT} ${IMG}` })
          : line;
      });
    writeFileSync(events, `${lines.join('\n')}\n`);
    const trace = parseTrace(readFileSync(events, 'utf8'));
    sanctions = trace.filter((e) => e.type === 'sanction').length;
    expect(sanctions).toBeGreaterThan(10);

    const path = await writeRunReport(dir, {
      institution: experiment.institution,
      overrides: experiment.institutionOverrides,
    });
    expect(path).toBe(join(dir, 'report.html'));
    text = readFileSync(path, 'utf8');
    browser = await scratch.browser();
  }, 120_000);

  afterAll(async () => {
    await scratch?.close();
  });

  it('writes no payload as markup, and forbids scripts and loads in its CSP', () => {
    expect(text).not.toMatch(/<script|<img|<iframe|<link|<object|<embed/i);
    expect(text).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:">`,
    );
    expect(text).toContain('&lt;script&gt;window.__pwned=1&lt;/script&gt;');
    expect(text).toContain('Every round is drawn (20 rounds)');
  });

  it('runs nothing, loads nothing and shows the payloads as text in Chromium', async () => {
    const page = await openInert(browser, join(dir, 'report.html'));

    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
    const visible = await page.locator('body').innerText();
    expect(visible).toContain(SCRIPT);
    expect(visible).toContain(IMG);
    expect(visible).toContain(`I will collude ${SCRIPT} ${IMG}`);
    expect(await page.getByText(`${SCRIPT} and ${IMG}`).first().isVisible()).toBe(true);
    // The diagram's state titles are text in the SVG as well.
    const diagram = await page.locator('figure.diagram svg').textContent();
    expect(diagram).toContain(`active — ${SCRIPT}`);
    expect(diagram).toContain(`fined — ${IMG}`);

    // Diagram, three series, the firm × product quantities and the state timeline.
    expect(await page.locator('figure.diagram svg').count()).toBe(1);
    expect(await page.locator('figure.chart > svg').count()).toBe(5);
    const rows = page.locator('table.sanctions tbody tr');
    expect(await rows.count()).toBe(sanctions);
    expect(await rows.first().locator('td').allTextContents()).toEqual([
      '3',
      'f1',
      'fined',
      'fine',
      'each round',
      '630.00',
    ]);
    await page.close();
  });

  it('refuses a directory that holds no run', async () => {
    await expect(writeRunReport(home)).rejects.toThrow(ReportError);
  });

  it('draws the institution from the manifest when not given one', async () => {
    const copy = join(root, 'copy');
    cpSync(dir, copy, { recursive: true });
    const page = readFileSync(await writeRunReport(copy), 'utf8');
    expect(page).toContain('<figure class="diagram"><svg');
    expect(page).toContain('fined — &lt;img src=x onerror=&quot;window.__pwned=2&quot;&gt;');
    expect(page).not.toMatch(/<script|<img/i);
  });
});

/** CIE 1976 colour difference of two sRGB hex colours (D65 white; CIE L*a*b*). */
function deltaE(a: string, b: string): number {
  const lab = (hex: string) => {
    const [r, g, bl] = [1, 3, 5]
      .map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)) as [
      number,
      number,
      number,
    ];
    const f = (t: number) => (t > 216 / 24389 ? Math.cbrt(t) : ((24389 / 27) * t + 16) / 116);
    const x = f((0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047);
    const y = f(0.2126 * r + 0.7152 * g + 0.0722 * bl);
    const z = f((0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883);
    return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
  };
  const [p, q] = [lab(a), lab(b)];
  return Math.hypot(...p.map((v, i) => v - (q[i] as number)));
}

describe('report.html of a long run (2,000 rounds of Q-learning firms under governance_graph)', () => {
  let scratch: ReturnType<typeof reportScratch>;
  let dir: string;
  let browser: Browser;
  let text: string;
  let sanctions: { round: number; firm: string; state: string; sanction: string; amount: number }[];
  let states: string[];

  beforeAll(async () => {
    scratch = reportScratch('mase-long-');
    dir = join(scratch.root, 'run');
    const library = stdlibSources();
    const compilation = compileSources([], library, { includeLibrary: true });
    const experiment = resolveExperiment(
      compilation.program,
      {
        market: 'cournot_2x2',
        institution: 'governance_graph',
        agents: 'given',
        params: [],
        rounds: 2_000,
        seed: 7,
      },
      () => ({ all: { name: 'qlearning', args: [] }, perFirm: {} }),
      library,
    );
    await runToDirectory(experiment, dir);
    const trace = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8'));
    sanctions = trace.flatMap((e) => (e.type === 'sanction' ? [e] : []));
    states = experiment.institution?.states.map((s) => s.name) ?? [];
    // Hundreds of sanctions: the case a full table cannot serve.
    expect(sanctions.length).toBeGreaterThan(500);
    text = readFileSync(join(dir, 'report.html'), 'utf8');
    browser = await scratch.browser();
  }, 120_000);

  afterAll(async () => {
    await scratch?.close();
  });

  const open = async (width = 1280) => {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    await page.goto(pathToFileURL(join(dir, 'report.html')).href, { waitUntil: 'load' });
    return page;
  };

  it('says how the series were downsampled and which rolling mean is drawn', () => {
    expect(text).toContain('Downsampled to at most 1,000 points: of each 4 consecutive rounds');
    expect(text).toContain('rolling mean over the last 40 rounds');
  });

  it('fits every figure, the diagram included, to a normal page width without scrolling', async () => {
    for (const width of [1280, 1024]) {
      const page = await open(width);
      const overflow = await page.evaluate(() => {
        const doc = (globalThis as unknown as { document: PageDocument }).document;
        return {
          page: doc.documentElement.scrollWidth - doc.documentElement.clientWidth,
          figures: [...doc.querySelectorAll('figure')].map((f) => f.scrollWidth - f.clientWidth),
          diagram: doc.querySelector('figure.diagram svg')?.getBoundingClientRect().width ?? 0,
        };
      });
      expect(overflow.page).toBe(0);
      expect(overflow.figures.length).toBeGreaterThanOrEqual(6);
      for (const f of overflow.figures) expect(f).toBeLessThanOrEqual(0);
      expect(overflow.diagram).toBeGreaterThan(0);
      await page.close();
    }
  });

  it('draws the top-to-bottom institution diagram at its own size: it fits, no toggle needed', async () => {
    const page = await open(1024);
    const figure = page.locator('figure.diagram').first();
    const sizes = await figure.evaluate((f) => ({
      overflow: f.scrollWidth - f.clientWidth,
      drawn: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
      natural: Number.parseFloat(f.querySelector('svg')?.getAttribute('width') ?? '0'),
    }));
    expect(sizes.overflow).toBe(0);
    // Graphviz gives the width in points: drawn at 4/3 px a point, i.e. not shrunk.
    expect(sizes.drawn).toBeCloseTo((sizes.natural * 4) / 3, 0);
    expect(await page.locator('details.full-size').count()).toBe(0);
    await page.close();
  });

  it('draws each firm × product quantity as its own panel', async () => {
    const page = await open();
    const panels = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const svg = doc.querySelectorAll('#series figure.chart > svg')[3];
      // Vega draws the facet cells as the items of one `cell` group, one per firm × product.
      return [...(svg?.querySelectorAll('g.cell > g') ?? [])].length;
    });
    expect(panels).toBe(4);
    await page.close();
  });

  it('colours distinct states distinctly, the timeline and the state table alike', async () => {
    const page = await open();
    const legend = await page.evaluate(() => {
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const svg = doc.querySelector('#timeline figure.chart svg');
      const labels = [...(svg?.querySelectorAll('.role-legend-label text') ?? [])].map(
        (t) => t.textContent ?? '',
      );
      const fills = [...(svg?.querySelectorAll('.role-legend-symbol path') ?? [])].map(
        (p) => p.getAttribute('fill') ?? '',
      );
      return { labels, fills };
    });
    expect(legend.labels).toEqual(states);
    expect(new Set(legend.fills.map((f) => f.toLowerCase())).size).toBe(states.length);
    // Not merely distinct: far apart. The shades of orange this replaced came within
    // ΔE 27 of each other; Okabe–Ito's five here are at least ΔE 56 apart.
    for (const [i, a] of legend.fills.entries())
      for (const b of legend.fills.slice(i + 1)) expect(deltaE(a, b)).toBeGreaterThan(40);
    const swatches = await page
      .locator('#institution table tbody tr th .swatch')
      .evaluateAll((spans) =>
        spans.map((s) => (s as unknown as PageElement).style.backgroundColor),
      );
    const rgb = (hex: string) =>
      `rgb(${[1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
    expect(swatches).toEqual(legend.fills.map(rgb));
    await page.close();
  });

  it('summarises the sanctions, lists them behind a toggle and writes them all to sanctions.csv', async () => {
    const page = await open();
    const summary = page.locator('table.sanction-summary');
    const bodyRows = await summary.locator('tbody tr').count();
    expect(bodyRows).toBeLessThanOrEqual(2 * states.length);
    // The first row: the first sanction's firm, kind and state, counted over all such sanctions.
    const head = sanctions[0] as (typeof sanctions)[number];
    const alike = sanctions.filter(
      (s) => s.firm === head.firm && s.sanction === head.sanction && s.state === head.state,
    );
    const first = await summary.locator('tbody tr').first().locator('td').allTextContents();
    expect(first.slice(0, 5)).toEqual([
      head.firm,
      head.sanction,
      head.state,
      alike.length.toLocaleString('en-US'),
      String(head.round),
    ]);
    // The footer totals each kind: fines first.
    const total = await summary.locator('tfoot tr').first().locator('td').first().textContent();
    const fines = sanctions.filter((s) => s.sanction === 'fine');
    expect(total).toBe(fines.length.toLocaleString('en-US'));

    // The list is closed until asked for, and then shows the first 500.
    const list = page.locator('details.sanction-list table.sanctions');
    expect(await list.isVisible()).toBe(false);
    await page.locator('details.sanction-list summary').click();
    expect(await list.isVisible()).toBe(true);
    expect(await list.locator('tbody tr').count()).toBe(500);

    const link = page.locator('details.sanction-list a');
    expect(await link.getAttribute('href')).toBe('sanctions.csv');
    const csv = readFileSync(join(dir, 'sanctions.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('round,firm,state,kind,timing,amount');
    expect(csv.slice(1, -1)).toHaveLength(sanctions.length);
    expect(csv.slice(1, -1).map((l) => Number(l.split(',')[5]))).toEqual(
      sanctions.map((s) => s.amount),
    );
    await page.close();
  });
});

describe('a diagram wider than the page', () => {
  it('is shrunk to fit, says by how much, and offers it at full size', () => {
    const svg = (width: string) => {
      const made = inlineSvg(
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="100pt"></svg>`,
      );
      if (!('markup' in made)) throw new Error(made.problem);
      return made.markup;
    };
    const text = diagramFigure(svg('1900pt'), 'The institution.').toString();
    // 1900 pt = 2533 px against a 950 px column: 37%.
    expect(text).toContain('Shrunk to fit the page (about 37% of its size at the widest page)');
    expect(text).toContain(
      '<details class="full-size"><summary>Show at full size</summary></details>',
    );
    expect(diagramFigure(svg('500pt'), 'The institution.').toString()).not.toContain('full-size');
  });
});

describe('report.html of a run whose messages carry payloads and lineage', () => {
  let scratch: ReturnType<typeof reportScratch>;
  let dir: string;
  let text: string;
  let browser: Browser;
  // Each firm says one payload a round and names as parent what the other said last round;
  // the last texts end in a backslash and hold Graphviz escapes (\\N, \\G), which must stay text.
  // A terminal escape and a line break, last, are drawn as control pictures.
  const PAYLOADS = [
    SCRIPT,
    IMG,
    SVG,
    '<b>bold</b>',
    'C:\\path\\ \\N \\G \\',
    'red\u001b[31m\nline',
  ];

  beforeAll(async () => {
    scratch = reportScratch('mase-report-talk-');
    dir = join(scratch.root, 'run');
    const library = stdlibSources();
    const compilation = compileSources([], library, { includeLibrary: true });
    const experiment = resolveExperiment(
      compilation.program,
      {
        market: 'cournot_2x2',
        institution: 'none',
        agents: 'nash',
        params: [],
        rounds: PAYLOADS.length,
        seed: 1,
        talk: { name: 'complete', args: [] },
      },
      () => ({ all: { name: 'nash', args: [] }, perFirm: {} }),
      library,
    );
    // The run's files, then its trace again with talking firms that play the same actions
    // (scripted firms say nothing; the report is read from the files, as after an LLM run).
    await runToDirectory(experiment, dir);
    const talker = (firm: number): Agent => ({
      policy: 'nash',
      decide: (o) => {
        const P = o.market.dims.products;
        return Float64Array.from(o.benchmarks.nash.action.subarray(firm * P, (firm + 1) * P));
      },
      talk: (turn) => {
        const round = turn.observation.round;
        const said = `f${firm + 1}: ${PAYLOADS[round - 1]}`;
        return [
          {
            to: turn.neighbours,
            text: said,
            ...(round > 1 ? { parents: [`m${round - 1}.1.${2 - firm}`] } : {}),
          },
        ];
      },
    });
    const events: TraceEvent[] = [];
    await runExperiment(experiment, { onEvent: (e) => events.push(e), agentFor: talker });
    expect(events.filter((e) => e.type === 'message' && e.parents)).toHaveLength(
      2 * (PAYLOADS.length - 1),
    );
    writeFileSync(
      join(dir, 'events.jsonl'),
      `${events.map((e) => JSON.stringify(e)).join('\n')}\n`,
    );
    text = readFileSync(await writeRunReport(dir), 'utf8');
    browser = await scratch.browser();
  }, 120_000);

  afterAll(async () => {
    await scratch?.close();
  });

  it('colours each message by its chrF to its origin: 1 for an origin, lower as it drifts', () => {
    const messages = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')).filter(
      (e) => e.type === 'message',
    );
    const scores = lineageScores(messages);
    expect(scores).toHaveLength(2 * PAYLOADS.length);
    // Round 1's messages are the origins; f1's round-2 message derives from f2's round-1 one.
    expect(scores.slice(0, 2).map((s) => s.similarity)).toEqual([1, 1]);
    expect(scores[2]?.message.id).toBe('m2.1.1');
    expect(scores[2]?.origin.id).toBe('m1.1.2');
    expect(scores[2]?.similarity).toBeGreaterThan(0);
    expect(scores[2]?.similarity).toBeLessThan(1);
    expect(LINEAGE_BINS.map((b) => [b.from, b.to])).toEqual([
      [0, 0.2],
      [0.2, 0.4],
      [0.4, 0.6],
      [0.6, 0.8],
      [0.8, 1],
    ]);
  });

  it('gives the same tooltips with the system `dot` and the wasm build', async () => {
    const messages = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')).filter(
      (e) => e.type === 'message',
    );
    const titles = async (preferWasm: boolean) =>
      [...String(await lineageFigure(messages, preferWasm)).matchAll(/xlink:title="([^"]*)"/g)].map(
        (m) => m[1],
      );
    const wasm = await titles(true);
    expect(wasm).toHaveLength(2 * PAYLOADS.length);
    expect(wasm.join('\n')).toContain('“f1: C:\\path\\ \\N \\G \\”');
    expect(await titles(false)).toEqual(wasm);
  });

  it('writes no payload as markup', () => {
    expect(text).not.toMatch(/<script|<img|<iframe|<link|<object|<embed|<svg onload/i);
    expect(text).toContain('<h3>Lineage</h3>');
  });

  it('runs nothing, loads nothing, and shows the lineage and the payloads as text in Chromium', async () => {
    const page = await openInert(browser, join(dir, 'report.html'));
    // Talk networks and lineage: two drawings in the talk section (the page has no institution).
    const lineage = page.locator('#messages figure.diagram svg').nth(1);
    expect(await page.locator('#messages figure.diagram svg').count()).toBe(2);
    // One node per message, one edge per parent.
    expect(await lineage.locator('g.node').count()).toBe(2 * PAYLOADS.length);
    expect(await lineage.locator('g.edge').count()).toBe(2 * (PAYLOADS.length - 1));
    expect(await lineage.textContent()).toContain('f1 2.1');
    // The tooltips hold the texts, quoted, as text.
    const titles = await lineage
      .locator('a')
      .evaluateAll((as) =>
        as.map((a) => (a as unknown as PageElement).getAttribute('xlink:title') ?? ''),
      );
    expect(titles).toContain(`m1.1.1 f1 → f2: “f1: ${SCRIPT}” — chrF to m1.1.1 1.00`);
    expect(titles.join('\n')).toContain(`“f2: ${SVG}”`);
    expect(titles.join('\n')).toContain(`“f1: ${PAYLOADS[4]}”`);
    expect(titles.join('\n')).toContain('“f2: red\u241b[31m\u240aline”');
    // The message table: id and parents, the payloads as text.
    const row = page.locator('#messages table').last().locator('tbody tr').nth(2);
    expect(await row.locator('td').allTextContents()).toEqual([
      'm2.1.1',
      '2',
      '1',
      'f1',
      'f2',
      'm1.1.2',
      `f1: ${IMG}`,
    ]);
    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, and the rendered text is the point
    const visible = await page.locator('#messages').innerText();
    for (const payload of PAYLOADS.slice(0, 5)) expect(visible).toContain(payload);
    expect(visible).toContain('chrF (character n-gram F-score');
    await page.close();
  });
});
