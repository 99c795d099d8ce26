/**
 * pvm in a browser tab: the page holds the terminal (xterm.js), the charts and the controls; a
 * Web Worker (worker.ts) runs the machine. Images come from a URL or a file picker; a save
 * file downloads, and a save file (from here or from the daemon) restores.
 */
import { LiveChart, rates } from '../shared/charts.js';
import { ConsoleView } from '../shared/terminal.js';
import { hartThreadsRefusal } from './hart-threads.js';
import type { FromWorker, ToWorker, WorkerStats } from './protocol.js';
import './style.css';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const charts = {
  mips: new LiveChart($('charts'), 'MIPS', 'MIPS'),
  exits: new LiveChart($('charts'), 'Exits per second by kind', 'exits/s'),
  hypercalls: new LiveChart($('charts'), 'Hypercalls per second by function', 'calls/s'),
  idle: new LiveChart($('charts'), 'Idle (ms per second)', 'ms/s'),
};

function showError(message: string): void {
  $('error').textContent = message;
}

/**
 * One machine of the page: its worker, its terminal, its last statistics. The page has one,
 * or two side by side (PV and full mode) when comparing; then chart series carry the mode.
 */
class Machine {
  readonly view: ConsoleView;
  private worker: Worker | null = null;
  private last: { t: number; s: WorkerStats } | null = null;
  private readonly statsWaiters: ((s: WorkerStats) => void)[] = [];
  /** Chart series prefix ('' alone, 'pv ' / 'full ' when comparing). */
  label = '';

  constructor(
    readonly terminal: HTMLElement,
    private readonly stateEl: HTMLElement,
  ) {
    this.view = new ConsoleView(terminal);
    this.view.term.onData((data) => this.send({ type: 'input', data: new TextEncoder().encode(data) }));
  }

  send(m: ToWorker, transfer: Transferable[] = []): void {
    if (!this.worker) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      w.onmessage = (ev: MessageEvent<FromWorker>) => this.receive(ev.data);
      w.onerror = (e) => showError(`the worker failed: ${e.message}`);
      this.worker = w;
    }
    this.worker.postMessage(m, transfer);
  }

  /** Ends its domain, if it has a worker at all. */
  stop(): void {
    this.worker?.postMessage({ type: 'stop' } satisfies ToWorker);
  }

  reset(): void {
    this.view.term.reset();
    this.last = null;
  }

  stats(): Promise<WorkerStats> {
    return new Promise((resolve) => {
      this.statsWaiters.push(resolve);
      this.send({ type: 'stats' });
    });
  }

  setState(state: string, reason?: string): void {
    this.stateEl.textContent = reason ? `${state} (${reason})` : state;
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'console':
        this.view.write(m.data);
        break;
      case 'state':
        this.setState(m.state, m.reason);
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
        for (const w of this.statsWaiters.splice(0)) w(m.stats);
        if (this.label === '') showHarts(m.stats);
        const t = Date.now() / 1000;
        const prev = this.last;
        this.last = { t, s: m.stats };
        if (!prev) break;
        const dt = t - prev.t;
        const guestDt = (m.stats.guestMs - prev.s.guestMs) / 1000;
        const di = m.stats.instructions - prev.s.instructions;
        const p = this.label;
        const prefixed = (r: Record<string, number>) =>
          Object.fromEntries(Object.entries(r).map(([k, v]) => [p + k, v]));
        charts.mips.push(t, {
          [`${m.stats.mode} (per guest second)`]: guestDt > 0 ? di / guestDt / 1e6 : 0,
          [`${m.stats.mode} (per wall second)`]: di / dt / 1e6,
        });
        charts.exits.push(t, prefixed(rates(prev.s.exits, m.stats.exits, dt)));
        charts.hypercalls.push(t, prefixed(rates(prev.s.hypercalls, m.stats.hypercalls, dt)));
        charts.idle.push(t, { [`${p}idle`]: Math.max(0, (m.stats.idleMs - prev.s.idleMs) / dt) });
        break;
      }
    }
  }
}

/** The harts on threads, one line each: where each is and what it retired. */
function showHarts(s: WorkerStats): void {
  $('harts').textContent = (s.threads ?? [])
    .map(
      (t) =>
        `hart ${t.hart} (own thread): ${t.state}${t.request ? ` ${t.request}` : ''}, pc ${t.pc}, ${(t.instret / 1e6).toFixed(1)} M instructions`,
    )
    .join('\n');
}

const machines = [new Machine($('terminal'), $('state')), new Machine($('terminal-2'), $('state-2'))];
const main = machines[0]!;

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
  const compare = $<HTMLInputElement>('compare').checked;
  const smp = Number($<HTMLInputElement>('smp').value) || 1;
  const threads = $<HTMLInputElement>('threads').checked;
  if (threads) {
    if (mode !== 'pv' || compare) throw new Error('harts on threads run in PV mode only (not full mode, not compared)');
    if (smp < 2) throw new Error('harts on threads need 2 or more vCPUs');
    const why = hartThreadsRefusal();
    if (why !== null) throw new Error(why);
  }
  const kernel = guestIsKernel() ? await image('kernel-file', 'kernel-url', 'kernel') : undefined;
  if (guestIsKernel() && !kernel) throw new Error('choose a kernel (a URL or a file), or boot the embedded pvos');
  const initrd = kernel ? await image('initrd-file', 'initrd-url', 'initramfs') : undefined;
  const firmware = mode === 'full' || compare ? await image('firmware-file', 'firmware-url', 'firmware') : undefined;
  if (mode === 'full' && !firmware) throw new Error("full mode needs OpenSBI's fw_jump.bin (a URL or a file)");
  if (compare && !firmware)
    throw new Error("comparing needs OpenSBI's fw_jump.bin for the full-mode side (a URL or a file)");
  document.body.classList.toggle('compare', compare);
  for (const c of Object.values(charts)) c.clear();
  const base = {
    type: 'boot' as const,
    embedded: await pvos(),
    name: kernel ? 'linux' : 'pvos',
    memoryMiB: Number($<HTMLInputElement>('memory').value) || 64,
    smp,
    ...(threads ? { threads } : {}),
    cmdline: $<HTMLInputElement>('cmdline').value,
    ...(kernel ? { kernel: kernel.bytes, kernelName: kernel.name } : {}),
    ...(initrd ? { initrd: initrd.bytes } : {}),
    ...(firmware ? { firmware: firmware.bytes } : {}),
  };
  const modes: ('pv' | 'full')[] = compare ? ['pv', 'full'] : [mode];
  modes.forEach((m, i) => {
    const machine = machines[i]!;
    machine.reset();
    machine.label = compare ? `${m} ` : '';
    machine.send({ ...base, embedded: base.embedded.slice(), mode: m });
    machine.setState('booting');
  });
  if (!compare) machines[1]!.stop();
  $('harts').textContent = '';
  main.view.term.focus();
}

async function restore(file: File): Promise<void> {
  showError('');
  main.reset();
  const kernel = await image('kernel-file', 'kernel-url', 'kernel');
  const initrd = await image('initrd-file', 'initrd-url', 'initramfs');
  const firmware = await image('firmware-file', 'firmware-url', 'firmware');
  main.send({
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
$('pause').addEventListener('click', () => main.send({ type: 'pause' }));
$('resume').addEventListener('click', () => main.send({ type: 'resume' }));
$('save').addEventListener('click', () => main.send({ type: 'save' }));
$<HTMLInputElement>('restore-file').addEventListener('change', (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f) run(() => restore(f))();
});

/** For tests, benchmarks and screen readers: the terminal's text, and the domain's counters now. */
const api = window as unknown as {
  pvmConsoleText: (i?: number) => string;
  pvmStats: (i?: number) => Promise<WorkerStats>;
};
api.pvmConsoleText = (i = 0) => machines[i]?.view.text() ?? '';
api.pvmStats = (i = 0) => machines[i]!.stats();

// ?smp=N and ?threads=1 set the machine's vCPUs and harts on threads; ?boot=pvos boots the
// embedded guest at once (links, tests).
const params = new URLSearchParams(location.search);
const smpParam = params.get('smp');
if (smpParam !== null && /^[1-8]$/.test(smpParam)) $<HTMLInputElement>('smp').value = smpParam;
if (params.get('threads') === '1') $<HTMLInputElement>('threads').checked = true;
if (params.get('boot') === 'pvos') run(boot)();
