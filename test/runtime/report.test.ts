import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSources, renderDiagnostics } from '../../compiler/index.js';
import {
  bucketSize,
  downsample,
  lineChartSpec,
  MAX_POINTS,
  renderChart,
  stateSegments,
} from '../../runtime/report/charts.js';
import { escapeHtml, html, inlineSvg, svgProblem } from '../../runtime/report/html.js';
import { ReportError, writeRunReport } from '../../runtime/report/run-report.js';
import { runToDirectory } from '../../runtime/run/artifacts.js';
import { resolveExperiment } from '../../runtime/run/resolve.js';
import { stdlibSources } from '../../runtime/sources.js';
import { parseTrace } from '../../runtime/trace/events.js';

// Text that would run code if a page ever wrote it as markup.
const SCRIPT = '<script>window.__pwned=1</script>';
const IMG = '<img src=x onerror="window.__pwned=2">';
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

const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
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
  it('keeps every round up to the limit and buckets beyond it', () => {
    expect(bucketSize(MAX_POINTS)).toBe(1);
    expect(bucketSize(MAX_POINTS + 1)).toBe(2);
    expect(bucketSize(10_000)).toBe(5);
    const rounds = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const { points } = downsample(
      rounds,
      rounds.map((r) => (r % 2 === 0 ? 10 : 0)),
      bucketSize(rounds.length),
    );
    expect(points.length).toBe(2000);
    // Means, not samples: a series flickering 0/10 draws near 5 (buckets of 5 rounds).
    expect(points[0]).toEqual({ round: 3, value: 4 });
    expect(points.every((p) => p.value >= 4 && p.value <= 6)).toBe(true);
  });

  it('skips values that are not numbers', () => {
    expect(downsample([1, 2, 3, 4], [1, null, Number.NaN, 3], 2).points).toEqual([
      { round: 1, value: 1 },
      { round: 4, value: 3 },
    ]);
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
    expect(segments.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(segments.filter((s) => s.firm === 'f2')).toEqual([
      { firm: 'f2', state: 'active', first: 1, last: 10_000 },
    ]);
  });
});

describe('report.html', () => {
  const home = mkdtempSync(join(tmpdir(), 'mase-home-'));
  const root = mkdtempSync(join(tmpdir(), 'mase-report-'));
  const dir = join(root, 'run');
  const previousHome = process.env.MASE_HOME;
  let browser: Browser;
  let text: string;
  let sanctions: number;

  beforeAll(async () => {
    process.env.MASE_HOME = home;
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
    browser = await chromium.launch(LAUNCH);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (previousHome === undefined) delete process.env.MASE_HOME;
    else process.env.MASE_HOME = previousHome;
    rmSync(root, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
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
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(join(dir, 'report.html')).href;
    await page.goto(url, { waitUntil: 'load' });

    // globalThis is the page's window: the function runs in the browser.
    expect(
      await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned),
    ).toBeUndefined();
    expect(await page.locator('script').count()).toBe(0);
    expect(requests).toEqual([url]);

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

    // Diagram, three series and the state timeline.
    expect(await page.locator('figure.diagram svg').count()).toBe(1);
    expect(await page.locator('figure.chart > svg').count()).toBe(4);
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
