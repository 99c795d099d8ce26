import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { isPvmError } from '../core/errors.js';
import { configJsonSchema, validateConfig } from './config.js';
import { loadConfigFile, parseConfigText } from './config-file.js';
import { MiB, toDocument } from './spec.js';

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
          append: 'console=ttyS0',
          memory: 128 * MiB,
          smp: 1,
          mode: 'pv',
          devices: [],
          console: 'stdio',
        },
      ],
      switches: {},
    });
  });

  test('two domains on a switch: shorthands, devices in slot order, prefixed consoles', () => {
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
    assert.deepEqual(c.domains[0]!.devices, [
      { kind: 'blk', slot: 0, path: 'a.img', readonly: true, cache: 'unsafe' },
      { kind: 'net', slot: 1, switch: 'lan' },
    ]);
    assert.deepEqual(c.domains[1]!.devices, [
      { kind: 'blk', slot: 0, path: 'b.img', readonly: false, cache: 'writeback' },
      { kind: 'net', slot: 1, switch: 'lan', mac: '02:00:00:00:00:0b' },
    ]);
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
    assert.deepEqual(c.domains[0]!.devices[0], {
      kind: 'blk',
      slot: 0,
      path: join(dir, 'root.img'),
      readonly: false,
      cache: 'writeback',
    });
    await assert.rejects(loadConfigFile(join(dir, 'missing.yaml')), /cannot read config .*missing\.yaml: no such file/);
  });

  test('the example in docs/devices.md is valid', () => {
    const md = readFileSync(new URL('../../../docs/devices.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(md.slice(md.indexOf('## Config file')))?.[1];
    assert.ok(yaml, 'docs/devices.md has a yaml example under "Config file"');
    const c = parseConfigText(yaml, { source: 'devices.md' });
    assert.equal(c.domains[0]!.name, 'web');
    assert.equal(c.domains[0]!.devices.filter((d) => d.kind === 'blk').length, 2);
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
    rejects({ memory: 8 }, /^pvm\.yaml: domains\[0\]\.memory: at least 16M, got 8M$/);
    rejects({ memory: '64G' }, /^pvm\.yaml: domains\[0\]\.memory: at most 4096M, got 65536M$/);
    rejects({ memory: 'lots' }, /domains\[0\]\.memory: expected a size like 512M/);
  });
  test('smp not a whole number, or more vCPUs than a domain may have', () => {
    rejects({ smp: 1.5 }, /^pvm\.yaml: domains\[0\]\.smp: expected 1 to 8 vCPUs, got 1\.5$/);
    rejects({ smp: 16 }, /^pvm\.yaml: domains\[0\]\.smp: expected 1 to 8 vCPUs, got 16$/);
  });
  test('multicast MAC', () =>
    rejects(
      { nets: [{ switch: 'lan', mac: '01:00:5e:00:00:01' }] },
      /domains\[0\]\.nets\[0\]\.mac: expected a unicast MAC/,
    ));
  test('malformed MAC', () =>
    rejects({ nets: [{ mac: '52:54:00' }] }, /domains\[0\]\.nets\[0\]\.mac: expected a MAC like/));
  test('firmware without full mode', () =>
    rejects({ firmware: 'fw.bin' }, /domains\[0\]\.firmware: only with mode full/));
  test('initrd and append without a kernel', () => {
    rejects({ initrd: 'i.cpio' }, /domains\[0\]\.initrd: only with a kernel \(the embedded guest reads no initrd\)/);
    rejects({ append: 'quiet' }, /domains\[0\]\.append: only with a kernel/);
  });
  test('too many devices for the virtio slots', () =>
    rejects(
      { disks: ['1', '2', '3', '4', '5'], nets: ['lan'], rng: true, balloon: true, virtioConsole: true },
      /^pvm\.yaml: domains\[0\]\.balloon: no free virtio slot for balloon: 9 devices, 8 slots$/,
    ));
  test('two devices in one slot: the second is refused, naming the first', () =>
    rejects(
      { disks: [{ path: 'a.img', slot: 2 }], nets: ['lan,slot=2'] },
      /^pvm\.yaml: domains\[0\]\.nets\[0\]\.slot: slot 2 is already taken by disk a\.img$/,
    ));
  test('a slot out of range, as an object field and in a shorthand', () => {
    rejects(
      { disks: [{ path: 'a.img', slot: 8 }] },
      /^pvm\.yaml: domains\[0\]\.disks\[0\]\.slot: slot must be 0 to 7, got 8$/,
    );
    rejects({ rng: { slot: -1 } }, /^pvm\.yaml: domains\[0\]\.rng\.slot: slot must be 0 to 7, got -1$/);
    rejects(
      { nets: ['lan,slot=1.5'] },
      /^pvm\.yaml: domains\[0\]\.nets\[0\]: net "lan,slot=1\.5": slot must be 0 to 7, got "1\.5"$/,
    );
    rejects({ balloon: 'slot=' }, /^pvm\.yaml: domains\[0\]\.balloon: balloon "slot=": slot must be 0 to 7, got ""$/);
    rejects(
      { virtioConsole: 'slt=1' },
      /domains\[0\]\.virtioConsole: virtio console "slt=1": unknown option \(use slot=N\)$/,
    );
  });
  test('duplicate domain names', () =>
    rejects({ domains: [{ name: 'a' }, { name: 'a' }] }, /domains\[1\]\.name: "a" is used by another domain/));
  test('the same MAC twice on a switch', () => {
    rejects(
      { domains: [{ nets: ['lan,mac=02:00:00:00:00:01'] }, { nets: ['lan,mac=02:00:00:00:00:01'] }] },
      /domains\[1\]\.nets\[0\]\.mac: 02:00:00:00:00:01 is also domains\[0\]\.nets\[0\] on switch lan/,
    );
    // a MAC written out that the run would also generate for the first domain's NIC
    rejects(
      { domains: [{ nets: ['lan'] }, { nets: ['lan,mac=52:54:00:00:00:00'] }] },
      /domains\[1\]\.nets\[0\]\.mac: 52:54:00:00:00:00 is also domains\[0\]\.nets\[0\] on switch lan/,
    );
  });
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

describe('config: round trip', () => {
  test('property: a validated config round-trips through toDocument and JSON text', () => {
    const dom = fc.record({
      memory: fc.integer({ min: 16, max: 4096 }),
      smp: fc.integer({ min: 1, max: 8 }),
      mode: fc.constantFrom('pv', 'full'),
      disks: fc.array(fc.record({ path: fc.stringMatching(/^[a-z]{1,8}\.img$/), readonly: fc.constant(true) }), {
        maxLength: 3,
      }),
      rng: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(dom, { minLength: 1, maxLength: 4 }), (domains) => {
        const c = validateConfig({ domains });
        const text = JSON.stringify({ domains: c.domains.map(toDocument), switches: c.switches });
        assert.deepEqual(validateConfig(JSON.parse(text)), c);
        assert.equal(c.domains.length, domains.length);
      }),
      { numRuns: 100 },
    );
  });
});
