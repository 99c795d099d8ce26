import { ALL_ONES, SbiErr } from './consts.js';
import { boundedNumber, physAddr } from './hartmask.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from './types.js';
import { err, ok } from './types.js';

/**
 * SRST (EID "SRST", SBI v2.0 §10): system_reset(reset_type, reset_reason).
 * Types: 0 shutdown, 1 cold reboot, 2 warm reboot; 3..0xEFFFFFFF reserved,
 * 0xF0000000.. vendor (none implemented): both INVALID_PARAM. Reasons: 0 none,
 * 1 system failure, 2..0xDFFFFFFF reserved (INVALID_PARAM), the rest
 * implementation/vendor specific (accepted, reported as a failure).
 */
export const srstExtension: SbiExtension = {
  name: 'SRST',
  functionName: (_e, fid) => (fid === 0 ? 'system_reset' : undefined),
  call(p: SbiPlatform, _hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid !== 0) return err(SbiErr.NOT_SUPPORTED);
    if (a[0] > 2n) return err(SbiErr.INVALID_PARAM);
    if (a[1] > 0xffff_ffffn || (a[1] >= 2n && a[1] < 0xe000_0000n)) return err(SbiErr.INVALID_PARAM);
    p.systemReset(Number(a[0]), Number(a[1]));
    return ok();
  },
};

const dbcnNames = ['console_write', 'console_read', 'console_write_byte'];

/**
 * DBCN (EID "DBCN", SBI v2.0 §12). The buffer is given by physical address
 * (lo, hi) and length; it must lie entirely inside guest RAM, otherwise
 * INVALID_PARAM (§12.1/§12.2). Writes are never partial; reads return what
 * input is pending (possibly 0 bytes).
 */
export const dbcnExtension: SbiExtension = {
  name: 'DBCN',
  functionName: (_e, fid) => dbcnNames[fid],
  call(p: SbiPlatform, _hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid === 2) {
      p.consoleWrite(Uint8Array.of(Number(a[0] & 0xffn)));
      return ok();
    }
    if (fid !== 0 && fid !== 1) return err(SbiErr.NOT_SUPPORTED);
    const len = boundedNumber(a[0], p.ram.size);
    const pa = physAddr(a[1], a[2]);
    if (len === null || pa === null || !p.ram.contains(pa, len)) return err(SbiErr.INVALID_PARAM);
    const off = pa - p.ram.base;
    if (fid === 0) return ok(p.consoleWrite(p.ram.u8.subarray(off, off + len)));
    const got = p.consoleRead(len);
    p.ram.u8.set(got.subarray(0, len), off);
    p.ram.dirty.mark(off, len);
    return ok(Math.min(got.length, len));
  },
};

/** Size of the steal-time record (SBI v2.0 §13.1, "STA Shared Memory Structure"). */
export const STA_SHMEM_SIZE = 64;

/**
 * STA (EID "STA", SBI v2.0 §13): steal_time_set_shmem(lo, hi, flags).
 * flags != 0 or lo not 64-byte aligned: INVALID_PARAM; a block not inside
 * RAM: INVALID_ADDRESS; lo = hi = -1 turns reporting off. The block is zeroed
 * before the call returns, as §13.1 requires.
 */
export const staExtension: SbiExtension = {
  name: 'STA',
  functionName: (_e, fid) => (fid === 0 ? 'steal_time_set_shmem' : undefined),
  call(p: SbiPlatform, hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid !== 0) return err(SbiErr.NOT_SUPPORTED);
    if (a[2] !== 0n) return err(SbiErr.INVALID_PARAM);
    if (a[0] === ALL_ONES && a[1] === ALL_ONES) {
      p.setStealTimeShmem(hart, null);
      return ok();
    }
    if ((a[0] & 63n) !== 0n) return err(SbiErr.INVALID_PARAM);
    const pa = physAddr(a[0], a[1]);
    if (pa === null || !p.ram.contains(pa, STA_SHMEM_SIZE)) return err(SbiErr.INVALID_ADDRESS);
    p.ram.u8.fill(0, pa - p.ram.base, pa - p.ram.base + STA_SHMEM_SIZE);
    p.ram.dirty.mark(pa - p.ram.base, STA_SHMEM_SIZE);
    p.setStealTimeShmem(hart, pa);
    return ok();
  },
};
