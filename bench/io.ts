/**
 * I/O benchmark, one Linux domain in one run (built by the domain builder from a spec, as
 * `pvm run --disk` builds it): Linux writing then reading 64 MiB on virtio-blk (a sparse host
 * file, `dd bs=1M conv=fsync`, then the buffer cache dropped with `blockdev --flushbufs` and
 * read back with dd), and 1 MiB of console output through the emulated UART (/dev/ttyS0:
 * ns16550a register writes), through virtio-console (/dev/hvc1: in PV mode hvc0 is the SBI
 * console, the virtio console is the next hvc) and, for comparison, through the SBI console
 * (/dev/hvc0: hypercalls). For each phase: exits (MMIO accesses + hypercalls + other exits,
 * slices not counted) per KiB and MB/s of host wall time, from the console markers the guest
 * prints around each phase. The output is made in the guest by `head -c N /dev/zero | tr '\0' x`;
 * `console-null` times that generator alone (to /dev/null). Prints JSON (and writes it to --out FILE).
 *
 *   node dist/bench/io.js [--mb 64] [--console-kb 1024] [--out FILE]
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseDomainSpec } from '../src/api/spec.js';
import type { VirtioBlk } from '../src/devices/virtio/blk/device.js';
import { buildDomain, HostResources } from '../src/host/builder.js';
import { NodeDomainHost } from '../src/host/domain-host.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const mb = Number(opt('--mb', '64'));
const consoleKb = Number(opt('--console-kb', '1024'));
const out = opt('--out', '');
const guest = join(root, '../shared/guests/linux');

const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-io-'));
const img = join(dir, 'disk.img');
writeFileSync(img, '');
truncateSync(img, (mb + 8) << 20);

const phases: { name: string; device: string; bytes: number }[] = [
  { name: 'blk-write', device: 'virtio-blk', bytes: mb << 20 },
  { name: 'blk-read', device: 'virtio-blk', bytes: mb << 20 },
  { name: 'console-ttyS0', device: 'ns16550a UART (ttyS0)', bytes: consoleKb << 10 },
  { name: 'console-virtio', device: 'virtio-console (hvc1)', bytes: consoleKb << 10 },
  { name: 'console-sbi', device: 'SBI console (hvc0)', bytes: consoleKb << 10 },
  { name: 'console-null', device: 'none (/dev/null: the generator alone)', bytes: consoleKb << 10 },
];
const gen = `head -c ${consoleKb << 10} /dev/zero | tr '\\0' x`;
const script = [
  "echo @@''begin-blk-write",
  `dd if=/dev/zero of=/dev/vda bs=1M count=${mb} conv=fsync 2>/dev/null`,
  "echo @@''end-blk-write",
  'blockdev --flushbufs /dev/vda',
  "echo @@''begin-blk-read",
  `dd if=/dev/vda of=/dev/null bs=1M count=${mb} 2>/dev/null`,
  "echo @@''end-blk-read",
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
].join('; ');

interface Mark {
  ms: number;
  exits: number;
  mmio: number;
  hypercalls: number;
}
const marks = new Map<string, Mark>();
let tail = '';
let hostConsoleBytes = 0;
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
const spec = parseDomainSpec({
  name: 'bench',
  kernel: join(guest, 'Image'),
  initrd: join(guest, 'initramfs.cpio.gz'),
  memory: '128M',
  append: `console=ttyS0 quiet pvm.run=${script.replaceAll(' ', '%20')}`,
  disks: [img],
});
const vm = await buildDomain(spec, new HostResources(), { host });
const domain = vm.domain;
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
await vm.close();
rmSync(dir, { recursive: true, force: true });
if (end.kind !== 'poweroff') throw new Error(`guest ended with ${JSON.stringify(end)}`);

const result = {
  bench: 'io',
  date: new Date().toISOString(),
  guest: 'Linux 6.1 test guest, PV mode, 1 hart, 128 MiB',
  totalMs: Math.round(performance.now() - t0),
  hostConsoleBytes,
  blk: (vm.devices.find((d) => d.spec.kind === 'blk')!.model as VirtioBlk).stats,
  phases: phases.map((p) => {
    const a = marks.get(`begin-${p.name}`);
    const b = marks.get(`end-${p.name}`);
    if (!a || !b) throw new Error(`phase ${p.name}: markers missing`);
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
