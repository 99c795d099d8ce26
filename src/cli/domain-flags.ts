/**
 * The command-line form of a domain spec: the flags `pvm run` and `pvm create` share, and
 * `specFromFlags`, which maps them into a domain document and parses it with the spec schema
 * (src/api/spec.ts). So the flags obey the same rules as a config file or an API request, and a
 * refusal names the flag the user typed (`--memory: at least 16M, got 8M`).
 */
import type { Command } from 'commander';
import {
  DEFAULTS,
  type DomainSpec,
  LIMITS,
  parseDomainSpec,
  parseNetShorthand,
  resolveSpecPaths,
} from '../api/spec.js';
import { PvmError } from '../core/errors.js';

/** Flags that describe a domain, as commander hands them over (strings, unparsed). */
export interface DomainFlags {
  kernel?: string;
  initrd?: string;
  append?: string;
  memory?: string;
  smp?: string;
  mode?: string;
  firmware?: string;
  disk?: string[];
  net?: string[];
  /** Port forwards into the domain's user-mode NIC. */
  publish?: string[];
  /** Host folders over virtio-9p. */
  share?: string[];
  /** true, or "slot=N" (commander gives the value of `--rng slot=N`). */
  rng?: boolean | string;
  balloon?: boolean | string;
  virtioConsole?: boolean | string;
  /** ttyS0, hvc0 or hvc1: the kernel command line's console (instead of --append). */
  console?: string;
  /** --jit / --no-jit: the translation tier on or off. */
  jit?: boolean;
  /** --threads: every hart but the first on a thread of its own (PV mode). */
  threads?: boolean;
  /** Hypercall policy: comma-separated EXT or EXT/function entries. */
  hypercalls?: string;
  /** Scheduler weight and cap (% of a core), as strings from the command line. */
  weight?: string;
  cap?: string;
}

/** The flag that sets each spec field, for messages. */
const FLAG_OF: Record<string, string> = {
  name: '--name',
  kernel: '--kernel',
  initrd: '--initrd',
  append: '--append',
  memory: '--memory',
  smp: '--smp',
  mode: '--mode',
  firmware: '--firmware',
  disks: '--disk',
  nets: '--net',
  shares: '--share',
  rng: '--rng',
  balloon: '--balloon',
  virtioConsole: '--virtio-console',
  jit: '--no-jit',
  threads: '--threads',
  hypercalls: '--hypercalls',
  weight: '--weight',
  cap: '--cap',
};

/** Names of the DomainFlags keys, so a config-file run can refuse them. */
export const DOMAIN_FLAGS: readonly (keyof DomainFlags)[] = [
  'kernel',
  'initrd',
  'append',
  'memory',
  'smp',
  'mode',
  'firmware',
  'disk',
  'net',
  'publish',
  'share',
  'rng',
  'balloon',
  'virtioConsole',
  'console',
  'jit',
  'threads',
  'hypercalls',
  'weight',
  'cap',
];

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Declares the domain flags on `cmd`. */
export function addDomainFlags(cmd: Command): Command {
  const mem = DEFAULTS.memory;
  return cmd
    .option(
      '--kernel <file>',
      'boot this RISC-V Linux Image, RV64 ELF or raw binary (run at 0x80200000) instead of the embedded guest',
    )
    .option('--initrd <file>', 'initial ramdisk, placed high in RAM and named in /chosen (with --kernel)')
    .option('--append <cmdline>', `kernel command line (with --kernel; default: "${DEFAULTS.append}")`)
    .option(
      '-m, --memory <size>',
      `guest RAM, e.g. 512M or 1G, a bare number is MiB; ${LIMITS.memory.min / 2 ** 20}M to ${LIMITS.memory.max / 2 ** 20}M (default: ${mem.kernel / 2 ** 20}M with --kernel, ${mem.embedded / 2 ** 20}M for the embedded guest)`,
    )
    .option('--smp <n>', `number of vCPUs, ${LIMITS.harts.min} to ${LIMITS.harts.max} (default: 1)`)
    .option('--mode <mode>', 'pv: pvm answers SBI itself (default); full: firmware in emulated M-mode')
    .option('--firmware <file>', `with --mode full: M-mode firmware (default: ${DEFAULTS.firmware})`)
    .option(
      '--disk <spec>',
      'virtio-blk disk: path[,ro][,cache=writeback|writethrough|unsafe][,slot=N] (repeatable: vda, vdb, ...)',
      collect,
    )
    .option(
      '--net <spec>',
      'virtio-net NIC on a virtual switch: switch[,mac=XX:XX:XX:XX:XX:XX][,uplink=user][,slot=N]; "user": its own user-mode network through passt (repeatable)',
      collect,
    )
    .option(
      '--publish <spec>',
      'port forward from the host into the user-mode NIC: [ADDR:]HOSTPORT:GUESTPORT[/udp], ADDR 127.0.0.1 by default (repeatable)',
      collect,
    )
    .option(
      '--share <spec>',
      'host folder over virtio-9p: HOSTDIR:TAG[,ro][,slot=N]; the guest runs mount -t 9p -o trans=virtio TAG DIR (repeatable)',
      collect,
    )
    .option('--rng [slot=N]', 'virtio-rng: /dev/hwrng reads the host RNG')
    .option('--balloon [slot=N]', 'virtio-balloon')
    .option(
      '--virtio-console [slot=N]',
      'virtio-console (hvc1 in Linux; default: only with --console hvc1 or console=hvc1 in --append)',
    )
    .option(
      '--console <tty>',
      'with --kernel: the command line console, ttyS0 (UART), hvc0 (SBI console) or hvc1 (virtio console)',
    )
    .option('--jit', 'translate hot guest code to WebAssembly (the default)')
    .option('--no-jit', 'interpreter only: no translation to WebAssembly')
    .option('--threads', 'PV mode, --smp 2 or more: every hart but the first on a host thread of its own, in parallel')
    .option(
      '--hypercalls <list>',
      'hypercall policy: the SBI extensions and functions the guest may call, e.g. BASE,TIME,HSM,DBCN/console_write (others: SBI_ERR_DENIED; default: all)',
    )
    .option('--weight <n>', 'scheduler weight: busy domains share the host in proportion, 1 to 65535 (default 256)')
    .option('--cap <percent>', 'scheduler cap: most host time the domain may use, in % of one core (default 0: none)');
}

/** True when any domain flag is set (a config file describes its domains itself). */
export function domainFlagsSet(flags: DomainFlags): (keyof DomainFlags)[] {
  return DOMAIN_FLAGS.filter((k) => flags[k] !== undefined);
}

/** `--foo-bar` for a camelCase key. */
export const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * The spec the flags describe: a domain document built from them (relative paths against `cwd`),
 * parsed by the spec schema. Errors name the flag.
 */
export function specFromFlags(flags: DomainFlags, opts: { name?: string; cwd: string }): DomainSpec {
  let append = flags.append;
  if (flags.console !== undefined) {
    if (flags.console !== 'ttyS0' && flags.console !== 'hvc0' && flags.console !== 'hvc1') {
      throw new PvmError('usage', `--console: expected ttyS0, hvc0 or hvc1, got "${flags.console}"`);
    }
    if (flags.append !== undefined) throw new PvmError('usage', '--console: put console= in --append instead');
    if (flags.kernel === undefined) {
      throw new PvmError('usage', '--console: only with --kernel (it sets the kernel command line)');
    }
    append = `console=${flags.console}`;
  }
  const doc: Record<string, unknown> = { name: opts.name ?? 'vm0' };
  const set = (k: string, v: unknown) => {
    if (v !== undefined) doc[k] = v;
  };
  set('kernel', flags.kernel);
  set('initrd', flags.initrd);
  set('append', append);
  set('memory', flags.memory);
  const whole = (v: string | undefined) => (v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : v);
  set('smp', whole(flags.smp));
  set('weight', whole(flags.weight));
  set('cap', whole(flags.cap));
  set('mode', flags.mode);
  set('firmware', flags.firmware);
  set('disks', flags.disk);
  set('nets', netsWithForwards(flags));
  set('shares', flags.share);
  set('rng', flags.rng);
  set('balloon', flags.balloon);
  set('virtioConsole', flags.virtioConsole);
  set('jit', flags.jit);
  set('threads', flags.threads);
  set(
    'hypercalls',
    flags.hypercalls
      ?.split(',')
      .map((e) => e.trim())
      .filter((e) => e !== ''),
  );
  const spec = parseDomainSpec(doc, {
    where: (p) =>
      p[0] === 'nets' && p[2] === 'publish' ? '--publish' : (FLAG_OF[String(p[0])] ?? `--${String(p[0])}`),
  });
  return resolveSpecPaths(spec, opts.cwd);
}

/**
 * `--net` with the `--publish` forwards put on the one user-mode NIC (`--net user` or
 * `--net NAME,uplink=user`), as QEMU puts `hostfwd` on its `-nic user`.
 */
function netsWithForwards(flags: DomainFlags): unknown[] | undefined {
  if (flags.publish === undefined) return flags.net;
  const nets: unknown[] = [...(flags.net ?? [])];
  const user = nets.flatMap((n, i) => {
    const p = parseNetShorthand(String(n));
    return typeof p !== 'string' && p.uplink === 'user' ? [i] : [];
  });
  if (user.length !== 1) {
    throw new PvmError(
      'usage',
      user.length === 0
        ? '--publish: needs a user-mode network (--net user or --net NAME,uplink=user)'
        : `--publish: ${user.length} user-mode networks; forward into one of them with a config file (nets[].publish)`,
    );
  }
  const i = user[0]!;
  const p = parseNetShorthand(String(nets[i])) as Exclude<ReturnType<typeof parseNetShorthand>, string>;
  nets[i] = { ...p, publish: flags.publish };
  return nets;
}
