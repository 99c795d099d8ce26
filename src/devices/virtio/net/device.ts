/**
 * virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, a fixed MAC
 * (VIRTIO_NET_F_MAC) and link status (VIRTIO_NET_F_STATUS). The NIC is an endpoint of a
 * `VirtualSwitch` port: transmitted frames go to the switch, frames from the switch wait
 * in a short queue until the guest posts receive buffers.
 */

import { finishChecksum, gsoHeaderLength, type Offload, segmentTcp } from '../../net-offload.js';
import { ETH_HEADER, MAX_FRAME, type NetLink, type SwitchEndpoint } from '../../switch.js';
import { type Chain, readChain, writeChain } from '../chain.js';
import { bit, DeviceId, Feature } from '../constants.js';
import type { VirtioDevice, VirtioTransport } from '../device.js';
import { GsoType, LEGACY_NET_HDR_SIZE, NET_HDR_F_NEEDS_CSUM, NET_HDR_SIZE, parseTxHeader, rxHeader } from './header.js';

/** §5.1.3 feature bits used here. */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  MRG_RXBUF: 15,
  STATUS: 16,
} as const;

/** §5.1.4 struct virtio_net_config offsets. */
export const NetConfig = {
  MAC: 0,
  STATUS: 6,
  MAX_VIRTQUEUE_PAIRS: 8,
  MTU: 10,
  SIZE: 12,
} as const;

export const NET_S_LINK_UP = 1;
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** Frames kept for a guest with no receive buffers; more are dropped, like a full NIC ring. */
export const MAX_PENDING_FRAMES = 256;

export interface NetStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  txErrors: number;
  rxDropped: number;
  /** Partial checksums finished by the device for a driver without GUEST_CSUM. */
  checksumsFinished: number;
  /** Segmentation frames cut into segments for a driver without GUEST_TSO. */
  framesSegmented: number;
}

export interface VirtioNetOptions {
  mac: Uint8Array;
  /**
   * Offer checksum offload (VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM). Default true:
   * between two pvm guests a TCP/UDP checksum is then never computed at all; for a guest
   * that did not accept GUEST_CSUM the device finishes it.
   */
  checksumOffload?: boolean;
  /**
   * Offer TCP segmentation offload both ways (HOST_TSO4/6, GUEST_TSO4/6; needs checksum
   * offload). Default true: a guest sends up to 64 KiB of TCP payload as one frame, and a
   * receiver that accepted GUEST_TSO takes it whole; for others the device cuts it into
   * MSS-sized segments.
   */
  segmentationOffload?: boolean;
  /**
   * Offer VIRTIO_NET_F_MRG_RXBUF (default true): a frame may span several receive
   * buffers, so Linux posts small buffers instead of 64 KiB ones for TSO ("big packets",
   * 18 pages per ring entry).
   */
  mergeableRx?: boolean;
  queueSize?: number;
}

interface PendingFrame {
  readonly frame: Uint8Array;
  readonly offload: Offload | null;
}

export class VirtioNet implements VirtioDevice, SwitchEndpoint {
  readonly kind = 'net';
  readonly deviceId = DeviceId.NET;
  readonly queueSizes: readonly number[];
  readonly features: bigint;
  readonly config = new Uint8Array(NetConfig.SIZE);
  readonly mac: Uint8Array;
  readonly stats: NetStats = {
    txFrames: 0,
    txBytes: 0,
    rxFrames: 0,
    rxBytes: 0,
    txErrors: 0,
    rxDropped: 0,
    checksumsFinished: 0,
    framesSegmented: 0,
  };
  readonly inFlight = 0;
  private t!: VirtioTransport;
  private link: NetLink | null = null;
  private pending: PendingFrame[] = [];
  /** Header length negotiated at activation: 12 bytes, or 10 for a driver without VERSION_1 and MRG_RXBUF. */
  private hdrSize = NET_HDR_SIZE;

  constructor(opts: VirtioNetOptions) {
    if (opts.mac.length !== 6) throw new Error('virtio-net: a MAC has 6 bytes');
    this.mac = opts.mac.slice();
    const csum = opts.checksumOffload !== false;
    const tso = csum && opts.segmentationOffload !== false;
    this.features =
      bit(NetFeature.MAC) |
      bit(NetFeature.STATUS) |
      (opts.mergeableRx === false ? 0n : bit(NetFeature.MRG_RXBUF)) |
      (csum ? bit(NetFeature.CSUM) | bit(NetFeature.GUEST_CSUM) : 0n) |
      (tso
        ? bit(NetFeature.HOST_TSO4) |
          bit(NetFeature.HOST_TSO6) |
          bit(NetFeature.GUEST_TSO4) |
          bit(NetFeature.GUEST_TSO6)
        : 0n);
    const n = opts.queueSize ?? 256;
    this.queueSizes = [n, n];
    this.config.set(this.mac, NetConfig.MAC);
    const v = new DataView(this.config.buffer);
    v.setUint16(NetConfig.MAX_VIRTQUEUE_PAIRS, 1, true);
    v.setUint16(NetConfig.MTU, 1500, true);
    this.setLinkBits(false);
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  /** Called by the switch when the port is plugged (or unplugged, with null). */
  connect(link: NetLink | null): void {
    this.link = link;
    this.setLinkBits(link !== null);
    this.t?.configChanged();
  }

  get linkUp(): boolean {
    return this.link !== null;
  }

  private setLinkBits(up: boolean): void {
    new DataView(this.config.buffer).setUint16(NetConfig.STATUS, up ? NET_S_LINK_UP : 0, true);
  }

  activate(): string | null {
    // §5.1.6.1: a legacy driver's header has no num_buffers unless it took MRG_RXBUF.
    const full = this.t.hasFeature(Feature.VERSION_1) || this.t.hasFeature(NetFeature.MRG_RXBUF);
    this.hdrSize = full ? NET_HDR_SIZE : LEGACY_NET_HDR_SIZE;
    this.receive();
    return null;
  }

  reset(): void {
    this.pending = [];
  }

  notify(q: number): void {
    if (q === RX_QUEUE) this.receive();
    else if (q === TX_QUEUE) this.transmit();
  }

  /** From the switch: queue a copy and hand it to the guest if it has a buffer. */
  deliver(frame: Uint8Array, offload: Offload | null = null): void {
    if (!this.t?.running) {
      this.stats.rxDropped++;
      return;
    }
    if (offload?.gso) {
      // GUEST_TSO requires GUEST_CSUM (§5.1.3.1): a driver must accept both to take it whole.
      const whole =
        this.t.hasFeature(NetFeature.GUEST_CSUM) &&
        this.t.hasFeature(offload.gso.kind === 'tcp4' ? NetFeature.GUEST_TSO4 : NetFeature.GUEST_TSO6);
      if (!whole) {
        // §5.1.6.4: without GUEST_TSO the driver only takes MSS-sized frames.
        const segs = segmentTcp(frame, offload);
        if (segs === null) {
          this.stats.rxDropped++;
          return;
        }
        this.stats.framesSegmented++;
        for (const seg of segs) this.enqueue(seg, null);
        this.receive();
        return;
      }
    }
    const copy = frame.slice();
    if (offload !== null && !offload.gso && !this.t.hasFeature(NetFeature.GUEST_CSUM)) {
      // §5.1.6.4: without GUEST_CSUM the driver expects complete checksums.
      if (!finishChecksum(copy, offload)) {
        this.stats.rxDropped++;
        return;
      }
      this.stats.checksumsFinished++;
      offload = null;
    }
    if (offload?.gso && gsoHeaderLength(copy, offload) === 0) {
      this.stats.rxDropped++; // not the TCP frame it claims to be
      return;
    }
    this.enqueue(copy, offload);
    this.receive();
  }

  private enqueue(frame: Uint8Array, offload: Offload | null): boolean {
    if (this.pending.length >= MAX_PENDING_FRAMES) {
      this.stats.rxDropped++;
      return false;
    }
    this.pending.push({ frame, offload });
    return true;
  }

  /** Frames waiting for receive buffers. */
  get pendingFrames(): number {
    return this.pending.length;
  }

  private receive(): void {
    if (this.t.hasFeature(NetFeature.MRG_RXBUF)) {
      this.receiveMergeable();
      return;
    }
    while (this.pending.length > 0 && this.t.running) {
      const chain = this.t.pop(RX_QUEUE);
      if (chain === null) return;
      const { frame, offload } = this.pending.shift()!;
      if (chain.writableLen < this.hdrSize + frame.length) {
        // Without MRG_RXBUF each frame must fit one chain (§5.1.6.3.1); this one does not:
        // the frame is dropped and the chain returned with nothing written.
        this.stats.rxDropped++;
        this.t.complete(RX_QUEUE, chain.head, 0);
        continue;
      }
      const hdr = rxHeader(offload, offload ? gsoHeaderLength(frame, offload) : 0);
      writeChain(this.t.ram, chain.writable, hdr.subarray(0, this.hdrSize));
      writeChain(this.t.ram, chain.writable, frame, this.hdrSize);
      this.stats.rxFrames++;
      this.stats.rxBytes += frame.length;
      this.t.complete(RX_QUEUE, chain.head, this.hdrSize + frame.length);
    }
  }

  /**
   * §5.1.6.4 with VIRTIO_NET_F_MRG_RXBUF: a frame may fill several receive chains; the
   * header, in the first, says how many (num_buffers). When the guest has not posted
   * enough buffers yet, the chains taken are put back and the frame waits.
   */
  private receiveMergeable(): void {
    const rxQueueSize = this.t.queue(RX_QUEUE).size;
    while (this.pending.length > 0 && this.t.running) {
      const { frame, offload } = this.pending[0]!;
      const need = NET_HDR_SIZE + frame.length;
      const chains: Chain[] = [];
      let room = 0;
      while (room < need) {
        const c = this.t.pop(RX_QUEUE);
        if (c === null) break;
        chains.push(c);
        room += c.writableLen;
      }
      if (room < need) {
        if (!this.t.running) return;
        if (chains.length < rxQueueSize) {
          this.t.unpop(RX_QUEUE, chains.length); // wait for more buffers
          return;
        }
        // Even a full ring of these buffers cannot hold it: drop the frame, keep the buffers.
        this.t.unpop(RX_QUEUE, chains.length);
        this.pending.shift();
        this.stats.rxDropped++;
        continue;
      }
      this.pending.shift();
      const hdr = rxHeader(offload, offload ? gsoHeaderLength(frame, offload) : 0);
      new DataView(hdr.buffer).setUint16(10, chains.length, true); // num_buffers
      const whole = new Uint8Array(need);
      whole.set(hdr);
      whole.set(frame, NET_HDR_SIZE);
      let pos = 0;
      for (const c of chains) {
        const n = writeChain(this.t.ram, c.writable, whole.subarray(pos));
        pos += n;
        this.t.complete(RX_QUEUE, c.head, n);
      }
      this.stats.rxFrames++;
      this.stats.rxBytes += frame.length;
    }
  }

  private transmit(): void {
    for (let chain = this.t.pop(TX_QUEUE); chain !== null; chain = this.t.pop(TX_QUEUE)) {
      this.send(chain);
      this.t.complete(TX_QUEUE, chain.head, 0);
    }
  }

  private send(chain: Chain): void {
    // §5.1.6.2: a transmit chain is device-readable: header, then the frame.
    const len = chain.readableLen - this.hdrSize;
    if (chain.writable.length > 0 || len < ETH_HEADER || len > MAX_FRAME) {
      this.stats.txErrors++;
      return;
    }
    const hdr = parseTxHeader(readChain(this.t.ram, chain.readable, 0, this.hdrSize));
    const frame = readChain(this.t.ram, chain.readable, this.hdrSize);
    const offload = this.txOffload(hdr, frame.length);
    if (offload === 'bad') {
      this.stats.txErrors++;
      return;
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.link?.transmit(frame, offload);
  }

  /** The offloads a transmit header asks for, checked against what was negotiated (§5.1.6.2). */
  private txOffload(hdr: ReturnType<typeof parseTxHeader>, len: number): Offload | null | 'bad' {
    const gso = hdr.gsoType & ~GsoType.ECN;
    if (gso === GsoType.NONE) {
      if (!(hdr.flags & NET_HDR_F_NEEDS_CSUM) || !this.t.hasFeature(NetFeature.CSUM)) return null;
      // csum_start + csum_offset + 2 lies inside the packet.
      if (hdr.csumStart >= len || hdr.csumStart + hdr.csumOffset + 2 > len) return 'bad';
      return { csumStart: hdr.csumStart, csumOffset: hdr.csumOffset, gso: null };
    }
    const kind = gso === GsoType.TCPV4 ? 'tcp4' : gso === GsoType.TCPV6 ? 'tcp6' : null;
    const allowed =
      kind !== null &&
      this.t.hasFeature(kind === 'tcp4' ? NetFeature.HOST_TSO4 : NetFeature.HOST_TSO6) &&
      (!(hdr.gsoType & GsoType.ECN) || this.t.hasFeature(NetFeature.HOST_ECN));
    // A segmentation frame always carries a partial checksum, inside the frame.
    if (!allowed || !(hdr.flags & NET_HDR_F_NEEDS_CSUM) || hdr.gsoSize === 0) return 'bad';
    if (hdr.csumStart >= len || hdr.csumStart + hdr.csumOffset + 2 > len) return 'bad';
    return { csumStart: hdr.csumStart, csumOffset: hdr.csumOffset, gso: { kind: kind!, mss: hdr.gsoSize } };
  }
}
