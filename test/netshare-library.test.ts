/**
 * Host folders and user-mode networks through the library, as a program that installed the
 * package uses it (`import ... from 'pvm'`, resolved through package.json's exports): the
 * new document fields are typed (`tsc --strict` refuses a wrong uplink or a misspelt share
 * field), and a program run in a network namespace the test creates boots the Linux guest
 * with a share and a user-mode NIC with a forward: the guest writes into the share, passt
 * runs while the domain lives and is gone after `close`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ts from 'typescript';
import { initrd, kernel, root } from './support/linux-guest.js';
import { runInNetns } from './support/netns.js';

const app = mkdtempSync(join(tmpdir(), 'pvm-lib-netshare-'));
after(() => rmSync(app, { recursive: true, force: true }));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules/pvm'));
writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');

/** Type-checks `source` as app/NAME.ts (strict); returns the diagnostics as `TSnnnn: message` lines. */
function typeCheck(name: string, source: string): string[] {
  const file = join(app, `${name}.ts`);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules/@types')],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]}`);
}

test('the library types shares, uplinks and forwards: tsc --strict refuses a wrong uplink or share field', () => {
  const good = `import { openControlPlane, type DomainSpecInput } from 'pvm';
const doc: DomainSpecInput = {
  name: 'x',
  shares: ['/srv:srv,ro', { path: '/home/me', tag: 'home', readonly: false }],
  nets: ['user', { switch: 'wan', uplink: 'user', publish: ['8080:80', { proto: 'udp', hostAddr: '::1', hostPort: 5353, guestPort: 53 }] }],
};
await openControlPlane().create(doc);
`;
  assert.deepEqual(typeCheck('good', good), []);
  assert.match(
    typeCheck('uplink', good.replace("uplink: 'user'", "uplink: 'slirp'")).join('\n'),
    /^TS2322: Type '"slirp"' is not assignable to type '"user"'/,
  );
  assert.match(
    typeCheck('ro', good.replace('readonly: false', 'ro: true')).join('\n'),
    /^TS(2353|2561): Object literal may only specify known properties, (and|but) 'ro' does not exist/,
  );
  assert.match(typeCheck('proto', good.replace("proto: 'udp'", "proto: 'sctp'")).join('\n'), /^TS2322: Type '"sctp"'/);
});

test('a program boots Linux with a share and a user-mode NIC; no passt left after close', { timeout: 300_000 }, () => {
  const share = join(app, 'share');
  mkdirSync(share);
  writeFileSync(join(share, 'in.txt'), 'from the host\n');
  const run = [
    'mount -t 9p -o trans=virtio,version=9p2000.L data /mnt',
    'cat /mnt/in.txt > /mnt/out.txt',
    'echo lib >> /mnt/out.txt',
  ]
    .join(';')
    .replaceAll(' ', '%20');
  writeFileSync(
    join(app, 'boot.mjs'),
    `import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { openControlPlane } from 'pvm';
const passt = () => readdirSync('/proc').filter((p) => {
  try {
    return /^\\d+$/.test(p) && readFileSync('/proc/' + p + '/comm', 'utf8').startsWith('passt') &&
      readlinkSync('/proc/' + p + '/ns/net') === readlinkSync('/proc/self/ns/net');
  } catch { return false; }
}).length;
const pvm = openControlPlane();
const vm = await pvm.create({
  name: 'lib',
  kernel: ${JSON.stringify(kernel)},
  initrd: ${JSON.stringify(initrd)},
  append: ${JSON.stringify(`console=ttyS0 pvm.run=${run}`)},
  shares: [{ path: ${JSON.stringify(share)}, tag: 'data' }],
  nets: [{ switch: 'user', uplink: 'user', publish: ['127.0.0.1:18095:80'] }],
});
const during = passt();
const devices = vm.devices.map((d) => d.kind + (d.tag ? ':' + d.tag : '') + (d.uplink ? ':' + d.uplink : '')).join(' ');
const end = await pvm.waitFor('lib', ['shutoff', 'crashed']);
await pvm.close();
console.log(JSON.stringify({ during, after: passt(), devices, state: end.state, reason: end.exitReason }));
`,
  );
  return runInNetns(['env', '-C', app, 'node', 'boot.mjs']).done.then((r) => {
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), {
      during: 1,
      after: 0,
      devices: 'net:user 9p:data',
      state: 'shutoff',
      reason: 'poweroff',
    });
    assert.equal(readFileSync(join(share, 'out.txt'), 'utf8'), 'from the host\nlib\n');
  });
});
