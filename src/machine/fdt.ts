/**
 * A flattened device tree (DTB) writer: build nodes and properties in
 * memory, then `toBytes()` emits a version 17 blob (Devicetree Specification
 * v0.4, chapter 5 "Flattened Devicetree (DTB) Format"): header, memory
 * reservation block, structure block, strings block.
 */

import { utf8Encode } from '../core/utf8.js';

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;
const HEADER_SIZE = 40;
const VERSION = 17;
const LAST_COMP_VERSION = 16;

const enc = { encode: utf8Encode };

/** One node: ordered properties and ordered children. */
export class FdtNode {
  readonly name: string;
  readonly props = new Map<string, Uint8Array>();
  readonly children: FdtNode[] = [];
  private handle = 0;

  constructor(
    private readonly tree: Fdt,
    name: string,
  ) {
    this.name = name;
  }

  /** Adds a child node (name with optional unit address, e.g. `serial@10000000`). */
  addNode(name: string): FdtNode {
    if (this.child(name) !== undefined) throw new Error(`FDT node ${name} already exists`);
    if (name.length === 0 || name.includes('/')) throw new Error(`bad FDT node name '${name}'`);
    const n = new FdtNode(this.tree, name);
    this.children.push(n);
    return n;
  }

  /** The child called `name`, if any. */
  child(name: string): FdtNode | undefined {
    return this.children.find((c) => c.name === name);
  }

  /** Removes the child called `name`; true when it existed. */
  removeNode(name: string): boolean {
    const i = this.children.findIndex((c) => c.name === name);
    if (i < 0) return false;
    this.children.splice(i, 1);
    return true;
  }

  /** Raw property value (replaces an earlier value of the same name). */
  bytes(name: string, value: Uint8Array): this {
    this.props.set(name, value);
    return this;
  }

  /** A property with no value (e.g. `interrupt-controller`, `ranges`). */
  empty(name: string): this {
    return this.bytes(name, new Uint8Array(0));
  }

  /** One or more 32-bit big-endian cells. */
  u32(name: string, ...cells: number[]): this {
    const b = new Uint8Array(4 * cells.length);
    const v = new DataView(b.buffer);
    cells.forEach((c, i) => {
      v.setUint32(4 * i, c >>> 0);
    });
    return this.bytes(name, b);
  }

  /** One or more 64-bit values, each as two cells (high, low). Numbers must be safe integers. */
  u64(name: string, ...values: (number | bigint)[]): this {
    const b = new Uint8Array(8 * values.length);
    const v = new DataView(b.buffer);
    values.forEach((x, i) => {
      v.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(x)));
    });
    return this.bytes(name, b);
  }

  /** A NUL-terminated string. */
  string(name: string, s: string): this {
    return this.strings(name, [s]);
  }

  /** A string list: each string NUL-terminated, concatenated. */
  strings(name: string, list: readonly string[]): this {
    const parts = list.map((s) => enc.encode(s));
    const b = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
    let o = 0;
    for (const p of parts) {
      b.set(p, o);
      o += p.length + 1;
    }
    return this.bytes(name, b);
  }

  /** This node's phandle, allocated (and its `phandle` property set) on first use. */
  phandle(): number {
    if (this.handle === 0) {
      this.handle = this.tree.allocPhandle();
      this.u32('phandle', this.handle);
    }
    return this.handle;
  }
}

export interface FdtOptions {
  /** `boot_cpuid_phys` in the header. */
  bootCpuid?: number;
}

/** A device tree under construction. */
export class Fdt {
  readonly root: FdtNode;
  readonly reservations: { address: bigint; size: bigint }[] = [];
  bootCpuid: number;
  private nextPhandle = 1;

  constructor(opts: FdtOptions = {}) {
    this.root = new FdtNode(this, '');
    this.bootCpuid = opts.bootCpuid ?? 0;
  }

  allocPhandle(): number {
    return this.nextPhandle++;
  }

  /** The node at an absolute path such as `/soc/serial@10000000`, or undefined. */
  find(path: string): FdtNode | undefined {
    if (!path.startsWith('/')) return undefined;
    let n: FdtNode | undefined = this.root;
    for (const part of path.split('/')) {
      if (part === '' || n === undefined) continue;
      n = n.child(part);
    }
    return n;
  }

  /** Adds a memory reservation block entry. */
  reserve(address: number | bigint, size: number | bigint): void {
    this.reservations.push({ address: BigInt(address), size: BigInt(size) });
  }

  /**
   * Serializes the tree. `extraSpace` bytes of zeros are appended inside
   * `totalsize` so that firmware can edit the tree in place (OpenSBI grows
   * it with fdt_open_into).
   */
  toBytes(extraSpace = 0): Uint8Array {
    // Strings block, deduplicated in first-use order.
    const strOff = new Map<string, number>();
    const strParts: Uint8Array[] = [];
    let strSize = 0;
    const nameOff = (name: string): number => {
      let o = strOff.get(name);
      if (o === undefined) {
        o = strSize;
        strOff.set(name, o);
        const b = enc.encode(`${name}\0`);
        strParts.push(b);
        strSize += b.length;
      }
      return o;
    };

    // Structure block as a list of words and byte chunks.
    const chunks: Uint8Array[] = [];
    let structSize = 0;
    const word = (w: number) => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, w);
      chunks.push(b);
      structSize += 4;
    };
    const padded = (data: Uint8Array) => {
      const len = (data.length + 3) & ~3;
      const b = new Uint8Array(len);
      b.set(data);
      chunks.push(b);
      structSize += len;
    };
    const emit = (n: FdtNode) => {
      word(FDT_BEGIN_NODE);
      padded(enc.encode(`${n.name}\0`));
      for (const [name, value] of n.props) {
        word(FDT_PROP);
        word(value.length);
        word(nameOff(name));
        padded(value);
      }
      for (const c of n.children) emit(c);
      word(FDT_END_NODE);
    };
    emit(this.root);
    word(FDT_END);

    const rsvOff = HEADER_SIZE; // 8-byte aligned
    const rsvSize = 16 * (this.reservations.length + 1);
    const structOff = rsvOff + rsvSize;
    const stringsOff = structOff + structSize;
    const used = stringsOff + strSize;
    const total = (used + Math.max(0, Math.floor(extraSpace)) + 7) & ~7;

    const out = new Uint8Array(total);
    const v = new DataView(out.buffer);
    const header = [
      FDT_MAGIC,
      total,
      structOff,
      stringsOff,
      rsvOff,
      VERSION,
      LAST_COMP_VERSION,
      this.bootCpuid,
      strSize,
      structSize,
    ];
    header.forEach((h, i) => {
      v.setUint32(4 * i, h >>> 0);
    });
    this.reservations.forEach((r, i) => {
      v.setBigUint64(rsvOff + 16 * i, r.address);
      v.setBigUint64(rsvOff + 16 * i + 8, r.size);
    });
    let o = structOff;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    for (const s of strParts) {
      out.set(s, o);
      o += s.length;
    }
    return out;
  }
}
