import { ControlPlane, type SnapshotStore } from '../api/control.js';
import type { DomainManager } from '../api/domain.js';
import { HostFiles } from '../host/host-files.js';
import { loadSnapshotFile, saveSnapshotFile } from '../host/snapshot-file.js';
import { SwitchLinks, type SwitchLinksOptions } from '../host/switch-links.js';
import { HypervisorDomainManager } from './hypervisor-domains.js';
import { PoolDomainManager } from './pool-domains.js';

/**
 * Save files on the local file system (SHA-256, zlib; written then renamed into place), at the
 * paths `files` allows (default: any absolute path).
 */
export function createFileSnapshotStore(files: HostFiles = new HostFiles()): SnapshotStore {
  return {
    save: (path, snapshot, onProgress, options) =>
      saveSnapshotFile(path, snapshot, onProgress, undefined, { files, force: options?.force === true }),
    load: (path, onProgress) => loadSnapshotFile(path, onProgress, undefined, { files }),
  };
}

/** Save files anywhere an absolute path names. */
export const fileSnapshotStore: SnapshotStore = createFileSnapshotStore();

export interface LocalControlOptions {
  /** What runs the domains; default: the hypervisor (FakeDomainManager for tests and demos). */
  readonly manager?: DomainManager;
  readonly store?: SnapshotStore;
  /** Where switch link events go (the daemon logs them). */
  readonly links?: SwitchLinksOptions;
}

/**
 * The control plane without a daemon, for Node programs embedding pvm:
 * `const pvm = openControlPlane(); await pvm.create({ name: 'vm1', memory: '256M' })` (no kernel:
 * the embedded guest). The same checks and the same builder as the daemon and `pvm run`.
 */
export function openControlPlane(options: LocalControlOptions = {}): ControlPlane {
  const manager = options.manager ?? new HypervisorDomainManager();
  return new ControlPlane({
    manager,
    store: options.store ?? fileSnapshotStore,
    // The hypervisor's switches can be joined to other daemons'; fake domains have no NICs.
    ...((manager instanceof HypervisorDomainManager || manager instanceof PoolDomainManager) && {
      network: new SwitchLinks(manager.switches, options.links),
    }),
  });
}
