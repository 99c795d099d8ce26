import { isPvmError, PvmError, type PvmErrorKind } from '../core/errors.js';

/**
 * Every way a control-plane command can fail, as data: a code, the HTTP
 * status the daemon answers with, and a one-line message. Users see the
 * message, never a stack.
 */
export type ApiErrorCode =
  | 'bad-request' // the request does not match the API (schema, unknown field, bad value)
  | 'not-found' // no such domain, or no such route
  | 'bad-method' // the route exists, not with this HTTP method
  | 'name-taken' // a domain with that name already exists
  | 'bad-state' // the command is not allowed in the domain's current state
  | 'console-busy' // another client holds the console's input
  | 'bad-image' // a snapshot, kernel or disk that cannot be used
  | 'io' // a host file could not be read or written
  | 'unauthorized' // TCP listener: missing or wrong token
  | 'forbidden' // a host path outside the allowed directories, or (HTTP) a foreign origin or host
  | 'in-use' // a disk image another domain or process holds (its lock)
  | 'too-large' // a request body over the limit
  | 'migration' // live migration failed: the destination refused, or the connection to it failed
  | 'internal'; // a bug in pvm

export const API_ERROR_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'too-large': 413,
  migration: 502,
  'in-use': 409,
  'not-found': 404,
  'bad-method': 405,
  'name-taken': 409,
  'bad-state': 409,
  'console-busy': 409,
  'bad-image': 422,
  io: 422,
  internal: 500,
};

export class ApiError extends PvmError {
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(kindOf(code), message, options);
    this.code = code;
    this.name = 'ApiError';
  }

  get status(): number {
    return API_ERROR_STATUS[this.code];
  }

  toJSON(): { error: { code: ApiErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

function kindOf(code: ApiErrorCode): PvmErrorKind {
  switch (code) {
    case 'bad-request':
    case 'not-found':
    case 'bad-method':
    case 'name-taken':
    case 'unauthorized':
    case 'forbidden':
    case 'too-large':
      return 'usage';
    case 'in-use':
    case 'migration':
      return 'io';
    case 'bad-state':
    case 'console-busy':
      return 'state';
    case 'bad-image':
      return 'image';
    case 'io':
      return 'io';
    default:
      return 'internal';
  }
}

const CODE_OF_KIND: Readonly<Record<PvmErrorKind, ApiErrorCode>> = {
  usage: 'bad-request',
  image: 'bad-image',
  io: 'io',
  guest: 'bad-state',
  state: 'bad-state',
  internal: 'internal',
};

/**
 * Any thrown value as an ApiError. Unknown exceptions become 'internal' with a
 * generic message; the original is kept as the cause for the daemon's log.
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isPvmError(e)) return new ApiError(CODE_OF_KIND[e.kind], e.message, { cause: e });
  return new ApiError('internal', 'internal error in pvm (see the daemon log)', { cause: e });
}

export const isApiError = (e: unknown): e is ApiError => e instanceof ApiError;
