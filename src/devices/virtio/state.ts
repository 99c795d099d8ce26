/**
 * Snapshot state of a virtio-mmio device: the transport's registers, each queue's layout
 * and ring indices, then the device model's own words. Encoded as little-endian float64
 * words (every value is an integer below 2^53) behind a magic and a version, so a bad
 * blob is refused before anything changes.
 */

export const STATE_MAGIC = 0x5649_4f31; // "VIO1"
export const STATE_VERSION = 1;

export interface QueueState {
  size: number;
  ready: boolean;
  descAddr: number;
  driverAddr: number;
  deviceAddr: number;
  active: boolean;
  lastAvail: number;
  usedIdx: number;
  signalledUsed: number;
}

export interface TransportState {
  deviceId: number;
  status: number;
  interruptStatus: number;
  configGeneration: number;
  deviceFeaturesSel: number;
  driverFeaturesSel: number;
  driverFeatures: [lo: number, hi: number];
  negotiated: [lo: number, hi: number];
  queueSel: number;
  queues: QueueState[];
  device: number[];
}

const QUEUE_WORDS = 9;

export function encodeState(s: TransportState): Uint8Array {
  const w: number[] = [
    STATE_MAGIC,
    STATE_VERSION,
    s.deviceId,
    s.status,
    s.interruptStatus,
    s.configGeneration,
    s.deviceFeaturesSel,
    s.driverFeaturesSel,
    ...s.driverFeatures,
    ...s.negotiated,
    s.queueSel,
    s.queues.length,
  ];
  for (const q of s.queues) {
    w.push(q.size, q.ready ? 1 : 0, q.descAddr, q.driverAddr, q.deviceAddr, q.active ? 1 : 0);
    w.push(q.lastAvail, q.usedIdx, q.signalledUsed);
  }
  w.push(s.device.length, ...s.device);
  const out = new Uint8Array(8 * w.length);
  const v = new DataView(out.buffer);
  w.forEach((x, i) => {
    v.setFloat64(8 * i, x, true);
  });
  return out;
}

/** Decodes and checks a state blob; returns an error message for anything malformed. */
export function decodeState(bytes: Uint8Array): TransportState | string {
  if (bytes.length % 8 !== 0 || bytes.length < 8 * 15) return 'virtio state: truncated';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / 8;
  const w: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = v.getFloat64(8 * i, true);
    if (!Number.isSafeInteger(x) || x < 0) return `virtio state: word ${i} is not a non-negative integer`;
    w.push(x);
  }
  if (w[0] !== STATE_MAGIC) return 'virtio state: bad magic';
  if (w[1] !== STATE_VERSION) return `virtio state: version ${w[1]}, expected ${STATE_VERSION}`;
  const u32 = (x: number) => x <= 0xffff_ffff;
  const u16 = (x: number) => x <= 0xffff;
  let i = 2;
  const take = () => w[i++]!;
  const s = {
    deviceId: take(),
    status: take(),
    interruptStatus: take(),
    configGeneration: take(),
    deviceFeaturesSel: take(),
    driverFeaturesSel: take(),
    driverFeatures: [take(), take()] as [number, number],
    negotiated: [take(), take()] as [number, number],
    queueSel: take(),
    queues: [] as QueueState[],
    device: [] as number[],
  };
  if (![s.status, s.interruptStatus, ...s.driverFeatures, ...s.negotiated].every(u32) || s.status > 0xff) {
    return 'virtio state: register out of range';
  }
  const nq = take();
  if (nq > 64 || i + nq * QUEUE_WORDS + 1 > n) return 'virtio state: truncated queues';
  for (let k = 0; k < nq; k++) {
    const q: QueueState = {
      size: take(),
      ready: take() === 1,
      descAddr: take(),
      driverAddr: take(),
      deviceAddr: take(),
      active: take() === 1,
      lastAvail: take(),
      usedIdx: take(),
      signalledUsed: take(),
    };
    if (!u16(q.lastAvail) || !u16(q.usedIdx) || !u16(q.signalledUsed) || !u32(q.size)) {
      return `virtio state: queue ${k} indices out of range`;
    }
    s.queues.push(q);
  }
  const nd = take();
  if (i + nd !== n) return 'virtio state: device words do not match the length';
  s.device = w.slice(i);
  return s;
}
