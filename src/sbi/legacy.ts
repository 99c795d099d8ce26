import { Eid, ResetReason, ResetType, SbiErr } from './consts.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from './types.js';
import { err, ok } from './types.js';

const names: Record<number, string> = {
  [Eid.LEGACY_SET_TIMER]: 'set_timer',
  [Eid.LEGACY_CONSOLE_PUTCHAR]: 'console_putchar',
  [Eid.LEGACY_CONSOLE_GETCHAR]: 'console_getchar',
  [Eid.LEGACY_CLEAR_IPI]: 'clear_ipi',
  [Eid.LEGACY_SEND_IPI]: 'send_ipi',
  [Eid.LEGACY_REMOTE_FENCE_I]: 'remote_fence_i',
  [Eid.LEGACY_REMOTE_SFENCE_VMA]: 'remote_sfence_vma',
  [Eid.LEGACY_REMOTE_SFENCE_VMA_ASID]: 'remote_sfence_vma_asid',
  [Eid.LEGACY_SHUTDOWN]: 'shutdown',
};

/**
 * Legacy hart masks (SBI v2.0 §5): a0 is a guest-virtual pointer to an
 * unsigned long bit vector; NULL means every hart. pvm reads the first word
 * (harts 0..63: the domain has at most 8). An unreadable pointer or a bit
 * naming a missing hart gives INVALID_ADDRESS / INVALID_PARAM.
 */
function legacyMask(p: SbiPlatform, hart: number, ptr: bigint): number[] | number {
  if (ptr === 0n) return Array.from({ length: p.hartCount }, (_, i) => i);
  const word = p.readGuestU64(hart, ptr);
  if (word === null) return SbiErr.INVALID_ADDRESS;
  const out: number[] = [];
  for (let i = 0; i < 64; i++) {
    if (((word >> BigInt(i)) & 1n) === 0n) continue;
    if (i >= p.hartCount) return SbiErr.INVALID_PARAM;
    out.push(i);
  }
  return out;
}

/**
 * The SBI v0.1 calls (EIDs 0x00-0x08, SBI v2.0 §5). a6 is ignored and only
 * a0 is returned: the dispatcher writes `error` to a0 and leaves a1 alone.
 * console_getchar returns the byte, or -1 when no input is pending.
 */
export const legacyExtension: SbiExtension = {
  name: 'LEGACY',
  legacy: true,
  functionName: (eid) => names[eid],
  call(p: SbiPlatform, hart: number, eid: number, _fid: number, a: SbiArgs): SbiRet {
    switch (eid) {
      case Eid.LEGACY_SET_TIMER:
        p.setTimer(hart, a[0]);
        return ok();
      case Eid.LEGACY_CONSOLE_PUTCHAR:
        p.consoleWrite(Uint8Array.of(Number(a[0] & 0xffn)));
        return ok();
      case Eid.LEGACY_CONSOLE_GETCHAR: {
        const b = p.consoleRead(1);
        return err(b.length > 0 ? b[0]! : -1);
      }
      case Eid.LEGACY_CLEAR_IPI:
        p.clearIpi(hart);
        return ok();
      case Eid.LEGACY_SHUTDOWN:
        p.systemReset(ResetType.SHUTDOWN, ResetReason.NONE);
        return ok();
      default: {
        const harts = legacyMask(p, hart, a[0]);
        if (typeof harts === 'number') return err(harts);
        for (const h of harts) {
          if (eid === Eid.LEGACY_SEND_IPI) p.sendIpi(h);
          else if (eid === Eid.LEGACY_REMOTE_FENCE_I) p.remoteFenceI(h);
          else {
            const asid = eid === Eid.LEGACY_REMOTE_SFENCE_VMA_ASID ? Number(a[3] & 0xffffn) : -1;
            p.remoteSfenceVma(h, a[1], a[2], asid);
          }
        }
        return ok();
      }
    }
  },
  /**
   * The hypercall fast path (SbiDispatcher.handleEcallFast) for the calls a guest makes often:
   * set_timer and the console (a kernel's hvc0 console writes one byte per call).
   */
  callNum(p: SbiPlatform, hart: number, eid: number, _fid: number, a0: number): number | undefined {
    switch (eid) {
      case Eid.LEGACY_SET_TIMER:
        if (p.setTimerNum === undefined) return undefined;
        p.setTimerNum(hart, a0);
        return SbiErr.SUCCESS;
      case Eid.LEGACY_CONSOLE_PUTCHAR:
        p.consoleWrite(Uint8Array.of(a0 & 0xff));
        return SbiErr.SUCCESS;
      case Eid.LEGACY_CONSOLE_GETCHAR: {
        const b = p.consoleRead(1);
        return b.length > 0 ? b[0]! : -1;
      }
      default:
        return undefined;
    }
  },
};
