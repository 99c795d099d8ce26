/**
 * Save/restore exactness through the daemon. A PV guest assembled here runs a
 * deterministic computation (xorshift64 on integer registers, a floating-point
 * accumulator, an LR/SC counter in RAM) and prints one line per round through
 * the SBI legacy console, then powers off. It never reads the clock, so its
 * output depends on nothing but its own state.
 *
 * - A run saved mid-way and restored prints, prefix + continuation, exactly
 *   what an uninterrupted run prints.
 * - save -> restore -> save writes the same bytes twice.
 * - A damaged save file is refused through the daemon and nothing is created.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isApiError } from '../src/api/errors.js';
import { parseDomainSpec } from '../src/api/spec.js';
import type { PvmClient } from '../src/cli/client.js';
import { isPvmError } from '../src/core/errors.js';
import { loadSnapshotFile } from '../src/host/snapshot-file.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, collect, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const LINES = 120;
const GUEST = `
.section .text
.globl _start
_start:
  li t0, 0x6000        # sstatus.FS = dirty: the FPU is on
  csrs sstatus, t0
  li s1, 0             # line number
  li s2, 0x9e3779b97f4a7c15
  fcvt.d.l fs0, zero
  li s3, ${LINES}
outer:
  li s4, 20000
inner:
  slli t0, s2, 13
  xor s2, s2, t0
  srli t0, s2, 7
  xor s2, s2, t0
  slli t0, s2, 17
  xor s2, s2, t0
  srli t1, s2, 40
  fcvt.d.l ft0, t1
  fadd.d fs0, fs0, ft0
  addi s4, s4, -1
  bnez s4, inner
  la t2, counter
1: lr.d t3, (t2)
  add t3, t3, s1
  sc.d t4, t3, (t2)
  bnez t4, 1b
  mv s5, s1
  call hex
  mv s5, s2
  call hex
  fmv.x.d s5, fs0
  call hex
  ld s5, 0(t2)
  call hex
  li a0, 10
  li a7, 1
  ecall
  addi s1, s1, 1
  blt s1, s3, outer
  li a7, 0x53525354    # SRST shutdown
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
2: j 2b
hex:                   # print s5 as 16 hex digits and a space
  li s6, 60
3: srl a0, s5, s6
  andi a0, a0, 15
  li t5, 10
  blt a0, t5, 4f
  addi a0, a0, 39
4: addi a0, a0, 48
  li a7, 1
  ecall
  addi s6, s6, -4
  bgez s6, 3b
  li a0, 32
  li a7, 1
  ecall
  ret
.section .data
.balign 8
counter: .dword 0
`;

/** Up to 100 s: the full-mode runs go through OpenSBI in emulated M-mode. */
const UNTIL_TRIES = 20_000;

const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

describe('save and restore are exact', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let dir: string;
  let client: PvmClient;
  let kernel: string;

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-snap-' });
    dir = h.dir;
    client = h.client;
    kernel = assembleGuest(dir, GUEST, 'rv64imafdc_zicsr');
  });
  after(() => h.close());

  const config = (mode: 'pv' | 'full' = 'pv', jit?: boolean) => ({
    name: 'calc',
    kernel,
    memory: mode === 'full' ? '64M' : '16M',
    append: 'console=hvc0',
    mode,
    ...(jit !== undefined ? { jit } : {}),
  });
  const lines = (s: string) => s.split('\n').length - 1;

  async function runToEnd(con: { text: () => string }, name: string): Promise<string> {
    await until(`${name} powers off`, async () => (await client.info(name)).state === 'shutoff', UNTIL_TRIES);
    return con.text();
  }

  for (const mode of ['pv', 'full'] as const) {
    // Full mode: OpenSBI (fw_jump) in emulated M-mode answers the guest's SBI calls; CLINT, PLIC and
    // UART state and M-mode CSRs go through the save file as well.
    test(`${mode} mode: a run saved mid-way and restored prints exactly what an uninterrupted run prints`, async () => {
      // Uninterrupted reference run, by the interpreter alone (the saved run translates: the default).
      await client.create(config(mode, false), { paused: true });
      const refCon = collect(await client.attachConsole('calc'), 'latin1');
      await client.unpause('calc');
      const reference = await runToEnd(refCon, 'calc');
      const out = reference.split('\n');
      assert.equal(out.filter((l) => /^[0-9a-f]{16} /.test(l)).length, LINES);
      assert.match(out[out.length - 2]!, /^0000000000000077 [0-9a-f]{16} [0-9a-f]{16} 0000000000001be4 \r?$/);
      await client.destroy('calc');

      // The same guest, saved once a few lines are out.
      await client.create(config(mode), { paused: true });
      const con1 = collect(await client.attachConsole('calc'), 'latin1');
      await client.unpause('calc');
      await until('10 lines', () => lines(con1.text()) >= lines(reference) - LINES + 10, UNTIL_TRIES);
      const file1 = join(dir, 'calc-1.pvmsnap');
      const saved = await client.save('calc', file1);
      assert.equal(saved.state, 'destroyed');
      const prefix = con1.text();
      assert.ok(lines(prefix) < lines(reference), 'saved before the end');
      assert.deepEqual(await client.list(), []);

      // Restore paused, save again: the same bytes.
      const restored = await client.restore(file1, { paused: true });
      assert.equal(restored.state, 'paused');
      const file2 = join(dir, 'calc-2.pvmsnap');
      const again = await client.save('calc', file2, { keep: true });
      assert.equal(again.state, 'paused');
      // Section by section first, so a difference is named.
      const [s1, s2] = [await loadSnapshotFile(file1), await loadSnapshotFile(file2)];
      assert.deepEqual(s2.meta, s1.meta);
      for (const [i, h] of s1.harts.entries()) assert.deepEqual(s2.harts[i], h, `hart ${i}`);
      for (const [i, d] of s1.devices.entries()) assert.equal(ascii(s2.devices[i]!.state), ascii(d.state), d.name);
      assert.equal(ascii(s2.para), ascii(s1.para), 'PVX state');
      assert.ok(Buffer.from(s2.ram.bytes).equals(Buffer.from(s1.ram.bytes)), 'RAM');
      assert.ok(readFileSync(file1).equals(readFileSync(file2)), 'save -> restore -> save gives identical bytes');

      // Run the restored domain to the end.
      const con2 = collect(await client.attachConsole('calc'), 'latin1');
      await client.unpause('calc');
      const rest = await runToEnd(con2, 'calc');
      assert.equal(prefix + rest, reference);
      await client.destroy('calc');
    });
  }

  test('a PV guest with a shared info page (pvos, the embedded guest): save -> restore -> save gives identical bytes', async () => {
    await client.create({ name: 'pvos', memory: '16M' });
    const con = collect(await client.attachConsole('pvos'), 'latin1');
    await until('the pvos prompt', () => con.text().includes('pvos> '), UNTIL_TRIES);
    const file1 = join(dir, 'pvos-1.pvmsnap');
    const file2 = join(dir, 'pvos-2.pvmsnap');
    await client.pause('pvos');
    await client.save('pvos', file1);
    await client.restore(file1, { paused: true });
    await client.save('pvos', file2, { keep: true });
    const [s1, s2] = [await loadSnapshotFile(file1), await loadSnapshotFile(file2)];
    assert.notEqual(s1.para.length, 0, 'the guest uses PVX');
    assert.ok(Buffer.from(s2.ram.bytes).equals(Buffer.from(s1.ram.bytes)), 'RAM, shared info page included');
    assert.ok(readFileSync(file1).equals(readFileSync(file2)), 'save -> restore -> save gives identical bytes');
    await client.destroy('pvos');
  });

  test('a damaged save file is refused through the daemon, and nothing is created', async () => {
    await client.create(config(), { paused: true });
    await client.unpause('calc');
    const file = join(dir, 'calc-d.pvmsnap');
    await client.save('calc', file);
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[Math.floor(flipped.length / 2)]! ^= 0x40;
    writeFileSync(join(dir, 'flipped'), flipped);
    writeFileSync(join(dir, 'short'), good.subarray(0, good.length - 100));
    writeFileSync(join(dir, 'foreign'), Buffer.from('not a pvm save file at all, just text\n'));
    for (const [f, why] of [
      ['flipped', /checksum/i],
      ['short', /truncated|size|short/i],
      ['foreign', /not a pvm|magic/i],
    ] as const) {
      const e = await refusal(client.restore(join(dir, f)));
      assert.equal(e.code, 'bad-image', f);
      assert.match(e.message, why, f);
    }
    assert.deepEqual(await client.list(), []);
    // The good file still restores and runs to its end.
    const d = await client.restore(file);
    assert.equal(d.state, 'running');
    await until('poweroff', async () => (await client.info('calc')).state === 'shutoff', UNTIL_TRIES);
    await client.destroy('calc');
  });

  test('a snapshot that does not fit its domain is refused, nothing is registered, its PVX id is free again', async () => {
    await client.create(config(), { paused: true });
    const id = (await client.info('calc')).id;
    const snap = await h.manager.snapshot(id);
    await client.destroy('calc');
    /** The spec a restore checks out of the save file, as the control plane does. */
    const specOf = (s: typeof snap) => parseDomainSpec({ ...(s.meta.config as object), name: 'calc' });
    const refused = async (s: typeof snap, why: RegExp) => {
      await assert.rejects(
        async () => h.manager.restore(s, specOf(s)),
        (e: unknown) => {
          assert.ok(isPvmError(e) || isApiError(e), String(e));
          assert.match((e as Error).message, why);
          return true;
        },
      );
      assert.deepEqual(await client.list(), []);
    };
    const meta = snap.meta as unknown as { config: Record<string, unknown> };
    await refused({ ...snap, meta: { ...snap.meta, config: { ...meta.config, memory: '32M' } } }, /bytes of RAM/);
    await refused({ ...snap, harts: [snap.harts[0]!.subarray(8)] }, /hart 0 state in the snapshot/);
    await refused(
      { ...snap, devices: snap.devices.filter((d) => d.name !== 'hypervisor') },
      /hypervisor state in the snapshot: missing/,
    );
    await refused({ ...snap, para: Uint8Array.of(0x7b) }, /PVX state in the snapshot is not readable/);
    // Nothing was left behind in the PvxHost: the saved PVX id is free for the real restore.
    const ok = await h.manager.restore(snap, specOf(snap));
    assert.equal(ok.state, 'paused');
    await client.destroy('calc');
  });
});
