/**
 * Save, restore and reboot of a domain whose harts run on threads (docs/scheduler.md, "Harts on
 * threads"): Linux PV with 2 harts and `threads`, two md5sum processes at once in a loop that
 * numbers its rounds. Saved through the daemon, it restores with its harts on threads and also
 * without (the save file does not say where the harts ran), and a save made without threads
 * restores with them; after each restore the rounds go on from where they were, every sum
 * right, both harts retiring instructions (hart 1 on its thread where it has one). A pause
 * holds hart 1 on its thread as it holds hart 0. A guest
 * reboot parks hart 1's thread and the second boot starts it again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { fileSnapshotStore } from '../src/server/local.js';
import { collect, startTestDaemon, type TestDaemon, until } from './support/daemon.js';
import { initrd, kernel } from './support/linux-guest.js';

/** `seq 1 20000 | md5sum` on the host. */
const SUM = 'e071f707df7bbeee2a6a1eb48011ddd0';
const LOOP =
  'seq 1 20000 >/tmp/d; i=0; while true; do md5sum /tmp/d & md5sum /tmp/d & wait; echo r$i; i=$((i+1)); done';
const enc = (cmd: string) => cmd.replaceAll(' ', '%20');
/** Polls of 5 ms (and the calls' own time): a boot on a loaded 2-core host takes minutes. */
const BOOT = 60_000;
const RUN = 30_000;

/** The round numbers printed so far (the partial last line left out) and every sum printed. */
function rounds(text: string): { r: number[]; sums: string[] } {
  const lines = text.split(/\r?\n/);
  lines.pop();
  return {
    r: lines.filter((l) => /^r\d+$/.test(l)).map((l) => Number(l.slice(1))),
    sums: lines.filter((l) => / {2}\/tmp\/d$/.test(l)).map((l) => l.slice(0, 32)),
  };
}

describe('a Linux domain with its harts on threads', () => {
  let d: TestDaemon<HypervisorDomainManager>;
  let dir: string;
  before(async () => {
    d = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-tsave-' });
    dir = mkdtempSync(join(tmpdir(), 'pvm-tsave-files-'));
  });
  after(async () => {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const idOf = (name: string) => d.manager.list().find((x) => x.name === name)!.id;
  /** Hart 1's retired instructions as the VM counts them, and where it runs. */
  const hart1 = (name: string) => {
    const s = d.manager.vmOf(idOf(name)).statistics();
    return { instret: s.instructionsPerHart[1]!, thread: s.threads?.[0] };
  };

  /** Attaches to `name`'s console, unpauses it and waits for `more` rounds after `after`; checks them. */
  async function goesOn(name: string, last: number, more = 3): Promise<number> {
    const con = await d.client.attachConsole(name);
    const out = collect(con, 'latin1');
    await d.client.unpause(name);
    const { r } = await until(
      `${name}: ${more} rounds after r${last}`,
      () => {
        const x = rounds(out.text());
        return x.r.length >= more && x;
      },
      RUN,
    );
    con.destroy();
    const got = rounds(out.text());
    // a round whose line was cut by the save may be missing, never repeated, never a gap after
    assert.ok(r[0]! === last + 1 || r[0]! === last + 2, `${name}: r${r[0]} after r${last}`);
    for (let i = 1; i < got.r.length; i++) assert.equal(got.r[i], got.r[0]! + i, `${name}: ${got.r.join(' ')}`);
    for (const s of got.sums) assert.equal(s, SUM);
    return got.r.at(-1)!;
  }

  test('saved through the daemon, restored on threads, without them, and back on threads', async () => {
    await d.client.create(
      {
        name: 'lin',
        kernel,
        initrd,
        memory: '256M',
        smp: 2,
        threads: true,
        append: `console=hvc0 quiet pvm.run=${enc(LOOP)}`,
      },
      { paused: true },
    );
    const con = await d.client.attachConsole('lin');
    const out = collect(con, 'latin1');
    await d.client.unpause('lin');
    await until('three rounds', () => rounds(out.text()).r.length >= 3, BOOT);
    // a pause holds hart 1 on its thread too
    await d.client.pause('lin');
    const saved = hart1('lin');
    assert.equal(saved.thread?.hart, 1);
    assert.equal(saved.thread?.state, 'held');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hart1('lin').instret, saved.instret, 'hart 1 stands still while paused');
    const path1 = join(dir, 'threads.pvmsnap');
    await d.client.save('lin', path1);
    con.destroy();
    const before = rounds(out.text());
    for (const s of before.sums) assert.equal(s, SUM);
    let last = before.r.at(-1)!;

    // 1. as saved: harts on threads
    await d.client.restore(path1, { paused: true });
    const restored = hart1('lin');
    assert.equal(restored.thread?.hart, 1, 'hart 1 is on a thread again');
    last = await goesOn('lin', last);
    const after1 = hart1('lin');
    assert.ok(after1.instret > saved.instret, `hart 1 ran on: ${saved.instret} -> ${after1.instret}`);
    assert.equal(after1.thread?.instret, after1.instret);
    await d.client.destroy('lin');

    // 2. the same file, without threads (the library: the daemon restores the saved config)
    const snap = await fileSnapshotStore.load(path1);
    const config = snap.meta.config as Record<string, unknown>;
    await d.manager.restore(snap, parseDomainSpec({ ...config, name: 'one', threads: false }));
    assert.equal(hart1('one').thread, undefined, 'no thread: hart 1 takes turns with hart 0');
    const s2 = hart1('one').instret;
    assert.ok(s2 >= saved.instret, `hart 1 restored its count: ${saved.instret} -> ${s2}`);
    let lastOne = await goesOn('one', before.r.at(-1)!);
    assert.ok(hart1('one').instret > s2);

    // 3. saved without threads, restored with them
    const path2 = join(dir, 'one.pvmsnap');
    await d.client.save('one', path2);
    assert.deepEqual(
      d.manager.list().map((x) => x.name),
      [],
    );
    const snap2 = await fileSnapshotStore.load(path2);
    await d.manager.restore(
      snap2,
      parseDomainSpec({ ...(snap2.meta.config as Record<string, unknown>), name: 'back', threads: true }),
    );
    const s3 = hart1('back');
    assert.equal(s3.thread?.hart, 1);
    lastOne = await goesOn('back', lastOne);
    // paused: hart 1's count is published while it runs, and the two figures are read apart
    await d.client.pause('back');
    const after3 = hart1('back');
    assert.ok(after3.instret > s3.instret, `hart 1 ran on its thread: ${s3.instret} -> ${after3.instret}`);
    assert.equal(after3.thread?.instret, after3.instret);
    await d.client.destroy('back');
  });

  test('a guest reboot parks hart 1 on its thread; the second boot starts it there again', async () => {
    const cmd = `echo boot-$(nproc); seq 1 20000 | md5sum; reboot -f`;
    await d.client.create(
      { name: 'rb', kernel, initrd, memory: '256M', smp: 2, threads: true, append: `console=hvc0 pvm.run=${enc(cmd)}` },
      { paused: true },
    );
    const con = await d.client.attachConsole('rb');
    const out = collect(con, 'latin1');
    await d.client.unpause('rb');
    const boots = () => [...out.text().matchAll(/^boot-2\r?$/gm)].length;
    await until('the first boot', () => boots() >= 1, BOOT);
    const first = hart1('rb');
    await until(
      'the second boot',
      () => [...out.text().matchAll(/^e071f707df7bbeee2a6a1eb48011ddd0 {2}-\r?$/gm)].length >= 2,
      BOOT,
    );
    const second = hart1('rb');
    con.destroy();
    const text = out.text();
    assert.ok((text.match(/smp: Brought up 1 node, 2 CPUs/g) ?? []).length >= 2, text.slice(-3000));
    assert.ok(boots() >= 2, text.slice(-3000));
    const stats = await d.client.stats('rb');
    assert.ok(stats.hypercalls['HSM/hart_start']! >= 2, JSON.stringify(stats.hypercalls));
    assert.equal(second.thread?.hart, 1);
    assert.ok(second.instret > first.instret, `hart 1 ran in the second boot: ${first.instret} -> ${second.instret}`);
    await d.client.destroy('rb');
  });
});
