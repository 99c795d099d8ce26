/** Where the Linux guest tests find `pvm` and the guest they boot. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(fileURLToPath(import.meta.url), '../../../..');
export const pvm = join(root, 'bin/pvm.js');
/** The prebuilt guest in ../shared when present, else the output of guests/linux/build.sh. */
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');
export const kernel = join(guest, 'Image');
export const initrd = join(guest, 'initramfs.cpio.gz');
