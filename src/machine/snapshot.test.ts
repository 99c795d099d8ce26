import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeState, isSnapshotError } from '../core/state.js';
import { Csr, IrqBit } from '../cpu/arch.js';
import { Hart } from '../cpu/hart.js';
import { VirtBoard } from './board.js';
import { MemMap } from './memmap.js';
import { PlicReg } from './plic.js';
import { boardTimeCodec, loadBoard, type NamedState, readBoard, saveBoard } from './snapshot.js';
import { UartReg, uartStateCodec } from './uart.js';

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
  loadBoard(b, readBoard(b, saved));
  assert.deepEqual(saveBoard(b), saved);
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
  const before = saveBoard(target);
  const refuse = (entries: NamedState[], why: RegExp, into = target) =>
    assert.throws(
      () => loadBoard(into, readBoard(into, entries)),
      (e: unknown) => isSnapshotError(e) && e.kind === 'image' && why.test(e.message),
    );
  const swap = (name: string, state: Uint8Array) => good.map((e) => (e.name === name ? { name, state } : e));
  const entry = (name: string) => good.find((e) => e.name === name)!.state;
  refuse(
    good.filter((e) => e.name !== 'plic'),
    /device plic in the snapshot: missing/,
  );
  // CLINT state of one hart for a board of two.
  const clint = entry('clint');
  const oneHart = Uint8Array.of(...clint.subarray(0, 8), 1, 0, 0, 0, ...clint.subarray(12, 22));
  refuse(
    swap('clint', oneHart),
    /device clint in the snapshot does not fit this domain: 1 harts saved, the board has 2/,
  );
  const uart = busy({ t: 1 }).uart!.saveState();
  refuse(
    swap('uart', encodeState(uartStateCodec, { ...uart, itl: 3 })),
    /FIFO trigger level is 3, not one of 1, 4, 8, 14/,
  );
  const plic = entry('plic').slice();
  plic[4] = 9; // priority of source 0 above 7
  refuse(swap('plic', plic), /device plic in the snapshot is not readable: priority\[0\] is 9, not 0..7/);
  refuse(
    swap('board', Uint8Array.of(1, 2, 3)),
    /device board in the snapshot is not readable: time base needs 8 bytes/,
  );
  refuse(
    swap('rtc', Uint8Array.of(...entry('rtc'), 0)),
    /device rtc in the snapshot is not readable: 1 unexpected bytes/,
  );
  refuse(
    [...good, { name: 'gpu', state: new Uint8Array(0) }],
    /device gpu in the snapshot: this board has no such device/,
  );
  assert.deepEqual(saveBoard(target), before);
  // A PV board (no CLINT) neither saves nor expects one.
  const pv = board({ t: 0 }, true);
  assert.deepEqual(
    saveBoard(pv).map((e) => e.name),
    ['board', 'plic', 'uart', 'rtc'],
  );
  refuse(good, /device clint in the snapshot: this board has no such device/, pv);
  assert.deepEqual(encodeState(boardTimeCodec, 5), Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0));
});
