/**
 * The passt processes of one pvm process: one per virtual switch that a NIC asks to reach
 * the host's network through (`uplink: user` in its spec, `--net user`, `--net NAME,uplink=user`).
 *
 * A switch's passt starts when the first such NIC is plugged in, with that NIC's port
 * forwards, and stops when the last one is unplugged, so a domain that ends (or a daemon
 * domain that is destroyed) leaves no passt behind. A later NIC on the same switch shares
 * the running passt; it may name no forwards or the same ones (one passt listens on a host
 * port once), and anything else is refused with a message naming who started it.
 */
import { formatPublish, type PublishEntry } from '../api/spec.js';
import { PvmError } from '../core/errors.js';
import type { VirtualSwitch } from '../devices/switch.js';
import { PasstUplink } from './passt.js';

export interface UserNetworkOptions {
  /** The passt program (default `passt` from PATH). */
  readonly passt?: string;
  /** Told when a passt ends while NICs still use it (its switch then reaches nothing). */
  readonly onExit?: (switchName: string, reason: string) => void;
}

interface Entry {
  readonly started: Promise<PasstUplink>;
  readonly forwards: string;
  readonly owner: string;
  refs: number;
}

const key = (forwards: readonly PublishEntry[]) => forwards.map(formatPublish).sort().join(' ');

export class UserNetworks {
  private readonly running = new Map<VirtualSwitch, Entry>();
  constructor(private readonly opts: UserNetworkOptions = {}) {}

  /**
   * Takes a share of `sw`'s passt, starting it with `forwards` when the switch has none.
   * Resolves to the function that gives the share back (the last one stops passt).
   */
  async acquire(sw: VirtualSwitch, forwards: readonly PublishEntry[], owner: string): Promise<() => Promise<void>> {
    let e = this.running.get(sw);
    if (e !== undefined && forwards.length > 0 && key(forwards) !== e.forwards) {
      throw new PvmError(
        'usage',
        `switch ${sw.name}: its passt was started by ${e.owner} with port forwards [${e.forwards}]; forwards of another NIC on it must be the same or none`,
      );
    }
    if (e === undefined) {
      const started = PasstUplink.start(sw, {
        forwards: forwards.map((f) => ({ ...f })),
        ...(this.opts.passt !== undefined ? { binary: this.opts.passt } : {}),
        onExit: (reason) => this.opts.onExit?.(sw.name, reason),
      });
      e = { started, forwards: key(forwards), owner, refs: 0 };
      this.running.set(sw, e);
      const mine = e;
      started.catch(() => {
        if (this.running.get(sw) === mine) this.running.delete(sw);
      });
    }
    e.refs++;
    const entry = e;
    try {
      await entry.started;
    } catch (err) {
      entry.refs--;
      throw err;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      if (--entry.refs > 0) return;
      if (this.running.get(sw) === entry) this.running.delete(sw);
      await (await entry.started).stop();
    };
  }

  /** The passt uplink of `sw`, once started. */
  async uplinkOf(sw: VirtualSwitch): Promise<PasstUplink | undefined> {
    return this.running.get(sw)?.started.catch(() => undefined);
  }

  /** How many passt processes run or start now. */
  get count(): number {
    return this.running.size;
  }
}
