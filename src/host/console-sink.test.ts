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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('prefix mode: whole lines led by the domain name; a line split by another domain stays whole', async () => {
  const out = capture();
  const term = new SharedTerminal(out, 20);
  const a = consoleSink('prefix', 'web', term);
  const b = consoleSink('prefix', 'db', term);
  a.write(enc('booting'));
  assert.equal(out.text(), '', 'a partial line waits for the rest');
  b.write(enc('db ready\nlis'));
  a.write(enc(' done\nlogin'));
  b.write(enc('ten\n'));
  a.write(enc(': '));
  assert.equal(out.text(), 'db| db ready\nweb| booting done\ndb| listen\n');
  await sleep(60);
  assert.equal(out.text(), 'db| db ready\nweb| booting done\ndb| listen\nweb| login: ', 'a prompt shows once quiet');
  b.write(enc('tick\n'));
  a.write(enc('root\n'));
  b.write(enc('last'));
  await a.close();
  await b.close();
  assert.equal(
    out.text(),
    'db| db ready\nweb| booting done\ndb| listen\nweb| login: \ndb| tick\nweb| root\ndb| last\n',
    'output after a shown prompt starts a fresh line; close shows and ends a held line',
  );
});

test('prefix mode: the rest of a shown prompt continues its line when nobody wrote between', async () => {
  const out = capture();
  const term = new SharedTerminal(out, 20);
  const a = consoleSink('prefix', 'web', term);
  a.write(enc('login: '));
  await sleep(60);
  a.write(enc('root\nok\n'));
  assert.equal(out.text(), 'web| login: root\nweb| ok\n');
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
