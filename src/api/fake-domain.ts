import { PvmError } from '../core/errors.js';
import type { DomainSnapshot } from '../hypervisor/snapshot/index.js';
import { HypercallPolicy } from '../sbi/policy.js';
import { ConsoleBuffer } from './console-buffer.js';
import type { DomainHandle, DomainInfo, DomainManager, DomainState, DomainStats } from './domain.js';
import { DomainRegistry, requireEngine } from './domain-registry.js';
import { ApiError } from './errors.js';
import { type DomainSpec, toDocument, withSched } from './spec.js';

/**
 * A DomainManager whose domains run a tiny deterministic program instead of a
 * guest kernel: a linear congruential generator stepping through RAM, which
 * prints a line every `print` steps, echoes console input, and answers a
 * shutdown request by powering off. Its whole state is in its "CPU" (step,
 * x) and its RAM, so save and restore are exact and checkable.
 *
 * The workload is read from the spec's `append` string (give it a kernel path, which is not read):
 *   fake.steps=N   stop after N steps, then idle (0 = never stop; default)
 *   fake.print=N   print a line every N steps (default 1000000)
 *   fake.end=poweroff   power off after the last step instead of idling
 *
 * Used by tests and by the daemon until the hypervisor runs real guests.
 */

const STEPS_PER_TICK = 2000;
const INSTRUCTIONS_PER_STEP = 8;
/** The program touches only the start of RAM, so snapshots of big domains stay small. */
const WORKING_SET_BYTES = 64 * 1024;
const ENGINE = 'pvm-fake-guest/1';

function workload(spec: DomainSpec): { steps: number; print: number; end: 'idle' | 'poweroff' } {
  const append = spec.append ?? '';
  const arg = (k: string): string | undefined => new RegExp(`(?:^|\\s)fake\\.${k}=(\\S+)`).exec(append)?.[1];
  const num = (k: string, d: number): number => {
    const v = arg(k);
    if (v === undefined) return d;
    if (!/^\d+$/.test(v)) throw new PvmError('usage', `fake.${k} must be a whole number, got ${v}`);
    return Number(v);
  };
  return {
    steps: num('steps', 0),
    print: Math.max(1, num('print', 1_000_000)),
    end: arg('end') === 'poweroff' ? 'poweroff' : 'idle',
  };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

class FakeDomain {
  state: DomainState = 'paused';
  exitReason: string | undefined;
  startedAt = new Date();
  step = 0;
  x = 1;
  ram: Uint8Array;
  shutdownRequested = false;
  lines = 0;
  guestMs = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly console: ConsoleBuffer;
  input: number[] = [];
  readonly work: ReturnType<typeof workload>;

  constructor(
    readonly id: number,
    readonly name: string,
    public spec: DomainSpec,
    private readonly changed: (d: FakeDomain) => void,
  ) {
    this.work = workload(spec);
    this.ram = new Uint8Array(spec.memory);
    this.console = new ConsoleBuffer((data) => {
      this.input.push(...data);
      this.schedule();
    });
  }

  get vcpus(): number {
    return this.spec.smp;
  }

  boot(): void {
    this.step = 0;
    this.x = 1;
    this.ram.fill(0);
    this.shutdownRequested = false;
    this.exitReason = undefined;
    this.startedAt = new Date();
    this.console.emit(text(`pvm fake guest: ${this.name} booting, ${this.ram.length} bytes of RAM\n`));
  }

  setState(s: DomainState, reason?: string): void {
    this.state = s;
    if (reason !== undefined) this.exitReason = reason;
    if (s === 'running') this.schedule();
    else this.stop();
    this.changed(this);
  }

  schedule(): void {
    if (this.timer === undefined && (this.state === 'running' || this.state === 'shutting-down')) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.tick();
      }, 1);
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One time slice: handle input and shutdown requests, then up to STEPS_PER_TICK steps. */
  private tick(): void {
    if (this.state !== 'running' && this.state !== 'shutting-down') return;
    const t0 = performance.now();
    if (this.input.length > 0) {
      const bytes = Uint8Array.from(this.input.splice(0));
      this.console.emit(bytes);
    }
    if (this.shutdownRequested) {
      this.console.emit(text('pvm fake guest: shutdown requested, powering off\n'));
      this.setState('shutoff', 'poweroff');
      return;
    }
    const words = Math.min(this.ram.length, WORKING_SET_BYTES) >>> 2;
    const view = new DataView(this.ram.buffer);
    let n = 0;
    let out = '';
    while (n < STEPS_PER_TICK && (this.work.steps === 0 || this.step < this.work.steps)) {
      this.x = (Math.imul(this.x, 1103515245) + 12345) & 0x7fffffff;
      const slot = (this.x % words) * 4;
      view.setUint32(slot, (view.getUint32(slot, true) + this.step) >>> 0, true);
      this.step++;
      n++;
      if (this.step % this.work.print === 0) {
        out += `step ${this.step} x=${this.x} mem=${view.getUint32((this.step % words) * 4, true)}\n`;
        this.lines++;
      }
    }
    if (out) this.console.emit(text(out));
    this.guestMs += performance.now() - t0;
    if (this.work.steps !== 0 && this.step >= this.work.steps) {
      if (this.work.end === 'poweroff') {
        this.console.emit(text('pvm fake guest: done, powering off\n'));
        this.setState('shutoff', 'poweroff');
      }
      return; // idle: wait for input (like WFI) without spinning
    }
    this.schedule();
  }
}

export class FakeDomainManager extends DomainRegistry<FakeDomain> implements DomainManager {
  protected halt(d: FakeDomain): void {
    d.stop();
  }

  async create(spec: DomainSpec, options: { paused: boolean }): Promise<DomainHandle> {
    const d = new FakeDomain(this.nextId, spec.name, spec, this.changed);
    d.boot();
    this.register(d);
    d.setState(options.paused ? 'paused' : 'running');
    return this.handle(d);
  }

  info(id: number): DomainInfo {
    const d = this.get(id);
    const machine = {
      mode: d.spec.mode,
      vcpus: d.vcpus,
      memoryBytes: d.ram.length,
      devices: [],
      consoleInput: 'uart' as const,
      cmdline: d.spec.append ?? '',
    };
    return this.describe(d, machine, true);
  }

  async pause(id: number): Promise<void> {
    this.get(id).setState('paused');
  }

  async unpause(id: number): Promise<void> {
    this.get(id).setState('running');
  }

  async shutdown(id: number): Promise<boolean> {
    const d = this.get(id);
    d.shutdownRequested = true;
    d.setState('shutting-down');
    d.schedule();
    return true;
  }

  async reboot(id: number): Promise<void> {
    const d = this.get(id);
    d.stop();
    d.boot();
    d.setState('running');
  }

  restrictHypercalls(id: number, allow: readonly string[]): void {
    const d = this.get(id);
    const entries = new HypercallPolicy(d.spec.hypercalls ?? null).tighten(allow).entries;
    d.spec = { ...d.spec, hypercalls: [...(entries ?? [])] };
  }

  setSched(id: number, params: { weight?: number; cap?: number }): void {
    const d = this.get(id);
    d.spec = withSched(d.spec, params);
  }

  stats(id: number): DomainStats {
    const d = this.get(id);
    return {
      id: d.id,
      name: d.name,
      state: d.state,
      instructions: d.step * INSTRUCTIONS_PER_STEP,
      guestMs: d.guestMs,
      hypervisorMs: 0,
      uptimeMs: Date.now() - d.startedAt.getTime(),
      memoryBytes: d.ram.length,
      vcpus: d.vcpus,
      exits: { hypercall: d.lines },
      hypercalls: { 'DBCN/write': d.lines },
    };
  }

  async snapshot(id: number): Promise<DomainSnapshot> {
    const d = this.get(id);
    if (d.state === 'running') throw new PvmError('state', `domain ${d.name} must be paused to be captured`);
    const cpu = new DataView(new ArrayBuffer(16));
    cpu.setUint32(0, d.step % 0x1_0000_0000, true);
    cpu.setUint32(4, Math.floor(d.step / 0x1_0000_0000), true);
    cpu.setUint32(8, d.x, true);
    cpu.setUint32(12, d.shutdownRequested ? 1 : 0, true);
    return {
      meta: {
        name: d.name,
        engine: ENGINE,
        config: toDocument(d.spec),
        state: d.state,
        lines: d.lines,
        history: Array.from(d.console.history()),
      },
      harts: [new Uint8Array(cpu.buffer)],
      ram: { base: 0x8000_0000, bytes: d.ram.slice() },
      devices: [{ name: 'console', state: Uint8Array.from(d.input) }],
      para: new Uint8Array(0),
      disks: [],
    };
  }

  async restore(snap: DomainSnapshot, spec: DomainSpec): Promise<DomainHandle> {
    const meta = snap.meta as { engine?: unknown; lines?: unknown; history?: unknown };
    requireEngine(meta, ENGINE);
    const cpu = snap.harts[0];
    if (snap.harts.length !== 1 || cpu?.length !== 16)
      throw new ApiError('bad-image', 'snapshot CPU state has the wrong shape');
    const d = new FakeDomain(this.nextId, spec.name, spec, this.changed);
    if (snap.ram.bytes.length !== d.ram.length) {
      throw new ApiError('bad-image', `snapshot RAM is ${snap.ram.bytes.length} bytes, config says ${d.ram.length}`);
    }
    const v = new DataView(cpu.buffer, cpu.byteOffset, 16);
    d.step = v.getUint32(0, true) + v.getUint32(4, true) * 0x1_0000_0000;
    d.x = v.getUint32(8, true);
    d.shutdownRequested = v.getUint32(12, true) === 1;
    d.ram.set(snap.ram.bytes);
    d.lines = typeof meta.lines === 'number' ? meta.lines : 0;
    if (Array.isArray(meta.history)) d.console.emit(Uint8Array.from(meta.history as number[]));
    d.input = Array.from(snap.devices.find((x) => x.name === 'console')?.state ?? []);
    this.register(d);
    d.setState('paused');
    return this.handle(d);
  }
}
