import { PVM_IMPL_ID, PVM_IMPL_VERSION, SbiErr, SPEC_VERSION } from './consts.js';
import type { SbiArgs, SbiExtension, SbiPlatform, SbiRet } from './types.js';
import { err, ok } from './types.js';

const names = [
  'get_spec_version',
  'get_impl_id',
  'get_impl_version',
  'probe_extension',
  'get_mvendorid',
  'get_marchid',
  'get_mimpid',
];

/**
 * Base extension (EID 0x10, SBI v2.0 §4). `probe` answers probe_extension
 * truthfully from the dispatcher's table.
 */
export class BaseExtension implements SbiExtension {
  readonly name = 'BASE';
  constructor(private readonly probeExt: (eid: bigint) => number) {}

  functionName(_eid: number, fid: number): string | undefined {
    return names[fid];
  }

  call(_p: SbiPlatform, _hart: number, _eid: number, fid: number, a: SbiArgs): SbiRet {
    switch (fid) {
      case 0:
        return ok(SPEC_VERSION);
      case 1:
        return ok(PVM_IMPL_ID);
      case 2:
        return ok(PVM_IMPL_VERSION);
      case 3:
        return ok(this.probeExt(a[0]));
      // mvendorid/marchid/mimpid: the virtual hart reports 0 (not implemented) for all three.
      case 4:
      case 5:
      case 6:
        return ok(0);
      default:
        return err(SbiErr.NOT_SUPPORTED);
    }
  }
}
