/**
 * createVm's device wiring without booting a guest: VmConfig.devices land in slots 0..
 * (window and device tree), a rising interrupt edge wakes the host once, a guest reboot
 * (the board's reset) resets every transport, more than 8 devices are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VirtioBalloon } from '../src/devices/virtio/balloon/device.js';
import { MmioReg, Status } from '../src/devices/virtio/constants.js';
import { VirtioRng } from '../src/devices/virtio/rng/device.js';
import { createVm, virtioTransports } from '../src/hypervisor/vm.js';

/** The smallest RISC-V Linux Image createVm accepts: a 64-byte header with its magic. */
function fakeKernel(): Uint8Array {
  const k = new Uint8Array(4096);
  const v = new DataView(k.buffer);
  v.setBigUint64(16, 4096n, true); // image_size
  v.setUint32(0x38, 0x05435352, true); // "RSC\x05"
  return k;
}

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

test('createVm maps VmConfig.devices in slot order, wakes the host on a rising edge, resets them on reboot', () => {
  const host = fakeHost();
  const balloon = new VirtioBalloon({ stats: false });
  const d = createVm(
    {
      mode: 'pv',
      harts: 1,
      memory: 16 << 20,
      kernel: fakeKernel(),
      cmdline: '',
      devices: [new VirtioRng({ fill: (b) => void b.fill(7) }), balloon],
    },
    host,
  );
  const [rng, bal] = virtioTransports(d);
  assert.ok(rng && bal);
  assert.equal(virtioTransports(d).length, 2);
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

test('createVm refuses more than 8 virtio devices', () => {
  const devices = Array.from({ length: 9 }, () => new VirtioRng({ fill: (b) => void b.fill(0) }));
  assert.throws(
    () => createVm({ mode: 'pv', harts: 1, memory: 16 << 20, kernel: fakeKernel(), cmdline: '', devices }, fakeHost()),
    /at most 8 virtio devices, got 9/,
  );
});
