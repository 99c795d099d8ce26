export { isSnapshotError, SnapshotError, type SnapshotErrorReason } from '../../core/state.js';
export {
  decodeSnapshot,
  decodeSnapshotBytes,
  drain,
  encodeSnapshot,
  encodeSnapshotBytes,
  type SnapshotHeader,
  verifySnapshot,
} from './codec.js';
export { crc32, crc32Hasher } from './crc32.js';
export {
  type Compressor,
  type DomainSnapshot,
  type Hasher,
  type HashState,
  isSnapshottable,
  type MachineState,
  PAGE_SIZE,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  type SnapshotCodecs,
  type SnapshotDisk,
  type SnapshotProgress,
  type Snapshottable,
} from './format.js';
