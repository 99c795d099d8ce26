import type { MmioDevice } from './bus.js';

/** What the guest asked for through the `sifive,test0` finisher. */
export type SysconEvent = { kind: 'poweroff' } | { kind: 'reboot' } | { kind: 'fail'; code: number };

export const SysconValue = {
  FAIL: 0x3333,
  PASS: 0x5555,
  RESET: 0x7777,
} as const;

/**
 * The `sifive,test0` finisher (QEMU hw/misc/sifive_test.c): a write at
 * offset 0 whose low 16 bits select the action and high 16 bits carry the
 * exit code of a failure. OpenSBI uses 16-bit writes (writew) for poweroff
 * and reboot, so 2- and 4-byte writes count; others are ignored. Reads return 0.
 */
export class SifiveTest implements MmioDevice {
  readonly name = 'test';
  constructor(private readonly onEvent: (e: SysconEvent) => void) {}

  read(_offset: number, _size: 1 | 2 | 4): number {
    return 0;
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset !== 0 || size === 1) return;
    const status = value & 0xffff;
    const code = size === 4 ? (value >>> 16) & 0xffff : 0;
    if (status === SysconValue.PASS) this.onEvent({ kind: 'poweroff' });
    else if (status === SysconValue.RESET) this.onEvent({ kind: 'reboot' });
    else if (status === SysconValue.FAIL) this.onEvent({ kind: 'fail', code });
  }
}
