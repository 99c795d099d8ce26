/**
 * A virtual Ethernet switch inside pvm, connecting the NICs of every domain in the process.
 * It learns which port each source MAC lives behind, forwards unicast frames to that port,
 * and floods broadcast, multicast and unknown-destination frames to every other port.
 * Each port has its own MAC; by default a port may only send frames from that MAC, so one
 * domain cannot impersonate another. One port may be the switch's uplink (user-mode
 * networking through passt, src/host/passt.ts): it stands for a whole network, so its
 * frames may carry any source MAC. Peer ports (switch links, src/devices/switch-link.ts)
 * join the switch to the switch of the same name on another pvm daemon; they too carry any
 * source MAC. Peers are meant to be joined in a full mesh, so, as VXLAN's head-end
 * replication and Open vSwitch tunnel meshes do, a frame that came from one peer is never
 * sent to another peer (split horizon): no loop can form, whatever the joins. Every port
 * counts the frames and bytes it sends and receives.
 */

import type { Offload } from './net-offload.js';

/** Something that sends frames (a NIC's view of its port). */
export interface NetLink {
  /** Sends one Ethernet frame (without FCS). The switch does not keep `frame`. */
  transmit(frame: Uint8Array, offload?: Offload | null): void;
}

/** Something plugged into a switch port (a NIC). */
export interface SwitchEndpoint {
  /** The port's MAC address (6 bytes). */
  readonly mac: Uint8Array;
  /**
   * A frame for this endpoint, with the offloads its sender left to do (net-offload.ts).
   * It is lent for the call: copy to keep it.
   */
  deliver(frame: Uint8Array, offload?: Offload | null): void;
  /** Called by `attach` with the endpoint's side of the port. */
  connect?(link: NetLink | null): void;
}

export interface SwitchOptions {
  /** Drop frames whose source MAC is not the sending port's MAC. Default true. */
  enforceSourceMac?: boolean;
  /** Upper bound of the learning table. Default 1024 entries. */
  maxMacs?: number;
}

export interface SwitchStats {
  forwarded: number;
  flooded: number;
  dropped: number;
  spoofed: number;
}

/** One port's traffic, from its endpoint's side: tx = into the switch, rx = out to the endpoint. */
export interface PortStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
}

/** A port's statistics with what names it, for `pvm stats` and the API. */
export interface PortReport extends PortStats {
  readonly port: number;
  readonly mac: string;
  readonly uplink: boolean;
  /** Present (true) on a peer port: a link to the same switch on another daemon. */
  readonly peer?: true;
}

export const ETH_HEADER = 14;
/** Largest frame carried: a 64 KiB IP packet (TCP segmentation offload) behind an Ethernet header. */
export const MAX_FRAME = 0x1_0000 + 32;

/** A 48-bit MAC as a number (exact in a double), for map keys. */
export const macKey = (b: Uint8Array, off = 0): number =>
  ((b[off]! << 8) | b[off + 1]!) * 0x1_0000_0000 +
  (((b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!) >>> 0);

/** "52:54:00:12:34:56" -> bytes, or null when malformed. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i.test(s) ? s.split(':') : null;
  return m === null ? null : Uint8Array.from(m, (h) => Number.parseInt(h, 16));
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Multicast (and broadcast) addresses have the low bit of the first octet set. */
export const isMulticast = (b: Uint8Array, off = 0): boolean => (b[off]! & 1) === 1;

/** EtherType of RARP (RFC 903), which a moved NIC announces itself with. */
export const ETH_P_RARP = 0x8035;

/**
 * The frame a NIC announces its MAC with after it moved (QEMU's announce-self after a migration,
 * qemu_announce_self): a broadcast RARP "request reverse" (opcode 3) from `mac`, about `mac`, no IP
 * addresses (the host does not know the guest's), padded to the 60-byte Ethernet minimum. Every
 * switch it crosses learns the MAC behind the port it came from; stations ignore it.
 */
export function announceFrame(mac: Uint8Array): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f.set(mac.subarray(0, 6), 6);
  f.set([ETH_P_RARP >> 8, ETH_P_RARP & 0xff, 0, 1, 0x08, 0x00, 6, 4, 0, 3], 12);
  f.set(mac.subarray(0, 6), 22);
  f.set(mac.subarray(0, 6), 32);
  return f;
}

export class SwitchPort implements NetLink {
  readonly macKey: number;
  attached = true;
  readonly stats: PortStats = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0 };
  constructor(
    readonly sw: VirtualSwitch,
    readonly id: number,
    readonly endpoint: SwitchEndpoint,
    /** The switch's uplink: frames from any source MAC. */
    readonly uplink = false,
    /** A link to another daemon's switch: frames from any source MAC, never forwarded to another peer. */
    readonly peer = false,
  ) {
    this.macKey = macKey(endpoint.mac);
  }

  /** Hands a frame to the endpoint, counted. */
  deliver(frame: Uint8Array, offload: Offload | null): void {
    this.stats.rxFrames++;
    this.stats.rxBytes += frame.length;
    this.endpoint.deliver(frame, offload);
  }

  transmit(frame: Uint8Array, offload: Offload | null = null): void {
    if (this.attached) this.sw.forward(this, frame, offload);
  }

  detach(): void {
    this.sw.detach(this);
  }
}

export class VirtualSwitch {
  readonly stats: SwitchStats = { forwarded: 0, flooded: 0, dropped: 0, spoofed: 0 };
  private readonly ports: SwitchPort[] = [];
  private readonly table = new Map<number, SwitchPort>();
  private nextId = 0;
  private readonly enforceSourceMac: boolean;
  private readonly maxMacs: number;

  constructor(
    readonly name: string,
    opts: SwitchOptions = {},
  ) {
    this.enforceSourceMac = opts.enforceSourceMac ?? true;
    this.maxMacs = opts.maxMacs ?? 1024;
  }

  /** Plugs `endpoint` into a new port; throws if its MAC is already on this switch (a config error). */
  attach(endpoint: SwitchEndpoint): SwitchPort {
    return this.plug(endpoint, false, false);
  }

  /** Plugs the switch's uplink (one at most): a port whose frames may come from any MAC. */
  attachUplink(endpoint: SwitchEndpoint): SwitchPort {
    if (this.uplink !== undefined) throw new Error(`switch ${this.name} already has an uplink`);
    return this.plug(endpoint, true, false);
  }

  /**
   * Plugs a peer port (a link to the switch of the same name on another daemon; any number).
   * Its endpoint's MAC names nothing: it is not learned, and not checked against the others.
   */
  attachPeer(endpoint: SwitchEndpoint): SwitchPort {
    const port = new SwitchPort(this, this.nextId++, endpoint, false, true);
    this.ports.push(port);
    endpoint.connect?.(port);
    return port;
  }

  /** The peer ports, in port order. */
  get peers(): SwitchPort[] {
    return this.ports.filter((p) => p.peer);
  }

  /** The uplink port, if any. */
  get uplink(): SwitchPort | undefined {
    return this.ports.find((p) => p.uplink);
  }

  private plug(endpoint: SwitchEndpoint, uplink: boolean, peer: boolean): SwitchPort {
    const key = macKey(endpoint.mac);
    if (this.ports.some((p) => !p.peer && p.macKey === key)) {
      throw new Error(`switch ${this.name}: MAC ${formatMac(endpoint.mac)} is already attached`);
    }
    const port = new SwitchPort(this, this.nextId++, endpoint, uplink, peer);
    this.ports.push(port);
    // A MAC learned behind a peer lives on another daemon now: a domain arriving here by migration
    // is plugged (paused) while its source still runs there, so its traffic keeps going there
    // until the new port speaks (its announce, after it resumed here).
    if (this.table.get(key)?.peer !== true) this.table.set(key, port);
    endpoint.connect?.(port);
    return port;
  }

  /** Every port's traffic, in port order. */
  portStats(): PortReport[] {
    return this.ports.map((p) => ({
      port: p.id,
      mac: formatMac(p.endpoint.mac),
      uplink: p.uplink,
      ...(p.peer && { peer: true as const }),
      ...p.stats,
    }));
  }

  detach(port: SwitchPort): void {
    const i = this.ports.indexOf(port);
    if (i < 0) return;
    this.ports.splice(i, 1);
    port.attached = false;
    for (const [k, p] of this.table) if (p === port) this.table.delete(k);
    port.endpoint.connect?.(null);
  }

  get portCount(): number {
    return this.ports.length;
  }

  /** The port a MAC was learned on (for tests and `pvm top`). */
  lookup(mac: Uint8Array): SwitchPort | undefined {
    return this.table.get(macKey(mac));
  }

  forward(from: SwitchPort, frame: Uint8Array, offload: Offload | null = null): void {
    from.stats.txFrames++;
    from.stats.txBytes += frame.length;
    if (frame.length < ETH_HEADER || frame.length > MAX_FRAME || isMulticast(frame, 6)) {
      this.stats.dropped++; // runt, giant, or a multicast source address
      return;
    }
    const src = macKey(frame, 6);
    if (this.enforceSourceMac && !from.uplink && !from.peer && src !== from.macKey) {
      this.stats.spoofed++;
      return;
    }
    const known = this.table.get(src);
    if (known !== from && (known !== undefined || this.table.size < this.maxMacs)) this.table.set(src, from);

    if (!isMulticast(frame, 0)) {
      const to = this.table.get(macKey(frame, 0));
      if (to === from || (from.peer && to?.peer)) {
        this.stats.dropped++; // destination lives behind the sender, or behind another peer (split horizon)
        return;
      }
      if (to !== undefined) {
        this.stats.forwarded++;
        to.deliver(frame, offload);
        return;
      }
    }
    this.stats.flooded++;
    for (const p of this.ports.slice())
      if (p !== from && p.attached && !(from.peer && p.peer)) p.deliver(frame, offload);
  }
}
