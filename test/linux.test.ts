/**
 * Boots the prebuilt Linux guest (test/support/linux-guest.ts: Image +
 * initramfs.cpio.gz, see its README) through `pvm run`, in PV mode (pvm
 * answers SBI) and in full mode (Debian's OpenSBI in emulated M-mode), with
 * one and two harts. The guest's init runs /etc/selftest with `pvm.selftest`,
 * a command with `pvm.run=`, or a shell on the console.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initrd, kernel, type LinuxRun, pvm, runLinux, SELFTESTS } from './support/linux-guest.js';

/** The pvm process of the current pvmRun. */
let child: ChildProcess | undefined;

const pvmRun = (args: string[], onOutput?: (out: string, write: (s: string) => void) => void) =>
  runLinux(args, onOutput, (p) => {
    child = p;
  });

function assertSelftest(r: LinuxRun, cpus: number): void {
  assert.equal(r.status, 0, `exit status (stderr: ${r.stderr})`);
  assert.match(r.stdout, new RegExp(`pvm-guest: init ready \\([^,]+, ${cpus} cpu\\)`));
  const ok = [...r.stdout.matchAll(/^selftest ok: (\S+)\r?$/gm)].map((m) => m[1]);
  assert.deepEqual(ok, SELFTESTS, r.stdout.slice(-3000));
  assert.doesNotMatch(r.stdout, /selftest FAIL/);
  assert.match(r.stdout, /pvm-guest: exit 0\r?\n/);
  assert.match(r.stdout, /reboot: Power down/);
}

test('PV mode, 1 hart: selftest passes, clean poweroff, statistics show hypercalls, no CLINT, timer through Sstc', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'pvm-linux-')), 'stats.json');
  const r = await pvmRun(['--append', 'console=ttyS0 pvm.selftest', '--stats-json', json]);
  assertSelftest(r, 1);
  assert.match(r.stdout, /SBI implementation ID=0x70766d/);
  const s = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(s.mode, 'pv');
  assert.equal(s.harts, 1);
  // the device tree says sstc and pvm set menvcfg.STCE: the kernel writes stimecmp, no set_timer exits
  assert.match(r.stdout, /riscv-timer: Timer interrupt in S-mode is available via sstc extension/);
  assert.equal(s.hypercalls.TIME, undefined);
  assert.equal(s.hypercalls.SRST.system_reset, 1);
  assert.equal(s.mmio.clint, undefined, 'PV mode has no CLINT');
  assert.ok(s.instructions > 0);
});

test('PV mode, 2 harts: the second hart comes up through SBI HSM and the selftest passes', async () => {
  const r = await pvmRun(['--smp', '2', '--append', 'console=ttyS0 pvm.selftest', '--stats']);
  assertSelftest(r, 2);
  assert.match(r.stdout, /smp: Brought up 1 node, 2 CPUs/);
  assert.match(r.stderr, /HSM: hart_start 1/);
});

test('full mode (OpenSBI fw_jump), 1 hart: selftest passes, no hypercall reaches pvm', async () => {
  const r = await pvmRun(['--mode', 'full', '--append', 'console=ttyS0 pvm.selftest', '--stats']);
  assertSelftest(r, 1);
  assert.match(r.stdout, /OpenSBI v1\.\d/);
  assert.match(r.stderr, /hypercalls: 0\n/);
  assert.match(r.stderr, /mmio by device: clint \d+/);
  assert.match(r.stderr, /firmware \(M-mode\): [1-9]\d* traps, [1-9]\d* instructions/);
});

test('full mode, 2 harts: OpenSBI starts the second hart, selftest passes', async () => {
  const r = await pvmRun(['--mode', 'full', '--smp', '2', '--append', 'console=ttyS0 pvm.selftest']);
  assertSelftest(r, 2);
  assert.match(r.stdout, /smp: Brought up 1 node, 2 CPUs/);
});

test('full mode with --firmware fw_dynamic.bin: the next stage comes from fw_dynamic_info in a2', async () => {
  const fw = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin';
  const r = await pvmRun(['--mode', 'full', '--firmware', fw, '--append', 'console=ttyS0 quiet pvm.run=true']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Domain0 Next Address\s+: 0x0*80200000/);
  assert.match(r.stdout, /pvm-guest: exit 0/);
});

test('pvm.run returns the output of a command', async () => {
  const r = await pvmRun(['--append', 'console=ttyS0 quiet pvm.run=echo%20answer-from-guest;uname%20-m']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^answer-from-guest\r?\nriscv64\r?\npvm-guest: exit 0\r?$/m);
});

// Keys typed reach the shell through whichever console the guest reads.
for (const [mode, tty, how] of [
  ['pv', 'ttyS0', 'the UART'],
  ['pv', 'hvc0', "pvm's SBI console"],
  ['full', 'hvc0', "OpenSBI's console, which reads the UART"],
] as const) {
  test(`${mode} mode, console=${tty}: a shell command typed is answered, through ${how}`, {
    timeout: 300_000,
  }, async () => {
    let sent = 0;
    const r = await pvmRun(['--mode', mode, '--append', `console=${tty} quiet`], (out, write) => {
      if (sent === 0 && /init ready/.test(out)) {
        sent = 1;
        write('echo typed-$((40+2))\n');
      } else if (sent === 1 && /typed-42/.test(out)) {
        sent = 2;
        write('poweroff -f\n');
      }
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^typed-42\r?$/m);
  });
}

test('a guest reboot restarts the domain; SIGTERM stops it with status 130', async () => {
  let killed = false;
  const r = await pvmRun(['--append', 'console=ttyS0 quiet pvm.run=reboot%20-f'], (out) => {
    if (!killed && (out.match(/pvm-guest: init ready/g) ?? []).length >= 2) {
      killed = true;
      child?.kill('SIGTERM');
    }
  });
  assert.equal(r.status, 130, r.stderr);
  assert.match(r.stdout, /reboot: Restarting system[\s\S]*pvm-guest: init ready/);
});

test('bad command lines and images: one-line error, exit status 2', async () => {
  const bad = (args: string[]) =>
    new Promise<LinuxRun>((resolve) => {
      const p = spawn(process.execPath, [pvm, 'run', ...args]);
      let stderr = '';
      p.stderr.on('data', (s) => {
        stderr += s;
      });
      p.on('close', (status) => resolve({ status, stdout: '', stderr }));
    });
  for (const args of [
    ['--kernel', '/nonexistent/Image'],
    ['--kernel', '/dev/null'], // empty (any other bytes are a raw image, as on QEMU)
    ['--kernel', kernel, '--smp', '9'],
    ['--kernel', kernel, '--mode', 'hvm'],
    ['--kernel', kernel, '--initrd', '/nonexistent/initrd'],
    ['--kernel', kernel, '--mode', 'full', '--firmware', '/nonexistent/fw.bin'],
    ['--kernel', kernel, '--memory', '4M', '--initrd', initrd],
  ]) {
    const r = await bad(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^pvm: /, args.join(' '));
    assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr);
  }
});
