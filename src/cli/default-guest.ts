import { fileURLToPath } from 'node:url';

/**
 * The embedded default guest: pvos (guests/pvos), committed as
 * guests/pvos/pvos.elf and shipped in the npm package. `pvm run` with no
 * image boots it. test/pvos-image.test.ts rebuilds it from source with
 * Debian's riscv64-unknown-elf-gcc and fails when the bytes differ.
 */
export const DEFAULT_GUEST = fileURLToPath(new URL('../../../guests/pvos/pvos.elf', import.meta.url));

/** RAM of the default guest when --memory is not given: pvos needs well under 1 MiB above its load address. */
export const DEFAULT_GUEST_MEMORY = 64 * 1024 * 1024;
