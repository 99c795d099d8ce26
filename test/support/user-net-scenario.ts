/**
 * Run inside a network namespace by test/user-net-linux.test.ts. The Linux guest on a
 * switch whose uplink is passt: it takes its address by DHCP (pvm.net=dhcp), fetches a
 * file with busybox wget from an HTTP server this process runs (10.0.2.2 is passt's
 * gateway, mapped to the namespace's loopback), then serves a file with busybox httpd,
 * which this process fetches through a port forward (127.0.0.1:18080 -> guest port 80).
 * Prints one JSON line with what each side saw.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VirtualSwitch } from '../../src/devices/switch.js';
import { PasstUplink } from '../../src/host/passt.js';
import { runGuest } from './guest-vm.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const file = randomBytes(1 << 20);
let fetched: { md5: string; bytes: number } | { error: string } | null = null;

const server = createServer((req, res) => {
  if (req.url === '/file.bin') {
    res.writeHead(200, { 'content-length': file.length });
    res.end(file);
  } else if (req.url === '/done' && fetched !== null) {
    res.end('ok\n');
  } else {
    res.writeHead(404);
    res.end();
  }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;

const sw = new VirtualSwitch('user');
const up = await PasstUplink.start(sw, {
  forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 18080, guestPort: 80 }],
});

/** Fetches through the forward once the guest's httpd is up. */
function fetchFromGuest(): void {
  get('http://127.0.0.1:18080/g.bin', (res) => {
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

let asked = false;
let ports = sw.portStats();
const r = await runGuest({
  append: 'pvm.net=dhcp',
  nets: [{ switch: sw, mac: '52:54:00:12:34:56' }],
  run: [
    `wget -q -O /tmp/f http://10.0.2.2:${port}/file.bin && echo "wget: $(md5sum < /tmp/f | cut -c1-32) $(wc -c < /tmp/f)"`,
    'mkdir -p /www && dd if=/dev/urandom of=/www/g.bin bs=1k count=768 2>/dev/null',
    'echo "served: $(md5sum < /www/g.bin | cut -c1-32) $(wc -c < /www/g.bin)"',
    "httpd -p 80 -h /www && echo httpd''-up",
    `until wget -q -O /dev/null http://10.0.2.2:${port}/done 2>/dev/null; do sleep 1; done`,
  ].join('; '),
  onOutput: (all) => {
    if (!asked && all.includes('httpd-up')) {
      asked = true;
      fetchFromGuest();
    }
    if (all.includes('pvm-guest: exit')) ports = sw.portStats(); // before the NIC is unplugged
  },
});
await up.stop();
server.close();
console.log(
  JSON.stringify({
    end: r.end.kind,
    console: r.console,
    host: { md5: md5(file), bytes: file.length },
    fetched,
    ports,
    uplink: up.stats,
  }),
);
