/**
 * The writer of test/smp-atomics.test.ts's GuestRam doubleword test: on the main thread's shared
 * RAM, stores LOW and HIGH in turn `flips` times each with writeU64 at `at` and with
 * writeBigU64 at `at + 8`, then sets the word at `at + 16` to 1.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Gpa } from '../../src/core/types.js';
import { GuestRam } from '../../src/memory/ram.js';

const { memory, base, size, at, flips } = workerData as {
  memory: object;
  base: number;
  size: number;
  at: number;
  flips: number;
};
const ram = new GuestRam(base, size, 0, { memory });
const LOW = 0xffff_ffff;
const HIGH = 0xffff_ffff_0000_0000;
for (let i = 0; i < flips; i++) {
  ram.writeU64(at as Gpa, HIGH);
  ram.writeBigU64((at + 8) as Gpa, 0xffff_ffff_0000_0000n);
  ram.writeU64(at as Gpa, LOW);
  ram.writeBigU64((at + 8) as Gpa, 0xffff_ffffn);
}
ram.writeU32((at + 16) as Gpa, 1);
parentPort!.postMessage('done');
