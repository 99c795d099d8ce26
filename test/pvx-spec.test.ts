/**
 * docs/para-api-pvx.md is the PVX 1.0 reference; guests/pvos/include/pvx.h is
 * its machine-readable mirror in C. Every number of the document's tables
 * must appear in the header with the same value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '../../..');
const doc = readFileSync(join(root, 'docs/para-api-pvx.md'), 'utf8');
const header = readFileSync(join(root, 'guests/pvos/include/pvx.h'), 'utf8');

/** `#define NAME value` with value a number, `(-n)` or `(1UL << n)`. */
function defines(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of header.matchAll(/^#define (\w+) (.+)$/gm)) {
    const v = m[2]!.trim().replace(/(\d|[0-9a-fA-F])U?L?\b/g, '$1');
    let n: bigint | undefined;
    let r: RegExpExecArray | null;
    if ((r = /^(0x[0-9a-fA-F]+|\d+)$/.exec(v))) n = BigInt(r[1]!);
    else if ((r = /^\(-(\d+)\)$/.exec(v))) n = -BigInt(r[1]!);
    else if ((r = /^\(1 << (\d+)\)$/.exec(v))) n = 1n << BigInt(r[1]!);
    if (n !== undefined) out.set(m[1]!, n);
  }
  return out;
}

const h = defines();
const num = (s: string): bigint => BigInt(s.replace(/_/g, ''));
function expectDefine(name: string, value: bigint): void {
  assert.ok(h.has(name), `pvx.h lacks ${name}`);
  assert.equal(h.get(name), value, `${name} in pvx.h`);
}

test('extension id', () => {
  const m = /`PVX_EID` = \*\*(0x[0-9A-F_]+)\*\*/.exec(doc);
  assert.ok(m);
  expectDefine('PVX_EID', num(m[1]!));
  assert.equal(num(m[1]!), 0x0a50_5658n);
});

test('function ids: the table of §2', () => {
  const rows = [...doc.matchAll(/^\| (0x[0-9a-f]{3}) \| `(PVX_\w+)` \|/gm)];
  assert.equal(rows.length, 27);
  for (const [, fid, name] of rows) expectDefine(name!, num(fid!));
});

test('error codes, feature bits, limits, VIRQs, grant flags', () => {
  const errors = [...doc.matchAll(/^\| `(SBI_\w+)` \| (-?\d+) \|/gm)];
  assert.equal(errors.length, 14);
  for (const [, name, v] of errors) expectDefine(name!, BigInt(v!));
  const features = [...doc.matchAll(/^\| (\d) \| `(PVX_F_\w+)` \|/gm)];
  assert.equal(features.length, 9);
  for (const [, bit, name] of features) expectDefine(name!, 1n << BigInt(bit!));
  const limits = [...doc.matchAll(/^\| (\d) \| `(PVX_LIMIT_\w+)` \| ([^|]+)\|/gm)];
  assert.equal(limits.length, 8);
  const limitValue: Record<string, string> = {
    PVX_LIMIT_EVTCHN_PORTS: 'PVX_EVTCHN_NR_PORTS',
    PVX_LIMIT_GNTTAB_FRAMES: 'PVX_GNTTAB_MAX_FRAMES',
    PVX_LIMIT_GNT_WINDOW_BASE: 'PVX_GNT_WINDOW_BASE',
    PVX_LIMIT_GNT_WINDOW_SIZE: 'PVX_GNT_WINDOW_SIZE',
    PVX_LIMIT_MULTICALL_ENTRIES: 'PVX_MULTICALL_MAX',
    PVX_LIMIT_POLL_PORTS: 'PVX_POLL_MAX_PORTS',
    PVX_LIMIT_MEMORY_BATCH: 'PVX_MEMORY_BATCH_MAX',
  };
  for (const [, id, name, value] of limits) {
    expectDefine(name!, BigInt(id!));
    const constant = limitValue[name!];
    if (constant) expectDefine(constant, num(value!.trim().split(' ')[0]!));
  }
  const virqs = [...doc.matchAll(/^\| (\d) \| `(PVX_VIRQ_\w+)` \|/gm)];
  assert.equal(virqs.length, 4);
  for (const [, v, name] of virqs) expectDefine(name!, BigInt(v!));
  const flags = [...doc.matchAll(/^\| [\d.]+ \| (0x[0-9a-f]+|\d+) \| `(GTF_\w+)` \|/gm)];
  assert.equal(flags.length, 4);
  for (const [, v, name] of flags) expectDefine(name!, num(v!));
});

test('shared info and multicall layouts', () => {
  const shinfo: Record<string, string> = {
    evtchn_pending: 'PVX_SHINFO_EVTCHN_PENDING',
    evtchn_mask: 'PVX_SHINFO_EVTCHN_MASK',
    wc_version: 'PVX_SHINFO_WC_VERSION',
    wc_sec: 'PVX_SHINFO_WC_SEC',
    wc_nsec: 'PVX_SHINFO_WC_NSEC',
    shutdown_request: 'PVX_SHINFO_SHUTDOWN_REQUEST',
    mem_target_frames: 'PVX_SHINFO_MEM_TARGET',
  };
  for (const [field, name] of Object.entries(shinfo)) {
    const m = new RegExp(`^(0x[0-9a-f]{3}) +\\S+ +${field}\\b`, 'm').exec(doc);
    assert.ok(m, `layout row for ${field}`);
    expectDefine(name, num(m[1]!));
  }
  const vcpu: Record<string, string> = {
    upcall_pending: 'PVX_VI_UPCALL_PENDING',
    upcall_mask: 'PVX_VI_UPCALL_MASK',
    evtchn_pending_sel: 'PVX_VI_PENDING_SEL',
  };
  for (const [field, name] of Object.entries(vcpu)) {
    const m = new RegExp(`^\\+(\\d+) +\\S+ +${field}\\b`, 'm').exec(doc);
    assert.ok(m, `vcpu_info row for ${field}`);
    expectDefine(name, BigInt(m[1]!));
  }
  const mc: Record<string, string> = {
    eid: 'PVX_MC_EID',
    fid: 'PVX_MC_FID',
    'args\\[6\\]': 'PVX_MC_ARGS',
    error: 'PVX_MC_ERROR',
    value: 'PVX_MC_VALUE',
  };
  for (const [field, name] of Object.entries(mc)) {
    const m = new RegExp(`^\\+(\\d+) +[ui]\\d+ ${field}( |$)`, 'm').exec(doc);
    assert.ok(m, `multicall row for ${field}`);
    expectDefine(name, BigInt(m[1]!));
  }
  const size = /^Entry \((\d+) bytes, 8-byte aligned/m.exec(doc);
  assert.ok(size);
  expectDefine('PVX_MC_ENTRY_SIZE', BigInt(size[1]!));
});
