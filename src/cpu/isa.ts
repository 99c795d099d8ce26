/**
 * Which optional extensions a hart implements, and how the device tree names them.
 *
 * Every hart is RV64IMAFDC with Zicsr, Zifencei and Zihintpause (PAUSE is a FENCE hint, a no-op
 * here as on any hart without it) and M/S/U modes. On top of that, each of the extensions below
 * can be left out, as QEMU's `-cpu rv64,zba=false,...` does: its instructions (or, for Sstc,
 * `stimecmp` and `menvcfg.STCE`) are then illegal, and the device tree does not list it. QEMU
 * 7.2's default CPU has all of them except Zicond, which it does not know.
 */

/** Bits of `Hart.ext`. */
export const Ext = {
  ZBA: 1 << 0,
  ZBB: 1 << 1,
  ZBC: 1 << 2,
  ZBS: 1 << 3,
  ZICOND: 1 << 4,
  SSTC: 1 << 5,
} as const;

/** The optional extensions by name (lower case, as in an ISA string). */
export interface HartExtensions {
  zba: boolean;
  zbb: boolean;
  zbc: boolean;
  zbs: boolean;
  zicond: boolean;
  sstc: boolean;
}

/** Every optional extension on: what a hart has unless told otherwise. */
export const ALL_EXTENSIONS: Readonly<HartExtensions> = {
  zba: true,
  zbb: true,
  zbc: true,
  zbs: true,
  zicond: true,
  sstc: true,
};

/** The `Hart.ext` mask of a set of extensions. */
export function extMask(e: Readonly<HartExtensions>): number {
  return (
    (e.zba ? Ext.ZBA : 0) |
    (e.zbb ? Ext.ZBB : 0) |
    (e.zbc ? Ext.ZBC : 0) |
    (e.zbs ? Ext.ZBS : 0) |
    (e.zicond ? Ext.ZICOND : 0) |
    (e.sstc ? Ext.SSTC : 0)
  );
}

/**
 * The extensions in the device tree's order: the single letters, then the Z extensions grouped
 * by their first letter in I, M, A, F, D, C, B order and alphabetically within a group, then
 * the S extensions (unprivileged spec ch. 37, "ISA Extension Naming Conventions").
 */
export function isaExtensions(e: Readonly<HartExtensions>): string[] {
  const list = ['i', 'm', 'a', 'f', 'd', 'c'];
  if (e.zicond) list.push('zicond');
  list.push('zicsr', 'zifencei', 'zihintpause');
  for (const z of ['zba', 'zbb', 'zbc', 'zbs'] as const) if (e[z]) list.push(z);
  if (e.sstc) list.push('sstc');
  return list;
}

/** The `riscv,isa` string: `rv64imafdc` and the multi-letter extensions joined by `_`. */
export function isaString(e: Readonly<HartExtensions>): string {
  const l = isaExtensions(e);
  return `rv64${l.filter((x) => x.length === 1).join('')}_${l.filter((x) => x.length > 1).join('_')}`;
}
