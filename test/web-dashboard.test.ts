/**
 * The daemon's dashboard in real Chromium: it lists a domain created through the API, its
 * console (xterm.js over the console WebSocket) answers typed input, pause and resume change
 * its state, the charts receive points, a refused config shows its errors at the field, and a
 * domain name that is HTML is shown as text. Screenshots go to docs/web/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { type Browser, built, launchChromium, screenshot, waitFor, waitForText } from './support/browser.js';
import { startTestDaemon } from './support/daemon.js';

const TOKEN = 'dashboard-token-0123456789';

async function signIn(page: Page, port: number): Promise<void> {
  await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
  await page.waitForSelector('#domains tbody tr');
}

const row = (page: Page, name: string) => page.locator(`#domains tr[data-domain="${name}"]`);

describe('the dashboard', () => {
  let browser: Browser;
  before(async () => {
    built('dashboard');
    browser = await launchChromium();
  });
  after(() => browser?.close());

  test('lists a domain created through the API; its console answers; pause and resume; charts', async () => {
    const h = await startTestDaemon(new HypervisorDomainManager(), { httpToken: TOKEN, prefix: 'pvm-dash-' });
    try {
      await h.client.create({ name: 'pvos1', memory: '64M' });
      const page = await browser.page();
      await signIn(page, h.daemon.http!.port);
      const r = row(page, 'pvos1');
      await r.waitFor();
      assert.equal(await r.locator('.state').textContent(), 'running');
      assert.equal(await r.locator('.mode').textContent(), 'pv');
      assert.equal(await r.locator('.vcpus').textContent(), '1');
      assert.equal(await r.locator('.memory').textContent(), '64 MiB');

      // The console: the pvos prompt, then a command typed into xterm.js.
      const rows = page.locator('#terminal .xterm-rows');
      await waitForText(page, '#terminal .xterm-rows', 'pvos>');
      await page.locator('#terminal').click();
      await page.keyboard.type('pvxtest\r');
      await waitForText(page, '#terminal .xterm-rows', 'pvxtest: 73 passed, 0 failed', { timeout: 120_000 });
      assert.match((await rows.textContent()) ?? '', /pvxtest: 73 passed, 0 failed/);

      // Charts: points arrive (stats are sampled every second).
      await waitFor(page, "Number(document.querySelector('figure.chart')?.dataset.points) >= 3");
      assert.ok((await page.locator('figure.chart canvas').count()) >= 4, 'four uPlot charts are drawn');
      await screenshot(page, 'dashboard');

      // Pause and resume from the page; the daemon agrees.
      await r.locator('button[data-action="pause"]').click();
      await waitForText(page, '#domains tr[data-domain="pvos1"] .state', 'paused', { exact: true });
      assert.equal((await h.client.info('pvos1')).state, 'paused');
      await r.locator('button[data-action="resume"]').click();
      await waitForText(page, '#domains tr[data-domain="pvos1"] .state', 'running', { exact: true });
      assert.equal((await h.client.info('pvos1')).state, 'running');
      await page.close();
    } finally {
      await h.close();
    }
  });

  test('create shows the schema errors at the field; HTML in names and output is text', async () => {
    const h = await startTestDaemon(new FakeDomainManager(), { httpToken: TOKEN, prefix: 'pvm-dash-' });
    try {
      // A name the daemon refuses: the page must not run it as HTML.
      const evil = '<img src=x onerror="window.__pwned=1">';
      await h.client.create({
        name: 'echo',
        kernel: 'fake',
        memory: '16M',
        append: 'fake.steps=1 fake.print=1',
      });
      const page = await browser.page();
      await signIn(page, h.daemon.http!.port);
      await row(page, 'echo').waitFor();

      await page.fill('#create-config', `name: web2\nmemory: lots\nsmp: 99\n`);
      await page.click('#create');
      await page.waitForSelector('#create-errors li');
      const errors = await page.locator('#create-errors li').allTextContents();
      assert.deepEqual(errors, [
        'line 2, memory: expected a size like 512M or 1G, got "lots"',
        'line 3, smp: expected 1 to 8 vCPUs, got 99',
      ]);
      assert.equal(await page.getAttribute('#create-config', 'aria-invalid'), 'true');

      // The daemon refuses a name that is HTML, at its field.
      await page.fill('#create-config', JSON.stringify({ name: evil, kernel: 'fake' }));
      await page.click('#create');
      await waitForText(page, '#create-errors li', 'line 1, name: expected up to 63 letters');

      // Guest output that is HTML (the fake guest echoes what is typed) reaches the terminal as characters.
      await page.locator('#terminal').click();
      await page.keyboard.type(`${evil}\r`);
      await waitForText(page, '#terminal .xterm-rows', evil);
      // Whatever the daemon answers (were a name like this ever accepted), the list shows text.
      await page.route('**/v1/domains', (route) =>
        route.fulfill({
          json: [{ id: 9, name: evil, state: evil, mode: evil, vcpus: 1, memoryBytes: 1, startedAt: evil }],
        }),
      );
      await waitForText(page, '#domains td.name', evil, { exact: true });
      assert.equal(await page.locator('#domains td.state').textContent(), evil);
      assert.equal(await page.locator('#chart-scope option').nth(1).textContent(), evil);
      assert.equal(await page.locator('img').count(), 0, 'no element was made from the strings');
      assert.equal(await page.evaluate('window.__pwned'), undefined);
      await screenshot(page, 'dashboard-errors');
      await page.close();
    } finally {
      await h.close();
    }
  });
});
