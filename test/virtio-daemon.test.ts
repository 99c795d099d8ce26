/**
 * Daemon domains with virtio devices (HypervisorDomainManager, the daemon's engine):
 * disks, NICs on the daemon's shared switches and entropy come from the domain config,
 * as in `pvm run` config files. Two Linux domains: one reads its disk and /dev/hwrng and
 * pings the other across the switch; both power off; destroying them releases the devices.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DomainState } from '../src/api/domain.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { initrd, kernel } from './support/linux-guest.js';

const run = (cmds: string[]) => `pvm.run=${cmds.join(';').replaceAll(' ', '%20')}`;

test('daemon domains take disks, nets and rng from their config: disk read, hwrng, ping across the switch', {
  timeout: 240_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-vdaemon-'));
  const m = new HypervisorDomainManager();
  try {
    const img = join(dir, 'disk.img');
    const data = new Uint8Array(1 << 20);
    data.set(new TextEncoder().encode('daemon-disk'), 0);
    writeFileSync(img, data);
    const base = { kernel: kernel, initrd: initrd, memory: '128M' };
    const ended = new Map<string, DomainState>();
    const done = new Promise<void>((resolve) => {
      m.subscribe((e) => {
        if (e.type === 'state' && (e.state === 'shutoff' || e.state === 'crashed')) ended.set(e.name, e.state);
        if (ended.size === 2) resolve();
      });
    });
    const a = await m.create(
      {
        ...base,
        name: 'a',
        disks: [`${img},ro`],
        nets: ['lan'],
        rng: true,
        append: `console=ttyS0 ${run([
          'echo disk $(head -c 11 /dev/vda)',
          'echo hwrng $(head -c 16 /dev/hwrng | wc -c)',
          'ip addr add 10.0.0.1/24 dev eth0',
          'ip link set eth0 up',
          'until ping -c 1 -W 1 10.0.0.2 >/dev/null; do sleep 1; done',
          'ping -c 2 10.0.0.2',
        ])}`,
      },
      { paused: false },
    );
    const b = await m.create(
      {
        ...base,
        name: 'b',
        nets: [{ switch: 'lan' }],
        append: `console=ttyS0 ${run(['ip addr add 10.0.0.2/24 dev eth0', 'ip link set eth0 up', 'sleep 12'])}`,
      },
      { paused: false },
    );
    let out = '';
    m.console(a.id).subscribe((d) => {
      out += new TextDecoder().decode(d);
    });
    await done;
    assert.deepEqual(Object.fromEntries(ended), { a: 'shutoff', b: 'shutoff' }, out.slice(-2000));
    assert.match(out, /disk daemon-disk/);
    assert.match(out, /hwrng 16/);
    assert.match(out, /2 packets transmitted, 2 packets received, 0% packet loss/);
    assert.match(m.info(a.id).name, /^a$/);
    await m.destroy(a.id);
    await m.destroy(b.id);
    assert.deepEqual(m.list(), []);
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
