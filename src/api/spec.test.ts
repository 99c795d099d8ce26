import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isPvmError } from '../core/errors.js';
import {
  checkHarts,
  checkMemory,
  DEFAULTS,
  DOMAIN_NAME,
  defaultMac,
  domainSpecSchema,
  formatSize,
  LIMITS,
  MiB,
  parseDiskShorthand,
  parseDomainSpec,
  parseNetShorthand,
  parseSize,
  toDocument,
  withMacs,
  withSched,
} from './spec.js';

/** parseDomainSpec's message, or a failure when it accepts `doc`. */
function refusal(doc: unknown): string {
  try {
    parseDomainSpec(doc);
  } catch (e) {
    assert.ok(isPvmError(e) && e.kind === 'usage', String(e));
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(doc)}`);
}

describe('spec: limits and defaults, defined once', () => {
  test('memory: 16M to 4096M, a multiple of 4K; exact messages', () => {
    assert.equal(checkMemory('16M'), 16 * MiB);
    assert.equal(checkMemory('4096M'), 4096 * MiB);
    assert.equal(checkMemory('4G'), 4096 * MiB);
    assert.equal(checkMemory(10000), 'at most 4096M, got 10000M');
    assert.equal(checkMemory('4097M'), 'at most 4096M, got 4097M');
    assert.equal(checkMemory('8G'), 'at most 4096M, got 8192M');
    assert.equal(checkMemory('8M'), 'at least 16M, got 8M');
    assert.equal(checkMemory(5), 'at least 16M, got 5M');
    assert.equal(checkMemory('16385K'), 'expected a multiple of 4K, got 16385K');
    assert.equal(checkMemory('lots'), 'expected a size like 512M or 1G, got "lots"');
    assert.equal(LIMITS.memory.max, 2 ** 32);
  });

  test('vCPUs: 1 to 8 (PVX shared info holds 8)', () => {
    assert.equal(checkHarts(8), 8);
    assert.equal(checkHarts(16), 'expected 1 to 8 vCPUs, got 16');
    assert.equal(checkHarts(0), 'expected 1 to 8 vCPUs, got 0');
    assert.equal(checkHarts('two'), 'expected 1 to 8 vCPUs, got "two"');
    assert.equal(LIMITS.harts.max, 8);
  });

  test('default memory per guest kind, command line with a kernel, firmware in full mode', () => {
    const pvos = parseDomainSpec({ name: 'a' });
    assert.equal(pvos.memory, DEFAULTS.memory.embedded);
    assert.equal(pvos.kernel, undefined);
    assert.equal(pvos.append, undefined);
    const linux = parseDomainSpec({ name: 'b', kernel: '/k', mode: 'full' });
    assert.equal(linux.memory, DEFAULTS.memory.kernel);
    assert.equal(linux.append, 'console=ttyS0');
    assert.equal(linux.firmware, DEFAULTS.firmware);
    assert.match(DEFAULTS.guest, /guests\/pvos\/pvos\.elf$/);
  });

  test('sizes: a bare number is MiB, units K M G T, B is bytes', () => {
    assert.equal(parseSize(64), 64 * MiB);
    assert.equal(parseSize('1G'), 1 << 30);
    assert.equal(parseSize('1GiB'), 1 << 30);
    assert.equal(parseSize('262144K'), 256 * MiB);
    assert.equal(parseSize('0.5G'), 512 * MiB);
    assert.equal(parseSize('4096B'), 4096);
    assert.equal(typeof parseSize('1Q'), 'string');
    assert.equal(formatSize(256 * MiB), '256M');
    assert.equal(formatSize(1536 * 1024), '1536K');
    assert.equal(formatSize(4097), '4097B');
  });
});

/** "PREFIX,slot=N" (or "slot=N" for an empty prefix) with N around the valid range. */
const slotted = (prefix: string) =>
  fc.integer({ min: -1, max: 9 }).map((n) => (prefix === '' ? `slot=${n}` : `${prefix},slot=${n}`));

describe('spec: the API form (parseDomainSpec)', () => {
  test('devices become one list in slot order: disks, nets, rng, balloon; no virtio console unless asked', () => {
    const s = parseDomainSpec({
      name: 'web',
      disks: ['/a.img,ro', { path: '/b.img', cache: 'unsafe' }],
      nets: ['lan', { switch: 'wan', mac: '02:00:00:00:00:AA' }],
      rng: true,
      balloon: true,
    });
    assert.deepEqual(s.devices, [
      { kind: 'blk', slot: 0, path: '/a.img', readonly: true, cache: 'writeback' },
      { kind: 'blk', slot: 1, path: '/b.img', readonly: false, cache: 'unsafe' },
      { kind: 'net', slot: 2, switch: 'lan' },
      { kind: 'net', slot: 3, switch: 'wan', mac: '02:00:00:00:00:aa' },
      { kind: 'rng', slot: 4 },
      { kind: 'balloon', slot: 5 },
    ]);
    assert.deepEqual(parseDomainSpec({ name: 'bare' }).devices, [], 'no device asked for, none given');
  });

  test('placement: named slots first, the others fill the lowest free ones in the fixed order', () => {
    const s = parseDomainSpec({
      name: 'p',
      disks: ['/a.img', { path: '/b.img', slot: 0 }],
      nets: ['lan,slot=6'],
      rng: 'slot=1',
      balloon: true,
      virtioConsole: true,
    });
    assert.deepEqual(
      s.devices.map((d) => [d.slot, d.kind === 'blk' ? d.path : d.kind]),
      [
        [0, '/b.img'],
        [1, 'rng'],
        [2, 'console'],
        [3, '/a.img'],
        [4, 'balloon'],
        [6, 'net'],
      ],
    );
    assert.deepEqual(parseDomainSpec(JSON.parse(JSON.stringify(toDocument(s)))), s, 'the document keeps the slots');
  });

  test("the virtio console: asked for, or when the command line's console is hvc1 (unless refused)", () => {
    const kinds = (doc: object) => parseDomainSpec({ name: 'c', kernel: '/k', ...doc }).devices.map((d) => d.kind);
    assert.deepEqual(kinds({ disks: ['/d'] }), ['blk']);
    assert.deepEqual(kinds({ append: 'console=hvc1', disks: ['/d'] }), ['console', 'blk']);
    assert.deepEqual(kinds({ append: 'console=hvc1 console=ttyS0' }), [], 'the last console= counts');
    assert.deepEqual(kinds({ append: 'console=hvc1', virtioConsole: false }), []);
    assert.deepEqual(kinds({ virtioConsole: { slot: 7 } }), ['console']);
    const s = parseDomainSpec({ name: 'c', kernel: '/k', append: 'console=hvc1', virtioConsole: false });
    assert.deepEqual(parseDomainSpec(toDocument(s)), s, 'a refused console stays refused');
  });

  test('placement refusals name the field and the device already there', () => {
    assert.equal(
      refusal({ name: 'a', disks: ['/a.img,slot=3'], rng: { slot: 3 } }),
      'config.rng.slot: slot 3 is already taken by disk /a.img',
    );
    assert.equal(
      refusal({ name: 'a', virtioConsole: { slot: 0 }, disks: ['/a.img,slot=0'] }),
      'config.disks[0].slot: slot 0 is already taken by the virtio console',
    );
    assert.equal(
      refusal({ name: 'a', disks: ['/a.img,slot=08'] }),
      'config.disks[0]: disk "/a.img,slot=08": slot must be 0 to 7, got "08"',
    );
    assert.equal(
      refusal({ name: 'a', nets: [{ switch: 'l', slot: 'x' }] }),
      'config.nets[0].slot: slot must be 0 to 7, got "x"',
    );
  });

  test('messages name the field as the request body does', () => {
    assert.equal(refusal({ name: 'a', memory: '8M' }), 'config.memory: at least 16M, got 8M');
    assert.equal(refusal({ name: 'a', smp: 16 }), 'config.smp: expected 1 to 8 vCPUs, got 16');
    assert.equal(refusal({ name: 'a', memroy: '256M' }), 'config.memroy: unknown field');
    assert.equal(
      refusal({ name: 'a', initrd: '/i' }),
      'config.initrd: only with a kernel (the embedded guest reads no initrd)',
    );
    assert.equal(refusal({ memory: '1G' }), 'config.name: missing');
    assert.match(refusal({ name: '123' }), /^config\.name: expected up to 63 letters/);
    assert.equal(DOMAIN_NAME.test('123'), false);
  });

  test('toDocument gives a document that parses to the same spec', () => {
    const s = parseDomainSpec({ name: 'x', kernel: '/k', memory: 300, smp: 3, disks: ['/d'], nets: ['n'], rng: true });
    const doc = toDocument(s);
    assert.equal(doc.memory, '300M');
    assert.deepEqual(parseDomainSpec(JSON.parse(JSON.stringify(doc))), s);
    assert.deepEqual(domainSpecSchema.parse(s), s, 'the output schema describes the spec');
  });

  test('weight and cap: checked, the defaults left out of the spec, kept by toDocument', () => {
    const s = parseDomainSpec({ name: 'x', weight: 512, cap: 150, smp: 2 });
    assert.equal(s.weight, 512);
    assert.equal(s.cap, 150);
    assert.deepEqual(parseDomainSpec(JSON.parse(JSON.stringify(toDocument(s)))), s);
    const d = parseDomainSpec({ name: 'x', weight: 256, cap: 0 });
    assert.equal(d.weight, undefined);
    assert.equal(d.cap, undefined);
    assert.equal(toDocument(d).weight, undefined);
    assert.equal(
      refusal({ name: 'a', cap: 101 }),
      'config.cap: a whole percentage from 0 (none) to 100 (100 per vCPU), got 101',
    );
    assert.match(refusal({ name: 'a', weight: 0 }), /^config\.weight: /);
    assert.match(refusal({ name: 'a', weight: 70000 }), /^config\.weight: /);
    assert.match(refusal({ name: 'a', cap: 2.5 }), /^config\.cap: /);
    assert.deepEqual(withSched(s, { weight: 256 }), { ...d, smp: 2, cap: 150 });
  });

  test('withMacs gives NICs without a MAC the one of their domain and NIC number', () => {
    const s = withMacs(parseDomainSpec({ name: 'x', nets: ['a,mac=02:00:00:00:00:02', 'b'] }), 3);
    assert.deepEqual(
      s.devices.filter((d) => d.kind === 'net').map((d) => d.mac),
      ['02:00:00:00:00:02', defaultMac(3, 1)],
    );
  });

  test('property: any JSON value is a spec or one usage error, never a crash', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          domainSpecSchema.parse(parseDomainSpec(v));
        } catch (e) {
          assert.ok(isPvmError(e) && e.kind === 'usage', String(e));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('property: hostile but well-typed documents are checked against the limits', () => {
    const doc = fc.record(
      {
        name: fc.constantFrom('a', 'vm-1'),
        memory: fc.oneof(fc.integer({ min: -10, max: 10_000 }), fc.stringMatching(/^\d{1,6}[KMGTB]?$/)),
        smp: fc.integer({ min: -2, max: 80 }),
        disks: fc.array(fc.oneof(fc.string({ maxLength: 20 }), slotted('/d.img')), { maxLength: 9 }),
        nets: fc.array(fc.oneof(fc.string({ maxLength: 20 }), slotted('lan')), { maxLength: 9 }),
        rng: fc.oneof(fc.boolean(), slotted('')),
        virtioConsole: fc.oneof(fc.boolean(), fc.record({ slot: fc.integer({ min: -1, max: 8 }) })),
      },
      { requiredKeys: ['name'] },
    );
    fc.assert(
      fc.property(doc, (d) => {
        try {
          const s = parseDomainSpec(d);
          assert.ok(s.memory >= LIMITS.memory.min && s.memory <= LIMITS.memory.max && s.memory % 4096 === 0);
          assert.ok(s.smp >= LIMITS.harts.min && s.smp <= LIMITS.harts.max);
          assert.ok(s.devices.length <= LIMITS.virtioSlots);
          const slots = s.devices.map((x) => x.slot);
          assert.deepEqual(
            slots,
            [...new Set(slots)].sort((a, b) => a - b),
            'distinct slots, in order',
          );
          // A device that named its slot is in it.
          for (const v of d.disks ?? []) {
            const m = /,slot=(\d)$/.exec(v);
            if (m)
              assert.ok(
                s.devices.some((x) => x.kind === 'blk' && x.slot === Number(m[1])),
                v,
              );
          }
          assert.deepEqual(parseDomainSpec(JSON.parse(JSON.stringify(toDocument(s)))), s);
        } catch (e) {
          assert.ok(isPvmError(e) && e.kind === 'usage', String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('spec: shorthands', () => {
  test('disk and net', () => {
    assert.deepEqual(parseDiskShorthand('r.img,ro'), { path: 'r.img', readonly: true, cache: 'writeback' });
    assert.equal(typeof parseDiskShorthand(',ro'), 'string');
    assert.deepEqual(parseNetShorthand('lan,mac=02:00:00:00:00:01'), { switch: 'lan', mac: '02:00:00:00:00:01' });
    assert.equal(typeof parseNetShorthand('lan,vlan=3'), 'string');
  });

  test('generated MACs are unicast, locally distinct per domain and NIC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }), (d, n) => {
        const m = defaultMac(d, n);
        assert.match(m, /^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
        assert.equal(m === defaultMac(d, (n + 1) & 0xff), false);
      }),
    );
  });

  test('a whole number of memory is MiB, never bytes: 128 MiB in bytes is far more than 4096M', () => {
    assert.equal(toDocument(parseDomainSpec({ name: 'a', memory: 512 })).memory, '512M');
    assert.equal(toDocument(parseDomainSpec({ name: 'a', memory: '262144K' })).memory, '256M');
    assert.match(refusal({ name: 'a', memory: 128 * MiB }), /^config\.memory: at most 4096M, got 134217728M$/);
  });
});

describe('spec: threads', () => {
  test('absent unless true; true kept and round-tripped; false is the default, left out', () => {
    assert.equal(parseDomainSpec({ name: 'a' }).threads, undefined);
    assert.equal(parseDomainSpec({ name: 'a', threads: false }).threads, undefined);
    const spec = parseDomainSpec({ name: 'a', smp: 2, threads: true });
    assert.equal(spec.threads, true);
    assert.equal(toDocument(spec).threads, true);
    assert.deepEqual(parseDomainSpec(toDocument(spec)), spec);
  });

  test('full mode and anything but a boolean are refused with the field named', () => {
    assert.match(refusal({ name: 'a', mode: 'full', threads: true }), /threads: harts on threads need mode pv/);
    for (const bad of ['yes', 1, null]) assert.match(refusal({ name: 'a', threads: bad }), /threads/);
  });
});

describe('spec: jit', () => {
  test('absent by default (the builder applies JIT_DEFAULT); true and false kept and round-tripped', () => {
    assert.equal(parseDomainSpec({ name: 'a' }).jit, undefined);
    for (const jit of [true, false]) {
      const spec = parseDomainSpec({ name: 'a', jit });
      assert.equal(spec.jit, jit);
      assert.deepEqual(parseDomainSpec(toDocument(spec)), spec);
    }
  });

  test('anything but a boolean is refused with the field named', () => {
    for (const bad of ['yes', 'false', 0, 1, null, {}]) assert.match(refusal({ name: 'a', jit: bad }), /jit/);
  });
});
