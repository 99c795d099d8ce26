import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validateConfig } from '../api/config.js';
import { parseDomainSpec } from '../api/spec.js';
import { isPvmError } from '../core/errors.js';
import { DeviceId, MmioReg } from '../devices/virtio/constants.js';
import { fakeImage } from '../hypervisor/testing.js';
import { buildDomain, HostResources, readImage } from './builder.js';
import { NodeDomainHost } from './domain-host.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-build-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const img = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, new Uint8Array(1 << 16));
  return p;
};
const kernel = join(dir, 'Image');
writeFileSync(kernel, fakeImage());
const host = () => new NodeDomainHost(() => {});

test('a spec becomes a domain with its devices in their slots, NICs on the shared switches', async () => {
  const cfg = validateConfig({
    domains: [
      {
        name: 'a',
        kernel,
        memory: '32M',
        smp: 2,
        disks: [img('a.img'), `${img('b.img')},ro`],
        nets: ['lan'],
        rng: { slot: 7 },
      },
      { name: 'b', kernel, nets: ['lan'], balloon: true, virtioConsole: true },
    ],
  });
  const res = new HostResources(cfg.switches);
  const a = await buildDomain(cfg.domains[0]!, res, { host: host(), ordinal: 0 });
  const b = await buildDomain(cfg.domains[1]!, res, { host: host(), ordinal: 1 });
  assert.deepEqual(
    a.devices.map((d) => [d.spec.slot, d.transport.read(MmioReg.DEVICE_ID, 4)]),
    [
      [0, DeviceId.BLOCK],
      [1, DeviceId.BLOCK],
      [2, DeviceId.NET],
      [7, DeviceId.ENTROPY],
    ],
  );
  assert.deepEqual(a.machine(), {
    mode: 'pv',
    vcpus: 2,
    memoryBytes: 32 << 20,
    devices: [
      { slot: 0, kind: 'blk', path: join(dir, 'a.img'), readonly: false },
      { slot: 1, kind: 'blk', path: join(dir, 'b.img'), readonly: true },
      { slot: 2, kind: 'net', mac: '52:54:00:00:00:00', switch: 'lan' },
      { slot: 7, kind: 'rng' },
    ],
    consoleInput: 'uart',
    cmdline: 'console=ttyS0',
  });
  assert.deepEqual(
    b.machine().devices.map((d) => d.mac ?? d.kind),
    ['console', '52:54:00:00:01:00', 'balloon'],
  );
  assert.equal(res.switches.get('lan').portCount, 2);
  assert.deepEqual([a.domain.pvx?.id, b.domain.pvx?.id], [1, 2], 'PV domains of one process: distinct PVX ids');
  await a.close();
  assert.equal(res.switches.get('lan').portCount, 1);
  await b.close();
});

test('no kernel: the embedded guest, with its own default memory', async () => {
  const res = new HostResources();
  const d = await buildDomain(parseDomainSpec({ name: 'pvos' }), res, { host: host() });
  assert.deepEqual(d.machine(), {
    mode: 'pv',
    vcpus: 1,
    memoryBytes: 64 << 20,
    devices: [],
    consoleInput: 'uart',
    cmdline: '',
  });
  d.domain.pvx?.destroy();
  await d.close();
});

test('a missing image fails the build, names the domain and leaves nothing plugged', async () => {
  const res = new HostResources();
  const spec = parseDomainSpec({ name: 'x', kernel, nets: ['lan'], disks: [join(dir, 'missing.img')] });
  await assert.rejects(
    buildDomain(spec, res, { host: host() }),
    (e) => isPvmError(e) && /^domain x: .*missing\.img/.test(e.message),
  );
  assert.equal(res.switches.get('lan').portCount, 0);
  await assert.rejects(
    buildDomain(parseDomainSpec({ name: 'y', kernel: join(dir, 'nope') }), res, { host: host() }),
    (e) => isPvmError(e) && e.message === `domain y: cannot read kernel ${join(dir, 'nope')}: no such file`,
  );
});

test('a MAC already on the switch fails the build; the other NICs are unplugged again', async () => {
  const res = new HostResources();
  const spec = parseDomainSpec({
    name: 'second',
    kernel,
    disks: [img('c.img')],
    nets: ['lan,mac=02:00:00:00:00:02', 'lan2,mac=02:00:00:00:00:01'],
  });
  // A port left over on lan2 with the MAC the domain wants there.
  res.switches.get('lan2').attach({ mac: Uint8Array.of(2, 0, 0, 0, 0, 1), deliver() {} });
  await assert.rejects(
    buildDomain(spec, res, { host: host() }),
    (e) => isPvmError(e) && /^domain second: MAC 02:00:00:00:00:01 is already on switch lan2 /.test(e.message),
  );
  assert.equal(res.switches.get('lan').portCount, 0);
});

test('images: special files and directories are refused, not read', () => {
  assert.throws(() => readImage(dir, 'kernel'), /cannot read kernel .*: is a directory/);
  assert.throws(() => readImage('/dev/null', 'kernel'), /cannot read kernel \/dev\/null: not a regular file/);
  assert.throws(() => readImage(img('big.img'), 'initrd', 100), /65536 bytes is more than 100/);
});
