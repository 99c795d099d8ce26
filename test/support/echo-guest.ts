import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assembleGuest } from './daemon.js';

/**
 * A tiny PV guest (assembled with riscv64-unknown-elf-gcc, march rv64imac_zicsr): prints a
 * greeting through the SBI legacy console, echoes console input through legacy getchar (sleeping
 * 1 ms in WFI between polls), and powers off through SBI SRST when it reads 'q'.
 */
export const ECHO_GUEST = `
.section .text
.globl _start
_start:
  la s0, msg
1: lbu a0, 0(s0)
  beqz a0, 2f
  li a7, 1            # legacy console_putchar
  ecall
  addi s0, s0, 1
  j 1b
2: li a7, 2           # legacy console_getchar: a0 = byte or -1
  ecall
  bgez a0, 3f
  rdtime t0           # nothing yet: sleep 1 ms (legacy set_timer, STIE, WFI)
  li t1, 10000
  add a0, t0, t1
  li a7, 0
  ecall
  li t0, 32
  csrs sie, t0
  wfi
  j 2b
3: li t0, 'q'
  beq a0, t0, 4f
  li a7, 1
  ecall
  j 2b
4: li a7, 0x53525354  # SRST system_reset(shutdown, no reason)
  li a6, 0
  li a0, 0
  li a1, 0
  ecall
5: j 5b
msg: .asciz "hello from a pv guest\\n"
`;

/** The pool tests' two guests, assembled under `dir`: a hostile spinner and the echo guest. */
export function spinAndEchoGuests(dir: string): { spin: string; echo: string } {
  const root = join(fileURLToPath(import.meta.url), '../../../..');
  for (const d of ['spin', 'echo']) mkdirSync(join(dir, d));
  const spinSource = readFileSync(join(root, 'guests/hostile/spin.S'), 'utf8');
  return {
    spin: assembleGuest(join(dir, 'spin'), spinSource, 'rv64imac_zicsr'),
    echo: assembleGuest(join(dir, 'echo'), ECHO_GUEST, 'rv64imac_zicsr'),
  };
}
