/**
 * The per-domain hypercall policy through the daemon: a config's `hypercalls` list, and
 * `pvm hypercalls DOMAIN LIST` tightening it at run time. The guest echoes each console byte
 * it reads (legacy getchar) through DBCN console_write_byte; when that call answers
 * SBI_ERR_DENIED it prints '!' through the legacy console instead.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PvmClient } from '../src/cli/client.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { assembleGuest, collect, refusal, runPvm, startTestDaemon, type TestDaemon, until } from './support/daemon.js';

const GUEST = `
.section .text
.globl _start
_start:
1: li a7, 2              # legacy console_getchar
  ecall
  bltz a0, 1b
  mv s0, a0
  li a7, 0x4442434E      # DBCN console_write_byte(s0)
  li a6, 2
  mv a0, s0
  ecall
  beqz a0, 1b
  li t0, -4              # SBI_ERR_DENIED: say so
  bne a0, t0, 1b
  li a0, '!'
  li a7, 1               # legacy console_putchar
  ecall
  j 1b
`;

describe('hypercall policy', () => {
  let h: TestDaemon<HypervisorDomainManager>;
  let client: PvmClient;
  let kernel: string;

  before(async () => {
    h = await startTestDaemon(new HypervisorDomainManager(), { prefix: 'pvm-policy-' });
    client = h.client;
    kernel = assembleGuest(h.dir, GUEST, 'rv64imac_zicsr');
  });
  after(() => h.close());

  async function echo(
    name: string,
    key: string,
    out: { text: () => string },
    con: NodeJS.WritableStream,
    want: string,
  ) {
    const before = out.text().length;
    con.write(key);
    await until(`${name} answers ${key}`, () => out.text().length > before && out.text().slice(before));
    assert.equal(out.text().slice(before), want);
  }

  test('default: everything allowed; pvm hypercalls tightens it at run time, denied calls counted', async () => {
    const d = await client.create({ name: 'g', kernel, memory: '16M', append: 'console=hvc0' });
    assert.equal(d.config.hypercalls, undefined, 'no policy: every call allowed');
    const con = await client.attachConsole('g', { write: true });
    const out = collect(con);
    await echo('g', 'a', out, con, 'a');

    const r = await runPvm(h.daemon.socketPath, h.dir, ['hypercalls', 'g', 'LEGACY, BASE,TIME']);
    assert.equal(r.out, 'g: hypercalls BASE,LEGACY,TIME\n');
    await echo('g', 'b', out, con, '!');
    // Tightening again keeps only what both lists allow; it never widens.
    const again = await client.restrictHypercalls('g', ['LEGACY', 'DBCN']);
    assert.deepEqual(again.config.hypercalls, ['LEGACY']);
    await echo('g', 'c', out, con, '!');
    const s = await client.stats('g');
    assert.equal(s.hypercalls['denied/DBCN/console_write_byte'], 2);
    assert.equal(s.hypercalls['DBCN/console_write_byte'], 3);

    const bad = await refusal(client.restrictHypercalls('g', ['LEGACY', 'NOPE/x']));
    assert.equal(bad.status, 400);
    assert.match(bad.message, /unknown hypercall extension "NOPE"/);
    con.destroy();
    await client.destroy('g');
  });

  test('a config policy applies from the first instruction, and survives reboot and save/restore', async () => {
    const d = await client.create({
      name: 'p',
      kernel,
      memory: '16M',
      append: 'console=hvc0',
      hypercalls: ['LEGACY/console_getchar', 'LEGACY/console_putchar', 'LEGACY/console_getchar'],
    });
    assert.deepEqual(d.config.hypercalls, ['LEGACY/console_getchar', 'LEGACY/console_putchar']);
    let con = await client.attachConsole('p', { write: true });
    let out = collect(con);
    await echo('p', 'x', out, con, '!');
    con.destroy();
    await client.reboot('p');
    const file = `${h.dir}/p.pvmsnap`;
    await client.save('p', file);
    const r = await client.restore(file);
    assert.deepEqual(r.config.hypercalls, ['LEGACY/console_getchar', 'LEGACY/console_putchar']);
    con = await client.attachConsole('p', { write: true });
    out = collect(con);
    await echo('p', 'y', out, con, '!');
    con.destroy();
    await client.destroy('p');

    const e = await refusal(client.create({ name: 'q', kernel, memory: '16M', hypercalls: ['TIME/get_time'] }));
    assert.match(e.message, /config\.hypercalls\[0\]: unknown TIME function "get_time" \(one of set_timer\)/);
  });
});
