import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { isPvmError } from '../core/errors.js';
import {
  configJsonSchema,
  defaultMac,
  MiB,
  parseDiskSpec,
  parseNetSpec,
  parseSize,
  toDocument,
  validateConfig,
} from './config.js';
import { loadConfigFile, parseConfigText } from './config-file.js';
import type { DomainConfig } from './domain.js';

/** Asserts that validation fails with a message matching every pattern. */
function rejects(doc: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => validateConfig(doc, 'pvm.yaml'),
    (e) => {
      assert.ok(isPvmError(e) && e.kind === 'usage', String(e));
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

describe('config: accepted documents', () => {
  test('a single domain with defaults filled in', () => {
    const c = validateConfig({ kernel: 'Image' });
    assert.deepEqual(c, {
      version: 1,
      domains: [
        {
          name: 'vm0',
          kernel: 'Image',
          memory: 128 * MiB,
          smp: 1,
          mode: 'pv',
          disks: [],
          nets: [],
          console: 'stdio',
          rng: true,
          balloon: true,
        },
      ],
      switches: {},
    });
  });

  test('two domains on a switch: shorthands, generated MACs, prefixed consoles', () => {
    const c = validateConfig({
      domains: [
        { name: 'a', memory: '256M', disks: ['a.img,ro,cache=unsafe'], nets: ['lan'] },
        {
          name: 'b',
          memory: 512,
          smp: 2,
          disks: [{ path: 'b.img' }],
          nets: [{ switch: 'lan', mac: '02:00:00:00:00:0B' }],
        },
      ],
    });
    assert.equal(c.domains[0]!.memory, 256 * MiB);
    assert.equal(c.domains[1]!.memory, 512 * MiB);
    assert.deepEqual(c.domains[0]!.disks, [{ path: 'a.img', readonly: true, cache: 'unsafe' }]);
    assert.deepEqual(c.domains[1]!.disks, [{ path: 'b.img', readonly: false, cache: 'writeback' }]);
    assert.deepEqual(c.domains[0]!.nets, [{ switch: 'lan', mac: '52:54:00:00:00:00' }]);
    assert.deepEqual(c.domains[1]!.nets, [{ switch: 'lan', mac: '02:00:00:00:00:0b' }]);
    assert.deepEqual([c.domains[0]!.console, c.domains[1]!.console], ['prefix', 'prefix']);
    assert.deepEqual(c.switches, { lan: { enforceSourceMac: true } });
  });

  test('YAML and JSON text give the same config', () => {
    const yaml =
      'domains:\n  - name: web\n    memory: 1G\n    mode: full\n    firmware: fw_jump.bin\n    console: { file: web.log }\n';
    const json = JSON.stringify({
      domains: [{ name: 'web', memory: '1G', mode: 'full', firmware: 'fw_jump.bin', console: { file: 'web.log' } }],
    });
    assert.deepEqual(parseConfigText(yaml, { source: 'x.yaml' }), parseConfigText(json, { source: 'x.json' }));
  });

  test('the file loader resolves relative paths against the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvm-cfg-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'pvm.yaml'), 'kernel: Image\ndisks: [root.img]\n');
    const c = await loadConfigFile(join(dir, 'pvm.yaml'));
    assert.equal(c.domains[0]!.kernel, join(dir, 'Image'));
    assert.equal(c.domains[0]!.disks[0]!.path, join(dir, 'root.img'));
    await assert.rejects(loadConfigFile(join(dir, 'missing.yaml')), /cannot read config .*missing\.yaml: no such file/);
  });

  test('the example in docs/devices.md is valid', () => {
    const md = readFileSync(new URL('../../../docs/devices.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(md.slice(md.indexOf('## Config file')))?.[1];
    assert.ok(yaml, 'docs/devices.md has a yaml example under "Config file"');
    const c = parseConfigText(yaml, { source: 'devices.md' });
    assert.equal(c.domains[0]!.name, 'web');
    assert.equal(c.domains[0]!.disks.length, 2);
  });

  test('a domain spec is a control-plane DomainConfig', () => {
    const spec: DomainConfig = validateConfig({ name: 'x' }).domains[0]!;
    assert.equal(spec.name, 'x');
  });

  test('the JSON schema describes the document', () => {
    const s = configJsonSchema() as { properties: Record<string, unknown> };
    assert.deepEqual(Object.keys(s.properties).sort(), ['domains', 'switches', 'version']);
  });
});

describe('config: errors name the bad field', () => {
  test('unknown field', () => rejects({ kernal: 'Image' }, /pvm\.yaml: domains\[0\]\.kernal: unknown field/));
  test('bad mode', () => rejects({ mode: 'hvm' }, /domains\[0\]\.mode: expected one of "pv"\|"full"/));
  test('bad cache in an object disk', () =>
    rejects({ disks: [{ path: 'a.img', cache: 'fast' }] }, /domains\[0\]\.disks\[0\]\.cache: expected one of/));
  test('bad option in a disk shorthand', () =>
    rejects(
      { disks: ['ok.img', 'a.img,rw,fast'] },
      /domains\[0\]\.disks\[1\]: disk "a\.img,rw,fast": unknown option "fast"/,
    ));
  test('disk of the wrong type', () => rejects({ disks: [7] }, /domains\[0\]\.disks\[0\]: expected string or object$/));
  test('memory too small, too large, malformed', () => {
    rejects({ memory: 8 }, /domains\[0\]\.memory: at least 16M/);
    rejects({ memory: '64G' }, /domains\[0\]\.memory: at most 4096M/);
    rejects({ memory: 'lots' }, /domains\[0\]\.memory: expected a size like 512M/);
  });
  test('smp not a whole number', () => rejects({ smp: 1.5 }, /domains\[0\]\.smp: expected a whole number/));
  test('multicast MAC', () =>
    rejects(
      { nets: [{ switch: 'lan', mac: '01:00:5e:00:00:01' }] },
      /domains\[0\]\.nets\[0\]\.mac: expected a unicast MAC/,
    ));
  test('malformed MAC', () =>
    rejects({ nets: [{ mac: '52:54:00' }] }, /domains\[0\]\.nets\[0\]\.mac: expected a MAC like/));
  test('firmware without full mode', () =>
    rejects({ firmware: 'fw.bin' }, /domains\[0\]\.firmware: firmware is only used with mode: full/));
  test('initrd without kernel', () => rejects({ initrd: 'i.cpio' }, /domains\[0\]\.initrd: initrd needs a kernel/));
  test('too many devices for the virtio slots', () =>
    rejects(
      { disks: ['1', '2', '3', '4', '5'], nets: ['lan'] },
      /domains\[0\]\.disks: 9 virtio devices .* do not fit 8 slots/,
    ));
  test('duplicate domain names', () =>
    rejects({ domains: [{ name: 'a' }, { name: 'a' }] }, /domains\[1\]\.name: "a" is used by another domain/));
  test('the same MAC twice on a switch', () =>
    rejects(
      { domains: [{ nets: ['lan,mac=02:00:00:00:00:01'] }, { nets: ['lan,mac=02:00:00:00:00:01'] }] },
      /domains\[1\]\.nets\[0\]\.mac: 02:00:00:00:00:01 is also domains\[0\]\.nets\[0\] on switch lan/,
    ));
  test('one image writable in two places', () =>
    rejects(
      { domains: [{ disks: ['x.img'] }, { disks: ['x.img'] }] },
      /domains\[1\]\.disks\[0\]\.path: x\.img is already writable/,
    ));
  test('no domains', () => rejects({ domains: [] }, /domains: expected at least one domain/));
  test('several errors are all reported', () =>
    rejects({ domains: [{ mode: 'x', smp: 0 }] }, /domains\[0\]\.mode/, /domains\[0\]\.smp/));
  test('YAML syntax error names the line', () =>
    assert.throws(
      () => parseConfigText('domains:\n  - name: a\n   memory: 1G\n', { source: 'bad.yaml' }),
      /bad\.yaml: not valid YAML: line \d+/,
    ));
  test('duplicate YAML keys are refused', () =>
    assert.throws(
      () => parseConfigText('kernel: a\nkernel: b\n', { source: 'dup.yaml' }),
      /bad|dup\.yaml: not valid YAML/,
    ));
  test('JSON syntax error', () =>
    assert.throws(() => parseConfigText('{"domains": [}', { source: 'c.json' }), /c\.json: not valid JSON/));
});

describe('config: shorthands', () => {
  test('sizes', () => {
    assert.equal(parseSize(64), 64 * MiB);
    assert.equal(parseSize('1G'), 1 << 30);
    assert.equal(parseSize('1GiB'), 1 << 30);
    assert.equal(parseSize('262144K'), 256 * MiB);
    assert.equal(parseSize('0.5G'), 512 * MiB);
    assert.equal(typeof parseSize('1Q'), 'string');
  });
  test('disk and net specs', () => {
    assert.deepEqual(parseDiskSpec('r.img,ro'), { path: 'r.img', readonly: true, cache: 'writeback' });
    assert.equal(typeof parseDiskSpec(',ro'), 'string');
    assert.deepEqual(parseNetSpec('lan,mac=02:00:00:00:00:01'), { switch: 'lan', mac: '02:00:00:00:00:01' });
    assert.equal(typeof parseNetSpec('lan,vlan=3'), 'string');
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
  test('property: a validated config round-trips through toDocument and JSON text', () => {
    const dom = fc.record({
      memory: fc.integer({ min: 16, max: 4096 }),
      smp: fc.integer({ min: 1, max: 64 }),
      mode: fc.constantFrom('pv', 'full'),
      disks: fc.array(fc.record({ path: fc.stringMatching(/^[a-z]{1,8}\.img$/), readonly: fc.constant(true) }), {
        maxLength: 3,
      }),
      rng: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(dom, { minLength: 1, maxLength: 4 }), (domains) => {
        const c = validateConfig({ domains });
        assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(toDocument(c)))), c);
        assert.equal(c.domains.length, domains.length);
      }),
      { numRuns: 100 },
    );
  });
});

describe('memory units in the control plane (docs/control-plane.md)', () => {
  test('a whole number is MiB, a string has a unit; both come back as a size string', async () => {
    const { normalizeDomainConfig } = await import('./control.js');
    assert.equal(normalizeDomainConfig({ name: 'a', memory: 512 }).memory, '512M');
    assert.equal(normalizeDomainConfig({ name: 'a', memory: '1G' }).memory, '1024M');
    assert.equal(normalizeDomainConfig({ name: 'a', memory: '262144K' }).memory, '256M');
  });
  test('a number of bytes is not guessed: 128 MiB in bytes is far more than 4096 MiB', async () => {
    const { normalizeDomainConfig } = await import('./control.js');
    assert.throws(() => normalizeDomainConfig({ name: 'a', memory: 128 * MiB }), /memory: at most 4096M/);
  });
});
