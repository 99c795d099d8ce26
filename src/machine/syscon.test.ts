import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GoldfishRtc, RtcReg } from './rtc.js';
import { SifiveTest, type SysconEvent } from './syscon.js';

test('sifive,test0 decodes poweroff, reboot and fail with its code', () => {
  const events: SysconEvent[] = [];
  const dev = new SifiveTest((e) => events.push(e));
  dev.write(0, 4, 0x5555);
  dev.write(0, 4, 0x7777);
  dev.write(0, 4, (42 << 16) | 0x3333);
  dev.write(0, 4, 0x1234); // unknown: ignored
  dev.write(4, 4, 0x5555); // other offset: ignored
  dev.write(0, 1, 0x55); // byte writes: ignored
  dev.write(0, 2, 0x5555); // OpenSBI's writew
  assert.deepEqual(events, [
    { kind: 'poweroff' },
    { kind: 'reboot' },
    { kind: 'fail', code: 42 },
    { kind: 'poweroff' },
  ]);
  assert.equal(dev.read(0, 4), 0);
});

test('goldfish RTC reads ns since the epoch as a latched pair and can be set', () => {
  let host = 0x1234_5678_9abc_def0n;
  const rtc = new GoldfishRtc(() => host);
  const lo = rtc.read(RtcReg.TIME_LOW, 4);
  host += 0x1_0000_0000n;
  const hi = rtc.read(RtcReg.TIME_HIGH, 4);
  assert.equal((BigInt(hi) << 32n) | BigInt(lo), 0x1234_5678_9abc_def0n);
  rtc.write(RtcReg.TIME_HIGH, 4, 0x10);
  rtc.write(RtcReg.TIME_LOW, 4, 0x20);
  assert.equal(rtc.nowNs(), 0x10_0000_0020n);
  host += 1000n;
  assert.equal(rtc.nowNs(), 0x10_0000_0020n + 1000n);
  assert.equal(rtc.read(RtcReg.ALARM_STATUS, 4), 0);
});
