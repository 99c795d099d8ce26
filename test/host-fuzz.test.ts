/**
 * Bounded fuzz runs of the host-side targets (test/support/fuzz-host.ts): random requests to a
 * daemon's router, random config texts to the config loader. Every request gets a documented
 * status with a JSON error; every text a config or one usage error; the daemon still answers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { startTestDaemon, type TestDaemon } from './support/daemon.js';
import { checkConfigText, checkRouterAnswer, configTextArb, requestArb, send } from './support/fuzz-host.js';

let h: TestDaemon<FakeDomainManager>;
before(async () => {
  h = await startTestDaemon(new FakeDomainManager(), { prefix: 'pvm-fuzz-' });
});
after(() => h.close());

test('fuzz: the API router answers any request with a documented status and a JSON error', async () => {
  await fc.assert(
    fc.asyncProperty(requestArb, (r) => checkRouterAnswer(h.daemon.socketPath, r)),
    { numRuns: 400, seed: 0x14 },
  );
  const v = await send(h.daemon.socketPath, {
    method: 'GET',
    path: '/v1/version',
    query: null,
    contentType: '',
    body: undefined,
  });
  assert.equal(v.status, 200);
});

test('fuzz: the config loader gives a config or one usage error, for any JSON or YAML text', () => {
  fc.assert(fc.property(configTextArb, checkConfigText), { numRuns: 2000, seed: 0x14 });
});
