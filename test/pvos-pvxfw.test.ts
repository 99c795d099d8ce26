/**
 * The same pvos binary with PVX present: under QEMU with pvxfw (guests/pvos/
 * pvxfw, an M-mode firmware that answers SBI and the single-domain subset of
 * PVX 1.0) the guest must choose its paravirtual back ends — DBCN console,
 * PVX timer VIRQ, shared-info masking, SCHED_BLOCK idle, event-channel IPI,
 * multicall-batched fences — and give the same shell answers. Until pvm runs
 * guests this is how the PV back ends are exercised; later the same session
 * runs under pvm's PV mode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootQemu, commonSession, fnv1a, make, PROMPT, PVXFW_ELF } from './pvos-console.js';

test('pvos with PVX present (QEMU + pvxfw) chooses the PVX back ends and its shell answers', async () => {
  make();
  const con = bootQemu(PVXFW_ELF);
  try {
    const boot = await con.until(PROMPT);
    assert.equal(
      boot,
      [
        'pvxfw: PVX 1.0 firmware, domain 1, ram 128 MiB',
        'pvos 0.1: boot hart 0, harts 1, ram 128 MiB at 0x80000000, timebase 10000000 Hz',
        'pvos: PVX 1.0 present (domain 1, features 0xdf)',
        'pvos: backends: pvx 1.0',
        boot.split('\n')[4],
        'hello from user mode (pid 2)',
        PROMPT,
      ].join('\n'),
    );
    assert.match(boot.split('\n')[4]!, /^pvos: Sv39 paging on, \d+ KiB kernel, \d+ pages free$/);

    assert.equal(
      await con.run('info'),
      [
        'pvos 0.1 on hart 0, harts online 1 (mask 0x1)',
        'ram: 128 MiB at 0x80000000',
        'timebase: 10000000 Hz, tick 100 Hz',
        'sbi: spec 2.0, implementation 28792 (other)',
        'pvx: 1.0, domain 1, features 0xdf',
        'backends: pvx 1.0',
        '  console  sbi-dbcn',
        '  timer    pvx-timer-virq',
        '  irq      shinfo.upcall_mask',
        '  idle     pvx-sched-block',
        '  ipi      pvx-evtchn-ipi',
        '  tlb      pvx-multicall-rfence',
        '  block    none',
        '',
      ].join('\n'),
    );
    await commonSession(con);
    assert.match(
      await con.run('mask-bench 1000'),
      /^mask-bench: 1000 mask\/unmask pairs via shinfo\.upcall_mask: \d+ ticks, \d+ ns\/pair\n$/,
    );

    // every PVX call with good and bad arguments; pvxfw lacks grant map and balloon, which
    // must then answer NOT_SUPPORTED; running it twice shows it leaves no state behind
    assert.equal(await con.run('pvxtest'), 'pvxtest: 73 passed, 0 failed\n');
    assert.equal(await con.run('pvxtest'), 'pvxtest: 73 passed, 0 failed\n');

    // the ports bound at boot, with the timer's events counted
    const ports = (await con.run('evtchn')).split('\n');
    assert.match(ports[0]!, /^port 1: virq timer, vcpu 0, [1-9]\d* events$/);
    assert.match(ports[1]!, /^port 2: virq console, vcpu 0, [1-9]\d* events$/);
    assert.equal(ports[2], 'port 3: virq shutdown-request, vcpu 0, 0 events');
    assert.match(ports[3]!, /^port 4: ipi, vcpu 0, \d+ events$/);
    assert.equal(ports[4], '');
    // a loopback channel: the event sent on one end arrives as an upcall on the other
    assert.equal(await con.run('evtchn loop'), 'evtchn loop: ports 5 <-> 6, sent 1, received 1\n');
    // SCHED_POLL on a masked port: returns the port once it is pending, TIMEOUT when not
    assert.equal(await con.run('evtchn poll'), 'evtchn poll: after send: port 6; after clearing: timeout (-12)\n');
    assert.equal(await con.run('evtchn alloc 1'), 'evtchn alloc: ok, 5\n');
    assert.equal(await con.run('evtchn bind 1 5'), 'evtchn bind: ok, 6\n');
    assert.match(
      await con.run('evtchn'),
      /\nport 5: interdomain to domain 1 port 6, vcpu 0, 0 events\nport 6: interdomain to domain 1 port 5, vcpu 0, 1 events\n$/,
    );
    assert.equal(await con.run('evtchn close 6'), 'evtchn close: ok, 0\n');
    assert.match(await con.run('evtchn'), /\nport 5: unbound for domain 1, vcpu 0, 0 events\n$/);
    assert.equal(await con.run('evtchn close 5'), 'evtchn close: ok, 0\n');
    // bad arguments are error codes (docs/para-api-pvx.md §5.3)
    assert.equal(await con.run('evtchn send 1'), 'evtchn send: invalid state (-10)\n');
    assert.equal(await con.run('evtchn send 99'), 'evtchn send: invalid param (-3)\n');
    assert.equal(await con.run('evtchn close 0'), 'evtchn close: invalid param (-3)\n');
    assert.equal(await con.run('evtchn alloc 7'), 'evtchn alloc: invalid param (-3)\n');
    assert.equal(await con.run('evtchn bind 1 4'), 'evtchn bind: invalid state (-10)\n');

    assert.equal(await con.run('grant give 2'), 'grant: ref 0 to domain 2 (rw), checksum 0xc0944dc5\n');
    assert.match(await con.run('grant'), /^ref 0: domain 2 frame 0x[0-9a-f]+ rw\n$/);
    assert.equal(await con.run('grant end 0'), 'grant end: ok, 0\n');
    assert.equal(await con.run('grant'), '');
    assert.equal(await con.run('grant end 4096'), 'grant end: invalid param (-3)\n');
    assert.equal(await con.run('grant copy 1 0'), 'grant copy: invalid param (-3)\n');
    assert.equal(await con.run('vchan send x'), 'vchan: not connected\n');
    // the vchan ring protocol with both ends in this domain (loopback ports, one page)
    const stream = new Uint8Array(1 << 20).map((_, i) => Math.floor((i * 31) / 8) & 0xff);
    const sum = fnv1a(stream);
    assert.equal(
      await con.run('vchan selftest'),
      `vchan selftest: sent 1048576 received 1048576 bytes, checksums ${sum} ${sum}, ok\n`,
    );
    // vchan's server half works in one domain; the client half needs grant map (a second domain)
    assert.equal(await con.run('vchan listen 2'), 'vchan: alloc_unbound: invalid param (-3)\n');
    assert.equal(await con.run('vchan listen 1'), 'vchan: listening for domain 1: ref 8 port 5\n');
    assert.equal(await con.run('vchan status'), 'vchan: server of domain 1, port 5, peer not connected\n');
    assert.equal(await con.run('vchan send hello'), 'vchan: sent 6 bytes\n');
    assert.equal(await con.run('vchan close'), 'vchan: closed\n');
    assert.equal(await con.run('vchan connect 1 8 5'), 'vchan: map: not supported (-2)\n');

    con.send('poweroff');
    assert.equal(await con.until('pvos: poweroff\n'), 'poweroff\npvos: poweroff\n');
    assert.equal(await con.exited, 0);
  } finally {
    con.kill();
  }
});
