/**
 * Hostile tests of the daemon's host side (docs/security.md): each case is one way a client, a
 * file or a careless operator could end the daemon, hang it, or lose data, and checks that it gets
 * a clear refusal instead while the daemon and its other domains go on. Named after the findings
 * (F1, F2, ...) they cover.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfigText } from '../src/api/config-file.js';
import { FakeDomainManager } from '../src/api/fake-domain.js';
import { isPvmError } from '../src/core/errors.js';
import type { NetLink } from '../src/devices/switch.js';
import { HostFiles } from '../src/host/host-files.js';
import { MAX_SNAPSHOT_FILE_BYTES } from '../src/host/snapshot-file.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, refusal, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const root = join(import.meta.dirname, '../..');
const pvmBin = join(root, 'bin/pvm.js');

function raw(
  target: { socketPath: string } | { host: string; port: number },
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Makes a FIFO with mkfifo(1). */
function mkfifo(path: string): string {
  const r = spawnSync('mkfifo', [path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
  return path;
}

/** A domain's internals, for the tests that make its code fail. */
interface Internals {
  vm: { input(b: Uint8Array): void };
  built: { devices: { spec: { kind: string }; model: { deliver(f: Uint8Array): void } }[] };
}
const internals = (m: HypervisorDomainManager, id: number): Internals =>
  (m as unknown as { domains: Map<number, Internals> }).domains.get(id)!;

describe('hardening: a client or a file ends at most its own request or domain', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-hard-' });
  });
  after(() => h.close());

  test('F1: console bytes after destroy and after save end that connection, not the daemon', async () => {
    for (const how of ['destroy', 'save'] as const) {
      const d = await h.client.create({ name: `f1-${how}`, memory: '16M' }, { paused: true });
      const con = await h.client.attachConsole(d.name, { write: true });
      con.on('error', () => {});
      const closed = new Promise((r) => con.on('close', r));
      if (how === 'destroy') await h.client.destroy(d.name);
      else await h.client.save(d.name, join(h.dir, 'f1.pvmsnap'));
      con.write('after the domain is gone\n');
      await closed;
      assert.deepEqual(
        (await h.client.list()).map((x) => x.name).filter((n) => n.startsWith('f1-')),
        [],
      );
    }
    assert.equal((await h.client.create({ name: 'f1-after', memory: '16M' }, { paused: true })).state, 'paused');
    await h.client.destroy('f1-after');
  });

  test('F5: console input past the 64 KiB buffer is dropped and counted in stats', async () => {
    // Paused before boot, input goes to the UART's 64 KiB receive buffer (the SBI console's ring
    // is the same size once a PV guest binds it).
    const d = await h.client.create({ name: 'f5-input', memory: '16M' }, { paused: true });
    assert.equal((await h.client.stats(d.name)).consoleInputDropped, 0);
    const con = await h.client.attachConsole(d.name, { write: true });
    con.on('error', () => {});
    for (let i = 0; i < 7; i++) con.write(Buffer.alloc(10_000, 0x61)); // in messages the console accepts
    const s = await until('input counted', async () => {
      const x = await h.client.stats(d.name);
      return x.consoleInputDropped !== 0 && x;
    });
    assert.equal(s.consoleInputDropped, 70_000 - 65_536);
    con.destroy();
    await h.client.destroy(d.name);
  });

  test('blast radius: a failure in console input crashes that domain only', async () => {
    const a = await h.client.create({ name: 'br-victim', memory: '16M' }, { paused: true });
    const b = await h.client.create({ name: 'br-bystander', memory: '16M' });
    internals(h.manager, a.id).vm.input = () => {
      throw new Error('injected input failure');
    };
    const con = await h.client.attachConsole('br-victim', { write: true });
    con.on('error', () => {});
    con.write('x');
    const crashed = await until('crashed', async () => {
      const i = await h.client.info('br-victim');
      return i.state === 'crashed' && i;
    });
    assert.equal(crashed.exitReason, 'console input: injected input failure');
    assert.equal((await h.client.info(b.name)).state, 'running');
    con.destroy();
    await h.client.destroy('br-victim');
    await h.client.destroy('br-bystander');
  });

  test('blast radius: a failure in a NIC receiving a frame crashes its domain, not the sender', async () => {
    const a = await h.client.create({ name: 'br-nic', memory: '16M', nets: ['brlan'] }, { paused: true });
    const b = await h.client.create({ name: 'br-nic2', memory: '16M', nets: ['brlan'] }, { paused: true });
    const nic = internals(h.manager, a.id).built.devices.find((x) => x.spec.kind === 'net')!;
    nic.model.deliver = () => {
      throw new Error('injected receive failure');
    };
    // A third port on the same switch sends a broadcast: both domains' NICs get it.
    const sw = (
      h.manager as unknown as {
        resources: { switches: { get(n: string): { attach(e: unknown): unknown } } };
      }
    ).resources.switches.get('brlan');
    let link: NetLink | null = null;
    const mac = Uint8Array.of(0x02, 0, 0, 0, 0x77, 0x01);
    sw.attach({ mac, deliver: () => {}, connect: (l: NetLink | null) => (link = l) });
    const frame = new Uint8Array(60);
    frame.fill(0xff, 0, 6);
    frame.set(mac, 6);
    frame[12] = 0x08;
    assert.doesNotThrow(() => link!.transmit(frame));
    const info = await h.client.info('br-nic');
    assert.equal(info.state, 'crashed');
    assert.match(info.exitReason ?? '', /^network frame for .*: injected receive failure$/);
    assert.equal((await h.client.info(b.name)).state, 'paused');
    await h.client.destroy('br-nic');
    await h.client.destroy('br-nic2');
  });

  test('blast radius: a disk completion that fails crashes its domain only', async () => {
    const img = join(h.dir, 'br-disk.img');
    writeFileSync(img, Buffer.alloc(64 * 1024));
    const a = await h.client.create({ name: 'br-disk', memory: '16M', disks: [img] }, { paused: true });
    const b = await h.client.create({ name: 'br-disk2', memory: '16M' }, { paused: true });
    // The device runs each completion (used ring, interrupt) through the guard it was given;
    // the virtio-blk unit test shows a failing completion takes that path.
    const blk = internals(h.manager, a.id).built.devices.find((x) => x.spec.kind === 'blk')!;
    const guard = (blk.model as unknown as { contain: (what: string, fn: () => void) => void }).contain;
    assert.doesNotThrow(() =>
      guard('disk completion', () => {
        throw new Error('injected completion failure');
      }),
    );
    const info = await h.client.info('br-disk');
    assert.equal(info.state, 'crashed');
    assert.equal(info.exitReason, 'disk completion: injected completion failure');
    assert.equal((await h.client.info(b.name)).state, 'paused');
    await h.client.destroy('br-disk');
    await h.client.destroy('br-disk2');
  });

  test('blast radius: an event listener that throws is dropped; the others and the domain go on', async () => {
    const seen: string[] = [];
    const unsubscribe = h.manager.subscribe(() => {
      throw new Error('bad listener');
    });
    const unsubscribe2 = h.manager.subscribe((e) => seen.push(e.type === 'state' ? e.state : e.type));
    const d = await h.client.create({ name: 'br-events', memory: '16M' }, { paused: true });
    await h.client.unpause(d.name);
    await h.client.destroy(d.name);
    unsubscribe();
    unsubscribe2();
    assert.deepEqual(seen, ['paused', 'running', 'removed']);
  });

  test('F2: a FIFO or a device as kernel, initrd or firmware is refused at once', async () => {
    const fifo = mkfifo(join(h.dir, 'kernel.fifo'));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kernel: fifo }, /cannot use kernel .*kernel\.fifo: a FIFO, not a regular file$/],
      [{ kernel: '/dev/zero' }, /cannot use kernel \/dev\/zero: a device, not a regular file$/],
      [{ kernel: join(root, 'guests/pvos/pvos.elf'), initrd: '/dev/zero' }, /initrd \/dev\/zero: a device/],
      [{ mode: 'full', firmware: fifo }, /firmware .*kernel\.fifo: a FIFO/],
      [{ disks: [fifo] }, /disk .*kernel\.fifo is not a regular file/],
    ];
    for (const [fields, message] of cases) {
      const e = await refusal(h.client.create({ name: 'f2', memory: '16M', ...fields }));
      assert.match(e.message, message, JSON.stringify(fields));
    }
    // The CLI the same way: exit 2 with the message, no hang.
    const r = spawnSync('node', [pvmBin, 'run', '--kernel', fifo], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /kernel\.fifo: a FIFO, not a regular file/);
    const bare = spawnSync('node', [pvmBin, 'run', '--bare', fifo], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bare.status, 2, bare.stderr);
    assert.match(bare.stderr, /not a regular file/);
    assert.deepEqual(await h.client.list(), []);
  });

  test('F7: restore from a FIFO, a device or a file over the limit is refused before reading it', async () => {
    const fifo = mkfifo(join(h.dir, 'restore.fifo'));
    assert.match((await refusal(h.client.restore(fifo))).message, /restore\.fifo: a FIFO, not a regular file$/);
    assert.match((await refusal(h.client.restore('/dev/zero'))).message, /\/dev\/zero: a device/);
    const huge = join(h.dir, 'huge.pvmsnap');
    closeSync(openSync(huge, 'w'));
    truncateSync(huge, MAX_SNAPSHOT_FILE_BYTES + 1); // sparse: no disk used
    assert.match(
      (await refusal(h.client.restore(huge))).message,
      new RegExp(`${MAX_SNAPSHOT_FILE_BYTES + 1} bytes is more than ${MAX_SNAPSHOT_FILE_BYTES}$`),
    );
    // A large file of something else: refused on its magic (its 1.9 GB are not read).
    const big = join(h.dir, 'big.pvmsnap');
    writeFileSync(big, 'this is not a save file, but it is long enough for a header\n');
    truncateSync(big, 1_900_000_000);
    const e = await refusal(h.client.restore(big));
    assert.equal(e.message, 'not a pvm snapshot (bad magic number)');
  });

  test('F8: save replaces only its own previous save; never a link, device, FIFO or socket', async () => {
    const d = await h.client.create({ name: 'f8', memory: '16M' }, { paused: true });
    const file = join(h.dir, 'f8.pvmsnap');
    await h.client.save('f8', file, { keep: true });
    const first = readFileSync(file);
    await h.client.save('f8', file, { keep: true }); // a previous save: replaced
    assert.equal(readFileSync(file).subarray(0, 8).toString('latin1'), 'PVMSNAP\0');
    assert.equal(readFileSync(file).length, first.length);

    const notes = join(h.dir, 'notes.txt');
    writeFileSync(notes, 'precious');
    const e = await refusal(h.client.save('f8', notes, { keep: true }));
    assert.equal(e.code, 'bad-request');
    assert.match(e.message, /notes\.txt: it exists and is not a pvm save file \(pvm save --force replaces it\)$/);
    assert.equal(readFileSync(notes, 'utf8'), 'precious');

    const link = join(h.dir, 'link.pvmsnap');
    symlinkSync(file, link);
    const fifo = mkfifo(join(h.dir, 'save.fifo'));
    const cases: [string, RegExp][] = [
      [link, /it is a symbolic link/],
      [fifo, /it is a FIFO/],
      [h.daemon.socketPath, /it is a socket/],
      [h.dir, /it is a directory/],
    ];
    for (const [target, message] of cases) {
      const r = await refusal(h.client.save('f8', target, { keep: true, force: true }));
      assert.match(r.message, message, target);
    }
    assert.equal((await raw({ socketPath: h.daemon.socketPath }, 'GET', '/v1/version')).status, 200, 'socket kept');

    await h.client.save('f8', notes, { keep: true, force: true });
    assert.equal(readFileSync(notes).subarray(0, 8).toString('latin1'), 'PVMSNAP\0');
    assert.equal((await h.client.info(d.name)).state, 'paused');
    await h.client.destroy('f8');
  });

  test('F11: a long append is a 400 naming the limit; a body over 1 MiB gets 413', async () => {
    const e = await refusal(h.client.create({ name: 'f11', kernel: '/x', append: 'a'.repeat(70_000) }));
    assert.equal(e.code, 'bad-request');
    assert.equal(e.message, 'config.append: at most 4096 bytes, got 70000');
    const sock = { socketPath: h.daemon.socketPath };
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const r = await raw(sock, 'POST', '/v1/domains', big, { 'content-type': 'application/json' });
    assert.equal(r.status, 413);
    assert.match(JSON.parse(r.text).error.message, /^request body is larger than 1048576 bytes/);
    assert.equal((await raw(sock, 'GET', '/v1/version')).status, 200);
  });

  test('a request target the URL parser refuses (found by the router fuzzer) is a 400', async () => {
    const sock = { socketPath: h.daemon.socketPath };
    for (const target of ['//', '//x:y', '//[::1']) {
      const r = await raw(sock, 'GET', target);
      assert.equal(r.status, 400, target);
      assert.equal(JSON.parse(r.text).error.code, 'bad-request');
    }
    assert.equal((await raw(sock, 'GET', '/v1/version')).status, 200);
  });
});

describe('hardening: the host files policy (F9)', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let base: string;
  let allowed: string;
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'pvm-f9-files-'));
    allowed = join(base, 'allowed');
    mkdirSync(allowed);
    h = await startTestDaemon(new HypervisorDomainManager({ files: new HostFiles([allowed]) }), {
      prefix: 'pvm-f9-',
    });
  });
  after(async () => {
    await h.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('paths outside the allowed directories are refused (403), after resolving symlinks', async () => {
    const outside = join(base, 'outside.img');
    writeFileSync(outside, Buffer.alloc(4096));
    const sneaky = join(allowed, 'sneaky.img');
    symlinkSync(outside, sneaky);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kernel: '/etc/hostname' }, /kernel \/etc\/hostname is outside the directories this daemon may use/],
      [{ kernel: join(root, 'guests/pvos/pvos.elf'), initrd: '/etc/hostname' }, /initrd \/etc\/hostname is outside/],
      [{ disks: [outside] }, /disk .*outside\.img is outside/],
      [{ disks: [sneaky] }, /disk .*sneaky\.img \(.*outside\.img\) is outside/],
      [{ console: { file: join(base, 'console.log') } }, /console file .*console\.log is outside/],
    ];
    for (const [fields, message] of cases) {
      const e = await refusal(h.client.create({ name: 'f9', memory: '16M', ...fields }, { paused: true })).catch(
        (err: Error) => assert.fail(`${JSON.stringify(fields)}: ${err.message}`),
      );
      assert.equal(e.code, 'forbidden', JSON.stringify(fields));
      assert.equal(e.status, 403);
      assert.match(e.message, message);
    }
    // The embedded guest is always readable; a file inside the directory is fine.
    const inside = join(allowed, 'disk.img');
    writeFileSync(inside, Buffer.alloc(4096));
    await h.client.create({ name: 'f9-ok', memory: '16M', disks: [inside] }, { paused: true });
    const e = await refusal(h.client.save('f9-ok', join(base, 'out.pvmsnap'), { keep: true }));
    assert.equal(e.code, 'forbidden');
    await h.client.save('f9-ok', join(allowed, 'in.pvmsnap'));
    assert.equal((await h.client.restore(join(allowed, 'in.pvmsnap'))).name, 'f9-ok');
    await h.client.destroy('f9-ok');
  });

  test('relative paths are refused, not resolved against the daemon working directory', async () => {
    const e = await refusal(h.client.create({ name: 'f9-rel', memory: '16M', disks: ['disk.img'] }));
    assert.equal(e.code, 'bad-request');
    assert.match(e.message, /disk path "disk\.img" is relative: host paths must be absolute$/);
    // The API schema already asks for an absolute path there.
    const r = await refusal(h.client.restore('in.pvmsnap'));
    assert.equal(r.message, "body.path is not valid: absolute path on the daemon's host");
  });
});

describe('hardening: data safety', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-data-' });
  });
  after(() => h.close());

  test('two domains cannot write one disk image; readers share it', async () => {
    const img = join(h.dir, 'shared.img');
    writeFileSync(img, Buffer.alloc(64 * 1024));
    await h.client.create({ name: 'w1', memory: '16M', disks: [img] }, { paused: true });
    const e = await refusal(h.client.create({ name: 'w2', memory: '16M', disks: [img] }, { paused: true }));
    assert.equal(e.code, 'in-use');
    assert.match(e.message, /disk .*shared\.img is in use by another domain or process: cannot get its write lock/);
    const r = await refusal(h.client.create({ name: 'r1', memory: '16M', disks: [`${img},ro`] }, { paused: true }));
    assert.equal(r.code, 'in-use');
    await h.client.destroy('w1');
    await h.client.create({ name: 'r1', memory: '16M', disks: [`${img},ro`] }, { paused: true });
    await h.client.create({ name: 'r2', memory: '16M', disks: [`${img},ro`] }, { paused: true });
    assert.equal((await refusal(h.client.create({ name: 'w3', memory: '16M', disks: [img] }))).code, 'in-use');
    await h.client.destroy('r1');
    await h.client.destroy('r2');
    // Released with its domain: a writer may come now.
    await h.client.create({ name: 'w4', memory: '16M', disks: [img] }, { paused: true });
    await h.client.destroy('w4');
  });

  test('two pvm run processes cannot write one disk image', async () => {
    const img = join(h.dir, 'run.img');
    writeFileSync(img, Buffer.alloc(64 * 1024));
    // The first holds the lock while it runs (the embedded guest waits for console input).
    const { spawn } = await import('node:child_process');
    const first = spawn('node', [pvmBin, 'run', '--disk', img], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    first.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await until('the first guest is up', () => out.length > 0);
      const second = spawnSync('node', [pvmBin, 'run', '--disk', img], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(second.status, 2, second.stderr);
      assert.match(second.stderr, /run\.img is in use by another domain or process/);
      const reader = spawnSync('node', [pvmBin, 'run', '--disk', `${img},ro`], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(reader.status, 2, reader.stderr);
      assert.match(reader.stderr, /run\.img is being written by another domain or process/);
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.on('close', r));
    }
  });

  test('a restored copy of a domain still on the switch is refused: MACs are unique per switch', async () => {
    await h.client.create({ name: 'mac1', memory: '16M', nets: ['maclan'] }, { paused: true });
    const file = join(h.dir, 'mac1.pvmsnap');
    await h.client.save('mac1', file, { keep: true });
    const e = await refusal(h.client.restore(file, { name: 'mac1-copy' }));
    assert.equal(e.code, 'in-use');
    assert.match(e.message, /MAC 52:54:00:[0-9a-f:]+ is already on switch maclan/);
    assert.deepEqual(
      (await h.client.list()).map((d) => d.name),
      ['mac1'],
    );
    await h.client.destroy('mac1');
    assert.equal((await h.client.restore(file, { name: 'mac1-copy', paused: true })).name, 'mac1-copy');
    await h.client.destroy('mac1-copy');
  });
});

describe('hardening: the TCP listener (F10)', () => {
  const token = 'a-token-of-sixteen-chars';
  let h: TestDaemon<FakeDomainManager>;
  let port: number;
  before(async () => {
    h = await startTestDaemon(new FakeDomainManager(), {
      prefix: 'pvm-tcp-',
      tcpToken: token,
      tcpLimits: { maxConnectionsPerClient: 4, idleMs: 300, headersMs: 500, requestMs: 1000 },
    });
    port = h.daemon.tcp!.port;
  });
  after(() => h.close());

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  /** Resolves when the daemon has closed `s` (what it sends is read and dropped meanwhile). */
  const closed = (s: Socket): Promise<void> =>
    new Promise((r) => {
      s.resume();
      if (s.closed) r();
      else s.once('close', () => r());
    });

  test('a client gets at most its connection limit; idle unauthenticated connections are closed', async () => {
    const held = await Promise.all([open(), open(), open(), open()]);
    const extra = await open();
    extra.on('error', () => {});
    await closed(extra); // the fifth is closed at once
    for (const s of held) await closed(s); // and the quiet ones after the idle time
    const r = await raw({ host: '127.0.0.1', port }, 'GET', '/v1/version', undefined, {
      authorization: `Bearer ${token}`,
    });
    assert.equal(r.status, 200);
  });

  test('a request whose headers never end is closed', async () => {
    const s = await open();
    s.on('error', () => {});
    s.write('GET /v1/version HTTP/1.1\r\nHost: pvm\r\n');
    const keepTalking = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 50);
    await closed(s);
    clearInterval(keepTalking);
  });

  test('after a 401 the daemon reads nothing more of the body', async () => {
    const s = await open();
    s.on('error', () => {});
    const total = 256 * 1024 * 1024;
    s.write(
      `POST /v1/domains HTTP/1.1\r\nHost: pvm\r\ncontent-type: application/json\r\ncontent-length: ${total}\r\n\r\n`,
    );
    let answer = '';
    s.on('data', (d: Buffer) => {
      answer += d.toString();
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    while (!s.destroyed && sent < total) {
      if (!s.write(chunk)) await new Promise((r) => setTimeout(r, 5));
      sent += chunk.length;
    }
    s.destroy();
    await closed(s);
    assert.match(answer, /^HTTP\/1\.1 401 /);
    assert.ok(sent < total, `the daemon stopped the upload (${sent} of ${total} bytes sent)`);
  });
});

describe('hardening: the CLI refuses bad input clearly (F11)', () => {
  test('a YAML alias bomb is a usage error, not an internal one', () => {
    const bomb = ['a: &a [x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      bomb.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    assert.throws(
      () => parseConfigText(bomb.join('\n'), { source: 'bomb.yaml' }),
      (e) => isPvmError(e) && e.kind === 'usage' && /^bomb\.yaml: YAML refused: Excessive alias count/.test(e.message),
    );
  });

  test('a multicast MAC and an empty initrd are refused by pvm run with exit 2', () => {
    const mac = spawnSync('node', [pvmBin, 'run', '--net', 'lan,mac=01:00:5e:00:00:01', '--dry-run'], {
      encoding: 'utf8',
    });
    assert.equal(mac.status, 2);
    assert.match(mac.stderr, /bad mac "01:00:5e:00:00:01": expected a unicast MAC \(first octet even\)/);
    const dir = join(root, 'dist/test');
    const empty = join(dir, 'empty.initrd');
    writeFileSync(empty, '');
    const r = spawnSync(
      'node',
      [pvmBin, 'run', '--kernel', join(root, 'guests/pvos/pvos.elf'), '--initrd', empty, '--dry-run'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /initrd .*empty\.initrd is empty$/m);
  });

  test('a Linux Image that is only its 64-byte header is refused with a message', () => {
    const img = Buffer.alloc(64);
    img.writeBigUInt64LE(0x200000n, 8);
    img.write('RSC\x05', 0x38, 'latin1');
    const file = join(root, 'dist/test/header-only.Image');
    writeFileSync(file, img);
    const r = spawnSync('node', [pvmBin, 'run', '--kernel', file], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Linux Image of 64 bytes is only its header: no kernel follows it/);
  });

  test('a double fault names tval as the unsigned 64-bit value', () => {
    const dir = join(root, 'dist/test');
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
    const kernel = assembleGuest(
      dir,
      `
.globl _start
_start:
  li t0, -0x80000000   # stvec = 0xffffffff80000000: outside RAM, its fetch faults
  csrw stvec, t0
  .word 0              # illegal instruction: redirected to stvec, which faults again
`,
      'rv64imac_zicsr',
    );
    const r = spawnSync('node', [pvmBin, 'run', '--kernel', kernel], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /the S-mode trap vector 0xffffffff80000000 faults \(cause 1, tval 0xffffffff80000000\)/);
  });
});
