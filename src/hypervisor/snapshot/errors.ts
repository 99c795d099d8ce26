import { PvmError } from '../../core/errors.js';

/**
 * Why a snapshot file was refused. Errors are data: each reason has one
 * message template, and every refusal happens before anything is restored.
 */
export type SnapshotErrorReason =
  | 'too-small' // shorter than a header plus a checksum
  | 'bad-magic' // not a pvm snapshot at all
  | 'bad-version' // a pvm snapshot of a format this build does not read
  | 'bad-header' // header fields that no writer produces
  | 'unsupported' // checksum or compression algorithm this build was not given
  | 'truncated' // fewer bytes than the header announces
  | 'bad-size' // more bytes than the header announces
  | 'bad-checksum' // contents changed after writing
  | 'bad-section'; // a section that does not parse (only reachable with a valid checksum)

export class SnapshotError extends PvmError {
  readonly reason: SnapshotErrorReason;
  constructor(reason: SnapshotErrorReason, message: string) {
    super('image', message);
    this.reason = reason;
    this.name = 'SnapshotError';
  }
}

export const isSnapshotError = (e: unknown): e is SnapshotError => e instanceof SnapshotError;
