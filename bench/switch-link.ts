/**
 * bench/switch-link: what a switch link between two daemons carries (docs/networking.md,
 * "Switches across daemons"). Two daemons in this process on loopback, switch `lan` joined;
 * a NIC on one sends a stream of Ethernet frames of one size to a NIC on the other, yielding
 * to the event loop every 64 frames as a guest's run loop does. Reports frames and bytes per
 * second delivered, and what was dropped at the sender (the 4 MiB backlog bound). Both ends
 * run on one event loop, so the figure is a lower bound of what two hosts get. Prints one
 * JSON object.
 *
 *   node dist/bench/switch-link.js [--frames 200000] [--size 1514]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ControlPlane } from '../src/api/control.js';
import { parseMac, type SwitchEndpoint } from '../src/devices/switch.js';
import { createLogger } from '../src/host/logger.js';
import { SwitchLinks } from '../src/host/switch-links.js';
import { startDaemon } from '../src/server/daemon.js';
import { HypervisorDomainManager } from '../src/server/hypervisor-domains.js';
import { fileSnapshotStore } from '../src/server/local.js';

const args = process.argv.slice(2);
const opt = (name: string, d: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const frames = opt('--frames', 200_000);
const size = opt('--size', 1514);
const TOKEN = 'bench-switch-link-token-0123';

async function daemon(dir: string, name: string) {
  const manager = new HypervisorDomainManager();
  const control = new ControlPlane({ manager, store: fileSnapshotStore, network: new SwitchLinks(manager.switches) });
  const d = await startDaemon({
    control,
    logger: createLogger({ level: 'silent' }),
    socketPath: join(dir, `${name}.sock`),
    tcp: { host: '127.0.0.1', port: 0, token: TOKEN },
  });
  return { manager, control, d };
}

const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-link-'));
const a = await daemon(dir, 'a');
const b = await daemon(dir, 'b');
await a.control.joinSwitch('lan', `http://127.0.0.1:${b.d.tcp!.port}`, TOKEN);

let got = 0;
let gotBytes = 0;
let done: () => void = () => {};
const finished = new Promise<void>((r) => {
  done = r;
});
const sink: SwitchEndpoint = {
  mac: parseMac('52:54:00:00:0b:01')!,
  deliver: (f) => {
    got++;
    gotBytes += f.length;
    if (got === frames) done();
  },
};
b.manager.switches.get('lan').attach(sink);
const src = a.manager.switches.get('lan').attach({ mac: parseMac('52:54:00:00:0a:01')!, deliver: () => {} });
const frame = new Uint8Array(size);
frame.set(sink.mac, 0);
frame.set(parseMac('52:54:00:00:0a:01')!, 6);
frame[12] = 0x08;
// Teach a's switch where the sink is (a broadcast from it), then stream unicast.
b.manager.switches.get('lan').attach({ mac: parseMac('52:54:00:00:0b:02')!, deliver: () => {} });
const hello = new Uint8Array(60);
hello.fill(0xff, 0, 6);
hello.set(sink.mac, 6);
b.manager.switches.get('lan').lookup(sink.mac)?.transmit(hello);
await new Promise((r) => setTimeout(r, 100));

const link = () => a.control.network!.list()[0]!.links[0]!;
const t0 = performance.now();
for (let i = 0; i < frames; i++) {
  src.transmit(frame);
  if (i % 64 === 63) await new Promise((r) => setImmediate(r));
}
const dropped = () => link().dropped;
await Promise.race([finished, new Promise((r) => setTimeout(r, 30_000).unref())]);
// Frames dropped at the sender never arrive: the run ends when the rest are in.
while (got + dropped() < frames && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 10));
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    bench: 'switch-link',
    date: new Date().toISOString(),
    loadavg: loadavg()[0],
    frameBytes: size,
    sent: frames,
    delivered: got,
    dropped: dropped(),
    seconds: Number(seconds.toFixed(3)),
    framesPerSecond: Math.round(got / seconds),
    megabytesPerSecond: Number((gotBytes / seconds / 1e6).toFixed(1)),
  }),
);
await a.d.close();
await b.d.close();
await a.control.close();
await b.control.close();
rmSync(dir, { recursive: true, force: true });
