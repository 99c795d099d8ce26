import { HsmState, SbiErr } from './consts.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from './types.js';
import { err, ok } from './types.js';

const names = ['hart_start', 'hart_stop', 'hart_get_status', 'hart_suspend'];

/** Suspend types (SBI v2.0 §9.4, table "HSM Hart Suspend Types"). */
const SUSPEND_RETENTIVE = 0x0000_0000n;
const SUSPEND_NON_RETENTIVE = 0x8000_0000n;

/** A start or resume address must be a physical address the hart can execute: inside RAM. */
function executable(p: SbiPlatform, addr: bigint): boolean {
  return addr <= BigInt(Number.MAX_SAFE_INTEGER) && p.ram.contains(Number(addr), 2);
}

/** HSM (EID "HSM", SBI v2.0 §9). */
export const hsmExtension: SbiExtension = {
  name: 'HSM',
  functionName: (_e, fid) => names[fid],
  call(p: SbiPlatform, hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    switch (fid) {
      case 0: {
        // §9.1: INVALID_PARAM for a hart that does not exist, INVALID_ADDRESS for start_addr,
        // ALREADY_AVAILABLE unless the target is STOPPED.
        if (a[0] >= BigInt(p.hartCount)) return err(SbiErr.INVALID_PARAM);
        const target = Number(a[0]);
        if (!executable(p, a[1])) return err(SbiErr.INVALID_ADDRESS);
        if (p.hartStatus(target) !== HsmState.STOPPED) return err(SbiErr.ALREADY_AVAILABLE);
        p.hartStart(target, a[1], a[2]);
        return ok();
      }
      case 1:
        // §9.2: only a STARTED hart can stop itself.
        if (p.hartStatus(hart) !== HsmState.STARTED) return err(SbiErr.FAILED);
        p.hartStop(hart);
        return ok();
      case 2:
        if (a[0] >= BigInt(p.hartCount)) return err(SbiErr.INVALID_PARAM);
        return ok(p.hartStatus(Number(a[0])));
      case 3: {
        // §9.4: suspend_type is 32 bits; reserved and unimplemented platform-specific types
        // are INVALID_PARAM. pvm implements the two default types.
        const type = a[0];
        if (type !== SUSPEND_RETENTIVE && type !== SUSPEND_NON_RETENTIVE) return err(SbiErr.INVALID_PARAM);
        const retentive = type === SUSPEND_RETENTIVE;
        if (!retentive && !executable(p, a[1])) return err(SbiErr.INVALID_ADDRESS);
        p.hartSuspend(hart, retentive, a[1], a[2]);
        return ok();
      }
      default:
        return err(SbiErr.NOT_SUPPORTED);
    }
  },
};
