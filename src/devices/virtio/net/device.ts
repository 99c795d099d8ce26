/**
 * virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, a fixed MAC
 * (VIRTIO_NET_F_MAC) and link status (VIRTIO_NET_F_STATUS). The NIC is an endpoint of a
 * `VirtualSwitch` port: transmitted frames go to the switch, frames from the switch wait
 * in a short queue until the guest posts receive buffers.
 */

import {
  ETH_HEADER,
  finishChecksum,
  MAX_FRAME,
  type NetLink,
  type PartialChecksum,
  type SwitchEndpoint,
} from '../../switch.js';
import { type Chain, readChain, writeChain } from '../chain.js';
import { bit, DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioTransport } from '../device.js';
import { NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_NONE, NET_HDR_SIZE, parseTxHeader, rxHeader } from './header.js';

/** §5.1.3 feature bits used here. */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  MTU: 3,
  MAC: 5,
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
}

export interface VirtioNetOptions {
  mac: Uint8Array;
  /**
   * Offer checksum offload (VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM). Default true:
   * between two pvm guests a TCP/UDP checksum is then never computed at all; for a guest
   * that did not accept GUEST_CSUM the device finishes it.
   */
  checksumOffload?: boolean;
  queueSize?: number;
}

interface PendingFrame {
  readonly frame: Uint8Array;
  readonly csum: PartialChecksum | null;
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
  };
  readonly inFlight = 0;
  private t!: VirtioTransport;
  private link: NetLink | null = null;
  private pending: PendingFrame[] = [];

  constructor(opts: VirtioNetOptions) {
    if (opts.mac.length !== 6) throw new Error('virtio-net: a MAC has 6 bytes');
    this.mac = opts.mac.slice();
    this.features =
      bit(NetFeature.MAC) |
      bit(NetFeature.STATUS) |
      (opts.checksumOffload === false ? 0n : bit(NetFeature.CSUM) | bit(NetFeature.GUEST_CSUM));
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
  deliver(frame: Uint8Array, csum: PartialChecksum | null = null): void {
    if (!this.t?.running || this.pending.length >= MAX_PENDING_FRAMES) {
      this.stats.rxDropped++;
      return;
    }
    const copy = frame.slice();
    if (csum !== null && !this.t.hasFeature(NetFeature.GUEST_CSUM)) {
      // §5.1.6.4: without GUEST_CSUM the driver expects complete checksums.
      if (!finishChecksum(copy, csum)) {
        this.stats.rxDropped++;
        return;
      }
      this.stats.checksumsFinished++;
      csum = null;
    }
    this.pending.push({ frame: copy, csum });
    this.receive();
  }

  /** Frames waiting for receive buffers. */
  get pendingFrames(): number {
    return this.pending.length;
  }

  private receive(): void {
    while (this.pending.length > 0 && this.t.running) {
      const chain = this.t.pop(RX_QUEUE);
      if (chain === null) return;
      const { frame, csum } = this.pending.shift()!;
      if (chain.writableLen < NET_HDR_SIZE + frame.length) {
        // Without MRG_RXBUF each frame must fit one chain (§5.1.6.3.1); this one does not:
        // the frame is dropped and the chain returned with nothing written.
        this.stats.rxDropped++;
        this.t.complete(RX_QUEUE, chain.head, 0);
        continue;
      }
      writeChain(this.t.ram, chain.writable, rxHeader(csum));
      writeChain(this.t.ram, chain.writable, frame, NET_HDR_SIZE);
      this.stats.rxFrames++;
      this.stats.rxBytes += frame.length;
      this.t.complete(RX_QUEUE, chain.head, NET_HDR_SIZE + frame.length);
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
    const len = chain.readableLen - NET_HDR_SIZE;
    if (chain.writable.length > 0 || len < ETH_HEADER || len > MAX_FRAME) {
      this.stats.txErrors++;
      return;
    }
    const hdr = parseTxHeader(readChain(this.t.ram, chain.readable, 0, NET_HDR_SIZE));
    // No segmentation offload is offered: a GSO frame is a driver error.
    if (hdr.gsoType !== NET_HDR_GSO_NONE) {
      this.stats.txErrors++;
      return;
    }
    const frame = readChain(this.t.ram, chain.readable, NET_HDR_SIZE);
    let csum: PartialChecksum | null = null;
    if (hdr.flags & NET_HDR_F_NEEDS_CSUM && this.t.hasFeature(NetFeature.CSUM)) {
      csum = { start: hdr.csumStart, offset: hdr.csumOffset };
      // §5.1.6.2: csum_start + csum_offset + 2 lies inside the packet.
      if (csum.start >= frame.length || csum.start + csum.offset + 2 > frame.length) {
        this.stats.txErrors++;
        return;
      }
    }
    this.stats.txFrames++;
    this.stats.txBytes += frame.length;
    this.link?.transmit(frame, csum);
  }

  saveState(): number[] {
    return [];
  }

  restoreState(words: readonly number[]): string | null {
    return words.length === 0 ? null : 'virtio-net: unexpected state';
  }
}
