import { PvmError } from '../core/errors.js';
import type { BoardHart, VirtBoard } from './board.js';

/**
 * Board device state for a save file (the DEVS section), format 1. Each
 * device is one named entry whose blob is ASCII JSON `{"format":1,"v":[...]}`
 * with the numbers its saveState returned:
 *
 *   board  [time base in mtime ticks]  (the guest clock goes on from here)
 *   clint  CLINT: mtime offset, per hart msip, mtimecmp lo/hi, armed
 *   plic   PLIC: priorities, levels, pending, claimed, enables, thresholds
 *   uart   ns16550a: registers and the receive queue
 *   rtc    goldfish RTC: the guest's offset from the host wall clock (ns, as a decimal string)
 *
 * The syscon (sifive,test0) holds no state. A device the board lacks is
 * neither saved nor expected.
 */
export const BOARD_STATE_FORMAT = 1;

export interface NamedState {
  readonly name: string;
  readonly state: Uint8Array;
}

const ascii = (o: unknown): Uint8Array => Uint8Array.from(JSON.stringify(o), (c) => c.charCodeAt(0));

function parse(e: NamedState): unknown[] {
  let o: { format?: unknown; v?: unknown };
  try {
    let s = '';
    for (let i = 0; i < e.state.length; i += 8192) s += String.fromCharCode(...e.state.subarray(i, i + 8192));
    o = JSON.parse(s) as typeof o;
  } catch {
    throw new PvmError('image', `device ${e.name} state in the snapshot is not readable`);
  }
  if (o === null || typeof o !== 'object' || o.format !== BOARD_STATE_FORMAT || !Array.isArray(o.v)) {
    throw new PvmError('image', `device ${e.name} state in the snapshot has an unknown format`);
  }
  return o.v;
}

/** The board's device state, one entry per device present. */
export function saveBoard<H extends BoardHart>(board: VirtBoard<H>): NamedState[] {
  const out: NamedState[] = [{ name: 'board', state: ascii({ format: 1, v: [board.baseTimeNow()] }) }];
  if (board.clint) out.push({ name: 'clint', state: ascii({ format: 1, v: board.clint.saveState() }) });
  if (board.plic) out.push({ name: 'plic', state: ascii({ format: 1, v: board.plic.saveState() }) });
  if (board.uart) out.push({ name: 'uart', state: ascii({ format: 1, v: board.uart.saveState() }) });
  if (board.rtc) out.push({ name: 'rtc', state: ascii({ format: 1, v: [board.rtc.wallOffsetNs.toString()] }) });
  return out;
}

/**
 * Loads saveBoard entries into a board of the same shape (harts restored
 * first: the time base may count their instructions). Every entry is
 * checked before any device changes; a mismatch is PvmError('image').
 */
export function loadBoard<H extends BoardHart>(board: VirtBoard<H>, entries: readonly NamedState[]): void {
  const by = new Map(entries.map((e) => [e.name, e]));
  const bad = (name: string, why: string) => new PvmError('image', `device ${name} in the snapshot: ${why}`);
  const ints = (name: string, lo: number, hi: number, len?: number): number[] => {
    const e = by.get(name);
    if (!e) throw bad(name, 'missing');
    const v = parse(e);
    if (len !== undefined && v.length !== len) throw bad(name, `${v.length} values, expected ${len}`);
    for (const x of v)
      if (!Number.isSafeInteger(x) || (x as number) < lo || (x as number) > hi) throw bad(name, 'bad value');
    return v as number[];
  };
  const u32 = 0xffff_ffff;
  const maxSafe = Number.MAX_SAFE_INTEGER;
  const n = board.harts.length;
  const time = ints('board', -maxSafe, maxSafe, 1);
  const clint = board.clint ? ints('clint', -maxSafe, maxSafe, 1 + 4 * n) : null;
  const plic = board.plic ? ints('plic', 0, u32, board.plic.stateLength) : null;
  const uart = board.uart ? ints('uart', 0, 0xffff_ffff) : null;
  if (uart && (uart.length < 14 || uart[13] !== uart.length - 14 || uart.slice(14).some((b) => b > 0xff))) {
    throw bad('uart', 'receive queue');
  }
  let rtc: bigint | null = null;
  if (board.rtc) {
    const e = by.get('rtc');
    if (!e) throw bad('rtc', 'missing');
    const v = parse(e);
    if (v.length !== 1 || typeof v[0] !== 'string' || !/^-?\d{1,30}$/.test(v[0])) throw bad('rtc', 'bad value');
    rtc = BigInt(v[0]);
  }
  const known = new Set([
    'board',
    ...(['clint', 'plic', 'uart', 'rtc'] as const).filter((k) => board[k] !== undefined),
  ]);
  for (const e of entries) if (!known.has(e.name)) throw bad(e.name, 'this board has no such device');
  // Everything checked: apply.
  board.restoreBaseTime(time[0]!);
  if (clint) board.clint!.loadState(clint);
  if (plic) board.plic!.loadState(plic);
  if (uart) board.uart!.loadState(uart);
  if (rtc !== null) board.rtc!.wallOffsetNs = rtc;
}
