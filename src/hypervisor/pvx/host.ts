import { PvmError } from '../../core/errors.js';
import { PVX_DOMID_MAX } from '../../sbi/pvx/consts.js';
import type { PvxNote, PvxReply, PvxRequest } from './remote.js';

/**
 * The domains of the same daemon that live on other threads (a worker pool,
 * src/server/pvx-links.ts), as this thread's registry reaches them. Requests
 * (`call`) are answered synchronously by the other thread's registry
 * (remote.ts, `servePvx`); notes (`post`) are one-way. Both carry plain data.
 */
export interface PvxRemote {
  /** Domain `id` exists on another thread. */
  has(id: number): boolean;
  /** Ask the thread of domain `req.to`; undefined when that thread did not answer (ended, or too late). */
  call(req: PvxRequest): PvxReply | undefined;
  /** Tell the thread of domain `note.to` (dropped when the domain is nowhere). */
  post(note: PvxNote): void;
  /** Domain `id` joined this thread's registry. */
  added(id: number): void;
  /** Domain `id` left this thread's registry. */
  removed(id: number): void;
}

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
  /** The domains of the same daemon on other threads; null: this registry is the whole world. */
  remote: PvxRemote | null = null;

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
      if (this.taken(wanted)) throw new PvmError('state', `PVX domain id ${wanted} is in use`);
      return wanted;
    }
    for (let id = 1; id <= PVX_DOMID_MAX; id++) if (!this.taken(id)) return id;
    throw new PvmError('state', 'PVX: no free domain id');
  }

  /** Domain `id` exists here or on another thread of the daemon. */
  taken(id: number): boolean {
    return this.domains.has(id) || (this.remote?.has(id) ?? false);
  }

  add(d: D): void {
    if (this.domains.has(d.id)) throw new Error(`PVX: domain id ${d.id} registered twice`);
    this.domains.set(d.id, d);
    this.remote?.added(d.id);
  }

  get(id: number): D | undefined {
    return this.domains.get(id);
  }

  remove(d: D): void {
    if (this.domains.get(d.id) === d) {
      this.domains.delete(d.id);
      this.remote?.removed(d.id);
    }
  }

  ids(): number[] {
    return [...this.domains.keys()].sort((a, b) => a - b);
  }
}
