import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestRam } from '../../../memory/ram.js';
import { MmioReg } from '../constants.js';
import { VirtioMmio } from '../mmio.js';
import { MockDriver } from '../mock-driver.js';
import { ConsoleConfig, MAX_PENDING_INPUT, VirtioConsole } from './device.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function setup() {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const out: string[] = [];
  const con = new VirtioConsole({ output: (b) => out.push(dec(b)), queueSize: 16 });
  const irq = {
    level: false,
    set(l: boolean) {
      this.level = l;
    },
  };
  const mmio = new VirtioMmio(con, ram, irq);
  const drv = new MockDriver(ram, mmio);
  return { ram, con, mmio, drv, out, irq };
}

test('console: guest output through the transmit queue reaches the host', () => {
  const e = setup();
  const [, tx] = e.drv.start([16, 16]);
  tx!.add([
    { addr: e.drv.put(enc('Linux ')), len: 6 },
    { addr: e.drv.put(enc('version')), len: 7 },
  ]);
  tx!.add([{ addr: e.drv.put(enc('\n')), len: 1 }]);
  tx!.kick();
  assert.deepEqual(e.out, ['Linux version', '\n']);
  assert.deepEqual(tx!.takeUsed(), [
    { id: 0, len: 0 },
    { id: 2, len: 0 },
  ]);
  assert.equal(e.con.stats.bytesOut, 14);
});

test('console: host input waits for receive buffers, then fills them in order', () => {
  const e = setup();
  e.con.input(enc('early'));
  const [rx] = e.drv.start([16, 16]);
  assert.equal(e.con.pendingInput, 5);
  const a = e.drv.alloc(3);
  const b = e.drv.alloc(16);
  rx!.add([{ addr: a, len: 3, write: true }]);
  rx!.add([{ addr: b, len: 16, write: true }]);
  rx!.kick();
  assert.deepEqual(rx!.takeUsed(), [
    { id: 0, len: 3 },
    { id: 1, len: 2 },
  ]);
  assert.equal(dec(e.ram.slice(a, 3)), 'ear');
  assert.equal(dec(e.ram.slice(b, 2)), 'ly');
  assert.equal(e.irq.level, true);
  // Later input goes straight into the next buffer.
  const c = e.drv.alloc(8);
  rx!.add([{ addr: c, len: 8, write: true }]);
  rx!.kick();
  e.con.input(enc('ls\n'));
  assert.deepEqual(rx!.takeUsed(), [{ id: 2, len: 3 }]);
  assert.equal(dec(e.ram.slice(c, 3)), 'ls\n');
});

test('console: input beyond the pending limit is dropped and counted', () => {
  const e = setup();
  e.con.input(new Uint8Array(MAX_PENDING_INPUT - 10));
  e.con.input(new Uint8Array(30));
  assert.equal(e.con.pendingInput, MAX_PENDING_INPUT);
  assert.equal(e.con.stats.inputDropped, 20);
});

test('console: emergency write prints one character; max_nr_ports is 1', () => {
  const e = setup();
  e.mmio.write(MmioReg.CONFIG + ConsoleConfig.EMERG_WR, 4, 0x41);
  assert.deepEqual(e.out, ['A']);
  assert.equal(e.mmio.read(MmioReg.CONFIG + ConsoleConfig.MAX_NR_PORTS, 4), 1);
});

test('console: receive chain without writable buffers (wrong direction) takes no input', () => {
  const e = setup();
  const [rx] = e.drv.start([16, 16]);
  e.con.input(enc('x'));
  const a = e.drv.put(enc('zz'));
  rx!.add([{ addr: a, len: 2 }]);
  rx!.kick();
  // The chain comes back with nothing written; the input stays queued for a real buffer.
  assert.deepEqual(rx!.takeUsed(), [{ id: 0, len: 0 }]);
  assert.equal(dec(e.ram.slice(a, 2)), 'zz');
  assert.equal(e.con.pendingInput, 1);
});

test('console: undelivered input survives save and restore', () => {
  const e = setup();
  e.con.input(enc('abc'));
  const saved = e.con.state.save();
  assert.deepEqual(saved, enc('abc'));
  const f = setup();
  f.con.state.load(saved);
  assert.equal(f.con.pendingInput, 3);
  assert.deepEqual(f.con.state.save(), saved);
});

test('console: with a size, F_SIZE is offered and resize changes cols/rows with a config interrupt', () => {
  const ram = new GuestRam(0x8000_0000, 0x40_0000);
  const con = new VirtioConsole({ output: () => {}, size: { cols: 100, rows: 30 } });
  const mmio = new VirtioMmio(con, ram, { set() {} });
  const drv = new MockDriver(ram, mmio);
  assert.equal(drv.deviceFeatures() & 1n, 1n);
  drv.start([64, 64]);
  assert.equal(mmio.read(MmioReg.CONFIG + ConsoleConfig.COLS, 2), 100);
  assert.equal(mmio.read(MmioReg.CONFIG + ConsoleConfig.ROWS, 2), 30);
  drv.ack();
  con.resize(132, 43);
  assert.equal(mmio.read(MmioReg.CONFIG + ConsoleConfig.COLS, 2), 132);
  assert.equal(mmio.read(MmioReg.CONFIG + ConsoleConfig.ROWS, 2), 43);
  assert.equal(drv.ack(), 2);
  assert.equal(setup().drv.deviceFeatures() & 1n, 0n);
});
