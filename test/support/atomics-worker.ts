/**
 * One hart of test/smp-atomics.test.ts on its own thread: the RAM is the main thread's shared
 * WebAssembly.Memory, the hart takes state area `k`, runs the program at RAM_BASE in M-mode
 * with a0 = k and a1 = the number of harts until it waits (WFI), and reports its instructions.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Exit } from '../../src/cpu/exits.js';
import { Hart } from '../../src/cpu/hart.js';
import { HART_STATE_BYTES } from '../../src/cpu/jit/state.js';
import { LogBus, openPmp, RAM_BASE } from '../../src/cpu/test-util.js';
import { GuestRam } from '../../src/memory/ram.js';

const { memory, size, harts, k, jit } = workerData as {
  memory: object;
  size: number;
  harts: number;
  k: number;
  jit: boolean;
};
const ram = new GuestRam(RAM_BASE, size, harts * HART_STATE_BYTES, {
  memory,
  stateStart: size + k * HART_STATE_BYTES,
});
const hart = new Hart(ram, new LogBus(), { id: k, jit, jitAfter: 0 });
hart.reset(BigInt(RAM_BASE), 3);
openPmp(hart);
hart.setX(10, BigInt(k));
hart.setX(11, BigInt(harts));
while (hart.run(50_000) !== Exit.Wfi) {}
parentPort!.postMessage({ instret: hart.instret, translated: hart.jit?.stats.instructions ?? 0 });
