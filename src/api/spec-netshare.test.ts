/**
 * The spec's host folders (`shares`) and user-mode networks (`nets[].uplink: user`,
 * `nets[].publish`): their shorthands, the messages bad ones get, the slots they take, the
 * document they give back, and a fast-check fuzz of their parsing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PvmError } from '../core/errors.js';
import {
  formatPublish,
  type PublishEntry,
  parseDomainSpec,
  parseNetShorthand,
  parsePublish,
  parseShareShorthand,
  toDocument,
} from './spec.js';

const refusal = (doc: Record<string, unknown>): string => {
  try {
    parseDomainSpec({ name: 'a', ...doc });
  } catch (e) {
    assert.ok(e instanceof PvmError && e.kind === 'usage', String(e));
    return e.message;
  }
  assert.fail('accepted');
};

test('--publish specs: address, ports and protocol; 127.0.0.1 unless an address is given', () => {
  const ok: [string, PublishEntry][] = [
    ['8080:80', { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestPort: 80 }],
    ['2222:22/tcp', { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 }],
    ['5353:53/udp', { proto: 'udp', hostAddr: '127.0.0.1', hostPort: 5353, guestPort: 53 }],
    ['0.0.0.0:80:8080', { proto: 'tcp', hostAddr: '0.0.0.0', hostPort: 80, guestPort: 8080 }],
    ['[::1]:65535:1/udp', { proto: 'udp', hostAddr: '::1', hostPort: 65535, guestPort: 1 }],
  ];
  for (const [s, want] of ok) assert.deepEqual(parsePublish(s), want, s);
  const bad: [string, string][] = [
    ['', 'expected two ports'],
    ['80', 'expected two ports'],
    ['1:2:3:4', 'expected two ports'],
    ['0:80', 'host port "0" is not 1 to 65535'],
    ['80:65536', 'guest port "65536" is not 1 to 65535'],
    ['-1:80', 'host port "-1" is not 1 to 65535'],
    ['0x50:80', 'host port "0x50" is not 1 to 65535'],
    ['80:80/sctp', 'unknown protocol "sctp"'],
    ['80:80/', 'unknown protocol ""'],
    ['localhost:80:80', '"localhost" is not an IPv4 address (IPv6 goes in brackets)'],
    ['300.0.0.1:80:80', '"300.0.0.1" is not an IPv4 address (IPv6 goes in brackets)'],
    ['[127.0.0.1]:80:80', '"127.0.0.1" is not an IPv6 address'],
    ['[]:80:80', '"" is not an IPv6 address'],
  ];
  for (const [s, why] of bad) {
    assert.equal(parsePublish(s), `publish "${s}": ${why} (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])`);
  }
  assert.equal(formatPublish(parsePublish('[::1]:53:53/udp') as PublishEntry), '[::1]:53:53/udp');
  assert.equal(formatPublish(parsePublish('8080:80') as PublishEntry), '127.0.0.1:8080:80/tcp');
});

test('--share specs: the tag and options after the last colon, so a folder may hold ":" and ","', () => {
  assert.deepEqual(parseShareShorthand('/srv/www:www'), { path: '/srv/www', tag: 'www', readonly: false });
  assert.deepEqual(parseShareShorthand('/a:b,c/d:data,ro'), { path: '/a:b,c/d', tag: 'data', readonly: true });
  assert.deepEqual(parseShareShorthand('rel:t.1_-,readonly'), { path: 'rel', tag: 't.1_-', readonly: true });
  const bad: [string, string][] = [
    ['/x', 'share "/x": expected HOSTDIR:TAG[,ro]'],
    ['/x:', 'share "/x:": missing tag'],
    [':t', 'share ":t": missing directory'],
    ['/x:t,rx', 'share "/x:t,rx": unknown option "rx" (use ro, slot=N)'],
    ['/x:a b', 'share "/x:a b": 9p tag "a b": use letters, digits, "_", "-" and "."'],
    [`/x:${'t'.repeat(33)}`, `share "/x:${'t'.repeat(33)}": 9p tag "${'t'.repeat(33)}": at most 32 characters`],
  ];
  for (const [s, msg] of bad) assert.equal(parseShareShorthand(s), msg);
  assert.deepEqual(parseShareShorthand(`/x:${'t'.repeat(32)}`), { path: '/x', tag: 't'.repeat(32), readonly: false });
});

test('--net user is a private user-mode network; NAME,uplink=user one on a named switch', () => {
  // The object form says the same: the switch named user always has its passt.
  assert.deepEqual(parseDomainSpec({ name: 'a', nets: [{ switch: 'user', publish: ['2222:22'] }] }).devices[0], {
    kind: 'net',
    slot: 0,
    switch: 'user',
    uplink: 'user',
    publish: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 2222, guestPort: 22 }],
  });
  assert.deepEqual(parseNetShorthand('user'), { switch: 'user', uplink: 'user' });
  assert.deepEqual(parseNetShorthand('lan,uplink=user,mac=52:54:00:00:00:07'), {
    switch: 'lan',
    uplink: 'user',
    mac: '52:54:00:00:00:07',
  });
  assert.equal(
    parseNetShorthand('lan,uplink=tap'),
    'net "lan,uplink=tap": unknown option "uplink=tap" (use mac=XX:XX:XX:XX:XX:XX, uplink=user, slot=N)',
  );
});

test('shares and user-mode NICs take the free slots after every older kind; the document gives the same spec back', () => {
  const spec = parseDomainSpec({
    name: 'a',
    disks: ['/d.img'],
    nets: ['user', { switch: 'wan', uplink: 'user', publish: ['8080:80', '[::]:53:53/udp'] }, 'lan'],
    shares: ['/srv:srv,ro', { path: '/home/x', tag: 'home' }],
    rng: true,
  });
  assert.deepEqual(spec.devices, [
    { kind: 'blk', slot: 0, path: '/d.img', readonly: false, cache: 'writeback' },
    { kind: 'net', slot: 1, switch: 'user', uplink: 'user' },
    {
      kind: 'net',
      slot: 2,
      switch: 'wan',
      uplink: 'user',
      publish: [
        { proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 8080, guestPort: 80 },
        { proto: 'udp', hostAddr: '::', hostPort: 53, guestPort: 53 },
      ],
    },
    { kind: 'net', slot: 3, switch: 'lan' },
    { kind: 'rng', slot: 4 },
    { kind: '9p', slot: 5, path: '/srv', tag: 'srv', readonly: true },
    { kind: '9p', slot: 6, path: '/home/x', tag: 'home', readonly: false },
  ]);
  const doc = toDocument(spec);
  assert.deepEqual(doc.shares, [
    { path: '/srv', tag: 'srv', readonly: true, slot: 5 },
    { path: '/home/x', tag: 'home', readonly: false, slot: 6 },
  ]);
  assert.deepEqual(doc.nets?.[1], {
    switch: 'wan',
    uplink: 'user',
    publish: ['127.0.0.1:8080:80/tcp', '[::]:53:53/udp'],
    slot: 2,
  });
  assert.deepEqual(parseDomainSpec(doc), spec);
});

test('bad shares and user-mode nets are refused, each naming its field', () => {
  assert.equal(refusal({ shares: ['/x:a', '/y:a,ro'] }), 'config.shares[1].tag: tag "a" is used by another share');
  assert.equal(
    refusal({ shares: [{ path: '/x', tag: 'x'.repeat(33) }] }),
    `config.shares[0].tag: 9p tag "${'x'.repeat(33)}": at most 32 characters`,
  );
  assert.equal(refusal({ shares: [{ path: '', tag: 'x' }] }), 'config.shares[0].path: expected a non-empty path');
  assert.equal(
    refusal({ shares: [{ path: '/x', tag: 'x', readonly: 'yes' }] }),
    'config.shares[0].readonly: expected boolean, received string',
  );
  assert.equal(refusal({ shares: [{ path: '/x', tag: 'x', ro: true }] }), 'config.shares[0].ro: unknown field');
  assert.equal(
    refusal({ nets: [{ switch: 'lan', publish: ['80:80'] }] }),
    'config.nets[0].publish: port forwards need a user-mode network (uplink user)',
  );
  assert.equal(refusal({ nets: [{ switch: 'lan', uplink: 'usr' }] }), 'config.nets[0].uplink: expected "user"');
  assert.equal(
    refusal({ nets: ['user', { switch: 'w', uplink: 'user', publish: ['80:80', '127.0.0.1:80:81/tcp'] }] }),
    'config.nets[1].publish[1]: tcp port 80 on 127.0.0.1 is already forwarded by 127.0.0.1:80:80/tcp',
  );
  assert.equal(
    refusal({ nets: [{ switch: 'w', uplink: 'user', publish: Array.from({ length: 33 }, (_, i) => `${i + 1}:80`) }] }),
    'config.nets[0].publish: at most 32 port forwards per NIC',
  );
  assert.equal(
    refusal({
      nets: [{ switch: 'w', uplink: 'user', publish: [{ proto: 'tcp', hostAddr: 'lo', hostPort: 1, guestPort: 1 }] }],
    }),
    'config.nets[0].publish[0].hostAddr: expected an IPv4 or IPv6 address',
  );
  assert.equal(
    refusal({ disks: ['/a', '/b', '/c'], nets: ['user', 'lan'], shares: ['/s:s', '/t:t', '/u:u', '/v:v'], rng: true }),
    'config.shares[2]: no free virtio slot for share u: 10 devices, 8 slots',
  );
});

test('fuzz: any --publish, --share or --net text gives a value the schema takes, or one message', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.stringMatching(/^(\[[0-9a-f:.]{0,12}\]:|[0-9.]{0,16}:)?-?\d{0,6}:\d{0,6}(\/[a-z]{0,4})?$/),
    fc.stringMatching(/^[/a-z:,.]{0,20}:[A-Za-z0-9_.-]{0,36}(,(ro|rw|readonly|x))*$/),
  );
  fc.assert(
    fc.property(text, (s) => {
      const p = parsePublish(s);
      if (typeof p === 'string') assert.ok(p.startsWith(`publish "${s}": `), p);
      else {
        assert.deepEqual(parsePublish(formatPublish(p)), p);
        parseDomainSpec({ name: 'a', nets: [{ switch: 'w', uplink: 'user', publish: [p] }] });
      }
      const sh = parseShareShorthand(s);
      if (typeof sh === 'string') assert.ok(sh.startsWith(`share "${s}": `), sh);
      else parseDomainSpec({ name: 'a', shares: [sh] });
      const n = parseNetShorthand(s);
      if (typeof n === 'string') assert.ok(n.startsWith(`net "${s}": `), n);
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: any JSON as shares or forwards: a spec that round-trips, or a usage error naming the field', () => {
  const field = fc.oneof(
    fc.jsonValue(),
    fc.array(fc.oneof(fc.string({ maxLength: 30 }), fc.jsonValue()), { maxLength: 4 }),
    fc.array(
      fc.record({
        path: fc.oneof(fc.constant('/x'), fc.string({ maxLength: 5 })),
        tag: fc.stringMatching(/^[a-z.]{0,34}$/),
        readonly: fc.boolean(),
      }),
      { maxLength: 3 },
    ),
  );
  fc.assert(
    fc.property(field, field, (shares, publish) => {
      const doc = { name: 'a', shares, nets: [{ switch: 'w', uplink: 'user', publish }] };
      try {
        const spec = parseDomainSpec(doc);
        assert.deepEqual(parseDomainSpec(toDocument(spec)), spec);
      } catch (e) {
        assert.ok(e instanceof PvmError && e.kind === 'usage', String(e));
        assert.match(e.message, /^config\.(shares|nets)/);
      }
    }),
    { numRuns: 2000 },
  );
});
