/**
 * Two `pvm daemon` processes on loopback, each running the Linux guest on switch `lan`, the
 * switches joined by `pvm daemon --join lan=URL` (a WebSocket between the daemons' TCP listeners). The
 * guests have static addresses; one serves 512 KiB of random bytes with busybox httpd, the other
 * fetches it with wget over TCP. The md5 sums printed on both consoles match, and both ends of
 * the link counted the traffic.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from './support/daemon.js';
import { type DaemonProcess, runCommands, startDaemonProcess, stopDaemonProcess } from './support/daemon-process.js';
import { initrd, kernel, pvm } from './support/linux-guest.js';

test('two daemons, two Linux guests on a joined switch: a TCP transfer whose md5 matches', {
  timeout: 900_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-xnet-linux-'));
  const daemons: DaemonProcess[] = [];
  try {
    const b = await startDaemonProcess(dir, 'b');
    daemons.push(b);
    // a joins b from its command line, as under an orchestrator (the cluster's one token).
    const a = await startDaemonProcess(dir, 'a', ['--join', `lan=http://127.0.0.1:${b.port}`]);
    daemons.push(a);
    await until('the link is up', async () => (await a.client.switches())[0]?.links[0]?.state === 'up');
    const listed = spawnSync(process.execPath, [pvm, 'switch', 'list', '--socket', a.socket], { encoding: 'utf8' });
    assert.equal(listed.stderr, '');
    assert.match(listed.stdout, new RegExp(`^lan +1 +to http://127\\.0\\.0\\.1:${b.port} +up +0/0 +0/0 +0 +0$`, 'm'));

    const serverLog = join(dir, 'server.log');
    const clientLog = join(dir, 'client.log');
    await a.client.create({
      name: 'server',
      kernel,
      initrd,
      nets: ['lan,mac=52:54:00:00:aa:01'],
      console: { file: serverLog },
      append: runCommands([
        'ip addr add 10.9.0.1/24 dev eth0',
        'ip link set eth0 up',
        'mkdir -p /www',
        'dd if=/dev/urandom of=/www/f.bin bs=1k count=512 2>/dev/null',
        'echo "served: $(md5sum < /www/f.bin | cut -c1-32) $(wc -c < /www/f.bin)"',
        'httpd -p 80 -h /www',
        'echo httpd-up',
        'sleep 3600',
      ]),
    });
    await b.client.create({
      name: 'client',
      kernel,
      initrd,
      nets: ['lan,mac=52:54:00:00:bb:01'],
      console: { file: clientLog },
      append: runCommands([
        'ip addr add 10.9.0.2/24 dev eth0',
        'ip link set eth0 up',
        'until wget -q -O /tmp/f.bin http://10.9.0.1/f.bin; do sleep 1; done',
        'echo "fetched: $(md5sum < /tmp/f.bin | cut -c1-32) $(wc -c < /tmp/f.bin)"',
      ]),
    });
    const read = (f: string) => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    };
    const clientOut = await until(
      'the client guest finished',
      () => (read(clientLog).includes('pvm-guest: exit') ? read(clientLog) : undefined),
      800_000 / 5,
    );
    const serverOut = read(serverLog);
    const served = /^served: ([0-9a-f]{32}) (\d+)\r?$/m.exec(serverOut);
    const fetched = /^fetched: ([0-9a-f]{32}) (\d+)\r?$/m.exec(clientOut);
    assert.ok(served, serverOut.slice(-2000));
    assert.ok(fetched, clientOut.slice(-2000));
    assert.equal(fetched[1], served[1]);
    assert.equal(Number(fetched[2]), 512 << 10);
    assert.match(clientOut, /^pvm-guest: exit 0\r?$/m);
    // Both ends of the link carried the transfer.
    const [la] = (await a.client.switches()).find((s) => s.name === 'lan')!.links;
    const [lb] = (await b.client.switches()).find((s) => s.name === 'lan')!.links;
    assert.deepEqual([la!.direction, la!.state, lb!.direction, lb!.state], ['out', 'up', 'in', 'up']);
    // (The switch on a counts the guest's TSO frames; b's counts the segments they were cut into.)
    assert.ok(la!.rxBytes > 512 << 10, `a's switch sent ${la!.rxBytes} bytes to b`);
    assert.ok(lb!.txBytes > 512 << 10, `b's switch took ${lb!.txBytes} bytes from a`);
    assert.ok(lb!.txFrames >= la!.rxFrames, `${lb!.txFrames} frames came out of ${la!.rxFrames}`);
    assert.deepEqual([la!.dropped, la!.malformed, lb!.dropped, lb!.malformed], [0, 0, 0, 0]);
  } finally {
    await Promise.all(daemons.map(stopDaemonProcess));
    rmSync(dir, { recursive: true, force: true });
  }
});
