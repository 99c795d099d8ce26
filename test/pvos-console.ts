/**
 * Helpers for the pvos guest tests: build the guest with its Makefile, boot it
 * under qemu-system-riscv64 and talk to its shell over the serial console.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DomainSpecInput, parseDomainSpec } from '../src/api/spec.js';
import { buildDomain, HostResources } from '../src/host/builder.js';
import { NodeDomainHost } from '../src/host/domain-host.js';
import type { Domain } from '../src/hypervisor/domain.js';

export const root = join(fileURLToPath(import.meta.url), '../../..');
export const guestDir = join(root, 'guests/pvos');
export const PVOS_ELF = join(guestDir, 'build/pvos.elf');
/** The QEMU-only M-mode firmware that answers the single-domain subset of PVX. */
export const PVXFW_ELF = join(guestDir, 'build/pvxfw.elf');
export const OPENSBI_FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
export const PROMPT = 'pvos> ';
/** Guards against a wedged guest; not a timing assertion. */
const HANG_GUARD_MS = 120_000;

/**
 * Runs the guest's Makefile; fails loudly when the toolchain is missing. Test files
 * run in parallel, so builds take a lock (flock, util-linux) on build/.lock.
 */
export function make(...args: string[]): string {
  mkdirSync(join(guestDir, 'build'), { recursive: true });
  const lock = join(guestDir, 'build/.lock');
  const r = spawnSync('flock', [lock, 'make', '-s', '-C', guestDir, ...args], { encoding: 'utf8' });
  assert.equal(r.error, undefined, `make could not run: ${r.error}`);
  assert.equal(r.status, 0, `make ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Where a console session's bytes come from and go to: a child process, or a domain in this process. */
export interface ConsoleTransport {
  write(text: string): void;
  onData(cb: (text: string) => void): void;
  /** Exit code (QEMU's status; for an in-process domain 0 on poweroff). */
  readonly exited: Promise<number | null>;
  kill(): void;
}

export function processTransport(proc: ChildProcessWithoutNullStreams): ConsoleTransport {
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', () => {});
  return {
    write: (text) => proc.stdin.write(text),
    onData: (cb) => proc.stdout.on('data', cb),
    exited: new Promise((resolve) => proc.on('exit', (code) => resolve(code))),
    kill: () => proc.kill('SIGKILL'),
  };
}

/** A serial console session: everything the guest wrote, with \r\n (and a terminal's \r\r\n) folded to \n. */
export class Console {
  private out = '';
  private seen = 0;
  private waiter: (() => void) | undefined;
  readonly exited: Promise<number | null>;

  constructor(private readonly io: ConsoleTransport) {
    let cr = ''; // \r at the end of one chunk may pair with a \n at the start of the next
    io.onData((chunk: string) => {
      let s = cr + chunk;
      cr = /\r*$/.exec(s)![0];
      if (cr) s = s.slice(0, -cr.length);
      this.out += s.replace(/\r+\n/g, '\n');
      this.waiter?.();
    });
    this.exited = io.exited;
    this.exited.then(() => this.waiter?.());
  }

  /**
   * Resolves with the text after the last mark up to and including `text` (or the first match
   * of a pattern), and moves the mark there.
   */
  async until(text: string | RegExp): Promise<string> {
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
        const m = typeof text === 'string' ? null : text.exec(this.out.slice(this.seen));
        const at = typeof text === 'string' ? this.out.indexOf(text, this.seen) : m ? this.seen + m.index : -1;
        if (at >= 0) {
          const end = at + (typeof text === 'string' ? text.length : m![0].length);
          const chunk = this.out.slice(this.seen, end);
          this.seen = end;
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
    this.io.write(`${line}\n`);
    const chunk = await this.until(`\n${PROMPT}`);
    const body = chunk.slice(0, -PROMPT.length);
    assert.ok(body.startsWith(`${line}\n`), `echo of ${JSON.stringify(line)} missing in ${JSON.stringify(body)}`);
    return body.slice(line.length + 1);
  }

  /** Everything printed after the last mark (consumes it). */
  rest(): string {
    const chunk = this.out.slice(this.seen);
    this.seen = this.out.length;
    return chunk;
  }

  send(line: string): void {
    this.io.write(`${line}\n`);
  }

  /** Writes keys as they are (no newline added). */
  type(keys: string): void {
    this.io.write(keys);
  }

  kill(): void {
    this.io.kill();
  }
}

/** Boots pvos on QEMU's virt board (128 MiB, one hart) with `bios` as the M-mode firmware. */
export function bootQemu(bios: string, ...extra: string[]): Console {
  const args = ['-machine', 'virt', '-m', '128M', '-smp', '1', '-nographic', '-bios', bios, '-kernel', PVOS_ELF];
  return new Console(
    processTransport(spawn('qemu-system-riscv64', [...args, ...extra], { stdio: ['pipe', 'pipe', 'pipe'] })),
  );
}

/**
 * Boots the domain `doc` describes on pvm in this process, through the builder (on `resources`:
 * domains booted on the same resources share switches and the PVX registry), its console as a
 * Console.
 */
export async function bootPvmInProcess(
  doc: DomainSpecInput,
  resources = new HostResources(),
): Promise<{ con: Console; vm: Domain }> {
  let deliver: ((text: string) => void) | undefined;
  let pending = '';
  const decoder = new TextDecoder();
  const host = new NodeDomainHost((bytes) => {
    const text = decoder.decode(bytes, { stream: true });
    if (deliver) deliver(text);
    else pending += text;
  });
  const built = await buildDomain(parseDomainSpec(doc), resources, { host });
  const vm = built.domain;
  const ended = vm.run().finally(() => built.close());
  const con = new Console({
    write: (text) => {
      vm.input(new TextEncoder().encode(text));
      host.wake();
    },
    onData: (cb) => {
      deliver = cb;
      if (pending) cb(pending);
      pending = '';
    },
    exited: ended.then((e) => {
      host.flush(); // the last words before poweroff are still in the host's buffer
      return e.kind === 'poweroff' ? 0 : e.kind === 'limit' ? 124 : e.code;
    }),
    kill: () => vm.stop(130),
  });
  return { con, vm };
}

/** FNV-1a 32-bit, as pvos prints it. */
export function fnv1a(b: Uint8Array): string {
  let h = 2166136261;
  for (const x of b) h = Math.imul(h ^ x, 16777619) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

/** The `help` text (same in every mode). */
export const HELP = [
  'commands:',
  '  help        this list',
  '  info        machine, firmware and the back ends chosen at boot',
  '  ps          tasks',
  '  ticks       timer ticks since boot',
  '  mask-bench  [n] cost of n interrupt mask/unmask pairs through pv-ops',
  '  evtchn      event channels (PVX)',
  '  grant       grant tables (PVX)',
  '  vchan       inter-domain channel over a grant and an event channel (PVX)',
  '  pvxtest     PVX conformance: every call with good and bad arguments (PVX)',
  '  blk         [read N | write N] virtio block device',
  '  bench       mask|timer|console|tlb|ipi|idle [n] pv-ops micro-benchmarks',
  '  sleep       [n] sleep n timer ticks',
  '  spin        [stop] start/stop a CPU-bound user task (preemption)',
  '  crash       run a user task that faults (only it dies)',
  '  wreck       jump|stvec|satp: break the kernel (ends this domain only)',
  '  poweroff    shut down',
  '',
].join('\n');

/**
 * The part of the session that is the same whatever the back ends: tasks,
 * preemption, ticks, a faulting user task, unknown commands.
 */
export async function commonSession(con: Console): Promise<void> {
  assert.equal(await con.run('help'), HELP);
  const ps = (await con.run('ps')).split('\n');
  assert.equal(ps.length, 6);
  assert.equal(ps[0], '  PID MODE STATE  TICKS NAME');
  assert.match(ps[1]!, /^ {4}0 S {4}ready +\d+ idle$/);
  assert.match(ps[2]!, /^ {4}1 S {4}run +\d+ shell$/);
  assert.match(ps[3]!, /^ {4}2 U {4}exit +\d+ hello$/);
  assert.match(ps[4]!, /^ {4}3 U {4}(sleep|ready) +\d+ ticker$/);
  assert.equal(ps[5], '');

  // "spin" never makes a system call: while the shell sleeps it is the only runnable
  // task, so the shell waking up and spin being charged ticks prove timer preemption.
  assert.equal(await con.run('spin'), 'spin: pid 4 started (a user task that never makes a system call)\n');
  assert.equal(await con.run('spin'), 'spin: already running as pid 4\n');
  assert.equal(await con.run('sleep 20'), 'sleep: 20 ticks\n');
  const spinPs = /\n {4}4 U {4}ready +(\d+) spin\n$/.exec(await con.run('ps'));
  assert.ok(spinPs && Number(spinPs[1]) >= 1, 'spin was preempted, not starved');
  assert.match(await con.run('spin stop'), /^spin: pid 4 stopped after \d+ ticks\n$/);
  assert.equal(await con.run('spin stop'), 'spin: not running\n');

  const t1 = /^ticks: (\d+) \(100 Hz, uptime \d+\.\d\d s\)\n$/.exec(await con.run('ticks'));
  assert.ok(t1, 'ticks format');
  // with nothing runnable the idle back end (WFI or SCHED_BLOCK) must wake for the timer
  assert.equal(await con.run('sleep 5'), 'sleep: 5 ticks\n');
  const t2 = /^ticks: (\d+) /.exec(await con.run('ticks'));
  assert.ok(t2 && Number(t2[1]) >= Number(t1[1]) + 5, 'ticks advance while idle');

  // the micro-benchmarks of bench/pv-vs-native run and leave the periodic tick running
  for (const [what, n] of [
    ['mask', 100],
    ['timer', 100],
    ['tlb', 10],
    ['ipi', 10],
    ['idle', 10],
  ] as const) {
    assert.match(
      await con.run(`bench ${what} ${n}`),
      new RegExp(`^bench ${what}: ${n} ops via \\S+, \\d+ ticks, \\d+ ns/op\n$`),
    );
  }
  const line = '!"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_\n';
  assert.match(await con.run('bench console 128'), /\nbench console: 128 ops via \S+, \d+ ticks, \d+ ns\/op\n$/);
  assert.ok((await con.run('bench console 64')).startsWith(line));
  assert.equal(await con.run('sleep 3'), 'sleep: 3 ticks\n');
  assert.equal(await con.run('frobnicate'), 'frobnicate: unknown command (try help)\n');
  assert.equal(await con.run(''), '');
  // a faulting user task ends alone: the kernel reports it and goes on
  assert.match(
    await con.run('crash'),
    /^pvos: pid 5 \(crash\) killed: scause 15 stval 0x80200000 sepc 0x1[0-9a-f]{8}\ncrash: pid 5 exited with -1; kernel still running\n$/,
  );
}

/**
 * Moves `mib` MiB from domain `server` (id `serverId`) to domain `client` (id `clientId`)
 * over a vchan (docs/para-api-pvx.md appendix A) and checks both ends saw the same
 * stream. For the two-domain tests once pvm runs several PVX domains; both consoles
 * must be at their prompt.
 */
export async function vchanTransfer(
  server: Console,
  serverId: number,
  client: Console,
  clientId: number,
  mib: number,
): Promise<void> {
  const listen = /^vchan: listening for domain (\d+): ref (\d+) port (\d+)\n$/.exec(
    await server.run(`vchan listen ${clientId}`),
  );
  assert.ok(listen, 'vchan listen');
  assert.match(
    await client.run(`vchan connect ${serverId} ${listen[2]} ${listen[3]}`),
    new RegExp(`^vchan: connected to domain ${serverId}, port \\d+\\n$`),
  );
  // the sink waits for data while the pump runs: start both, then read both results
  server.send(`vchan pump ${mib}`);
  const received = await client.run(`vchan sink ${mib}`);
  const sent = (await server.until(`\n${PROMPT}`)).slice(0, -PROMPT.length);
  const bytes = mib * 1024 * 1024;
  const stream = new Uint8Array(bytes).map((_, i) => Math.floor((i * 31) / 8) & 0xff); // appendix A
  const sum = fnv1a(stream);
  assert.ok(sent.endsWith(`vchan: sent ${bytes} bytes, checksum ${sum}\n`), `pump: ${sent}`);
  assert.equal(received, `vchan: received ${bytes} bytes, checksum ${sum}\n`);
  assert.equal(await client.run('vchan close'), 'vchan: closed\n');
  assert.equal(await server.run('vchan close'), 'vchan: closed\n');
}
