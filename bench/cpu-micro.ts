/**
 * CPU micro benchmark: hand-encoded RV64 loops run on one hart, bare M-mode
 * and under Sv39 (S-mode, identity-mapped 1 GiB gigapage), and the integer loop on RAM
 * shared between threads (a shared WebAssembly.Memory: its doublewords take the single-access
 * path, docs/cpu.md). All interpreted. Prints JSON with MIPS.
 * Usage: node dist/bench/cpu-micro.js [instructions] [bare|sv39|shared|c]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Exit } from '../src/cpu/exits.js';
import { Hart } from '../src/cpu/hart.js';
import { HART_STATE_BYTES } from '../src/cpu/jit/state.js';
import { A, C, li64, Prog } from '../src/cpu/test-asm.js';
import { EMPTY_BUS, type RamLike } from '../src/cpu/types.js';
import { GuestRam } from '../src/memory/ram.js';

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

function runBench(name: string, setup: (h: Hart, r: RamLike) => void, r: RamLike = ram(8 << 20)): object {
  const h = new Hart(r, EMPTY_BUS, { jit: false });
  h.reset(BigInt(RAM_BASE), 3);
  setup(h, r);
  // warm up
  h.run(2_000_000);
  const start = h.instret;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (h.instret - start < total) h.run(1_000_000);
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const n = h.instret - start;
  // MIPS by CPU time is the steadier figure on a shared machine
  return {
    name,
    instructions: n,
    ms: Math.round(ms),
    mips: Math.round((n / ms / 1000) * 10) / 10,
    cpuMips: Math.round((n / cpuMs / 1000) * 10) / 10,
  };
}

/** Build bench/cpu-micro/work.c (CRC32, quicksort, matrix multiply, list walk) with the cross compiler. */
function buildWork(): { bin: Uint8Array; result: number; rounds: number } {
  const src = join(dirname(fileURLToPath(import.meta.url)), '../../bench/cpu-micro');
  const out = mkdtempSync(join(tmpdir(), 'pvm-cpu-micro-'));
  const elf = join(out, 'work.elf');
  execFileSync('riscv64-unknown-elf-gcc', [
    ...['-O2', '-march=rv64imac_zicsr', '-mabi=lp64', '-mcmodel=medany', '-ffreestanding', '-nostdlib'],
    ...['-fno-builtin', '-Wl,--no-warn-rwx-segments', '-T', join(src, 'work.ld'), '-o', elf, join(src, 'work.c')],
  ]);
  execFileSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', elf, join(out, 'work.bin')]);
  const nm = execFileSync('riscv64-unknown-elf-nm', [elf]).toString();
  const m = /^([0-9a-f]+) B result$/m.exec(nm);
  const rd = /^([0-9a-f]+) D rounds$/m.exec(nm);
  if (m === null || rd === null) throw new Error('no result/rounds symbol in work.elf');
  return {
    bin: new Uint8Array(readFileSync(join(out, 'work.bin'))),
    result: Number.parseInt(m[1]!, 16),
    rounds: Number.parseInt(rd[1]!, 16),
  };
}

/** Run the C workload to completion (WFI), bare M-mode or S-mode under an identity Sv39 gigapage. */
function runWork(name: string, sv39: boolean): object {
  const w = buildWork();
  const r = ram(8 << 20);
  const h = new Hart(r, EMPTY_BUS);
  h.reset(BigInt(RAM_BASE), 3);
  new Uint8Array(r.buffer).set(w.bin, 0);
  // about 4 M instructions per round
  new DataView(r.buffer).setBigUint64(w.rounds - RAM_BASE, BigInt(Math.max(1, Math.round(total / 4e6))), true);
  if (sv39) {
    const root = RAM_BASE + 0x70_0000;
    new DataView(r.buffer).setBigUint64(root - RAM_BASE + 2 * 8, ((BigInt(RAM_BASE) >> 12n) << 10n) | 0xcfn, true);
    h.setCsr(0x180, (8n << 60n) | BigInt(root >>> 12));
    h.priv = 1;
  }
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (h.run(1_000_000) !== Exit.Wfi) {}
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const n = h.instret;
  const result = new DataView(r.buffer).getBigUint64(w.result - RAM_BASE, true).toString(16);
  return {
    name,
    instructions: n,
    ms: Math.round(ms),
    mips: Math.round((n / ms / 1000) * 10) / 10,
    cpuMips: Math.round((n / cpuMs / 1000) * 10) / 10,
    result,
  };
}

const load = (r: RamLike, at: number, p: Prog) => new Uint8Array(r.buffer).set(p.toBytes(), at - RAM_BASE);

const only = process.argv[3];
const results = [
  only !== undefined && only !== 'bare'
    ? null
    : runBench('int-loop bare M-mode', (_h, r) => load(r, RAM_BASE, intLoop())),
  only !== undefined && only !== 'sv39'
    ? null
    : runBench('int-loop Sv39 S-mode', (h, r) => {
        // root page table at RAM_BASE + 0x100000: entry 2 maps VA 0x8000_0000.. to PA 0x8000_0000 (1 GiB, RWX, A, D)
        const root = RAM_BASE + 0x10_0000;
        const dv = new DataView(r.buffer);
        dv.setBigUint64(root - RAM_BASE + 2 * 8, ((BigInt(RAM_BASE) >> 12n) << 10n) | 0xcfn, true);
        load(r, RAM_BASE, intLoop());
        h.setCsr(0x180, (8n << 60n) | BigInt(root >> 12));
        h.priv = 1;
      }),
  only !== undefined && only !== 'shared'
    ? null
    : runBench(
        'int-loop bare M-mode, shared RAM',
        (_h, r) => load(r, RAM_BASE, intLoop()),
        new GuestRam(RAM_BASE, 8 << 20, HART_STATE_BYTES, { shared: true }),
      ),
  only === undefined || only === 'c' ? runWork('C workload bare M-mode', false) : null,
  only === undefined || only === 'c' ? runWork('C workload bare M-mode (again)', false) : null,
  only === undefined || only === 'c' ? runWork('C workload Sv39 S-mode', true) : null,
];
console.log(JSON.stringify({ bench: 'cpu-micro', node: process.version, results: results.filter((r) => r !== null) }));
