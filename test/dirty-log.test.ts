/**
 * The dirty-page log of live migration (src/core/dirty-log.ts) sees every store a guest makes,
 * interpreted or translated to WebAssembly, including stores into pages that were already in a
 * hart's write TLB before logging started or before the last harvest; and device writes (virtio
 * buffers, used rings) and the checked RAM accessors mark what they write.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Gpa } from '../src/core/types.js';
import { A, li64, Prog } from '../src/cpu/test-asm.js';
import { RAM_BASE } from '../src/cpu/test-util.js';
import { writeChain } from '../src/devices/virtio/chain.js';
import { GuestRam } from '../src/memory/ram.js';
import { boot, DATA, machine } from './support/jit-rig.js';

/** For ever: one doubleword into each of the 8 pages from DATA, x9 counting up. */
function writer(): Prog {
  const p = new Prog().i(...li64(18, BigInt(DATA)), ...li64(20, 4096n), A.addi(9, 0, 1));
  const outer = p.size;
  p.i(A.addi(19, 18, 0), A.addi(22, 0, 8));
  const inner = p.size;
  p.i(A.sd(9, 19, 0), A.add(19, 19, 20), A.addi(9, 9, 1), A.addi(22, 22, -1));
  p.i(A.bne(22, 0, inner - p.size));
  p.i(A.jal(0, outer - p.size));
  return p;
}

const FIRST = (DATA - RAM_BASE) / 4096;
const PAGES = Array.from({ length: 8 }, (_, i) => FIRST + i);

for (const jit of [false, true]) {
  test(`every page a guest stores into is dirty, ${jit ? 'translated to WebAssembly' : 'interpreted'}`, () => {
    const m = machine(jit);
    boot(m, writer(), new Uint8Array(0));
    // Before logging: the pages enter the write TLB (and the loop gets translated).
    m.hart.run(200_000);
    m.ram.dirty.start();
    m.hart.run(50_000);
    assert.deepEqual([...m.ram.dirty.harvest()], PAGES);
    // After a harvest the same stores are seen again (the write TLB was dropped).
    for (let round = 0; round < 3; round++) {
      m.hart.run(50_000);
      assert.deepEqual([...m.ram.dirty.harvest()], PAGES, `round ${round}`);
    }
    // A harvest in the middle of the loop: the next stores are logged, none lost.
    const before = m.hart.getX(9);
    m.hart.run(3);
    m.ram.dirty.harvest();
    m.hart.run(40);
    assert.ok(m.hart.getX(9) > before);
    assert.ok(m.ram.dirty.harvest().length > 0);
    if (jit) assert.ok(m.hart.jit!.stats.instructions > 200_000, 'the loop ran translated');
    // Off: nothing is logged.
    m.ram.dirty.stop();
    m.hart.run(50_000);
    assert.deepEqual([...m.ram.dirty.harvest()], []);
  });
}

test('a page the guest only reads is not dirty', () => {
  const m = machine(true);
  const p = new Prog().i(...li64(18, BigInt(DATA)), ...li64(19, BigInt(DATA + 4096)));
  const loop = p.size;
  p.i(A.ld(9, 18, 0), A.ld(10, 19, 0));
  p.i(A.jal(0, loop - p.size));
  boot(m, p, new Uint8Array(0));
  m.ram.dirty.start();
  m.hart.run(100_000);
  assert.deepEqual([...m.ram.dirty.harvest()], []);
});

test('device and hypervisor writes through the RAM mark their pages', () => {
  const ram = new GuestRam(RAM_BASE, 1 << 20);
  ram.dirty.start();
  ram.writeU32((RAM_BASE + 0x1000) as Gpa, 1);
  ram.write((RAM_BASE + 0x3ffe) as Gpa, Uint8Array.from([1, 2, 3, 4])); // crosses into page 4
  ram.fill((RAM_BASE + 0x8000) as Gpa, 0x2000, 7);
  // a virtio device answering into a two-segment buffer
  writeChain(
    ram,
    [
      { addr: (RAM_BASE + 0x20ff0) as Gpa, len: 0x20 },
      { addr: (RAM_BASE + 0x30000) as Gpa, len: 16 },
    ],
    new Uint8Array(40),
  );
  assert.deepEqual([...ram.dirty.harvest()], [1, 3, 4, 8, 9, 0x20, 0x21, 0x30]);
  assert.deepEqual([...ram.dirty.harvest()], []);
});
