/**
 * `pvm run` refuses what it cannot do with one exact line, whichever way the domain was
 * described, and never ignores a flag: the limits of the spec (vCPUs, RAM) with the flag or the
 * field the user wrote; --max-instructions, --stats and --stats-json for every guest kind;
 * --initrd and --append only where a kernel reads them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { kernel, pvm } from './support/linux-guest.js';

const dir = mkdtempSync(join(tmpdir(), 'pvm-run-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `pvm run ARGS` in the test directory; a guard kills a run that hangs (it then has no status). */
function run(...args: string[]) {
  return spawnSync(process.execPath, [pvm, 'run', ...args], {
    cwd: dir,
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
  });
}

function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

test('memory: the same limits and messages for flags and files, never a crash or a hang', () => {
  for (const [value, message] of [
    ['10000', 'at most 4096M, got 10000M'],
    ['4097M', 'at most 4096M, got 4097M'],
    ['8G', 'at most 4096M, got 8192M'],
    ['8M', 'at least 16M, got 8M'],
    ['5', 'at least 16M, got 5M'],
  ]) {
    const flag = run('--memory', value!);
    assert.deepEqual([flag.status, flag.stderr], [2, `pvm: --memory: ${message}\n`], `--memory ${value}`);
    const f = file('mem.yaml', `memory: ${value}\n`);
    const cfg = run(f);
    assert.deepEqual([cfg.status, cfg.stderr], [2, `pvm: ${f}: domains[0].memory: ${message}\n`], `memory: ${value}`);
  }
  // Linux in 8 MiB used to hang silently in PV mode
  const linux = run('--kernel', kernel, '--memory', '8M');
  assert.deepEqual([linux.status, linux.stderr], [2, 'pvm: --memory: at least 16M, got 8M\n']);
});

test('vCPUs: 1 to 8 everywhere, the message naming the field of the file', () => {
  const f = file('smp.yaml', 'domains:\n  - name: big\n    smp: 16\n');
  const r = run(f);
  assert.deepEqual([r.status, r.stderr], [2, `pvm: ${f}: domains[0].smp: expected 1 to 8 vCPUs, got 16\n`]);
  const flag = run('--smp', '16');
  assert.deepEqual([flag.status, flag.stderr], [2, 'pvm: --smp: expected 1 to 8 vCPUs, got 16\n']);
});

// 200,000 instructions end inside the pvos boot (about 330,000): an idle guest at its prompt
// retires a few hundred instructions per timer tick and would take most of a minute to reach a
// million.
test('--max-instructions stops the embedded guest and every domain of a file (status 124)', () => {
  const r = run('--max-instructions', '200000');
  assert.equal(r.status, 124, r.stderr);
  assert.equal(r.stderr, 'pvm: guest stopped after 200000 instructions (--max-instructions)\n');
  const f = file('two.yaml', 'domains:\n  - name: a\n  - name: b\n');
  const both = run(f, '--max-instructions', '200000');
  assert.equal(both.status, 124, both.stderr);
  assert.deepEqual(both.stderr.split('\n').sort(), [
    '',
    'pvm: a: guest stopped after 200000 instructions (--max-instructions)',
    'pvm: b: guest stopped after 200000 instructions (--max-instructions)',
  ]);
});

test('--stats and --stats-json work with a config file (one object per domain name)', () => {
  const f = file('stats.yaml', 'domains:\n  - name: a\n  - name: b\n');
  const r = run(f, '--max-instructions', '200000', '--stats', '--stats-json', 'stats.json');
  assert.equal(r.status, 124, r.stderr);
  assert.match(r.stderr, /^== a\ndomain: mode pv, 1 hart\(s\)\ninstructions retired: 200000 /m);
  assert.match(r.stderr, /^== b\n/m);
  const json = JSON.parse(readFileSync(join(dir, 'stats.json'), 'utf8')) as Record<string, { instructions: number }>;
  assert.deepEqual(Object.keys(json).sort(), ['a', 'b']);
  assert.equal(json.a!.instructions, 200_000);
  // one domain: the statistics object itself, as with flags
  run('--max-instructions', '200000', '--stats-json', 'one.json');
  assert.equal(JSON.parse(readFileSync(join(dir, 'one.json'), 'utf8')).instructions, 200_000);
});

test('--initrd and --append are refused where no kernel reads them, not ignored', () => {
  const initrd = run('--initrd', 'x.cpio');
  assert.deepEqual(
    [initrd.status, initrd.stderr],
    [2, 'pvm: --initrd: only with a kernel (the embedded guest reads no initrd)\n'],
  );
  const append = run('--append', 'quiet');
  assert.deepEqual(
    [append.status, append.stderr],
    [2, 'pvm: --append: only with a kernel (the embedded guest reads no command line)\n'],
  );
  const con = run('--console', 'hvc0');
  assert.deepEqual(
    [con.status, con.stderr],
    [2, 'pvm: --console: only with --kernel (it sets the kernel command line)\n'],
  );
  const f = file('flags.yaml', 'name: x\n');
  const mixed = run(f, '--memory', '256M');
  assert.deepEqual(
    [mixed.status, mixed.stderr],
    [2, `pvm: --memory cannot be used with a config file (set it in ${f})\n`],
  );
});

test('every domain flag is refused with a config file, naming the flag', () => {
  const f = file('cells.yaml', 'name: x\n');
  const cells: [string[], string][] = [
    [['--kernel', 'Image'], '--kernel'],
    [['--initrd', 'i.cpio'], '--initrd'],
    [['--append', 'quiet'], '--append'],
    [['--memory', '256M'], '--memory'],
    [['--smp', '2'], '--smp'],
    [['--mode', 'full'], '--mode'],
    [['--firmware', 'fw.bin'], '--firmware'],
    [['--disk', 'd.img,slot=0'], '--disk'],
    [['--net', 'lan'], '--net'],
    [['--rng'], '--rng'],
    [['--balloon', 'slot=3'], '--balloon'],
    [['--virtio-console'], '--virtio-console'],
    [['--console', 'hvc0'], '--console'],
  ];
  for (const [flags, name] of cells) {
    const r = run(f, ...flags);
    assert.deepEqual(
      [r.status, r.stderr],
      [2, `pvm: ${name} cannot be used with a config file (set it in ${f})\n`],
      flags.join(' '),
    );
  }
});

test('--dry-run refuses the flags that only matter when guests run', () => {
  const f = file('dry.yaml', 'name: x\n');
  for (const [flags, name] of [
    [['--max-instructions', '1000'], '--max-instructions'],
    [['--deterministic'], '--deterministic'],
    [['--stats'], '--stats'],
    [['--stats-json', 'out.json'], '--stats-json'],
  ] as const) {
    for (const where of [[], [f]]) {
      const r = run(...where, '--dry-run', ...flags);
      assert.deepEqual([r.status, r.stderr], [2, `pvm: ${name} cannot be used with --dry-run (nothing runs)\n`]);
    }
  }
});

test('device placement refusals name the flag, the slot and the device already there', () => {
  const cells: [string[], string][] = [
    [['--disk', 'a.img,slot=8'], '--disk: disk "a.img,slot=8": slot must be 0 to 7, got "8"'],
    [['--net', 'lan,slot=-1'], '--net: net "lan,slot=-1": slot must be 0 to 7, got "-1"'],
    [['--rng', 'slot=x'], '--rng: rng "slot=x": slot must be 0 to 7, got "x"'],
    [['--balloon', 'at=1'], '--balloon: balloon "at=1": unknown option (use slot=N)'],
    [['--disk', 'a.img,slot=2', '--virtio-console', 'slot=2'], '--disk: slot 2 is already taken by the virtio console'],
    [
      [...['1', '2', '3', '4', '5', '6', '7'].flatMap((d) => ['--disk', `${d}.img`]), '--net', 'lan', '--rng'],
      '--rng: no free virtio slot for rng: 9 devices, 8 slots',
    ],
    [['--console', 'hvc2', '--kernel', 'k'], '--console: expected ttyS0, hvc0 or hvc1, got "hvc2"'],
  ];
  for (const [flags, message] of cells) {
    const r = run(...flags, '--dry-run');
    assert.deepEqual([r.status, r.stderr], [2, `pvm: ${message}\n`], flags.join(' '));
  }
});
