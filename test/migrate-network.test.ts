/**
 * A TCP connection survives a live migration: two `pvm daemon` processes with switch `lan` joined
 * between them (the cluster's one token); a Linux guest on B serves 7.5 MiB of random bytes
 * slowly (a CGI script, 60 chunks 0.2 s apart) and a Linux guest on A fetches them with wget. While
 * the transfer runs, the client moves from A to B (`pvm migrate`); its NIC keeps its MAC, the
 * destination announces it, and the fetch completes with the md5 the server printed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runPvm, until } from './support/daemon.js';
import {
  CLUSTER_TOKEN,
  type DaemonProcess,
  runCommands,
  startDaemonProcess,
  stopDaemonProcess,
} from './support/daemon-process.js';
import { initrd, kernel } from './support/linux-guest.js';

const LOOP = 'i=0; while [ $i -lt 60 ]; do cat /www/chunk; usleep 200000; i=$((i+1)); done';

test('an open TCP connection survives the migration of one end; the data checksums', { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-mig-net-'));
  const daemons: DaemonProcess[] = [];
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    const b = await startDaemonProcess(dir, 'b');
    daemons.push(b);
    const a = await startDaemonProcess(dir, 'a', ['--join', `lan=http://127.0.0.1:${b.port}`]);
    daemons.push(a);
    await until('the link is up', async () => (await a.client.switches())[0]?.links[0]?.state === 'up');
    const serverLog = join(dir, 'server.log');
    const clientLog = join(dir, 'client.log');
    await b.client.create({
      name: 'server',
      kernel,
      initrd,
      nets: ['lan,mac=52:54:00:00:aa:01'],
      console: { file: serverLog },
      append: runCommands([
        'ip addr add 10.9.0.1/24 dev eth0',
        'ip link set eth0 up',
        'mkdir -p /www/cgi-bin',
        'dd if=/dev/urandom of=/www/chunk bs=1k count=128 2>/dev/null',
        "echo '#!/bin/sh' > /www/cgi-bin/f",
        "echo 'echo Content-Type: application/octet-stream; echo' >> /www/cgi-bin/f",
        `echo '${LOOP}' >> /www/cgi-bin/f`,
        'chmod +x /www/cgi-bin/f',
        `echo "served: $(${LOOP.replaceAll('usleep 200000; ', '')} | md5sum | cut -c1-32)"`,
        'httpd -p 80 -h /www',
        'sleep 3600',
      ]),
    });
    await until('the server is ready', () => /^served: [0-9a-f]{32}\r?$/m.test(read(serverLog)), 60_000 / 5);
    await a.client.create({
      name: 'client',
      kernel,
      initrd,
      memory: '128M',
      nets: ['lan,mac=52:54:00:00:bb:01'],
      console: { file: clientLog },
      append: runCommands([
        'ip addr add 10.9.0.2/24 dev eth0',
        'ip link set eth0 up',
        'echo fetching',
        'wget -q -O /tmp/f.bin http://10.9.0.1/cgi-bin/f',
        'echo "fetched: $(md5sum < /tmp/f.bin | cut -c1-32) $(wc -c < /tmp/f.bin)"',
      ]),
    });
    await until('the fetch began', () => read(clientLog).includes('fetching'), 60_000 / 5);
    await new Promise((r) => setTimeout(r, 2000));
    const { out, err } = await runPvm(
      a.socket,
      dir,
      ['migrate', 'client', '--to', `http://127.0.0.1:${b.port}`],
      undefined,
      {
        PVM_TOKEN: CLUSTER_TOKEN,
      },
    );
    assert.equal(err, '');
    assert.match(out, /^migrated client to /);
    // (The command line, in the boot log, names "fetched:" too: look for the line itself.)
    assert.doesNotMatch(
      read(clientLog),
      /^fetched: [0-9a-f]{32}/m,
      'the transfer was still running when the client moved',
    );
    assert.deepEqual((await b.client.list()).map((d) => `${d.name}:${d.state}`).sort(), [
      'client:running',
      'server:running',
    ]);
    const clientOut = await until(
      'the client finished',
      () => (read(clientLog).includes('pvm-guest: exit') ? read(clientLog) : undefined),
      300_000 / 5,
    );
    const served = /^served: ([0-9a-f]{32})\r?$/m.exec(read(serverLog));
    const fetched = /^fetched: ([0-9a-f]{32}) (\d+)\r?$/m.exec(clientOut);
    assert.ok(served && fetched, clientOut.slice(-2000));
    assert.equal(fetched[1], served[1]);
    assert.equal(Number(fetched[2]), 60 * 128 * 1024);
    assert.match(clientOut, /^pvm-guest: exit 0\r?$/m);
  } finally {
    await Promise.all(daemons.map(stopDaemonProcess));
    rmSync(dir, { recursive: true, force: true });
  }
});
