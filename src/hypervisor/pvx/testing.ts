import { GuestRam } from '../../memory/ram.js';
import { HsmState } from '../../sbi/consts.js';
import { createSbi, type SbiDispatcher } from '../../sbi/dispatcher.js';
import { PVX_EID } from '../../sbi/pvx/consts.js';
import { PvxExtension } from '../../sbi/pvx/extension.js';
import type { SbiArgs, SbiPlatform, SbiRet } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';
import { GrantWindow } from './grant-window.js';
import { PvxHost, type PvxRemote } from './host.js';
import { PvxDomain } from './pvx-domain.js';
import { type PvxNote, type PvxReply, type PvxRequest, servePvx } from './remote.js';

/** Test fixtures: PVX domains over a fake environment and a real SBI dispatcher. */

export const RAM_BASE = 0x8000_0000;
export const RAM_SIZE = 1 << 20;
/** Where the tests put things in guest RAM. */
export const At = {
  SHINFO: 0x8000_1000,
  GNTTAB: 0x8000_2000,
  BUF: 0x8000_6000,
  MC: 0x8000_8000,
  LIST: 0x8000_a000,
  PAGE: 0x8001_0000,
} as const;

/** A PvxEnv that records what PVX asked of the domain. */
export class FakeEnv implements PvxEnv {
  readonly ram: GuestRam;
  time = 1_000;
  readonly ssip: boolean[];
  readonly irq: boolean[];
  readonly blocked: boolean[];
  readonly results: { vcpu: number; error: number; value: bigint }[] = [];
  yields = 0;
  kicks = 0;
  tlbFlushes = 0;
  console = false;
  shutdowns: number[] = [];

  /** `shared`: RAM in shared memory, as a domain of the daemon's pool has (another thread maps its grants). */
  constructor(
    readonly vcpuCount = 2,
    shared = false,
  ) {
    this.ram = new GuestRam(RAM_BASE, RAM_SIZE, 0, { shared });
    this.ssip = new Array(vcpuCount).fill(false);
    this.irq = new Array(vcpuCount).fill(false);
    this.blocked = new Array(vcpuCount).fill(false);
  }
  now(): number {
    return this.time;
  }
  /** How far the clock's last reading (`recent`) is behind `time`. */
  lag = 0;
  recent(): number {
    return this.time - this.lag;
  }
  wallClockNs(): bigint {
    return 1_700_000_000_123_456_789n;
  }
  raiseUpcall(v: number): void {
    this.ssip[v] = true;
  }
  irqPending(v: number): boolean {
    return this.irq[v]!;
  }
  block(v: number): void {
    this.blocked[v] = true;
  }
  yieldNow(): void {
    this.yields++;
  }
  shutdown(reason: number): void {
    this.shutdowns.push(reason);
  }
  flushTlb(): void {
    this.tlbFlushes++;
  }
  setResult(vcpu: number, error: number, value: bigint): void {
    this.results.push({ vcpu, error, value });
  }
  kick(): void {
    this.kicks++;
  }
  consoleBound(): void {
    this.console = true;
  }
}

/** SBI platform stub: records RFENCE/IPI/SRST calls made from multicalls. */
export function fakePlatform(env: FakeEnv): SbiPlatform & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    hartCount: env.vcpuCount,
    ram: env.ram,
    setTimer: (h, t) => log.push(`set_timer ${h} ${t}`),
    sendIpi: (h) => log.push(`ipi ${h}`),
    clearIpi: () => {},
    remoteFenceI: (h) => log.push(`fence_i ${h}`),
    remoteSfenceVma: (h, s, z) => log.push(`sfence ${h} 0x${s.toString(16)} 0x${z.toString(16)}`),
    hartStatus: () => HsmState.STARTED,
    hartStart: () => {},
    hartStop: (h) => log.push(`hart_stop ${h}`),
    hartSuspend: () => {},
    systemReset: (t, r) => log.push(`reset ${t} ${r}`),
    consoleWrite: (b) => b.length,
    consoleRead: () => new Uint8Array(0),
    readGuestU64: () => null,
    setStealTimeShmem: () => {},
  };
}

/** One domain under test: its state, fake env and dispatcher. */
export class TestDomain {
  readonly env: FakeEnv;
  readonly pvx: PvxDomain;
  readonly sbi: SbiDispatcher;
  readonly platform: ReturnType<typeof fakePlatform>;

  constructor(host: PvxHost<PvxDomain>, vcpus = 2, domid?: number) {
    this.env = new FakeEnv(vcpus, host.remote !== null);
    this.pvx = new PvxDomain(host, this.env, new GrantWindow(), domid);
    this.platform = fakePlatform(this.env);
    this.sbi = createSbi(this.platform);
    this.sbi.register(new PvxExtension(this.pvx, this.sbi), PVX_EID);
  }

  /** A PVX call from vCPU `hart` (default 0). */
  call(fid: number, args: readonly (bigint | number)[] = [], hart = 0): SbiRet {
    const a = [0, 1, 2, 3, 4, 5].map((i) => BigInt.asUintN(64, BigInt(args[i] ?? 0))) as unknown as SbiArgs;
    return this.sbi.call(hart, BigInt(PVX_EID), BigInt(fid), a);
  }

  /** The call must succeed; returns a1 as a number. */
  ok(fid: number, args: readonly (bigint | number)[] = [], hart = 0): number {
    const r = this.call(fid, args, hart);
    if (r.error !== 0) throw new Error(`PVX fid 0x${fid.toString(16)} failed with ${r.error}`);
    return Number(r.value);
  }

  get view(): DataView {
    return this.env.ram.view;
  }
  off(gpa: number): number {
    return gpa - RAM_BASE;
  }
  u8(gpa: number): number {
    return this.view.getUint8(this.off(gpa));
  }
  setU8(gpa: number, v: number): void {
    this.view.setUint8(this.off(gpa), v);
  }
  u16(gpa: number): number {
    return this.view.getUint16(this.off(gpa), true);
  }
  u32(gpa: number): number {
    return this.view.getUint32(this.off(gpa), true);
  }
  setU32(gpa: number, v: number): void {
    this.view.setUint32(this.off(gpa), v >>> 0, true);
  }
  u64(gpa: number): bigint {
    return this.view.getBigUint64(this.off(gpa), true);
  }
  setU64(gpa: number, v: bigint | number): void {
    this.view.setBigUint64(this.off(gpa), BigInt.asUintN(64, BigInt(v)), true);
  }

  /** Register the shared info page the way §4.1 says a guest does: all vCPUs and ports masked. */
  registerShinfo(): void {
    for (let v = 0; v < 8; v++) this.setU8(At.SHINFO + 64 * v + 1, 1);
    for (let w = 0; w < 16; w++) this.setU64(At.SHINFO + 0x280 + 8 * w, -1n);
    this.ok(0x100, [At.SHINFO]);
  }

  /** Unmask port p in evtchn_mask (the guest's write) and vCPU v's upcall_mask. */
  unmaskPort(p: number): void {
    const a = At.SHINFO + 0x280 + 8 * Math.floor(p / 64);
    this.setU64(a, this.u64(a) & ~(1n << BigInt(p % 64)));
  }
  unmaskVcpu(v: number): void {
    this.setU8(At.SHINFO + 64 * v + 1, 0);
  }
  pending(p: number): boolean {
    return ((this.u64(At.SHINFO + 0x200 + 8 * Math.floor(p / 64)) >> BigInt(p % 64)) & 1n) === 1n;
  }
  upcallPending(v: number): number {
    return this.u8(At.SHINFO + 64 * v);
  }
  pendingSel(v: number): bigint {
    return this.u64(At.SHINFO + 64 * v + 8);
  }

  /** Write grant entry `ref` in this domain's table at At.GNTTAB. */
  grant(ref: number, grantee: number, gpa: number, flags: number): void {
    const e = At.GNTTAB + 8 * ref;
    this.view.setUint16(this.off(e) + 2, grantee, true);
    this.setU32(e + 4, gpa / 4096);
    this.view.setUint16(this.off(e), flags, true);
  }
}

export function twoDomains(): { host: PvxHost<PvxDomain>; a: TestDomain; b: TestDomain } {
  const host = new PvxHost<PvxDomain>();
  return { host, a: new TestDomain(host), b: new TestDomain(host) };
}

/**
 * Another thread's registry played in this thread: requests and notes go straight to
 * `servePvx` of `other`, as src/server/pvx-links.ts carries them between threads. `notes`
 * holds back the notes until `deliver` when set (a thread that has not run yet).
 */
export class LoopRemote implements PvxRemote {
  readonly sent: (PvxRequest | PvxNote)[] = [];
  held: PvxNote[] | null = null;
  constructor(private readonly other: () => PvxHost<PvxDomain>) {}
  has(id: number): boolean {
    return this.other().get(id) !== undefined;
  }
  call(req: PvxRequest): PvxReply | undefined {
    this.sent.push(req);
    return servePvx(this.other(), req);
  }
  post(note: PvxNote): void {
    this.sent.push(note);
    if (this.held !== null) this.held.push(note);
    else servePvx(this.other(), note);
  }
  deliver(): void {
    const h = this.held ?? [];
    this.held = null;
    for (const n of h) servePvx(this.other(), n);
  }
  added(): void {}
  removed(): void {}
}

/** Domains 1 and 2 in two registries, as on two threads of the daemon's pool (shared RAM). */
export function splitDomains(): { hosts: PvxHost<PvxDomain>[]; a: TestDomain; b: TestDomain; links: LoopRemote[] } {
  const ha = new PvxHost<PvxDomain>();
  const hb = new PvxHost<PvxDomain>();
  const links = [new LoopRemote(() => hb), new LoopRemote(() => ha)];
  ha.remote = links[0]!;
  hb.remote = links[1]!;
  return { hosts: [ha, hb], a: new TestDomain(ha), b: new TestDomain(hb), links };
}
