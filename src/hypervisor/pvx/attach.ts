import { Csr, IrqBit } from '../../cpu/arch.js';
import { PVX_EID, ShutdownReason } from '../../sbi/pvx/consts.js';
import { PvxExtension } from '../../sbi/pvx/extension.js';
import type { Domain } from '../domain.js';
import type { PvxEnv } from './env.js';
import type { GrantWindow } from './grant-window.js';
import { PvxHost } from './host.js';
import { PvxDomain } from './pvx-domain.js';

export interface PvxAttachOptions {
  /** The registry shared by the domains of this process; a new one (domain id 1) when absent. */
  host?: PvxHost<PvxDomain>;
  /** Host wall clock in ns since the epoch (shared info wc_sec/wc_nsec). */
  wallClockNs?: () => bigint;
  /** PVX domain id to take in `host` (e.g. the control plane's own number); lowest free when absent. */
  domid?: number;
}

/**
 * Give a PV-mode domain PVX: its per-domain state, the extension registered
 * at PVX_EID in its SBI dispatcher, and the run-loop hooks (`domain.pvx`).
 * `window` must be the grant window its harts' bus was built with
 * (GrantWindow.over in vm.ts). Returns the domain's PVX state, through which
 * the host raises shutdown requests and balloon targets.
 */
export function attachPvx(domain: Domain, window: GrantWindow, opts: PvxAttachOptions = {}): PvxDomain {
  const host = opts.host ?? new PvxHost<PvxDomain>();
  const wall = opts.wallClockNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  const hostWake = (domain.host as { wake?: () => void }).wake;
  const time = domain.machine.time;
  const env: PvxEnv = {
    ram: domain.ram,
    vcpuCount: domain.hartCount,
    now: () => time.now(),
    recent: time.recent !== undefined ? () => time.recent!() : () => time.now(),
    wallClockNs: wall,
    raiseUpcall: (v) => domain.vcpus[v]!.hart.setIrq(IrqBit.SSIP, true),
    irqPending: (v) => {
      const h = domain.vcpus[v]!.hart;
      return (h.getCsr(Csr.mip) & h.getCsr(Csr.mie)) !== 0n;
    },
    block: (v) => {
      domain.vcpus[v]!.waiting = true;
    },
    // The slice ends at the next instruction boundary: the run loop then turns to the next vCPU.
    yieldNow: (v) => domain.vcpus[v]!.hart.requestStop(),
    shutdown: (reason) => {
      if (reason === ShutdownReason.POWEROFF) domain.systemReset(0, 0);
      else if (reason === ShutdownReason.REBOOT) domain.systemReset(1, 0);
      else domain.fail(reason === ShutdownReason.CRASH ? 1 : 2, `PVX shutdown: ${reason === 2 ? 'crash' : 'watchdog'}`);
    },
    flushTlb: (v) => domain.vcpus[v]!.hart.flushTlb(),
    setResult: (v, error, value) => {
      const h = domain.vcpus[v]!.hart;
      h.setX(10, BigInt.asUintN(64, BigInt(error)));
      h.setX(11, value);
    },
    kick: () => hostWake?.call(domain.host),
    consoleBound: () => {
      domain.inputTo = 'sbi';
    },
  };
  const pvx = new PvxDomain(host, env, window, opts.domid);
  domain.sbi.register(new PvxExtension(pvx, domain.sbi), PVX_EID);
  domain.pvx = pvx;
  return pvx;
}
