/**
 * `pvm run FILE` on a terminal, as a person uses it: pvm runs under `script` (util-linux), so
 * its standard input is a pseudo-terminal and it takes the raw mode and the Ctrl-A keys of
 * `pvm run --kernel`. One domain: prompts show, keys reach the guest, Ctrl-A h lists the keys,
 * Ctrl-A x quits. Two pvos domains: distinct PVX domain ids, Ctrl-A n moves the input from one
 * to the other, and they talk over a vchan (a grant and an event channel between them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Console, fnv1a, processTransport } from './pvos-console.js';
import { pvm } from './support/linux-guest.js';

const CTRL_A = '\x01';

const dir = mkdtempSync(join(tmpdir(), 'pvm-tty-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `pvm run ARGS` on a pseudo-terminal (script -e: its status is pvm's; -f: flush every write). */
function terminal(args: readonly string[]): Console {
  const cmd = [process.execPath, pvm, 'run', ...args].map((a) => `'${a}'`).join(' ');
  return new Console(processTransport(spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: dir, stdio: 'pipe' })));
}

test('pvm run FILE with one stdio domain: raw keys, prompts shown, Ctrl-A h and Ctrl-A x', async () => {
  writeFileSync(join(dir, 'one.yaml'), 'domains:\n  - name: solo\n');
  const t = terminal(['one.yaml']);
  try {
    // the prompt has no newline after it, and is shown all the same
    await t.until(/hello from user mode \(pid 2\)\npvos> $/);
    t.type('ticks\r'); // Enter in raw mode is a carriage return
    assert.match(await t.until(/\npvos> $/), /^ticks\nticks: \d+ \(100 Hz, uptime \d+\.\d\d s\)\n/);
    t.type(`${CTRL_A}h`);
    await t.until(/Ctrl-A x {4}quit\nCtrl-A n {4}send input to the next domain\n/);
    t.type(`${CTRL_A}x`);
    await t.until('pvm: terminated (Ctrl-A x)');
    assert.equal(await t.exited, 0);
  } finally {
    t.kill();
  }
});

test('pvm run FILE with two pvos domains: distinct PVX ids, Ctrl-A n switches the input, a vchan between them', {
  timeout: 300_000,
}, async () => {
  writeFileSync(join(dir, 'two.yaml'), 'domains:\n  - name: a\n  - name: b\n');
  const t = terminal(['two.yaml']);
  try {
    // prefixed consoles; each domain's PVX id is its own. Both shells up, in either order (the
    // scheduler may run one domain's whole boot first): each printed its PVX line before its prompt.
    const boot = await t.until(/a\| pvos> [\s\S]*b\| pvos> |b\| pvos> [\s\S]*a\| pvos> /);
    assert.match(boot, /^a\| pvos: PVX 1\.0 present \(domain 1, features 0x1ff\)$/m);
    assert.match(boot, /^b\| pvos: PVX 1\.0 present \(domain 2, features 0x1ff\)$/m);
    // input goes to the first domain until Ctrl-A n
    t.type('vchan listen 2\r');
    const listen = /a\| vchan: listening for domain 2: ref (\d+) port (\d+)\n/.exec(
      await t.until(/a\| vchan: listening[^\n]*\n/),
    );
    assert.ok(listen, 'a listens');
    t.type(`${CTRL_A}n`);
    await t.until(/pvm: input goes to b \(Ctrl-A n for the next\)/);
    t.type(`vchan connect 1 ${listen[1]} ${listen[2]}\r`);
    await t.until(/b\| vchan: connected to domain 1, port \d+\n/);
    t.type(`${CTRL_A}n`);
    await t.until(/pvm: input goes to a/);
    t.type('vchan pump 1\r');
    t.type(`${CTRL_A}n`);
    await t.until(/pvm: input goes to b/);
    t.type('vchan sink 1\r');
    const bytes = 1 << 20;
    const sum = fnv1a(new Uint8Array(bytes).map((_, i) => Math.floor((i * 31) / 8) & 0xff));
    const rest = await t.until(
      new RegExp(
        `b\\| vchan: received ${bytes} bytes, checksum ${sum}\\n[\\s\\S]*a\\| vchan: sent|a\\| vchan: sent ${bytes} bytes, checksum ${sum}\\n[\\s\\S]*b\\| vchan: received`,
      ),
    );
    assert.ok(rest.length > 0);
    t.type(`${CTRL_A}x`);
    await t.until('pvm: terminated (Ctrl-A x)');
    assert.equal(await t.exited, 0);
  } finally {
    t.kill();
  }
});

test('pvm run FILE without a terminal: standard input goes to the first domain', async () => {
  writeFileSync(
    join(dir, 'piped.yaml'),
    'domains:\n  - name: p\n    console: prefix\n  - name: q\n    console: none\n',
  );
  const p = spawn(process.execPath, [pvm, 'run', 'piped.yaml'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8');
  const done = new Promise<number | null>((resolve) => p.on('close', resolve));
  let typed = false;
  p.stdout.on('data', (s: string) => {
    out += s;
    if (!typed && out.includes('p| pvos> ')) {
      typed = true;
      p.stdin.write('poweroff\n');
    }
    // q never powers off: end the run once p has
    if (out.includes('p| pvos: poweroff')) p.kill('SIGTERM');
  });
  assert.equal(await done, 130);
  assert.match(out, /^p\| pvos: poweroff$/m);
  assert.doesNotMatch(out, /^q\|/m, 'console none shows nothing');
});
