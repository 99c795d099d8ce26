/**
 * Holding and saving a hart on a thread that waits for the owner (docs/scheduler.md, "Harts on
 * threads"): hart 1 of a 2-hart PV domain loops over a hypercall and a UART read, each a
 * request its worker posts and waits on. With the owner's run loop parked and nothing held (its
 * host paused without the hold a pause makes, DomainHost.onPark, as when that hold did not get
 * hart 1 to stop in time), hart 1 soon waits in a request nobody serves; a save then serves
 * it, stops the hart at the next instruction boundary and captures a state whose registers
 * agree with its pc exactly. The state restores with and without threads, and the loop goes on from it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseDomainSpec } from '../src/api/spec.js';
import { decodeState } from '../src/core/state.js';
import { type CpuState, cpuStateCodec } from '../src/cpu/snapshot.js';
import { buildDomain, HostResources } from '../src/host/builder.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import type { Domain } from '../src/hypervisor/domain.js';
import type { MachineState } from '../src/hypervisor/snapshot/format.js';
import { assembleGuest, until } from './support/daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-thold-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Hart 0 starts hart 1 (HSM hart_start) and waits for ever. Hart 1 counts in s1, s2, s3
// around a hypercall (BASE get_spec_version) and a UART LSR read; s6 holds the loop's address.
const GUEST = `
  .option norvc
  .globl _start
_start:
  li a7, 0x48534D
  li a6, 0
  li a0, 1
  la a1, hart1
  li a2, 0
  ecall
1:wfi
  j 1b
hart1:
  li s1, 0
  li s2, 0
  li s3, 0
  li s4, 0x10000000
  la s6, loop
loop:
  addi s1, s1, 1
  li a7, 0x10
  li a6, 0
  ecall
  addi s2, s2, 1
  lbu t0, 5(s4)
  addi s3, s3, 1
  j loop
`;
const elf = assembleGuest(dir, GUEST, 'rv64ima_zicsr');
const resources = new HostResources();

const reg = (c: CpuState, r: number) => BigInt.asIntN(64, (BigInt(c.x[2 * r + 1]!) << 32n) | BigInt(c.x[2 * r]! >>> 0));

/** Hart 1's state in `m`, checked: its counters agree with where its pc is in the loop. */
function hart1(m: MachineState): { s1: bigint; pc: bigint } {
  const c = decodeState(cpuStateCodec, m.harts[1]!, { id: 1 }, 'hart 1');
  const pc = (BigInt(c.words[1]! >>> 0) << 32n) | BigInt(c.words[0]! >>> 0);
  const [s1, s2, s3, loop] = [reg(c, 9), reg(c, 18), reg(c, 19), reg(c, 22)];
  const off = Number(pc - loop);
  assert.ok(off >= 0 && off <= 28 && off % 4 === 0, `pc 0x${pc.toString(16)}, loop at 0x${loop.toString(16)}`);
  // s1 counts before the hypercall (+0), s2 after it (+16), s3 after the UART read (+24)
  const want = off === 0 || off === 28 ? [0n, 0n] : off <= 16 ? [1n, 0n] : [0n, 1n];
  assert.deepEqual([s1 - s2, s2 - s3], want, `at loop+${off}: s1 ${s1} s2 ${s2} s3 ${s3}`);
  if (s2 > 0n) {
    assert.equal(reg(c, 10), 0n, 'the last hypercall answered SBI_SUCCESS');
    assert.equal(reg(c, 11), 0x200_0000n, 'with SBI v2.0');
  }
  return { s1, pc };
}

async function boot(threads: boolean, state?: MachineState) {
  const host = new NodeDomainHost(() => {}, { paused: state !== undefined });
  const spec = parseDomainSpec({ name: 'hold', kernel: elf, memory: '16M', smp: 2, threads });
  const built = await buildDomain(spec, resources, { host });
  const vm: Domain = built.domain;
  if (state !== undefined) {
    vm.loadState(state);
    host.unpause();
  }
  const ended = vm.run();
  return {
    vm,
    host,
    async end() {
      vm.stop(0);
      host.unpause();
      host.wake();
      await ended;
      await built.close();
    },
  };
}

test('a save serves the request a hart on a thread waits in, and captures it at an instruction boundary', async () => {
  const a = await boot(true);
  const stats = () => a.vm.statistics().threads![0]!;
  await until('hart 1 running on its thread', () => stats().instret > 100_000, 20_000);
  // The owner's run loop parks; nothing holds hart 1, which soon waits for the owner.
  a.host.onPark = undefined;
  await a.host.pause();
  const waiting = await until('hart 1 waiting in a request', () => {
    const s = stats();
    return s.state === 'request' && s;
  });
  // the hypercall, or the UART read (the bus asks whether a device is there, then reads)
  assert.ok(['ecall', 'has', 'read'].includes(waiting.request!), JSON.stringify(waiting));
  const m = a.vm.saveState();
  assert.equal(stats().state, 'held');
  const first = hart1(m);
  assert.ok(first.s1 > 0n);
  // held: a second save sees the same hart, the same RAM
  const again = a.vm.saveState();
  assert.deepEqual(again.harts[1], m.harts[1]);
  const ram = m.ram.bytes.slice();
  await a.end();

  // The state goes on, on a thread and without one.
  for (const threads of [true, false]) {
    const b = await boot(threads, { ...m, ram: { base: m.ram.base, bytes: ram } });
    const count = () => b.vm.vcpus[1]!.hart.instret;
    await until(`hart 1 running on (threads ${threads})`, () => count() > 200_000, 20_000);
    await b.host.pause();
    const later = hart1(b.vm.saveState());
    assert.ok(later.s1 > first.s1 + 100n, `s1 ${first.s1} -> ${later.s1} (threads ${threads})`);
    await b.end();
  }
});
