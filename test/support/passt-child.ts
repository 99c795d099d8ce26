/**
 * Run inside a network namespace by test/user-net.test.ts: starts passt as the uplink
 * of a switch, prints one JSON line ({ pid } once passt answers, or { error, kind }),
 * then, with `stop`, stops it and prints { stopped, alive }, or, with `wait`, waits to
 * be killed (the test then checks that passt does not outlive this process).
 */
import { existsSync } from 'node:fs';
import { VirtualSwitch } from '../../src/devices/switch.js';
import { PasstUplink } from '../../src/host/passt.js';

const mode = process.argv[2] ?? 'stop';
const sw = new VirtualSwitch('sw0');
let up: PasstUplink;
try {
  up = await PasstUplink.start(sw, {
    forwards: [{ proto: 'tcp', hostAddr: '127.0.0.1', hostPort: 18080, guestPort: 80 }],
    binary: process.argv[3],
  });
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).message, kind: (e as { kind?: string }).kind }));
  process.exit(0);
}
console.log(JSON.stringify({ pid: up.pid, uplink: sw.uplink?.endpoint === up }));
if (mode === 'stop') {
  await up.stop();
  console.log(JSON.stringify({ stopped: true, alive: existsSync(`/proc/${up.pid}`), uplink: sw.uplink !== undefined }));
} else {
  setInterval(() => {}, 1000);
}
