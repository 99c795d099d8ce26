/**
 * The domain spec: the one description of a domain. Config files (src/api/config.ts), the
 * `pvm run` and `pvm create` flags (src/cli/domain-flags.ts), the API and the library all
 * produce a `DomainSpec` through the schema below, and the builder (src/host/builder.ts) turns
 * it into a running domain. The limits and defaults every front end applies live here, once;
 * docs/devices.md ("The domain spec") records why they are what they are.
 *
 * Two forms:
 * - the **document** (`DomainSpecInput`): what people write, in a file, a request body or a
 *   library call: `memory: 256M`, `disks: [root.img]`, `nets: [lan]`, `rng: true`;
 * - the **spec** (`DomainSpec`): the schema's output, with every default filled in, memory in
 *   bytes and the devices as one list in slot order (`{ kind, slot, ...kind-specific fields }`).
 *
 * `toDocument(spec)` gives back a document that parses to the same spec: the form shown to
 * people (`pvm info`), returned by the API and kept in save files.
 */

import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PvmError } from '../core/errors.js';
import { checkTag, MAX_TAG_BYTES } from '../devices/virtio/9p/device.js';
import { MAX_HARTS } from '../hypervisor/domain.js';
import { SCHED_DEFAULTS, schedParamsError, WEIGHT_MAX, WEIGHT_MIN } from '../hypervisor/scheduler.js';
import { commandLineConsole } from '../hypervisor/vm.js';
import { MemMap } from '../machine/memmap.js';
import { MAX_RAM_BYTES } from '../memory/ram.js';
import { HypercallPolicy, policyEntryError } from '../sbi/policy.js';

export const MiB = 1 << 20;

/** What a domain may ask for; every front end refuses more or less with the same message. */
export const LIMITS = {
  /** vCPUs: PVX's shared info page holds 8 vCPU records (docs/para-api-pvx.md), and the hypervisor enforces it. */
  harts: { min: 1, max: MAX_HARTS },
  /**
   * RAM in bytes: at least 16 MiB (Linux 6.1 with its initramfs boots in 16 MiB; below it, it
   * stops before its console is up), at most 4 GiB (guest RAM is one typed array, which Node 20
   * caps at 2^32 bytes). A multiple of 4 KiB.
   */
  memory: { min: 16 * MiB, max: MAX_RAM_BYTES },
  /** virtio-mmio slots on the board (0x1000_1000 + n * 0x1000, PLIC source 1 + n). */
  virtioSlots: MemMap.VIRTIO.count,
  /**
   * Kernel command line, in UTF-8 bytes: it goes into the device tree, which has 64 KiB at the top
   * of RAM. 4 KiB is more than any RISC-V kernel reads (Linux keeps COMMAND_LINE_SIZE = 1024).
   */
  appendBytes: 4096,
  /** A host path, in UTF-8 bytes (Linux's PATH_MAX). */
  pathBytes: 4096,
  /** Entries of a hypercall policy (there are fewer than 100 known calls; duplicates are dropped). */
  hypercallEntries: 256,
  /** Port forwards of one user-mode NIC (each one is a passt option and a listening socket). */
  publish: 32,
  /** 9p mount tags: QEMU's limit (Linux reads any length). */
  shareTag: MAX_TAG_BYTES,
} as const;

/** The switch name of `--net user`: a private switch per NIC, its uplink a passt process (as QEMU's `-nic user`). */
export const USER_SWITCH = 'user';

/** What a spec gets when the document leaves a field out. */
export const DEFAULTS = {
  /** The embedded guest, pvos (guests/pvos), shipped in the package: a spec without a kernel boots it. */
  guest: fileURLToPath(new URL('../../../guests/pvos/pvos.elf', import.meta.url)),
  /** RAM of a domain with a kernel (Linux), and of one booting the embedded guest (pvos needs under 1 MiB). */
  memory: { kernel: 128 * MiB, embedded: 64 * MiB },
  /** Full mode's M-mode firmware: Debian's OpenSBI (package `opensbi`). */
  firmware: '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin',
  /** Kernel command line when a kernel is given without one: the UART is the console. */
  append: 'console=ttyS0',
  smp: 1,
  mode: 'pv',
} as const;

export type DiskCache = 'writeback' | 'writethrough' | 'unsafe';
export const DISK_CACHES = ['writeback', 'writethrough', 'unsafe'] as const satisfies readonly DiskCache[];

/** Domain names: a letter or digit first, then letters, digits, '.', '_' or '-'; not all digits (those are ids). */
export const DOMAIN_NAME = /^(?!\d+$)[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Switch names. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAC_RE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

// ---------------------------------------------------------------- sizes

const SIZE_UNITS: Record<string, number> = { '': MiB, B: 1, K: 1 << 10, M: MiB, G: 1 << 30, T: 2 ** 40 };

/**
 * A size as QEMU's -m reads it: "512M", "1G", "262144K", "1GiB", "4096B"; a bare number (or a
 * number value) is MiB. Returns bytes, or a message saying what is wrong.
 */
export function parseSize(s: string | number): number | string {
  if (typeof s === 'number') {
    return Number.isFinite(s) && s > 0 ? Math.round(s * MiB) : `expected a positive size, got ${s}`;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|(B))?\s*$/i.exec(s);
  if (!m) return `expected a size like 512M or 1G, got "${s}"`;
  const unit = (m[2] ?? m[3] ?? '').toUpperCase();
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]!);
}

/** Bytes as the shortest exact size string: "256M", "1536K", "4097B". */
export function formatSize(bytes: number): string {
  if (bytes % MiB === 0) return `${bytes / MiB}M`;
  if (bytes % 1024 === 0) return `${bytes / 1024}K`;
  return `${bytes}B`;
}

/** The RAM rule: a size within LIMITS.memory, a multiple of 4 KiB. Returns bytes or a message. */
export function checkMemory(v: string | number): number | string {
  const bytes = parseSize(v);
  if (typeof bytes === 'string') return bytes;
  const { min, max } = LIMITS.memory;
  if (bytes < min) return `at least ${formatSize(min)}, got ${formatSize(bytes)}`;
  if (bytes > max) return `at most ${formatSize(max)}, got ${formatSize(bytes)}`;
  if (bytes % 4096 !== 0) return `expected a multiple of 4K, got ${formatSize(bytes)}`;
  return bytes;
}

/** The vCPU rule: a whole number within LIMITS.harts. Returns the count or a message. */
export function checkHarts(v: unknown): number | string {
  const { min, max } = LIMITS.harts;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    return `expected ${min} to ${max} vCPUs, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`;
  }
  return v;
}

// ---------------------------------------------------------------- device shorthands

interface DiskEntry {
  path: string;
  readonly: boolean;
  cache: DiskCache;
  slot?: number;
}
interface NetEntry {
  switch: string;
  mac?: string;
  slot?: number;
  uplink?: 'user';
  publish?: PublishEntry[];
}

/** A port forward from the host into the guest through a user-mode network (`--publish`). */
export interface PublishEntry {
  proto: 'tcp' | 'udp';
  /** Host address to listen on: 127.0.0.1 unless the user names one (0.0.0.0 for every address). */
  hostAddr: string;
  hostPort: number;
  guestPort: number;
}

/** A host folder shared over virtio-9p. */
export interface ShareEntry {
  path: string;
  tag: string;
  readonly: boolean;
  slot?: number;
}

/**
 * "slot=N" in a shorthand: the virtio-mmio slot, 0..7, as QEMU's `bus=virtio-mmio-bus.N`.
 * Returns the slot, or a message.
 */
function parseSlotOption(o: string): number | string {
  const v = o.slice('slot='.length);
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= 0 && n < LIMITS.virtioSlots)) return `slot must be 0 to ${LIMITS.virtioSlots - 1}, got "${v}"`;
  return n;
}

/**
 * The device flags without a value of their own (`--rng`, `--balloon`, `--virtio-console`) and
 * their document fields as a string: "" or "slot=N". Returns `{ slot? }`, or a message.
 */
export function parseSlotShorthand(what: string, spec: string): { slot?: number } | string {
  if (spec === '') return {};
  if (!spec.startsWith('slot=')) return `${what} "${spec}": unknown option (use slot=N)`;
  const slot = parseSlotOption(spec);
  return typeof slot === 'string' ? `${what} "${spec}": ${slot}` : { slot };
}

/** "path[,ro][,cache=MODE][,slot=N]" (`--disk`, and a disk written as a string) -> disk, or a message. */
export function parseDiskShorthand(spec: string): DiskEntry | string {
  const [path, ...opts] = spec.split(',');
  if (!path) return `disk "${spec}": missing path`;
  const d: DiskEntry = { path, readonly: false, cache: 'writeback' };
  for (const o of opts) {
    if (o === 'ro' || o === 'readonly') d.readonly = true;
    else if (o === 'rw') d.readonly = false;
    else if (o.startsWith('cache=') && (DISK_CACHES as readonly string[]).includes(o.slice(6))) {
      d.cache = o.slice(6) as DiskCache;
    } else if (o.startsWith('slot=')) {
      const slot = parseSlotOption(o);
      if (typeof slot === 'string') return `disk "${spec}": ${slot}`;
      d.slot = slot;
    } else return `disk "${spec}": unknown option "${o}" (use ro, cache=${DISK_CACHES.join('|')}, slot=N)`;
  }
  return d;
}

/**
 * "SWITCH[,mac=MAC][,uplink=user][,slot=N]" (`--net`, and a net written as a string) -> net, or a
 * message. `user` alone is a private user-mode network (`--net user`).
 */
export function parseNetShorthand(spec: string): NetEntry | string {
  const [sw, ...opts] = spec.split(',');
  if (!sw || !NAME_RE.test(sw)) return `net "${spec}": expected a switch name first`;
  const n: NetEntry = { switch: sw };
  if (sw === USER_SWITCH) n.uplink = 'user';
  for (const o of opts) {
    if (o.startsWith('mac=')) n.mac = o.slice(4);
    else if (o === 'uplink=user') n.uplink = 'user';
    else if (o.startsWith('slot=')) {
      const slot = parseSlotOption(o);
      if (typeof slot === 'string') return `net "${spec}": ${slot}`;
      n.slot = slot;
    } else return `net "${spec}": unknown option "${o}" (use mac=XX:XX:XX:XX:XX:XX, uplink=user, slot=N)`;
  }
  return n;
}

/** A port 1..65535 written in decimal, or null. */
function port(s: string): number | null {
  if (!/^\d{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * "[ADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]" (`--publish`, as Docker and Podman write it) -> a
 * port forward, or a message. ADDR is an IPv4 address or an IPv6 one in brackets
 * ("[::1]:8080:80"); without it the forward listens on 127.0.0.1 only, so a guest service
 * is not exposed to the host's network by accident.
 */
export function parsePublish(spec: string): PublishEntry | string {
  const bad = (why: string) => `publish "${spec}": ${why} (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])`;
  let rest = spec;
  let proto: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== 'tcp' && p !== 'udp') return bad(`unknown protocol "${p}"`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  let hostAddr = '127.0.0.1';
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (v6) {
    if (isIP(v6[1]!) !== 6) return bad(`"${v6[1]}" is not an IPv6 address`);
    hostAddr = v6[1]!;
    rest = v6[2]!;
  }
  const parts = rest.split(':');
  if (!v6 && parts.length === 3) {
    if (isIP(parts[0]!) !== 4) return bad(`"${parts[0]}" is not an IPv4 address (IPv6 goes in brackets)`);
    hostAddr = parts.shift()!;
  }
  if (parts.length !== 2) return bad('expected two ports');
  const hostPort = port(parts[0]!);
  const guestPort = port(parts[1]!);
  if (hostPort === null) return bad(`host port "${parts[0]}" is not 1 to 65535`);
  if (guestPort === null) return bad(`guest port "${parts[1]}" is not 1 to 65535`);
  return { proto, hostAddr, hostPort, guestPort };
}

/** A forward as `--publish` writes it, every part explicit: "127.0.0.1:8080:80/tcp". */
export function formatPublish(p: PublishEntry): string {
  const addr = p.hostAddr.includes(':') ? `[${p.hostAddr}]` : p.hostAddr;
  return `${addr}:${p.hostPort}:${p.guestPort}/${p.proto}`;
}

/**
 * "HOSTDIR:TAG[,ro][,slot=N]" (`--share`, and a share written as a string) -> share, or a message.
 * The tag and options follow the last ':', so a directory name may hold ':' and ','.
 */
export function parseShareShorthand(spec: string): ShareEntry | string {
  const colon = spec.lastIndexOf(':');
  if (colon < 0) return `share "${spec}": expected HOSTDIR:TAG[,ro]`;
  const path = spec.slice(0, colon);
  const [tag = '', ...opts] = spec.slice(colon + 1).split(',');
  if (path === '') return `share "${spec}": missing directory`;
  const badTag = checkTag(tag);
  if (badTag !== null) return `share "${spec}": ${tag === '' ? 'missing tag' : badTag}`;
  const s: ShareEntry = { path, tag, readonly: false };
  for (const o of opts) {
    if (o === 'ro' || o === 'readonly') s.readonly = true;
    else if (o === 'rw') s.readonly = false;
    else if (o.startsWith('slot=')) {
      const slot = parseSlotOption(o);
      if (typeof slot === 'string') return `share "${spec}": ${slot}`;
      s.slot = slot;
    } else return `share "${spec}": unknown option "${o}" (use ro, slot=N)`;
  }
  return s;
}

/**
 * The MAC a NIC gets when its spec names none: locally administered, unicast, from the domain's
 * number (its index in a config file, its id in the daemon) and the NIC's.
 */
export function defaultMac(domain: number, nic: number): string {
  const h = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return `52:54:00:${h(domain >> 8)}:${h(domain)}:${h(nic)}`;
}

// ---------------------------------------------------------------- the spec (output)

const utf8Bytes = (v: string): number => new TextEncoder().encode(v).length;
const path = z
  .string()
  .min(1, 'expected a non-empty path')
  .refine((p) => utf8Bytes(p) <= LIMITS.pathBytes, `expected a path of at most ${LIMITS.pathBytes} bytes`);
const append = z.string().superRefine((a, ctx) => {
  const n = utf8Bytes(a);
  if (n > LIMITS.appendBytes)
    ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.appendBytes} bytes, got ${n}` });
});
const name = z
  .string()
  .regex(DOMAIN_NAME, 'expected up to 63 letters, digits, ".", "_" or "-", not only digits (those are ids)');
const switchName = z.string().regex(NAME_RE, 'expected a switch name of letters, digits, "_", "." or "-" (at most 64)');
const mac = z
  .string()
  .regex(MAC_RE, 'expected a MAC like 52:54:00:12:34:56')
  .refine((m) => (Number.parseInt(m.slice(0, 2), 16) & 1) === 0, 'expected a unicast MAC (first octet even)')
  .refine((m) => !/^(00:){5}00$/.test(m), 'the all-zero MAC is not usable');
const slotMessage = (iss: { input?: unknown }) =>
  `slot must be 0 to ${LIMITS.virtioSlots - 1}, got ${JSON.stringify(iss.input) ?? String(iss.input)}`;
/** A virtio-mmio slot, 0..7 (QEMU's `virtio-mmio-bus.N`). */
const slot = z
  .number({ error: slotMessage })
  .int({ error: slotMessage })
  .min(0, { error: slotMessage })
  .max(LIMITS.virtioSlots - 1, { error: slotMessage });
const publishObject = z.strictObject({
  proto: z.enum(['tcp', 'udp']),
  hostAddr: z.string().refine((a) => isIP(a) !== 0, 'expected an IPv4 or IPv6 address'),
  hostPort: z.number().int().min(1).max(65535),
  guestPort: z.number().int().min(1).max(65535),
});
const shareTag = z.string().superRefine((t, ctx) => {
  const bad = checkTag(t);
  if (bad !== null) ctx.addIssue({ code: 'custom', message: bad });
});
const consoleTarget = z.union([z.enum(['stdio', 'prefix', 'none']), z.strictObject({ file: path })]);

/**
 * One virtio device of a spec, in its slot (window 0x1000_1000 + slot * 0x1000, PLIC source
 * 1 + slot). New kinds (a 9p share, a user-mode network) are new members with their own fields.
 */
const deviceSchema = z.discriminatedUnion('kind', [
  /** virtio-console: hvc1 in Linux (hvc0 is the SBI console). Only when asked for, or when the command line's console is hvc1. */
  z.strictObject({ kind: z.literal('console'), slot }),
  z.strictObject({
    kind: z.literal('blk'),
    slot,
    path,
    readonly: z.boolean(),
    cache: z.enum(DISK_CACHES),
  }),
  /**
   * A NIC on a virtual switch; without `mac` the builder gives it `defaultMac(domain, nic)`.
   * `uplink: 'user'`: the switch's uplink is a passt process (user-mode networking), with the
   * NIC's port forwards; on the switch named USER_SWITCH the switch is the NIC's own.
   */
  z.strictObject({
    kind: z.literal('net'),
    slot,
    switch: switchName,
    mac: mac.optional(),
    uplink: z.literal('user').optional(),
    publish: z.array(publishObject).max(LIMITS.publish, `at most ${LIMITS.publish} port forwards per NIC`).optional(),
  }),
  z.strictObject({ kind: z.literal('rng'), slot }),
  z.strictObject({ kind: z.literal('balloon'), slot }),
  /** virtio-9p: a host directory the guest mounts by `tag` (9P2000.L). */
  z.strictObject({ kind: z.literal('9p'), slot, path, tag: shareTag, readonly: z.boolean() }),
]);

/** The spec as the builder takes it: what the document schema below produces. */
export const domainSpecSchema = z.strictObject({
  name,
  /** Linux Image or RV64 ELF; absent: the embedded guest (DEFAULTS.guest). */
  kernel: path.optional(),
  initrd: path.optional(),
  /** Kernel command line (only with a kernel). */
  append: append.optional(),
  /** Bytes. */
  memory: z.number().int(),
  smp: z.number().int(),
  mode: z.enum(['pv', 'full']),
  /** Full mode's M-mode firmware (always set in full mode). */
  firmware: path.optional(),
  /** virtio devices in slot order. */
  devices: z.array(deviceSchema),
  /** Where the console goes in `pvm run` (stdio, prefix, none) and, as `{ file }`, everywhere. */
  console: consoleTarget,
  /** The CPU's translation tier (docs/cpu.md); absent: the default (JIT_DEFAULT in src/hypervisor/vm.ts). */
  jit: z.boolean().optional(),
  /** PV mode, smp >= 2: every hart but hart 0 on a thread of its own (docs/scheduler.md, "Harts on threads"). */
  threads: z.boolean().optional(),
  /** Hypercall policy (src/sbi/policy.ts): the SBI extensions and PVX calls allowed; absent: all. */
  hypercalls: z.array(z.string()).optional(),
  /** Credit scheduler weight (src/hypervisor/scheduler.ts); absent: SCHED_DEFAULTS.weight. */
  weight: z.number().int().optional(),
  /** Credit scheduler cap, % of one host core; absent or 0: none. */
  cap: z.number().int().optional(),
});

export type DomainSpec = z.infer<typeof domainSpecSchema>;
export type DomainDevice = DomainSpec['devices'][number];
export type DeviceKind = DomainDevice['kind'];
export type ConsoleTarget = DomainSpec['console'];

// ---------------------------------------------------------------- the document (input)

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = checkMemory(v);
  if (typeof n === 'string') {
    ctx.addIssue({ code: 'custom', message: n });
    return z.NEVER;
  }
  return n;
});

/** Every smp problem gets the same message, naming what was written. */
const hartsMessage = (iss: { input?: unknown }) => String(checkHarts(iss.input));
const smp = z
  .number({ error: hartsMessage })
  .int({ error: hartsMessage })
  .min(LIMITS.harts.min, { error: hartsMessage })
  .max(LIMITS.harts.max, { error: hartsMessage });

const diskObject = z.strictObject({
  path,
  readonly: z.boolean().default(false),
  cache: z.enum(DISK_CACHES).default('writeback'),
  slot: slot.optional(),
});
/** A string shorthand ("root.img,ro", "lan,mac=...") parsed by `parse`, whose message string is the issue. */
function shorthand<T>(parse: (s: string) => T | string) {
  return z.string().transform((s, ctx): T => {
    const r = parse(s);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

const disk = z.union([shorthand(parseDiskShorthand), diskObject]);

const publish = z.union([shorthand(parsePublish), publishObject]);
const netObject = z.strictObject({
  switch: switchName.default('default'),
  mac: mac.optional(),
  uplink: z.literal('user').optional().describe('user: the switch reaches the host network through passt'),
  publish: z
    .array(publish)
    .max(LIMITS.publish, `at most ${LIMITS.publish} port forwards per NIC`)
    .optional()
    .describe('port forwards into the guest (with uplink user): "[ADDR:]HOSTPORT:GUESTPORT[/udp]" or objects'),
  slot: slot.optional(),
});

/** A device without fields of its own (rng, balloon, the virtio console): true, "slot=N" or `{ slot }`. */
const slotOnly = (what: string) =>
  z.union([z.boolean(), shorthand((s) => parseSlotShorthand(what, s)), z.strictObject({ slot: slot.optional() })]);
const net = z.union([
  shorthand((s) => {
    const n = parseNetShorthand(s);
    if (typeof n !== 'string' && n.mac !== undefined) {
      const r = mac.safeParse(n.mac);
      if (!r.success) return `net "${s}": bad mac "${n.mac}": ${r.error.issues[0]?.message ?? 'invalid'}`;
    }
    return n;
  }),
  netObject,
]);

/** Hypercall policy entries: `EXT` or `EXT/function` (src/sbi/policy.ts), each checked against the catalog. */
const hypercallEntry = z.string().superRefine((e, ctx) => {
  const why = policyEntryError(e);
  if (why !== null) ctx.addIssue({ code: 'custom', message: why });
});
const shareObject = z.strictObject({
  path,
  tag: shareTag,
  readonly: z.boolean().default(false),
  slot: slot.optional(),
});
const share = z.union([shorthand(parseShareShorthand), shareObject]);

const documentFields = {
  name: name.describe('Domain name (in a config file: default vm0, vm1, ... by position)'),
  kernel: path.optional().describe('Linux Image or RV64 ELF kernel (default: the embedded guest, pvos)'),
  initrd: path.optional().describe('Initial ramdisk (only with a kernel)'),
  append: append
    .optional()
    .describe(
      `Kernel command line (only with a kernel; default "${DEFAULTS.append}"; at most ${LIMITS.appendBytes} bytes)`,
    ),
  memory: size
    .optional()
    .describe(
      `RAM: a size like 512M or 1G, a bare number is MiB; ${formatSize(LIMITS.memory.min)} to ${formatSize(LIMITS.memory.max)} (default ${formatSize(DEFAULTS.memory.kernel)} with a kernel, ${formatSize(DEFAULTS.memory.embedded)} for the embedded guest)`,
    ),
  smp: smp.optional().describe(`vCPUs, ${LIMITS.harts.min} to ${LIMITS.harts.max} (default 1)`),
  weight: z
    .number()
    .int()
    .min(WEIGHT_MIN)
    .max(WEIGHT_MAX)
    .optional()
    .describe(
      `Scheduler weight: busy domains share the host in proportion to their weights, ${WEIGHT_MIN} to ${WEIGHT_MAX} (default ${SCHED_DEFAULTS.weight}, as Xen)`,
    ),
  cap: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'Scheduler cap: most host time the domain may use, in % of one host core, up to 100 per vCPU (default 0: none)',
    ),
  mode: z
    .enum(['pv', 'full'])
    .default('pv')
    .describe('pv: pvm is the firmware (default); full: the guest brings its own'),
  firmware: path.optional().describe(`M-mode firmware, only with mode full (default ${DEFAULTS.firmware})`),
  disks: z
    .array(disk)
    .default([])
    .describe('virtio-blk disks vda, vdb, ...: "path[,ro][,cache=MODE][,slot=N]" or objects'),
  nets: z
    .array(net)
    .default([])
    .describe('virtio-net NICs, each a port of a named virtual switch: "SWITCH[,mac=MAC][,slot=N]" or objects'),
  shares: z
    .array(share)
    .default([])
    .describe(
      `host folders over virtio-9p: "HOSTDIR:TAG[,ro][,slot=N]" or objects; tags of letters, digits, "_", "-", "." (at most ${MAX_TAG_BYTES})`,
    ),
  rng: slotOnly('rng').default(false).describe('virtio-rng fed by the host RNG: true, or { slot: N }'),
  balloon: slotOnly('balloon').default(false).describe('virtio-balloon: true, or { slot: N }'),
  virtioConsole: slotOnly('virtio console')
    .optional()
    .describe(
      "virtio-console (hvc1 in Linux): true, or { slot: N }; default: only when the command line's console is hvc1",
    ),
  jit: z
    .boolean()
    .optional()
    .describe('Translate hot guest code to WebAssembly (false: interpreter only, as --no-jit; default on)'),
  threads: z
    .boolean()
    .optional()
    .describe(
      'PV mode with smp >= 2: run every hart but the first on a host thread of its own, in parallel (as --threads; default off)',
    ),
  console: consoleTarget
    .optional()
    .describe(
      'pvm run: stdio, prefix (name| before each line) or none; everywhere: { file } appends the output to a file',
    ),
  hypercalls: z
    .array(hypercallEntry)
    .max(LIMITS.hypercallEntries)
    .optional()
    .describe(
      'Hypercall policy: the SBI extensions (TIME, HSM, ..., PVX) and functions (EXT/function) the guest may call; others answer SBI_ERR_DENIED (default: all)',
    ),
};

/** A domain of the document, checked, before it becomes a spec (a file's domains are named later). */
type DocumentDomain = z.output<typeof fileDomainFields>;

/** Cross-field rules of one domain, each reported on the field the user would change. */
function checkDomain(d: DocumentDomain, ctx: z.RefinementCtx): void {
  const issue = (field: string, message: string) => ctx.addIssue({ code: 'custom', path: [field], message });
  if (d.firmware !== undefined && d.mode !== 'full') issue('firmware', 'only with mode full');
  if (d.hypercalls !== undefined && d.mode === 'full') {
    issue('hypercalls', "only with mode pv (in full mode the guest's own firmware answers SBI calls)");
  }
  if (d.cap !== undefined) {
    const e = schedParamsError({ cap: d.cap }, d.smp ?? DEFAULTS.smp);
    if (e !== null) issue('cap', e.replace(/^cap must be /, ''));
  }
  if (d.kernel === undefined) {
    if (d.initrd !== undefined) issue('initrd', 'only with a kernel (the embedded guest reads no initrd)');
    if (d.append !== undefined) issue('append', 'only with a kernel (the embedded guest reads no command line)');
  }
  for (const p of placeDevices(d).problems) ctx.addIssue({ code: 'custom', path: p.field, message: p.message });
  checkUserNets(d, ctx);
}

/** The rules of user-mode NICs and shares: forwards only with passt, no host port twice, one tag once. */
function checkUserNets(d: DocumentDomain, ctx: z.RefinementCtx): void {
  const issue = (p: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path: p, message });
  const bound = new Map<string, string>();
  d.nets.forEach((n, i) => {
    if (n.publish === undefined || n.publish.length === 0) return;
    if (n.uplink !== 'user' && n.switch !== USER_SWITCH) {
      issue(['nets', i, 'publish'], 'port forwards need a user-mode network (uplink user)');
      return;
    }
    n.publish.forEach((p, j) => {
      const key = `${p.proto} ${p.hostAddr} ${p.hostPort}`;
      const other = bound.get(key);
      if (other !== undefined) {
        issue(
          ['nets', i, 'publish', j],
          `${p.proto} port ${p.hostPort} on ${p.hostAddr} is already forwarded by ${other}`,
        );
      } else bound.set(key, formatPublish(p));
    });
  });
  const tags = new Set<string>();
  d.shares.forEach((s, i) => {
    if (tags.has(s.tag)) issue(['shares', i, 'tag'], `tag "${s.tag}" is used by another share`);
    tags.add(s.tag);
  });
}

/** A device the document asks for, before it has a slot. */
interface DeviceRequest {
  readonly device: DistributiveOmit<DomainDevice, 'slot'>;
  /** The slot the document names, if any. */
  readonly slot: number | undefined;
  /** The field that asks for it (`disks[1]`), where a refusal is reported. */
  readonly field: PropertyKey[];
  /** The device as a person names it in a message ("disk a.img"). */
  readonly label: string;
}
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** `true`, `false`, or `{ slot? }` of rng, balloon and the virtio console, as a request (or none). */
const slotRequest = (v: boolean | { slot?: number | undefined }): { slot: number | undefined } | null =>
  v === false ? null : { slot: v === true ? undefined : v.slot };

/** The command line's console is the virtio console (hvc1): the domain needs one. */
const wantsVirtioConsole = (append: string | undefined): boolean => commandLineConsole(append ?? '') === 'hvc1';

/**
 * The devices of a document in their slots, as QEMU's `-device ...,bus=virtio-mmio-bus.N`
 * places them (docs/devices.md, "Where devices sit"): a device that names a slot gets it; the
 * others take the lowest free slots in this order: the virtio console, the disks, the nets,
 * entropy, balloon, the shares. The virtio console is there only when asked for (`virtioConsole`) or when
 * the command line's console is hvc1. Two devices in one slot, or more devices than free
 * slots, are problems reported on the field that asked.
 */
function placeDevices(d: DocumentDomain): {
  devices: DomainDevice[];
  problems: { field: PropertyKey[]; message: string }[];
} {
  const requests: DeviceRequest[] = [];
  const vc = d.virtioConsole === undefined ? wantsVirtioConsole(d.append) : d.virtioConsole;
  const vcr = slotRequest(vc);
  if (vcr)
    requests.push({
      device: { kind: 'console' },
      slot: vcr.slot,
      field: ['virtioConsole'],
      label: 'the virtio console',
    });
  d.disks.forEach((k, i) => {
    const { slot, ...blk } = k;
    requests.push({ device: { kind: 'blk', ...blk }, slot, field: ['disks', i], label: `disk ${k.path}` });
  });
  d.nets.forEach((n, i) => {
    requests.push({
      device: {
        kind: 'net',
        switch: n.switch,
        ...(n.mac && { mac: n.mac.toLowerCase() }),
        // The switch named `user` is always the NIC's own user-mode network.
        ...((n.uplink !== undefined || n.switch === USER_SWITCH) && { uplink: 'user' as const }),
        ...(n.publish && n.publish.length > 0 && { publish: n.publish }),
      },
      slot: n.slot,
      field: ['nets', i],
      label: `net ${n.switch}`,
    });
  });
  const rng = slotRequest(d.rng);
  if (rng) requests.push({ device: { kind: 'rng' }, slot: rng.slot, field: ['rng'], label: 'rng' });
  const balloon = slotRequest(d.balloon);
  if (balloon) requests.push({ device: { kind: 'balloon' }, slot: balloon.slot, field: ['balloon'], label: 'balloon' });
  // After every older kind, so adding shares moves no other device.
  d.shares.forEach((sh, i) => {
    const { slot, ...share } = sh;
    requests.push({ device: { kind: '9p', ...share }, slot, field: ['shares', i], label: `share ${sh.tag}` });
  });

  const problems: { field: PropertyKey[]; message: string }[] = [];
  const taken = new Map<number, DeviceRequest>();
  for (const r of requests) {
    if (r.slot === undefined) continue;
    const other = taken.get(r.slot);
    if (other)
      problems.push({ field: [...r.field, 'slot'], message: `slot ${r.slot} is already taken by ${other.label}` });
    else taken.set(r.slot, r);
  }
  const placed: DomainDevice[] = [];
  for (const [slot, r] of taken) placed.push({ ...r.device, slot } as DomainDevice);
  let next = 0;
  for (const r of requests) {
    if (r.slot !== undefined) continue;
    while (taken.has(next)) next++;
    if (next >= LIMITS.virtioSlots) {
      problems.push({
        field: r.field,
        message: `no free virtio slot for ${r.label}: ${requests.length} devices, ${LIMITS.virtioSlots} slots`,
      });
      break;
    }
    taken.set(next, r);
    placed.push({ ...r.device, slot: next } as DomainDevice);
  }
  placed.sort((a, b) => a.slot - b.slot);
  return { devices: placed, problems };
}

/** The devices of a checked document in slot order (placeDevices). */
function devicesOf(d: DocumentDomain): DomainDevice[] {
  return placeDevices(d).devices;
}

function toSpec(d: DocumentDomain, fallbackName: string): DomainSpec {
  const spec: DomainSpec = {
    name: d.name ?? fallbackName,
    memory: d.memory ?? (d.kernel !== undefined ? DEFAULTS.memory.kernel : DEFAULTS.memory.embedded),
    smp: d.smp ?? DEFAULTS.smp,
    mode: d.mode,
    devices: devicesOf(d),
    console: d.console ?? 'stdio',
  };
  if (d.kernel !== undefined) {
    spec.kernel = d.kernel;
    spec.append = d.append ?? DEFAULTS.append;
  }
  if (d.initrd !== undefined) spec.initrd = d.initrd;
  if (d.mode === 'full') spec.firmware = d.firmware ?? DEFAULTS.firmware;
  if (d.jit !== undefined) spec.jit = d.jit;
  if (d.threads === true) {
    if (d.mode === 'full') throw new PvmError('usage', 'threads: harts on threads need mode pv');
    spec.threads = true;
  }
  if (d.hypercalls !== undefined) spec.hypercalls = new HypercallPolicy(d.hypercalls).entries as string[];
  if (d.weight !== undefined && d.weight !== SCHED_DEFAULTS.weight) spec.weight = d.weight;
  if (d.cap !== undefined && d.cap !== SCHED_DEFAULTS.cap) spec.cap = d.cap;
  return spec;
}

const fileDomainFields = z.strictObject({ ...documentFields, name: documentFields.name.optional() });
/** One domain as a config file writes it (name optional: the file's position names it), checked. */
export const fileDomainSchema = fileDomainFields.superRefine(checkDomain);
/** One domain as the API and the library take it (name required), checked. */
export const domainDocumentSchema = z.strictObject(documentFields).superRefine(checkDomain);
const domainToSpec = domainDocumentSchema.transform((d) => toSpec(d, d.name));

/** A domain as people write it: the library's `create` argument, the API's `config`. */
export type DomainSpecInput = z.input<typeof domainDocumentSchema>;

// ---------------------------------------------------------------- errors

type Issue = z.core.$ZodIssue;

/** A field path as a config file names it: `domains[0].disks[1].cache`. */
export function fieldPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s === '' ? '(document)' : s;
}

/** One readable line per issue, its field named by `where`; for a union, the branch that got furthest. */
export function describeIssue(
  issue: Issue,
  where: (p: readonly PropertyKey[]) => string,
  base: PropertyKey[] = [],
): string[] {
  const at = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // A shorthand string that parsed wrong says best what is wrong with it.
    const custom = issue.errors.find((b) => b.length > 0 && b.every((e) => e.code === 'custom'));
    if (custom) return custom.flatMap((e) => describeIssue(e, where, at));
    const depth = (errs: readonly Issue[]) => Math.max(...errs.map((e) => e.path.length));
    const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    if (depth(best) > 0 || best.some((e) => e.code === 'custom'))
      return best.flatMap((e) => describeIssue(e, where, at));
    const expected = issue.errors.map((b) => (b[0]?.code === 'invalid_type' ? b[0].expected : 'something else'));
    return [`${where(at)}: expected ${[...new Set(expected)].join(' or ')}`];
  }
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${where([...at, k])}: unknown field`);
  const msg = issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
  return [`${where(at)}: ${/^expected \w+, received undefined$/.test(msg) ? 'missing' : msg}`];
}

/** A usage error listing the problems (at most 10), one per line, each led by `source: `. */
export function specError(source: string, lines: readonly string[]): PvmError {
  const prefix = source === '' ? '' : `${source}: `;
  return new PvmError('usage', `${prefix}${lines.slice(0, 10).join(`\n${prefix}`)}`);
}

// ---------------------------------------------------------------- entry points

export interface SpecSource {
  /** Leads every message (a file name); empty for none. */
  source?: string;
  /** How a field is named in messages; default `config.FIELD` (the API's body field). */
  where?: (path: readonly PropertyKey[]) => string;
}

/**
 * One domain document -> its spec, defaults filled in; a PvmError('usage') naming every bad field
 * otherwise (`config.memory: at least 16M, got 8M`).
 */
export function parseDomainSpec(doc: unknown, opts: SpecSource = {}): DomainSpec {
  const r = domainToSpec.safeParse(doc);
  if (r.success) return r.data;
  const where = opts.where ?? ((p) => fieldPath(['config', ...p]));
  throw specError(
    opts.source ?? '',
    r.error.issues.flatMap((i) => describeIssue(i, where)),
  );
}

/** A checked file domain -> its spec: `fallbackName` when it has none, console `prefix` when not one of one. */
export function fileDomainSpec(d: DocumentDomain, fallbackName: string, alone: boolean): DomainSpec {
  return toSpec({ ...d, console: d.console ?? (alone ? 'stdio' : 'prefix') }, fallbackName);
}

export type { DocumentDomain };

/**
 * A document that parses to `spec` again (memory as a size, devices back in their lists): what
 * the API returns, `pvm info` shows, and save files keep.
 */
export function toDocument(spec: DomainSpec): DomainSpecInput {
  const doc: DomainSpecInput = { name: spec.name };
  if (spec.kernel !== undefined) doc.kernel = spec.kernel;
  if (spec.initrd !== undefined) doc.initrd = spec.initrd;
  if (spec.append !== undefined) doc.append = spec.append;
  doc.memory = formatSize(spec.memory);
  doc.smp = spec.smp;
  doc.mode = spec.mode;
  if (spec.firmware !== undefined) doc.firmware = spec.firmware;
  if (spec.jit !== undefined) doc.jit = spec.jit;
  if (spec.threads === true) doc.threads = true;
  // Every device keeps its slot, so the document places it where the spec has it.
  const disks = spec.devices.flatMap((d) =>
    d.kind === 'blk' ? [{ path: d.path, readonly: d.readonly, cache: d.cache, slot: d.slot }] : [],
  );
  const nets = spec.devices.flatMap((d) =>
    d.kind === 'net'
      ? [
          {
            switch: d.switch,
            ...(d.mac !== undefined && { mac: d.mac }),
            ...(d.uplink !== undefined && { uplink: d.uplink }),
            ...(d.publish !== undefined && { publish: d.publish.map(formatPublish) }),
            slot: d.slot,
          },
        ]
      : [],
  );
  const shares = spec.devices.flatMap((d) =>
    d.kind === '9p' ? [{ path: d.path, tag: d.tag, readonly: d.readonly, slot: d.slot }] : [],
  );
  if (disks.length > 0) doc.disks = disks;
  if (nets.length > 0) doc.nets = nets;
  if (shares.length > 0) doc.shares = shares;
  const slotOf = (kind: DeviceKind) => spec.devices.find((d) => d.kind === kind)?.slot;
  const rng = slotOf('rng');
  if (rng !== undefined) doc.rng = { slot: rng };
  const balloon = slotOf('balloon');
  if (balloon !== undefined) doc.balloon = { slot: balloon };
  const vc = slotOf('console');
  if (vc !== undefined) doc.virtioConsole = { slot: vc };
  else if (wantsVirtioConsole(spec.append)) doc.virtioConsole = false;
  doc.console = spec.console;
  if (spec.hypercalls !== undefined) doc.hypercalls = [...spec.hypercalls];
  if (spec.weight !== undefined) doc.weight = spec.weight;
  if (spec.cap !== undefined) doc.cap = spec.cap;
  return doc;
}

/** `spec` with its relative host paths (kernel, initrd, firmware, disks, shares, console file) resolved against `baseDir`. */
export function resolveSpecPaths(spec: DomainSpec, baseDir: string): DomainSpec {
  const r = (p: string) => resolvePath(baseDir, p);
  const out: DomainSpec = {
    ...spec,
    devices: spec.devices.map((d) => (d.kind === 'blk' || d.kind === '9p' ? { ...d, path: r(d.path) } : d)),
    console: typeof spec.console === 'object' ? { file: r(spec.console.file) } : spec.console,
  };
  if (spec.kernel !== undefined) out.kernel = r(spec.kernel);
  if (spec.initrd !== undefined) out.initrd = r(spec.initrd);
  if (spec.firmware !== undefined) out.firmware = r(spec.firmware);
  return out;
}

/** `spec` with the scheduler parameters given (checked by the caller); the defaults are left out, as `toSpec` does. */
export function withSched(spec: DomainSpec, params: { weight?: number; cap?: number }): DomainSpec {
  const out: DomainSpec = { ...spec };
  const weight = params.weight ?? spec.weight;
  const cap = params.cap ?? spec.cap;
  delete out.weight;
  delete out.cap;
  if (weight !== undefined && weight !== SCHED_DEFAULTS.weight) out.weight = weight;
  if (cap !== undefined && cap !== SCHED_DEFAULTS.cap) out.cap = cap;
  return out;
}

/** `spec` with every NIC that has no MAC given `defaultMac(domain, nic)` (the daemon stores its specs so). */
export function withMacs(spec: DomainSpec, domain: number): DomainSpec {
  let nic = 0;
  return {
    ...spec,
    devices: spec.devices.map((d) => {
      if (d.kind !== 'net') return d;
      const k = nic++; // the NIC's number among the domain's NICs, MAC given or not
      return { ...d, mac: d.mac ?? defaultMac(domain, k) };
    }),
  };
}

/** The document schema as JSON Schema (input side): the OpenAPI document's `DomainSpec`. */
export function domainJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(domainDocumentSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
