import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { consoleSink, fileSink, SharedTerminal } from './console-sink.js';

const enc = (s: string) => new TextEncoder().encode(s);
const capture = () => {
  const chunks: string[] = [];
  return {
    chunks,
    text: () => chunks.join(''),
    write: (c: Uint8Array | string) => chunks.push(typeof c === 'string' ? c : new TextDecoder().decode(c)),
  };
};

test('prefix mode: lines led by the domain name; a prompt shows at once; another domain starts a fresh line', async () => {
  const out = capture();
  const term = new SharedTerminal(out);
  const a = consoleSink('prefix', 'web', term);
  const b = consoleSink('prefix', 'db', term);
  a.write(enc('booting'));
  assert.equal(out.text(), 'web| booting', 'a partial line is not held back');
  a.write(enc(' done\nlogin: '));
  assert.equal(out.text(), 'web| booting done\nweb| login: ');
  b.write(enc('db ready\nlisten'));
  a.write(enc('root\n'));
  await a.close();
  await b.close();
  assert.equal(out.text(), 'web| booting done\nweb| login: \ndb| db ready\ndb| listen\nweb| root\n');
});

test('stdio passes bytes through; none drops them', () => {
  const out = capture();
  const term = new SharedTerminal(out);
  consoleSink('stdio', 'x', term).write(enc('raw\r\npvos> '));
  consoleSink('none', 'x', term).write(enc('gone'));
  assert.equal(out.text(), 'raw\r\npvos> ');
});

test('file mode appends to a regular file; a bad path is refused when the sink is made', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-con-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vm.log');
  for (const text of ['first\n', 'second\n']) {
    const s = consoleSink({ file: path }, 'vm', new SharedTerminal(capture()));
    s.write(enc(text));
    await s.close();
  }
  assert.equal(readFileSync(path, 'utf8'), 'first\nsecond\n');
  assert.throws(() => fileSink(join(dir, 'no/such/dir/x.log')), /cannot open console file .*: ENOENT/);
  mkdirSync(join(dir, 'd'));
  assert.throws(() => fileSink(join(dir, 'd')), /cannot open console file .*: EISDIR/);
  assert.throws(() => fileSink('/dev/null'), /cannot open console file \/dev\/null: not a regular file/);
});
