import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { expect } from 'vitest';

/**
 * Viewing report pages in headless Chromium (playwright-core, /usr/bin/chromium): the text
 * that would run code if a page ever wrote it as markup, a scratch folder and browser per
 * describe block, and a check that a page ran nothing and fetched nothing.
 */

// Text that would run code if a page ever wrote it as markup.
export const SCRIPT = '<script>window.__pwned=1</script>';
export const IMG = '<img src=x onerror="window.__pwned=2">';
export const SVG = '"><svg onload="window.__pwned=3">';

// The few DOM members the in-page checks use (the tests compile without the DOM library).
export interface PageElement {
  readonly scrollWidth: number;
  readonly clientWidth: number;
  readonly textContent: string | null;
  readonly style: { readonly backgroundColor: string };
  getAttribute(name: string): string | null;
  getBoundingClientRect(): {
    readonly width: number;
    readonly height: number;
    readonly top: number;
    readonly left: number;
  };
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
export interface PageDocument extends PageElement {
  readonly documentElement: PageElement;
}

export const LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
};

/**
 * A scratch MASE_HOME (log keys) and run folder for one describe block, and a Chromium to
 * view its pages; `close` puts MASE_HOME back and removes both folders.
 */
export function reportScratch(prefix: string) {
  const home = mkdtempSync(join(tmpdir(), 'mase-home-'));
  const root = mkdtempSync(join(tmpdir(), prefix));
  const previousHome = process.env.MASE_HOME;
  process.env.MASE_HOME = home;
  let browser: Browser | undefined;
  return {
    home,
    root,
    async browser(): Promise<Browser> {
      browser ??= await chromium.launch(LAUNCH);
      return browser;
    },
    async close() {
      await browser?.close();
      if (previousHome === undefined) delete process.env.MASE_HOME;
      else process.env.MASE_HOME = previousHome;
      rmSync(root, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a report in Chromium and checks that it ran no payload, has no script and fetched
 * nothing but itself; the page is returned for the test's own checks.
 */
export async function openInert(browser: Browser, path: string) {
  const page = await browser.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const url = pathToFileURL(path).href;
  await page.goto(url, { waitUntil: 'load' });
  // globalThis is the page's window: the function runs in the browser.
  expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
  expect(await page.locator('script').count()).toBe(0);
  expect(requests).toEqual([url]);
  return page;
}
