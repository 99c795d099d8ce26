/**
 * Property: whatever a guest passes, a PVX call answers an SBI error code
 * (0 or -1..-13), never throws, and never changes the other domain's RAM
 * except through the channels it was given (here: none are given to it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PVX_EID, PvxFid } from '../../sbi/pvx/consts.js';
import { At, RAM_BASE, RAM_SIZE, twoDomains } from './testing.js';

const interesting = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 4n, 7n, 8n, 63n, 64n, 511n, 512n, 1023n, 1024n, 4095n, 4096n, 0x7ff0n),
  fc.constantFrom(BigInt(RAM_BASE), BigInt(RAM_BASE + RAM_SIZE - 8), BigInt(At.SHINFO), BigInt(At.MC), BigInt(At.LIST)),
  fc.constantFrom(0x4000_0000n, 0x4000_1000n, 0x43ff_f000n, 0x4400_0000n, (1n << 64n) - 1n, 1n << 63n, 1n << 53n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const fids = fc.oneof(fc.constantFrom(...Object.values(PvxFid)), fc.integer({ min: 0, max: 0x7ff }));

test('random PVX calls from domain 2 answer SBI errors and leave domain 1 alone', () => {
  const { a, b } = twoDomains();
  a.registerShinfo();
  a.ok(PvxFid.EVTCHN_BIND_IPI, [0]);
  a.ok(PvxFid.GNTTAB_SETUP, [At.GNTTAB, 1]);
  const before = a.env.ram.u8.slice();
  fc.assert(
    fc.property(fc.array(fc.tuple(fids, fc.array(interesting, { minLength: 6, maxLength: 6 }), fc.nat(1))), (calls) => {
      for (const [fid, args, hart] of calls) {
        // random multicall arrays: fill the batch area with random entries too
        if (fid === PvxFid.MULTICALL) {
          for (let i = 0; i < 4; i++) {
            b.setU32(At.MC + 72 * i, i % 2 ? PVX_EID : Number(args[i]! & 0xffff_ffffn));
            b.setU32(At.MC + 72 * i + 4, Number(args[(i + 1) % 6]! & 0x7ffn));
            for (let k = 0; k < 6; k++) b.setU64(At.MC + 72 * i + 8 + 8 * k, args[(i + k) % 6]!);
          }
        }
        const r = b.call(fid, args, hart);
        assert.ok(Number.isInteger(r.error) && r.error <= 0 && r.error >= -13, `error ${r.error}`);
        if (r.error !== 0 && fid !== PvxFid.MEMORY_DECREASE && fid !== PvxFid.MEMORY_INCREASE) {
          assert.equal(r.value, 0n);
        }
      }
    }),
    { numRuns: 300, seed: 0x5eed },
  );
  // domain 2 had no grant and no channel from domain 1: domain 1's memory is as it was
  assert.deepEqual(a.env.ram.u8, before);
});
