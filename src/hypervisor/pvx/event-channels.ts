import type { StateCodec } from '../../core/state.js';
import { SbiErr } from '../../sbi/consts.js';
import type { PvxEventChannelCalls } from '../../sbi/pvx/calls.js';
import { PortState, PVX_DOMID_SELF, PVX_EVTCHN_NR_PORTS, PVX_NR_VIRQS, Shinfo, Virq } from '../../sbi/pvx/consts.js';
import { asU16, below } from '../../sbi/pvx/validate.js';
import type { SbiRet } from '../../sbi/types.js';
import { err, ok } from '../../sbi/types.js';
import type { PvxEnv } from './env.js';
import type { PvxRemote } from './host.js';
import type { SharedInfo } from './shared-info.js';

export const NO_PORT = 0;

/**
 * The event channels of one domain (docs/para-api-pvx.md §5): 1024 port
 * records in typed arrays (state, notify vCPU, remote domid or virq, remote
 * port), the (vCPU, VIRQ) -> port table, and delivery into the shared info
 * page (§4.3).
 *
 * Another domain's channels are reached through `peer` and touched only by
 * the methods marked "peer": a domain can only ever raise or unbind a port
 * that is connected back to one of its own. A domain on another thread of
 * the daemon is reached through `elsewhere`, whose other side calls the
 * same peer methods (remote.ts).
 */
export class EventChannels implements PvxEventChannelCalls {
  private readonly state = new Uint8Array(PVX_EVTCHN_NR_PORTS);
  private readonly vcpu = new Uint8Array(PVX_EVTCHN_NR_PORTS);
  /** UNBOUND/INTERDOMAIN: remote domid; VIRQ: virq. */
  private readonly remote = new Uint16Array(PVX_EVTCHN_NR_PORTS);
  private readonly remotePort = new Uint16Array(PVX_EVTCHN_NR_PORTS);
  /** Port bound to (vcpu, virq) at index vcpu * PVX_NR_VIRQS + virq, 0 = none. */
  private readonly virqPort: Uint16Array;

  constructor(
    /** This domain's id. */
    private readonly id: number,
    private readonly env: PvxEnv,
    private readonly shinfo: SharedInfo,
    /** The channels of domain `domid` when it exists (this object for our own id). */
    private readonly peer: (domid: number) => EventChannels | undefined,
    /** VIRQ_TIMER of `vcpu` was unbound: its PVX timer is cancelled (§4.5). */
    private readonly timerUnbound: (vcpu: number) => void,
    /** The daemon's domains on other threads (null: none). */
    private readonly elsewhere: PvxRemote | null = null,
  ) {
    this.virqPort = new Uint16Array(env.vcpuCount * PVX_NR_VIRQS);
  }

  /** Domain ids of other domains one of our ports is connected to (live migration refuses those). */
  interdomainPeers(): number[] {
    const peers = new Set<number>();
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) {
      if (this.state[p] === PortState.INTERDOMAIN && this.remote[p] !== this.id) peers.add(this.remote[p]!);
    }
    return [...peers].sort((a, b) => a - b);
  }

  // ------------------------------------------------------------------ guest calls

  allocUnbound(remoteDom: bigint): SbiRet {
    const d = this.domArg(remoteDom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.UNBOUND, 0, d, 0);
    return ok(p);
  }

  bindInterdomain(remoteDom: bigint, remotePort: bigint): SbiRet {
    const d = this.domArg(remoteDom);
    if (d < 0) return err(SbiErr.INVALID_PARAM);
    const rp = below(remotePort, PVX_EVTCHN_NR_PORTS);
    if (rp < 1) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    const peer = d === this.id ? this : this.peer(d);
    if (peer === undefined) return this.bindElsewhere(d, rp);
    if (peer.state[rp] !== PortState.UNBOUND) return err(SbiErr.INVALID_STATE);
    if (peer.remote[rp] !== this.id) return err(SbiErr.DENIED);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.INTERDOMAIN, 0, d, rp);
    peer.setPort(rp, PortState.INTERDOMAIN, 0, this.id, p);
    this.setPending(p); // a send before the bind would otherwise be lost (§5.3)
    return ok(p);
  }

  bindVirq(virq: bigint, vcpu: bigint): SbiRet {
    const q = below(virq, PVX_NR_VIRQS);
    if (q < 0) return err(SbiErr.INVALID_PARAM);
    const v = below(vcpu, this.env.vcpuCount);
    if (v < 0 || (q !== Virq.TIMER && v !== 0)) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    if (this.virqPort[v * PVX_NR_VIRQS + q] !== NO_PORT) return err(SbiErr.ALREADY_AVAILABLE);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.VIRQ, v, q, 0);
    this.virqPort[v * PVX_NR_VIRQS + q] = p;
    if (q === Virq.CONSOLE) this.env.consoleBound();
    return ok(p);
  }

  bindIpi(vcpu: bigint): SbiRet {
    const v = below(vcpu, this.env.vcpuCount);
    if (v < 0) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    const p = this.freePort();
    if (p === NO_PORT) return err(SbiErr.FAILED);
    this.setPort(p, PortState.IPI, v, 0, 0);
    return ok(p);
  }

  send(port: bigint): SbiRet {
    const e = this.sendNum(port < BigInt(PVX_EVTCHN_NR_PORTS) ? Number(port) : -1);
    return e === SbiErr.SUCCESS ? ok(0) : err(e);
  }

  /** `send` with the port as a number (-1: none of ours); the hypercall fast path calls it. */
  sendNum(port: number): number {
    const p = port >= 1 && port < PVX_EVTCHN_NR_PORTS && this.state[port] !== PortState.FREE ? port : -1;
    if (p < 0) return SbiErr.INVALID_PARAM;
    if (!this.shinfo.registered) return SbiErr.NO_SHMEM;
    switch (this.state[p]) {
      case PortState.VIRQ:
        return SbiErr.INVALID_STATE;
      case PortState.IPI:
        this.setPending(p);
        break;
      case PortState.INTERDOMAIN: {
        const r = this.remote[p]!;
        const peer = r === this.id ? this : this.peer(r);
        if (peer !== undefined) peer.peerSignal(this.remotePort[p]!, this.id, p);
        else this.elsewhere?.post({ k: 'signal', to: r, port: this.remotePort[p]!, from: this.id, fromPort: p });
        break;
      }
    }
    return SbiErr.SUCCESS;
  }

  close(port: bigint): SbiRet {
    const p = this.openPort(port);
    if (p < 0) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    this.closePort(p);
    return ok(0);
  }

  unmask(port: bigint): SbiRet {
    const p = this.openPort(port);
    if (p < 0) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    this.shinfo.setBit(Shinfo.EVTCHN_MASK, p, false);
    if (this.shinfo.testBit(Shinfo.EVTCHN_PENDING, p)) this.deliver(p);
    return ok(0);
  }

  status(port: bigint): SbiRet {
    const p = below(port, PVX_EVTCHN_NR_PORTS);
    if (p < 1) return err(SbiErr.INVALID_PARAM);
    if (!this.shinfo.registered) return err(SbiErr.NO_SHMEM);
    const st = this.state[p]!;
    let s = BigInt(st) | (BigInt(this.vcpu[p]!) << 4n);
    if (st === PortState.UNBOUND || st === PortState.INTERDOMAIN || st === PortState.VIRQ) {
      s |= BigInt(this.remote[p]!) << 16n;
    }
    if (st === PortState.INTERDOMAIN) s |= BigInt(this.remotePort[p]!) << 32n;
    return ok(s);
  }

  // ------------------------------------------------------------------ for the rest of PVX

  /** Raise `virq` of `vcpu` if it is bound (and a shared info page registered), waking the run loop. */
  raiseVirq(vcpu: number, virq: number): void {
    const p = this.virqPort[vcpu * PVX_NR_VIRQS + virq];
    if (p !== undefined && p !== NO_PORT && this.shinfo.registered) {
      this.setPending(p);
      this.env.kick();
    }
  }

  virqBound(vcpu: number, virq: number): boolean {
    return this.virqPort[vcpu * PVX_NR_VIRQS + virq] !== NO_PORT;
  }

  /** Some port is not FREE. */
  anyOpen(): boolean {
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) if (this.state[p] !== PortState.FREE) return true;
    return false;
  }

  /** `p` (1..1023) is an open port. */
  isOpen(p: number): boolean {
    return this.state[p] !== PortState.FREE;
  }

  /** The first of `ports` whose pending bit is set, or NO_PORT. */
  firstPending(ports: readonly number[]): number {
    if (!this.shinfo.registered) return NO_PORT;
    for (const p of ports) if (this.shinfo.testBit(Shinfo.EVTCHN_PENDING, p)) return p;
    return NO_PORT;
  }

  /** Close every port (peers see UNBOUND) and forget the VIRQ bindings. */
  closeAll(): void {
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) if (this.state[p] !== PortState.FREE) this.closePort(p);
    this.virqPort.fill(NO_PORT);
  }

  /** Every open port. */
  saveState(): EventChannelsState {
    const ports: PortRecord[] = [];
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) {
      if (this.state[p] !== PortState.FREE) {
        ports.push({
          port: p,
          state: this.state[p] as PortState,
          vcpu: this.vcpu[p]!,
          remote: this.remote[p]!,
          remotePort: this.remotePort[p]!,
        });
      }
    }
    return ports;
  }

  /**
   * Open the saved ports on a closed table. The saving domain was `savedId`:
   * its loopback channels are ours now, and an interdomain port whose peer
   * does not point back at us comes back UNBOUND for that peer.
   */
  loadState(ports: EventChannelsState, savedId: number): void {
    for (const e of ports) {
      let state = e.state;
      let rp = e.remotePort;
      if (state === PortState.INTERDOMAIN && e.remote !== savedId) {
        const peer = this.peer(e.remote);
        const linked =
          peer !== undefined
            ? peer.peerLinked(rp, this.id, e.port)
            : rp >= 1 &&
              this.elsewhere?.call({ k: 'linked', to: e.remote, port: rp, from: this.id, fromPort: e.port })?.err ===
                SbiErr.SUCCESS;
        if (!linked) {
          state = PortState.UNBOUND;
          rp = 0;
        }
      }
      this.setPort(e.port, state, e.vcpu, e.remote === savedId ? this.id : e.remote, rp);
      if (state === PortState.VIRQ) this.virqPort[e.vcpu * PVX_NR_VIRQS + e.remote] = e.port;
    }
  }

  // ------------------------------------------------------------------ peers

  /** Peer: `from`'s port `fromPort` sent to our port `p` (checked to still be connected back). */
  peerSignal(p: number, from: number, fromPort: number): void {
    if (this.state[p] !== PortState.INTERDOMAIN) return;
    if (this.remote[p] !== from || this.remotePort[p] !== fromPort) return;
    this.setPending(p);
    if (from !== this.id) this.env.kick();
  }

  /** Peer: `from` closed (or lost) the other end of our port `p`: it goes back to UNBOUND for `from` (§5.3). */
  peerClosed(p: number, from: number, fromPort: number): void {
    if (this.state[p] !== PortState.INTERDOMAIN) return;
    if (this.remote[p] !== from || this.remotePort[p] !== fromPort) return;
    this.setPort(p, PortState.UNBOUND, 0, from, 0);
  }

  /**
   * Peer on another thread: `from` binds its port `fromPort` to our port `p` (EVTCHN_BIND_INTERDOMAIN's
   * checks on the remote end, in its order); `fromPort` 0 only checks (`from` has no free port).
   */
  peerBind(p: number, from: number, fromPort: number): number {
    if (this.state[p] !== PortState.UNBOUND) return SbiErr.INVALID_STATE;
    if (this.remote[p] !== from) return SbiErr.DENIED;
    if (fromPort !== NO_PORT) this.setPort(p, PortState.INTERDOMAIN, 0, from, fromPort);
    return SbiErr.SUCCESS;
  }

  /** Peer: our port `p` is connected to `from`'s `fromPort` (a restored domain's check). */
  peerLinked(p: number, from: number, fromPort: number): boolean {
    return this.state[p] === PortState.INTERDOMAIN && this.remote[p] === from && this.remotePort[p] === fromPort;
  }

  /** Peer: domain `from` is gone without closing its ports (its thread ended): ours connected to it go UNBOUND. */
  peerGone(from: number): void {
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) {
      if (this.state[p] === PortState.INTERDOMAIN && this.remote[p] === from)
        this.setPort(p, PortState.UNBOUND, 0, from, 0);
    }
  }

  // ------------------------------------------------------------------ internals

  /**
   * EVTCHN_BIND_INTERDOMAIN to domain `d` on another thread: its thread checks and connects its
   * port `rp` while this vCPU waits in the call. Our port is taken before the request, so that
   * nothing served meanwhile sees it free, and freed again when the bind fails.
   */
  private bindElsewhere(d: number, rp: number): SbiRet {
    const p = this.freePort();
    if (p !== NO_PORT) this.setPort(p, PortState.INTERDOMAIN, 0, d, rp);
    const e =
      this.elsewhere?.call({ k: 'bind', to: d, port: rp, from: this.id, fromPort: p })?.err ?? SbiErr.INVALID_PARAM;
    if (e !== SbiErr.SUCCESS || p === NO_PORT) {
      if (p !== NO_PORT) this.setPort(p, PortState.FREE, 0, 0, 0);
      return err(e !== SbiErr.SUCCESS ? e : SbiErr.FAILED);
    }
    this.setPending(p); // a send before the bind would otherwise be lost (§5.3)
    return ok(p);
  }

  /** A domid argument naming an existing domain (DOMID_SELF = the caller), or -1. */
  private domArg(v: bigint): number {
    const d = asU16(v);
    if (d < 0) return -1;
    if (d === PVX_DOMID_SELF) return this.id;
    return this.peer(d) !== undefined || this.elsewhere?.has(d) === true ? d : -1;
  }

  /** Lowest free port, or 0. */
  private freePort(): number {
    for (let p = 1; p < PVX_EVTCHN_NR_PORTS; p++) if (this.state[p] === PortState.FREE) return p;
    return NO_PORT;
  }

  /** A port argument naming an open port of ours, or -1 (0, >= 1024 and FREE are INVALID_PARAM, §5.1). */
  private openPort(v: bigint): number {
    const p = below(v, PVX_EVTCHN_NR_PORTS);
    return p >= 1 && this.state[p] !== PortState.FREE ? p : -1;
  }

  private setPort(p: number, state: PortState, vcpu: number, remote: number, remotePort: number): void {
    this.state[p] = state;
    this.vcpu[p] = vcpu;
    this.remote[p] = remote;
    this.remotePort[p] = remotePort;
  }

  private closePort(p: number): void {
    const st = this.state[p];
    if (st === PortState.INTERDOMAIN) {
      const r = this.remote[p]!;
      const peer = r === this.id ? this : this.peer(r);
      if (peer !== undefined) peer.peerClosed(this.remotePort[p]!, this.id, p);
      else this.elsewhere?.post({ k: 'closed', to: r, port: this.remotePort[p]!, from: this.id, fromPort: p });
    } else if (st === PortState.VIRQ) {
      const v = this.vcpu[p]!;
      const q = this.remote[p]!;
      this.virqPort[v * PVX_NR_VIRQS + q] = NO_PORT;
      if (q === Virq.TIMER) this.timerUnbound(v);
    }
    this.setPort(p, PortState.FREE, 0, 0, 0);
    if (this.shinfo.registered) this.shinfo.setBit(Shinfo.EVTCHN_PENDING, p, false);
  }

  /** §4.3: mark port `p` pending and deliver the upcall. */
  private setPending(p: number): void {
    if (!this.shinfo.registered) return;
    if (this.shinfo.setBit(Shinfo.EVTCHN_PENDING, p, true)) return; // level-like, not counted
    this.deliver(p);
  }

  /** §4.3 from the mask test on: selector bit, upcall_pending, SSIP when unmasked. */
  private deliver(p: number): void {
    if (this.shinfo.testBit(Shinfo.EVTCHN_MASK, p)) return;
    const v = this.vcpu[p]!;
    const vi = this.shinfo.viOff(v);
    const sel = vi + Shinfo.VI_PENDING_SEL;
    const w = p >>> 6;
    const dv = this.env.ram.view;
    const half = sel + (w >>> 5) * 4;
    const old = dv.getUint32(half, true);
    const bit = 1 << (w & 31);
    dv.setUint32(half, (old | bit) >>> 0, true);
    this.env.ram.dirty.mark(half, 4);
    if (old & bit) return;
    dv.setUint8(vi + Shinfo.VI_UPCALL_PENDING, 1);
    this.env.ram.dirty.mark(vi + Shinfo.VI_UPCALL_PENDING, 1);
    if (dv.getUint8(vi + Shinfo.VI_UPCALL_MASK) === 0) this.env.raiseUpcall(v);
  }
}

/** One open port: state, notify vCPU, remote domid (UNBOUND, INTERDOMAIN) or virq (VIRQ), remote port. */
export interface PortRecord {
  readonly port: number;
  readonly state: PortState;
  readonly vcpu: number;
  readonly remote: number;
  readonly remotePort: number;
}

/** The open ports, ascending. */
export type EventChannelsState = readonly PortRecord[];

const OPEN_STATES = [PortState.UNBOUND, PortState.INTERDOMAIN, PortState.VIRQ, PortState.IPI] as const;

export const eventChannelsStateCodec: StateCodec<EventChannelsState, { vcpus: number }> = {
  write(w, ports) {
    w.list(ports, (w, e) => w.u16(e.port).u8(e.state).u8(e.vcpu).u16(e.remote).u16(e.remotePort));
  },
  read(r, { vcpus }) {
    const virqs = new Set<number>();
    let last = 0;
    return r.list('ports', PVX_EVTCHN_NR_PORTS - 1, 8, (r) => {
      const port = r.u16('port', PVX_EVTCHN_NR_PORTS - 1);
      if (port <= last) r.fail(`port ${port} is out of order`);
      last = port;
      const state = r.oneOf('port state', OPEN_STATES);
      const vcpu = r.u8('port vCPU', 255);
      if (vcpu >= vcpus) r.mismatch(`port ${port} notifies vCPU ${vcpu}, the domain has ${vcpus}`);
      const remote = r.u16('remote domain or virq');
      const remotePort = r.u16('remote port', PVX_EVTCHN_NR_PORTS - 1);
      if (state === PortState.VIRQ) {
        if (remote >= PVX_NR_VIRQS || (remote !== Virq.TIMER && vcpu !== 0))
          r.fail(`port ${port}: virq ${remote} on vCPU ${vcpu}`);
        const key = vcpu * PVX_NR_VIRQS + remote;
        if (virqs.has(key)) r.fail(`virq ${remote} of vCPU ${vcpu} bound twice`);
        virqs.add(key);
      }
      if (state === PortState.INTERDOMAIN && remotePort === 0) r.fail(`port ${port} is connected to port 0`);
      return { port, state, vcpu, remote, remotePort };
    });
  },
};
