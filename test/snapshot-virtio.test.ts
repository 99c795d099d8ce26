/**
 * Save and restore of a daemon domain with virtio devices (HypervisorDomainManager): the
 * device section carries each transport's state as `virtio:SLOT:KIND`, the config the disk
 * paths. One Linux boot: the guest writes its disk, is saved to a file and destroyed;
 * damaged or mismatching snapshots and a vanished disk are refused with nothing created;
 * the restored guest reads what it wrote, reads a block it never read before, and writes
 * a new one that reaches the image file (its virtqueues go on).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { loadSnapshotFile, saveSnapshotFile } from '../src/host/snapshot-file.js';
import type { DomainSnapshot } from '../src/hypervisor/snapshot/index.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { initrd, kernel } from './support/linux-guest.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

test('a Linux domain with a virtio disk is saved and restored: the disk and its queues go on', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-snapvirtio-'));
  const m = new HypervisorDomainManager();
  try {
    const img = join(dir, 'disk.img');
    const data = new Uint8Array(1 << 20);
    data.set(enc.encode('host-seed'), 512 << 10); // never read by the guest before the save
    writeFileSync(img, data);
    const h = await m.create(
      parseDomainSpec({
        name: 'lx',
        kernel: kernel,
        initrd: initrd,
        memory: '128M',
        disks: [img],
        rng: true,
        balloon: true,
        virtioConsole: true,
        append: 'console=ttyS0',
      }),
      { paused: false },
    );

    let out = '';
    const waiters: (() => void)[] = [];
    const follow = (id: number) =>
      m.console(id).subscribe((d) => {
        out += dec.decode(d);
        for (const w of waiters.splice(0)) w();
      });
    const until = async (re: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const r = re.exec(out);
        if (r) return r;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    let unfollow = follow(h.id);
    const send = (id: number, cmd: string) => m.console(id).write(enc.encode(`${cmd}\n`));

    await until(/pvm-guest: init ready/);
    send(h.id, 'printf pvm-before-save > /dev/vda; sync; echo wrote-$((2+3))');
    await until(/wrote-5/);
    assert.equal(dec.decode(readFileSync(img).subarray(0, 15)), 'pvm-before-save');

    await m.pause(h.id);
    const snap = await m.snapshot(h.id);
    const virtio = snap.devices.filter((e) => e.name.startsWith('virtio:')).map((e) => e.name);
    assert.deepEqual(virtio, ['virtio:0:console', 'virtio:1:blk', 'virtio:2:rng', 'virtio:3:balloon']);
    unfollow();
    await m.destroy(h.id);
    const file = join(dir, 'lx.pvmsnap');
    await saveSnapshotFile(file, snap);
    const loaded = await loadSnapshotFile(file);

    // Refusals: each leaves no domain behind (and the disk closed, so the good restore can reopen it).
    /** The spec a restore checks out of the save file, as the control plane does. */
    const specOf = (s: DomainSnapshot) => parseDomainSpec({ ...(s.meta.config as object), name: 'lx' });
    const refused = async (s: DomainSnapshot, re: RegExp) => {
      await assert.rejects(m.restore(s, specOf(s)), re);
      assert.deepEqual(m.list(), []);
    };
    const withDevices = (devices: DomainSnapshot['devices']): DomainSnapshot => ({ ...loaded, devices });
    const others = loaded.devices.filter((e) => e.name !== 'virtio:1:blk');
    const at = loaded.devices.findIndex((e) => e.name === 'virtio:1:blk');
    const blk = loaded.devices[at]!;
    /** The saved devices with the disk's entry replaced by `entries`, in its place. */
    const disk = (...entries: DomainSnapshot['devices']) => [
      ...loaded.devices.slice(0, at),
      ...entries,
      ...loaded.devices.slice(at + 1),
    ];
    // damaged transport state
    const rng = loaded.devices.find((e) => e.name === 'virtio:2:rng')!;
    const builds = /the config builds \[virtio:0:console, virtio:1:blk, virtio:2:rng, virtio:3:balloon\]/;
    // damaged transport state: cut short, bad magic, another device's state
    await refused(
      withDevices(disk({ name: blk.name, state: blk.state.subarray(0, blk.state.length - 3) })),
      /virtio device state in the snapshot: /,
    );
    const flipped = blk.state.slice();
    flipped[0]! ^= 0xff;
    await refused(withDevices(disk({ name: blk.name, state: flipped })), /virtio device state in the snapshot: /);
    await refused(
      withDevices(disk({ name: blk.name, state: rng.state })),
      /virtio device state in the snapshot: virtio1-blk: state is for device id 4/,
    );
    // another device set, slot or kind
    await refused(withDevices(others), /virtio devices saved \[virtio:0:console, virtio:2:rng, virtio:3:balloon\]/);
    await refused(withDevices(disk({ name: 'virtio:1:net', state: blk.state })), builds);
    await refused(withDevices(disk(blk, { name: 'virtio:2:blk', state: blk.state })), builds);
    await refused(
      withDevices([
        ...loaded.devices.filter((e) => e.name !== 'virtio:0:console'),
        loaded.devices.find((e) => e.name === 'virtio:0:console')!,
      ]),
      builds,
    );
    // the disk file is gone
    renameSync(img, `${img}.away`);
    await assert.rejects(m.restore(loaded, specOf(loaded)));
    assert.deepEqual(m.list(), []);
    renameSync(`${img}.away`, img);

    const r = await m.restore(loaded, specOf(loaded));
    out = '';
    unfollow = follow(r.id);
    await m.unpause(r.id);
    send(r.id, 'echo got-$(head -c 15 /dev/vda)');
    await until(/got-pvm-before-save/);
    send(r.id, 'echo far-$(dd if=/dev/vda bs=1024 skip=512 count=1 2>/dev/null | head -c 9)');
    await until(/far-host-seed/);
    send(
      r.id,
      'printf pvm-after-restore | dd of=/dev/vda bs=1024 seek=256 conv=notrunc 2>/dev/null; sync; echo synced-$((3+4))',
    );
    await until(/synced-7/);
    const after = readFileSync(img);
    assert.equal(dec.decode(after.subarray(0, 15)), 'pvm-before-save');
    assert.equal(dec.decode(after.subarray(256 << 10, (256 << 10) + 17)), 'pvm-after-restore');
    unfollow();
    await m.destroy(r.id);
    assert.deepEqual(m.list(), []);
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
