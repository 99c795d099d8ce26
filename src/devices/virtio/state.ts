import type { StateCodec } from '../../core/state.js';

/**
 * Snapshot state of a virtio-mmio transport: its registers and each queue's
 * layout and ring indices. The device model's own state follows it in the
 * same blob (VirtioDevice.state, written by the device's codec).
 */

export interface QueueState {
  readonly size: number;
  readonly ready: boolean;
  readonly descAddr: number;
  readonly driverAddr: number;
  readonly deviceAddr: number;
  readonly active: boolean;
  readonly lastAvail: number;
  readonly usedIdx: number;
  readonly signalledUsed: number;
}

export interface TransportState {
  readonly deviceId: number;
  readonly status: number;
  readonly interruptStatus: number;
  readonly configGeneration: number;
  readonly deviceFeaturesSel: number;
  readonly driverFeaturesSel: number;
  readonly driverFeatures: readonly [lo: number, hi: number];
  readonly negotiated: readonly [lo: number, hi: number];
  readonly queueSel: number;
  readonly queues: readonly QueueState[];
}

/** Most queues a transport may have (the mmio layer's own limit is lower). */
export const MAX_QUEUES = 64;

export const queueStateCodec: StateCodec<QueueState> = {
  write(w, q) {
    // Addresses as the guest wrote them: any 64-bit value, held as a number (exact below 2^53).
    w.u32(q.size).bool(q.ready).u64(BigInt(q.descAddr)).u64(BigInt(q.driverAddr)).u64(BigInt(q.deviceAddr));
    w.bool(q.active);
    w.u16(q.lastAvail).u16(q.usedIdx).u16(q.signalledUsed);
  },
  read(r) {
    return {
      size: r.u32('queue size'),
      ready: r.bool('queue ready'),
      descAddr: Number(r.u64('descriptor table address')),
      driverAddr: Number(r.u64('driver area address')),
      deviceAddr: Number(r.u64('device area address')),
      active: r.bool('queue active'),
      lastAvail: r.u16('last available index'),
      usedIdx: r.u16('used index'),
      signalledUsed: r.u16('signalled used index'),
    };
  },
};

export const transportStateCodec: StateCodec<TransportState> = {
  write(w, s) {
    w.u32(s.deviceId).u8(s.status).u32(s.interruptStatus).u32(s.configGeneration);
    w.u32(s.deviceFeaturesSel).u32(s.driverFeaturesSel);
    w.u32(s.driverFeatures[0]).u32(s.driverFeatures[1]).u32(s.negotiated[0]).u32(s.negotiated[1]);
    w.u32(s.queueSel).list(s.queues, queueStateCodec.write);
  },
  read(r) {
    return {
      deviceId: r.u32('device id'),
      status: r.u8('status'),
      interruptStatus: r.u32('interrupt status'),
      configGeneration: r.u32('config generation'),
      deviceFeaturesSel: r.u32('device features select'),
      driverFeaturesSel: r.u32('driver features select'),
      driverFeatures: [r.u32('driver features low'), r.u32('driver features high')],
      negotiated: [r.u32('negotiated features low'), r.u32('negotiated features high')],
      queueSel: r.u32('queue select'),
      queues: r.list('queues', MAX_QUEUES, 36, (r) => queueStateCodec.read(r)),
    };
  },
};
