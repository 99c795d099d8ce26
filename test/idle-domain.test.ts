/**
 * What an idle domain holds (docs/density.md, "What a domain costs"): the embedded pvos in PV
 * mode with 3 MiB, booted to its prompt in this process, has written only the data TLB sets it
 * chose, has made no translation tier, and its console input queues hold no buffer until the
 * first byte arrives; then a typed command is answered through them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Hart } from '../src/cpu/hart.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import { createVm } from '../src/hypervisor/vm.js';

const root = join(fileURLToPath(import.meta.url), '../../..');

test('an idle pvos domain writes three data TLB sets, makes no tier, and queues input only once typed into', async () => {
  let out = '';
  const decoder = new TextDecoder();
  const host = new NodeDomainHost((b) => {
    out += decoder.decode(b, { stream: true });
  });
  const vm = createVm(
    { mode: 'pv', harts: 1, memory: 3 << 20, kernel: readFileSync(join(root, 'guests/pvos/pvos.elf')), cmdline: '' },
    host,
  );
  const ended = vm.run();
  const until = async (text: string) => {
    while (!out.endsWith(text)) await new Promise((r) => setTimeout(r, 5));
  };
  await until('pvos> ');
  const hart = vm.vcpus[0]!.hart as unknown as Hart;
  // U-mode (0), S-mode (1) and S-mode with SUM (1 | 4), from pvos's kernel and its user shell
  assert.equal(hart.mmu.dataSetsUsed, (1 << 0) | (1 << 1) | (1 << 5));
  assert.equal(hart.jit, null);
  const queues = vm as unknown as { sbiInput: { capacity: number } };
  assert.equal(queues.sbiInput.capacity, 0);
  out = '';
  vm.input(new TextEncoder().encode('ticks\n'));
  host.wake();
  await until('pvos> ');
  assert.match(out, /ticks: \d+/);
  assert.equal(queues.sbiInput.capacity, 256);
  vm.input(new TextEncoder().encode('poweroff\n'));
  host.wake();
  assert.equal((await ended).kind, 'poweroff');
});
