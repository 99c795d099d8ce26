/**
 * User-mode networking with the Linux guest, in a network namespace the test creates
 * (support/netns.ts; nothing leaves it): the guest gets 10.0.2.15 by DHCP from passt,
 * fetches 1 MiB with busybox wget from an HTTP server on the host side, and a host
 * client fetches 768 KiB from busybox httpd in the guest through a port forward;
 * md5 sums match on both sides, and the switch counted the traffic on the uplink.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { root } from './support/linux-guest.js';
import { runInNetns } from './support/netns.js';

interface Port {
  port: number;
  mac: string;
  uplink: boolean;
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
}

test('Linux guest behind passt: DHCP, wget from the host, httpd reached through a port forward', {
  timeout: 600_000,
}, async () => {
  const r = await runInNetns(['node', join(root, 'dist/test/support/user-net-scenario.js')]).done;
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    end: string;
    console: string;
    host: { md5: string; bytes: number };
    fetched: { md5: string; bytes: number } | { error: string } | null;
    ports: Port[];
  };
  const log = out.console;
  assert.equal(out.end, 'poweroff', log.slice(-3000));
  assert.match(log, /^pvm-guest: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2\r?$/m);
  const line = (p: string) => log.split(/\r?\n/).find((l) => l.startsWith(p)) ?? `(no ${p})`;
  assert.equal(line('wget: '), `wget: ${out.host.md5} ${out.host.bytes}`);
  const served = /^served: ([0-9a-f]{32}) (\d+)/m.exec(log);
  assert.ok(served, line('served: '));
  assert.deepEqual(out.fetched, { md5: served[1], bytes: Number(served[2]) });
  assert.equal(Number(served[2]), 768 << 10);
  // Both directions went through the uplink port, counted.
  const [uplink, nic] = out.ports;
  assert.deepEqual(
    [uplink?.uplink, uplink?.mac, nic?.uplink, nic?.mac],
    [true, '52:55:0a:00:02:02', false, '52:54:00:12:34:56'],
  );
  assert.ok(uplink!.txBytes > out.host.bytes, `uplink sent ${uplink!.txBytes} bytes`);
  assert.ok(uplink!.rxBytes > 768 << 10, `uplink received ${uplink!.rxBytes} bytes`);
  assert.equal(nic!.rxFrames, uplink!.txFrames);
});
