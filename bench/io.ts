/**
 * I/O benchmark, one Linux domain in one run (PV mode, devices built as the library does:
 * createVm with VmConfig.devices): Linux writing then reading 64 MiB on virtio-blk (a sparse
 * host file, `dd bs=1M conv=fsync`, then the buffer cache dropped with `blockdev --flushbufs`
 * and read back with dd) and on a virtio-9p share (a host directory mounted with
 * `mount -t 9p -o trans=virtio,version=9p2000.L`, no guest cache: every read goes to the
 * host); TCP from the guest to a host socket through passt (user-mode networking: the
 * guest sends 32 MiB with busybox nc to 10.0.2.2, which passt maps to the host's loopback,
 * where a sink counts the bytes); and 1 MiB of console output through the emulated UART
 * (/dev/ttyS0: ns16550a register writes), through virtio-console (/dev/hvc1: in PV mode
 * hvc0 is the SBI console, the virtio console is the next hvc) and, for comparison, through
 * the SBI console (/dev/hvc0: hypercalls). For each phase: exits (MMIO accesses + hypercalls +
 * other exits, slices not counted) per KiB and MB/s of host wall time, from the console
 * markers the guest prints around each phase. The console output is made in the guest by
 * `head -c N /dev/zero | tr '\0' x`; `console-null` times that generator alone (to /dev/null).
 *
 * The run happens in a network namespace of its own (`unshare -n`, set up by
 * test/support/netns.sh), so the network phase never leaves the machine; `--no-net` skips
 * it (and the namespace). Prints JSON (and writes it to --out FILE).
 *
 *   node dist/bench/io.js [--mb 64] [--net-mb 32] [--console-kb 1024] [--no-net] [--out FILE]
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseMac, VirtualSwitch } from '../src/devices/switch.js';
import { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import type { VirtioDevice } from '../src/devices/virtio/device.js';
import { VirtioNet } from '../src/devices/virtio/net/device.js';
import { openDisk } from '../src/host/disk.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { openShare } from '../src/host/p9-fs.js';
import { PasstUplink } from '../src/host/passt.js';
import { createVm } from '../src/hypervisor/vm.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const mb = Number(opt('--mb', '64'));
const netMb = Number(opt('--net-mb', '32'));
const consoleKb = Number(opt('--console-kb', '1024'));
const out = opt('--out', '');
const withNet = !args.includes('--no-net');

if (withNet && process.env.PVM_BENCH_NETNS !== '1') {
  // Again, inside a network namespace of its own.
  const userns = process.getuid?.() === 0 ? '-n' : '-rn';
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('unshare', [userns, 'sh', join(root, 'test/support/netns.sh'), process.execPath, self, ...args], {
    stdio: 'inherit',
    env: { ...process.env, PVM_BENCH_NETNS: '1' },
  });
  process.exit(r.status ?? 1);
}

const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');

const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-io-'));
const img = join(dir, 'disk.img');
writeFileSync(img, '');
truncateSync(img, (mb + 8) << 20);
const shareDir = join(dir, 'share');
mkdirSync(shareDir);
// The prebuilt initramfs may predate udhcpc's event script: the guest takes it from the share.
copyFileSync(join(root, 'guests/linux/udhcpc.script'), join(shareDir, 'udhcpc.script'));

/** Host side of the network phase: counts what arrives and when the first and last byte came. */
const sink = { bytes: 0, firstMs: 0, lastMs: 0, end: '' };
const netBytes = netMb << 20;
const server = createServer((c) => {
  c.on('data', (b: Buffer) => {
    if (sink.bytes === 0) sink.firstMs = performance.now();
    sink.bytes += b.length;
    sink.lastMs = performance.now();
    if (sink.bytes >= netBytes) c.end(); // all there: nc sees the end and exits
  });
  c.on('error', (e) => {
    sink.end ||= `error: ${e.message}`;
  });
  c.on('end', () => {
    sink.end ||= `closed by the guest after ${sink.bytes} bytes`;
  });
});
const port = withNet
  ? await new Promise<number>((r) =>
      server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)),
    )
  : 0;

const phases: { name: string; device: string; bytes: number }[] = [
  { name: 'blk-write', device: 'virtio-blk', bytes: mb << 20 },
  { name: 'blk-read', device: 'virtio-blk', bytes: mb << 20 },
  { name: '9p-write', device: 'virtio-9p (msize 128 KiB, cache=none)', bytes: mb << 20 },
  { name: '9p-read', device: 'virtio-9p (msize 128 KiB, cache=none)', bytes: mb << 20 },
  ...(withNet ? [{ name: 'net-tx', device: 'virtio-net + passt, TCP guest -> host', bytes: netBytes }] : []),
  { name: 'console-ttyS0', device: 'ns16550a UART (ttyS0)', bytes: consoleKb << 10 },
  { name: 'console-virtio', device: 'virtio-console (hvc1)', bytes: consoleKb << 10 },
  { name: 'console-sbi', device: 'SBI console (hvc0)', bytes: consoleKb << 10 },
  { name: 'console-null', device: 'none (/dev/null: the generator alone)', bytes: consoleKb << 10 },
];
const gen = `head -c ${consoleKb << 10} /dev/zero | tr '\\0' x`;
const mount = 'mount -t 9p -o trans=virtio,version=9p2000.L share /mnt';
// The script reaches the guest through the share: a kernel command line holds 1 KiB at most.
const script = [
  ...(withNet ? ['ip link set eth0 up', 'udhcpc -i eth0 -n -q -s /mnt/udhcpc.script >/dev/null 2>&1'] : []),
  "echo @@''begin-blk-write",
  `dd if=/dev/zero of=/dev/vda bs=1M count=${mb} conv=fsync 2>/dev/null`,
  "echo @@''end-blk-write",
  'blockdev --flushbufs /dev/vda',
  "echo @@''begin-blk-read",
  `dd if=/dev/vda of=/dev/null bs=1M count=${mb} 2>/dev/null`,
  "echo @@''end-blk-read",
  "echo @@''begin-9p-write",
  `dd if=/dev/zero of=/mnt/f bs=1M count=${mb} conv=fsync 2>/dev/null`,
  "echo @@''end-9p-write",
  "echo @@''begin-9p-read",
  `dd if=/mnt/f of=/dev/null bs=1M count=${mb} 2>/dev/null`,
  "echo @@''end-9p-read",
  ...(withNet
    ? [
        "echo @@''begin-net-tx",
        `dd if=/dev/zero bs=64k count=${netBytes >> 16} 2>/dev/null | nc 10.0.2.2 ${port}`,
        "echo @@''end-net-tx",
      ]
    : []),
  'stty -F /dev/ttyS0 raw -echo',
  "echo @@''begin-console-ttyS0",
  `${gen} > /dev/ttyS0`,
  "echo; echo @@''end-console-ttyS0",
  "echo @@''begin-console-virtio",
  `${gen} > /dev/hvc1`,
  "echo @@''end-console-virtio",
  "echo @@''begin-console-sbi",
  `${gen} > /dev/hvc0`,
  "echo; echo @@''end-console-sbi",
  "echo @@''begin-console-null",
  `${gen} > /dev/null`,
  "echo @@''end-console-null",
].join('\n');
writeFileSync(join(shareDir, 'run.sh'), `${script}\n`);

interface Mark {
  ms: number;
  exits: number;
  mmio: number;
  hypercalls: number;
}
const marks = new Map<string, Mark>();
let tail = '';
let hostConsoleBytes = 0;
let virtioConsoleBytes = 0;
let snapshot: () => Mark = () => ({ ms: 0, exits: 0, mmio: 0, hypercalls: 0 });
const host = new NodeDomainHost((b) => {
  hostConsoleBytes += b.length;
  // Markers are short lines: look at the end of what came so far only.
  tail = (tail + new TextDecoder().decode(b)).slice(-4096);
  for (const m of tail.matchAll(/@@(begin|end)-([a-z0-9-]+)/gi)) {
    const key = `${m[1]}-${m[2]}`;
    if (!marks.has(key)) marks.set(key, snapshot());
  }
  if (process.env.PVM_BENCH_TRACE && b.length < 400) process.stderr.write(b);
});
const disk = await openDisk(img, { cache: 'writeback' });
const blk = new VirtioBlk({ backend: disk, id: 'bench-vda' });
const share = await openShare({ path: shareDir, tag: 'share', readonly: false });
const sw = new VirtualSwitch('user');
const uplink = withNet ? await PasstUplink.start(sw) : null;
const nic = new VirtioNet({ mac: parseMac('52:54:00:12:34:56')! });
if (withNet) sw.attach(nic);
const devices: VirtioDevice[] = [
  new VirtioConsole({
    output: (b) => {
      virtioConsoleBytes += b.length;
    },
  }),
  blk,
  share,
  ...(withNet ? [nic] : []),
];
const domain = createVm(
  {
    mode: 'pv',
    harts: 1,
    memory: 128 << 20,
    kernel: readFileSync(join(guest, 'Image')),
    initrd: readFileSync(join(guest, 'initramfs.cpio.gz')),
    cmdline: `console=ttyS0 quiet pvm.run=${`${mount} && cd / && sh /mnt/run.sh; umount /mnt`.replaceAll(' ', '%20')}`,
    devices,
  },
  host,
);
snapshot = () => {
  const s = domain.statistics();
  const other = Object.entries(s.exits)
    .filter(([k]) => k !== 'slice')
    .reduce((a, [, v]) => a + v, 0);
  return { ms: performance.now(), exits: s.mmioTotal + other, mmio: s.mmioTotal, hypercalls: s.hypercallsTotal };
};
const t0 = performance.now();
const end = await domain.run();
host.flush();
const ports = sw.portStats();
await uplink?.stop();
server.close();
await share.close();
await disk.close();
rmSync(dir, { recursive: true, force: true });
if (end.kind !== 'poweroff') throw new Error(`guest ended with ${JSON.stringify(end)}`);

const result = {
  bench: 'io',
  date: new Date().toISOString(),
  guest: 'Linux 6.1 test guest, PV mode, 1 hart, 128 MiB',
  totalMs: Math.round(performance.now() - t0),
  hostConsoleBytes,
  virtioConsoleBytes,
  blk: blk.stats,
  p9: share.stats,
  ...(withNet
    ? {
        net: {
          sinkBytes: sink.bytes,
          sinkEnd: sink.end,
          sinkMbPerS: Number((sink.bytes / (1 << 20) / ((sink.lastMs - sink.firstMs) / 1000)).toFixed(3)),
          ports,
          uplink: uplink!.stats,
        },
      }
    : {}),
  phases: phases.map((p) => {
    const a = marks.get(`begin-${p.name}`);
    const b = marks.get(`end-${p.name}`);
    if (!a || !b) throw new Error(`phase ${p.name}: markers missing (seen: ${[...marks.keys()].join(' ')})`);
    const ms = b.ms - a.ms;
    const exits = b.exits - a.exits;
    return {
      phase: p.name,
      device: p.device,
      bytes: p.bytes,
      ms: Math.round(ms),
      mbPerS: Number((p.bytes / (1 << 20) / (ms / 1000)).toFixed(3)),
      exits,
      mmio: b.mmio - a.mmio,
      hypercalls: b.hypercalls - a.hypercalls,
      exitsPerKb: Number((exits / (p.bytes / 1024)).toFixed(3)),
    };
  }),
};
const json = JSON.stringify(result, null, 2);
console.log(json);
if (out) writeFileSync(out, `${json}\n`);
