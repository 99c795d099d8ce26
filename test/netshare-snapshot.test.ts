/**
 * A host folder across save and restore (a daemon domain, HypervisorDomainManager): the
 * Linux guest mounts a share, keeps two files open and its working directory in the share,
 * and is saved to a file and destroyed. Meanwhile one open file is deleted on the host and
 * a file is added. Restore refuses while the shared folder is missing, leaving nothing
 * behind; once it is back, the restored guest reads on from the open file where it
 * stopped (its fid opened again), lists and writes through the working directory, and
 * gets an I/O error, which its shell reports and survives, from the file that is gone.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { loadSnapshotFile, saveSnapshotFile } from '../src/host/snapshot-file.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { initrd, kernel } from './support/linux-guest.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

test('a 9p share across save and restore: open files go on, a file deleted meanwhile is an error', {
  timeout: 300_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-snap9p-'));
  const share = join(dir, 'share');
  mkdirSync(join(share, 'sub'), { recursive: true });
  writeFileSync(join(share, 'keep.txt'), 'line-one\nline-two\n');
  writeFileSync(join(share, 'gone.txt'), 'will vanish\n');
  writeFileSync(join(share, 'sub', 'x.txt'), 'in-sub\n');
  const m = new HypervisorDomainManager();
  try {
    const spec = parseDomainSpec({
      name: 'lx',
      kernel,
      initrd,
      memory: '128M',
      shares: [`${share}:host`],
      append: 'console=ttyS0',
    });
    const h = await m.create(spec, { paused: false });
    let out = '';
    const waiters: (() => void)[] = [];
    const follow = (id: number) =>
      m.console(id).subscribe((d) => {
        out += dec.decode(d);
        if (process.env.PVM_TEST_TRACE) process.stderr.write(dec.decode(d));
        for (const w of waiters.splice(0)) w();
      });
    const until = async (re: RegExp): Promise<RegExpExecArray> => {
      for (;;) {
        const r = re.exec(out);
        if (r) return r;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    const send = (id: number, cmd: string) => m.console(id).write(enc.encode(`${cmd}\n`));
    let unfollow = follow(h.id);

    await until(/pvm-guest: init ready/);
    send(
      h.id,
      'mount -t 9p -o trans=virtio,version=9p2000.L host /mnt && cd /mnt/sub && exec 3</mnt/keep.txt 4</mnt/gone.txt && read -r a <&3 && echo "first-$a"',
    );
    await until(/first-line-one/);

    await m.pause(h.id);
    const snap = await m.snapshot(h.id);
    assert.deepEqual(
      snap.devices.filter((e) => e.name.startsWith('virtio:')).map((e) => e.name),
      ['virtio:0:9p'],
    );
    unfollow();
    await m.destroy(h.id);
    const file = join(dir, 'lx.pvmsnap');
    await saveSnapshotFile(file, snap);
    const loaded = await loadSnapshotFile(file);
    const saved = parseDomainSpec({ ...(loaded.meta.config as object), name: 'lx' });
    assert.deepEqual(saved.devices[0], { kind: '9p', slot: 0, path: share, tag: 'host', readonly: false });

    // The folder is gone: the restore is refused and leaves nothing.
    renameSync(share, `${share}.away`);
    await assert.rejects(m.restore(loaded, saved), { message: `domain lx: cannot open share ${share}: no such file` });
    assert.deepEqual(m.list(), []);
    renameSync(`${share}.away`, share);

    // Meanwhile on the host: an open file deleted, a file added.
    rmSync(join(share, 'gone.txt'));
    writeFileSync(join(share, 'sub', 'from-host.txt'), 'added\n');

    const r = await m.restore(loaded, saved);
    out = '';
    unfollow = follow(r.id);
    await m.unpause(r.id);
    send(
      r.id,
      'read -r b <&3; echo "second-$b"; echo "cwd-$(cat x.txt)"; echo "ls-$(ls | tr "\\n" " ")"; echo listed-$((2*3))',
    );
    await until(/listed-6/);
    assert.match(out, /^second-line-two\r?$/m);
    assert.match(out, /^cwd-in-sub\r?$/m);
    assert.match(out, /^ls-from-host\.txt x\.txt \r?$/m);
    send(r.id, 'echo written-after > made.txt && echo "wrote-$?"; cat <&4; echo "gone-rc-$?"; echo still-$((6*7))');
    await until(/still-42/);
    assert.match(out, /^wrote-0\r?$/m);
    assert.match(out, /^cat: read error: No such file or directory\r?$/m);
    assert.match(out, /^gone-rc-1\r?$/m);
    assert.equal(readFileSync(join(share, 'sub', 'made.txt'), 'utf8'), 'written-after\n');
    assert.equal(existsSync(join(share, 'gone.txt')), false);
    unfollow();
    await m.destroy(r.id);
    assert.deepEqual(m.list(), []);
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
