/**
 * `pvm run --bare` end to end: tiny bare-metal programs, assembled at test
 * time with riscv64-unknown-elf-gcc (Debian gcc-riscv64-unknown-elf; a
 * missing toolchain fails the test), run through bin/pvm.js. Checks console
 * output, exit statuses (syscon, HTIF tohost, HTIF syscalls), the instruction
 * limit, WFI idling on the CLINT timer, and one-line errors for bad input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const pvm = join(root, 'bin/pvm.js');
let dir = '';

const LINK = `
OUTPUT_ARCH(riscv)
ENTRY(_start)
SECTIONS {
  . = 0x80000000;
  .text : { *(.text.init) *(.text .text.*) }
  .rodata : { *(.rodata .rodata.*) }
  . = ALIGN(64);
  .tohost : { *(.tohost) }
  .data : { *(.data .data.*) }
  .bss : { *(.bss .bss.*) }
  . = ALIGN(16);
  . += 0x1000;
  _stack_top = .;
}
`;

/** Shared pieces: HTIF words and a UART puts. */
const PRELUDE = `
  .equ UART, 0x10000000
  .equ SYSCON, 0x100000
  .equ CLINT_MTIMECMP, 0x2004000
  .equ CLINT_MTIME, 0x200bff8
  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
tohost: .dword 0
  .align 6
  .globl fromhost
fromhost: .dword 0
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  la sp, _stack_top
  j main
# a0 = NUL-terminated string
puts:
  li t0, UART
1: lbu t1, 0(a0)
  beqz t1, 2f
  sb t1, 0(t0)
  addi a0, a0, 1
  j 1b
2: ret
`;

const PROGRAMS: Record<string, string> = {
  // UART output, then the syscon fail code 5.
  'uart-fail5': `
main:
  la a0, msg
  call puts
  li t0, SYSCON
  li t1, (5 << 16) | 0x3333
  sw t1, 0(t0)
1: j 1b
  .section .rodata
msg: .asciz "hello from the uart\\n"
`,
  // UART output, then syscon poweroff.
  'uart-poweroff': `
main:
  la a0, msg
  call puts
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
  .section .rodata
msg: .asciz "bye\\n"
`,
  // Prints the DeviceID of each virtio-mmio slot (0x10001000 + n * 0x1000), then powers off.
  'virtio-ids': `
main:
  li s0, 0x10001008
  li s1, 8
  li t0, UART
1: lw t1, 0(s0)
  addi t1, t1, '0'
  sb t1, 0(t0)
  li t1, ' '
  addi s1, s1, -1
  beqz s1, 2f
  sb t1, 0(t0)
  li t1, 0x1000
  add s0, s0, t1
  j 1b
2: li t1, '\n'
  sb t1, 0(t0)
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
3: j 3b
`,
  // Echoes console input until a newline, sleeping in WFI until the UART's receive interrupt
  // (IER.ERBFI, PLIC source 10, M-mode context 0), then powers off.
  'uart-echo': `
  .equ PLIC, 0x0c000000
main:
  li t0, PLIC
  li t1, 1
  sw t1, 40(t0)          # priority of source 10
  li t2, 0x2000
  add t2, t0, t2
  li t1, 1 << 10
  sw t1, 0(t2)           # enable source 10 in context 0
  li t2, 0x200000
  add t2, t0, t2
  sw zero, 0(t2)         # threshold 0
  li t1, 1 << 11
  csrw mie, t1           # MEIP (mstatus.MIE stays clear: WFI still wakes)
  li s0, UART
  li t1, 1
  sb t1, 1(s0)           # IER: received data available
  li s1, 0x200004
  add s1, s1, t0         # claim/complete of context 0
1: lbu t1, 5(s0)         # LSR
  andi t1, t1, 1
  bnez t1, 2f
  wfi
  j 1b
2: lw t3, 0(s1)          # claim
  lbu t1, 0(s0)          # RBR
  sb t1, 0(s0)           # THR
  sw t3, 0(s1)           # complete
  li t2, '\n'
  bne t1, t2, 1b
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
3: j 3b
`,
  // A greedy driver at slot 0: accepts feature bits 32-34 (only 32, VERSION_1, is offered) and
  // asks for FEATURES_OK twice, prints the status it reads back, powers off.
  'virtio-greedy': `
main:
  li s0, 0x10001000
  li t1, 3
  sw t1, 0x70(s0)        # ACKNOWLEDGE | DRIVER
  li t1, 1
  sw t1, 0x24(s0)        # DriverFeaturesSel = 1
  li t1, 7
  sw t1, 0x20(s0)        # DriverFeatures: bits 32, 33, 34
  li t1, 0xb
  sw t1, 0x70(s0)        # FEATURES_OK
  sw t1, 0x70(s0)        # and again
  lw t1, 0x70(s0)
  addi t1, t1, '0'
  li t0, UART
  sb t1, 0(t0)
  li t1, '\n'
  sb t1, 0(t0)
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
`,
  // Prints slot 0's device status, sets ACKNOWLEDGE, reboots through the syscon: a transport
  // the reboot did not reset would print 1 the second time.
  'virtio-reboot': `
main:
  li s0, 0x10001000
  lw t1, 0x70(s0)
  addi t1, t1, '0'
  li t0, UART
  sb t1, 0(t0)
  li t1, '\n'
  sb t1, 0(t0)
  li t1, 1
  sw t1, 0x70(s0)        # ACKNOWLEDGE
  li t0, SYSCON
  li t1, 0x7777          # reboot
  sw t1, 0(t0)
1: j 1b
`,
  // HTIF pass: tohost = 1.
  'htif-pass': `
main:
  la t0, tohost
  li t1, 1
  sd t1, 0(t0)
1: j 1b
`,
  // HTIF fail: tohost = (9 << 1) | 1 -> exit status 9.
  'htif-fail9': `
main:
  la t0, tohost
  li t1, (9 << 1) | 1
  sd t1, 0(t0)
1: j 1b
`,
  // riscv-tests/pk style syscall block: write(1, msg, len), wait for fromhost, then exit(0) through sys_exit (93).
  'htif-syscall': `
main:
  la a0, magic
  li t1, 64
  sd t1, 0(a0)
  li t1, 1
  sd t1, 8(a0)
  la t1, msg
  sd t1, 16(a0)
  li t1, 12
  sd t1, 24(a0)
  fence
  la t0, tohost
  sd a0, 0(t0)
  la t2, fromhost
1: ld t3, 0(t2)
  beqz t3, 1b
  sd zero, 0(t2)
  ld t4, 0(a0)          # bytes written, returned in magic[0]
  li t5, 12
  bne t4, t5, bad
  li t1, 93
  sd t1, 0(a0)
  li t1, 0
  sd t1, 8(a0)
  fence
  sd a0, 0(t0)
2: j 2b
bad:
  li t1, (1 << 1) | 1
  sd t1, 0(t0)
3: j 3b
  .section .rodata
msg: .ascii "via syscall\\n"
  .section .data
  .align 6
magic: .dword 0, 0, 0, 0, 0, 0, 0, 0
`,
  // A guest that never stops.
  runaway: `
main:
1: addi t0, t0, 1
  j 1b
`,
  // A guest stuck in a trap loop: it jumps to unmapped address 0x1000 with mtvec = 0, so
  // every fetch faults, at the vector too, and nothing retires.
  'trap-storm': `
main:
  csrw mtvec, zero
  li t0, 0x1000
  jr t0
`,
  // Arms the CLINT timer 100 ms ahead, waits in WFI (MTIE on, MIE off: WFI wakes without a trap), then powers off.
  'wfi-timer': `
main:
  li t0, CLINT_MTIME
  ld t1, 0(t0)
  li t2, 1000000
  add t1, t1, t2
  li t0, CLINT_MTIMECMP
  sd t1, 0(t0)
  li t0, 1 << 7
  csrs mie, t0
1: wfi
  csrr t3, mip
  andi t3, t3, 1 << 7
  beqz t3, 1b
  li t0, CLINT_MTIME
  ld t4, 0(t0)
  blt t4, t1, early
  la a0, msg
  call puts
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
2: j 2b
early:
  li t0, SYSCON
  li t1, (4 << 16) | 0x3333
  sw t1, 0(t0)
3: j 3b
  .section .rodata
msg: .asciz "timer fired\\n"
`,
  // 16 MiB + 16 KiB of .bss: more than the smallest RAM (16 MiB) holds.
  'big-bss': `
main:
  j main
  .section .bss
  .space 0x1004000
`,
  // Two harts: hart 1 sleeps until hart 0 sends it a software interrupt through the CLINT,
  // then answers through memory; hart 0 waits for the answer and powers off.
  'two-harts': `
  .equ CLINT_MSIP1, 0x2000004
main:
  csrr a0, mhartid
  bnez a0, second
  la a0, msg0
  call puts
  li t0, CLINT_MSIP1
  li t1, 1
  sw t1, 0(t0)
  la t2, flag
1: lw t3, 0(t2)
  beqz t3, 1b
  la a0, msg2
  call puts
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
2: j 2b
second:
  li t0, 1 << 3
  csrs mie, t0
3: wfi
  csrr t1, mip
  andi t1, t1, 1 << 3
  beqz t1, 3b
  li t0, CLINT_MSIP1
  sw zero, 0(t0)
  la t2, flag
  li t3, 1
  sw t3, 0(t2)
4: wfi
  j 4b
  .section .rodata
msg0: .asciz "hart 0 sends an IPI\n"
msg2: .asciz "hart 1 answered\n"
  .section .data
flag: .word 0
`,
  // One WFI with nothing able to end it, then a poweroff: WFI may complete for
  // any reason (riscv-tests rv64si-p-wfi relies on it).
  'wfi-once': `
main:
  wfi
  la a0, msg
  call puts
  li t0, SYSCON
  li t1, 0x5555
  sw t1, 0(t0)
1: j 1b
  .section .rodata
msg: .asciz "after wfi\n"
`,
  // WFI with nothing that could ever wake the hart.
  'wfi-forever': `
main:
  li t0, 1 << 7
  csrs mie, t0
1: wfi
  j 1b
`,
};

function build(name: string): string {
  const src = join(dir, `${name}.S`);
  const elf = join(dir, `${name}.elf`);
  writeFileSync(src, PRELUDE + PROGRAMS[name]!);
  const r = spawnSync(
    'riscv64-unknown-elf-gcc',
    ['-nostdlib', '-nostartfiles', '-march=rv64imac_zicsr', '-mabi=lp64', '-T', join(dir, 'link.ld'), '-o', elf, src],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    throw new Error(
      `riscv64-unknown-elf-gcc failed (Debian: gcc-riscv64-unknown-elf): ${r.error?.message ?? r.stderr}`,
    );
  }
  return elf;
}

function pvmRun(...args: string[]) {
  return pvmRunWith(undefined, ...args);
}

/** `pvm ARGS` with `input` on standard input (closed at once when undefined). */
function pvmRunWith(input: string | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [pvm, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** stderr holds exactly one line, starting with "pvm: ", and no stack trace. */
function oneLineError(stderr: string, pattern: RegExp) {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^pvm: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /);
}

const elfs: Record<string, string> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-cli-bare-'));
  writeFileSync(join(dir, 'link.ld'), LINK);
  for (const name of Object.keys(PROGRAMS)) elfs[name] = build(name);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('UART output reaches stdout and the syscon fail code is the exit status', () => {
  const r = pvmRun('run', '--bare', elfs['uart-fail5']!);
  assert.equal(r.stdout, 'hello from the uart\n');
  assert.equal(r.status, 5);
  assert.equal(r.stderr, '');
});

test('syscon poweroff exits 0', () => {
  const r = pvmRun('run', '--bare', elfs['uart-poweroff']!, '--memory', '16M');
  assert.equal(r.stdout, 'bye\n');
  assert.equal(r.status, 0);
});

test('HTIF tohost: 1 passes, (n << 1) | 1 exits with n', () => {
  assert.equal(pvmRun('run', '--bare', elfs['htif-pass']!).status, 0);
  assert.equal(pvmRun('run', '--bare', elfs['htif-fail9']!).status, 9);
});

test('HTIF syscalls: write(1, ...) prints and returns its length, exit(0) ends the run', () => {
  const r = pvmRun('run', '--bare', elfs['htif-syscall']!);
  assert.equal(r.stdout, 'via syscall\n');
  assert.equal(r.status, 0, r.stderr);
});

test('--max-instructions stops a runaway guest with status 124 and one line on stderr', () => {
  const r = pvmRun('run', '--bare', elfs.runaway!, '--max-instructions', '100000');
  assert.equal(r.status, 124);
  oneLineError(r.stderr, /after 100000 instructions \(--max-instructions\)/);
});

test('a guest that traps on its own trap vector forever is stopped with one line, not left to spin', () => {
  const r = pvmRun('run', '--bare', elfs['trap-storm']!);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    'pvm: guest stopped: it traps at its own trap vector 0x0 (mcause 1) and can never leave it; is the image code for this machine?\n',
  );
});

test('an image that is not an ELF runs as a raw binary loaded and entered at 0x80000000 (QEMU -bios none)', () => {
  const bin = join(dir, 'uart-fail5.bin');
  const r0 = spawnSync('riscv64-unknown-elf-objcopy', ['-O', 'binary', elfs['uart-fail5']!, bin], { encoding: 'utf8' });
  assert.equal(r0.status, 0, `riscv64-unknown-elf-objcopy (Debian: gcc-riscv64-unknown-elf): ${r0.stderr}`);
  const r = pvmRun('run', '--bare', bin);
  assert.deepEqual([r.status, r.stdout, r.stderr], [5, 'hello from the uart\n', '']);
  // Text is not code: it faults at once, and the run says so instead of spinning.
  const text = join(dir, 'notes.txt');
  writeFileSync(text, 'not an image at all\n');
  const t = pvmRun('run', '--bare', text);
  assert.equal(t.status, 1);
  assert.match(t.stderr, /^pvm: guest stopped: it traps at its own trap vector 0x0 \(mcause 1\)/);
  const empty = join(dir, 'empty.bin');
  writeFileSync(empty, '');
  assert.deepEqual(pvmRun('run', '--bare', empty).stderr, 'pvm: the image is empty\n');
});

test('WFI idles until the CLINT deadline, then the timer wakes the hart', () => {
  // Spinning through 100 ms would take millions of instructions; idling takes a few dozen.
  const r = pvmRun('run', '--bare', elfs['wfi-timer']!, '--max-instructions', '200000');
  assert.equal(r.stdout, 'timer fired\n');
  assert.equal(r.status, 0, r.stderr);
});

test('--deterministic: time follows instructions, and idle time is skipped instead of slept', () => {
  const r = pvmRun('run', '--bare', elfs['wfi-timer']!, '--max-instructions', '200000', '--deterministic');
  assert.equal(r.stdout, 'timer fired\n');
  assert.equal(r.status, 0, r.stderr);
});

test('--smp 2: both harts start at the entry, a CLINT IPI wakes hart 1 from WFI', () => {
  const r = pvmRun('run', '--bare', elfs['two-harts']!, '--smp', '2', '--max-instructions', '10000000');
  assert.equal(r.stdout, 'hart 0 sends an IPI\nhart 1 answered\n');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(pvmRun('run', '--bare', elfs['two-harts']!, '--smp', '9').status, 2);
});

test('a lone WFI that nothing can end completes, as the spec allows', () => {
  const r = pvmRun('run', '--bare', elfs['wfi-once']!);
  assert.equal(r.stdout, 'after wfi\n');
  assert.equal(r.status, 0, r.stderr);
});

test('WFI with no interrupt source ends the run instead of hanging', () => {
  const r = pvmRun('run', '--bare', elfs['wfi-forever']!);
  assert.equal(r.status, 1);
  oneLineError(r.stderr, /WFI/);
});

test('a missing image is one line on stderr and status 2', () => {
  const r = pvmRun('run', '--bare', join(dir, 'does-not-exist.elf'));
  assert.equal(r.status, 2);
  oneLineError(r.stderr, /cannot read image file .*does-not-exist\.elf: no such file/);
});

test('malformed ELFs are one line on stderr and status 2', () => {
  const good = readFileSync(elfs['htif-pass']!);
  const cases: [string, Uint8Array, RegExp][] = [
    ['short.elf', good.subarray(0, 30), /too short/],
    ['truncated.elf', good.subarray(0, 80), /beyond the end of the file/],
    ['x86.elf', Uint8Array.from(good).fill(62, 18, 19), /not RISC-V/],
  ];
  for (const [name, bytes, pattern] of cases) {
    const f = join(dir, name);
    writeFileSync(f, bytes);
    const r = pvmRun('run', '--bare', f);
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    oneLineError(r.stderr, pattern);
    assert.equal(r.stdout, '');
  }
});

test('an ELF whose segments lie outside RAM is refused with status 2', () => {
  const r = pvmRun('run', '--bare', elfs['big-bss']!, '--memory', '16M');
  assert.equal(r.status, 2);
  oneLineError(r.stderr, /outside RAM/);
});

test('usage errors exit 2; --version and --help exit 0', () => {
  const noFile = pvmRun('run', '--bare');
  assert.equal(noFile.status, 2);
  oneLineError(noFile.stderr, /needs an image file/);
  const badSize = pvmRun('run', '--bare', elfs['htif-pass']!, '--memory', 'lots');
  assert.equal(badSize.status, 2);
  assert.equal(badSize.stderr, 'pvm: --memory: expected a size like 512M or 1G, got "lots"\n');
  const tooSmall = pvmRun('run', '--bare', elfs['htif-pass']!, '--memory', '8K');
  assert.equal(tooSmall.stderr, 'pvm: --memory: at least 16M, got 8K\n');
  const badCount = pvmRun('run', '--bare', elfs['htif-pass']!, '--max-instructions', '-5');
  assert.equal(badCount.status, 2);
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string;
  const v = pvmRun('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), version);
  const h = pvmRun('run', '--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--max-instructions <n>/);
});

test('--stats and --stats-json with --bare: the hypervisor statistics shape, mode bare', () => {
  const json = join(dir, 'bare-stats.json');
  const r = pvmRun('run', '--bare', elfs['uart-poweroff']!, '--stats', '--stats-json', json);
  assert.equal(r.stdout, 'bye\n');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(s.mode, 'bare');
  assert.equal(s.harts, 1);
  assert.deepEqual(s.instructionsPerHart, [s.instructions]);
  // puts("bye\n") writes THR once per byte; then one syscon write.
  assert.deepEqual({ uart: s.mmio.uart, test: s.mmio.test, clint: s.mmio.clint }, { uart: 4, test: 1, clint: 0 });
  assert.equal(s.hypercallsTotal, 0);
  assert.deepEqual(s.firmware, { traps: 0, instructions: 0 });
  assert.ok(s.instructions > 10 && s.instructions < 100, `${s.instructions} instructions`);
  assert.match(r.stderr, new RegExp(`^domain: mode bare, 1 hart\\(s\\)\\ninstructions retired: ${s.instructions} `));
  assert.match(r.stderr, /mmio by device: .*uart 4/);
});

test('virtio devices with --bare: in the slots the flags name, the others from slot 0 up, empty ones reading 0', () => {
  const disk = join(dir, 'bare-disk.img');
  writeFileSync(disk, new Uint8Array(4096));
  const r = pvmRun(
    ...['run', '--bare', elfs['virtio-ids']!, '--disk', `${disk},slot=0`, '--net', 'lan,slot=2'],
    ...['--rng', 'slot=7', '--balloon', '--virtio-console'],
  );
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  // blk 2 in slot 0, the console 3 and the balloon 5 in the first free slots, net 1 in 2, rng 4 in 7
  assert.equal(r.stdout, '2 3 1 5 0 0 0 4\n');
  assert.equal(
    pvmRun('run', '--bare', elfs['virtio-ids']!).stdout,
    '0 0 0 0 0 0 0 0\n',
    'no device: eight empty transports',
  );
  const clash = pvmRun('run', '--bare', elfs['virtio-ids']!, '--disk', `${disk},slot=1`, '--rng', 'slot=1');
  assert.deepEqual([clash.status, clash.stderr], [2, `pvm: --rng: slot 1 is already taken by disk ${disk}\n`]);
});

test('console input reaches the UART with --bare: a program sleeping on the receive interrupt echoes it', () => {
  const r = pvmRunWith('typed at the keyboard\n', 'run', '--bare', elfs['uart-echo']!);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, 'typed at the keyboard\n');
});

test('--bare refuses each flag it cannot honour, saying why; a config file is not a bare image', () => {
  const elf = elfs['uart-poweroff']!;
  const cells: [string[], string][] = [
    [['--kernel', elf], '--kernel cannot be used with --bare: the bare image is the kernel: pvm run --bare FILE'],
    [
      ['--initrd', elf],
      '--initrd cannot be used with --bare: a bare image has no initrd (it is not booted by firmware)',
    ],
    [['--append', 'quiet'], '--append cannot be used with --bare: a bare image has no command line'],
    [
      ['--mode', 'full'],
      '--mode cannot be used with --bare: a bare image runs in M-mode itself, with no firmware (QEMU -bios none)',
    ],
    [
      ['--firmware', elf],
      '--firmware cannot be used with --bare: a bare image runs with no firmware (QEMU -bios none)',
    ],
    [
      ['--console', 'ttyS0'],
      '--console cannot be used with --bare: a bare image has no command line; its console is the UART',
    ],
    [['--dry-run'], '--dry-run cannot be used with --bare (it describes domains)'],
  ];
  for (const [flags, message] of cells) {
    const r = pvmRun('run', '--bare', elf, ...flags);
    assert.deepEqual([r.status, r.stderr, r.stdout], [2, `pvm: ${message}\n`, ''], flags.join(' '));
  }
  const yaml = join(dir, 'vm.yaml');
  writeFileSync(yaml, 'name: x\n');
  const r = pvmRun('run', '--bare', yaml);
  assert.deepEqual(
    [r.status, r.stderr],
    [2, `pvm: --bare runs a bare-metal image, not a config file (${yaml}): pvm run ${yaml}\n`],
  );
});

test('a refused driver write with --bare: reported once per device and rule with --stats, and counted', () => {
  const json = join(dir, 'greedy-stats.json');
  const r = pvmRun('run', '--bare', elfs['virtio-greedy']!, '--rng', 'slot=0', '--stats', '--stats-json', json);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '3\n', 'FEATURES_OK stayed clear');
  assert.deepEqual(
    r.stderr.split('\n').filter((l) => l.includes('refus')),
    [
      'pvm: virtio0-rng: refused status 0xb: driver features 0x700000000 include 0x600000000: ' +
        '§2.2.1: the driver must not accept a feature the device did not offer',
      'virtio refusals: virtio0-rng (feature-not-offered 2)',
    ],
  );
  const stats = JSON.parse(readFileSync(json, 'utf8')) as { virtioRefused: unknown };
  assert.deepEqual(stats.virtioRefused, { 'virtio0-rng': { 'feature-not-offered': 2 } });
});

test('a syscon reboot with --bare resets the virtio devices with the board', () => {
  const r = pvmRun('run', '--bare', elfs['virtio-reboot']!, '--rng', 'slot=0', '--max-instructions', '2000');
  assert.equal(r.status, 124, r.stderr);
  assert.match(r.stdout, /^(0\n){3,}$/, 'status 0 after every reboot');
});
