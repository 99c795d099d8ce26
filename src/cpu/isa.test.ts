import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_EXTENSIONS, Ext, extMask, isaExtensions, isaString } from './isa.js';

test('the ISA string lists exactly the extensions a hart has, in canonical order', () => {
  assert.equal(isaString(ALL_EXTENSIONS), 'rv64imafdc_zicond_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc');
  const qemu72 = { ...ALL_EXTENSIONS, zicond: false };
  // QEMU 7.2's default CPU says rv64imafdch_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc (pvm has no H)
  assert.equal(isaString(qemu72), 'rv64imafdc_zicsr_zifencei_zihintpause_zba_zbb_zbc_zbs_sstc');
  const none = { zba: false, zbb: false, zbc: false, zbs: false, zicond: false, sstc: false };
  assert.equal(isaString(none), 'rv64imafdc_zicsr_zifencei_zihintpause');
  assert.deepEqual(isaExtensions({ ...none, zbs: true, sstc: true }), [
    'i',
    'm',
    'a',
    'f',
    'd',
    'c',
    'zicsr',
    'zifencei',
    'zihintpause',
    'zbs',
    'sstc',
  ]);
});

test('extMask has one bit per extension', () => {
  assert.equal(extMask(ALL_EXTENSIONS), Ext.ZBA | Ext.ZBB | Ext.ZBC | Ext.ZBS | Ext.ZICOND | Ext.SSTC);
  assert.equal(extMask({ ...ALL_EXTENSIONS, zbc: false, sstc: false }), Ext.ZBA | Ext.ZBB | Ext.ZBS | Ext.ZICOND);
});
