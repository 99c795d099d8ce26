export { Cause, Csr, IrqBit, Priv } from './arch.js';
export { Exit } from './exits.js';
export { Hart, type HartOptions } from './hart.js';
export { ALL_EXTENSIONS, type HartExtensions } from './isa.js';
export { EMPTY_BUS, type PhysBus, type RamLike, type TimeSource } from './types.js';
