/**
 * Boots the Linux test guest in this process with host folders (virtio-9p) and NICs
 * (virtio-net on a given switch), through createVm with VmConfig.devices, the library
 * path. The one place the 9p and user-networking tests build VMs.
 */
import { readFileSync } from 'node:fs';
import { parseMac, type VirtualSwitch } from '../../src/devices/switch.js';
import type { VirtioP9 } from '../../src/devices/virtio/9p/device.js';
import type { VirtioDevice } from '../../src/devices/virtio/device.js';
import { VirtioNet } from '../../src/devices/virtio/net/device.js';
import { NodeDomainHost } from '../../src/host/domain-host.js';
import { openShare, type ShareSpec } from '../../src/host/p9-fs.js';
import type { DomainEnd } from '../../src/hypervisor/domain.js';
import { createVm } from '../../src/hypervisor/vm.js';
import { initrdWithScripts, kernel } from './linux-guest.js';

export interface GuestRun {
  /** Shell commands for the guest's init (pvm.run). */
  readonly run: string;
  /** More kernel command line words, e.g. pvm.net=dhcp. */
  readonly append?: string;
  readonly shares?: readonly ShareSpec[];
  readonly nets?: readonly { switch: VirtualSwitch; mac: string }[];
  /** MiB of RAM (default 128). */
  readonly memoryMiB?: number;
  /** Sees the whole console so far after each chunk. */
  readonly onOutput?: (all: string) => void;
}

export interface GuestResult {
  readonly end: DomainEnd;
  readonly console: string;
  readonly shares: readonly VirtioP9[];
  readonly nets: readonly VirtioNet[];
}

export async function runGuest(opts: GuestRun): Promise<GuestResult> {
  const shares: VirtioP9[] = [];
  const nets: VirtioNet[] = [];
  const unplug: (() => void)[] = [];
  try {
    for (const s of opts.shares ?? []) shares.push(await openShare(s));
    for (const n of opts.nets ?? []) {
      const nic = new VirtioNet({ mac: parseMac(n.mac)! });
      const port = n.switch.attach(nic);
      unplug.push(() => port.detach());
      nets.push(nic);
    }
    let out = '';
    const host = new NodeDomainHost((b) => {
      const text = new TextDecoder().decode(b);
      out += text;
      if (process.env.PVM_TEST_TRACE) process.stderr.write(text);
      opts.onOutput?.(out);
    });
    const devices: VirtioDevice[] = [...shares, ...nets];
    const domain = createVm(
      {
        mode: 'pv',
        harts: 1,
        memory: (opts.memoryMiB ?? 128) << 20,
        kernel: readFileSync(kernel),
        initrd: initrdWithScripts(),
        cmdline: `console=ttyS0 ${opts.append ?? ''} pvm.run=${opts.run.replaceAll(' ', '%20')}`,
        devices,
      },
      host,
    );
    const end = await domain.run();
    host.flush();
    return { end, console: out, shares, nets };
  } finally {
    for (const u of unplug) u();
    for (const s of shares) await s.close();
  }
}
