/**
 * CPU micro benchmark: hand-encoded RV64 loops run on one hart, bare M-mode
 * and under Sv39 (S-mode, identity-mapped 1 GiB gigapage). Prints JSON with MIPS.
 * Usage: node dist/bench/cpu-micro.js [instructions]
 */
import { Hart } from '../src/cpu/hart.js';
import { A, C, li64, Prog } from '../src/cpu/test-asm.js';
import { EMPTY_BUS } from '../src/cpu/types.js';

const RAM_BASE = 0x8000_0000;
const total = Number(process.argv[2] ?? 200_000_000);

function ram(size: number) {
  return { base: RAM_BASE, size, buffer: new ArrayBuffer(size) };
}

/** Integer loop: ALU, shifts, a load and a store, a compressed op, a taken branch. */
function intLoop(): Prog {
  const p = new Prog();
  p.i(...li64(10, 0x8001_0000n)); // a0 = data pointer
  p.i(A.addi(5, 0, 0)); // t0 = 0
  // loop:
  p.i(
    A.add(6, 6, 5),
    A.xor(7, 7, 6),
    A.slli(28, 7, 3),
    A.srli(29, 28, 5),
    A.ld(30, 10, 8),
    A.add(30, 30, 29),
    A.sd(30, 10, 8),
    A.sltu(31, 29, 28),
  );
  p.c(C.addi(5, 1));
  p.i(A.andi(11, 5, 255));
  p.i(A.bne(0, 5, -(8 * 4 + 2 + 4)));
  return p;
}

function runBench(name: string, setup: (h: Hart, r: ReturnType<typeof ram>) => void): object {
  const r = ram(8 << 20);
  const h = new Hart(r, EMPTY_BUS);
  h.reset(BigInt(RAM_BASE), 3);
  setup(h, r);
  // warm up
  h.run(2_000_000);
  const start = h.instret;
  const t0 = performance.now();
  while (h.instret - start < total) h.run(1_000_000);
  const ms = performance.now() - t0;
  const n = h.instret - start;
  return { name, instructions: n, ms: Math.round(ms), mips: Math.round((n / ms / 1000) * 10) / 10 };
}

const load = (r: ReturnType<typeof ram>, at: number, p: Prog) =>
  new Uint8Array(r.buffer).set(p.toBytes(), at - RAM_BASE);

const results = [
  runBench('int-loop bare M-mode', (_h, r) => load(r, RAM_BASE, intLoop())),
  runBench('int-loop Sv39 S-mode', (h, r) => {
    // root page table at RAM_BASE + 0x100000: entry 2 maps VA 0x8000_0000.. to PA 0x8000_0000 (1 GiB, RWX, A, D)
    const root = RAM_BASE + 0x10_0000;
    const dv = new DataView(r.buffer);
    dv.setBigUint64(root - RAM_BASE + 2 * 8, ((BigInt(RAM_BASE) >> 12n) << 10n) | 0xcfn, true);
    load(r, RAM_BASE, intLoop());
    h.setCsr(0x180, (8n << 60n) | BigInt(root >> 12));
    h.priv = 1;
  }),
];
console.log(JSON.stringify({ bench: 'cpu-micro', node: process.version, results }, null, 2));
