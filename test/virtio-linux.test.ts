/**
 * The prebuilt Linux guest (../shared/guests/linux, Linux 6.1 with the virtio-mmio
 * drivers) on pvm in PV mode with all five virtio devices attached, in this process:
 * its drivers probe them, read and write the disk, print through virtio-console, read
 * /dev/hwrng, inflate the balloon to the host's target and ping a host-side endpoint
 * on the virtual switch; and two Linux domains move 10 MB over TCP through the switch.
 * The VMs are built by createVm (VmConfig.devices), the product path; ext4 on a file-backed
 * disk is tested through `pvm run --disk` in virtio-cli.test.ts.
 *
 * Knobs for manual runs: PVM_NET_OFFLOAD=none|csum|tso|mrg|all (default all),
 * PVM_NET_MB (default 10), PVM_TEST_TRACE=1 (consoles and device counters on stderr).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type NetLink, parseMac, type SwitchEndpoint, VirtualSwitch } from '../src/devices/switch.js';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { MemoryDisk } from '../src/devices/virtio/blk/backend.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import type { VirtioDevice } from '../src/devices/virtio/device.js';
import type { VirtioMmio } from '../src/devices/virtio/mmio.js';
import { VirtioNet } from '../src/devices/virtio/net/device.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { hostEntropy } from '../src/host/entropy.js';
import type { DomainEnd } from '../src/hypervisor/domain.js';
import { createVm, virtioTransports } from '../src/hypervisor/vm.js';
import { initrd as initrdFile, kernel as kernelFile } from './support/linux-guest.js';

/** 16-bit ones'-complement checksum of b[start, end). */
function inetChecksum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * A host on the switch at 10.0.0.2 that answers ARP requests and ICMP echo requests:
 * just enough IPv4 for `ping` from the guest.
 */
class PingPeer implements SwitchEndpoint {
  readonly mac = parseMac('52:54:00:00:00:fe')!;
  readonly ip = [10, 0, 0, 2];
  link: NetLink | null = null;
  arps = 0;
  echoes = 0;
  connect(l: NetLink | null): void {
    this.link = l;
  }
  deliver(f: Uint8Array): void {
    const type = (f[12]! << 8) | f[13]!;
    if (type === 0x0806 && f[21] === 1 && this.ip.every((x, i) => f[38 + i] === x)) {
      const r = f.slice(0, 42);
      r.set(f.subarray(6, 12), 0);
      r.set(this.mac, 6);
      r[21] = 2; // reply
      r.set(this.mac, 22);
      r.set(this.ip, 28);
      r.set(f.subarray(22, 32), 32); // requester's MAC and IP become the target
      this.arps++;
      this.link?.transmit(r);
    } else if (type === 0x0800 && f[23] === 1 && f[34] === 8 && this.ip.every((x, i) => f[30 + i] === x)) {
      const ihl = (f[14]! & 15) * 4;
      const ipLen = (f[16]! << 8) | f[17]!;
      const r = f.slice(0, 14 + ipLen);
      r.set(f.subarray(6, 12), 0);
      r.set(this.mac, 6);
      r.set(f.subarray(30, 34), 26); // source <- destination
      r.set(f.subarray(26, 30), 30);
      r[24] = r[25] = 0;
      const ipSum = inetChecksum(r, 14, 14 + ihl);
      r[24] = ipSum >> 8;
      r[25] = ipSum & 0xff;
      const icmp = 14 + ihl;
      r[icmp] = 0; // echo reply
      r[icmp + 2] = r[icmp + 3] = 0;
      const sum = inetChecksum(r, icmp, 14 + ipLen);
      r[icmp + 2] = sum >> 8;
      r[icmp + 3] = sum & 0xff;
      this.echoes++;
      this.link?.transmit(r);
    }
  }
}
const MiB = 1 << 20;
/** Every transport built by `boot`, for diagnostics. */
const allTransports: VirtioMmio[] = [];

interface Booted {
  end: DomainEnd;
  /** Everything on the main console (ttyS0). */
  console: string;
  transports: VirtioMmio[];
}

/**
 * Boots Linux (PV mode, 1 hart, 128 MiB) through createVm with `devices` in slots 0..
 * (VmConfig.devices), and runs `cmd` through init's pvm.run hook; `onOutput` sees the
 * console so far.
 */
async function boot(devices: VirtioDevice[], cmd: string, onOutput?: (all: string) => void): Promise<Booted> {
  const kernel = readFileSync(kernelFile);
  const initrd = readFileSync(initrdFile);
  let out = '';
  const host = new NodeDomainHost((b) => {
    const text = new TextDecoder().decode(b);
    out += text;
    if (process.env.PVM_TEST_TRACE) process.stderr.write(text);
    onOutput?.(out);
  });
  const domain = createVm(
    {
      mode: 'pv',
      harts: 1,
      memory: 128 * MiB,
      kernel,
      initrd,
      cmdline: `console=ttyS0 pvm.run=${cmd.replaceAll(' ', '%20')}`,
      devices,
    },
    host,
  );
  const transports = [...virtioTransports(domain)];
  allTransports.push(...transports);
  const end = await domain.run();
  host.flush();
  return { end, console: out, transports };
}

test('Linux probes and uses virtio console, block, net, entropy and balloon', { timeout: 120_000 }, async () => {
  for (const f of [kernelFile, initrdFile]) assert.ok(existsSync(f), `missing ${f}`);
  const hvc: string[] = [];
  const disk = new MemoryDisk(4 * MiB);
  disk.bytes.set(new TextEncoder().encode('pvm disk sector zero'), 0);
  const net = new VirtioNet({ mac: parseMac('52:54:00:00:00:01')! });
  const sw = new VirtualSwitch('lan');
  const peer = new PingPeer();
  sw.attach(net);
  sw.attach(peer);
  let inflated = 0;
  let actual = 0;
  const balloon = new VirtioBalloon({
    stats: false,
    inflated: (p) => {
      inflated += p.length;
    },
    actualChanged: (n) => {
      actual = Math.max(actual, n);
    },
  });
  const devices: VirtioDevice[] = [
    new VirtioConsole({ output: (b) => hvc.push(new TextDecoder().decode(b)) }),
    new VirtioBlk({ backend: disk, id: 'pvm-test-disk' }),
    net,
    new VirtioRng(hostEntropy),
    balloon,
  ];
  const script = [
    'echo devices $(cat /sys/bus/virtio/devices/*/device)',
    'echo transports $(ls -d /sys/bus/platform/devices/*.virtio_mmio | wc -l)',
    'echo disk $(head -c 20 /dev/vda)',
    'echo written-by-linux > /tmp/w; dd if=/tmp/w of=/dev/vda bs=512 seek=8 conv=sync 2>/dev/null; sync',
    'echo via-virtio-console > /dev/hvc1',
    'echo hwrng $(head -c 32 /dev/hwrng | wc -c)',
    'ip link set eth0 up; ip addr add 10.0.0.1/24 dev eth0; ping -c 2 -W 2 10.0.0.2',
    'echo mem-before $(grep MemTotal /proc/meminfo)',
    'echo balloon-$((6*7))', // the marker itself is not in the command line the kernel prints
    'sleep 2',
    'echo mem-after $(grep MemTotal /proc/meminfo)',
  ].join('; ');
  let asked = false;
  const r = await boot(devices, script, (out) => {
    // Once the guest has measured its memory, the host asks for 4 MiB back.
    if (!asked && out.includes('balloon-42')) {
      asked = true;
      balloon.setTarget(1024);
    }
  });
  const log = r.console;
  assert.equal(r.end.kind, 'poweroff', log.slice(-3000));
  assert.match(log, /devices 0x0003 0x0002 0x0001 0x0004 0x0005/); // console, block, net, entropy, balloon
  // All eight transports are in the tree; the three empty ones (DeviceID 0) are skipped without a word.
  assert.match(log, /transports 8/);
  assert.doesNotMatch(log, /virtio-mmio.*(Wrong magic|not supported|probe.*failed)/i);
  assert.match(log, /virtio_blk virtio1: \[vda\] 8192 512-byte logical blocks/);
  assert.match(log, /disk pvm disk sector zero/);
  assert.equal(new TextDecoder().decode(disk.bytes.subarray(4096, 4113)), 'written-by-linux\n');
  assert.equal(hvc.join(''), 'via-virtio-console\r\n');
  assert.match(log, /hwrng 32/);
  assert.match(log, /2 packets transmitted, 2 packets received/);
  assert.deepEqual([peer.arps >= 1, peer.echoes], [true, 2]);
  const kb = (tag: string) => Number(new RegExp(`${tag} MemTotal: (\\d+) kB`).exec(log)?.[1]);
  assert.equal(kb('mem-before') - kb('mem-after'), 4096, 'MemTotal shrinks by the 4 MiB ballooned');
  assert.equal(inflated, 1024);
  assert.equal(actual, 1024);
  assert.deepEqual(
    r.transports.map((t) => t.lastError),
    [null, null, null, null, null],
  );
});

test('two Linux domains on the switch: ping, then 10 MB over TCP with matching checksums', {
  timeout: 600_000,
}, async () => {
  const sw = new VirtualSwitch('lan');
  const mode = process.env.PVM_NET_OFFLOAD ?? 'all';
  const opts = {
    checksumOffload: mode !== 'none',
    segmentationOffload: mode === 'tso' || mode === 'all',
    mergeableRx: mode === 'mrg' || mode === 'all',
  };
  const a = new VirtioNet({ mac: parseMac('52:54:00:00:00:0a')!, ...opts });
  const b = new VirtioNet({ mac: parseMac('52:54:00:00:00:0b')!, ...opts });
  const mb = Number(process.env.PVM_NET_MB ?? 10);
  sw.attach(a);
  sw.attach(b);
  const server = [
    'ip addr add 10.0.0.1/24 dev eth0; ip link set eth0 up',
    'nc -l -p 5000 < /dev/null > /tmp/rx', // stdin from /dev/null, not the console
    'echo rx $(md5sum < /tmp/rx) $(wc -c < /tmp/rx)',
    // Tell the client everything arrived, so it does not power off with data in flight.
    'until echo done | nc 10.0.0.2 5001; do sleep 1; done',
  ].join('; ');
  const client = [
    'ip addr add 10.0.0.2/24 dev eth0; ip link set eth0 up',
    `dd if=/dev/urandom of=/tmp/tx bs=1M count=${mb} 2>/dev/null`,
    'echo tx $(md5sum < /tmp/tx) $(wc -c < /tmp/tx)',
    'ping -c 2 10.0.0.1',
    'until nc 10.0.0.1 5000 < /tmp/tx; do sleep 1; done',
    'nc -l -p 5001 < /dev/null',
    'echo sent',
  ].join('; ');
  const t0 = performance.now();
  const dump = process.env.PVM_TEST_TRACE
    ? setInterval(() => {
        process.stderr.write(
          `\n[stats] ${Math.round(performance.now() - t0)} a=${JSON.stringify(a.stats)} pa=${a.pendingFrames} b=${JSON.stringify(b.stats)} pb=${b.pendingFrames} sw=${JSON.stringify(sw.stats)} errors=${JSON.stringify(allTransports.map((t) => [t.status, t.lastError, t.stats]))}\n`,
        );
      }, 5000)
    : null;
  const [ra, rb] = await Promise.all([boot([a], server), boot([b], client)]);
  if (dump) clearInterval(dump);
  const ms = performance.now() - t0;
  console.log(
    JSON.stringify({
      mode,
      mb,
      ms: Math.round(ms),
      clientFrames: b.stats.txFrames,
      bytes: b.stats.txBytes,
      sw: sw.stats,
    }),
  );
  assert.equal(ra.end.kind, 'poweroff');
  assert.equal(rb.end.kind, 'poweroff');
  assert.match(rb.console, /2 packets transmitted, 2 packets received/);
  const tx = new RegExp(`tx ([0-9a-f]{32}) - ${mb << 20}`).exec(rb.console)?.[1];
  const rx = new RegExp(`rx ([0-9a-f]{32}) - ${mb << 20}`).exec(ra.console)?.[1];
  assert.ok(tx, 'client checksum');
  assert.equal(rx, tx, 'the server received exactly what the client sent');
});
