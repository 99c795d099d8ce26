import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPvmError } from '../core/errors.js';
import { Csr, IrqBit } from '../cpu/arch.js';
import { Hart } from '../cpu/hart.js';
import { VirtBoard } from './board.js';
import { MemMap } from './memmap.js';
import { PlicReg } from './plic.js';
import { loadBoard, type NamedState, saveBoard } from './snapshot.js';
import { UartReg } from './uart.js';

function board(clock: { t: number }, pv = false) {
  return new VirtBoard({
    createHart: (id, ram, bus, time) => new Hart(ram, bus, { id, time }),
    harts: 2,
    memory: 16 << 20,
    time: { now: () => clock.t },
    wallClockNs: () => 1_000_000_000n,
    devices: pv ? { clint: false } : {},
  });
}

/** A board whose devices are all away from their reset state. */
function busy(clock: { t: number }) {
  const b = board(clock);
  const w = (addr: number, v: number) => b.bus.write(addr, 4, v);
  w(MemMap.CLINT.base + 0x4000 + 8, 5000); // hart 1 mtimecmp = 5000
  w(MemMap.CLINT.base + 0x4000 + 12, 0);
  w(MemMap.CLINT.base + 0, 1); // hart 0 MSIP
  w(MemMap.PLIC.base + PlicReg.PRIORITY + 4 * 10, 3);
  w(MemMap.PLIC.base + PlicReg.ENABLE + 0x80 * 1, 1 << 10); // context 1 (hart 0 S) enables the UART
  w(MemMap.UART0.base + UartReg.IER_DLM, 1); // receive interrupt
  b.uart!.pushInput(Uint8Array.of(0x61, 0x62, 0x63));
  w(MemMap.RTC.base + 0, 0x1234); // guest sets the RTC: an offset from the wall clock
  return b;
}

const text = (s: readonly NamedState[]) => s.map((e) => `${e.name}=${String.fromCharCode(...e.state)}`);

test('board state loads into another board and saves to the same bytes; the clock goes on from the saved instant', () => {
  const ca = { t: 1000 };
  const a = busy(ca);
  const saved = saveBoard(a);
  assert.deepEqual(
    saved.map((e) => e.name),
    ['board', 'clint', 'plic', 'uart', 'rtc'],
  );
  const cb = { t: 7 };
  const b = board(cb);
  loadBoard(b, saved);
  assert.deepEqual(text(saveBoard(b)), text(saved));
  assert.equal(b.time.now(), 1000);
  cb.t += 4000; // 4000 ticks later: hart 1's timer (5000) is due
  b.tick();
  assert.equal(b.harts[1]!.getCsr(Csr.mip) & (1n << BigInt(IrqBit.MTIP)), 1n << BigInt(IrqBit.MTIP));
  assert.equal(b.harts[0]!.getCsr(Csr.mip) & (1n << BigInt(IrqBit.MSIP)), 1n << BigInt(IrqBit.MSIP));
  // The UART's queued input and its interrupt come back: PLIC source 10 raises SEIP on hart 0.
  assert.equal(b.uart!.pendingInput, 3);
  assert.equal(b.bus.read(MemMap.UART0.base + UartReg.RBR_THR_DLL, 4), 0x61);
  assert.equal(b.rtc!.wallOffsetNs, a.rtc!.wallOffsetNs);
});

test('entries that do not fit are refused before any device changes', () => {
  const good = saveBoard(busy({ t: 1 }));
  const target = board({ t: 50 });
  const before = text(saveBoard(target));
  const refuse = (entries: NamedState[], why: RegExp, into = target) =>
    assert.throws(
      () => loadBoard(into, entries),
      (e: unknown) => isPvmError(e) && e.kind === 'image' && why.test(e.message),
    );
  const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const swap = (name: string, state: string) => good.map((e) => (e.name === name ? { name, state: ascii(state) } : e));
  refuse(
    good.filter((e) => e.name !== 'plic'),
    /device plic in the snapshot: missing/,
  );
  refuse(swap('clint', '{"format":1,"v":[0,1]}'), /device clint in the snapshot: 2 values, expected 9/);
  refuse(swap('uart', '{"format":1,"v":[0,0,0,0,0,0,0,0,0,0,0,1,0,2,65]}'), /receive queue/);
  refuse(swap('rtc', '{"format":2,"v":[]}'), /unknown format/);
  refuse(swap('board', 'garbage'), /not readable/);
  refuse([...good, { name: 'gpu', state: ascii('{}') }], /device gpu in the snapshot: this board has no such device/);
  assert.deepEqual(text(saveBoard(target)), before);
  // A PV board (no CLINT) neither saves nor expects one.
  const pv = board({ t: 0 }, true);
  assert.deepEqual(
    saveBoard(pv).map((e) => e.name),
    ['board', 'plic', 'uart', 'rtc'],
  );
  refuse(good, /device clint in the snapshot: this board has no such device/, pv);
});
