/**
 * The board with the real CPU core: OpenSBI (Debian's generic fw_jump.bin,
 * package opensbi) boots on it from the device tree we generate, finds the
 * CLINT, PLIC, UART and syscon, runs a tiny S-mode payload, and powers off
 * through SBI SRST -> sifive,test0. Then the interrupt wiring, hart by hart.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Gpa } from '../core/types.js';
import { Csr, IrqBit } from '../cpu/arch.js';
import { Hart } from '../cpu/hart.js';
import { VirtBoard } from './board.js';
import { loadRaw } from './image.js';
import { LoadAddr, MemMap } from './memmap.js';
import { PlicReg } from './plic.js';
import { UartReg } from './uart.js';

const FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
const MiB = 1024 * 1024;

function board(opts: { harts?: number; memory?: number; out?: number[] } = {}) {
  return new VirtBoard({
    createHart: (id, ram, bus, time) => new Hart(ram, bus, { id, time }),
    harts: opts.harts ?? 1,
    memory: opts.memory ?? 128 * MiB,
    time: 'instret',
    onUartOutput: (b) => opts.out?.push(b),
  });
}

test('OpenSBI fw_jump boots on the board, runs the next stage in S-mode and powers off via the syscon', () => {
  const out: number[] = [];
  const b = board({ out });
  loadRaw(readFileSync(FW_JUMP), b.ram, LoadAddr.FIRMWARE, 'firmware');
  // Next stage at FW_JUMP_ADDR: sbi_system_reset(SHUTDOWN, NO_REASON), i.e. SRST (a7 = 0x53525354), fid 0.
  const payload = Uint32Array.of(
    0x00000513, // li a0, 0
    0x00000593, // li a1, 0
    0x00000813, // li a6, 0
    0x535258b7, // lui a7, 0x53525
    0x3548889b, // addiw a7, a7, 0x354
    0x00000073, // ecall
    0x0000006f, // j .
  );
  b.ram.write(LoadAddr.KERNEL as Gpa, new Uint8Array(payload.buffer));
  const fdtAt = MemMap.RAM.base + 126 * MiB;
  b.ram.write(fdtAt as Gpa, b.deviceTree({ bootargs: 'console=ttyS0' }).toBytes(4096));
  const h = b.harts[0]!;
  h.reset(BigInt(LoadAddr.FIRMWARE), 3);
  h.setX(10, 0n);
  h.setX(11, BigInt(fdtAt));
  for (let i = 0; i < 2000 && b.sysconEvent === undefined; i++) {
    h.run(50_000);
    b.tick();
  }
  const text = String.fromCharCode(...out);
  assert.deepEqual(b.sysconEvent, { kind: 'poweroff' }, text);
  assert.match(text, /OpenSBI v\d/);
  assert.match(text, /Platform Console Device\s+: uart8250/);
  assert.match(text, /Platform Timer Device\s+: aclint-mtimer @ 10000000Hz/);
  assert.match(text, /Platform Shutdown Device\s+: sifive_test/);
  assert.match(text, /Domain0 Next Mode\s+: S-mode/);
  assert.match(text, /Boot HART Base ISA\s+: rv64imafdc/);
  assert.equal(h.priv, 3, 'back in M-mode (the firmware) when it powered off');
});

test('UART -> PLIC -> MEIP/SEIP, and CLINT -> MSIP/MTIP, reach the right hart', () => {
  const b = board({ harts: 2 });
  const [h0, h1] = b.harts as [Hart, Hart];
  const mip = (h: Hart) => Number(h.getCsr(Csr.mip));
  // UART THRE interrupt, PLIC source 10 enabled for context 3 (hart 1, S-mode).
  b.bus.write(MemMap.PLIC.base + PlicReg.PRIORITY + 4 * 10, 4, 1);
  b.bus.write(MemMap.PLIC.base + PlicReg.ENABLE + 3 * PlicReg.ENABLE_STRIDE, 4, 1 << 10);
  b.bus.write(MemMap.UART0.base + UartReg.IER_DLM, 1, 0x02);
  assert.equal(mip(h1) & (1 << IrqBit.SEIP), 1 << IrqBit.SEIP);
  assert.equal(mip(h0) & (1 << IrqBit.MEIP), 0);
  const claim = MemMap.PLIC.base + PlicReg.CONTEXT + 3 * PlicReg.CONTEXT_STRIDE + 4;
  assert.equal(b.bus.read(claim, 4), 10);
  assert.equal(mip(h1) & (1 << IrqBit.SEIP), 0);
  // CLINT software interrupt for hart 0, timer for hart 1.
  b.bus.write(MemMap.CLINT.base, 4, 1);
  assert.equal(mip(h0) & (1 << IrqBit.MSIP), 1 << IrqBit.MSIP);
  b.bus.write(MemMap.CLINT.base + 0x4000 + 8, 4, 0);
  b.bus.write(MemMap.CLINT.base + 0x4000 + 12, 4, 0);
  assert.equal(mip(h1) & (1 << IrqBit.MTIP), 1 << IrqBit.MTIP);
  assert.equal(mip(h0) & (1 << IrqBit.MTIP), 0);
  assert.deepEqual({ ...b.mmioCounts() }, { clint: 3, plic: 3, uart: 1, test: 0, rtc: 0 });
  b.reset();
  assert.equal(mip(h0) & (1 << IrqBit.MSIP), 0);
  assert.equal(mip(h1) & (1 << IrqBit.MTIP), 0);
});

test('deterministic time follows instructions retired, and idle time can be skipped', () => {
  const b = board();
  const h = b.harts[0]!;
  // An endless loop at the start of RAM: j .
  b.ram.writeU32(MemMap.RAM.base as Gpa, 0x0000006f);
  h.reset(BigInt(MemMap.RAM.base), 3);
  h.run(100_000);
  assert.equal(b.time.now(), 1000);
  assert.equal(Number(h.getCsr(Csr.time)), 1000, 'time CSR');
  assert.ok(b.skipTime(500));
  assert.equal(b.time.now(), 1500);
  assert.equal(b.ticksToNextTimer(), Number.POSITIVE_INFINITY);
  b.bus.write(MemMap.CLINT.base + 0x4000, 4, 2000);
  b.bus.write(MemMap.CLINT.base + 0x4004, 4, 0);
  assert.equal(b.ticksToNextTimer(), 500);
});

test('the device tree lists only the virtio slots that have a device', () => {
  const b = board();
  const dev = { name: 'virtio-test', read: () => 0, write: () => {} };
  assert.deepEqual(b.mapVirtio(3, dev), { base: 0x1000_4000, irq: 4 });
  const soc = b.deviceTree().find('/soc')!;
  assert.deepEqual(
    soc.children.map((c) => c.name).filter((n) => n.startsWith('virtio')),
    ['virtio_mmio@10004000'],
  );
  assert.throws(() => b.mapVirtio(8, dev), /no virtio slot/);
});
