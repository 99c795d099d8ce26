import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeIrqLine } from './testing.js';
import { Uart16550, UartReg } from './uart.js';

function setup() {
  const out: number[] = [];
  const irq = new FakeIrqLine();
  const uart = new Uart16550({ onOutput: (b) => out.push(b), irq, irqNum: 10 });
  return { out, irq, uart };
}

test('THR bytes go to the output callback; LSR shows the transmitter empty', () => {
  const { out, uart } = setup();
  for (const c of 'hi\n') uart.write(UartReg.RBR_THR_DLL, 1, c.charCodeAt(0));
  assert.equal(String.fromCharCode(...out), 'hi\n');
  assert.equal(uart.read(UartReg.LSR, 1), 0x60);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0x01);
});

test('divisor latch hides THR/IER while DLAB is set', () => {
  const { out, uart } = setup();
  uart.write(UartReg.LCR, 1, 0x83);
  uart.write(UartReg.RBR_THR_DLL, 1, 0x01);
  uart.write(UartReg.IER_DLM, 1, 0x02);
  assert.equal(uart.read(UartReg.RBR_THR_DLL, 1), 1);
  assert.equal(uart.read(UartReg.IER_DLM, 1), 2);
  uart.write(UartReg.LCR, 1, 0x03);
  assert.equal(uart.read(UartReg.IER_DLM, 1), 0);
  assert.deepEqual(out, []);
});

test('THRE interrupt: raised when enabled, cleared by reading IIR, re-armed by a write', () => {
  const { irq, uart } = setup();
  uart.write(UartReg.IER_DLM, 1, 0x02);
  assert.equal(irq.levels.get(10), true);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0x02);
  assert.equal(irq.levels.get(10), false);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0x01);
  uart.write(UartReg.RBR_THR_DLL, 1, 0x41);
  assert.equal(irq.levels.get(10), true);
  uart.write(UartReg.IER_DLM, 1, 0);
  assert.equal(irq.levels.get(10), false);
});

test('received bytes: DR, RX interrupt with priority over THRE, FIFO order, FIFO reset', () => {
  const { irq, uart } = setup();
  uart.write(UartReg.IER_DLM, 1, 0x03);
  uart.pushInput(new TextEncoder().encode('ab'));
  assert.equal(uart.read(UartReg.LSR, 1) & 1, 1);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0x04);
  assert.equal(uart.read(UartReg.RBR_THR_DLL, 1), 0x61);
  assert.equal(uart.read(UartReg.RBR_THR_DLL, 1), 0x62);
  assert.equal(uart.read(UartReg.LSR, 1) & 1, 0);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0x02, 'THRE next');
  uart.write(UartReg.IIR_FCR, 1, 0xc1); // FIFO on, trigger 14
  uart.pushInput([1, 2, 3]);
  assert.equal(uart.read(UartReg.IIR_FCR, 1), 0xcc, 'below trigger level: character timeout');
  uart.write(UartReg.IIR_FCR, 1, 0xc3); // clear RX FIFO
  assert.equal(uart.pendingInput, 0);
  assert.equal(uart.read(UartReg.LSR, 1) & 1, 0);
  uart.write(UartReg.IER_DLM, 1, 0);
  assert.equal(irq.levels.get(10), false);
});

test('loopback returns transmitted bytes and reflects MCR in MSR', () => {
  const { out, uart } = setup();
  uart.write(UartReg.MCR, 1, 0x1f);
  uart.write(UartReg.RBR_THR_DLL, 1, 0x5a);
  assert.deepEqual(out, []);
  assert.equal(uart.read(UartReg.RBR_THR_DLL, 1), 0x5a);
  assert.equal(uart.read(UartReg.MSR, 1), 0xf0);
  uart.write(UartReg.MCR, 1, 0x08);
  assert.equal(uart.read(UartReg.MSR, 1), 0xb0);
  uart.write(UartReg.SCR, 1, 0x99);
  assert.equal(uart.read(UartReg.SCR, 1), 0x99);
});

test('the line is driven again on every update that finds an interrupt due, as QEMU drives it', () => {
  const calls: boolean[] = [];
  const uart = new Uart16550({ onOutput: () => {}, irq: { setLevel: (_n, l) => calls.push(l) }, irqNum: 10 });
  uart.write(UartReg.IER_DLM, 1, 0x02);
  uart.write(UartReg.IER_DLM, 1, 0x02); // unchanged IER: no update (QEMU: only when it changes)
  uart.write(UartReg.RBR_THR_DLL, 1, 0x41); // THR written, then empty again: a new request
  uart.write(UartReg.RBR_THR_DLL, 1, 0x42);
  assert.deepEqual(calls, [true, true, true]);
  uart.read(UartReg.IIR_FCR, 1); // THRI read: the line drops
  uart.read(UartReg.IIR_FCR, 1);
  uart.write(UartReg.IER_DLM, 1, 0);
  assert.deepEqual(calls, [true, true, true, false], 'a line already low is not driven again');
});
