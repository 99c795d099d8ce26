/**
 * Debian's Chromium as the benchmarks and the browser tests launch it: playwright-core drives
 * /usr/bin/chromium (no browser download), headless, with the flags that keep it from reaching
 * out to the network.
 */
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
