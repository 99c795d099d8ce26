/**
 * Drives a pvos domain running in this process (createVm + NodeDomainHost) for the
 * benchmarks: boot, type a shell command, wait for the next prompt. The guest's
 * console bytes are counted and kept only up to a bound, so 1 MiB of output costs
 * no host memory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeDomainHost } from '../src/host/domain-host.js';
import type { Domain, DomainEnd } from '../src/hypervisor/domain.js';
import type { PvxDomain, PvxHost } from '../src/hypervisor/pvx/index.js';
import { createVm } from '../src/hypervisor/vm.js';

export const root = join(fileURLToPath(import.meta.url), '../../..');
/** The embedded default guest (committed, reproducible: guests/pvos/README.md). */
export const PVOS_ELF = join(root, 'guests/pvos/pvos.elf');
export const OPENSBI_FW_JUMP = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin';
const PROMPT = '\npvos> ';
/** The guest's bytes, read once: domains of one image share them, as the daemon's do (HostFiles.readImage). */
let pvosBytes: Uint8Array | undefined;
const KEEP = 4096;

export interface SessionOptions {
  mode: 'pv' | 'full';
  harts?: number;
  memory?: number;
  pvxHost?: PvxHost<PvxDomain>;
  kernel?: Uint8Array;
  /** The CPU's translation tier (default: on). */
  jit?: boolean;
  /** RAM in shared memory, as a domain of the daemon's pool has. */
  sharedRam?: boolean;
}

export class PvosSession {
  readonly vm: Domain;
  readonly host: NodeDomainHost;
  readonly ended: Promise<DomainEnd>;
  /** Console bytes seen so far. */
  bytes = 0;
  private tail = '';
  private waiter: (() => void) | undefined;
  private readonly decoder = new TextDecoder();

  constructor(opts: SessionOptions) {
    this.host = new NodeDomainHost((b) => {
      this.bytes += b.length;
      this.tail = (this.tail + this.decoder.decode(b, { stream: true }).replace(/\r/g, '')).slice(-KEEP);
      this.waiter?.();
    });
    this.vm = createVm(
      {
        mode: opts.mode,
        harts: opts.harts ?? 1,
        memory: opts.memory ?? 64 << 20,
        kernel: opts.kernel ?? (pvosBytes ??= readFileSync(PVOS_ELF)),
        cmdline: '',
        ...(opts.jit !== undefined ? { jit: opts.jit } : {}),
        ...(opts.mode === 'full' ? { firmware: readFileSync(OPENSBI_FW_JUMP) } : {}),
      },
      this.host,
      { ...(opts.pvxHost && { pvxHost: opts.pvxHost }), ...(opts.sharedRam && { sharedRam: true }) },
    );
    this.ended = this.vm.run();
    this.ended.then(() => this.waiter?.());
  }

  /** Waits until the console's last bytes end with `text`; returns the kept tail. */
  async until(text: string): Promise<string> {
    let done = false;
    this.ended.then(() => {
      done = true;
    });
    for (;;) {
      if (this.tail.endsWith(text)) {
        const t = this.tail;
        this.tail = '';
        return t;
      }
      if (done) throw new Error(`guest ended before printing ${JSON.stringify(text)}; last output:\n${this.tail}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  prompt(): Promise<string> {
    return this.until(PROMPT);
  }

  /** Types a command and returns the (kept tail of the) output up to the next prompt. */
  async run(line: string): Promise<string> {
    this.vm.input(new TextEncoder().encode(`${line}\n`));
    this.host.wake();
    const out = await this.prompt();
    return out.slice(0, -PROMPT.length);
  }

  async poweroff(): Promise<DomainEnd> {
    this.vm.input(new TextEncoder().encode('poweroff\n'));
    this.host.wake();
    const end = await this.ended;
    this.host.flush();
    return end;
  }
}
