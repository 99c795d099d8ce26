/**
 * A switch link: the peer port that joins a virtual switch to the switch of the same name on
 * another pvm daemon (docs/networking.md, "Switches across daemons"). It carries Ethernet
 * frames over a message channel (a WebSocket, src/host/switch-links.ts) that this file knows
 * only as `LinkChannel`, so the port, its queues and its frame codec stay free of I/O.
 *
 * Wire format: each binary message is a batch of frames, each preceded by its length, 4 bytes
 * big-endian (QEMU's stream-socket format, as passt's link). A message holds at most
 * MAX_LINK_MESSAGE bytes; each frame is ETH_HEADER to MAX_FRAME bytes. Anything else is a
 * protocol error and ends the link: after a bad length nothing in the stream can be trusted.
 *
 * Frames leave as plain Ethernet: checksums a guest left to the device are finished and TSO
 * frames cut into MSS-sized segments here (src/devices/net-offload.ts), so the peer receives
 * what a wire would carry and trusts no offload metadata from the network.
 */
import { finishOffloads, type Offload } from './net-offload.js';
import { ETH_HEADER, MAX_FRAME, type NetLink, type SwitchEndpoint } from './switch.js';

/** Largest message: a batch of frames (a few TSO-sized frames' worth). */
export const MAX_LINK_MESSAGE = 1 << 20;
/** Frames batched before a message is sent at once (otherwise at the end of the current turn). */
const BATCH_BYTES = 256 * 1024;
/**
 * Bytes the channel may hold unsent (a slow or stalled peer) before frames for it are dropped
 * and counted, as a full NIC queue drops: TCP sends them again. Bounds the memory a peer that
 * never reads can make the daemon hold.
 */
export const MAX_LINK_BACKLOG = 4 << 20;

/** What a link's frames travel on (a WebSocket's binary messages). */
export interface LinkChannel {
  /** Sends one binary message. */
  send(message: Uint8Array): void;
  /** Bytes handed to `send` not yet written to the network. */
  readonly queuedBytes: number;
  /** Ends the channel with a reason (a protocol error). */
  close(reason: string): void;
}

/** A link's counters, beyond its port's traffic. */
export interface LinkStats {
  /** Frames for the peer dropped because MAX_LINK_BACKLOG bytes already waited for it. */
  dropped: number;
  /** Messages from the peer refused (bad framing, oversized): each ends the link. */
  malformed: number;
  /** Messages sent and received. */
  messagesOut: number;
  messagesIn: number;
}

/**
 * Splits a message into its frames (views into `msg`), or gives why it is malformed. Pure, for
 * the fuzz target: any input gives one of the two, never an exception.
 */
export function decodeFrames(msg: Uint8Array): Uint8Array[] | string {
  if (msg.length > MAX_LINK_MESSAGE) return `message of ${msg.length} bytes is larger than ${MAX_LINK_MESSAGE}`;
  if (msg.length === 0) return 'empty message';
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < msg.length) {
    if (msg.length - at < 4) return `${msg.length - at} stray bytes at offset ${at}`;
    const len = ((msg[at]! << 24) | (msg[at + 1]! << 16) | (msg[at + 2]! << 8) | msg[at + 3]!) >>> 0;
    if (len < ETH_HEADER || len > MAX_FRAME)
      return `frame length ${len} at offset ${at} (${ETH_HEADER} to ${MAX_FRAME})`;
    if (msg.length - at - 4 < len) return `frame of ${len} bytes at offset ${at} is cut short`;
    frames.push(msg.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return frames;
}

/** One message of `frames`, each after its 4-byte length (the caller keeps the total within MAX_LINK_MESSAGE). */
export function encodeFrames(frames: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const f of frames) n += 4 + f.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const f of frames) {
    out[at] = f.length >>> 24;
    out[at + 1] = (f.length >>> 16) & 0xff;
    out[at + 2] = (f.length >>> 8) & 0xff;
    out[at + 3] = f.length & 0xff;
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

/** The all-zero MAC a peer port carries: it names no station (a peer port stands for a network). */
const NO_MAC = new Uint8Array(6);

/**
 * The endpoint of a peer port: frames from the switch are batched into messages for the peer;
 * messages from the peer are split and sent into the switch. `defer` runs the end-of-turn flush
 * (setImmediate in Node: after the I/O of this turn, so frames of one burst share a message).
 */
export class SwitchLinkPort implements SwitchEndpoint {
  readonly mac = NO_MAC;
  readonly stats: LinkStats = { dropped: 0, malformed: 0, messagesOut: 0, messagesIn: 0 };
  private link: NetLink | null = null;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private flushPending = false;
  private closed = false;

  constructor(
    private readonly channel: LinkChannel,
    private readonly defer: (fn: () => void) => void,
  ) {}

  connect(link: NetLink | null): void {
    this.link = link;
  }

  /** A frame from the switch for the peer. */
  deliver(frame: Uint8Array, offload: Offload | null = null): void {
    if (this.closed) return;
    let frames = finishOffloads(frame, offload);
    if (frames === null) {
      this.stats.dropped++;
      return;
    }
    if (frames[0] === frame) frames = [frame.slice()]; // lent for the call: kept until the batch goes
    for (const f of frames) {
      if (this.channel.queuedBytes + this.batchBytes + 4 + f.length > MAX_LINK_BACKLOG) {
        this.stats.dropped++;
        continue;
      }
      if (this.batchBytes + 4 + f.length > BATCH_BYTES) this.flush();
      this.batch.push(f);
      this.batchBytes += 4 + f.length;
    }
    if (this.batch.length > 0 && !this.flushPending) {
      this.flushPending = true;
      this.defer(() => {
        this.flushPending = false;
        this.flush();
      });
    }
  }

  /** Sends the frames batched so far as one message. */
  flush(): void {
    if (this.batch.length === 0 || this.closed) return;
    const msg = encodeFrames(this.batch);
    this.batch = [];
    this.batchBytes = 0;
    this.stats.messagesOut++;
    this.channel.send(msg);
  }

  /**
   * A message from the peer: its frames go into the switch. A malformed one is counted and
   * ends the channel (the reason is returned for the log); null when all was well.
   */
  receive(msg: Uint8Array): string | null {
    if (this.closed) return null;
    this.stats.messagesIn++;
    const frames = decodeFrames(msg);
    if (typeof frames === 'string') {
      this.stats.malformed++;
      this.channel.close(frames);
      return frames;
    }
    for (const f of frames) this.link?.transmit(f);
    return null;
  }

  /** The channel is gone: nothing more is sent; frames batched are dropped. */
  close(): void {
    this.closed = true;
    this.batch = [];
    this.batchBytes = 0;
  }
}
