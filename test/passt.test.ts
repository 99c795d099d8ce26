/**
 * passt as a switch's uplink, in network namespaces the test creates: it starts and
 * answers (the uplink is plugged in), stops when asked, ends when the process that
 * started it is killed (no orphan), and a start that fails says why in one line.
 * The guest side (DHCP, wget, port forwards) is in user-net-linux.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { passtArgs } from '../src/host/passt.js';
import { root } from './support/linux-guest.js';
import { runInNetns } from './support/netns.js';

const child = join(root, 'dist/test/support/passt-child.js');
const json = (s: string) =>
  s
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('passt command line: --fd 3, the MAC, one option per forward, none for an unused protocol', () => {
  assert.deepEqual(passtArgs([], '52:55:0a:00:02:02'), [
    '--foreground',
    '--fd',
    '3',
    '--mac-addr',
    '52:55:0a:00:02:02',
    '--tcp-ports',
    'none',
    '--udp-ports',
    'none',
  ]);
  assert.deepEqual(
    passtArgs(
      [
        { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 },
        { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 8080, guestPort: 80 },
        { proto: 'udp', hostAddr: '::1', hostPort: 5353, guestPort: 53 },
      ],
      '52:55:0a:00:02:02',
    ).slice(5),
    ['--tcp-ports', '127.0.0.1/2222:22', '--tcp-ports', '0.0.0.0/8080:80', '--udp-ports', '::1/5353:53'],
  );
});

test('passt starts, is the uplink, and stops with the switch', { timeout: 60_000 }, async () => {
  const r = await runInNetns(['node', child, 'stop']).done;
  assert.equal(r.code, 0, r.stderr);
  const [started, stopped] = json(r.stdout);
  assert.equal(typeof started!.pid, 'number', r.stdout);
  assert.equal(started!.uplink, true);
  assert.deepEqual(stopped, { stopped: true, alive: false, uplink: false });
});

test('passt ends when the process that started it is killed', { timeout: 60_000 }, async () => {
  let pid = 0;
  const run = runInNetns(['node', child, 'wait'], {
    onStdout: (s) => {
      const m = /"pid":(\d+)/.exec(s);
      if (m && pid === 0) {
        pid = Number(m[1]);
        run.kill('SIGKILL');
      }
    },
  });
  await run.done;
  assert.ok(pid > 0, 'passt started');
  // The kernel closes the socket of the killed process; passt (--fd implies --one-off) exits.
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(existsSync(`/proc/${pid}`), false, `passt ${pid} outlived pvm`);
});

test('a start that fails says why: passt missing, no template interface', { timeout: 60_000 }, async () => {
  const missing = await runInNetns(['node', child, 'stop', '/nonexistent/passt']).done;
  assert.deepEqual(json(missing.stdout), [
    {
      error:
        'user-mode networking needs passt, which is not installed (/nonexistent/passt not found; Debian: apt install passt)',
      kind: 'usage',
    },
  ]);
  // A namespace with only lo: passt finds no interface with a route to copy.
  const bare = await runInNetns(['node', child, 'stop'], { setup: false }).done;
  const [out] = json(bare.stdout);
  assert.equal(out!.kind, 'io');
  assert.match(String(out!.error), /^passt failed to start \(exit status 1\): .*(interface|route)/i);
});
