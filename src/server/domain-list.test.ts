import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DomainInfo } from '../api/domain.js';
import { domainListText } from './domain-list.js';

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
