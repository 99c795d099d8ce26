import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validateConfig } from '../api/config.js';
import { isPvmError } from '../core/errors.js';
import { DeviceId } from '../devices/virtio/constants.js';
import { buildDomainDevices, SwitchRegistry } from './devices.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-devs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const img = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, new Uint8Array(1 << 16));
  return p;
};

test('devices of a spec in slot order, NICs on a shared switch', async () => {
  const cfg = validateConfig({
    domains: [
      { name: 'a', disks: [img('a.img'), `${img('b.img')},ro`], nets: ['lan'] },
      { name: 'b', nets: ['lan'], rng: false, balloon: false },
    ],
  });
  const switches = new SwitchRegistry(cfg.switches);
  const a = await buildDomainDevices(cfg.domains[0]!, { switches, consoleOutput: () => {} });
  const b = await buildDomainDevices(cfg.domains[1]!, { switches, consoleOutput: () => {} });
  assert.deepEqual(
    a.devices.map((d) => [d.slot, d.device.deviceId]),
    [
      [0, DeviceId.CONSOLE],
      [1, DeviceId.BLOCK],
      [2, DeviceId.BLOCK],
      [3, DeviceId.NET],
      [4, DeviceId.ENTROPY],
      [5, DeviceId.BALLOON],
    ],
  );
  assert.equal(a.disks[1]!.readOnly, true);
  assert.equal(a.disks[0]!.sectors, 128);
  assert.deepEqual(
    b.devices.map((d) => d.device.deviceId),
    [DeviceId.CONSOLE, DeviceId.NET],
  );
  assert.equal(switches.get('lan').portCount, 2);
  await a.close();
  assert.equal(switches.get('lan').portCount, 1);
  await b.close();
});

test('a missing image fails the build and leaves nothing plugged', async () => {
  const cfg = validateConfig({ nets: ['lan'], disks: [join(dir, 'missing.img')] });
  const switches = new SwitchRegistry();
  await assert.rejects(
    buildDomainDevices(cfg.domains[0]!, { switches, consoleOutput: () => {} }),
    (e) => isPvmError(e) && /missing\.img/.test(e.message),
  );
  assert.equal(switches.get('lan').portCount, 0);
});

test('a MAC already on the switch fails the build; the other NICs are unplugged again', async () => {
  const cfg = validateConfig({
    domains: [
      { name: 'first', nets: ['lan,mac=02:00:00:00:00:01'] },
      { name: 'second', disks: [img('c.img')], nets: ['lan,mac=02:00:00:00:00:02', 'lan2,mac=02:00:00:00:00:01'] },
    ],
  });
  const switches = new SwitchRegistry();
  const first = await buildDomainDevices(cfg.domains[0]!, { switches, consoleOutput: () => {} });
  // A port left over on lan2 with the MAC the second domain wants there.
  switches.get('lan2').attach({ mac: Uint8Array.of(2, 0, 0, 0, 0, 1), deliver() {} });
  await assert.rejects(
    buildDomainDevices(cfg.domains[1]!, { switches, consoleOutput: () => {} }),
    (e) => isPvmError(e) && /second: switch lan2: MAC 02:00:00:00:00:01 is already attached/.test(e.message),
  );
  assert.equal(switches.get('lan').portCount, 1);
  await first.close();
});
