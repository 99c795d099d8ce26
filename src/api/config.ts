/**
 * The pvm configuration file: one or more domains (each a domain document, src/api/spec.ts)
 * and the virtual switches they share, as JSON or YAML. `pvm run FILE` runs every domain of it
 * in one process; `pvm create FILE` hands each domain to the daemon.
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
 *       - user                                   # its own user-mode network (passt)
 *       - { switch: wan, uplink: user, publish: ["8080:80", "127.0.0.1:5353:53/udp"] }
 *     shares:
 *       - ./www:www,ro                           # shorthand: HOSTDIR:TAG[,ro]
 *     rng: true
 *     console: prefix            # stdio | prefix | none | { file: path }
 * switches:
 *   lan: { enforceSourceMac: true }
 * ```
 *
 * A document that is a single domain (no `domains` key) is accepted too. Every error
 * names the field it is about, e.g. `domains[0].disks[1].cache: expected one of ...`.
 */
import { z } from 'zod';
import {
  type DomainSpec,
  describeIssue,
  fieldPath,
  fileDomainSchema,
  fileDomainSpec,
  specError,
  USER_SWITCH,
  withMacs,
} from './spec.js';

export const CONFIG_VERSION = 1;

export interface SwitchConfig {
  enforceSourceMac: boolean;
}

/** A validated config file: its domains as specs, and the switches. */
export interface PvmConfig {
  version: 1;
  domains: DomainSpec[];
  switches: Record<string, SwitchConfig>;
}

const switchName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a switch name');
const switchSchema = z.strictObject({ enforceSourceMac: z.boolean().default(true) });

const documentSchema = z.strictObject({
  version: z.literal(CONFIG_VERSION).default(CONFIG_VERSION),
  domains: z.array(z.unknown()).min(1, 'expected at least one domain'),
  switches: z.record(switchName, switchSchema).default({}),
});

/** The whole file's schema (input side), for tools that want to check a file before running it. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(documentSchema.extend({ domains: z.array(fileDomainSchema).min(1) }), {
    io: 'input',
    unrepresentable: 'any',
  });
}

/**
 * Validates a parsed document (JSON value) and fills in defaults: names vm0, vm1..., console
 * (stdio for one domain, prefix for several). NICs without a MAC keep none: `pvm run` gives
 * domain i `defaultMac(i, nic)`, the daemon `defaultMac(id, nic)`. Cross-checks: unique domain
 * names, unique MACs per switch (as `pvm run` assigns them), no image opened writable twice.
 */
export function validateConfig(doc: unknown, source = 'config'): PvmConfig {
  const wrapped =
    doc !== null && typeof doc === 'object' && !Array.isArray(doc) && !('domains' in doc) ? { domains: [doc] } : doc;
  const top = documentSchema.safeParse(wrapped);
  if (!top.success)
    throw specError(
      source,
      top.error.issues.flatMap((i) => describeIssue(i, fieldPath)),
    );
  const problems: string[] = [];
  const specs: DomainSpec[] = [];
  top.data.domains.forEach((raw, i) => {
    const r = fileDomainSchema.safeParse(raw);
    if (!r.success) {
      problems.push(...r.error.issues.flatMap((is) => describeIssue(is, fieldPath, ['domains', i])));
      return;
    }
    specs.push(fileDomainSpec(r.data, `vm${i}`, top.data.domains.length === 1));
  });
  if (problems.length > 0) throw specError(source, problems);

  const names = new Set<string>();
  const macs = new Map<string, string>();
  const writers = new Map<string, string>();
  specs.forEach((spec, i) => {
    // The MACs the builder will give NICs that name none (`pvm run FILE` builds domain i with ordinal i).
    spec = withMacs(spec, i);
    if (names.has(spec.name)) problems.push(`domains[${i}].name: "${spec.name}" is used by another domain`);
    names.add(spec.name);
    let nic = 0;
    let disk = 0;
    for (const d of spec.devices) {
      if (d.kind === 'net') {
        const at = `domains[${i}].nets[${nic++}]`;
        if (d.switch === USER_SWITCH) continue; // a switch of its own
        const key = `${d.switch}/${d.mac}`;
        const other = macs.get(key);
        if (other !== undefined) problems.push(`${at}.mac: ${d.mac} is also ${other} on switch ${d.switch}`);
        else macs.set(key, at);
      } else if (d.kind === 'blk') {
        const at = `domains[${i}].disks[${disk++}]`;
        if (d.readonly) continue;
        const other = writers.get(d.path);
        if (other !== undefined) problems.push(`${at}.path: ${d.path} is already writable as ${other}`);
        else writers.set(d.path, at);
      }
    }
  });
  if (problems.length > 0) throw specError(source, problems);
  const switches: Record<string, SwitchConfig> = { ...top.data.switches };
  for (const spec of specs) {
    for (const d of spec.devices) {
      if (d.kind === 'net' && d.switch !== USER_SWITCH) switches[d.switch] ??= { enforceSourceMac: true };
    }
  }
  return { version: CONFIG_VERSION, domains: specs, switches };
}
