/**
 * Debian's Chromium as the benchmarks and the browser tests launch it: playwright-core drives
 * /usr/bin/chromium (no browser download), headless, with the flags that keep it from reaching
 * out to the network.
 */
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Debian's Chromium, headless, on the profile directory `profile`. CSP is bypassed: the callers
 * wait on page expressions, which CSP would refuse as eval.
 */
export function chromiumContext(
  profile: string,
  options: Parameters<typeof chromium.launchPersistentContext>[1] = {},
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    bypassCSP: true,
    args: [...CHROMIUM_ARGS],
    ...options,
  });
}
