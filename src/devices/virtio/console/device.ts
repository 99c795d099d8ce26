/**
 * virtio-console (virtio 1.2 §5.3), a single port: Linux's `hvc0`. Queue 0 carries host
 * input to the guest (device-writable buffers), queue 1 guest output to the host
 * (device-readable buffers). VIRTIO_CONSOLE_F_EMERG_WRITE lets the driver print one
 * character by writing `emerg_wr` in the config space, before the queues are up.
 */
import type { StateCodec } from '../../../core/state.js';
import { readChain, writeChain } from '../chain.js';
import { bit, DeviceId } from '../constants.js';
import type { VirtioDevice, VirtioDeviceState, VirtioTransport } from '../device.js';

/** §5.3.3 feature bits. */
export const ConsoleFeature = {
  SIZE: 0,
  MULTIPORT: 1,
  EMERG_WRITE: 2,
} as const;

/** §5.3.4 struct virtio_console_config offsets. */
export const ConsoleConfig = {
  COLS: 0,
  ROWS: 2,
  MAX_NR_PORTS: 4,
  EMERG_WR: 8,
  SIZE: 12,
} as const;

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** Host input kept while the guest has no receive buffers; beyond this it is dropped. */
export const MAX_PENDING_INPUT = 64 * 1024;
/** Largest single guest write taken at once. */
const MAX_OUTPUT_CHUNK = 1 << 20;

export interface ConsoleStats {
  bytesOut: number;
  bytesIn: number;
  inputDropped: number;
}

export interface VirtioConsoleOptions {
  /** Receives guest output (the bytes are a copy the sink may keep). */
  output: (bytes: Uint8Array) => void;
  /**
   * Terminal size: offers VIRTIO_CONSOLE_F_SIZE with these cols/rows; `resize` updates
   * them later (Linux resizes hvc0). Absent: no size feature (the guest assumes 80x24).
   */
  size?: { cols: number; rows: number };
  queueSize?: number;
}

export class VirtioConsole implements VirtioDevice {
  readonly kind = 'console';
  readonly deviceId = DeviceId.CONSOLE;
  readonly queueSizes: readonly number[];
  readonly features: bigint;
  readonly config = new Uint8Array(ConsoleConfig.SIZE);
  readonly stats: ConsoleStats = { bytesOut: 0, bytesIn: 0, inputDropped: 0 };
  readonly inFlight = 0;
  private t!: VirtioTransport;
  private readonly output: (bytes: Uint8Array) => void;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(opts: VirtioConsoleOptions) {
    this.output = opts.output;
    const n = opts.queueSize ?? 64;
    this.queueSizes = [n, n];
    this.features = bit(ConsoleFeature.EMERG_WRITE) | (opts.size ? bit(ConsoleFeature.SIZE) : 0n);
    new DataView(this.config.buffer).setUint32(ConsoleConfig.MAX_NR_PORTS, 1, true);
    if (opts.size) this.setSize(opts.size.cols, opts.size.rows);
  }

  private setSize(cols: number, rows: number): void {
    const v = new DataView(this.config.buffer);
    v.setUint16(ConsoleConfig.COLS, Math.max(0, Math.min(cols, 0xffff)), true);
    v.setUint16(ConsoleConfig.ROWS, Math.max(0, Math.min(rows, 0xffff)), true);
  }

  /** The host terminal changed size (only with the `size` option): config change to the guest. */
  resize(cols: number, rows: number): void {
    if (!(this.features & bit(ConsoleFeature.SIZE))) return;
    this.setSize(cols, rows);
    this.t?.configChanged();
  }

  attach(t: VirtioTransport): void {
    this.t = t;
  }

  activate(): string | null {
    this.deliver();
    return null;
  }

  reset(): void {
    // Host input not yet delivered stays queued for the next driver.
  }

  writeConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    // §5.3.6.1: a write to emerg_wr outputs one character (any access width covering it).
    if (offset === ConsoleConfig.EMERG_WR) {
      this.stats.bytesOut++;
      this.output(Uint8Array.of(value & 0xff));
    }
    void size;
  }

  /** Host keyboard (or pipe) input for the guest. */
  input(bytes: Uint8Array): void {
    const room = MAX_PENDING_INPUT - this.pendingBytes;
    if (bytes.length > room) this.stats.inputDropped += bytes.length - Math.max(0, room);
    if (room <= 0) return;
    const take = bytes.subarray(0, room).slice();
    this.pending.push(take);
    this.pendingBytes += take.length;
    this.deliver();
  }

  /** Host input waiting for guest receive buffers. */
  get pendingInput(): number {
    return this.pendingBytes;
  }

  notify(q: number): void {
    if (q === RX_QUEUE) this.deliver();
    else if (q === TX_QUEUE) this.transmit();
  }

  /** Moves pending host input into receive buffers while both exist. */
  private deliver(): void {
    while (this.pendingBytes > 0 && this.t.running) {
      const chain = this.t.pop(RX_QUEUE);
      if (chain === null) return;
      const n = Math.min(chain.writableLen, this.pendingBytes);
      const data = this.takeInput(n);
      writeChain(this.t.ram, chain.writable, data);
      this.stats.bytesIn += n;
      this.t.complete(RX_QUEUE, chain.head, n);
    }
  }

  private takeInput(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let pos = 0;
    while (pos < n) {
      const first = this.pending[0]!;
      const take = Math.min(first.length, n - pos);
      out.set(first.subarray(0, take), pos);
      pos += take;
      if (take === first.length) this.pending.shift();
      else this.pending[0] = first.subarray(take);
    }
    this.pendingBytes -= n;
    return out;
  }

  private transmit(): void {
    for (let chain = this.t.pop(TX_QUEUE); chain !== null; chain = this.t.pop(TX_QUEUE)) {
      // Device-writable buffers in a transmit chain carry nothing and are left alone.
      const data = readChain(this.t.ram, chain.readable, 0, MAX_OUTPUT_CHUNK);
      if (data.length > 0) {
        this.stats.bytesOut += data.length;
        this.output(data);
      }
      this.t.complete(TX_QUEUE, chain.head, 0);
    }
  }

  /** Snapshot: the host input not yet delivered to the guest. */
  readonly state: VirtioDeviceState<Uint8Array> = {
    codec: consoleStateCodec,
    save: () => {
      const out = new Uint8Array(this.pendingBytes);
      let at = 0;
      for (const p of this.pending) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    load: (input) => {
      this.pending = input.length > 0 ? [input.slice()] : [];
      this.pendingBytes = input.length;
    },
  };
}

/** The console's own state: pending host input, at most MAX_PENDING_INPUT bytes. */
export const consoleStateCodec: StateCodec<Uint8Array> = {
  write: (w, input) => void w.bytes(input),
  read: (r) => r.bytes('pending input', MAX_PENDING_INPUT).slice(),
};
