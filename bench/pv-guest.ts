/**
 * Assembles a small PV guest (guests/hostile, the benchmarks' and tests' counting loops) into
 * an ELF linked at 0x8020_0000, where pvm loads a PV kernel, with Debian's
 * riscv64-unknown-elf-gcc; a missing toolchain is an error naming the package.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function assemblePvGuest(dir: string, name: string, source: string, march = 'rv64imac_zicsr'): string {
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.S`);
  const out = join(dir, `${name}.elf`);
  writeFileSync(src, source);
  const r = spawnSync(
    'riscv64-unknown-elf-gcc',
    ['-nostdlib', '-nostartfiles', `-march=${march}`, '-mabi=lp64', '-Wl,-Ttext=0x80200000', '-Wl,-e,_start'].concat([
      '-o',
      out,
      src,
    ]),
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    throw new Error(
      `riscv64-unknown-elf-gcc failed (Debian: gcc-riscv64-unknown-elf): ${r.error?.message ?? r.stderr}`,
    );
  }
  return out;
}
