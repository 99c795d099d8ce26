import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DomainStats } from '../../api/domain.js';
import { topRows, topTable } from './top.js';

const stats = (instructions: number, rx: number[], tx: number[]): DomainStats =>
  ({
    id: 1,
    name: 'web',
    state: 'running',
    vcpus: 1,
    memoryBytes: 64 << 20,
    uptimeMs: 61_000,
    instructions,
    guestMs: 0,
    hypervisorMs: 0,
    exits: { hypercall: 0 },
    nets: rx.map((rxBytes, i) => ({
      slot: i,
      mac: `52:54:00:00:00:0${i}`,
      switch: 'lan',
      rxBytes,
      txBytes: tx[i]!,
      rxFrames: 0,
      txFrames: 0,
    })),
  }) as unknown as DomainStats;

test('pvm top: network bytes per second over all NICs, as rates between two samples', () => {
  const before = stats(0, [1000, 0], [500, 0]);
  const after = stats(4_000_000, [5000, 3000], [2500, 0]);
  const [row] = topRows([before], [after], 2);
  assert.equal(row!.mips, 2);
  assert.equal(row!.netRxBytesPerSecond, 3500);
  assert.equal(row!.netTxBytesPerSecond, 1000);
  assert.equal(
    topTable([row!]),
    [
      'ID  NAME  STATE    CPU%  MIPS  EXITS/S  NET RX/S  NET TX/S  VCPUS  MEMORY  UPTIME',
      '1   web   running  0.0   2.00  0        3.4 KiB   1000 B    1      64 MiB  1m01s',
      '',
    ].join('\n'),
  );
  const [first] = topRows([], [after], 2);
  assert.equal(first!.netRxBytesPerSecond, 0, 'no rate without an earlier sample');
});
