/**
 * pvm in a browser tab: the page holds the terminal (xterm.js), the charts and the controls; a
 * Web Worker (worker.ts) runs the machine. Images come from a URL or a file picker; a save
 * file downloads, and a save file (from here or from the daemon) restores.
 */
import { LiveChart, rates } from '../shared/charts.js';
import { ConsoleView } from '../shared/terminal.js';
import type { FromWorker, ToWorker, WorkerStats } from './protocol.js';
import './style.css';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const view = new ConsoleView($('terminal'));
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);
const charts = {
  mips: new LiveChart($('charts'), 'MIPS', 'MIPS'),
  exits: new LiveChart($('charts'), 'Exits per second by kind', 'exits/s'),
  hypercalls: new LiveChart($('charts'), 'Hypercalls per second by function', 'calls/s'),
  idle: new LiveChart($('charts'), 'Idle (ms per second)', 'ms/s'),
};
let lastStats: { t: number; s: WorkerStats } | null = null;
const statsWaiters: ((s: WorkerStats) => void)[] = [];

function showError(message: string): void {
  $('error').textContent = message;
}

function setState(state: string, reason?: string): void {
  $('state').textContent = reason ? `${state} (${reason})` : state;
  document.body.dataset.state = state;
}

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'console':
      view.write(m.data);
      break;
    case 'state':
      setState(m.state, m.reason);
      break;
    case 'error':
      showError(m.message);
      break;
    case 'snapshot': {
      const url = URL.createObjectURL(new Blob([m.file as BlobPart], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${m.name}.pvmsnap`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      break;
    }
    case 'stats': {
      for (const w of statsWaiters.splice(0)) w(m.stats);
      const t = Date.now() / 1000;
      const prev = lastStats;
      lastStats = { t, s: m.stats };
      if (!prev) break;
      const dt = t - prev.t;
      const guestDt = (m.stats.guestMs - prev.s.guestMs) / 1000;
      charts.mips.push(t, {
        [`${m.stats.mode} (per guest second)`]:
          guestDt > 0 ? (m.stats.instructions - prev.s.instructions) / guestDt / 1e6 : 0,
        [`${m.stats.mode} (per wall second)`]: (m.stats.instructions - prev.s.instructions) / dt / 1e6,
      });
      charts.exits.push(t, rates(prev.s.exits, m.stats.exits, dt));
      charts.hypercalls.push(t, rates(prev.s.hypercalls, m.stats.hypercalls, dt));
      charts.idle.push(t, { idle: Math.max(0, (m.stats.idleMs - prev.s.idleMs) / dt) });
      break;
    }
  }
};
worker.onerror = (e) => showError(`the worker failed: ${e.message}`);

view.term.onData((data) => send({ type: 'input', data: new TextEncoder().encode(data) }));

/** The bytes of a picked file, else of the URL, else undefined. */
async function image(
  fileId: string,
  urlId: string,
  what: string,
): Promise<{ bytes: Uint8Array; name: string } | undefined> {
  const file = $<HTMLInputElement>(fileId).files?.[0];
  if (file) return { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name };
  const url = $<HTMLInputElement>(urlId).value.trim();
  if (!url) return undefined;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch the ${what} at ${url}: ${res.status} ${res.statusText}`);
  return { bytes: new Uint8Array(await res.arrayBuffer()), name: url.split('/').pop() || what };
}

let embedded: Uint8Array | null = null;
async function pvos(): Promise<Uint8Array> {
  if (!embedded) {
    const res = await fetch(new URL('./pvos.elf', import.meta.url));
    if (!res.ok) throw new Error(`cannot fetch the embedded guest: ${res.status}`);
    embedded = new Uint8Array(await res.arrayBuffer());
  }
  return embedded.slice();
}

const guestIsKernel = (): boolean =>
  document.querySelector<HTMLInputElement>('input[name="guest"]:checked')?.value === 'kernel';

async function boot(): Promise<void> {
  showError('');
  const mode = $<HTMLSelectElement>('mode').value === 'full' ? 'full' : 'pv';
  const kernel = guestIsKernel() ? await image('kernel-file', 'kernel-url', 'kernel') : undefined;
  if (guestIsKernel() && !kernel) throw new Error('choose a kernel (a URL or a file), or boot the embedded pvos');
  const initrd = kernel ? await image('initrd-file', 'initrd-url', 'initramfs') : undefined;
  const firmware = mode === 'full' ? await image('firmware-file', 'firmware-url', 'firmware') : undefined;
  if (mode === 'full' && !firmware) throw new Error("full mode needs OpenSBI's fw_jump.bin (a URL or a file)");
  view.term.reset();
  for (const c of Object.values(charts)) c.clear();
  lastStats = null;
  const msg: ToWorker = {
    type: 'boot',
    embedded: await pvos(),
    name: kernel ? 'linux' : 'pvos',
    mode,
    memoryMiB: Number($<HTMLInputElement>('memory').value) || 64,
    smp: Number($<HTMLInputElement>('smp').value) || 1,
    cmdline: $<HTMLInputElement>('cmdline').value,
    ...(kernel ? { kernel: kernel.bytes, kernelName: kernel.name } : {}),
    ...(initrd ? { initrd: initrd.bytes } : {}),
    ...(firmware ? { firmware: firmware.bytes } : {}),
  };
  send(msg);
  setState('booting');
  view.term.focus();
}

async function restore(file: File): Promise<void> {
  showError('');
  view.term.reset();
  lastStats = null;
  const kernel = await image('kernel-file', 'kernel-url', 'kernel');
  const initrd = await image('initrd-file', 'initrd-url', 'initramfs');
  const firmware = await image('firmware-file', 'firmware-url', 'firmware');
  send({
    type: 'restore',
    file: new Uint8Array(await file.arrayBuffer()),
    embedded: await pvos(),
    ...(kernel ? { kernel: kernel.bytes } : {}),
    ...(initrd ? { initrd: initrd.bytes } : {}),
    ...(firmware ? { firmware: firmware.bytes } : {}),
  });
}

const run = (f: () => Promise<void>) => () => {
  f().catch((e: unknown) => showError(e instanceof Error ? e.message : String(e)));
};
$('boot').addEventListener('click', run(boot));
$('pause').addEventListener('click', () => send({ type: 'pause' }));
$('resume').addEventListener('click', () => send({ type: 'resume' }));
$('save').addEventListener('click', () => send({ type: 'save' }));
$<HTMLInputElement>('restore-file').addEventListener('change', (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f) run(() => restore(f))();
});

/** For tests, benchmarks and screen readers: the terminal's text, and the domain's counters now. */
const api = window as unknown as { pvmConsoleText: () => string; pvmStats: () => Promise<WorkerStats> };
api.pvmConsoleText = () => view.text();
api.pvmStats = () =>
  new Promise((resolve) => {
    statsWaiters.push(resolve);
    send({ type: 'stats' });
  });

// ?boot=pvos boots the embedded guest at once (links, tests).
if (new URLSearchParams(location.search).get('boot') === 'pvos') run(boot)();
