export { BaseExtension } from './base.js';
export {
  ALL_ONES,
  Eid,
  HsmState,
  PVM_IMPL_ID,
  PVM_IMPL_VERSION,
  ResetReason,
  ResetType,
  SbiErr,
  SPEC_VERSION,
} from './consts.js';
export { createSbi, type SbiCallStats, SbiDispatcher } from './dispatcher.js';
export { decodeHartMask } from './hartmask.js';
export { STA_SHMEM_SIZE } from './srst-dbcn-sta.js';
export { err, ok, type SbiArgs, type SbiExtension, type SbiHart, type SbiPlatform, type SbiRet } from './types.js';
