import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlPlane } from '../api/control.js';
import type { DomainInfo } from '../api/domain.js';
import { FakeDomainManager } from '../api/fake-domain.js';
import { silentLogger } from '../host/logger.js';
import { DOMAIN_LIST_FILE, domainListText, persistDomainList } from './domain-list.js';
import { fileSnapshotStore } from './local.js';

const info = (id: number, state = 'running', memory = '64M'): DomainInfo =>
  ({
    id,
    name: `d${id}`,
    state,
    startedAt: '2026-01-01T00:00:00.000Z',
    config: { name: `d${id}`, kernel: '/k', memory, devices: [{ kind: 'blk', path: '/x' }] },
  }) as unknown as DomainInfo;

test('the domain list is a config file with each domain commented', () => {
  assert.equal(
    domainListText([info(1), info(2, 'paused')], new Date(0)),
    [
      '# The domains of a pvm daemon at 1970-01-01T00:00:00.000Z; `pvm create THIS-FILE` creates them again.',
      'domains:',
      '  # d1: running (id 1, started 2026-01-01T00:00:00.000Z)',
      '  - name: d1',
      '    kernel: /k',
      '    memory: 64M',
      '    devices:',
      '      - kind: blk',
      '        path: /x',
      '  # d2: paused (id 2, started 2026-01-01T00:00:00.000Z)',
      '  - name: d2',
      '    kernel: /k',
      '    memory: 64M',
      '    devices:',
      '      - kind: blk',
      '        path: /x',
      '',
    ].join('\n'),
  );
});

test('with a cache, the text is what it would be without one after states, configs and domains change', () => {
  const cache = new Map();
  const now = new Date(0);
  let list = [info(1), info(2), info(3)];
  assert.equal(domainListText(list, now, cache), domainListText(list, now));
  list = [info(1, 'paused'), info(3, 'running', '128M'), info(4)];
  assert.equal(domainListText(list, now, cache), domainListText(list, now));
  assert.deepEqual([...cache.keys()].sort(), [1, 3, 4], 'a removed domain leaves the cache');
});

/** A fake manager that counts the infos asked of each domain. */
class CountingManager extends FakeDomainManager {
  readonly asked = new Map<number, number>();
  override info(id: number): DomainInfo {
    this.asked.set(id, (this.asked.get(id) ?? 0) + 1);
    return super.info(id);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok` (writes are spaced by their own duration, so how long is not known). */
async function until(what: string, ok: () => boolean): Promise<void> {
  for (let k = 0; !ok(); k++) {
    if (k > 500) assert.fail(`not within 10 s: ${what}`);
    await sleep(20);
  }
}

const listed = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

test('the list on disk asks each domain for its info a fixed number of times, not once per later domain', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-list-'));
  const manager = new CountingManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore });
  const stop = persistDomainList(control, dir, silentLogger());
  try {
    const file = join(dir, DOMAIN_LIST_FILE);
    for (let i = 1; i <= 40; i++) {
      await control.create({ name: `d${i}`, memory: '16M' });
      await until(`d${i} listed`, () => listed(file).includes(`# d${i}: running`));
    }
    assert.equal(listed(file).match(/^ {2}# d\d+: running/gm)?.length, 40);
    // One for the create's answer, one for the list: the same for the first domain as the last.
    assert.equal(manager.asked.get(1), 2);
    assert.equal(manager.asked.get(40), 2);
  } finally {
    stop();
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the list on disk follows a sched change, and a change still waiting is written at stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-list-'));
  const manager = new FakeDomainManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore });
  const file = join(dir, DOMAIN_LIST_FILE);
  const stop = persistDomainList(control, dir, silentLogger());
  try {
    await control.create({ name: 'web', memory: '16M' });
    await until('web listed', () => listed(file).includes('# web: running'));
    assert.doesNotMatch(listed(file), /weight/);
    await control.execute({ kind: 'sched', domain: 'web', weight: 512 });
    await until('the weight listed', () => /^ {4}weight: 512$/m.test(listed(file)));
    const paused = manager.pause(control.resolve('web').id); // its event comes at once
    stop(); // before the write it asked for has run
    await paused;
    assert.match(readFileSync(file, 'utf8'), /^ {2}# web: paused/m);
    await control.destroy('web');
    await sleep(50);
    assert.ok(existsSync(file), 'nothing is written after stop');
  } finally {
    stop();
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
