/**
 * Errors are data. Every failure the host reports to a user has a kind from
 * this list and a one-line message; the CLI prints the message, never a stack.
 */
export type PvmErrorKind =
  | 'usage' // bad command line or config
  | 'image' // a kernel, firmware or disk image that cannot be used
  | 'io' // a host file or socket failed
  | 'guest' // the guest did something that ends its domain
  | 'state' // an operation not allowed in the current state
  | 'internal'; // a bug in pvm

export class PvmError extends Error {
  readonly kind: PvmErrorKind;
  constructor(kind: PvmErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'PvmError';
  }
}

export const isPvmError = (e: unknown): e is PvmError => e instanceof PvmError;
