import { ALL_ONES, SbiErr } from './consts.js';
import { decodeHartMask } from './hartmask.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from './types.js';
import { err, ok } from './types.js';

/** TIME (EID "TIME", SBI v2.0 §6): set_timer(stime_value). */
export const timeExtension: SbiExtension = {
  name: 'TIME',
  functionName: (_e, fid) => (fid === 0 ? 'set_timer' : undefined),
  call(p: SbiPlatform, hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid !== 0) return err(SbiErr.NOT_SUPPORTED);
    p.setTimer(hart, a[0]);
    return ok();
  },
  callNum(p: SbiPlatform, hart: number, _e: number, fid: number, a0: number): number | undefined {
    if (fid !== 0) return undefined;
    if (p.setTimerNum !== undefined) p.setTimerNum(hart, a0);
    else p.setTimer(hart, BigInt(a0));
    return SbiErr.SUCCESS;
  },
};

/** IPI (EID "sPI", SBI v2.0 §7): send_ipi(hart_mask, hart_mask_base). */
export const ipiExtension: SbiExtension = {
  name: 'IPI',
  functionName: (_e, fid) => (fid === 0 ? 'send_ipi' : undefined),
  call(p: SbiPlatform, _hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid !== 0) return err(SbiErr.NOT_SUPPORTED);
    const harts = decodeHartMask(a[0], a[1], p.hartCount);
    if (typeof harts === 'number') return err(harts);
    for (const h of harts) p.sendIpi(h);
    return ok();
  },
};

const rfenceNames = [
  'remote_fence_i',
  'remote_sfence_vma',
  'remote_sfence_vma_asid',
  'remote_hfence_gvma_vmid',
  'remote_hfence_gvma',
  'remote_hfence_vvma_asid',
  'remote_hfence_vvma',
];

/**
 * RFENCE (EID "RFNC", SBI v2.0 §8). The virtual harts have no H extension, so
 * the hfence functions answer NOT_SUPPORTED (§8.4-8.7 allow exactly that).
 * Every start/size is acceptable for an SFENCE: a range the guest never
 * mapped is simply flushed for nothing.
 */
export const rfenceExtension: SbiExtension = {
  name: 'RFENCE',
  functionName: (_e, fid) => rfenceNames[fid],
  call(p: SbiPlatform, _hart: number, _e: number, fid: number, a: SbiArgs): SbiRet {
    if (fid > 2) return err(SbiErr.NOT_SUPPORTED);
    const harts = decodeHartMask(a[0], a[1], p.hartCount);
    if (typeof harts === 'number') return err(harts);
    if (fid === 0) {
      for (const h of harts) p.remoteFenceI(h);
      return ok();
    }
    const start = a[2];
    const size = a[3];
    // §8.2: start + size wrapping past 2^64 (other than size = -1, "flush all") is not a valid range.
    if (size !== ALL_ONES && start + size > ALL_ONES + 1n) return err(SbiErr.INVALID_ADDRESS);
    const asid = fid === 2 ? Number(a[4] & 0xffffn) : -1;
    for (const h of harts) p.remoteSfenceVma(h, start, size, asid);
    return ok();
  },
};
