import { decodeState, encodeState, SnapshotError, type StateCodec } from '../core/state.js';
import type { BoardHart, VirtBoard } from './board.js';
import { type ClintState, clintStateCodec } from './clint.js';
import { type PlicState, plicStateCodec } from './plic.js';
import { type UartState, uartStateCodec } from './uart.js';

/**
 * Board device state for a save file (the DEVS section): one named entry per
 * device present, each written by that device's state codec (src/core/state.ts):
 *
 *   board  the time base in mtime ticks (the guest clock goes on from here)
 *   clint  CLINT: mtime offset, per hart msip, mtimecmp, armed (clint.ts)
 *   plic   PLIC: priorities, levels, pending, claimed, enables, thresholds (plic.ts)
 *   uart   ns16550a: registers and the receive queue (uart.ts)
 *   rtc    goldfish RTC: the guest's offset from the host wall clock in ns
 *
 * The syscon (sifive,test0) holds no state. A device the board lacks is
 * neither saved nor expected.
 */

export interface NamedState {
  readonly name: string;
  readonly state: Uint8Array;
}

/** Everything saveBoard saved, read and checked against a board. */
export interface BoardState {
  readonly time: number;
  readonly clint: ClintState | null;
  readonly plic: PlicState | null;
  readonly uart: UartState | null;
  readonly rtcOffsetNs: bigint | null;
}

export const boardTimeCodec: StateCodec<number> = {
  write: (w, t) => void w.int(t),
  read: (r) => r.int('time base'),
};

export const rtcStateCodec: StateCodec<bigint> = {
  write: (w, ns) => void w.i64(ns),
  read: (r) => r.i64('wall clock offset'),
};

/** The board's device state, one entry per device present. */
export function saveBoard<H extends BoardHart>(board: VirtBoard<H>): NamedState[] {
  const out: NamedState[] = [{ name: 'board', state: encodeState(boardTimeCodec, board.baseTimeNow()) }];
  if (board.clint) out.push({ name: 'clint', state: encodeState(clintStateCodec, board.clint.saveState()) });
  if (board.plic) out.push({ name: 'plic', state: encodeState(plicStateCodec, board.plic.saveState()) });
  if (board.uart) out.push({ name: 'uart', state: encodeState(uartStateCodec, board.uart.saveState()) });
  if (board.rtc) out.push({ name: 'rtc', state: encodeState(rtcStateCodec, board.rtc.wallOffsetNs) });
  return out;
}

/**
 * Reads saveBoard entries for a board of this shape. Throws SnapshotError
 * when one is missing, malformed, for another shape, or names a device the
 * board lacks; changes nothing.
 */
export function readBoard<H extends BoardHart>(board: VirtBoard<H>, entries: readonly NamedState[]): BoardState {
  const by = new Map(entries.map((e) => [e.name, e]));
  const known = new Set([
    'board',
    ...(['clint', 'plic', 'uart', 'rtc'] as const).filter((k) => board[k] !== undefined),
  ]);
  for (const e of entries) {
    if (!known.has(e.name)) {
      throw new SnapshotError('mismatch', `device ${e.name} in the snapshot: this board has no such device`);
    }
  }
  const read = <S, Shape>(name: string, codec: StateCodec<S, Shape>, shape: Shape): S => {
    const e = by.get(name);
    if (!e) throw new SnapshotError('mismatch', `device ${name} in the snapshot: missing`);
    return decodeState(codec, e.state, shape, `device ${name} in the snapshot`);
  };
  const n = board.harts.length;
  const plic = board.plic;
  return {
    time: read('board', boardTimeCodec, undefined),
    clint: board.clint ? read('clint', clintStateCodec, { harts: n }) : null,
    plic: plic ? read('plic', plicStateCodec, { sources: plic.numSources, contexts: plic.numContexts }) : null,
    uart: board.uart ? read('uart', uartStateCodec, undefined) : null,
    rtcOffsetNs: board.rtc ? read('rtc', rtcStateCodec, undefined) : null,
  };
}

/** Load a readBoard state into the board it was read for (harts restored first: the time base may count their instructions). */
export function loadBoard<H extends BoardHart>(board: VirtBoard<H>, s: BoardState): void {
  board.restoreBaseTime(s.time);
  if (s.clint) board.clint!.loadState(s.clint);
  if (s.plic) board.plic!.loadState(s.plic);
  if (s.uart) board.uart!.loadState(s.uart);
  if (s.rtcOffsetNs !== null) board.rtc!.wallOffsetNs = s.rtcOffsetNs;
}
