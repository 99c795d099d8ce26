/**
 * The numbers the hypervisor uses (src/sbi/pvx/consts.ts) are the numbers
 * of the C mirror of PVX 1.0 (guests/pvos/include/pvx.h), which test/pvx-spec
 * checks against docs/para-api-pvx.md: one chain from the document to pvm.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as P from '../src/sbi/pvx/consts.js';

const root = join(fileURLToPath(import.meta.url), '../../..');
const header = readFileSync(join(root, 'guests/pvos/include/pvx.h'), 'utf8');

function defines(): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of header.matchAll(/^#define (\w+) (.+)$/gm)) {
    const v = m[2]!.trim().replace(/([0-9a-fA-F])U?L?\b/g, '$1');
    let r: RegExpExecArray | null;
    if ((r = /^(0x[0-9a-fA-F]+|\d+)$/.exec(v))) out.set(m[1]!, BigInt(r[1]!));
    else if ((r = /^\(1 << (\d+)\)$/.exec(v))) out.set(m[1]!, 1n << BigInt(r[1]!));
  }
  return out;
}

test('src/sbi/pvx/consts.ts agrees with guests/pvos/include/pvx.h', () => {
  const h = defines();
  const pairs: [string, number][] = [
    ['PVX_EID', P.PVX_EID],
    ['PVX_DOMID_SELF', P.PVX_DOMID_SELF],
    ['PVX_DOMID_MAX', P.PVX_DOMID_MAX],
    ['PVX_F_ALL_1_0', P.PVX_FEATURES_ALL],
    ['PVX_LIMIT_COUNT', P.PVX_LIMIT_COUNT],
    ['PVX_EVTCHN_NR_PORTS', P.PVX_EVTCHN_NR_PORTS],
    ['PVX_GNTTAB_MAX_FRAMES', P.PVX_GNTTAB_MAX_FRAMES],
    ['PVX_GNTTAB_ENTRIES_PER_FRAME', P.PVX_GNTTAB_ENTRIES_PER_FRAME],
    ['PVX_GNT_WINDOW_BASE', P.PVX_GNT_WINDOW_BASE],
    ['PVX_GNT_WINDOW_SIZE', P.PVX_GNT_WINDOW_SIZE],
    ['PVX_MULTICALL_MAX', P.PVX_MULTICALL_MAX],
    ['PVX_MAX_VCPUS', P.PVX_MAX_VCPUS],
    ['PVX_POLL_MAX_PORTS', P.PVX_POLL_MAX_PORTS],
    ['PVX_MEMORY_BATCH_MAX', P.PVX_MEMORY_BATCH_MAX],
    ['PVX_NR_VIRQS', P.PVX_NR_VIRQS],
    ['PVX_GNTMAP_READONLY', P.GNTMAP_READONLY],
    ['PVX_GNTCOPY_TO_GRANT', P.GNTCOPY_TO_GRANT],
    ['PVX_SHINFO_VCPU_INFO', P.Shinfo.VCPU_INFO],
    ['PVX_VCPU_INFO_SIZE', P.Shinfo.VCPU_INFO_SIZE],
    ['PVX_VI_UPCALL_PENDING', P.Shinfo.VI_UPCALL_PENDING],
    ['PVX_VI_UPCALL_MASK', P.Shinfo.VI_UPCALL_MASK],
    ['PVX_VI_PENDING_SEL', P.Shinfo.VI_PENDING_SEL],
    ['PVX_VI_TIME', P.Shinfo.VI_TIME],
    ['PVX_SHINFO_EVTCHN_PENDING', P.Shinfo.EVTCHN_PENDING],
    ['PVX_SHINFO_EVTCHN_MASK', P.Shinfo.EVTCHN_MASK],
    ['PVX_SHINFO_WC_VERSION', P.Shinfo.WC_VERSION],
    ['PVX_SHINFO_WC_SEC', P.Shinfo.WC_SEC],
    ['PVX_SHINFO_WC_NSEC', P.Shinfo.WC_NSEC],
    ['PVX_SHINFO_SHUTDOWN_REQUEST', P.Shinfo.SHUTDOWN_REQUEST],
    ['PVX_SHINFO_MEM_TARGET', P.Shinfo.MEM_TARGET],
    ['PVX_MC_ENTRY_SIZE', P.Mc.ENTRY_SIZE],
    ['PVX_MC_EID', P.Mc.EID],
    ['PVX_MC_FID', P.Mc.FID],
    ['PVX_MC_ARGS', P.Mc.ARGS],
    ['PVX_MC_ERROR', P.Mc.ERROR],
    ['PVX_MC_VALUE', P.Mc.VALUE],
    ['PVX_RESERVATION_CURRENT', P.Reservation.CURRENT],
    ['PVX_RESERVATION_MAX', P.Reservation.MAXIMUM],
    ['PVX_RESERVATION_TARGET', P.Reservation.TARGET],
  ];
  const groups: [string, Record<string, number>][] = [
    ['PVX_', P.PvxFid],
    ['PVX_F_', P.PvxFeature],
    ['PVX_LIMIT_', P.PvxLimit],
    ['PVX_EVTCHN_STATE_', P.PortState],
    ['PVX_VIRQ_', P.Virq],
    ['PVX_SHUTDOWN_', P.ShutdownReason],
  ];
  for (const [prefix, obj] of groups) for (const [k, v] of Object.entries(obj)) pairs.push([prefix + k, v]);
  pairs.push(
    ['GTF_permit_access', P.Gtf.PERMIT_ACCESS],
    ['GTF_type_mask', P.Gtf.TYPE_MASK],
    ['GTF_readonly', P.Gtf.READONLY],
    ['GTF_reading', P.Gtf.READING],
    ['GTF_writing', P.Gtf.WRITING],
  );
  for (const [name, value] of pairs) {
    assert.ok(h.has(name), `${name} missing in pvx.h`);
    assert.equal(h.get(name), BigInt(value), name);
  }
});
