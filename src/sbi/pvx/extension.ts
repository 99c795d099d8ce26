import { Eid, SbiErr } from '../consts.js';
import type { SbiDispatcher } from '../dispatcher.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from '../types.js';
import { err, ok } from '../types.js';
import { PVX_CALL_BY_FID, type PvxBackend, type PvxCaller } from './calls.js';
import { Mc, PVX_FEATURES_ALL, PVX_MULTICALL_MAX } from './consts.js';
import { ramOffset } from './validate.js';

/**
 * PVX as an SBI extension object: one instance per domain (it holds the
 * domain's backend), registered at PVX_EID only (§11.1: the rest of the
 * firmware-specific range stays NOT_SUPPORTED). `features` may clear bits
 * of PVX_FEATURES_ALL (tests, or a host that hides grant maps); a call whose
 * bit is clear answers NOT_SUPPORTED (§3).
 */
export class PvxExtension implements SbiExtension, PvxCaller {
  readonly name = 'PVX';
  /** Depth guard: a multicall entry never runs another multicall. */
  private inBatch = false;
  /** Set by a successful shutdown-like entry so that a batch stops after it (§7). */
  private ended = false;

  constructor(
    private readonly backend: PvxBackend,
    private readonly dispatcher: SbiDispatcher,
    readonly features: number = PVX_FEATURES_ALL,
  ) {}

  functionName(_eid: number, fid: number): string | undefined {
    return PVX_CALL_BY_FID.get(fid)?.name;
  }

  /**
   * Find the call's row (calls.ts), check that its feature is offered and
   * that it may run here, run it. SbiDispatcher.call has already named and
   * counted the call and writes a0/a1 from the result.
   */
  call(_platform: SbiPlatform, hart: number, _eid: number, fid: number, a: SbiArgs): SbiRet {
    const c = PVX_CALL_BY_FID.get(fid);
    if (c === undefined || (c.feature & this.features) !== c.feature) return err(SbiErr.NOT_SUPPORTED);
    if (this.inBatch && c.notInBatch) return err(SbiErr.NOT_SUPPORTED);
    const r = c.run(this.backend, a, hart, this);
    if (c.endsBatch && r.error === 0) this.ended = true;
    return r;
  }

  /** The numeric fast path (SbiExtension.callNum): the calls with a `runNum` (the timer, event channel sends). */
  callNum(_platform: SbiPlatform, hart: number, _eid: number, fid: number, a0: number): number | undefined {
    const c = PVX_CALL_BY_FID.get(fid);
    if (c?.runNum === undefined) return undefined;
    // the checks of `call`, in its order
    if ((c.feature & this.features) !== c.feature) return SbiErr.NOT_SUPPORTED;
    if (this.inBatch && c.notInBatch) return SbiErr.NOT_SUPPORTED;
    const error = c.runNum(this.backend, a0, hart);
    if (c.endsBatch && error === 0) this.ended = true;
    return error;
  }

  /**
   * PVX_MULTICALL (§7): validate the batch (count, then the array's
   * address), then read each entry just before it runs, run it through the
   * dispatcher (PVX and standard SBI alike) and write its error and value
   * back. Entries that block, yield, nest, stop a hart or use the legacy
   * v0.1 calls get NOT_SUPPORTED and the batch goes on; a successful
   * SCHED_SHUTDOWN or SRST ends it.
   */
  multicall(hart: number, gpa: bigint, count: bigint): SbiRet {
    if (count === 0n || count > BigInt(PVX_MULTICALL_MAX)) return err(SbiErr.INVALID_PARAM);
    const n = Number(count);
    const ram = this.dispatcher.platform.ram;
    const base = ramOffset(ram, gpa, Mc.ENTRY_SIZE * n, 8);
    if (base < 0) return err(SbiErr.INVALID_ADDRESS);
    const dv = ram.view;
    this.inBatch = true;
    this.ended = false;
    let done = 0;
    try {
      for (let i = 0; i < n; i++) {
        const o = base + Mc.ENTRY_SIZE * i;
        const eid = dv.getUint32(o + Mc.EID, true);
        const fid = dv.getUint32(o + Mc.FID, true);
        const args: bigint[] = [];
        for (let k = 0; k < 6; k++) args.push(dv.getBigUint64(o + Mc.ARGS + 8 * k, true));
        const r = allowedInBatch(eid, fid)
          ? this.dispatcher.call(hart, BigInt(eid), BigInt(fid), args as unknown as SbiArgs)
          : err(SbiErr.NOT_SUPPORTED);
        dv.setBigInt64(o + Mc.ERROR, BigInt(r.error), true);
        dv.setBigUint64(o + Mc.VALUE, BigInt.asUintN(64, r.value), true);
        ram.dirty.mark(o + Mc.ERROR, 8);
        ram.dirty.mark(o + Mc.VALUE, 8);
        done++;
        if (r.error === 0 && (this.ended || eid === Eid.SRST)) break;
      }
    } finally {
      this.inBatch = false;
      this.ended = false;
    }
    return ok(done);
  }
}

/** HSM function ids a batch may not use (SBI v2.0 §9.2, §9.4): they stop the calling hart. */
const HSM_HART_STOP = 1;
const HSM_HART_SUSPEND = 3;

/** Standard SBI calls a multicall entry may not make (§7). PVX ones are refused in `call`. */
function allowedInBatch(eid: number, fid: number): boolean {
  if (eid <= 0x0f) return false; // legacy v0.1 (EID 0x00-0x0F)
  if (eid === Eid.HSM && (fid === HSM_HART_STOP || fid === HSM_HART_SUSPEND)) return false;
  return true;
}
