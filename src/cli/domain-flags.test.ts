import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDocument } from '../api/spec.js';
import { specFromFlags } from './domain-flags.js';

test('--hypercalls: a comma-separated policy, checked and normalised like the spec field', () => {
  const spec = specFromFlags({ hypercalls: 'TIME, BASE,PVX/evtchn_send,TIME' }, { cwd: '/' });
  assert.deepEqual(spec.hypercalls, ['BASE', 'PVX/evtchn_send', 'TIME']);
  assert.deepEqual(toDocument(spec).hypercalls, ['BASE', 'PVX/evtchn_send', 'TIME']);
  assert.equal(specFromFlags({}, { cwd: '/' }).hypercalls, undefined, 'no flag: every call allowed');
  assert.throws(
    () => specFromFlags({ hypercalls: 'TIME,SRST/reboot' }, { cwd: '/' }),
    /--hypercalls: unknown SRST function "reboot" \(one of system_reset\)/,
  );
  assert.throws(
    () => specFromFlags({ hypercalls: 'TIME', mode: 'full' }, { cwd: '/' }),
    /--hypercalls: only with mode pv/,
  );
});
