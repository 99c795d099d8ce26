/**
 * Run inside a network namespace (support/netns.ts) by the CLI tests of user-mode
 * networking: runs `pvm ARGS` (bin/pvm.js, a child process) next to an HTTP server on the
 * namespace's loopback, which the guest reaches as 10.0.2.2:PORT through passt (`{PORT}`
 * in ARGS is replaced by its port). It serves /file.bin (1 MiB of random bytes) and /done
 * (200 once the host side has fetched what it was asked to, so the guest can wait for it).
 * When the console shows `marker`, this process fetches `url` (a port forward into the
 * guest) and counts the passt processes of this namespace; it counts them again after pvm
 * has exited. Prints one JSON line.
 *
 * argv[2]: JSON `{ args: string[], marker?: string, url?: string, templates?: string[] }`; each
 * file of `templates` (a config file) gets `{PORT}` replaced too, before pvm starts.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pvm } from './linux-guest.js';

const { args, marker, url, templates } = JSON.parse(process.argv[2]!) as {
  args: string[];
  marker?: string;
  url?: string;
  templates?: string[];
};
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const file = randomBytes(1 << 20);
let fetched: { md5: string; bytes: number } | { error: string } | null = null;

/** passt processes (pid and command) whose network namespace is this one. */
function passtHere(): string[] {
  const mine = readlinkSync('/proc/self/ns/net');
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm.startsWith('passt') && readlinkSync(`/proc/${pid}/ns/net`) === mine) found.push(`${pid} ${comm}`);
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return found;
}

const server = createServer((req, res) => {
  if (req.url === '/file.bin') {
    res.writeHead(200, { 'content-length': file.length });
    res.end(file);
  } else if (req.url === '/done' && (fetched !== null || url === undefined)) {
    res.end('ok\n');
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
for (const t of templates ?? []) writeFileSync(t, readFileSync(t, 'utf8').replaceAll('{PORT}', String(port)));

let passtDuring: string[] | null = null;
function fetchFromGuest(): void {
  passtDuring = passtHere();
  if (url === undefined) return;
  get(url, (res) => {
    const parts: Buffer[] = [];
    res.on('data', (b: Buffer) => parts.push(b));
    res.on('end', () => {
      const all = Buffer.concat(parts);
      fetched = res.statusCode === 200 ? { md5: md5(all), bytes: all.length } : { error: `HTTP ${res.statusCode}` };
    });
  }).on('error', (e) => {
    fetched = { error: e.message };
  });
}

const child = spawn(process.execPath, [pvm, ...args.map((a) => a.replaceAll('{PORT}', String(port)))], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stdout = '';
let stderr = '';
let asked = false;
child.stdout.setEncoding('utf8');
child.stderr.setEncoding('utf8');
child.stdout.on('data', (s: string) => {
  stdout += s;
  if (process.env.PVM_TEST_TRACE) process.stderr.write(s);
  if (!asked && marker !== undefined && stdout.includes(marker)) {
    asked = true;
    fetchFromGuest();
  }
});
child.stderr.on('data', (s: string) => {
  stderr += s;
});
const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
server.close();
console.log(
  JSON.stringify({
    status,
    stdout,
    stderr,
    host: { md5: md5(file), bytes: file.length },
    fetched,
    passtDuring,
    passtAfter: passtHere(),
  }),
);
