/**
 * pvm in a browser tab, in real Chromium: the static site (dist/web, served as `pvm web` does)
 * boots the embedded pvos in a Web Worker and its pvxtest passes; a snapshot the daemon saved
 * restores in the tab and goes on; a snapshot the tab saved (a download) restores in the
 * daemon; Linux runs its second hart in a Web Worker of its own (harts on threads), which a page
 * without cross-origin isolation refuses. Screenshots go to docs/web/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { startWebSite, type WebSite } from '../src/server/web-site.js';
import { type Browser, built, launchChromium, screenshot, waitFor, waitForText } from './support/browser.js';
import { collect, startTestDaemon, until } from './support/daemon.js';
import { initrd, kernel } from './support/linux-guest.js';

const OPENSBI = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';

/** Waits until the tab's terminal shows `text` (read through the page's pvmConsoleText). */
const consoleHas = (page: Page, text: string, timeout = 120_000) =>
  waitFor(page, `window.pvmConsoleText().includes(${JSON.stringify(text)})`, timeout);
const consoleText = (page: Page): Promise<string> => page.evaluate('window.pvmConsoleText()') as Promise<string>;
/** Boots the shared Linux Image and initramfs (served under /images) from the tab's form. */
async function bootSharedLinux(page: Page): Promise<void> {
  await page.check('input[name="guest"][value="kernel"]');
  await page.fill('#kernel-url', '/images/Image');
  await page.fill('#initrd-url', '/images/initramfs.cpio.gz');
  await page.fill('#cmdline', 'console=ttyS0 quiet');
  await page.fill('#memory', '128');
  await page.click('#boot');
}

describe('pvm in a tab', () => {
  let browser: Browser;
  let site: WebSite;
  let base: string;
  before(async () => {
    // The images a user would give by URL, served beside the site.
    site = await startWebSite({
      root: built('web'),
      port: 0,
      extra: { '/images/Image': kernel, '/images/initramfs.cpio.gz': initrd, '/images/fw_jump.bin': OPENSBI },
    });
    base = `http://127.0.0.1:${site.port}`;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });

  test('the site is served cross-origin isolated', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.equal((await fetch(`${base}/../../etc/passwd`)).status, 404);
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
    const page = await browser.page();
    await page.goto(`${base}/`);
    assert.equal(await page.evaluate('crossOriginIsolated'), true);
    await page.close();
  });

  test('boots the embedded pvos in a worker; pvxtest passes', async () => {
    const page = await browser.page();
    await page.goto(`${base}/?boot=pvos`);
    await consoleHas(page, 'pvos> ');
    assert.match(await consoleText(page), /^pvos: PVX 1\.0 present \(domain \d+, features 0x1ff\)$/m);
    await page.locator('#terminal').click();
    await page.keyboard.type('pvxtest\r');
    await consoleHas(page, 'pvxtest: 73 passed, 0 failed');
    await waitFor(page, "Number(document.querySelector('figure.chart')?.dataset.points) >= 2");
    await screenshot(page, 'tab-pvos');
    assert.equal(await page.locator('#state').textContent(), 'running');
    await page.close();
  });

  test('full mode: the same pvos on OpenSBI (fw_jump.bin by URL) finds no PVX and uses its native back ends', async () => {
    const page = await browser.page();
    await page.goto(`${base}/`);
    await page.selectOption('#mode', 'full');
    await page.fill('#firmware-url', '/images/fw_jump.bin');
    await page.click('#boot');
    await consoleHas(page, 'pvos> ');
    const text = await consoleText(page);
    assert.match(text, /OpenSBI/);
    assert.match(text, /^pvos: backends: native/m);
    await screenshot(page, 'tab-full-mode');
    await page.close();
  });

  test('compare: the same pvos in PV and full mode side by side, one chart with both', async () => {
    const page = await browser.page();
    await page.goto(`${base}/`);
    await page.check('#compare');
    await page.fill('#firmware-url', '/images/fw_jump.bin');
    await page.click('#boot');
    await consoleHas(page, 'pvos> ');
    await waitFor(page, "window.pvmConsoleText(1).includes('pvos> ')", 120_000);
    assert.match(await consoleText(page), /^pvos: backends: pvx 1\.0$/m);
    assert.match((await page.evaluate('window.pvmConsoleText(1)')) as string, /^pvos: backends: native$/m);
    await waitFor(page, "Number(document.querySelectorAll('figure.chart')[1]?.dataset.points) >= 4");
    const legend = (await page.locator('figure.chart').nth(1).textContent()) ?? '';
    assert.match(legend, /pv hypercall/);
    assert.match(legend, /full mmio:/);
    await screenshot(page, 'tab-compare');
    await page.close();
  });

  test('Linux from the shared Image and initramfs (by URL) reaches its init', async () => {
    const page = await browser.page();
    await page.goto(`${base}/`);
    await bootSharedLinux(page);
    await consoleHas(page, 'pvm-guest: init ready', 600_000);
    await screenshot(page, 'tab-linux');
    await page.close();
  });

  test('Linux with 2 vCPUs and harts on threads: hart 1 runs in a Web Worker of its own', async () => {
    const page = await browser.page();
    // ?smp and ?threads preset the machine; the guest comes from the form
    await page.goto(`${base}/?smp=2&threads=1`);
    assert.equal(await page.locator('#threads').isChecked(), true);
    await bootSharedLinux(page);
    // the whole line: the console may hold only its start when 'init ready' first shows
    await waitFor(page, '/pvm-guest: init ready \\([^,]+, \\d+ cpu\\)/.test(window.pvmConsoleText())', 600_000);
    assert.match(await consoleText(page), /pvm-guest: init ready \([^,]+, 2 cpu\)/);
    const s = (await page.evaluate('window.pvmStats()')) as {
      instructions: number;
      hypercalls: Record<string, number>;
      threads?: { hart: number; state: string; pc: string; instret: number }[];
    };
    assert.equal(s.hypercalls['HSM/hart_start'], 1);
    assert.equal(s.threads?.length, 1, JSON.stringify(s.threads));
    const t = s.threads[0]!;
    assert.equal(t.hart, 1);
    assert.ok(['stopped', 'running', 'waiting', 'request'].includes(t.state), JSON.stringify(t));
    // after init ready hart 1 may be in the kernel or in a user process (seen: 0xea6c4)
    assert.match(t.pc, /^0x[0-9a-f]+$/);
    // hart 1 retired its share on its own thread; the domain's count includes it
    assert.ok(t.instret > 1_000_000, JSON.stringify(t));
    assert.ok(s.instructions > t.instret, JSON.stringify(s));
    await waitFor(page, "document.querySelector('#harts').textContent.startsWith('hart 1 (own thread): ')");
    await screenshot(page, 'tab-threads');
    // a save holds hart 1 on its worker and collects its state with hart 0's (a download); the
    // guest runs on
    const download = page.waitForEvent('download');
    await page.click('#save');
    await download;
    // Pause holds hart 1 on its worker with hart 0, their clock stopped; after Resume the shell
    // answers (with hart 1's clock left ahead of hart 0's by the pause, hart 0 spun for ever)
    await page.click('#pause');
    await waitForText(page, '#state', 'paused', { exact: true });
    const held = ((await page.evaluate('window.pvmStats()')) as typeof s).threads?.[0]?.state;
    assert.equal(held, 'held');
    await new Promise((r) => setTimeout(r, 2000));
    await page.click('#resume');
    await waitForText(page, '#state', 'running', { exact: true });
    await page.locator('#terminal').click();
    await page.keyboard.type('echo on-$((6*7))\r');
    await consoleHas(page, 'on-42');
    assert.equal(await page.locator('#state').textContent(), 'running');
    // a reboot parks hart 1 on its worker, reloads RAM, and the guest starts it again
    await page.keyboard.type('reboot -f\r');
    await waitFor(
      page,
      'window.pvmConsoleText().split(/pvm-guest: init ready \\([^,]+, \\d+ cpu\\)/).length === 3',
      600_000,
    );
    assert.match(await consoleText(page), /reboot: Restarting system[\s\S]*pvm-guest: init ready \([^,]+, 2 cpu\)/);
    const s2 = (await page.evaluate('window.pvmStats()')) as typeof s;
    assert.equal(s2.hypercalls['HSM/hart_start'], 2);
    assert.equal(s2.threads?.[0]?.hart, 1);
    await page.close();
  });

  test('pvos on 2 vCPUs with harts on threads (?boot=pvos&smp=2&threads=1): pvxtest passes', async () => {
    const page = await browser.page();
    await page.goto(`${base}/?boot=pvos&smp=2&threads=1`);
    await consoleHas(page, 'pvos> ');
    await page.locator('#terminal').click();
    await page.keyboard.type('pvxtest\r');
    await consoleHas(page, 'pvxtest: 73 passed, 0 failed');
    const s = (await page.evaluate('window.pvmStats()')) as {
      hypercalls: Record<string, number>;
      threads?: { hart: number }[];
    };
    assert.equal(s.hypercalls['HSM/hart_start'], 1);
    assert.deepEqual(
      s.threads?.map((t) => t.hart),
      [1],
    );
    await page.close();
  });

  test('harts on threads are refused, with the reason, where they cannot run', async () => {
    const page = await browser.page();
    // (an ?smp out of range is ignored: the field keeps its 1)
    await page.goto(`${base}/?boot=pvos&smp=9&threads=1`);
    await waitForText(page, '#error', 'harts on threads need 2 or more vCPUs');
    assert.equal(await page.locator('#smp').inputValue(), '1');
    await page.fill('#smp', '2');
    await page.selectOption('#mode', 'full');
    await page.click('#boot');
    await waitForText(page, '#error', 'harts on threads run in PV mode only (not full mode, not compared)');
    assert.equal(await page.locator('#state').textContent(), 'stopped');
    assert.equal(await page.locator('#state').textContent(), 'stopped');
    // The same site without its COOP/COEP headers: no shared memory, so no threads; said at once.
    const plain = await browser.page();
    await plain.route('**/*', async (route) => {
      const res = await route.fetch();
      const headers = { ...res.headers() };
      delete headers['cross-origin-opener-policy'];
      delete headers['cross-origin-embedder-policy'];
      await route.fulfill({ response: res, headers });
    });
    await plain.goto(`${base}/?boot=pvos&smp=2&threads=1`);
    assert.equal(await plain.evaluate('crossOriginIsolated'), false);
    await waitForText(plain, '#error', 'harts on threads need a cross-origin isolated page');
    assert.equal(await plain.locator('#state').textContent(), 'stopped');
    // without threads the same page still boots pvos on one worker
    await plain.uncheck('#threads');
    await plain.click('#boot');
    await consoleHas(plain, 'pvos> ');
    await plain.close();
    // A browser without Atomics.waitAsync (the owner's wake-up when a hart asks it) is refused too.
    const old = await browser.page();
    await old.addInitScript('delete Atomics.waitAsync');
    await old.goto(`${base}/?boot=pvos&smp=2&threads=1`);
    await waitForText(old, '#error', 'harts on threads need Atomics.waitAsync, which this browser lacks');
    assert.equal(await old.locator('#state').textContent(), 'stopped');
    await old.close();
    await page.close();
  });

  test("a hart's worker that does not start ends its domain with the reason", async () => {
    // (the same site without hart-worker.js: a stale or partial deployment)
    const broken = await startWebSite({ root: built('web'), port: 0, extra: { '/hart-worker.js': '/nonexistent' } });
    const page = await browser.page();
    try {
      await page.goto(`http://127.0.0.1:${broken.port}/?boot=pvos&smp=2&threads=1`);
      await waitForText(page, '#state', "crashed (hart 1's thread ended: the hart worker did not start (code 1))", {
        exact: true,
      });
    } finally {
      await page.close();
      await broken.close();
    }
  });

  test('a snapshot saved by the daemon restores in the tab, and one saved in the tab restores in the daemon', async () => {
    const h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-tab-' });
    try {
      // The daemon runs pvos to its prompt, leaves a mark on the screen, and saves it.
      await h.client.create({ name: 'moved', memory: '64M' });
      const con = await h.client.attachConsole('moved', { write: true });
      const out = collect(con);
      await until('the prompt', () => out.text().includes('pvos> '), 24_000);
      con.write('ticks\r');
      await until(
        'ticks answered',
        () => /ticks: \d+/.test(out.text()) || out.text().split('pvos> ').length > 2,
        24_000,
      );
      con.destroy();
      const file = join(h.dir, 'moved.pvmsnap');
      await h.client.save('moved', file);

      const page = await browser.page();
      await page.goto(`${base}/`);
      // A file that is not a save file is refused with the decoder's message; nothing runs.
      await page.setInputFiles('#restore-file', {
        name: 'junk.pvmsnap',
        mimeType: 'application/octet-stream',
        buffer: Buffer.from('#!/bin/sh\necho not a snapshot, but long enough for a header\n'),
      });
      await waitFor(page, "document.querySelector('#error').textContent.includes('bad magic')");
      assert.equal(await page.locator('#state').textContent(), 'stopped');
      await page.setInputFiles('#restore-file', file);
      await waitFor(page, "document.querySelector('#state').textContent === 'paused'");
      await page.click('#resume');
      await waitFor(page, "document.querySelector('#state').textContent === 'running'");
      await page.locator('#terminal').click();
      await page.keyboard.type('pvxtest\r');
      await consoleHas(page, 'pvxtest: 73 passed, 0 failed');
      await screenshot(page, 'tab-restored');

      // The tab saves (a download); the daemon restores that file and the guest answers there.
      const download = page.waitForEvent('download');
      await page.click('#save');
      const saved = join(h.dir, 'from-tab.pvmsnap');
      await (await download).saveAs(saved);
      assert.equal(Buffer.from(readFileSync(saved).subarray(0, 8)).toString('latin1').length, 8);
      const back = await h.client.restore(saved, { name: 'back' });
      assert.equal(back.state, 'running');
      const con2 = await h.client.attachConsole('back', { write: true });
      const out2 = collect(con2);
      con2.write('pvxtest\r');
      await until('pvxtest in the daemon', () => out2.text().includes('pvxtest: 73 passed, 0 failed'), 24_000);
      con2.destroy();
      await page.close();
    } finally {
      await h.close();
    }
  });
});
