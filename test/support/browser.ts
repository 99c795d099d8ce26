/**
 * Real Chromium for the browser tests: Debian's `chromium` package driven by playwright-core
 * (no browser download). Each launch gets a fresh profile; the flags keep a headless browser
 * from reaching out to the network. A missing browser fails the test, with the package to install.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, chromiumContext } from '../../bench/chromium.js';

export const root = join(fileURLToPath(import.meta.url), '../../../..');
/** Where the tests put their screenshots (linked from docs/web.md). */
export const SCREENSHOTS = join(root, 'docs/web');

export interface Browser {
  readonly context: BrowserContext;
  page(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package`);
  const profile = mkdtempSync(join(tmpdir(), 'pvm-chromium-'));
  // CSP is bypassed (chromiumContext): the XSS test proves the escaping alone, without the CSP.
  const context = await chromiumContext(profile, { viewport: { width: 1400, height: 900 } });
  return {
    context,
    page: async () => {
      const p = await context.newPage();
      // What the page logs goes to the test's output: a failing browser test says why.
      p.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      return p;
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot of `page` as docs/web/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The built static files (npm run build); their absence is a loud failure. */
export function built(dir: 'dashboard' | 'web'): string {
  const p = join(root, 'dist', dir, 'index.html');
  assert.ok(existsSync(p), `${p} is missing: run npm run build`);
  return join(root, 'dist', dir);
}

/** Waits until the element `selector` contains `text` (or, with `exact`, is exactly it). */
export async function waitForText(
  page: Page,
  selector: string,
  text: string,
  options: { exact?: boolean; timeout?: number } = {},
): Promise<void> {
  const el = `document.querySelector(${JSON.stringify(selector)})?.textContent`;
  const cond = options.exact ? `${el} === ${JSON.stringify(text)}` : `(${el} ?? '').includes(${JSON.stringify(text)})`;
  await page.waitForFunction(cond, undefined, { timeout: options.timeout ?? 60_000 });
}

/** Waits until the page expression `expr` is true. */
export async function waitFor(page: Page, expr: string, timeout = 60_000): Promise<void> {
  await page.waitForFunction(expr, undefined, { timeout });
}
