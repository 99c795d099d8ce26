/** The library API: `import { ... } from 'pvm'`. */
export { PvmError, type PvmErrorKind } from './core/errors.js';
export { GuestRam } from './memory/ram.js';
