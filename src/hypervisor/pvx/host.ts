import { PvmError } from '../../core/errors.js';
import { PVX_DOMID_MAX } from '../../sbi/pvx/consts.js';

/** What the registry needs of a domain's PVX state. */
export interface PvxMember {
  readonly id: number;
}

/**
 * The domains of one pvm process that can reach each other through PVX
 * (event channels, grants). Ids are 1..0x7FEF, lowest free first; a removed
 * (destroyed) domain's id is free again, and calls naming it answer
 * INVALID_PARAM. A process that runs several domains passes one PvxHost to
 * each of them (VmOptions.pvxHost); a domain created alone gets its own and
 * is domain 1.
 */
export class PvxHost<D extends PvxMember = PvxMember> {
  private readonly domains = new Map<number, D>();

  /**
   * `wanted` when given (a control plane that numbers its domains itself), else the
   * lowest free domain id. Throws PvmError('state') when `wanted` is taken or not
   * 1..0x7FEF, or when all 32751 ids are taken (host-side limits, never guest input).
   */
  allocateId(wanted?: number): number {
    if (wanted !== undefined) {
      if (!Number.isInteger(wanted) || wanted < 1 || wanted > PVX_DOMID_MAX) {
        throw new PvmError('state', `PVX domain id ${wanted} is not 1..${PVX_DOMID_MAX}`);
      }
      if (this.domains.has(wanted)) throw new PvmError('state', `PVX domain id ${wanted} is in use`);
      return wanted;
    }
    for (let id = 1; id <= PVX_DOMID_MAX; id++) if (!this.domains.has(id)) return id;
    throw new PvmError('state', 'PVX: no free domain id');
  }

  add(d: D): void {
    if (this.domains.has(d.id)) throw new Error(`PVX: domain id ${d.id} registered twice`);
    this.domains.set(d.id, d);
  }

  get(id: number): D | undefined {
    return this.domains.get(id);
  }

  remove(d: D): void {
    if (this.domains.get(d.id) === d) this.domains.delete(d.id);
  }

  ids(): number[] {
    return [...this.domains.keys()].sort((a, b) => a - b);
  }
}
