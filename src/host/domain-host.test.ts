import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeDomainHost } from './domain-host.js';

test('idle sleeps until its timeout, or until wake(); a wake before idle makes the next idle return at once', async () => {
  const h = new NodeDomainHost(() => {});
  let t = h.nowMs();
  await h.idle(20);
  assert.ok(h.nowMs() - t >= 15);
  t = h.nowMs();
  const p = h.idle(10_000);
  setTimeout(() => h.wake(), 5);
  await p;
  assert.ok(h.nowMs() - t < 5_000);
  h.wake();
  t = h.nowMs();
  await h.idle(10_000);
  assert.ok(h.nowMs() - t < 5_000);
});

test('console output is buffered and flushed in order on yield, idle and flush', async () => {
  const chunks: string[] = [];
  const h = new NodeDomainHost((b) => chunks.push(new TextDecoder().decode(b)));
  h.consoleOut(new TextEncoder().encode('ab'));
  h.consoleOut(new TextEncoder().encode('c'));
  assert.deepEqual(chunks, []);
  await h.yield();
  assert.deepEqual(chunks, ['abc']);
  h.consoleOut(new TextEncoder().encode('d'));
  await h.idle(1);
  h.consoleOut(new TextEncoder().encode('e'));
  h.flush();
  h.flush();
  assert.deepEqual(chunks, ['abc', 'd', 'e']);
  assert.ok(h.cpuMs() > 0);
});
