import { BaseExtension } from './base.js';
import { Eid } from './consts.js';
import { hsmExtension } from './hsm.js';
import { legacyExtension } from './legacy.js';
import { PVX_CALLS } from './pvx/calls.js';
import { dbcnExtension, srstExtension, staExtension } from './srst-dbcn-sta.js';
import { ipiExtension, rfenceExtension, timeExtension } from './timer-ipi-rfence.js';
import type { SbiExtension } from './types.js';

/**
 * Which hypercalls a domain may make (docs/para-api.md, "Hypercall policy").
 *
 * A policy is a list of entries: `EXT` allows every function of an extension, `EXT/function` one
 * function (names as `pvm stats` counts them: `TIME/set_timer`, `PVX/evtchn_send`,
 * `LEGACY/console_putchar`). `null` allows everything (the default). BASE is always allowed: it
 * only describes the implementation, and its `probe_extension` is how a guest learns what the
 * policy left it (an extension none of whose functions is allowed probes as absent).
 *
 * A denied call returns SBI_ERR_DENIED and is counted (under its own name and under
 * `denied`). A running domain's policy can only be tightened (the intersection with a new
 * list), as seccomp filters are: a guest never gains a call it was once refused.
 */

/** Extensions a policy can name, with their functions (what the dispatcher counts). */
export const HYPERCALL_CATALOG: Readonly<Record<string, readonly string[]>> = buildCatalog();

function buildCatalog(): Record<string, readonly string[]> {
  const out: Record<string, readonly string[]> = Object.create(null);
  const std: [SbiExtension, number][] = [
    [new BaseExtension(() => 0), Eid.BASE],
    [timeExtension, Eid.TIME],
    [ipiExtension, Eid.IPI],
    [rfenceExtension, Eid.RFENCE],
    [hsmExtension, Eid.HSM],
    [srstExtension, Eid.SRST],
    [dbcnExtension, Eid.DBCN],
    [staExtension, Eid.STA],
  ];
  for (const [ext, eid] of std) {
    const fns: string[] = [];
    for (let f = 0; f < 64; f++) {
      const n = ext.functionName(eid, f);
      if (n !== undefined) fns.push(n);
    }
    out[ext.name] = fns;
  }
  const legacy: string[] = [];
  for (let e = Eid.LEGACY_SET_TIMER; e <= Eid.LEGACY_SHUTDOWN; e++) {
    const n = legacyExtension.functionName(e, 0);
    if (n !== undefined) legacy.push(n);
  }
  out[legacyExtension.name] = legacy;
  out.PVX = PVX_CALLS.map((c) => c.name);
  return out;
}

/** Always allowed, whatever the policy says. */
const ALWAYS = 'BASE';

/** Why a policy entry is not one: null when it names a known extension or function. */
export function policyEntryError(entry: string): string | null {
  const slash = entry.indexOf('/');
  const ext = slash < 0 ? entry : entry.slice(0, slash);
  const fns = Object.hasOwn(HYPERCALL_CATALOG, ext) ? HYPERCALL_CATALOG[ext] : undefined;
  if (fns === undefined) {
    return `unknown hypercall extension ${JSON.stringify(ext)} (one of ${Object.keys(HYPERCALL_CATALOG).join(', ')})`;
  }
  if (slash >= 0 && !fns.includes(entry.slice(slash + 1))) {
    return `unknown ${ext} function ${JSON.stringify(entry.slice(slash + 1))} (one of ${fns.join(', ')})`;
  }
  return null;
}

export class HypercallPolicy {
  /** The entries (sorted, without duplicates), or null for "everything". */
  readonly entries: readonly string[] | null;
  private readonly extensions: ReadonlySet<string>;
  private readonly functions: ReadonlySet<string>;

  /** `entries` null: everything allowed. Throws on an entry that names nothing (policyEntryError). */
  constructor(entries: readonly string[] | null) {
    this.entries = entries === null ? null : [...new Set(entries)].sort();
    const ext = new Set<string>();
    const fns = new Set<string>();
    for (const e of this.entries ?? []) {
      const why = policyEntryError(e);
      if (why !== null) throw new Error(why);
      if (e.includes('/')) fns.add(e);
      else ext.add(e);
    }
    this.extensions = ext;
    this.functions = fns;
  }

  allows(ext: string, fn: string): boolean {
    if (this.entries === null || ext === ALWAYS) return true;
    return this.extensions.has(ext) || this.functions.has(`${ext}/${fn}`);
  }

  /** Whether any function of `ext` is allowed (probe_extension answers 0 otherwise). */
  allowsAny(ext: string): boolean {
    if (this.entries === null || ext === ALWAYS || this.extensions.has(ext)) return true;
    for (const f of this.functions) if (f.startsWith(`${ext}/`)) return true;
    return false;
  }

  /** What both this policy and `entries` allow (tightening: never more than now). */
  tighten(entries: readonly string[] | null): HypercallPolicy {
    const other = new HypercallPolicy(entries);
    if (this.entries === null) return other;
    if (other.entries === null) return this;
    const out = new Set<string>();
    for (const e of this.extensions) if (other.extensions.has(e)) out.add(e);
    const both = (a: HypercallPolicy, b: HypercallPolicy) => {
      for (const f of a.functions) {
        const [ext, fn] = f.split('/') as [string, string];
        if (b.allows(ext, fn)) out.add(f);
      }
    };
    both(this, other);
    both(other, this);
    return new HypercallPolicy([...out]);
  }
}

/** The policy that allows every call. */
export const ALLOW_ALL = new HypercallPolicy(null);
