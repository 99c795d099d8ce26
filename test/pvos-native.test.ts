/**
 * The pvos guest (guests/pvos) on real firmware: built with Debian's
 * riscv64-unknown-elf-gcc, booted under qemu-system-riscv64 + OpenSBI
 * fw_jump, where PVX is absent so the guest must choose its native back
 * ends. The shell is driven through the serial console and every reply is
 * compared with the expected text. This is the reference transcript for
 * pvm: the same session must give the same answers in pvm's full mode.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const guestDir = join(root, 'guests/pvos');
const elf = join(guestDir, 'build/pvos.elf');
const FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
const PROMPT = 'pvos> ';
/** Guards against a wedged guest; not a timing assertion. */
const HANG_GUARD_MS = 120_000;

function make(...args: string[]): string {
  const r = spawnSync('make', ['-s', '-C', guestDir, ...args], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `make could not run: ${r.error}`);
  assert.equal(r.status, 0, `make ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A serial console session: everything the guest wrote, with \r\n folded to \n. */
class Console {
  private out = '';
  private seen = 0;
  private waiter: (() => void) | undefined;
  readonly exited: Promise<number | null>;

  constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding('utf8');
    let cr = ''; // a \r at the end of one chunk may pair with a \n at the start of the next
    proc.stdout.on('data', (chunk: string) => {
      let s = cr + chunk;
      cr = s.endsWith('\r') ? '\r' : '';
      if (cr) s = s.slice(0, -1);
      this.out += s.replace(/\r\n/g, '\n');
      this.waiter?.();
    });
    proc.stderr.on('data', () => {});
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
    this.exited.then(() => this.waiter?.());
  }

  /** Resolves with the text after the last mark up to and including `text`. */
  async until(text: string): Promise<string> {
    let dead = false;
    this.exited.then(() => {
      dead = true;
    });
    const guard = setTimeout(() => {
      dead = true;
      this.waiter?.();
    }, HANG_GUARD_MS);
    try {
      for (;;) {
        const at = this.out.indexOf(text, this.seen);
        if (at >= 0) {
          const chunk = this.out.slice(this.seen, at + text.length);
          this.seen = at + text.length;
          return chunk;
        }
        if (dead) assert.fail(`guest never printed ${JSON.stringify(text)}; output so far:\n${this.out}`);
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
      }
    } finally {
      clearTimeout(guard);
    }
  }

  /** Types a command line and returns its output (without the echo and the next prompt). */
  async run(line: string): Promise<string> {
    this.proc.stdin.write(`${line}\n`);
    const chunk = await this.until(`\n${PROMPT}`);
    const body = chunk.slice(0, -PROMPT.length);
    assert.ok(body.startsWith(`${line}\n`), `echo of ${JSON.stringify(line)} missing in ${JSON.stringify(body)}`);
    return body.slice(line.length + 1);
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  kill(): void {
    this.proc.kill('SIGKILL');
  }
}

test('pvos builds reproducibly with the Debian toolchain', () => {
  make();
  assert.match(make('check-repro'), /pvos: reproducible/);
});

function bootQemu(...extra: string[]): Console {
  const args = ['-machine', 'virt', '-m', '128M', '-smp', '1', '-nographic', '-bios', FW_JUMP, '-kernel', elf];
  return new Console(spawn('qemu-system-riscv64', [...args, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] }));
}

/** FNV-1a, as pvos prints it. */
function fnv1a(b: Uint8Array): string {
  let h = 2166136261;
  for (const x of b) h = Math.imul(h ^ x, 16777619) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

test('pvos on QEMU + OpenSBI chooses native back ends and its shell answers', async () => {
  make();
  const con = bootQemu();
  try {
    const boot = await con.until(PROMPT);
    const banner = boot.slice(boot.indexOf('pvos 0.1:'));
    const lines = banner.split('\n');
    assert.equal(lines[0], 'pvos 0.1: hart 0, ram 128 MiB at 0x80000000, timebase 10000000 Hz');
    assert.equal(lines[1], 'pvos: PVX absent (probe_extension 0x0a505658 -> 0)');
    assert.equal(lines[2], 'pvos: backends: native');
    assert.match(lines[3]!, /^pvos: Sv39 paging on, \d+ KiB kernel, \d+ pages free$/);
    assert.equal(lines[4], 'hello from user mode (pid 2)');
    assert.equal(lines[5], PROMPT);

    assert.equal(
      await con.run('help'),
      [
        'commands:',
        '  help        this list',
        '  info        machine, firmware and the back ends chosen at boot',
        '  ps          tasks',
        '  ticks       timer ticks since boot',
        '  mask-bench  [n] cost of n interrupt mask/unmask pairs through pv-ops',
        '  evtchn      event channels (PVX)',
        '  grant       grant tables (PVX)',
        '  vchan       inter-domain channel over a grant and an event channel (PVX)',
        '  blk         [read N | write N] virtio block device',
        '  crash       run a user task that faults (only it dies)',
        '  poweroff    shut down',
        '',
      ].join('\n'),
    );

    assert.equal(
      await con.run('info'),
      [
        'pvos 0.1 on hart 0',
        'ram: 128 MiB at 0x80000000',
        'timebase: 10000000 Hz, tick 100 Hz',
        'sbi: spec 1.0, implementation 1 (OpenSBI)',
        'pvx: absent',
        'backends: native',
        '  console  uart16550',
        '  timer    sbi-time',
        '  irq      sstatus.SIE',
        '  idle     wfi',
        '  ipi      sbi-ipi',
        '  tlb      sbi-rfence',
        '  block    none',
        '',
      ].join('\n'),
    );

    // "spin" never makes a system call, so every shell reply is proof that the
    // timer preempts user mode.
    const ps = (await con.run('ps')).split('\n');
    assert.equal(ps.length, 7);
    assert.equal(ps[0], '  PID MODE STATE  TICKS NAME');
    assert.match(ps[1]!, /^ {4}0 S {4}ready +\d+ idle$/);
    assert.match(ps[2]!, /^ {4}1 S {4}run +\d+ shell$/);
    assert.match(ps[3]!, /^ {4}2 U {4}exit +\d+ hello$/);
    assert.match(ps[4]!, /^ {4}3 U {4}(sleep|ready) +\d+ ticker$/);
    assert.match(ps[5]!, /^ {4}4 U {4}ready +\d+ spin$/);
    assert.equal(ps[6], '');

    const t1 = /^ticks: (\d+) \(100 Hz, uptime \d+\.\d\d s\)\n$/.exec(await con.run('ticks'));
    assert.ok(t1, 'ticks format');
    assert.match(
      await con.run('mask-bench 1000'),
      /^mask-bench: 1000 mask\/unmask pairs via sstatus\.SIE: \d+ ticks, \d+ ns\/pair\n$/,
    );
    const t2 = /^ticks: (\d+) /.exec(await con.run('ticks'));
    assert.ok(t2 && Number(t2[1]) >= Number(t1[1]), 'ticks never go backwards');

    assert.equal(await con.run('evtchn'), 'evtchn: needs PVX (backends: native)\n');
    assert.equal(await con.run('grant'), 'grant: needs PVX (backends: native)\n');
    assert.equal(await con.run('vchan listen 2'), 'vchan: needs PVX (backends: native)\n');
    assert.equal(await con.run('blk read 0'), 'blk: no block device\n');
    assert.equal(await con.run('frobnicate'), 'frobnicate: unknown command (try help)\n');
    assert.equal(await con.run(''), '');

    // a faulting user task ends alone: the kernel reports it and goes on
    assert.match(
      await con.run('crash'),
      /^pvos: pid 5 \(crash\) killed: scause 15 stval 0x80200000 sepc 0x1[0-9a-f]{8}\ncrash: pid 5 exited with -1; kernel still running\n$/,
    );
    assert.match(await con.run('ps'), /\n {4}4 U {4}ready +\d+ spin\n$/);

    con.send('poweroff');
    assert.equal(await con.until('pvos: poweroff\n'), 'poweroff\npvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});

test('pvos block back end: virtio-blk (virtio-mmio v2) reads and writes a host disk', async () => {
  make();
  const dir = mkdtempSync(join(tmpdir(), 'pvos-blk-'));
  const disk = join(dir, 'disk.img');
  const image = new Uint8Array(1 << 20).map((_, i) => (i * 13 + 7) & 0xff);
  image.fill(0xa5, 512 * 3, 512 * 4);
  writeFileSync(disk, image);
  const con = bootQemu(
    '-global',
    'virtio-mmio.force-legacy=false',
    '-drive',
    `file=${disk},if=none,format=raw,id=d0`,
    '-device',
    'virtio-blk-device,drive=d0',
  );
  try {
    await con.until(PROMPT);
    assert.match(await con.run('blk'), /^blk: virtio-blk@0x100[0-9a-f]{2}000, 2048 sectors\n$/);
    const s0 = image.subarray(0, 512);
    assert.equal(await con.run('blk read 0'), `blk read 0: checksum ${fnv1a(s0)}, bytes 07 14 21 2e\n`);
    assert.equal(
      await con.run('blk read 3'),
      `blk read 3: checksum ${fnv1a(image.subarray(1536, 2048))}, bytes a5 a5 a5 a5\n`,
    );
    const pattern = new Uint8Array(512).map((_, i) => (5 + i) & 0xff);
    assert.equal(await con.run('blk write 5'), `blk write 5: ok, checksum ${fnv1a(pattern)}\n`);
    assert.equal(await con.run('blk read 5'), `blk read 5: checksum ${fnv1a(pattern)}, bytes 05 06 07 08\n`);
    assert.equal(await con.run('blk read 2048'), 'blk: sector out of range (0..2047)\n');
    assert.match(await con.run('info'), /\n {2}block {4}virtio-blk@0x100[0-9a-f]{2}000\n$/);
    con.send('poweroff');
    await con.until('pvos: poweroff\n');
    assert.equal(await con.exited, 0);
    const after = readFileSync(disk);
    assert.deepEqual(new Uint8Array(after.subarray(2560, 3072)), pattern);
    assert.deepEqual(new Uint8Array(after.subarray(0, 2560)), image.subarray(0, 2560));
  } finally {
    con.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
