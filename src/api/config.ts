/**
 * The pvm configuration file: one or more domains, as JSON or YAML. `pvm run --config`
 * reads it today; the daemon's create-domain request will carry the same document.
 *
 * ```yaml
 * domains:
 *   - name: web
 *     kernel: ./Image            # absent: the embedded default guest
 *     initrd: ./initramfs.cpio.gz
 *     append: console=hvc0 root=/dev/vda
 *     memory: 256M               # a number is MiB
 *     smp: 2
 *     mode: pv                   # pv (default) or full
 *     disks:
 *       - ./root.img                             # shorthand: path[,ro][,cache=MODE]
 *       - { path: ./data.img, readonly: true, cache: writeback }
 *     nets:
 *       - { switch: lan, mac: "52:54:00:00:00:01" }
 *     console: prefix            # stdio | prefix | none | { file: path }
 * switches:
 *   lan: { enforceSourceMac: true }
 * ```
 *
 * A document that is a single domain (no `domains` key) is accepted too. Every error
 * names the field it is about, e.g. `domains[0].disks[1].cache: expected one of ...`.
 */
import { z } from 'zod';
import { PvmError } from '../core/errors.js';

export const CONFIG_VERSION = 1;
export const MiB = 1 << 20;
export const MIN_MEMORY = 16 * MiB;
export const MAX_MEMORY = 4096 * MiB;
export const MAX_SMP = 64;
/** virtio-mmio slots on the board (ARCHITECTURE.md). */
export const VIRTIO_SLOT_COUNT = 8;

export type DiskCache = 'writeback' | 'writethrough' | 'unsafe';
export const DISK_CACHES: readonly DiskCache[] = ['writeback', 'writethrough', 'unsafe'];

export interface DiskSpec {
  path: string;
  readonly: boolean;
  cache: DiskCache;
}

export interface NetSpec {
  /** Name of the virtual switch (created on first use). */
  switch: string;
  /** "52:54:00:12:34:56"; generated when absent. */
  mac: string;
}

export type ConsoleTarget = 'stdio' | 'prefix' | 'none' | { file: string };

/**
 * One validated domain. It satisfies the control plane's `DomainConfig` (src/api/domain.ts:
 * a name plus fields it does not interpret); its memory is in bytes, so hand it to `create` in its
 * document form (`toDocument`), where memory is a size string.
 */
export type DomainSpec = {
  name: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  /** Bytes. */
  memory: number;
  smp: number;
  mode: 'pv' | 'full';
  firmware?: string;
  disks: DiskSpec[];
  nets: NetSpec[];
  console: ConsoleTarget;
  /** virtio-rng from the host's RNG. */
  rng: boolean;
  /** virtio-balloon. */
  balloon: boolean;
};

export interface SwitchConfig {
  enforceSourceMac: boolean;
}

export interface PvmConfig {
  version: 1;
  domains: DomainSpec[];
  switches: Record<string, SwitchConfig>;
}

// ---------------------------------------------------------------- shorthands

const SIZE_UNITS: Record<string, number> = { '': MiB, K: 1 << 10, M: MiB, G: 1 << 30, T: 2 ** 40 };

/** "512", "512M", "1G", "1GiB", "262144K" -> bytes (a bare number is MiB, as in QEMU's -m). */
export function parseSize(s: string | number): number | string {
  if (typeof s === 'number') return Number.isFinite(s) && s > 0 ? s * MiB : `expected a positive size, got ${s}`;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(s);
  if (!m) return `expected a size like 512M or 1G, got "${s}"`;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!);
}

/**
 * RAM size of a domain config in its document form (`memory`: a size string, or a whole number of
 * MiB), by the same rule as parseSize; `fallback` when there is none.
 */
export function parseMemory(v: unknown, fallback: number): number {
  if (typeof v !== 'number' && typeof v !== 'string') return fallback;
  const bytes = parseSize(v);
  if (typeof bytes === 'string') throw new PvmError('usage', `bad memory size: ${bytes}`);
  return bytes;
}

/** "path[,ro][,cache=MODE]" (the --disk syntax) -> DiskSpec, or an error message. */
export function parseDiskSpec(spec: string): DiskSpec | string {
  const [path, ...opts] = spec.split(',');
  if (!path) return `disk "${spec}": missing path`;
  const d: DiskSpec = { path, readonly: false, cache: 'writeback' };
  for (const o of opts) {
    if (o === 'ro' || o === 'readonly') d.readonly = true;
    else if (o === 'rw') d.readonly = false;
    else if (o.startsWith('cache=') && (DISK_CACHES as readonly string[]).includes(o.slice(6))) {
      d.cache = o.slice(6) as DiskCache;
    } else return `disk "${spec}": unknown option "${o}" (use ro, cache=${DISK_CACHES.join('|')})`;
  }
  return d;
}

/** "SWITCH[,mac=MAC]" (the --net syntax) -> partial NetSpec, or an error message. */
export function parseNetSpec(spec: string): { switch: string; mac?: string } | string {
  const [sw, ...opts] = spec.split(',');
  if (!sw || !NAME_RE.test(sw)) return `net "${spec}": expected a switch name first`;
  const n: { switch: string; mac?: string } = { switch: sw };
  for (const o of opts) {
    if (o.startsWith('mac=')) n.mac = o.slice(4);
    else return `net "${spec}": unknown option "${o}" (use mac=XX:XX:XX:XX:XX:XX)`;
  }
  return n;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAC_RE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

/** A locally administered, unicast MAC derived from the domain and NIC numbers. */
export function defaultMac(domain: number, nic: number): string {
  const h = (n: number) => (n & 0xff).toString(16).padStart(2, '0');
  return `52:54:00:${h(domain >> 8)}:${h(domain)}:${h(nic)}`;
}

// ---------------------------------------------------------------- schema

const path = z.string().min(1, 'expected a non-empty path');
const name = z.string().regex(NAME_RE, 'expected a name of letters, digits, "_", "." or "-" (at most 64)');

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (typeof n === 'string') {
    ctx.addIssue({ code: 'custom', message: n });
    return z.NEVER;
  }
  return n;
});

const diskObject = z.strictObject({
  path,
  readonly: z.boolean().default(false),
  cache: z.enum(['writeback', 'writethrough', 'unsafe']).default('writeback'),
});
const disk = z.union([
  z.string().transform((s, ctx): DiskSpec => {
    const d = parseDiskSpec(s);
    if (typeof d === 'string') {
      ctx.addIssue({ code: 'custom', message: d });
      return z.NEVER;
    }
    return d;
  }),
  diskObject,
]);

const mac = z
  .string()
  .regex(MAC_RE, 'expected a MAC like 52:54:00:12:34:56')
  .refine((m) => (Number.parseInt(m.slice(0, 2), 16) & 1) === 0, 'expected a unicast MAC (first octet even)')
  .refine((m) => !/^(00:){5}00$/.test(m), 'the all-zero MAC is not usable');
const netObject = z.strictObject({ switch: name.default('default'), mac: mac.optional() });
const net = z.union([
  z.string().transform((s, ctx) => {
    const n = parseNetSpec(s);
    if (typeof n === 'string') {
      ctx.addIssue({ code: 'custom', message: n });
      return z.NEVER;
    }
    if (n.mac !== undefined && !mac.safeParse(n.mac).success) {
      ctx.addIssue({ code: 'custom', message: `net "${s}": bad mac "${n.mac}"` });
      return z.NEVER;
    }
    return n;
  }),
  netObject,
]);

const consoleTarget = z.union([z.enum(['stdio', 'prefix', 'none']), z.strictObject({ file: path })]);

const domainSchema = z
  .strictObject({
    name: name.optional().describe('Domain name, unique in the document (default vm0, vm1, ...)'),
    kernel: path.optional().describe('Linux Image or ELF kernel (default: the embedded guest)'),
    initrd: path.optional().describe('Initial ramdisk (needs a kernel)'),
    append: z.string().optional().describe('Kernel command line'),
    memory: size
      .default(128 * MiB)
      .pipe(
        z
          .number()
          .min(MIN_MEMORY, `at least ${MIN_MEMORY / MiB}M`)
          .max(MAX_MEMORY, `at most ${MAX_MEMORY / MiB}M`)
          .refine((n) => n % 4096 === 0, 'expected a multiple of 4 KiB'),
      )
      .describe('RAM: a size like 512M or 1G; a bare number is MiB'),
    smp: z.number().int('expected a whole number of vCPUs').min(1).max(MAX_SMP).default(1).describe('vCPUs'),
    mode: z.enum(['pv', 'full']).default('pv').describe('pv: pvm is the firmware; full: the guest brings its own'),
    firmware: path.optional().describe('M-mode firmware for mode: full (e.g. OpenSBI fw_jump.bin)'),
    disks: z.array(disk).default([]).describe('Block devices vda, vdb, ... in order'),
    nets: z.array(net).default([]).describe('NICs, each a port of a named virtual switch'),
    console: consoleTarget
      .optional()
      .describe('Where hvc0/ttyS0 output goes (default stdio, prefix for several domains)'),
    rng: z.boolean().default(true).describe('virtio-rng fed by the host RNG'),
    balloon: z.boolean().default(true).describe('virtio-balloon'),
  })
  .superRefine((d, ctx) => {
    if (d.firmware !== undefined && d.mode !== 'full') {
      ctx.addIssue({ code: 'custom', path: ['firmware'], message: 'firmware is only used with mode: full' });
    }
    if (d.initrd !== undefined && d.kernel === undefined) {
      ctx.addIssue({ code: 'custom', path: ['initrd'], message: 'initrd needs a kernel' });
    }
    const slots = 1 + d.disks.length + d.nets.length + (d.rng ? 1 : 0) + (d.balloon ? 1 : 0);
    if (slots > VIRTIO_SLOT_COUNT) {
      ctx.addIssue({
        code: 'custom',
        path: ['disks'],
        message: `${slots} virtio devices (console, ${d.disks.length} disks, ${d.nets.length} nets, rng, balloon) do not fit ${VIRTIO_SLOT_COUNT} slots`,
      });
    }
  });

const switchSchema = z.strictObject({ enforceSourceMac: z.boolean().default(true) });

const documentSchema = z.strictObject({
  version: z.literal(CONFIG_VERSION).default(CONFIG_VERSION),
  domains: z.array(domainSchema).min(1, 'expected at least one domain'),
  switches: z.record(name, switchSchema).default({}),
});

/** The document schema (input side), for the daemon's OpenAPI description. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(documentSchema, { io: 'input', unrepresentable: 'any' });
}

// ---------------------------------------------------------------- errors

type Issue = z.core.$ZodIssue;

function fieldPath(p: readonly PropertyKey[]): string {
  let s = '';
  for (const k of p) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s === '' ? '(document)' : s;
}

/** One readable line per issue; for a union, the branch that got furthest explains best. */
function describe(issue: Issue, base: readonly PropertyKey[] = []): string[] {
  const at = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const depth = (errs: readonly Issue[]) => Math.max(...errs.map((e) => e.path.length));
    const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    if (depth(best) > 0 || best.some((e) => e.code === 'custom')) return best.flatMap((e) => describe(e, at));
    const expected = issue.errors.map((b) => (b[0]?.code === 'invalid_type' ? b[0].expected : 'something else'));
    return [`${fieldPath(at)}: expected ${[...new Set(expected)].join(' or ')}`];
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${fieldPath([...at, k])}: unknown field`);
  }
  const msg = issue.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
  return [`${fieldPath(at)}: ${msg}`];
}

// ---------------------------------------------------------------- entry points

export interface ParseOptions {
  /** Name for messages (the file name). */
  source?: string;
  /** "json" or "yaml"; default: guessed from `source`, else YAML (a superset of JSON). */
  format?: 'json' | 'yaml';
}

/**
 * Validates a parsed document (JSON value) and fills in defaults: names vm0, vm1...,
 * MACs, console (stdio for one domain, prefix for several). Cross-checks: unique domain
 * names, unique MACs per switch, no image opened writable twice.
 */
export function validateConfig(doc: unknown, source = 'config'): PvmConfig {
  const wrapped =
    doc !== null && typeof doc === 'object' && !Array.isArray(doc) && !('domains' in doc) ? { domains: [doc] } : doc;
  const r = documentSchema.safeParse(wrapped);
  if (!r.success) {
    const lines = r.error.issues.flatMap((i) => describe(i));
    throw new PvmError('usage', `${source}: ${lines.slice(0, 10).join(`\n${source}: `)}`);
  }
  const d = r.data;
  const problems: string[] = [];
  const names = new Set<string>();
  const macs = new Map<string, string>();
  const writers = new Map<string, string>();
  const domains: DomainSpec[] = d.domains.map((dom, i) => {
    const name = dom.name ?? `vm${i}`;
    if (names.has(name)) problems.push(`domains[${i}].name: "${name}" is used by another domain`);
    names.add(name);
    const nets = dom.nets.map((n, k) => ({ switch: n.switch, mac: (n.mac ?? defaultMac(i, k)).toLowerCase() }));
    nets.forEach((n, k) => {
      const key = `${n.switch}/${n.mac}`;
      const other = macs.get(key);
      if (other !== undefined)
        problems.push(`domains[${i}].nets[${k}].mac: ${n.mac} is also ${other} on switch ${n.switch}`);
      else macs.set(key, `domains[${i}].nets[${k}]`);
    });
    dom.disks.forEach((k, j) => {
      if (k.readonly) return;
      const other = writers.get(k.path);
      if (other !== undefined)
        problems.push(`domains[${i}].disks[${j}].path: ${k.path} is already writable as ${other}`);
      else writers.set(k.path, `domains[${i}].disks[${j}]`);
    });
    const out: DomainSpec = {
      name,
      memory: dom.memory,
      smp: dom.smp,
      mode: dom.mode,
      disks: dom.disks,
      nets,
      console: dom.console ?? (d.domains.length === 1 ? 'stdio' : 'prefix'),
      rng: dom.rng,
      balloon: dom.balloon,
    };
    if (dom.kernel !== undefined) out.kernel = dom.kernel;
    if (dom.initrd !== undefined) out.initrd = dom.initrd;
    if (dom.append !== undefined) out.append = dom.append;
    if (dom.firmware !== undefined) out.firmware = dom.firmware;
    return out;
  });
  if (problems.length > 0) throw new PvmError('usage', `${source}: ${problems.join(`\n${source}: `)}`);
  const switches: Record<string, SwitchConfig> = { ...d.switches };
  for (const dom of domains) for (const n of dom.nets) switches[n.switch] ??= { enforceSourceMac: true };
  return { version: CONFIG_VERSION, domains, switches };
}

/**
 * The input document for a validated config (memory as a size string): feeding it back to
 * `validateConfig` gives the same config. The daemon stores and returns this form.
 */
export function toDocument(cfg: PvmConfig): unknown {
  const size = (b: number) => (b % MiB === 0 ? `${b / MiB}M` : `${b / 1024}K`);
  return {
    version: cfg.version,
    domains: cfg.domains.map((d) => ({ ...d, memory: size(d.memory) })),
    switches: cfg.switches,
  };
}
