/**
 * createVm's device wiring without booting a guest: VmOptions.devices land in their slots
 * (window and device tree), a rising interrupt edge wakes the host once, a guest reboot
 * (the board's reset) resets every transport, a slot outside 0..7 or taken twice is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { VirtioConsole } from '../src/devices/virtio/console/device.js';
import { MmioReg, Status } from '../src/devices/virtio/constants.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { fakeImage } from '../src/hypervisor/testing.js';
import { consoleInputFor, createVm, virtioTransports } from '../src/hypervisor/vm.js';

function fakeHost() {
  const h = {
    wakes: 0,
    nowMs: () => 0,
    idle: async () => {},
    yield: async () => {},
    consoleOut: () => {},
    wake: () => {
      h.wakes++;
    },
  };
  return h;
}

const loaded = { mode: 'pv' as const, harts: 1, memory: 16 << 20, kernel: fakeImage(), cmdline: '' };

test('createVm maps VmOptions.devices in their slots, wakes the host on a rising edge, resets them on reboot', () => {
  const host = fakeHost();
  const balloon = new VirtioBalloon({ stats: false });
  const d = createVm(loaded, host, {
    devices: [
      { slot: 0, device: new VirtioRng({ fill: (b) => void b.fill(7) }) },
      { slot: 1, device: balloon },
    ],
  });
  const rng = virtioTransports(d).get(0);
  const bal = virtioTransports(d).get(1);
  assert.ok(rng && bal);
  assert.equal(virtioTransports(d).size, 2);
  // Slot 0 is the entropy device (id 4), slot 1 the balloon (id 5), at 0x1000_1000 + n*0x1000.
  assert.equal(rng.read(MmioReg.DEVICE_ID, 4), 4);
  assert.equal(bal.read(MmioReg.DEVICE_ID, 4), 5);
  // The device tree in RAM lists all eight slots, as QEMU's; the six without a device are empty transports.
  const ram = new TextDecoder('latin1').decode(d.ram.u8);
  for (let n = 0; n < 8; n++) assert.ok(ram.includes(`virtio_mmio@1000${n + 1}000`), `slot ${n}`);

  // Driver handshake on the balloon, then a config change raises its interrupt: one wake.
  bal.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE);
  bal.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE | Status.DRIVER);
  bal.write(MmioReg.DRIVER_FEATURES_SEL, 4, 1);
  bal.write(MmioReg.DRIVER_FEATURES, 4, 1); // VIRTIO_F_VERSION_1 (bit 32)
  bal.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  bal.write(MmioReg.STATUS, 4, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assert.equal(bal.read(MmioReg.STATUS, 4), 15);
  assert.equal(host.wakes, 0);
  balloon.setTarget(16);
  assert.equal(bal.read(MmioReg.INTERRUPT_STATUS, 4), 2);
  assert.equal(host.wakes, 1);
  balloon.setTarget(32); // still high: no new edge
  assert.equal(host.wakes, 1);
  bal.write(MmioReg.INTERRUPT_ACK, 4, 2);
  balloon.setTarget(48); // low, then high again
  assert.equal(host.wakes, 2);

  // Guest reboot: the domain resets its machine, which resets every transport.
  d.machine.reset();
  assert.equal(bal.read(MmioReg.STATUS, 4), 0);
  assert.equal(bal.read(MmioReg.INTERRUPT_STATUS, 4), 0);
});

test('createVm refuses a slot outside 0..7, or one slot twice', () => {
  const rng = () => new VirtioRng({ fill: (b) => void b.fill(0) });
  assert.throws(
    () => createVm(loaded, fakeHost(), { devices: [{ slot: 8, device: rng() }] }),
    /virtio slot 8 is taken or not one of 0\.\.7/,
  );
  assert.throws(
    () =>
      createVm(loaded, fakeHost(), {
        devices: [
          { slot: 2, device: rng() },
          { slot: 2, device: rng() },
        ],
      }),
    /virtio slot 2 is taken/,
  );
});

test('console input goes to the device the command line makes the console', () => {
  const console = () => new VirtioConsole({ output: () => {} });
  const at = (cmdline: string, mode: 'pv' | 'full', withVirtio: boolean) => consoleInputFor(cmdline, mode, withVirtio);
  assert.equal(at('console=ttyS0', 'pv', false), 'uart');
  assert.equal(at('', 'pv', true), 'uart');
  assert.equal(at('console=hvc0', 'pv', false), 'sbi');
  // full mode: OpenSBI's console (hvc0) reads the UART, never pvm's SBI console
  assert.equal(at('console=hvc0 earlycon=sbi', 'full', false), 'uart');
  assert.equal(at('console=ttyS0 console=hvc1', 'pv', true), 'virtio');
  assert.equal(at('console=hvc1', 'pv', false), 'uart', 'no virtio console: the UART');
  assert.equal(at('console=hvc1 console=ttyS0', 'pv', true), 'uart', 'the last console= is /dev/console');
  // createVm applies it; the virtio console gets the bytes
  const vc = console();
  const d = createVm({ ...loaded, cmdline: 'console=hvc1' }, fakeHost(), { devices: [{ slot: 0, device: vc }] });
  assert.equal(d.inputTo, 'virtio');
  assert.equal(
    createVm({ ...loaded, mode: 'full', memory: 64 << 20, cmdline: 'console=hvc0', firmware: fakeImage() }, fakeHost())
      .inputTo,
    'uart',
  );
});
