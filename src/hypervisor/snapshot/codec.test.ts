import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { nodeSnapshotCodecs, zlibCompressor } from '../../host/snapshot-file.js';
import {
  crc32,
  crc32Hasher,
  type DomainSnapshot,
  decodeSnapshotBytes,
  drain,
  encodeSnapshot,
  encodeSnapshotBytes,
  isSnapshotError,
  PAGE_SIZE,
  type SnapshotCodecs,
  type SnapshotErrorReason,
} from './index.js';

const codecs = nodeSnapshotCodecs;

function sample(ramPages = 16): DomainSnapshot {
  const bytes = new Uint8Array(ramPages * PAGE_SIZE);
  bytes.set([1, 2, 3, 4], 0);
  bytes[5 * PAGE_SIZE + 17] = 0xaa;
  bytes[ramPages * PAGE_SIZE - 1] = 0x55;
  return {
    meta: { name: 'vm1', config: { memory: '64K', smp: 1 } },
    harts: [Uint8Array.from([9, 8, 7]), Uint8Array.from([6])],
    ram: { base: 0x8000_0000, bytes },
    devices: [
      { name: 'uart0', state: Uint8Array.from([1]) },
      { name: 'virtio-blk@1', state: new Uint8Array(0) },
    ],
    para: Uint8Array.from([0xde, 0xad]),
    disks: [{ device: 'vda', path: '/tmp/disk é.img', readOnly: false }],
  };
}

function refused(file: Uint8Array, reason: SnapshotErrorReason, message: RegExp, c: SnapshotCodecs = codecs): void {
  const copy = file.slice();
  assert.throws(
    () => decodeSnapshotBytes(file, c),
    (e: unknown) => isSnapshotError(e) && e.reason === reason && message.test(e.message),
  );
  assert.deepEqual(file, copy, 'a refused file is not modified');
}

/** Recomputes the SHA-256 trailer after a deliberate edit, to reach the section checks. */
function reseal(file: Uint8Array): Uint8Array {
  const out = file.slice();
  out.set(
    createHash('sha256')
      .update(out.subarray(0, out.length - 32))
      .digest(),
    out.length - 32,
  );
  return out;
}

const u32 = (f: Uint8Array, off: number, v: number) => new DataView(f.buffer, f.byteOffset).setUint32(off, v, true);

test('round trip keeps every byte of every section', () => {
  const snap = sample();
  const back = decodeSnapshotBytes(encodeSnapshotBytes(snap, codecs), codecs);
  assert.deepEqual(back, snap);
});

test('zero pages are not stored: only the three non-zero pages reach the compressor', () => {
  let compressed = 0;
  const counting: SnapshotCodecs = {
    hasher: crc32Hasher,
    compressor: {
      ...zlibCompressor,
      compress: (d) => {
        compressed += d.length;
        return zlibCompressor.compress(d);
      },
    },
  };
  const snap = sample(256);
  const file = encodeSnapshotBytes(snap, counting);
  assert.equal(compressed, 3 * PAGE_SIZE);
  assert.deepEqual(decodeSnapshotBytes(file, counting).ram.bytes, snap.ram.bytes);
});

test('RAM is split into chunks and progress reaches the total', () => {
  const snap = sample(1024);
  for (let p = 0; p < 1024; p += 3) snap.ram.bytes[p * PAGE_SIZE] = p & 0xff || 1;
  const seen: number[] = [];
  const parts = drain(encodeSnapshot(snap, codecs, { chunkPages: 64 }), (p) => seen.push(p.done));
  assert.equal(seen.length, 16);
  assert.equal(seen.at(-1), 1024 * PAGE_SIZE);
  assert.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
  );
  const file = new Uint8Array(Buffer.concat(parts));
  assert.deepEqual(decodeSnapshotBytes(file, codecs).ram.bytes, snap.ram.bytes);
});

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  const withCrc: SnapshotCodecs = { compressor: zlibCompressor, hasher: crc32Hasher };
  assert.deepEqual(decodeSnapshotBytes(encodeSnapshotBytes(sample(), withCrc), withCrc), sample());
});

test('a file smaller than the header is refused', () => {
  refused(new Uint8Array(10), 'too-small', /10 bytes, smaller than the 48-byte header/);
});

test('bad magic is refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  file[0] = 0x7f;
  refused(file, 'bad-magic', /not a pvm snapshot/);
  refused(new TextEncoder().encode('#!/bin/sh\necho this is a shell script, not a snapshot\n'), 'bad-magic', /magic/);
});

test('another format version is refused with a message that names both versions', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  u32(file, 8, 2);
  refused(
    file,
    'bad-version',
    /^snapshot format version 2 was written by an older pvm; this pvm reads version 3 only \(restore it with the pvm that saved it\)$/,
  );
  u32(file, 8, 4);
  refused(file, 'bad-version', /^snapshot format version 4 is newer than this pvm, which reads version 3$/);
});

test('nonzero reserved header bytes are refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  file[47] = 1;
  refused(file, 'bad-header', /reserved bytes are not zero/);
});

test('truncated files are refused, whatever the cut', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  refused(file.subarray(0, file.length - 1), 'truncated', new RegExp(`${file.length - 1} of ${file.length} bytes`));
  refused(file.subarray(0, 100), 'truncated', new RegExp(`100 of ${file.length} bytes`));
  refused(file.subarray(0, 48), 'truncated', /truncated/);
});

test('a size that does not match the header is refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  const longer = new Uint8Array(file.length + 7);
  longer.set(file);
  refused(longer, 'bad-size', /7 unexpected bytes after its end/);
  const bigHeader = file.slice();
  u32(bigHeader, 12, 64);
  refused(bigHeader, 'bad-header', /header: size 64, expected 48/);
});

test('any flipped byte in the body fails the checksum', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  for (const off of [48, 60, Math.floor(file.length / 2), file.length - 40, file.length - 1]) {
    const bad = file.slice();
    bad[off]! ^= 0x01;
    refused(bad, 'bad-checksum', /checksum does not match/);
  }
});

test('a checksum algorithm this build was not given is refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  refused(file, 'unsupported', /checksum algorithm 1/, { compressor: zlibCompressor, hasher: crc32Hasher });
});

test('a section longer than the file is refused even with a valid checksum', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  u32(file, 48 + 8, 0xffff_fff0); // META length
  refused(reseal(file), 'bad-section', /needs 4294967280 bytes/);
});

test('a section count that does not match is refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  u32(file, 32, 5);
  refused(reseal(file), 'bad-section', /unexpected bytes at the end/);
  u32(file, 32, 9);
  refused(reseal(file), 'bad-section', /needs 4 bytes/);
});

test('an unknown section tag is refused', () => {
  const file = encodeSnapshotBytes(sample(), codecs);
  u32(file, 48, 0x4b4b4b4b);
  refused(reseal(file), 'bad-section', /unknown section "KKKK"/);
});

test('a RAM chunk that inflates past its declared length is refused', () => {
  const zeroRawLength: SnapshotCodecs = {
    hasher: codecs.hasher,
    compressor: { ...zlibCompressor, compress: (d) => zlibCompressor.compress(new Uint8Array(d.length * 2)) },
  };
  const file = encodeSnapshotBytes(sample(), zeroRawLength);
  refused(file, 'bad-section', /RAM section is not readable: chunk 0 does not decompress/, codecs);
});

test('property: any snapshot round-trips exactly', () => {
  const blob = fc.uint8Array({ maxLength: 64 });
  fc.assert(
    fc.property(
      fc.string(),
      fc.array(blob, { maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(7), fc.nat(PAGE_SIZE - 1), fc.integer({ min: 1, max: 255 })), { maxLength: 20 }),
      fc.array(
        fc.tuple(fc.string(), blob).map(([name, state]) => ({ name, state })),
        { maxLength: 3 },
      ),
      blob,
      (name, harts, pokes, devices, para) => {
        const bytes = new Uint8Array(8 * PAGE_SIZE);
        for (const [page, off, v] of pokes) bytes[page * PAGE_SIZE + off] = v;
        const snap: DomainSnapshot = {
          meta: { name },
          harts,
          ram: { base: 0x8000_0000, bytes },
          devices,
          para,
          disks: [],
        };
        assert.deepEqual(decodeSnapshotBytes(encodeSnapshotBytes(snap, codecs), codecs), snap);
      },
    ),
    { numRuns: 60 },
  );
});
