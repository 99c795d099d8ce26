import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { toDocument } from '../api/spec.js';
import { addDomainFlags, type DomainFlags, domainFlagsSet, specFromFlags } from './domain-flags.js';

/** The flags commander hands over for `argv`. */
function parse(argv: string[]): DomainFlags {
  const cmd = addDomainFlags(new Command('run').exitOverride());
  cmd.parse(argv, { from: 'user' });
  return cmd.opts<DomainFlags>();
}

test('--no-jit and --jit set the spec field; neither leaves it to the default', () => {
  assert.equal(specFromFlags(parse(['--no-jit']), { cwd: '/' }).jit, false);
  assert.equal(specFromFlags(parse(['--jit']), { cwd: '/' }).jit, true);
  const none = parse([]);
  assert.equal(specFromFlags(none, { cwd: '/' }).jit, undefined);
  assert.deepEqual(domainFlagsSet(none), []); // a config-file run accepts no flags: jit must not look set
  assert.deepEqual(domainFlagsSet(parse(['--no-jit'])), ['jit']);
});

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
