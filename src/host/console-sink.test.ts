import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { consoleSink } from './console-sink.js';

const enc = (s: string) => new TextEncoder().encode(s);
const capture = () => {
  const chunks: string[] = [];
  return {
    chunks,
    write: (c: Uint8Array | string) => chunks.push(typeof c === 'string' ? c : new TextDecoder().decode(c)),
  };
};

test('prefix mode: whole lines, each led by the domain name, partial lines held', async () => {
  const out = capture();
  const a = consoleSink('prefix', 'web', out);
  const b = consoleSink('prefix', 'db', out);
  a.write(enc('booting'));
  b.write(enc('db ready\nlisten'));
  a.write(enc(' done\nlogin: '));
  assert.deepEqual(out.chunks, ['db| db ready\n', 'web| booting done\n']);
  await a.close();
  await b.close();
  assert.deepEqual(out.chunks.slice(2), ['web| login: \n', 'db| listen\n']);
});

test('stdio passes bytes through; none drops them', () => {
  const out = capture();
  consoleSink('stdio', 'x', out).write(enc('raw\r\n'));
  consoleSink('none', 'x', out).write(enc('gone'));
  assert.deepEqual(out.chunks, ['raw\r\n']);
});

test('file mode appends to the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-con-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'vm.log');
  for (const text of ['first\n', 'second\n']) {
    const s = consoleSink({ file: path }, 'vm', capture());
    s.write(enc(text));
    await s.close();
  }
  assert.equal(readFileSync(path, 'utf8'), 'first\nsecond\n');
});
