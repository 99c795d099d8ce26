import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
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
