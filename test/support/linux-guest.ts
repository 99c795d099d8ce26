/** Where the Linux guest tests find `pvm` and the guest they boot. */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const root = join(fileURLToPath(import.meta.url), '../../../..');
export const pvm = join(root, 'bin/pvm.js');
/** The prebuilt guest in ../shared when present, else the output of guests/linux/build.sh. */
const shared = join(root, '../shared/guests/linux');
const guest = existsSync(join(shared, 'Image')) ? shared : join(root, 'guests/linux/build');
export const kernel = join(guest, 'Image');
export const initrd = join(guest, 'initramfs.cpio.gz');

let withScripts: Uint8Array | null = null;

/**
 * The guest's initramfs with this checkout's `guests/linux/init` and udhcpc event script
 * laid over it: a second (gzipped newc) archive after the first, which the kernel
 * unpacks over it. So tests of the init hooks (pvm.net=dhcp) run even when the prebuilt
 * initramfs is older than the scripts.
 */
export function initrdWithScripts(): Uint8Array {
  if (withScripts !== null) return withScripts;
  const dir = mkdtempSync(join(tmpdir(), 'pvm-initrd-'));
  try {
    mkdirSync(join(dir, 'usr/share/udhcpc'), { recursive: true });
    copyFileSync(join(root, 'guests/linux/init'), join(dir, 'init'));
    copyFileSync(join(root, 'guests/linux/udhcpc.script'), join(dir, 'usr/share/udhcpc/default.script'));
    const files = ['init', 'usr', 'usr/share', 'usr/share/udhcpc', 'usr/share/udhcpc/default.script'];
    const cpio = execFileSync('cpio', ['--quiet', '-o', '-H', 'newc', '--owner', '0:0'], {
      cwd: dir,
      input: `${files.join('\n')}\n`,
    });
    withScripts = Buffer.concat([readFileSync(initrd), gzipSync(cpio)]);
    return withScripts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The selftests `pvm.selftest` runs in the guest, in the order it reports them. */
export const SELFTESTS = ['proc-cpuinfo', 'uptime', 'arith', 'sort', 'md5', 'float', 'tmpfs-write', 'sleep'];

export interface LinuxRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pvm run --kernel --initrd` with the guest and `args`; `onOutput` sees the console output
 * so far and may write to the guest's standard input (without it, input is closed at once);
 * `onSpawn` gets the process (to stop it).
 */
export function runLinux(
  args: readonly string[],
  onOutput?: (out: string, write: (s: string) => void) => void,
  onSpawn?: (p: ChildProcess) => void,
): Promise<LinuxRun> {
  for (const f of [kernel, initrd]) assert.ok(existsSync(f), `missing ${f}: build it with guests/linux/build.sh`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [pvm, 'run', '--kernel', kernel, '--initrd', initrd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    onSpawn?.(p);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (s: string) => {
      stdout += s;
      onOutput?.(stdout, (w) => p.stdin.write(w));
    });
    p.stderr.on('data', (s: string) => {
      stderr += s;
    });
    p.on('error', reject);
    p.on('close', (status) => resolve({ status, stdout, stderr }));
    if (onOutput === undefined) p.stdin.end();
  });
}
