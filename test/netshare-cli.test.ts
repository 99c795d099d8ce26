/**
 * Host folders and user-mode networking through the product path, `pvm run` (bin/pvm.js in a
 * child process), with the shipped Linux guest:
 * - `--share DIR:TAG` and `--share DIR:TAG,ro`: the guest mounts both, reads, writes,
 *   renames, deletes, copies 1 MiB (md5 equal on both sides); the read-only one refuses
 *   every change;
 * - `--net user --publish`, in a network namespace the test creates (support/netns.ts):
 *   DHCP, wget of a host file, the guest's httpd reached through the forward, the traffic
 *   counted per port in `--stats`, and no passt left once pvm has exited;
 * - a config file with two domains on one switch with a passt uplink (one passt for both), a
 *   read-only share (a relative path) served by the guest's httpd through a forward;
 * - hostile flags, each refused with one line before anything runs.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initrd, initrdWithScripts, kernel, pvm, root } from './support/linux-guest.js';
import { runInNetns } from './support/netns.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'pvm-netshare-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `pvm ARGS`; resolves with the exit status and both streams (never rejects on a status). */
function pvmRun(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [pvm, ...args],
      { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20, env: opts.env ?? process.env, cwd: opts.cwd ?? dir },
      (e, out, err) => resolve({ status: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err }),
    );
  });
}

/** The init hook's command, spaces as %20 (guests/linux/README.md). */
const run = (cmds: string[]) => `pvm.run=${cmds.join(';').replaceAll(' ', '%20')}`;
const line = (log: string, prefix: string) =>
  log.split(/\r?\n/).find((l) => l.startsWith(prefix)) ?? `(no ${prefix} line)`;
const m9p = 'mount -t 9p -o trans=virtio,version=9p2000.L';

interface Scenario {
  status: number | null;
  stdout: string;
  stderr: string;
  host: { md5: string; bytes: number };
  fetched: { md5: string; bytes: number } | { error: string } | null;
  passtDuring: string[] | null;
  passtAfter: string[];
}

/** `pvm ARGS` in a fresh network namespace (support/pvm-netns-scenario.ts). */
async function inNetns(
  args: string[],
  marker: string,
  url: string,
  opts: { cwd?: string; templates?: string[] } = {},
): Promise<Scenario> {
  const { cwd, templates } = opts;
  const spec = JSON.stringify({ args, marker, url, ...(templates !== undefined && { templates }) });
  const argv = ['node', join(root, 'dist/test/support/pvm-netns-scenario.js'), spec];
  const r = await runInNetns(cwd === undefined ? argv : ['env', '-C', cwd, ...argv]).done;
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Scenario;
}

/** The guest's init with this checkout's DHCP hook (pvm.net=dhcp), as a file for --initrd. */
function dhcpInitrd(): string {
  const f = join(dir, 'initrd-dhcp.cpio.gz');
  writeFileSync(f, initrdWithScripts());
  return f;
}

test('pvm run --share: a writable and a read-only host folder, mounted by the Linux guest', {
  timeout: 300_000,
}, async () => {
  const rw = join(dir, 'rw');
  const ro = join(dir, 'ro');
  mkdirSync(join(rw, 'old'), { recursive: true });
  mkdirSync(ro);
  writeFileSync(join(rw, 'hello.txt'), 'hello from the host\n');
  writeFileSync(join(rw, 'old', 'gone.txt'), 'x');
  const big = randomBytes(1 << 20);
  writeFileSync(join(rw, 'big.bin'), big);
  writeFileSync(join(ro, 'ro.txt'), 'read only\n');
  const r = await pvmRun([
    'run',
    '--kernel',
    kernel,
    '--initrd',
    initrd,
    '--share',
    'rw:data',
    '--share',
    `${ro}:cfg,ro`,
    '--stats',
    '--append',
    `console=ttyS0 ${run([
      'mkdir -p /ro',
      `${m9p} data /mnt`,
      `${m9p} cfg /ro`,
      'echo "read: $(cat /mnt/hello.txt)"',
      'echo "big: $(md5sum < /mnt/big.bin | cut -c1-32)"',
      'echo from-guest > /mnt/new.txt',
      'mkdir /mnt/made && mv /mnt/new.txt /mnt/made/moved.txt',
      'rm /mnt/old/gone.txt && rmdir /mnt/old',
      'dd if=/dev/urandom of=/tmp/g.bin bs=64k count=16 2>/dev/null && cp /tmp/g.bin /mnt/g.bin',
      'echo "g: $(md5sum < /tmp/g.bin | cut -c1-32)"',
      'echo "ro read: $(cat /ro/ro.txt)"',
      'for c in "echo x > /ro/new" "rm /ro/ro.txt" "mkdir /ro/d" "mv /ro/ro.txt /ro/r2"; do o=$(sh -c "$c" 2>&1); echo "ro: rc=$? $o"; done',
      'umount /mnt /ro && echo unmounted',
    ])}`,
  ]);
  assert.equal(r.status, 0, r.err.slice(-3000) + r.out.slice(-3000));
  const log = r.out;
  assert.equal(line(log, 'read: '), 'read: hello from the host');
  assert.equal(line(log, 'big: '), `big: ${md5(big)}`);
  const g = /^g: ([0-9a-f]{32})/m.exec(log);
  assert.ok(g, line(log, 'g: '));
  assert.equal(md5(readFileSync(join(rw, 'g.bin'))), g[1], 'the host has the bytes the guest wrote');
  assert.equal(readFileSync(join(rw, 'made', 'moved.txt'), 'utf8'), 'from-guest\n');
  assert.deepEqual(readdirSync(rw).sort(), ['big.bin', 'g.bin', 'hello.txt', 'made']);
  assert.equal(line(log, 'ro read: '), 'ro read: read only');
  const roLines = log.split(/\r?\n/).filter((l) => l.startsWith('ro: '));
  assert.equal(roLines.length, 4, log.slice(-2000));
  for (const l of roLines) assert.match(l, /^ro: rc=1 .*Read-only file system$/, l);
  assert.deepEqual(readdirSync(ro), ['ro.txt']);
  assert.match(log, /^unmounted\r?$/m);
  // --stats names the two 9p transports (slots 0 and 1).
  assert.match(r.err, /mmio by device: .*virtio0-9p \d+, virtio1-9p \d+/);
});

test('pvm run --net user --publish: DHCP, wget from the host, httpd through the forward; counted; no passt left', {
  timeout: 600_000,
}, async () => {
  const s = await inNetns(
    [
      'run',
      '--kernel',
      kernel,
      '--initrd',
      dhcpInitrd(),
      '--net',
      'user',
      '--publish',
      '18080:80',
      '--stats',
      '--append',
      `console=ttyS0 pvm.net=dhcp ${run([
        'wget -q -O /tmp/f http://10.0.2.2:{PORT}/file.bin && echo "wget: $(md5sum < /tmp/f | cut -c1-32) $(wc -c < /tmp/f)"',
        'mkdir -p /www && dd if=/dev/urandom of=/www/g.bin bs=1k count=512 2>/dev/null',
        'echo "served: $(md5sum < /www/g.bin | cut -c1-32) $(wc -c < /www/g.bin)"',
        "httpd -p 80 -h /www && echo httpd''-up",
        'until wget -q -O /dev/null http://10.0.2.2:{PORT}/done 2>/dev/null; do sleep 1; done',
      ])}`,
    ],
    'httpd-up',
    'http://127.0.0.1:18080/g.bin',
  );
  const log = s.stdout;
  assert.equal(s.status, 0, s.stderr.slice(-3000) + log.slice(-3000));
  assert.match(log, /^pvm-guest: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2\r?$/m);
  assert.equal(line(log, 'wget: '), `wget: ${s.host.md5} ${s.host.bytes}`);
  const served = /^served: ([0-9a-f]{32}) (\d+)/m.exec(log);
  assert.ok(served, line(log, 'served: '));
  assert.deepEqual(s.fetched, { md5: served[1], bytes: 512 << 10 });
  // One passt while the guest ran, none after pvm exited.
  assert.equal(s.passtDuring?.length, 1, String(s.passtDuring));
  assert.deepEqual(s.passtAfter, []);
  // --stats: the NIC's port and the uplink's, each way.
  const nic = /^ {2}slot 0 52:54:00:00:00:00 on user: tx (\d+) frames (\d+) bytes, rx (\d+) frames (\d+) bytes$/m.exec(
    s.stderr,
  );
  const up =
    /^ {4}uplink \(passt\): tx (\d+) frames (\d+) bytes, rx (\d+) frames (\d+) bytes, dropped (\d+), malformed 0$/m.exec(
      s.stderr,
    );
  assert.ok(nic && up, s.stderr);
  const [, nTxF, nTxB, nRxF, nRxB] = nic.map(Number);
  const [, uTxF, uTxB, uRxF, uRxB] = up.map(Number);
  assert.ok(nRxB! > s.host.bytes, `the NIC received ${nRxB} bytes`);
  assert.ok(nTxB! > 512 << 10, `the NIC sent ${nTxB} bytes`);
  // A private switch with two ports: all the NIC sent went to passt, all passt sent to the NIC.
  assert.deepEqual([uRxF, uRxB, uTxF, uTxB], [nTxF, nTxB, nRxF, nRxB]);
});

test('config file: two domains on one passt switch, a read-only share served through a forward', {
  timeout: 600_000,
}, async () => {
  const cfgDir = join(dir, 'cfg');
  mkdirSync(join(cfgDir, 'www'), { recursive: true });
  const page = randomBytes(200 << 10);
  writeFileSync(join(cfgDir, 'www', 'page.bin'), page);
  writeFileSync(join(cfgDir, 'initrd.gz'), initrdWithScripts());
  writeFileSync(
    join(cfgDir, 'pair.yaml'),
    [
      'domains:',
      '  - name: web',
      `    kernel: ${kernel}`,
      '    initrd: ./initrd.gz',
      `    append: ${JSON.stringify(
        `console=ttyS0 pvm.net=dhcp ${run([
          `mkdir -p /www && ${m9p} www /www`,
          "httpd -p 80 -h /www && echo httpd''-up",
          'until wget -q -O /dev/null http://10.0.2.2:{PORT}/done 2>/dev/null; do sleep 1; done',
        ])}`,
      )}`,
      '    nets: [{ switch: wan, uplink: user, publish: ["127.0.0.1:18081:80"] }]',
      '    shares: ["./www:www,ro"]',
      '  - name: quiet',
      `    kernel: ${kernel}`,
      '    initrd: ./initrd.gz',
      `    append: ${JSON.stringify(`console=ttyS0 ${run(['ls /sys/class/net/eth0 >/dev/null && echo quiet-done'])}`)}`,
      '    nets: ["wan,uplink=user"]',
    ].join('\n'),
  );
  const s = await inNetns(['run', 'pair.yaml', '--stats'], 'httpd-up', 'http://127.0.0.1:18081/page.bin', {
    cwd: cfgDir,
    templates: [join(cfgDir, 'pair.yaml')],
  });
  assert.equal(s.status, 0, s.stderr.slice(-3000) + s.stdout.slice(-3000));
  assert.match(s.stdout, /^web\| ?pvm-guest: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2\r?$/m);
  assert.match(s.stdout, /^quiet\| ?quiet-done\r?$/m);
  assert.deepEqual(s.fetched, { md5: md5(page), bytes: page.length });
  // Both NICs asked for the switch's uplink: one passt, still there for web when quiet has ended.
  assert.equal(s.passtDuring?.length, 1, String(s.passtDuring));
  assert.deepEqual(s.passtAfter, []);
  assert.match(s.stderr, /^== web$/m);
  assert.match(s.stderr, /^ {2}slot 0 52:54:00:00:00:00 on wan: tx \d+ frames/m);
  assert.match(s.stderr, /^ {2}slot 0 52:54:00:00:01:00 on wan: tx \d+ frames/m);
});

test('hostile --share, --publish and --net flags: one line each, exit status 2, nothing run', async () => {
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const file = join(dir, 'plain.txt');
  writeFileSync(file, 'x');
  const cases: [args: string[], message: string][] = [
    [
      ['--share', `${dir}:${'t'.repeat(33)}`],
      `--share: share "${dir}:${'t'.repeat(33)}": 9p tag "${'t'.repeat(33)}": at most 32 characters`,
    ],
    [['--share', dir], `--share: share "${dir}": expected HOSTDIR:TAG[,ro]`],
    [['--share', `${dir}:a/b`], `--share: share "${dir}:a/b": 9p tag "a/b": use letters, digits, "_", "-" and "."`],
    [['--share', `${dir}:t,rwx`], `--share: share "${dir}:t,rwx": unknown option "rwx" (use ro, slot=N)`],
    [['--share', `${dir}:t`, '--share', `${dir}:t,ro`], '--share: tag "t" is used by another share'],
    [['--share', `${file}:t`], `domain vm0: share ${file}: not a directory`],
    [['--share', `${fifo}:t,ro`], `domain vm0: share ${fifo}: not a directory`],
    [['--share', `${join(dir, 'missing')}:t`], `domain vm0: cannot open share ${join(dir, 'missing')}: no such file`],
    [['--publish', '8080:80'], '--publish: needs a user-mode network (--net user or --net NAME,uplink=user)'],
    [
      ['--net', 'lan', '--publish', '8080:80'],
      '--publish: needs a user-mode network (--net user or --net NAME,uplink=user)',
    ],
    [
      ['--net', 'user', '--net', 'wan,uplink=user', '--publish', '8080:80'],
      '--publish: 2 user-mode networks; forward into one of them with a config file (nets[].publish)',
    ],
    [
      ['--net', 'user', '--publish', '80'],
      '--publish: publish "80": expected two ports (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])',
    ],
    [
      ['--net', 'user', '--publish', '8080:0'],
      '--publish: publish "8080:0": guest port "0" is not 1 to 65535 (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])',
    ],
    [
      ['--net', 'user', '--publish', 'example.com:8080:80'],
      '--publish: publish "example.com:8080:80": "example.com" is not an IPv4 address (IPv6 goes in brackets) (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])',
    ],
    [
      ['--net', 'user', '--publish', '8080:80/icmp'],
      '--publish: publish "8080:80/icmp": unknown protocol "icmp" (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])',
    ],
    [
      ['--net', 'user', '--publish', '8080:80', '--publish', '127.0.0.1:8080:81'],
      '--publish: tcp port 8080 on 127.0.0.1 is already forwarded by 127.0.0.1:8080:80/tcp',
    ],
    [
      ['--net', 'lan,uplink=slirp'],
      '--net: net "lan,uplink=slirp": unknown option "uplink=slirp" (use mac=XX:XX:XX:XX:XX:XX, uplink=user, slot=N)',
    ],
  ];
  for (const [args, message] of cases) {
    const r = await pvmRun(['run', '--dry-run', ...args]);
    assert.deepEqual([r.status, r.err.trimEnd(), r.out], [2, `pvm: ${message}`, ''], args.join(' '));
  }
  // passt missing: one line saying what to install, whatever else the domain has.
  const noPasst = await pvmRun(['run', '--dry-run', '--share', `${dir}:t`, '--net', 'user'], {
    env: { ...process.env, PATH: '/nonexistent' },
  });
  assert.deepEqual(
    [noPasst.status, noPasst.err.trimEnd()],
    [
      2,
      'pvm: domain vm0: user-mode networking needs passt, which is not installed (passt not found; Debian: apt install passt)',
    ],
  );
  // A config file: one line per problem, each naming its field (the cross-field rules, such as
  // nets[0]'s forward without a passt uplink, are checked once the fields themselves are good).
  writeFileSync(
    join(dir, 'bad.yaml'),
    [
      'domains:',
      '  - shares: [{ path: ./x, tag: "a b" }, "./y"]',
      '    nets: [{ switch: lan, publish: ["8080:80"] }, { switch: wan, uplink: user, publish: ["1:2:3"] }]',
    ].join('\n'),
  );
  const bad = await pvmRun(['run', 'bad.yaml']);
  assert.deepEqual(
    [bad.status, bad.err.trimEnd().split('\n')],
    [
      2,
      [
        'pvm: bad.yaml: domains[0].nets[1].publish[0]: publish "1:2:3": "1" is not an IPv4 address (IPv6 goes in brackets) (expected [ADDR:]HOSTPORT:GUESTPORT[/udp])',
        'bad.yaml: domains[0].shares[0].tag: 9p tag "a b": use letters, digits, "_", "-" and "."',
        'bad.yaml: domains[0].shares[1]: share "./y": expected HOSTDIR:TAG[,ro]',
      ],
    ],
  );
  // A config file may not take the flags.
  writeFileSync(join(dir, 'one.yaml'), 'name: one\n');
  const mixed = await pvmRun(['run', 'one.yaml', '--share', `${dir}:t`]);
  assert.deepEqual(
    [mixed.status, mixed.err.trimEnd()],
    [2, 'pvm: --share cannot be used with a config file (set it in one.yaml)'],
  );
});

test('a forward whose host port is taken: passt says so in one line, exit 2', {
  timeout: 120_000,
}, async () => {
  // In a fresh namespace: a host program holds 127.0.0.1:18080, then pvm asks passt to forward it.
  const holder = 'const s = require("net").createServer().listen(18080, "127.0.0.1", () => console.log("held"))';
  const script = [
    `node -e '${holder}; setTimeout(() => s.close(), 30000)' > held.txt &`,
    'until [ -s held.txt ]; do sleep 0.1; done',
    `node ${pvm} run --dry-run --net user --publish 18080:80; echo "rc=$?"`,
    'kill $!',
  ].join('\n');
  const r = await runInNetns(['env', '-C', dir, 'sh', '-c', script]).done;
  assert.match(r.stdout, /^rc=2$/m);
  assert.match(
    r.stderr,
    /^pvm: domain vm0: passt failed to start \(exit status 1\): .*Failed to bind any port for '-t 127\.0\.0\.1\/18080:80', exiting$/m,
  );
});
