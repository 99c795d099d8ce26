/**
 * pvm in a Web Worker: the CPU, board, devices and hypervisor of one domain, built with the
 * same createVm the daemon's builder calls, on a browser DomainHost. The page sends images and
 * console input; the worker sends console output, state changes, statistics once a second, and
 * save files in the daemon's format (src/hypervisor/snapshot).
 */
import type { Domain } from '../../src/hypervisor/domain.js';
import {
  type DomainSnapshot,
  decodeSnapshotBytes,
  encodeSnapshotBytes,
  isSnapshottable,
} from '../../src/hypervisor/snapshot/index.js';
import { createVm } from '../../src/hypervisor/vm.js';
import { browserSnapshotCodecs } from './codecs.js';
import { browserHartThreads, hartThreadsRefusal } from './hart-threads.js';
import { BrowserDomainHost } from './host.js';
import type { BootRequest, FromWorker, ToWorker } from './protocol.js';

/** The daemon's engine name (src/server/hypervisor-domains.ts): a save file from either restores in the other. */
const ENGINE = 'pvm-hypervisor/1';

const post = (m: FromWorker, transfer: Transferable[] = []): void =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

let vm: Domain | null = null;
let host: BrowserDomainHost | null = null;
let config: Record<string, unknown> = {};
let statsTimer: ReturnType<typeof setInterval> | undefined;
/** Whether the current domain's run loop has started (a restored one starts when resumed). */
let loopStarted = false;

function sendStats(): void {
  if (!vm) return;
  const s = vm.statistics();
  const hypercalls: Record<string, number> = {};
  for (const [ext, fns] of Object.entries(s.hypercalls)) {
    for (const [fn, n] of Object.entries(fns)) hypercalls[`${ext}/${fn}`] = n;
  }
  const exits: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.exits)) if (k !== 'slice') exits[k] = v;
  for (const [k, v] of Object.entries(s.mmio)) exits[`mmio:${k}`] = v;
  post({
    type: 'stats',
    stats: {
      mode: s.mode,
      instructions: s.instructions,
      wallMs: s.time.wallMs,
      guestMs: s.time.guestMs,
      idleMs: s.time.idleMs,
      mips: s.mips,
      exits,
      hypercalls,
      ...(s.threads ? { threads: s.threads } : {}),
    },
  });
}

const sizeText = (bytes: number): string => (bytes % 2 ** 30 === 0 ? `${bytes / 2 ** 30}G` : `${bytes / 2 ** 20}M`);

/** Builds the domain, paused before its first instruction. */
function build(req: BootRequest, embedded: Uint8Array): void {
  stop();
  if (req.threads === true) {
    const why = hartThreadsRefusal();
    if (why !== null) throw new Error(why);
  }
  const h = new BrowserDomainHost((b) => post({ type: 'console', data: b }), { paused: true });
  const memory = req.memoryMiB * 2 ** 20;
  const d = createVm(
    {
      mode: req.mode,
      harts: req.smp,
      memory,
      kernel: req.kernel ?? embedded,
      cmdline: req.kernel ? req.cmdline : '',
      ...(req.initrd ? { initrd: req.initrd } : {}),
      ...(req.mode === 'full' && req.firmware ? { firmware: req.firmware } : {}),
      ...(req.threads === true ? { threads: true } : {}),
    },
    h,
    {
      wallClockNs: () => BigInt(Date.now()) * 1_000_000n,
      ...(req.threads === true ? { threads: browserHartThreads } : {}),
    },
  );
  // The domain document a save file carries, as the daemon writes it (toDocument).
  config = {
    name: req.name,
    ...(req.kernel ? { kernel: req.kernelName ?? 'Image' } : {}),
    ...(req.kernel && req.cmdline ? { append: req.cmdline } : {}),
    memory: sizeText(memory),
    smp: req.smp,
    mode: req.mode,
    ...(req.threads === true ? { threads: true } : {}),
    console: 'stdio',
  };
  vm = d;
  host = h;
  loopStarted = false;
}

function start(): void {
  const d = vm;
  const h = host;
  if (!d || !h) return;
  loopStarted = true;
  h.unpause();
  post({ type: 'state', state: 'running' });
  d.run().then(
    (end) => {
      h.loopEnded();
      if (vm !== d) return;
      sendStats();
      if (end.kind === 'poweroff') post({ type: 'state', state: 'shutoff', reason: 'poweroff' });
      else if (end.kind === 'fail') post({ type: 'state', state: 'crashed', reason: `${end.why} (code ${end.code})` });
      else if (end.kind !== 'host-stop') post({ type: 'state', state: 'crashed', reason: end.kind });
    },
    (e: unknown) => {
      h.loopEnded();
      if (vm === d) post({ type: 'state', state: 'crashed', reason: e instanceof Error ? e.message : String(e) });
    },
  );
  clearInterval(statsTimer);
  statsTimer = setInterval(sendStats, 1000);
}

function stop(): void {
  clearInterval(statsTimer);
  if (vm) {
    vm.stop(0);
    host?.unpause();
    host?.wake();
  }
  vm = null;
  host = null;
}

async function save(): Promise<void> {
  const d = vm;
  const h = host;
  if (!d || !h) throw new Error('no domain is running');
  if (!isSnapshottable(d)) throw new Error('this domain cannot be saved');
  const wasRunning = !h.paused;
  await h.pause();
  try {
    const machine = d.saveState();
    const snap: DomainSnapshot = {
      meta: { name: String(config.name), engine: ENGINE, config },
      ...machine,
      disks: [],
    };
    const file = encodeSnapshotBytes(snap, browserSnapshotCodecs);
    post({ type: 'snapshot', file, name: String(config.name) }, [file.buffer]);
  } finally {
    if (wasRunning) h.unpause();
  }
}

const num = (v: unknown, what: string): number => {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new Error(`the save file's config has no valid ${what}`);
};

function parseSize(v: unknown): number {
  const m = typeof v === 'string' ? /^(\d+)([MG])$/.exec(v) : null;
  if (!m) throw new Error(`the save file's config has a memory size this page does not read: ${JSON.stringify(v)}`);
  return Number(m[1]) * (m[2] === 'G' ? 1024 : 1);
}

/** Builds the domain a save file describes and loads its state; it stays paused. */
function restore(msg: Extract<ToWorker, { type: 'restore' }>): void {
  const snap = decodeSnapshotBytes(msg.file, browserSnapshotCodecs);
  const meta = snap.meta as { engine?: unknown; config?: Record<string, unknown> };
  if (meta.engine !== ENGINE) {
    throw new Error(`this save file was written by ${JSON.stringify(meta.engine)}, not by pvm's hypervisor`);
  }
  const c = meta.config ?? {};
  for (const k of ['disks', 'nets', 'rng', 'balloon']) {
    if (c[k] !== undefined) throw new Error(`the saved domain has ${k}: the tab runs domains without virtio devices`);
  }
  const mode = c.mode === 'full' ? 'full' : 'pv';
  if (c.kernel !== undefined && !msg.kernel) {
    throw new Error(`the saved domain booted ${String(c.kernel)}: choose that kernel first`);
  }
  if (mode === 'full' && !msg.firmware)
    throw new Error('the saved domain runs in full mode: choose its firmware first');
  build(
    {
      name: String(snap.meta.name),
      mode,
      memoryMiB: parseSize(c.memory),
      smp: num(c.smp, 'smp'),
      ...(c.kernel !== undefined && msg.kernel ? { kernel: msg.kernel, kernelName: String(c.kernel) } : {}),
      ...(msg.initrd && c.initrd !== undefined ? { initrd: msg.initrd } : {}),
      ...(msg.firmware ? { firmware: msg.firmware } : {}),
      cmdline: typeof c.append === 'string' ? c.append : '',
    },
    msg.embedded,
  );
  const d = vm!;
  if (!isSnapshottable(d)) throw new Error('this domain cannot be restored');
  const virtio = snap.devices.filter((e) => e.name.startsWith('virtio:'));
  if (virtio.length > 0) throw new Error('the saved domain has virtio devices: the tab runs domains without them');
  d.loadState(snap);
  post({ type: 'state', state: 'paused' });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  try {
    switch (msg.type) {
      case 'boot':
        build(msg, msg.embedded);
        start();
        break;
      case 'input':
        if (vm) {
          vm.input(msg.data);
          host?.wake();
        }
        break;
      case 'pause':
        host?.pause().then(() => post({ type: 'state', state: 'paused' }));
        break;
      case 'resume':
        if (!loopStarted) start();
        else if (host?.paused) {
          host.unpause();
          post({ type: 'state', state: 'running' });
        }
        break;
      case 'save':
        save().catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
        break;
      case 'restore':
        restore(msg);
        break;
      case 'stop':
        stop();
        break;
      case 'stats':
        sendStats();
        break;
    }
  } catch (e) {
    post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
};
