import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fdt } from './fdt.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('a tiny tree serializes to the exact DTB bytes', () => {
  const fdt = new Fdt();
  fdt.root.u32('a', 1);
  fdt.root.addNode('n@1').string('s', 'x');
  const expected = [
    // header: magic, totalsize 120, off_dt_struct 56, off_dt_strings 116, off_mem_rsvmap 40,
    // version 17, last_comp_version 16, boot_cpuid 0, size_dt_strings 4, size_dt_struct 60
    'd00dfeed 00000078 00000038 00000074 00000028 00000011 00000010 00000000 00000004 0000003c',
    '0000000000000000 0000000000000000', // reservation block: terminator only
    '00000001 00000000', // begin node ""
    '00000003 00000004 00000000 00000001', // prop a = <1>
    '00000001 6e403100', // begin node "n@1"
    '00000003 00000002 00000002 78000000', // prop s = "x"
    '00000002 00000002 00000009', // end n@1, end root, end
    '61007300', // strings "a\0s\0"
  ].join('');
  assert.equal(hex(fdt.toBytes()), expected.replaceAll(' ', ''));
});

test('reservations, phandles, string lists, u64 and extra space', () => {
  const fdt = new Fdt({ bootCpuid: 2 });
  fdt.reserve(0x8000_0000, 0x1000);
  const n = fdt.root.addNode('x');
  assert.equal(n.phandle(), 1);
  assert.equal(n.phandle(), 1, 'allocated once');
  assert.equal(fdt.root.addNode('y').phandle(), 2);
  n.strings('c', ['ab', 'c']).u64('r', 0x1_0000_0002n).empty('e');
  assert.equal(hex(n.props.get('c')!), '61620063 00'.replace(' ', ''));
  assert.equal(hex(n.props.get('r')!), '0000000100000002');
  assert.equal(fdt.find('/x'), n);
  assert.equal(fdt.find('/nope'), undefined);
  const small = fdt.toBytes();
  const big = fdt.toBytes(1000);
  const v = new DataView(big.buffer);
  assert.equal(v.getUint32(4), big.length);
  assert.ok(big.length >= small.length + 1000 && big.length % 8 === 0);
  assert.equal(v.getUint32(28), 2, 'boot_cpuid_phys');
  assert.equal(v.getBigUint64(40), 0x8000_0000n);
  assert.equal(v.getBigUint64(48), 0x1000n);
  assert.equal(v.getBigUint64(56), 0n);
  assert.throws(() => fdt.root.addNode('x'), /already exists/);
});
